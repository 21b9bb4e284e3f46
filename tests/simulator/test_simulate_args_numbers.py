"""`simulate` refuses wrong arguments plainly: numbers that are not numbers (nan, inf), and
--kid without its --key-file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ipfm_scheduler.cli.simulate_cmds import keys_in
from ipfm_scheduler.config import keyfiles
from tests.storage.test_storage_cli import run


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--fail-rate", "nan", "nan is not a number from 0 to 1."),
        ("--fail-rate", "-nan", "-nan is not a number from 0 to 1."),
        ("--fail-rate", "2", "2.0 is not in the range 0<=x<=1"),
        ("--connect-timeout", "nan", "nan is not a number of at least 0.1."),
        ("--connect-timeout", "inf", "inf is not a number of at least 0.1."),
    ],
)
def test_a_number_out_of_range_or_not_a_number_is_a_wrong_argument(
    option: str, value: str, message: str
):
    result = run("simulate", "--receivers", "cam-trung/loa-01", option, value)
    assert result.code == 2
    assert f"Invalid value for '{option}': {message}" in result.err
    assert "Traceback" not in result.err


def test_a_kid_without_its_key_file_is_a_wrong_argument():
    """It was ignored: the simulated receivers then checked no signature at all."""
    result = run("simulate", "--receivers", "cam-trung/loa-01", "--kid", "campha-2026")
    assert result.code == 2
    assert "--kid names a key of --key-file: give --key-file too" in result.err


def test_keys_dir_gives_the_receivers_played_their_own_keys_and_the_command_key(
    tmp_path: Path,
) -> None:
    made = keyfiles.init_keys(tmp_path, [("cam-trung", "loa-01")], datetime.now(UTC))
    commands, own = keys_in(tmp_path, [("cam-trung", "loa-01"), ("cam-trung", "loa-02")],
                            date.today())  # fmt: skip
    assert set(commands) == {made[0].kid}
    assert list(own) == [("cam-trung", "loa-01")]  # loa-02 has no key: it answers unsigned
    assert own[("cam-trung", "loa-01")].secret == made[1].path.read_bytes().strip()
