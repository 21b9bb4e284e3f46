"""The airing log's hash chain (issue 13, item 6): `audit verify` passes on a log the service
wrote (legitimate changes of state included), and names the row after an UPDATE, a DELETE or an
INSERT made by hand with the sqlite3 and psql programs, in each chained table."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.records import WeekCloseRow
from ipfm_scheduler.storage import chain_check
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.chain import CHAINED, GENESIS, encode, link
from ipfm_scheduler.storage.db import open_engine, sqlite_file
from ipfm_scheduler.storage.repository import Repository
from tests.conftest import need_service
from tests.storage.storage_factories import VN, WEEK, World, planned, store_one
from tests.storage.test_storage_cli import Run, run

MISSED_NOTE = "window closed before it could be sent (service not running)"


@dataclass(frozen=True)
class Filled:
    """Rows of each chained table in chain order, by id; the row tampered with per table has a
    row before and after it, and no other row refers to it."""

    ids: dict[str, list[str]]

    def target(self, table: str) -> str:
        return self.ids[table][self.middle(table)]

    def after_target(self, table: str) -> str:
        return self.ids[table][self.middle(table) + 1]

    @staticmethod
    def middle(table: str) -> int:
        # commands: the one with no acks; acks: loa-02's `failed`
        return {"commands": 3, "acks": 2}.get(table, 1)


def close(ward: str, receiver: str, completed: int) -> WeekCloseRow:
    reason = "" if completed else "it never confirmed `completed`"
    return WeekCloseRow(ward, "kh179", receiver, completed, 1, completed >= 1, reason)


def fill(url: str, *, close_twice: bool = True) -> Filled:
    """A week as the service records it, through the airing log (storage.Repository): airings
    (one missed, with no commands), commands sent, acks that move their states, expiry, and the
    week closed twice (a late ack changed a verdict)."""
    engine = open_engine(url)
    try:
        repo = Repository(engine)
        world = World(repo)
        first, (c11, c12) = world.airing(hour=6)
        store_one(
            repo, world.snapshot_id, planned(hour=9), world.now, missed=True, note=MISSED_NOTE
        )
        _, (c31, _c32) = world.airing(hour=17)
        world.airing(ward="cua-ong", receivers=("loa-01",), hour=18)
        world.answer("cam-trung", "loa-01", c11, AckStatus.RECEIVED, AckStatus.COMPLETED)
        world.answer("cam-trung", "loa-02", c12, AckStatus.FAILED, detail="device")
        world.answer("cam-trung", "loa-01", c31, AckStatus.RECEIVED)
        repo.expire_overdue(planned(hour=19).start + timedelta(hours=2), grace=timedelta(0))
        rows = [close("cam-trung", "loa-01", 1), close("cam-trung", "loa-02", 0)]
        repo.record_week_close(WEEK, rows, now=world.now, snapshot_id=world.snapshot_id)
        rows = [close("cua-ong", "loa-01", 0)]
        if close_twice:
            rows.insert(0, close("cam-trung", "loa-02", 1))
        repo.record_week_close(WEEK, rows, now=world.now + timedelta(days=1))
        ids = {}
        with engine.connect() as conn:
            for name in CHAINED:
                table = getattr(t, name)
                query = select(table.c.id).order_by(table.c.chain_seq)
                ids[name] = [str(i) for i in conn.execute(query).scalars()]
        assert first == int(ids["airings"][0])
        return Filled(ids)
    finally:
        engine.dispose()


def by_hand(url: str, sql: str) -> None:
    """Run ``sql`` as someone with the database's files or password would: the sqlite3 or psql
    program, outside the airing log."""
    path = sqlite_file(url)
    if path is not None:
        program = shutil.which("sqlite3")
        need_service(program is not None, "the sqlite3 program")
        command = [str(program), str(path), sql]
    else:
        program = shutil.which("psql")
        need_service(program is not None, "the psql program")
        parsed = make_url(url)
        command = [str(program), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(parsed.host)]
        command += ["-p", str(parsed.port), "-U", str(parsed.username), "-d", str(parsed.database)]
        command += ["-c", sql]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def verify(url: str, *more: str) -> Run:
    return run("audit", "verify", "--database", url, *more)


def line(result: Run, table: str) -> str:
    (found,) = [x for x in result.text.splitlines() if x.startswith(f"{table}: ")]
    return found


def count(url: str, table: str) -> int:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(getattr(t, table))).scalar_one()
            )
    finally:
        engine.dispose()


# --- intact -----------------------------------------------------------------------------------


def test_the_log_the_service_wrote_verifies(db_url: str):
    filled = fill(db_url)
    result = verify(db_url)
    assert result.code == 0, result.err
    for name in CHAINED:
        assert len(filled.ids[name]) == count(db_url, name) > 0
        assert line(result, name).startswith(f"{name}: {count(db_url, name)} rows, head ")
        assert line(result, name).endswith(", intact")
    assert result.text.splitlines()[-1] == "the airing log is intact"


def test_what_the_chain_does_not_cover_may_change(db_url: str):
    """A command's state, attempts and sends and an airing's outcome move as acks arrive: the
    chain leaves them out (the acks that moved them are chained)."""
    filled = fill(db_url)
    command = filled.ids["commands"][0]
    by_hand(db_url, f"UPDATE commands SET state = 'expired', attempts = 9 WHERE id = '{command}'")
    by_hand(db_url, "UPDATE airings SET outcome = 'missed'")
    assert verify(db_url).code == 0


# --- tampered ---------------------------------------------------------------------------------

CHANGE = {
    "airings": "UPDATE airings SET volume = 100 WHERE id = {id}",
    "commands": "UPDATE commands SET topic = 'ipfm/cam-son/loa-01/cmd' WHERE id = '{id}'",
    "acks": "UPDATE acks SET status = 'completed', state_after = 'completed' WHERE id = {id}",
    "week_closures": "UPDATE week_closures SET verdict = 'compliant', completed = 1 "
    "WHERE id = {id}",
}
DELETE = {
    "airings": "DELETE FROM airings WHERE id = {id}",
    "commands": "DELETE FROM send_attempts WHERE command_id = '{id}'; "
    "DELETE FROM commands WHERE id = '{id}'",
    "acks": "DELETE FROM acks WHERE id = {id}",
    "week_closures": "DELETE FROM week_closures WHERE id = {id}",
}
COPY = {  # a copy of the row, made to say something else
    "airings": "INSERT INTO airings (ward, programme, planned_start, planned_local, week, "
    "expires_at, origin, priority, volume, audio_sha256, snapshot_id, outcome, created_at) "
    "SELECT ward, programme, expires_at, planned_local, week, expires_at, origin, priority, "
    "volume, audio_sha256, snapshot_id, outcome, created_at FROM airings WHERE id = {id}",
    "commands": "INSERT INTO commands (id, airing_id, ward, receiver, topic, payload, state, "
    "expires_at, created_at, attempts, state_at) SELECT 'forged-1', airing_id, ward, 'loa-09', "
    "topic, payload, 'completed', expires_at, created_at, 0, state_at FROM commands "
    "WHERE id = '{id}'",
    "acks": "INSERT INTO acks (command_id, ward, receiver, status, detail, played_s, "
    "receiver_at_text, receiver_at, received_at, raw, changed_state, state_after) "
    "SELECT command_id, ward, receiver, 'completed', detail, played_s, receiver_at_text, "
    "receiver_at, received_at, raw, changed_state, 'completed' FROM acks WHERE id = {id}",
    "week_closures": "INSERT INTO week_closures (ward, programme, week, receiver, completed, "
    "minimum, verdict, reason, snapshot_id, closed_at) SELECT ward, programme, week, receiver, "
    "1, minimum, 'compliant', '', snapshot_id, closed_at FROM week_closures WHERE id = {id}",
}


def newest(url: str, table: str) -> str:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            if table == "commands":
                return "forged-1"
            return str(conn.execute(select(func.max(getattr(t, table).c.id))).scalar_one())
    finally:
        engine.dispose()


def assert_names(result: Run, table: str, row: str | None, kind: str) -> None:
    assert result.code == 1, result.text + result.err
    named = f"row {row}: {kind}:" if row is not None else f"{kind}:"
    assert line(result, table).startswith(f"{table}: BROKEN: {named}")
    assert "the airing log is NOT intact" in result.err
    assert (f"{table} " if row is not None else f"{table}: ") + named in result.err
    for other in CHAINED:  # only the table tampered with is broken
        assert line(result, other).endswith(", intact") is (other != table)


@pytest.mark.parametrize("table", CHAINED)
def test_a_row_changed_by_hand_is_named(db_url: str, table: str):
    filled = fill(db_url)
    by_hand(db_url, CHANGE[table].format(id=filled.target(table)))
    assert_names(verify(db_url), table, filled.target(table), "changed")


@pytest.mark.parametrize("table", CHAINED)
def test_a_row_deleted_by_hand_is_named_by_the_row_after_the_gap(db_url: str, table: str):
    filled = fill(db_url)
    by_hand(db_url, DELETE[table].format(id=filled.target(table)))
    result = verify(db_url)
    assert_names(result, table, filled.after_target(table), "deleted")
    assert f"after row {filled.ids[table][Filled.middle(table) - 1]} " in line(result, table)


@pytest.mark.parametrize("table", CHAINED)
def test_a_row_inserted_by_hand_is_named(db_url: str, table: str):
    filled = fill(db_url)
    by_hand(db_url, COPY[table].format(id=filled.target(table)))
    assert_names(verify(db_url), table, newest(db_url, table), "inserted")


def test_the_chain_is_read_a_page_at_a_time(db_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(chain_check, "PAGE", 2)
    filled = fill(db_url)
    assert verify(db_url).code == 0
    last = filled.ids["commands"][-1]  # on the third page
    by_hand(db_url, f"UPDATE commands SET payload = payload || payload WHERE id = '{last}'")
    assert_names(verify(db_url), "commands", last, "changed")


def test_a_row_whose_hash_was_edited_too_is_named(db_url: str):
    filled = fill(db_url)
    target = filled.target("airings")
    by_hand(
        db_url, f"UPDATE airings SET volume = 100, chain_hash = '{'ab' * 32}' WHERE id = {target}"
    )
    assert_names(verify(db_url), "airings", target, "changed or inserted")


def test_a_head_record_that_no_longer_matches_the_chain_is_found(db_url: str):
    fill(db_url)
    by_hand(db_url, f"UPDATE chain_heads SET hash = '{'cd' * 32}' WHERE table_name = 'commands'")
    result = verify(db_url)
    assert_names(result, "commands", None, "rewritten")
    assert "every row follows from the one before, but not to the recorded head" in result.err


def test_the_last_row_changed_is_named(db_url: str):
    filled = fill(db_url)
    last = filled.ids["acks"][-1]
    by_hand(db_url, f"UPDATE acks SET status = 'completed' WHERE id = {last}")
    assert_names(verify(db_url), "acks", last, "changed")


def test_the_last_rows_deleted_are_found_against_the_recorded_head(db_url: str):
    filled = fill(db_url)
    last = filled.ids["week_closures"][-1]
    by_hand(db_url, f"DELETE FROM week_closures WHERE id = {last}")
    result = verify(db_url)
    assert_names(result, "week_closures", None, "deleted")
    rows = len(filled.ids["week_closures"])
    assert f"the log wrote {rows} rows, and the chain ends at place {rows - 1}" in result.err


def test_a_row_appended_with_a_forged_place_and_hash_is_named(db_url: str):
    """Whoever knows the columns may also fill in the chain's: a made-up hash does not follow."""
    filled = fill(db_url)
    place = len(filled.ids["acks"]) + 1
    sql = COPY["acks"].format(id=filled.ids["acks"][0])
    sql = sql.replace("state_after) SELECT", "state_after, chain_seq, chain_hash) SELECT")
    sql = sql.replace("'completed' FROM", f"'completed', {place}, '{'ab' * 32}' FROM")
    by_hand(db_url, sql)
    assert_names(verify(db_url), "acks", newest(db_url, "acks"), "inserted")


