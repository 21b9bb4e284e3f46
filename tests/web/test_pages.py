"""The pages as the service draws them (no browser): every ward and loudspeaker with the colour
the weekly rule gives it, the same figures as `report`, hostile paths refused, names escaped."""

from __future__ import annotations

import io
import re
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from ipfm_scheduler.cli.web import WebPages
from ipfm_scheduler.config.settings import LoadedConfig
from tests.web.world import EVIL, World, run, utc_now


def html(pages: WebPages, path: str) -> str:
    page = pages.answer(path, "")
    assert page.status == 200, page.body[:300]
    assert page.content_type == "text/html; charset=utf-8"
    return page.body.decode()


def cell(body: str, ward: str, receiver: str) -> str:
    """The class of ``receiver``'s cell in ``ward``'s row of the overview."""
    row = body[body.index(f'href="/wards/{ward}"') :]
    row = row[: row.index("</tr>")]
    found = re.search(
        rf'<div class="cell (\w+)"[^>]*><b><span class="dot \w+"></span>{receiver}</b>', row
    )
    assert found, f"no cell for {ward}/{receiver}"
    return found.group(1)


def test_the_overview_shows_every_ward_and_loudspeaker_with_its_colour(
    pages: WebPages, world: World
):
    body = html(pages, "/")
    assert world.loaded.schedule is not None
    for ward in world.loaded.schedule.wards.values():
        for receiver in ward.receivers:
            expected = "off" if not receiver.enabled else None
            found = cell(body, ward.id, receiver.id)
            if expected:
                assert found == expected, (ward.id, receiver.id)
    assert cell(body, "cam-trung", "loa-01") == "ok"  # completed Monday
    assert cell(body, "cam-trung", "loa-02") == "bad"  # failed twice, nothing left this week
    assert cell(body, "cam-trung", "loa-03") == "wait"  # Thursday's command still open
    assert cell(body, "cam-trung", "loa-04") == "off"  # disabled
    assert cell(body, "cam-phu", "loa-02") == "bad"  # Wednesdays only: failed
    assert cell(body, "cam-son", "loa-01") == "wait"  # airs on Saturday
    assert cell(body, "cua-ong", "loa-06") == "ok"
    assert 'class="dot gone"></span>loa-06' in body  # offline
    offline = body[body.index("Loudspeakers offline") :]
    assert "loa-06" in offline[: offline.index("</table>")]
    assert "amplifier" in body  # the last failures, with their reasons
    assert "Commands waiting for an answer" in body


def test_a_ward_named_with_a_script_tag_is_shown_as_text(pages: WebPages):
    for path in ("/", "/wards/cam-hai", "/weeks/2025-W47", "/months/2025-11"):
        body = html(pages, path)
        assert EVIL not in body, path
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body, path
        assert "<script" not in body.lower(), path


def test_the_pages_forbid_scripts_and_frames(pages: WebPages):
    page = pages.answer("/", "")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["X-Frame-Options"] == "DENY"


def test_a_ward_page_shows_its_receivers_plan_airings_and_reasons(pages: WebPages):
    body = html(pages, "/wards/cam-trung")
    assert "Phường Cẩm Trung" in body
    for receiver in ("loa-01", "loa-02", "loa-03", "loa-04"):
        assert receiver in body
    assert "Chợ Cẩm Trung" in body  # loa-04's location
    assert "2 commands: failed (amplifier) ×2" in body  # why loa-02 is short
    assert "pending: out of reach this week" in body  # loa-02: red, as on the overview
    assert body.count("out of reach this week") == 1  # loa-03 may still complete
    assert body.count("failed") >= 2  # Monday's and Thursday's outcomes
    assert "Plan for the week" in body


