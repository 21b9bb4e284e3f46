"""The command line: every command, and the only place that turns errors into exit codes.

Each area registers its commands on the root command (``cli/root.py``) in its own module
(``cli/config_cmds.py``, ``cli/db_cmds.py``, ...), imported at the bottom of this file.
"""

from __future__ import annotations

import logging
import sys

import click

from ipfm_scheduler.cli.exitcodes import RET_INTERNAL, exit_code_for
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.i18n import _

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ipfm-scheduler`` console script."""
    try:
        # without standalone mode, click returns what `ctx.exit(code)` asked for
        code = cli.main(args=argv, prog_name="ipfm-scheduler", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(_("aborted"), err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except IpfmError as exc:
        click.echo(_("ipfm-scheduler: {error}").format(error=exc), err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        logging.getLogger("ipfm_scheduler").exception(_("internal error (a bug: please report it)"))
        sys.exit(RET_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


# Command modules register themselves on `cli` when imported (keep this list sorted).
# (one name per line; ruff's isort merges separate `from ipfm_scheduler.cli import` lines)
from ipfm_scheduler.cli import (  # noqa: E402
    audio_cmds,  # noqa: F401
    audit_cmds,  # noqa: F401
    broker_cmds,  # noqa: F401
    config_cmds,  # noqa: F401
    db_cmds,  # noqa: F401
    http_cmds,  # noqa: F401
    keys_cmds,  # noqa: F401
    receiver_cmds,  # noqa: F401
    service_cmds,  # noqa: F401
    simulate_cmds,  # noqa: F401
    verify_cmds,  # noqa: F401
)