# --- the encoding -----------------------------------------------------------------------------


def test_the_encoding_is_the_documented_one():
    """Every chain ever written depends on these bytes: a change is a new VERSION, never an
    edit (docs/storage.md "The hash chain")."""
    at = datetime(2025, 11, 24, 6, 10, tzinfo=VN)
    row = {
        "id": 7, "command_id": "c-1", "ward": "cẩm-trung", "receiver": "loa-01",
        "status": "completed", "detail": None, "played_s": 612, "receiver_at_text": "06:10",
        "receiver_at": at, "received_at": at, "raw": b"{}", "changed_state": 1,
        "state_after": "completed", "verified": 1, "chain_seq": 99,
        "later_column": "not covered",
    }  # fmt: skip
    assert encode("acks", row) == (
        b'["ipfm-chain-1","acks",7,{"command_id":"c-1","ward":"c\\u1ea9m-trung",'
        b'"receiver":"loa-01","status":"completed","detail":null,"played_s":612.0,'
        b'"receiver_at_text":"06:10","receiver_at":"2025-11-23T23:10:00.000000+00:00",'
        b'"received_at":"2025-11-23T23:10:00.000000+00:00","raw":"'
        + hashlib.sha256(b"{}").hexdigest().encode()
        + b'","changed_state":true,"state_after":"completed","verified":true}]'
    )
    expected = hashlib.sha256(bytes(32) + encode("acks", row)).hexdigest()
    assert link(GENESIS, "acks", row) == expected


