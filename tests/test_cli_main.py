"""The console script's exit codes: what commands ask for is what the shell sees."""

from __future__ import annotations

import click
import pytest

from ipfm_scheduler.cli import cli, main
from ipfm_scheduler.cli.exitcodes import RET_CONFIG, RET_INTERNAL
from ipfm_scheduler.errors import ConfigError, ConfigProblem


@cli.command("test-exit", hidden=True)
@click.argument("how")
@click.pass_context
def _test_exit(ctx: click.Context, how: str) -> None:
    if how == "config":
        raise ConfigError([ConfigProblem("ipfm.yaml", 1, 1, "timezone", "bad zone")])
    if how == "bug":
        raise RuntimeError("boom")
    ctx.exit(int(how))


@pytest.mark.parametrize(
    ("how", "code"), [("0", 0), ("5", 5), ("config", RET_CONFIG), ("bug", RET_INTERNAL)]
)
def test_exit_codes_reach_the_shell(how: str, code: int) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["test-exit", how])
    assert exited.value.code == code


def test_config_error_is_printed_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["test-exit", "config"])
    assert "ipfm.yaml:1:1: timezone: bad zone" in capsys.readouterr().err
