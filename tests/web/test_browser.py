"""The pages in a real browser (Debian's chromium, headless), served by the service's HTTP
server on a real SQLite database: the overview's colours as the browser's DOM has them, a ward
page and a week report, the week report printed to A4 PDF with every ward's row in its text, and
the pages at a phone's 375 px. Screenshots are kept in var/test-artefacts/web/ (looked at, not
compared pixel by pixel)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipfm_scheduler.cli.web import WebPages
from ipfm_scheduler.i18n import language, set_language
from ipfm_scheduler.service.http.server import HttpServer
from tests.web import chromium
from tests.web.world import World, utc_now

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "web"
A4 = (595.0, 842.0)  # points; chromium writes 594.96 x 841.92


@pytest.fixture(scope="module")
def site(world: World) -> Iterator[str]:
    """The pages in Vietnamese (the station's language), on a real server."""
    spoken = language()
    set_language("vi")
    server = HttpServer("127.0.0.1", 0)
    server.pages = WebPages(world.repo, world.station, server.health.run, clock=utc_now)
    with server:
        yield server.url
    set_language(spoken)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return tmp_path / "chromium-profile"


def cells(dom: str) -> dict[tuple[str, str], str]:
    """(ward, receiver) -> the class of its cell, as the browser parsed the overview."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", dom, re.S):
        ward = re.search(r'href="/wards/([a-z0-9-]+)"', row)
        if ward is None:
            continue
        for cls, receiver in re.findall(
            r'<div class="cell (\w+)"[^>]*><b><span class="dot \w+"></span>([\w-]+)</b>', row
        ):
            found[(ward.group(1), receiver)] = cls
    return found


def test_the_overview_in_a_browser_shows_every_ward_and_receiver_in_its_colour(
    site: str, world: World, profile: Path
):
    dom = chromium.dump_dom(profile, site + "/")
    assert '<html lang="vi">' in dom
    assert "Phường và cụm loa" in dom
    found = cells(dom)
    assert world.loaded.schedule is not None
    every = {(w.id, r.id) for w in world.loaded.schedule.wards.values() for r in w.receivers}
    assert set(found) == every
    disabled = {(w.id, r.id) for w in world.loaded.schedule.wards.values()
                for r in w.receivers if not r.enabled}  # fmt: skip
    assert {k for k, cls in found.items() if cls == "off"} == disabled
    assert {k for k, cls in found.items() if cls == "bad"} == {
        ("cam-trung", "loa-02"), ("cam-phu", "loa-02")}  # fmt: skip
    waiting = {k for k, cls in found.items() if cls == "wait"}
    assert ("cam-trung", "loa-03") in waiting  # its Thursday command is still open
    assert {w for w, _ in waiting} == {"cam-trung", "cam-son", "cam-hai", "cam-thach"}
    assert "<script" not in dom  # the ward named with a script tag stayed text
    assert "&lt;script&gt;" in dom


def test_a_ward_page_and_a_week_report_render(site: str, profile: Path):
    ward = chromium.dump_dom(profile, site + "/wards/cam-trung")
    assert "Phường Cẩm Trung" in ward
    assert "2 lệnh: lỗi (amplifier) ×2" in ward
    week = chromium.dump_dom(profile, site + "/weeks/2025-W47")
    assert "Báo cáo phát thanh tuần 2025-W47" in week
    assert "<svg" in week
    assert "Tỷ lệ đạt theo phường" in week


def test_the_week_report_prints_on_a4_with_every_wards_row(
    site: str, world: World, profile: Path, tmp_path: Path
):
    pdf = chromium.print_to_pdf(profile, site + "/weeks/2025-W47", tmp_path / "week.pdf")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes, "no page in the PDF"
    for width, height in boxes:
        assert (round(float(width)), round(float(height))) == A4
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "week.pdf", ARTEFACTS / "week-2025-W47.pdf")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run([pdftotext, "-layout", str(tmp_path / "week.pdf"), "-"],
                          capture_output=True, check=True, timeout=30).stdout.decode()  # fmt: skip
    flat = " ".join(text.split())
    assert world.loaded.schedule is not None
    for ward in world.loaded.schedule.wards.values():
        assert ward.id in flat, ward.id  # the ward's row (its id under its name)
    for words in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Báo cáo phát thanh tuần 2025-W47",
        "Tổng cộng: 48/49 cụm loa",
        "NGƯỜI LẬP BIỂU",
        "THỦ TRƯỞNG ĐƠN VỊ",
        "Lập lúc",
    ):
        assert words in flat, words  # fmt: skip
    assert "Tải về" not in flat  # the download links are not printed
    assert "<script>alert('x')" in flat  # shown as the text it is


@pytest.mark.parametrize("path", ["/", "/weeks/2025-W47", "/wards/cam-trung", "/months/2025-11"])
def test_the_pages_fit_a_phone_375_px_wide(site: str, profile: Path, path: str):
    browser = chromium.DevTools(profile)
    try:
        browser.open_as_phone(site + path)
        width = browser.evaluate("document.documentElement.scrollWidth")
        shown = browser.evaluate("window.innerWidth")
    finally:
        browser.close()
    assert shown == 375
    assert width <= 375, f"{path} is {width} px wide on a 375 px phone"


@pytest.mark.slow
def test_screenshots_are_kept_as_artefacts(site: str, profile: Path):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for name, path, width, height in [
        ("overview", "/", 1280, 2200), ("overview-phone", "/", 375, 2400),
        ("week", "/weeks/2025-W47", 1280, 1800), ("week-phone", "/weeks/2025-W47", 375, 1600),
        ("ward", "/wards/cam-trung", 1280, 1400), ("month", "/months/2025-11", 1280, 2000),
    ]:  # fmt: skip
        out = chromium.screenshot(profile, site + path, ARTEFACTS / f"{name}.png", width, height)
        assert out.read_bytes().startswith(b"\x89PNG"), name
