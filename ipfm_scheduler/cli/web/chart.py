"""The compliance chart of the report pages: one row per ward, one column per week (the last 12),
each square the share of the ward's loudspeakers that met the weekly minimum that week, as the
weekly report counts them (storage/report.py). Drawn on the server as inline SVG: no script,
nothing fetched, and it prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ipfm_scheduler.cli.web.html import esc
from ipfm_scheduler.core.verdicts import Standing
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage.report import WeekReport

WEEKS = 12
LABEL_W, CELL_W, CELL_H, HEAD_H = 170, 46, 22, 34
COLOURS = {  # fill, text
    "ok": ("#2e7d32", "#ffffff"),
    "wait": ("#f9a825", "#1f2328"),
    "bad": ("#c62828", "#ffffff"),
    "off": ("#e0e0e0", "#5f6368"),
}


@dataclass(frozen=True, slots=True)
class Share:
    """A ward's week: loudspeakers that met the minimum, of those counted."""

    compliant: int
    counted: int
    final: bool  # the week's verdicts are final

    @property
    def css(self) -> str:
        if self.counted == 0:
            return "off"
        if self.compliant == self.counted:
            return "ok"
        return "bad" if self.final else "wait"

    @property
    def percent(self) -> str:
        return f"{round(100 * self.compliant / self.counted)}%" if self.counted else "–"


def shares(reports: Sequence[WeekReport]) -> dict[tuple[str, IsoWeek], Share]:
    """(ward, week) -> its share, from the weekly reports (every programme of the ward)."""
    found: dict[tuple[str, IsoWeek], Share] = {}
    for report in reports:
        for group in report.groups:
            key = (group.ward, report.week)
            old = found.get(key, Share(0, 0, report.finished))
            counted = [r for r in group.receivers if r.standing is not Standing.NOT_ENFORCED]
            found[key] = Share(
                old.compliant + sum(1 for r in counted if r.standing is Standing.COMPLIANT),
                old.counted + len(counted),
                report.finished,
            )
    return found


def svg(
    wards: Sequence[tuple[str, str]],
    weeks: Sequence[IsoWeek],
    values: Mapping[tuple[str, IsoWeek], Share],
) -> str:
    """``wards``: (id, name) in order; ``weeks`` oldest first."""
    width = LABEL_W + CELL_W * len(weeks) + 4
    height = HEAD_H + CELL_H * len(wards) + 4
    label = esc(_("Compliance per ward, last {count} weeks").format(count=len(weeks)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
        f"<title>{label}</title>",
    ]
    for i, week in enumerate(weeks):
        x = LABEL_W + i * CELL_W + CELL_W / 2
        parts.append(
            f'<text x="{x:.0f}" y="14" text-anchor="middle">W{week.week:02d}</text>'
            f'<text x="{x:.0f}" y="27" text-anchor="middle" fill="#57606a">{week.year}</text>'
        )
    for j, (ward, name) in enumerate(wards):
        y = HEAD_H + j * CELL_H
        shown = name if len(name) <= 24 else name[:23] + "…"
        parts.append(f'<text x="4" y="{y + 15}"><title>{esc(ward)}</title>{esc(shown)}</text>')
        for i, week in enumerate(weeks):
            share = values.get((ward, week), Share(0, 0, True))
            fill, ink = COLOURS[share.css]
            x = LABEL_W + i * CELL_W
            tip = esc(f"{name} {week}: {share.compliant}/{share.counted}")
            parts.append(
                f'<g><title>{tip}</title><rect x="{x + 1}" y="{y + 1}" width="{CELL_W - 2}" '
                f'height="{CELL_H - 2}" rx="3" fill="{fill}"/>'
                f'<text x="{x + CELL_W / 2:.0f}" y="{y + 15}" text-anchor="middle" '
                f'fill="{ink}">{esc(share.percent)}</text></g>'
            )
    parts.append("</svg>")
    return "".join(parts)


def last_weeks(week: IsoWeek, count: int = WEEKS) -> list[IsoWeek]:
    """The ``count`` weeks that end with ``week``, oldest first."""
    return [week + (i - count + 1) for i in range(count)]
