"""Excel workbooks of the auditors' answers (`report --format xlsx`, the web pages' download):
the one module that imports openpyxl. Cells keep their types (numbers as numbers, dates as
dates, text as text: a ward name that begins with ``=`` stays text, never a formula), the header
row is bold and frozen, columns are as wide as what they hold (within bounds), Vietnamese is
kept as it is (XLSX is UTF-8 inside)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

MIN_WIDTH, MAX_WIDTH = 6, 60
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str  # at most 31 characters (Excel's limit), cut if longer
    headers: Sequence[str]  # as people read them
    keys: Sequence[str]  # the row mapping's key of each column
    rows: Sequence[Mapping[str, Any]]


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for sheet in sheets:
        _fill(book.create_sheet(_title(sheet.title)), sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _title(text: str) -> str:
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in text).strip()
    return (cleaned or "Sheet")[:31]


def _fill(ws: Any, sheet: Sheet) -> None:
    widths = [len(h) for h in sheet.headers]
    ws.append(list(sheet.headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row_number, row in enumerate(sheet.rows, start=2):
        for column, key in enumerate(sheet.keys, start=1):
            value = _value(row.get(key))
            cell = ws.cell(row=row_number, column=column)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = TYPE_STRING  # "=..." stays text: never read as a formula
            if isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
            elif isinstance(value, date):
                cell.number_format = DATE_FORMAT
            widths[column - 1] = max(widths[column - 1], _shown_length(value))
    for column, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(column)].width = min(
            MAX_WIDTH, max(MIN_WIDTH, width + 2)
        )
    ws.freeze_panes = "A2"


def _value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: the station's local time
    if value is None or isinstance(value, bool | int | float | date | str):
        return value
    return str(value)


def _shown_length(value: Any) -> int:
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    return len(str(value)) if value is not None else 0
