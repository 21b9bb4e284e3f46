"""The service's web pages: read-only, drawn on the server, for the people who would rather look
than type (docs/web.md). ``/`` this week at a glance, ``/wards/<id>`` one ward,
``/weeks/<YYYY-Www>`` and ``/months/<YYYY-MM>`` the reports (``.csv`` and ``.xlsx`` to download).

Every figure comes from the functions `status`, `report` and `log` use (cli/status_view.py,
storage/report.py, storage/months.py, storage/audit.py, core/verdicts.py). The request is
hostile: the path must match one of the shapes above exactly, ids and periods are checked
before anything is looked up, the query string is ignored, and an error shows a short page,
never a stack trace (the log has it).

The pages live beside the command line because they show what its commands show, through the
same view functions; the service gets them as a :class:`~ipfm_scheduler.service.http.server.Pages`
(``run`` builds them, so the service package never imports this one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from ipfm_scheduler.cli.web import overview, reports, ward
from ipfm_scheduler.cli.web.context import HTML, Context, NotFound
from ipfm_scheduler.cli.web.html import SECURITY_HEADERS, esc
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import StorageError, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.http.app import Page
from ipfm_scheduler.service.http.health import Health, HealthChecks
from ipfm_scheduler.storage.months import Month
from ipfm_scheduler.storage.repository import Repository

log = logging.getLogger(__name__)

WARD_PATH = re.compile(r"/wards/([a-z0-9][a-z0-9_-]{0,63})")
WEEK_PATH = re.compile(r"/weeks/(\d{4}-W\d{2})(\.csv|\.xlsx)?")
MONTH_PATH = re.compile(r"/months/(\d{4}-\d{2})(\.csv|\.xlsx)?")

Loader = Callable[[Path, date], LoadedConfig]


def _load(path: Path, today: date) -> LoadedConfig:
    return load(path, today=today, secrets=False)


class Unconfigured(Exception):
    """The station file can't be read: no page can be drawn."""


class WebPages:
    """The pages, for :class:`~ipfm_scheduler.service.http.server.HttpServer`."""

    def __init__(
        self,
        repo: Repository,
        station_path: Path,
        health: Callable[[], Mapping[str, Health]] | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        loader: Loader = _load,
    ) -> None:
        self.repo, self.station_path = repo, station_path
        self.health = health or dict
        self.clock, self.loader = clock, loader

    def answer(self, path: str, query: str) -> Page:
        try:
            return self._route(path)
        except NotFound:
            return _short_page(404, _("Not found"), _("There is no such page."))
        except Unconfigured:
            return _short_page(
                503,
                _("The station file has problems"),
                _("Run `ipfm-scheduler validate` to see them."),
            )
        except StorageError as exc:
            log.error(_("web page %s: the database did not answer: %s"), path[:200], exc)
            return _short_page(503, _("Database unavailable"), _("Try again in a minute."))
        except Exception:  # a bug: the log has it, the browser a short page
            log.exception(_("web page %s failed (a bug: please report it)"), path[:200])
            return _short_page(500, _("Internal error"), _("The log says what went wrong."))

    def _context(self) -> Context:
        now = self.clock()
        loaded = self.loader(self.station_path, now.date())
        if loaded.station is None or loaded.schedule is None:
            raise Unconfigured(self.station_path)
        local = now.astimezone(loaded.schedule.timezone)
        return Context(self.repo, loaded, local, self.health())

    def _route(self, path: str) -> Page:
        if path in ("/", "/index.html"):
            return overview.page(self._context())
        if (found := WARD_PATH.fullmatch(path)) is not None:
            return ward.page(self._context(), found.group(1))
        if (found := WEEK_PATH.fullmatch(path)) is not None:
            week = _parsed(IsoWeek.parse, found.group(1))
            return reports.week_page(self._context(), week, found.group(2))
        if (found := MONTH_PATH.fullmatch(path)) is not None:
            month = _parsed(Month.parse, found.group(1))
            return reports.month_page(self._context(), month, found.group(2))
        raise NotFound(path)


T = TypeVar("T")


def _parsed(parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValueInvalid as exc:
        raise NotFound(text) from exc


def _short_page(status: int, title: str, text: str) -> Page:
    body = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(title)}</title></head>'
        f'<body><h1>{esc(title)}</h1><p>{esc(text)}</p><p><a href="/">/</a></p></body></html>'
    )
    return Page(status, HTML, body.encode(), SECURITY_HEADERS)


def pages_factory(station_path: Path) -> Callable[[Repository, HealthChecks], WebPages]:
    """What ``run`` gives the service: the pages of the station at ``station_path``."""

    def make(repo: Repository, health: HealthChecks) -> WebPages:
        return WebPages(repo, station_path, health.run)

    return make
