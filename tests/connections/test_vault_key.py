"""Where the vault's encryption key comes from: LEDGERPANE_SECRET_KEY, else a key file made once, 0600."""
import multiprocessing

import pytest
from cryptography.fernet import InvalidToken

from server.config import load_settings
from server.connections.vault import load_cipher


def test_a_key_file_is_made_once_readable_only_by_the_service(tmp_path):
    settings = load_settings({"var_dir": tmp_path, "secret_key": ""})
    sealed = load_cipher(settings).encrypt(b"refresh-token")
    key_file = tmp_path / "secret.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_cipher(settings).decrypt(sealed) == b"refresh-token"  # the next start reads the same key


def test_the_configured_secret_is_used_and_no_file_is_written(tmp_path):
    settings = load_settings({"var_dir": tmp_path, "secret_key": "a long operator-chosen secret"})
    sealed = load_cipher(settings).encrypt(b"refresh-token")
    assert not (tmp_path / "secret.key").exists()
    assert load_cipher(settings).decrypt(sealed) == b"refresh-token"
    other = load_settings({"var_dir": tmp_path, "secret_key": "another secret"})
    with pytest.raises(InvalidToken):  # a different secret must not open the vault
        load_cipher(other).decrypt(sealed)


def _start(var_dir, ready, keys) -> None:
    settings = load_settings({"var_dir": var_dir, "secret_key": ""})
    ready.wait()
    try:
        keys.put(load_cipher(settings).encrypt(b"refresh-token"))
    except Exception as error:  # noqa: BLE001 - the parent reports what went wrong in the child
        keys.put(error)


def test_processes_starting_together_make_one_key_and_all_read_it(tmp_path):
    # Gunicorn's workers build their apps at the same moment: none may read a key file still being written.
    context = multiprocessing.get_context("fork")
    starters = 8
    ready, keys = context.Barrier(starters), context.Queue()
    processes = [context.Process(target=_start, args=(tmp_path, ready, keys)) for _ in range(starters)]
    for process in processes:
        process.start()
    sealed = [keys.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert not [token for token in sealed if isinstance(token, Exception)], sealed
    cipher = load_cipher(load_settings({"var_dir": tmp_path, "secret_key": ""}))
    assert {cipher.decrypt(token) for token in sealed} == {b"refresh-token"}  # one key for all of them
    assert [path.name for path in tmp_path.iterdir()] == ["secret.key"]
