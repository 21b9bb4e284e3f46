"""The real adapters the daemon runs on: the config loader, the database (storage's repository,
schema checked), the MQTT transport, the receiver protocol, the HTTP server and its metrics."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from datetime import date
from functools import partial
from pathlib import Path

from ipfm_scheduler.audio.catalogue import Catalogue
from ipfm_scheduler.config.loader import LoadCache, load
from ipfm_scheduler.config.settings import LoadedConfig, StationConfig
from ipfm_scheduler.errors import AudioError, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.daemon import HealthFn, Wiring
from ipfm_scheduler.service.http.access import Access
from ipfm_scheduler.service.http.app import Pages
from ipfm_scheduler.service.http.health import Health, HealthChecks
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.service.http.passwords import read_users
from ipfm_scheduler.service.http.server import HttpServer, audio_allow_list
from ipfm_scheduler.storage.db import open_engine, require_current
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.transport.outbox import MqttOutbox

log = logging.getLogger(__name__)

#: builds the web pages from the database and the server's health checks (cli/web)
PagesFactory = Callable[[Repository, HealthChecks], Pages]


def load_config(path: Path, today: date) -> LoadedConfig:
    return load(path, today=today)


def config_loader() -> Callable[[Path, date], LoadedConfig]:
    """The service's loader: from the second load on (a reload), what did not change since
    the last is not read or checked again (config/loader.py ``LoadCache``)."""
    cache = LoadCache()

    def load_again(path: Path, today: date) -> LoadedConfig:
        loaded = load(path, today=today, cache=cache)
        log.debug(
            "configuration read: %d ward file(s) checked, %d receiver key folder(s) read, "
            "%d unchanged",  # i18n: internal
            cache.checked,
            cache.keys.read,
            cache.keys.reused,
        )
        return loaded

    return load_again


def connect(station: StationConfig, *, pages: PagesFactory | None = None) -> Wiring:
    """Open the database (refusing a schema this program does not know), and the broker client
    (it connects in the background when the daemon starts it)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing to us
    engine = open_engine(station.database_url)
    try:
        require_current(engine)
    except Exception:
        engine.dispose()
        raise
    metrics = Metrics()
    repo = Repository(engine)
    repo.checkpoint_aside()  # SQLite: a big slot's commits never wait for a checkpoint

    postgres = engine.dialect.name == "postgresql"
    parts = ("scheduler", "broker", "database", *(("lead",) if postgres else ()))

    def http(checks: HealthFn, plan: Plan) -> ServiceHttp:
        return ServiceHttp(plan, checks, metrics, parts, pages=pages, repo=repo)

    outbox = MqttOutbox(station.mqtt, prefix=station.mqtt.topic_prefix)
    metrics.watch_intake(outbox.intake)
    spill = spill_path(station.database_url)
    metrics.role("standby" if postgres else "sole", 0)
    return Wiring(repo, outbox, metrics, http, spill, lease_log=repo if postgres else None)


def state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where the service keeps its own files: systemd's ``StateDirectory``
    (/var/lib/ipfm-scheduler), else ``$XDG_STATE_HOME/ipfm-scheduler``, else
    ``~/.local/state/ipfm-scheduler``."""
    given = env.get("STATE_DIRECTORY", "").split(":")[0]
    if given:
        return Path(given)
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ipfm-scheduler"


def spill_path(database_url: str, env: Mapping[str, str] = os.environ) -> Path:
    """The spill file of answers waiting for the database at ``database_url`` (one per
    database, so that a service never replays answers into another's airing log)."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return state_dir(env) / f"answers-{digest}.spill"


class ServiceHttp:
    """The audio/health/metrics server, kept in step with the configuration on reload."""

    def __init__(
        self,
        plan: Plan,
        checks: HealthFn,
        metrics: Metrics,
        parts: tuple[str, ...] = ("scheduler", "broker", "database"),
        *,
        pages: PagesFactory | None = None,
        repo: Repository | None = None,
    ) -> None:
        self.enabled = plan.station.http.enabled

        def check(name: str) -> Health:
            ok, reason = checks()[name]
            return Health(ok, reason)

        self.server = HttpServer.from_settings(
            plan.station.http,
            audio=_allowed(plan),
            health={name: partial(check, name) for name in parts},
            metrics=metrics,
            access=http_access(plan.station.http.users),
        )
        if pages is not None and repo is not None:
            self.server.pages = pages(repo, self.server.health)

    def start(self) -> None:
        if self.enabled:
            self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def update(self, plan: Plan) -> None:
        self.server.set_audio(_allowed(plan))
        self.server.access = http_access(plan.station.http.users)  # a changed password file


def http_access(users: Path | None) -> Access:
    """Who may read the pages and /metrics: the loopback address only, unless the password
    file ``users`` is given (then whoever logs in). A password file that can't be read lets
    the pages answer on the loopback address only, and says why."""
    if users is None:
        return Access(None)
    try:
        return Access(read_users(users))
    except (OSError, ValueInvalid) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        log.error(
            _("the password file %s can't be read (%s): the pages answer on loopback only"),
            users,
            why,
        )
        return Access(None)


def _allowed(plan: Plan) -> dict[str, Path]:
    audio = plan.station.programme_audio
    try:
        catalogue = Catalogue.load(plan.station.audio.dir)
    except AudioError as exc:
        log.error(
            _("the audio catalogue can't be read (%s): serving the programmes' files only"), exc
        )
        return {a.sha256: a.path for a in audio.values()}
    return audio_allow_list(catalogue, audio)
