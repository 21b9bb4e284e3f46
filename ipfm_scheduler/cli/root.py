"""The root command, ``ipfm-scheduler``, with its global options: every command module
registers its commands on :data:`cli` (:mod:`ipfm_scheduler.cli` imports them all)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ipfm_scheduler import __version__
from ipfm_scheduler.cli.language import SpeakingCommand, lang_choice


class _Cli(SpeakingCommand, click.Group):
    """The top-level group; ``--config PATH``, ``--lang`` and ``-v`` are also understood after
    the command (``ipfm-scheduler validate --config x.yaml``), as people type them. The
    language is chosen before anything is parsed, so that help and errors speak it too."""

    def language_file(self) -> Path:
        from ipfm_scheduler.cli.common import Options

        return Options().station_path()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _global_options_first(args))


def _global_options_first(args: list[str]) -> list[str]:
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg in ("--config", "--lang") and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if arg.startswith(("--config=", "--lang=")) or arg in ("--verbose", "-v", "-vv", "-vvv"):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


@click.group(
    cls=_Cli,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="The station file. Default: $IPFM_CONFIG, else config/ipfm.yaml.",
)
@lang_choice("the station file's")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="ipfm-scheduler")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, lang: str | None, verbose: int) -> None:
    """Airs the recorded Plan 179 on every ward's IPFM loudspeakers, at least once a week,
    and keeps the record that proves it."""
    from ipfm_scheduler import logtime
    from ipfm_scheduler.cli.common import Options

    logtime.configure(max(logging.WARNING - 10 * verbose, logging.DEBUG))
    ctx.obj = Options(config_path=config_path)
