"""The pages in a real browser (Debian's chromium, headless, driven by Playwright for Python),
served by the service's HTTP server on a real SQLite database: the overview's colours as the
browser computes them, a ward page and a week report, the week report printed to A4 PDF with
every ward's row in its text, and the pages at a phone's 375 px. Screenshots are kept in
var/test-artefacts/web/ (looked at, not compared pixel by pixel)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipfm_scheduler.cli.web import WebPages
from ipfm_scheduler.i18n import language, set_language
from ipfm_scheduler.service.http.server import HttpServer
from tests.conftest import need_service
from tests.web.world import World, utc_now

try:  # the dev extra; missing, the tests skip (locally) or fail (in CI), as for chromium
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "web"
A4 = (595, 842)  # points; chromium writes 594.96 x 841.92
CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright downloads no browser of its own here
TIMEOUT_MS = 30_000
BACKGROUND = {  # the cell classes' colours (cli/web/html.py), as getComputedStyle gives them
    "ok": "rgb(223, 243, 228)",
    "wait": "rgb(255, 241, 204)",
    "bad": "rgb(251, 224, 222)",
    "off": "rgb(236, 239, 241)",
}
CELLS = """() => [...document.querySelectorAll('tr')].flatMap(row => {
  const ward = row.querySelector('a[href^="/wards/"]');
  if (!ward) return [];
  return [...row.querySelectorAll('div.cell')].map(cell => ({
    ward: ward.getAttribute('href').slice('/wards/'.length),
    receiver: cell.querySelector('b').textContent.trim(),
    kind: [...cell.classList].find(c => c !== 'cell'),
    background: getComputedStyle(cell).backgroundColor,
  }));
})"""


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_service(sync_playwright is not None, "Playwright for Python (pip install '.[dev]')")
    need_service(Path(CHROMIUM).exists(), f"chromium at {CHROMIUM} (apt-get install chromium)")
    assert sync_playwright is not None
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    context.close()


def test_the_overview_in_a_browser_shows_every_ward_and_receiver_in_its_colour(
    site: str, world: World, page: Any
):
    answer = page.goto(site + "/")
    assert answer is not None
    assert answer.status == 200
    assert page.locator("html").get_attribute("lang") == "vi"
    assert "Phường và cụm loa" in page.content()
    shown = page.evaluate(CELLS)
    found = {(c["ward"], c["receiver"]): c["kind"] for c in shown}
    assert len(found) == len(shown)  # each receiver once
    for cell in shown:  # the colour the browser paints is the class's
        assert cell["background"] == BACKGROUND[cell["kind"]], cell
    assert world.loaded.schedule is not None
    every = {(w.id, r.id) for w in world.loaded.schedule.wards.values() for r in w.receivers}
    assert set(found) == every
    disabled = {(w.id, r.id) for w in world.loaded.schedule.wards.values()
                for r in w.receivers if not r.enabled}  # fmt: skip
    assert {k for k, kind in found.items() if kind == "off"} == disabled
    assert {k for k, kind in found.items() if kind == "bad"} == {
        ("cam-trung", "loa-02"), ("cam-phu", "loa-02")}  # fmt: skip
    waiting = {k for k, kind in found.items() if kind == "wait"}
    assert ("cam-trung", "loa-03") in waiting  # its Thursday command is still open
    assert {w for w, _ in waiting} == {"cam-trung", "cam-son", "cam-hai", "cam-thach"}
    assert page.locator("script").count() == 0  # the ward named with a script tag stayed text
    assert page.get_by_text("<script>alert('x')").count() >= 1


def test_a_ward_page_and_a_week_report_render(site: str, page: Any):
    page.goto(site + "/wards/cam-trung")
    assert "Phường Cẩm Trung" in page.locator("h1").inner_text()
    assert page.get_by_text("2 lệnh: lỗi (amplifier) ×2").count() >= 1
    page.goto(site + "/weeks/2025-W47")
    assert page.locator("h1").inner_text().startswith("Báo cáo phát thanh tuần 2025-W47")
    assert page.locator("svg").count() >= 1
    assert page.get_by_text("Tỷ lệ đạt theo phường").count() >= 1


def test_the_week_report_prints_on_a4_with_every_wards_row(
    site: str, world: World, page: Any, tmp_path: Path
):
    page.goto(site + "/weeks/2025-W47")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes, "no page in the PDF"
    for width, height in boxes:
        assert (round(float(width)), round(float(height))) == A4
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "week-2025-W47.pdf").write_bytes(pdf)
    pdftotext = shutil.which("pdftotext")
    need_service(pdftotext is not None, "pdftotext (apt-get install poppler-utils)")
    assert pdftotext is not None
    text = subprocess.run([pdftotext, "-layout", "-", "-"], input=pdf,
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
def test_the_pages_fit_a_phone_375_px_wide(site: str, page: Any, path: str):
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(site + path)
    assert page.evaluate("window.innerWidth") == 375
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{path} is {width} px wide on a 375 px phone"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    name = "phone-" + (path.strip("/").replace("/", "-") or "overview")
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def test_screenshots_are_kept_as_artefacts(site: str, page: Any):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for name, path in [("overview", "/"), ("week", "/weeks/2025-W47"),
                       ("ward", "/wards/cam-trung"), ("month", "/months/2025-11")]:  # fmt: skip
        page.goto(site + path)
        out = ARTEFACTS / f"{name}.png"
        page.screenshot(path=str(out), full_page=True)
        assert out.read_bytes().startswith(b"\x89PNG"), name