def test_a_ward_file_with_problems_is_named_with_them(world: World, tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(world.station.parent, config)
    shutil.copytree(world.station.parent.parent / "audio", tmp_path / "audio")
    ward = config / "wards" / "cam-thinh.yaml"
    text = ward.read_text(encoding="utf-8")
    ward.write_text(re.sub(r'at: "\d\d:', 'at: "26:', text), encoding="utf-8")
    pages = WebPages(world.repo, config / "ipfm.yaml", clock=utc_now)
    body = html(pages, "/wards/cam-thinh")
    assert "Problems in the ward file" in body
    assert "26:" in body
    assert "the ward file has problems" in html(pages, "/")


@pytest.mark.parametrize(
    "path",
    [
        "/wards/nobody",
        "/wards/../../etc/passwd",
        "/wards/%2e%2e%2fetc",
        "/wards/CAM-TRUNG",
        "/wards/cam-trung/",
        "/weeks/2026-W54",
        "/weeks/2026-w47",
        "/weeks/2025-W47.exe",
        "/months/2026-13",
        "/months/26-11",
        "/audio/../config/ipfm.yaml",
        "/" + "a" * 5000,
        "/static/../../ipfm.yaml",
    ],
)
def test_a_path_that_is_not_a_page_gets_a_short_404(pages: WebPages, path: str):
    page = pages.answer(path, "")
    assert page.status == 404
    assert len(page.body) < 400
    assert b"Traceback" not in page.body


def test_a_bug_shows_a_short_page_and_no_stack_trace(
    world: World, caplog: pytest.LogCaptureFixture
):
    def failing(path: Path, today: date) -> LoadedConfig:
        raise RuntimeError("secret internals")

    page = WebPages(world.repo, world.station, clock=utc_now, loader=failing).answer("/", "")
    assert page.status == 500
    assert b"secret" not in page.body
    assert b"Traceback" not in page.body
    assert "secret internals" in caplog.text  # the log has it


def test_the_week_csv_is_the_report_commands_csv(pages: WebPages, world: World):
    page = pages.answer("/weeks/2025-W47.csv", "")
    assert page.status == 200
    assert page.headers["Content-Disposition"] == 'attachment; filename="ipfm-report-2025-W47.csv"'
    cli = run("report", "--week", "2025-W47", "--format", "csv", "--database", world.url)
    assert cli.code == 1  # cam-trung/loa-02 was short
    assert page.body == cli.out


def test_the_week_xlsx_has_one_typed_row_per_receiver(pages: WebPages, world: World):
    page = pages.answer("/weeks/2025-W47.xlsx", "")
    book = load_workbook(io.BytesIO(page.body))
    sheet = book["2025-W47"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("week", "ward", "ward_name")
    assert world.loaded.schedule is not None
    receivers = sum(len(w.enabled_receivers) for w in world.loaded.schedule.wards.values())
    assert len(rows) - 1 == receivers
    completed = header.index("completed")
    assert all(isinstance(r[completed], int) for r in rows[1:])
    assert any(r[2] == f"Phường Cẩm Hải {EVIL}" for r in rows[1:])  # text, kept whole
    about = {r[0]: r[1] for r in book["about"].iter_rows(min_row=2, values_only=True)}
    assert about["from"] == datetime(2025, 11, 17)  # a date cell
    assert sheet.freeze_panes == "A2"


def test_the_week_report_page_has_every_ward_totals_and_the_chart(pages: WebPages, world: World):
    body = html(pages, "/weeks/2025-W47")
    assert world.loaded.schedule is not None
    for ward in world.loaded.schedule.wards.values():
        assert f'href="/wards/{ward.id}"' in body
    assert "Total: 48 of 49 loudspeakers met the minimum" in body  # cam-trung/loa-02 short
    assert body.count("<svg") == 1
    assert "<rect" in body
    assert 'href="/weeks/2025-W47.xlsx"' in body
    assert 'href="/weeks/2025-W47.csv"' in body
    assert "HEAD OF THE UNIT" in body
    assert "SOCIALIST REPUBLIC OF VIETNAM" in body


def test_the_month_page_says_which_weeks_are_partial(pages: WebPages):
    body = html(pages, "/months/2025-11")
    for week in ("2025-W44", "2025-W48"):
        assert f'href="/weeks/{week}"' in body
    assert 'href="/weeks/2025-W49"' not in body
    # 1 November 2025 is a Saturday (W44 began in October); the 30th a Sunday (W48 ends there)
    assert "(counted whole): 2025-W44;" in body or "(counted whole): 2025-W44<" in body
    page = pages.answer("/months/2025-11.xlsx", "")
    weeks = list(load_workbook(io.BytesIO(page.body))["weeks"].iter_rows(values_only=True))
    assert weeks[0] == ("week", "monday", "sunday", "partial", "finished", "verdict")
    assert weeks[1][:4] == ("2025-W44", datetime(2025, 10, 27), datetime(2025, 11, 2), True)
    assert weeks[-1][:4] == ("2025-W48", datetime(2025, 11, 24), datetime(2025, 11, 30), False)
