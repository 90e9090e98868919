"""Where the vault's encryption key comes from: LEDGERPANE_SECRET_KEY, else a key file made once, 0600."""
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
