"""`audit verify` in Vietnamese (issue 14): its lines, the break's kind and reason are in the
language spoken; table names, row ids, hashes and the exit code are the same as in English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ipfm_scheduler import i18n
from ipfm_scheduler.storage.chain import CHAINED
from tests.storage.test_chain import CHANGE, by_hand, count, fill, line, verify


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    i18n.set_language("en")


def test_an_intact_log_is_said_intact_in_vietnamese(db_url: str):
    fill(db_url)
    result = verify(db_url, "--lang", "vi")
    assert result.code == 0, result.err
    english = verify(db_url)  # the same process, back in English: as before
    for name in CHAINED:
        rows = count(db_url, name)
        head = line(english, name).split(", head ")[1].removesuffix(", intact")
        assert line(result, name) == f"{name}: {rows} dòng, đầu chuỗi {head}, nguyên vẹn"
        assert line(english, name) == f"{name}: {rows} rows, head {head}, intact"
    assert result.text.splitlines()[-1] == "nhật ký phát sóng còn nguyên vẹn"
    assert english.text.splitlines()[-1] == "the airing log is intact"


def test_a_changed_row_is_named_in_vietnamese(db_url: str):
    filled = fill(db_url)
    row = filled.target("airings")
    by_hand(db_url, CHANGE["airings"].format(id=row))
    result = verify(db_url, "--lang", "vi")
    assert result.code == 1, result.text + result.err
    why = "nội dung của dòng không còn cho ra mã băm mà dòng kế tiếp nối vào"
    assert line(result, "airings") == f"airings: BỊ PHÁ VỠ: dòng {row}: bị sửa: {why}"
    assert "nhật ký phát sóng KHÔNG còn nguyên vẹn" in result.err
    assert f"airings dòng {row}: bị sửa: {why}" in result.err
    assert line(result, "acks").endswith(", nguyên vẹn")
    english = verify(db_url)
    assert english.code == 1
    assert line(english, "airings") == (
        f"airings: BROKEN: row {row}: changed: its content no longer gives the hash the next row "
        "is chained to"
    )
