"""The pages' HTML: escaping, the layout every page shares, its style sheet (screen, phone and
A4 print), and the small pieces the pages are made of.

Every value from the database, the configuration or the request goes through :func:`esc` (a ward
named ``<script>`` in its YAML file is shown as text, never run). The pages hold no script at
all, and the Content-Security-Policy header forbids any; no file comes from another server.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from string import Template

from ipfm_scheduler.i18n import _, date_text, language, weekday_name

#: forbids scripts, frames and anything from elsewhere: the pages need their inline style only
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

#: a cell's class by standing: green done, amber still possible, red short, grey not counted
STANDING_CLASS = {
    "compliant": "ok",
    "pending": "wait",
    "at risk": "bad",
    "short": "bad",
    "not enforced": "off",
    "no receivers": "off",
    "disabled": "off",
}

CSS = """
:root{--ok:#1b7f3b;--ok-bg:#dff3e4;--wait:#8a5a00;--wait-bg:#fff1cc;--bad:#b3261e;
--bad-bg:#fbe0de;--off:#5f6368;--off-bg:#eceff1;--line:#d0d7de;--ink:#1f2328}
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;color:var(--ink);margin:0;
font-size:15px;line-height:1.4;background:#fff}
header.top{background:#0b3d91;color:#fff;padding:.6rem 1rem}
header.top a{color:#fff;text-decoration:none;margin-right:1rem;font-weight:bold}
header.top .title{font-size:1.05rem;display:block;margin-bottom:.2rem}
main{padding:.8rem 1rem;max-width:1200px}
h1{font-size:1.35rem;margin:.3rem 0 .6rem}
h2{font-size:1.1rem;margin:1.2rem 0 .4rem;border-bottom:1px solid var(--line)}
table{border-collapse:collapse;margin:.3rem 0 .8rem;width:100%}
th,td{border:1px solid var(--line);padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}
td.num,th.num{text-align:right}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
.ok{background:var(--ok-bg);color:var(--ok)}
.wait{background:var(--wait-bg);color:var(--wait)}
.bad{background:var(--bad-bg);color:var(--bad);font-weight:bold}
.off{background:var(--off-bg);color:var(--off)}
.cells{display:flex;flex-wrap:wrap;gap:.3rem}
.cell{border:1px solid var(--line);border-radius:4px;padding:.2rem .4rem;min-width:7.5rem}
.cell b{display:block}.cell.bad{font-weight:normal}.cell.bad b{font-weight:bold}
.dot{display:inline-block;width:.6rem;height:.6rem;border-radius:50%;margin-right:.3rem}
.dot.on{background:var(--ok)}.dot.gone{background:var(--bad)}.dot.unknown{background:#9aa0a6}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-weight:bold;
white-space:nowrap}
tr.group td{border-top:2px solid #8c959f}
.bad-text{color:var(--bad)}
.legend span{margin-right:.6rem;padding:.05rem .4rem;border-radius:3px}
.muted{color:#57606a;font-size:.9em}
.downloads a{margin-right:1rem}
.problems li{color:var(--bad)}
.print-only{display:none}
.chart svg{max-width:100%;height:auto}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8em}
.sign{display:flex;justify-content:space-between;margin-top:1.5rem;text-align:center}
.sign div{width:45%}.sign .space{height:28mm}
.motto{text-align:center;font-weight:bold}
@media (max-width:600px){main{padding:.5rem}body{font-size:14px}
th,td{padding:.2rem .3rem}.cell{min-width:6.5rem}
header.top a{display:inline-block;margin:.1rem .6rem .1rem 0}}
@page{size:A4;margin:14mm 12mm 16mm 12mm}
@media print{header.top,.downloads,nav,.no-print{display:none!important}
.print-only{display:block}body{font-size:9.5pt}th,td{padding:.12rem .25rem}
main{max-width:none;padding:0}
table{page-break-inside:auto}tr{page-break-inside:avoid}thead{display:table-header-group}
th{background:#eee!important}.ok,.wait,.bad,.off{-webkit-print-color-adjust:exact;
print-color-adjust:exact}.scroll{overflow:visible}h2{page-break-after:avoid}
.sign{page-break-inside:avoid}}
"""

_LAYOUT = Template(
    """<!DOCTYPE html>
<html lang="$lang">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header class="top"><span class="title">$station</span>
<nav><a href="/">$overview</a><a href="/weeks/$week">$weekly</a>
<a href="/months/$month">$monthly</a></nav>
</header>
<main>
$body
<p class="muted">$generated</p>
</main>
</body>
</html>
"""
)


def esc(value: object) -> str:
    """Any value as HTML text: ``<``, ``>``, ``&`` and both quotes escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def layout(title: str, body: str, *, station: str, now: datetime, week: str, month: str) -> bytes:
    """A whole page: ``body`` is HTML already escaped; everything else is escaped here."""
    page = _LAYOUT.substitute(
        lang=esc(language()),
        title=esc(title),
        css=CSS,
        station=esc(station),
        overview=esc(_("This week")),
        weekly=esc(_("Weekly report")),
        monthly=esc(_("Monthly report")),
        week=esc(week),
        month=esc(month),
        body=body,
        generated=esc(_("Generated at {moment}").format(moment=moment_text(now))),
    )
    return page.encode("utf-8")


def moment_text(moment: datetime | None) -> str:
    """``Thứ Hai 24/11/2025 06:00`` in Vietnamese (the station's local time given)."""
    if moment is None:
        return ""
    return f"{weekday_name(moment.date(), short=True)} {date_text(moment)} {moment:%H:%M}"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    classes: Sequence[str] | None = None,
) -> str:
    """A table: ``headers`` plain text (escaped here), ``rows`` HTML already escaped;
    ``classes``: one class per row (or "")."""
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    lines = []
    for n, row in enumerate(rows):
        cls = classes[n] if classes is not None and n < len(classes) else ""
        cells = "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        lines.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    if not lines:
        return para(_("Nothing to show."), "muted")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def legend() -> str:
    parts = [
        ("ok", _("done")),
        ("wait", _("still possible this week")),
        ("bad", _("short")),
        ("off", _("disabled or not counted")),
    ]
    return (
        '<p class="legend">'
        + "".join(f'<span class="{cls}">{esc(words)}</span>' for cls, words in parts)
        + "</p>"
    )


def link(href: str, text: str) -> str:
    """``href`` is built by the pages from checked ids only; escaped all the same."""
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def h2(text: str) -> str:
    return f"<h2>{esc(text)}</h2>"


def para(text: str, cls: str = "") -> str:
    return f'<p class="{esc(cls)}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def signature_block(place_date: str) -> str:
    """The end of a printed report: the place and date, the signatures, the seal."""
    prepared, prepared_how = esc(_("PREPARED BY")), esc(_("(signature, full name)"))
    head, head_how = esc(_("HEAD OF THE UNIT")), esc(_("(signature, full name, seal)"))
    return f"""<div class="sign print-only">
<div><br><b>{prepared}</b><br><i>{prepared_how}</i><div class="space"></div></div>
<div>{esc(place_date)}<br><b>{head}</b><br><i>{head_how}</i><div class="space"></div></div>
</div>"""


def motto() -> str:
    """The national motto that heads a Vietnamese administrative document."""
    country, motto_words = (
        esc(_("SOCIALIST REPUBLIC OF VIETNAM")),
        esc(_("Independence – Freedom – Happiness")),
    )
    return f'<div class="motto print-only">{country}<br><u>{motto_words}</u></div>'