def test_a_row_encodes_the_same_as_written_and_as_read_back():
    """What a driver gives back (bytes as a memoryview, 0/1 for a boolean, a float for an int,
    the same instant in UTC) encodes as what was written."""
    at = datetime(2025, 11, 24, 6, 10, tzinfo=VN)
    written = {"id": 3, "command_id": "c", "ward": "w", "receiver": "r", "status": "failed",
               "detail": "lỗi \udc80", "played_s": 12, "receiver_at_text": "", "receiver_at": None,
               "received_at": at, "raw": b"\x00\xff", "changed_state": True,
               "state_after": "failed", "verified": False}  # fmt: skip
    read = written | {
        "played_s": 12.0, "received_at": at.astimezone(UTC),
        "raw": memoryview(b"\x00\xff"), "changed_state": 1, "verified": 0,
    }  # fmt: skip
    assert encode("acks", read) == encode("acks", written)
    assert encode("acks", written | {"played_s": 12.5}) != encode("acks", written)


@settings(max_examples=200, deadline=None)
@given(
    detail=st.one_of(st.none(), st.text()),
    played=st.one_of(st.none(), st.floats(), st.integers(-(2**60), 2**60)),
    text_=st.text(),
)
def test_the_encoder_made_once_gives_json_dumps_bytes(
    detail: str | None, played: float | None, text_: str
):
    """``encode`` uses json's C encoder made once: any text (lone surrogates, every plane) and
    any float (NaN, infinities) gives the bytes ``json.dumps`` gives, as every chain was
    written with."""
    at = datetime(2025, 11, 24, 6, 10, tzinfo=VN)
    row = {"id": 5, "command_id": text_, "ward": "w", "receiver": text_, "status": "failed",
           "detail": detail, "played_s": played, "receiver_at_text": text_, "receiver_at": at,
           "received_at": at, "raw": b"x", "changed_state": True, "state_after": "failed",
           "verified": False}  # fmt: skip
    values = {
        "command_id": text_, "ward": "w", "receiver": text_, "status": "failed",
        "detail": detail, "played_s": None if played is None else float(played),
        "receiver_at_text": text_, "receiver_at": "2025-11-23T23:10:00.000000+00:00",
        "received_at": "2025-11-23T23:10:00.000000+00:00",
        "raw": hashlib.sha256(b"x").hexdigest(), "changed_state": True,
        "state_after": "failed", "verified": False,
    }  # fmt: skip
    body = ["ipfm-chain-1", "acks", 5, values]
    assert encode("acks", row) == json.dumps(body, separators=(",", ":")).encode("ascii")


@pytest.mark.parametrize(
    ("head", "why"),
    [
        ("acks:4", "is not a head as `report` prints it"),
        ("acks:4:" + "AB" * 32, "is not a head as `report` prints it"),
        ("send_attempts:1:" + "ab" * 32, "'send_attempts' is not a chained table"),
    ],
)
def test_a_head_that_is_not_one_is_a_wrong_argument(tmp_path: Path, head: str, why: str):
    result = verify(f"sqlite:///{tmp_path / 'none.db'}", "--head", head)
    assert (result.code, why in result.err) == (2, True), result.err
