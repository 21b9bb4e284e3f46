"""`simulate` refuses numbers that are not numbers (nan, inf) like any other wrong argument."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ipfm_scheduler.cli import main


def run(*args: str) -> tuple[int, str]:
    runner = CliRunner()
    with runner.isolation() as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, streams[1].getvalue().decode("utf-8")


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
    code, err = run("simulate", "--receivers", "cam-trung/loa-01", option, value)
    assert code == 2
    assert f"Invalid value for '{option}': {message}" in err
    assert "Traceback" not in err
