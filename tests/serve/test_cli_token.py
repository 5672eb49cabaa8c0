"""`vlaforge serve` takes its token from a file or $VLAFORGE_TOKEN as well as --token, and --help says so."""

import pytest

from vlaforge.cli import build_parser, main
from vlaforge.errors import ConfigError
from vlaforge.serve.cli import resolve_token


def _args(*argv):
    return build_parser("serve").parse_args(["serve", "run_dir", *argv])


def test_token_file_is_read_and_stripped(tmp_path):
    f = tmp_path / "token"
    f.write_text("  s3cret\n")
    assert resolve_token(_args("--token-file", str(f)), environ={}) == "s3cret"


def test_token_file_wins_over_env(tmp_path):
    f = tmp_path / "token"
    f.write_text("from-file")
    assert resolve_token(_args("--token-file", str(f)), environ={"VLAFORGE_TOKEN": "from-env"}) == "from-file"


def test_env_token_is_used_when_no_flag_is_given():
    assert resolve_token(_args(), environ={"VLAFORGE_TOKEN": " from-env\n"}) == "from-env"
    assert resolve_token(_args(), environ={}) is None


def test_missing_token_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"--token-file .*nope cannot be read .*readable text file"):
        resolve_token(_args("--token-file", str(tmp_path / "nope")), environ={})


def test_empty_token_file_is_a_clear_error(tmp_path):
    f = tmp_path / "token"
    f.write_text(" \n")
    with pytest.raises(ConfigError, match="is empty; write the token into it"):
        resolve_token(_args("--token-file", str(f)), environ={})


def test_token_given_twice_is_refused(tmp_path):
    f = tmp_path / "token"
    f.write_text("a")
    with pytest.raises(ConfigError, match="not both"):
        resolve_token(_args("--token-file", str(f), "--token", "b"), environ={})


def test_network_bind_without_any_token_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VLAFORGE_TOKEN", raising=False)
    assert main(["serve", str(tmp_path / "no_such_run"), "--host", "0.0.0.0"]) == 2
    assert "--token-file" in capsys.readouterr().err


def test_help_lists_safe_token_options_first_and_shows_bind_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert text.index("--token-file") < text.index("--token TOKEN") < text.index("--host")
    assert "VLAFORGE_TOKEN" in text and "default: 127.0.0.1" in text and "default: 8765" in text
    for default in ("default: 4.0", "default: 1000.0", "default: 0 = all cores"):  # body limit, rate limit, threads
        assert default in " ".join(text.split()), default
