"""A station file whose YAML breaks on its `database:` line: the message locates the mistake in
words and does not repeat the line (YAML's own message quotes it, password and all)."""

from __future__ import annotations

from pathlib import Path

from tests.storage.test_storage_cli import run


def test_a_yaml_error_on_the_database_line_does_not_print_the_password(tmp_path: Path) -> None:
    station = tmp_path / "ipfm.yaml"
    station.write_text(
        "timezone: Asia/Ho_Chi_Minh\ndatabase: postgresql://u:SeCrEt99@h/x: y\n", encoding="utf-8"
    )
    result = run("--config", str(station), "db", "check")
    assert result.code == 3
    assert f"{station}:2:" in result.err  # where the mistake is
    assert "SeCrEt99" not in result.err
    assert b"SeCrEt99" not in result.out
