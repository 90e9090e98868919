"""The embedded default keeps the database, the vault key and the workspace key in var/: only its user may
list the folder or read them (issue 17)."""
import stat

from click.testing import CliRunner

from server.cli import main


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def init_db(var, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LEDGERPANE_SECRET_KEY", raising=False)
    monkeypatch.setenv("LEDGERPANE_VAR_DIR", str(var))
    monkeypatch.chdir(var.parent)  # no stray .env
    result = CliRunner().invoke(main, ["init-db"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_a_new_var_folder_is_private(tmp_path, monkeypatch):
    var = tmp_path / "var"
    init_db(var, monkeypatch)
    assert mode(var) == 0o700
    assert mode(var / "ledgerpane.db") == 0o600
    assert (var / "ledgerpane.db").stat().st_size > 0, "the schema went into the private file"


def test_an_existing_var_folder_is_made_private(tmp_path, monkeypatch):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    (var / "ledgerpane.db").touch()
    (var / "ledgerpane.db").chmod(0o644)
    init_db(var, monkeypatch)
    assert (mode(var), mode(var / "ledgerpane.db")) == (0o700, 0o600)
