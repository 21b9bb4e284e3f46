"""What one request's page is drawn from, shared by the pages of :mod:`ipfm_scheduler.cli.web`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ipfm_scheduler.cli.web.html import SECURITY_HEADERS, layout
from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.http.app import Page
from ipfm_scheduler.service.http.health import Health
from ipfm_scheduler.storage.months import Month
from ipfm_scheduler.storage.repository import Repository

HTML = "text/html; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


class NotFound(Exception):
    """The page asked for does not exist (a ward, a week, a path)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What one request's page is drawn from."""

    repo: Repository
    loaded: LoadedConfig
    now: datetime  # in the station's zone
    health: Mapping[str, Health]

    @property
    def tz(self) -> ZoneInfo:
        assert self.loaded.schedule is not None
        return self.loaded.schedule.timezone

    @property
    def week(self) -> IsoWeek:
        return IsoWeek.containing(self.now, self.tz)

    @property
    def month(self) -> Month:
        return Month(self.now.year, self.now.month)

    @property
    def station(self) -> str:
        assert self.loaded.station is not None
        return self.loaded.station.http.title or _("IPFM loudspeakers: airing record")

    def page(self, title: str, body: str) -> Page:
        data = layout(
            title,
            body,
            station=self.station,
            now=self.now,
            week=str(self.week),
            month=str(self.month),
        )
        return Page(200, HTML, data, SECURITY_HEADERS)
