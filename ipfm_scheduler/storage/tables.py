"""Every table of the airing log (the one module that owns them; Alembic compares against it).

What *should* happen lives in YAML; what *did* happen lives here. Instants are UTC
(:class:`UtcDateTime`); the local time an airing was planned for is also kept as text with its
offset, as the ward saw it. The auditors' views are in :mod:`ipfm_scheduler.storage.views`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.records import AiringOutcome, RequestState, WeekVerdict
from ipfm_scheduler.core.traffic import SendOutcome
from ipfm_scheduler.protocol.messages import ReceiverState
from ipfm_scheduler.storage.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NAME = 64  # ward, receiver, programme and command ids (docs/protocol.md)
SHA = 64  # lowercase hex sha256
# what a quarantined message keeps of itself: any real answer whole; at 2 KiB, SQLite put one
# row in each 4 KiB page (docs/service.md, "Under attack")
QUARANTINE_RAW_BYTES = 1024


def one_of(
    column: str, values: Iterable[StrEnum | str], name: str | None = None
) -> CheckConstraint:
    """A CHECK that ``column`` holds one of ``values``."""
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


def _id() -> Column[int]:
    return Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)


def _chained() -> tuple[Column[int], Column[str]]:
    """A row's place in its table's hash chain and its hash (storage/chain.py). Every row the
    airing log writes has both; they may be NULL only so that SQLite can add them to a table
    that has rows (a row without them was not written by the airing log: `audit verify`)."""
    return (
        Column("chain_seq", BigInteger(), index=True, unique=True),
        Column("chain_hash", String(SHA)),
    )


# --- configuration in force -------------------------------------------------------------------

# one per distinct configuration (station file + ward files), by content hash
config_snapshots = Table(
    "config_snapshots",
    metadata,
    _id(),
    Column("digest", String(SHA), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False),
    Column("loaded_at", UtcDateTime(), nullable=False),  # first time it was loaded
)

# when each snapshot came into force (a row each time the configuration in force changed)
config_loads = Table(
    "config_loads",
    metadata,
    _id(),
    Column("snapshot_id", ForeignKey("config_snapshots.id"), nullable=False),
    Column("loaded_at", UtcDateTime(), nullable=False, index=True),
)

# the full text of every station and ward file ever loaded, by sha256
config_files = Table(
    "config_files",
    metadata,
    Column("sha256", String(SHA), primary_key=True),
    Column("text", Text(), nullable=False),
)

snapshot_files = Table(
    "snapshot_files",
    metadata,
    Column("snapshot_id", ForeignKey("config_snapshots.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("sha256", ForeignKey("config_files.sha256"), nullable=False),
    Column("valid", Boolean(), nullable=False),
    one_of("kind", ("station", "ward")),
)

snapshot_programmes = Table(
    "snapshot_programmes",
    metadata,
    Column("snapshot_id", ForeignKey("config_snapshots.id"), primary_key=True),
    Column("programme", String(NAME), primary_key=True),
    Column("title", Text(), nullable=False),
    Column("min_per_week", Integer(), nullable=False),
    Column("campaign_from", Date()),
    Column("campaign_until", Date()),
    # ISO weeks ("2026-W48") the campaign covers fully: the weekly minimum is enforced in these
    Column("first_full_week", String(8)),
    Column("last_full_week", String(8)),
    Column("audio_sha256", String(SHA)),
    Column("duration_s", Float(), nullable=False),
)

snapshot_wards = Table(
    "snapshot_wards",
    metadata,
    Column("snapshot_id", ForeignKey("config_snapshots.id"), primary_key=True),
    Column("ward", String(NAME), primary_key=True),
    Column("name", Text(), nullable=False),
)

snapshot_receivers = Table(
    "snapshot_receivers",
    metadata,
    Column("snapshot_id", ForeignKey("config_snapshots.id"), primary_key=True),
    Column("ward", String(NAME), primary_key=True),
    Column("receiver", String(NAME), primary_key=True),
    Column("enabled", Boolean(), nullable=False),
    Column("location", Text(), nullable=False, default=""),
)

# --- airings, commands, acknowledgements ------------------------------------------------------

airings = Table(
    "airings",
    metadata,
    _id(),
    Column("ward", String(NAME), nullable=False),
    Column("programme", String(NAME), nullable=False),
    Column("planned_start", UtcDateTime(), nullable=False),
    Column("planned_local", String(32), nullable=False),  # 2026-11-30T06:00:00+07:00
    Column("week", String(8), nullable=False),  # the local ISO week, 2026-W48
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("volume", Integer(), nullable=False),
    Column("audio_sha256", String(SHA), nullable=False),
    Column("snapshot_id", ForeignKey("config_snapshots.id"), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("makeup_for", ForeignKey("airings.id"), index=True),
    Column("makeup_week", String(8)),
    Column("note", Text()),
    Column("created_at", UtcDateTime(), nullable=False),
    *_chained(),
    UniqueConstraint("ward", "programme", "planned_start"),
    Index(None, "week", "ward", "programme"),
    Index(None, "planned_start"),
    one_of("origin", Origin),
    one_of("priority", Priority),
    one_of("outcome", AiringOutcome),
    CheckConstraint("volume BETWEEN 0 AND 100", name="volume"),
)

commands = Table(
    "commands",
    metadata,
    Column("id", String(NAME), primary_key=True),
    Column("airing_id", ForeignKey("airings.id"), nullable=False),
    Column("ward", String(NAME), nullable=False),
    Column("receiver", String(NAME), nullable=False),
    Column("topic", String(512), nullable=False),
    Column("payload", LargeBinary(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer(), nullable=False, default=0),
    Column("first_sent_at", UtcDateTime()),  # first PUBACK
    Column("last_sent_at", UtcDateTime()),  # latest PUBACK
    Column("last_attempt_at", UtcDateTime()),  # latest attempt, whatever its outcome
    # derived from the acks (core.commands): when the state was reached, and what the receiver
    # said then (detail, played_s, its own time)
    Column("state_at", UtcDateTime(), nullable=False),
    Column("detail", Text()),
    Column("played_s", Float()),
    Column("receiver_at", UtcDateTime()),
    # whether the answer that set the state was signed by the receiver (protocol version 2);
    # null: no answer set it, or it was set before answers were checked
    Column("answer_verified", Boolean()),
    *_chained(),
    UniqueConstraint("airing_id", "receiver"),
    Index(None, "state", "expires_at"),
    Index(None, "ward", "receiver"),
    one_of("state", CommandState),
)

send_attempts = Table(
    "send_attempts",
    metadata,
    Column("command_id", ForeignKey("commands.id"), primary_key=True),
    Column("attempt", Integer(), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),
    one_of("outcome", SendOutcome),
)

acks = Table(
    "acks",
    metadata,
    _id(),
    Column("command_id", ForeignKey("commands.id"), nullable=False, index=True),
    Column("ward", String(NAME), nullable=False),  # from the topic
    Column("receiver", String(NAME), nullable=False),  # from the topic
    Column("status", String(16), nullable=False),
    Column("detail", Text()),
    Column("played_s", Float()),
    Column("receiver_at_text", Text(), nullable=False),  # as the receiver wrote it
    Column("receiver_at", UtcDateTime()),  # the same, parsed
    Column("received_at", UtcDateTime(), nullable=False),  # our clock
    Column("raw", LargeBinary(), nullable=False),
    Column("changed_state", Boolean(), nullable=False),
    Column("state_after", String(16), nullable=False),
    # signed by the receiver's own key and checked (protocol version 2)
    Column("verified", Boolean(), nullable=False, server_default=false()),
    *_chained(),
    one_of("status", AckStatus),
    one_of("state_after", CommandState),
)

ack_quarantine = Table(
    "ack_quarantine",
    metadata,
    _id(),
    Column("topic", Text(), nullable=False),
    Column("ward", Text()),  # from the topic, as received (may not be a valid id)
    Column("receiver", Text()),
    Column("command_id", Text()),  # the id it claimed, if it could be read
    Column("raw", LargeBinary(), nullable=False),  # its first QUARANTINE_RAW_BYTES at most
    Column("raw_bytes", Integer(), nullable=False),  # size as received (raw may be cut short)
    Column("reason", Text(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    Column("sha256", String(SHA), index=True),  # of the whole message as received
    # the same message (topic and sha256) received again: counted here, not stored again
    Column("repeats", Integer(), nullable=False, default=0, server_default="0"),
    Column("last_repeat_at", UtcDateTime()),
)

# an ack repeating one already stored (same command, same status): counted, not stored again
ack_repeats = Table(
    "ack_repeats",
    metadata,
    Column("ack_id", ForeignKey("acks.id"), primary_key=True),
    Column("repeats", Integer(), nullable=False),
    Column("last_at", UtcDateTime(), nullable=False),
)

# --- receivers --------------------------------------------------------------------------------

receiver_status_events = Table(
    "receiver_status_events",
    metadata,
    _id(),
    Column("ward", String(NAME), nullable=False),
    Column("receiver", String(NAME), nullable=False),
    Column("state", String(8), nullable=False),
    Column("receiver_at", UtcDateTime()),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("fw", String(64)),
    Column("raw", LargeBinary(), nullable=False),
    Column("verified", Boolean(), nullable=False, server_default=false()),
    Index(None, "ward", "receiver", "received_at"),
    one_of("state", ReceiverState),
)

receiver_status = Table(
    "receiver_status",
    metadata,
    Column("ward", String(NAME), primary_key=True),
    Column("receiver", String(NAME), primary_key=True),
    Column("online", Boolean(), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("fw", String(64)),
    # the receiver's clock minus ours when it last said its status live (its `at` against when
    # it arrived, the network's delay included): a box plays by its own clock
    Column("clock_offset_s", Float()),
)

# --- the hash chain over airings, commands, acks and week closures (storage/chain.py) ---------

# per chained table: the last place in its chain and that row's hash
chain_heads = Table(
    "chain_heads",
    metadata,
    Column("table_name", String(32), primary_key=True),
    Column("seq", BigInteger(), nullable=False),
    Column("hash", String(SHA), nullable=False),
)

# --- the service's own records ----------------------------------------------------------------

week_closures = Table(
    "week_closures",
    metadata,
    _id(),
    Column("ward", String(NAME), nullable=False),
    Column("programme", String(NAME), nullable=False),
    Column("week", String(8), nullable=False),
    Column("receiver", String(NAME), nullable=False),
    Column("completed", Integer(), nullable=False),
    Column("minimum", Integer(), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text(), nullable=False, default=""),
    Column("snapshot_id", ForeignKey("config_snapshots.id")),
    Column("closed_at", UtcDateTime(), nullable=False),
    *_chained(),
    # closing a week again adds rows: the latest (highest id) per receiver is in force
    Index(None, "ward", "programme", "week", "receiver"),
    Index(None, "week"),
    one_of("verdict", WeekVerdict),
)

manual_requests = Table(
    "manual_requests",
    metadata,
    _id(),
    Column("ward", String(NAME), nullable=False),
    Column("receiver", String(NAME)),  # NULL: every enabled receiver of the ward
    Column("programme", String(NAME), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("requested_start", UtcDateTime()),  # NULL: as soon as possible
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("airing_id", ForeignKey("airings.id")),
    Column("message", Text()),
    Column("taken_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Index(None, "state", "requested_at"),
    one_of("priority", Priority),
    one_of("state", RequestState),
)

service_instances = Table(
    "service_instances",
    metadata,
    _id(),
    Column("host", String(255), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("version", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("last_beat_at", UtcDateTime(), nullable=False),
    Column("stopped_at", UtcDateTime()),
)

# Services sharing one PostgreSQL database (storage/lease.py): row 1 says which leads, until when
ha_lease = Table(
    "ha_lease",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("epoch", BigInteger(), nullable=False),  # grows by one at each change of leader
    Column("instance_id", BigInteger(), nullable=False),  # service_instances.id of the leader
    Column("host", String(255), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),  # the database's clock
)

ha_leader_changes = Table(
    "ha_leader_changes",
    metadata,
    _id(),
    Column("epoch", BigInteger(), nullable=False, unique=True),
    Column("instance_id", BigInteger(), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("previous_host", String(255)),  # NULL: the first leader
    Column("previous_pid", Integer()),
    Column("reason", String(16), nullable=False),  # first, expired, released
)
