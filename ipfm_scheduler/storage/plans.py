"""The plan a configuration snapshot put in force, read back from the database: programmes
with their minimum and campaign, wards with their receivers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage import tables as t


@dataclass(frozen=True, slots=True)
class PlanProgramme:
    id: str
    title: str
    min_per_week: int
    duration_s: float
    campaign_from: date | None
    campaign_until: date | None
    first_full_week: str | None
    last_full_week: str | None

    def overlaps(self, week: IsoWeek) -> bool:
        """The campaign runs on at least one day of ``week``."""
        starts = self.campaign_from is None or self.campaign_from <= week.sunday
        return starts and (self.campaign_until is None or self.campaign_until >= week.monday)

    def enforced(self, week: IsoWeek) -> bool:
        """The weekly minimum applies in ``week`` (the campaign covers all of it)."""
        if self.min_per_week <= 0:
            return False
        first = self.first_full_week and IsoWeek.parse(self.first_full_week)
        last = self.last_full_week and IsoWeek.parse(self.last_full_week)
        return (not first or week >= first) and (not last or week <= last)


@dataclass(frozen=True, slots=True)
class PlanReceiver:
    id: str
    enabled: bool
    location: str


@dataclass(frozen=True, slots=True)
class RecordedPlan:
    programmes: dict[str, PlanProgramme] = field(default_factory=dict)
    ward_names: dict[str, str] = field(default_factory=dict)
    receivers: dict[str, tuple[PlanReceiver, ...]] = field(default_factory=dict)


def load_plans(conn: Connection, snapshot_ids: Iterable[int]) -> dict[int, RecordedPlan]:
    """The plan of each snapshot in ``snapshot_ids``."""
    ids = sorted(set(snapshot_ids))
    if not ids:
        return {}
    sp, sw, sr = t.snapshot_programmes, t.snapshot_wards, t.snapshot_receivers
    programmes: dict[int, dict[str, PlanProgramme]] = defaultdict(dict)
    for r in conn.execute(select(sp).where(sp.c.snapshot_id.in_(ids))).all():
        programmes[r.snapshot_id][r.programme] = PlanProgramme(
            r.programme,
            r.title,
            r.min_per_week,
            r.duration_s,
            r.campaign_from,
            r.campaign_until,
            r.first_full_week,
            r.last_full_week,
        )
    names: dict[int, dict[str, str]] = defaultdict(dict)
    for r in conn.execute(select(sw).where(sw.c.snapshot_id.in_(ids))).all():
        names[r.snapshot_id][r.ward] = r.name
    receivers: dict[int, dict[str, list[PlanReceiver]]] = defaultdict(lambda: defaultdict(list))
    query = (
        select(sr.c.snapshot_id, sr.c.ward, sr.c.receiver, sr.c.enabled, sr.c.location)
        .where(sr.c.snapshot_id.in_(ids))
        .order_by(sr.c.ward, sr.c.receiver)
    )
    for snapshot_id, ward, receiver, enabled, location in conn.execute(query):
        receivers[snapshot_id][ward].append(PlanReceiver(receiver, enabled, location))
    return {
        i: RecordedPlan(
            programmes[i],
            names[i],
            {ward: tuple(found) for ward, found in receivers[i].items()},
        )
        for i in ids
    }
