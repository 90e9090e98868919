"""The sandbox served twice for Business Central: over HTTPS (a certificate made here) for MSAL, which talks to
nothing but an https authority, and over plain HTTP for the API calls of the connector's HTTP client."""
from __future__ import annotations

import datetime
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from server.sandbox import create_sandbox_app
from tests.support.sandbox import SandboxServer, make_test_config
from tests.support.wsgi import serve_wsgi


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "sandbox.pem", folder / "sandbox.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class TlsSandbox:
    http: SandboxServer  # the API, the admin
    https_url: str  # the identity platform
    certificate: Path

    def session(self) -> requests.Session:
        """What MSAL talks through: trusting our certificate, and only it (REQUESTS_CA_BUNDLE would win over
        `verify` on a session that reads the environment)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.certificate)
        return session


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory) -> Iterator[TlsSandbox]:
    config = make_test_config(lines=4_000, tenants=2)
    app = create_sandbox_app(config)
    cert, key = make_certificate(tmp_path_factory.mktemp("tls"))
    secure = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=secure.serve_forever, name="tls-sandbox", daemon=True)
    thread.start()
    try:
        with serve_wsgi(app) as url:
            yield TlsSandbox(SandboxServer(url, config, app), f"https://127.0.0.1:{secure.server_port}", cert)
    finally:
        secure.shutdown()
        thread.join(timeout=10)
