"""Provider credentials: encrypted at rest, renewed in one place, rotation-safe.

A connection's credential (whatever its sign-in flow keeps: an OAuth token set, a token cache) is
sealed whole onto the connection row; the vault never reads inside it but through the flow. Getting
an access token renews the credential when the token is about to expire, under two locks: a process lock (threads of
one worker) and the connection row's write lock (other workers and machines), so one refresh token is
never spent twice. The rotated token set is committed *before* the new access token is handed out:
if we crash after the provider rotated, the old refresh token still works for the provider's grace period, but
a lost new one would not.
"""
from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.connections.status import Event, apply, can
from server.connectors.framework.auth import AuthFlow, Credential
from server.connectors.framework.errors import AuthRevoked
from server.db.engine import lock_row, transaction
from server.db.models import Connection

EXPIRY_MARGIN_SECONDS = 120  # refresh a little early so a long page fetch never starts with a dying token


class VaultError(Exception):
    pass


def load_cipher(settings: Settings) -> Fernet:
    """The key comes from LEDGERPANE_SECRET_KEY, or from a key file generated once in var/ (0600)."""
    if settings.secret_key:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ledgerpane token vault").derive(
            settings.secret_key.encode())
        return Fernet(base64.urlsafe_b64encode(derived))
    key_file = Path(settings.var_dir) / "secret.key"
    if not key_file.is_file():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: a process starting at the same moment (gunicorn's workers) finds
        # no key file or a whole one, never the empty file another is still writing.
        draft = key_file.with_name(f".{key_file.name}.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(Fernet.generate_key())
        try:
            os.link(draft, key_file)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            draft.unlink()
    return Fernet(key_file.read_bytes().strip())


class Vault:
    def __init__(self, cipher: Fernet, sessions: sessionmaker[Session],
                 flow_for: Callable[[Connection], AuthFlow]) -> None:
        self.cipher = cipher
        self._sessions = sessions
        self._flow_for = flow_for
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # --- storing and reading

    def store(self, connection: Connection, credential: Credential) -> None:
        """Seal a credential onto the connection (the caller commits)."""
        connection.token_ciphertext = self.cipher.encrypt(orjson.dumps(credential))
        connection.token_version = (connection.token_version or 0) + 1

    def erase(self, connection: Connection) -> None:
        connection.token_ciphertext = None
        connection.credential_status, connection.credential_detail = "none", ""  # not "active" with no tokens

    def credential(self, connection: Connection) -> Credential:
        if connection.token_ciphertext is None:
            raise VaultError("this connection holds no credentials")
        try:
            return orjson.loads(self.cipher.decrypt(connection.token_ciphertext))
        except InvalidToken:
            raise VaultError("the stored credentials cannot be decrypted with this secret key") from None

    # --- the one place credentials are renewed

    def get_access_token(self, connection_id: int, rejected: str | None = None) -> str:
        """A valid access token. `rejected` is one the provider just refused (401): never hand it out again."""
        return self._valid_token(connection_id, rejected)[0]

    def renew(self, connection_id: int) -> None:
        """Renew the credential now, however long its access token has left (a grant that would lapse unused).
        Raises AuthRevoked when only a new consent helps."""
        with self._sessions() as session:
            connection = session.get(Connection, connection_id)
            current, _ = self._flow_for(connection).access_token(self.credential(connection))
        self._valid_token(connection_id, rejected=current)  # its token counts as refused: the one renewal path

    def _valid_token(self, connection_id: int, rejected: str | None) -> tuple[str, float | None]:
        with self._sessions() as session:
            connection = session.get(Connection, connection_id)
            flow, credential = self._flow_for(connection), self.credential(connection)
        token = flow.access_token(credential)
        if _usable(token, rejected):
            return token
        with self._lock_for(connection_id), transaction(self._sessions) as session:
            lock_row(session, Connection, connection_id)  # a second worker waits, then finds it renewed
            connection = session.get(Connection, connection_id, populate_existing=True)
            credential = self.credential(connection)
            token = flow.access_token(credential)
            if _usable(token, rejected):
                return token
            try:
                renewed = flow.renew(credential)
            except AuthRevoked as error:
                refused = error
            else:
                self.store(connection, renewed)  # committed before the new token is used
                connection.credential_status, connection.credential_detail = "active", ""
                return flow.access_token(renewed)
        self._needs_reconnect(connection_id, refused)
        raise refused

    def _needs_reconnect(self, connection_id: int, error: AuthRevoked) -> None:
        with transaction(self._sessions) as session:
            connection = session.get(Connection, connection_id)
            if can(connection, Event.auth_failed):
                apply(connection, Event.auth_failed, f"The provider refused our sign-in ({error.message}).")

    def revoke(self, connection: Connection) -> None:
        """Ask the provider to revoke the grant (best effort is the caller's choice)."""
        self._flow_for(connection).end(self.credential(connection))

    def _lock_for(self, connection_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(connection_id, threading.Lock())

    def token_source(self, connection_id: int) -> Callable[..., str]:
        """What a connector calls for a token before every request, and again with one the provider refused.
        It keeps the token it was given until it nears expiry, rather than reading and decrypting the
        row for every page of a long pull."""
        held: dict[str, tuple[str, float | None]] = {}

        def source(rejected: str | None = None) -> str:
            token = held.get("token")
            if token is None or not _usable(token, rejected):
                held["token"] = token = self._valid_token(connection_id, rejected)
            return token[0]

        return source


def _usable(token: tuple[str, float | None], rejected: str | None) -> bool:
    access_token, expires_at = token
    if rejected is not None and access_token == rejected:
        return False
    return expires_at is not None and expires_at - time.time() >= EXPIRY_MARGIN_SECONDS
