"""`ipfm-scheduler run`, `air` and `status`: the service, and talking to it through the database.

`air` queues a request that the running service picks up within a second or two; it refuses to
queue anything when no service is running (an airing queued for a service that starts hours later
would go out at the wrong time). `status` reads the database and the configuration only.
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
import socket
import time
from datetime import UTC, date, datetime
from typing import Any

import click

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.db_cmds import database_option, database_url
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.cli.status_view import gather, render_text, service_health
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.records import LIVE_WITHIN, ManualRequest, RequestRecord, RequestState
from ipfm_scheduler.errors import ConfigError, ServiceNotRunning, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage.db import open_engine, require_current, shown
from ipfm_scheduler.storage.repository import Repository


def _loaded(opts: Options) -> LoadedConfig:
    """The configuration as far as it can be read (``air``/``status`` need its station)."""
    loaded = load(opts.station_path(), today=date.today(), secrets=False)
    if loaded.station is None or loaded.schedule is None:
        raise ConfigError(loaded.problems)
    return loaded


def _repository(opts: Options, database: str | None) -> Repository:
    engine = open_engine(database_url(opts, database))
    require_current(engine)
    return Repository(engine)


@cli.command()
@click.option(
    "--demo",
    is_flag=True,
    help="Also plan one airing per ward 15 seconds from now, outside the windows, so that a "
    "newcomer sees commands dispatched at once, received within seconds, and confirmed "
    "`completed` once the loudspeakers have played the whole recording (about 100 s for the "
    "sample's 85 s one). Use a spare database.",
)
@click.pass_obj
def run(opts: Options, demo: bool) -> None:
    """Run the service until SIGTERM or Ctrl-C; SIGHUP re-reads the configuration.

    Refuses an invalid configuration (exit 3, the messages of `validate`) and a database whose
    schema is out of date (exit 4: run `ipfm-scheduler db upgrade`). See docs/service.md.
    """
    from ipfm_scheduler.cli.web import pages_factory
    from ipfm_scheduler.service import systemd
    from ipfm_scheduler.service.daemon import Daemon
    from ipfm_scheduler.service.wiring import config_loader, connect

    systemd.limit_arenas()  # before any thread starts
    systemd.collect_less()
    root = logging.getLogger()
    root.setLevel(min(root.level, logging.INFO))  # a service logs its events; -v adds debug

    pages = pages_factory(opts.station_path())
    connector = functools.partial(connect, pages=pages)
    loader = config_loader()
    daemon = Daemon(opts.station_path(), loader=loader, connector=connector, demo=demo)
    daemon.signals.install()
    daemon.run()


def _start(value: str | None, tz: Any, now: datetime) -> datetime | None:
    """``--at``: HH:MM (today, local), or a local date and time, or RFC 3339 with an offset."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(p) for p in text.split(":"))
            local = now.astimezone(tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
            return local.astimezone(UTC)
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise click.BadParameter(
            _(
                "{value} is not a time: write HH:MM (today), 2026-11-30 17:15, or "
                "2026-11-30T17:15:00+07:00"
            ).format(value=repr(value)),
            param_hint="--at",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


@cli.command()
@click.option("--ward", required=True, help="The ward id (e.g. cam-trung).")
@click.option("--receiver", default=None, help="One receiver of the ward (default: all enabled).")
@click.option("--programme", required=True, help="The programme id (e.g. kh179).")
@click.option(
    "--priority",
    type=click.Choice([p.value for p in Priority]),
    default=Priority.NORMAL.value,
    show_default=True,
    help="emergency ignores the windows and interrupts what the receivers play.",
)
@click.option(
    "--at", "at", default=None, help="Start: HH:MM today, or a date and time. Default: now."
)
@click.option(
    "--wait", type=click.FloatRange(0), default=10.0, show_default=True,
    help="Seconds to wait for the service's answer.",
)  # fmt: skip
@database_option
@click.pass_obj
def air(  # noqa: PLR0917
    opts: Options, ward: str, receiver: str | None, programme: str, priority: str,
    at: str | None, wait: float, database: str | None,
) -> None:  # fmt: skip
    """Air a programme now (or at --at) in a ward, through the running service.

    Exit 0 when the service planned the airing, 1 when it refused (the reason is printed),
    7 when no service is running (nothing is queued).
    """
    loaded = _loaded(opts)
    assert loaded.station is not None
    now = datetime.now(UTC)
    repo = _repository(opts, database)
    live = repo.live_instance(now, LIVE_WITHIN)
    if live is None:
        raise ServiceNotRunning(
            _(
                "no ipfm-scheduler service is running on the database {url} (no heartbeat in the "
                "last {seconds} s): nothing was queued; start it (systemctl start ipfm-scheduler, "
                "or ipfm-scheduler run) and try again"
            ).format(url=shown(repo.engine.url), seconds=LIVE_WITHIN.seconds)
        )
    try:
        request = ManualRequest(
            ward, programme, Priority(priority), f"{getpass.getuser()}@{socket.gethostname()}",
            receiver, _start(at, loaded.station.timezone, now),
        )  # fmt: skip
    except ValueInvalid as exc:
        raise click.UsageError(str(exc)) from exc
    request_id = repo.queue_request(request, now=now)
    click.echo(
        _("request #{id} queued for the service on {host} (pid {pid})").format(
            id=request_id, host=live.host, pid=live.pid
        )
    )
    record = _await(repo, request_id, wait)
    if record.state is RequestState.DONE:
        click.echo(_("done: {message}").format(message=record.message))
        return
    if record.state is RequestState.REFUSED:
        click.echo(_("refused: {message}").format(message=record.message), err=True)
        raise SystemExit(1)
    click.echo(
        _(
            "the service has not answered within {seconds} s; the request stays queued "
            "(see `ipfm-scheduler status`)"
        ).format(seconds=f"{wait:g}"),
        err=True,
    )
    raise SystemExit(1)


def _await(repo: Repository, request_id: int, wait: float) -> RequestRecord:
    """Poll the request until the service finished it or ``wait`` seconds passed."""
    deadline = time.monotonic() + wait
    record = repo.request(request_id)
    while record.state in (RequestState.QUEUED, RequestState.TAKEN):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)  # a CLI waiting for another process: poll the database gently
        record = repo.request(request_id)
    return record


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)  # fmt: skip
@database_option
@click.pass_obj
def status(opts: Options, fmt: str, database: str | None) -> None:
    """The service, the receivers online and offline, the next airings, this week's compliance
    so far and the commands waiting for an answer."""
    loaded = _loaded(opts)
    repo = _repository(opts, database)
    view = gather(repo, loaded, datetime.now(UTC), live_within=LIVE_WITHIN)
    assert loaded.station is not None
    view["service"]["health"] = service_health(
        loaded.station.http, view["service"], here=socket.gethostname()
    )
    if fmt == "json":
        click.echo(json.dumps(view, indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(render_text(view))
