"""``ipfm-receiver``: the program on a loudspeaker box (docs/receiver.md).

    ipfm-receiver --config /etc/ipfm-receiver/receiver.yaml          # run (systemd: Type=notify)
    ipfm-receiver --config receiver.yaml --check                     # check the file, run nothing

Exit codes as ``ipfm-scheduler``'s (README): 0 stopped cleanly or the file is valid, 2 wrong
options, 3 the file is invalid (systemd does not restart on it), 70 a bug.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ipfm_scheduler import __version__, logtime
from ipfm_scheduler.cli.exitcodes import RET_INTERNAL, RET_OK, exit_code_for
from ipfm_scheduler.cli.language import SpeakingCommand, lang_choice
from ipfm_scheduler.errors import ConfigError, IpfmError
from ipfm_scheduler.i18n import _

if TYPE_CHECKING:
    from ipfm_scheduler.config.settings import MqttSettings

DEFAULT_CONFIG = "/etc/ipfm-receiver/receiver.yaml"


class _Receiver(SpeakingCommand):
    def language_file(self) -> Path:
        return Path(DEFAULT_CONFIG)


@click.command(
    cls=_Receiver,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The receiver's file (ipfm-scheduler receiver-config writes it).",
)
@lang_choice("the file's")
@click.option("--check", is_flag=True, help="Check the file and say what it sets; run nothing.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="ipfm-receiver")
def main(config_path: Path, lang: str | None, check: bool, verbose: int) -> None:
    """Plays what the ipfm-scheduler service commands on this loudspeaker box, and answers
    every command as docs/protocol.md says."""
    logtime.configure(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.getLogger("ipfm_scheduler.transport").setLevel(
        logging.INFO if verbose else logging.WARNING
    )
    sys.exit(_run(config_path, check))


def _login(mqtt: MqttSettings) -> str:
    """How the box logs in, for --check: its user (the password is never shown) and its CA."""
    if not mqtt.username:
        parts = [_("no user")]
    elif mqtt.password:
        parts = [_("user {user} with a password").format(user=mqtt.username)]
    else:
        parts = [_("user {user}").format(user=mqtt.username)]
    if mqtt.tls:
        parts.append(
            _("TLS, CA {file}").format(file=mqtt.ca_file)
            if mqtt.ca_file
            else _("TLS, the system's CAs")
        )
    return ", ".join(parts) + ", "


def _run(config_path: Path, check: bool) -> int:
    from ipfm_scheduler.config.receiver_file import load_receiver

    try:
        settings = load_receiver(config_path)
        logtime.use_zone(settings.timezone)
        if check:
            keys = (
                _("signing key {keys}").format(keys=", ".join(settings.keys))
                if settings.keys
                else _("NO signing key")
            )
            click.echo(
                _(
                    "{file}: valid: receiver {ward}/{receiver}, broker {broker} ({login}topic "
                    "prefix {prefix}), output {output}, cache {cache} ({mb} MB), state {state}, "
                    "{keys}"
                ).format(
                    file=config_path,
                    ward=settings.ward,
                    receiver=settings.receiver,
                    broker=settings.mqtt.shown,
                    login=_login(settings.mqtt),
                    prefix=settings.mqtt.topic_prefix,
                    output=settings.output,
                    cache=settings.cache_dir,
                    mb=settings.cache_max_bytes // 2**20,
                    state=settings.state_dir,
                    keys=keys,
                )
            )
            return RET_OK
        from ipfm_scheduler.receiver.agent import Agent

        agent = Agent(settings)
        agent.install_signals()
        return agent.run()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        return exit_code_for(exc)
    except IpfmError as exc:
        click.echo(_("ipfm-receiver: {error}").format(error=exc), err=True)
        return exit_code_for(exc)
    except Exception:
        logging.getLogger(__name__).exception(
            _("ipfm-receiver: a bug: please report it with this log")
        )
        return RET_INTERNAL
