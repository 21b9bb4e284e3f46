"""The airing log: configuration snapshots, airings, commands, acks, quarantine, receivers'
status, week closures, manual requests, service instances; the auditors' views `airing_log` and
`weekly_compliance` (documented in docs/storage.md).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per airing and receiver (an airing with no command yet: one row, receiver NULL).
# Times ending in _utc are UTC; planned_local is the local time the ward planned, with offset.
AIRING_LOG = """
CREATE VIEW airing_log AS
SELECT a.id AS airing_id, a.week, a.ward, a.programme, a.origin, a.priority,
       a.planned_local, a.planned_start AS planned_start_utc, a.expires_at AS expires_at_utc,
       a.volume, a.audio_sha256, a.outcome AS airing_outcome, a.snapshot_id,
       a.makeup_for, a.note,
       c.receiver, c.id AS command_id, c.state AS command_state, c.attempts,
       c.first_sent_at AS first_sent_at_utc, c.last_sent_at AS last_sent_at_utc,
       c.state_at AS state_at_utc, c.receiver_at AS receiver_at_utc, c.detail, c.played_s
FROM airings a
LEFT JOIN commands c ON c.airing_id = a.id
"""

# One row per week, ward, programme and receiver enabled in the configuration that planned the
# ward's latest airing of the programme that week; only weeks with at least one airing recorded.
WEEKLY_COMPLIANCE = """
CREATE VIEW weekly_compliance AS
SELECT g.week, g.ward, g.programme, r.receiver, g.airings_planned,
       COALESCE(s.commands_sent, 0) AS commands_sent,
       COALESCE(s.completed, 0) AS completed,
       p.min_per_week AS minimum,
       CASE WHEN p.min_per_week > 0
             AND (p.first_full_week IS NULL OR g.week >= p.first_full_week)
             AND (p.last_full_week IS NULL OR g.week <= p.last_full_week)
            THEN 1 ELSE 0 END AS enforced,
       CASE WHEN COALESCE(s.completed, 0) >= p.min_per_week
            THEN 'compliant' ELSE 'short' END AS verdict,
       g.snapshot_id
FROM (
    SELECT a.week, a.ward, a.programme, COUNT(*) AS airings_planned,
           (SELECT a2.snapshot_id FROM airings a2
             WHERE a2.week = a.week AND a2.ward = a.ward AND a2.programme = a.programme
             ORDER BY a2.planned_start DESC, a2.id DESC LIMIT 1) AS snapshot_id
    FROM airings a
    GROUP BY a.week, a.ward, a.programme
) g
JOIN snapshot_programmes p ON p.snapshot_id = g.snapshot_id AND p.programme = g.programme
JOIN snapshot_receivers r ON r.snapshot_id = g.snapshot_id AND r.ward = g.ward
     AND r.enabled = TRUE
LEFT JOIN (
    SELECT a.week, a.ward, a.programme, c.receiver,
           SUM(CASE WHEN c.first_sent_at IS NOT NULL THEN 1 ELSE 0 END) AS commands_sent,
           COUNT(DISTINCT CASE WHEN c.state = 'completed' THEN c.airing_id END) AS completed
    FROM airings a
    JOIN commands c ON c.airing_id = a.id
    GROUP BY a.week, a.ward, a.programme, c.receiver
) s ON s.week = g.week AND s.ward = g.ward AND s.programme = g.programme
     AND s.receiver = r.receiver
"""


def upgrade() -> None:
    op.create_table(
        "ack_quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=True),
        sa.Column("receiver", sa.Text(), nullable=True),
        sa.Column("command_id", sa.Text(), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("raw_bytes", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ack_quarantine")),
    )
    with op.batch_alter_table("ack_quarantine", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ack_quarantine_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "config_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_config_files")),
    )
    op.create_table(
        "config_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_snapshots")),
        sa.UniqueConstraint("digest", name=op.f("uq_config_snapshots_digest")),
    )
    op.create_table(
        "receiver_status",
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fw", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("ward", "receiver", name=op.f("pk_receiver_status")),
    )
    op.create_table(
        "receiver_status_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("receiver_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fw", sa.String(length=64), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "state IN ('online', 'offline')", name=op.f("ck_receiver_status_events_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receiver_status_events")),
    )
    with op.batch_alter_table("receiver_status_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receiver_status_events_ward_receiver_received_at"),
            ["ward", "receiver", "received_at"],
            unique=False,
        )

    op.create_table(
        "service_instances",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_instances")),
    )
    op.create_table(
        "airings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("planned_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_local", sa.String(length=32), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("audio_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column(
            "makeup_for", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("makeup_week", sa.String(length=8), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "origin IN ('scheduled', 'makeup', 'manual', 'emergency')",
            name=op.f("ck_airings_origin"),
        ),
        sa.CheckConstraint(
            "outcome IN ('planned', 'open', 'completed', 'partial', 'missed')",
            name=op.f("ck_airings_outcome"),
        ),
        sa.CheckConstraint(
            "priority IN ('normal', 'priority', 'emergency')", name=op.f("ck_airings_priority")
        ),
        sa.CheckConstraint("volume BETWEEN 0 AND 100", name=op.f("ck_airings_volume")),
        sa.ForeignKeyConstraint(
            ["makeup_for"], ["airings.id"], name=op.f("fk_airings_makeup_for_airings")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["config_snapshots.id"],
            name=op.f("fk_airings_snapshot_id_config_snapshots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_airings")),
        sa.UniqueConstraint(
            "ward",
            "programme",
            "planned_start",
            name=op.f("uq_airings_ward_programme_planned_start"),
        ),
    )
    with op.batch_alter_table("airings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_airings_makeup_for"), ["makeup_for"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_airings_planned_start"), ["planned_start"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_airings_week_ward_programme"),
            ["week", "ward", "programme"],
            unique=False,
        )

    op.create_table(
        "config_loads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["config_snapshots.id"],
            name=op.f("fk_config_loads_snapshot_id_config_snapshots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_loads")),
    )
    with op.batch_alter_table("config_loads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_config_loads_loaded_at"), ["loaded_at"], unique=False)

    op.create_table(
        "snapshot_files",
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('station', 'ward')", name=op.f("ck_snapshot_files_kind")),
        sa.ForeignKeyConstraint(
            ["sha256"], ["config_files.sha256"], name=op.f("fk_snapshot_files_sha256_config_files")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["config_snapshots.id"],
            name=op.f("fk_snapshot_files_snapshot_id_config_snapshots"),
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "path", name=op.f("pk_snapshot_files")),
    )
    op.create_table(
        "snapshot_programmes",
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("min_per_week", sa.Integer(), nullable=False),
        sa.Column("campaign_from", sa.Date(), nullable=True),
        sa.Column("campaign_until", sa.Date(), nullable=True),
        sa.Column("first_full_week", sa.String(length=8), nullable=True),
        sa.Column("last_full_week", sa.String(length=8), nullable=True),
        sa.Column("audio_sha256", sa.String(length=64), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["config_snapshots.id"],
            name=op.f("fk_snapshot_programmes_snapshot_id_config_snapshots"),
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "programme", name=op.f("pk_snapshot_programmes")),
    )
    op.create_table(
        "snapshot_receivers",
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["config_snapshots.id"],
            name=op.f("fk_snapshot_receivers_snapshot_id_config_snapshots"),
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "ward", "receiver", name=op.f("pk_snapshot_receivers")
        ),
    )
    op.create_table(
        "snapshot_wards",
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["config_snapshots.id"],
            name=op.f("fk_snapshot_wards_snapshot_id_config_snapshots"),
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "ward", name=op.f("pk_snapshot_wards")),
    )
    op.create_table(
        "week_closures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "verdict IN ('compliant', 'short')", name=op.f("ck_week_closures_verdict")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["config_snapshots.id"],
            name=op.f("fk_week_closures_snapshot_id_config_snapshots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_week_closures")),
        sa.UniqueConstraint(
            "ward",
            "programme",
            "week",
            "receiver",
            name=op.f("uq_week_closures_ward_programme_week_receiver"),
        ),
    )
    with op.batch_alter_table("week_closures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_week_closures_week"), ["week"], unique=False)

    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column(
            "airing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=512), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("played_s", sa.Float(), nullable=True),
        sa.Column("receiver_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sent', 'received', 'playing', 'expired', 'completed', 'failed', 'rejected')",
            name=op.f("ck_commands_state"),
        ),
        sa.ForeignKeyConstraint(
            ["airing_id"], ["airings.id"], name=op.f("fk_commands_airing_id_airings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
        sa.UniqueConstraint("airing_id", "receiver", name=op.f("uq_commands_airing_id_receiver")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commands_state_expires_at"), ["state", "expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_commands_ward_receiver"), ["ward", "receiver"], unique=False
        )

    op.create_table(
        "manual_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=True),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("requested_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("airing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "priority IN ('normal', 'priority', 'emergency')",
            name=op.f("ck_manual_requests_priority"),
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'taken', 'refused', 'done')", name=op.f("ck_manual_requests_state")
        ),
        sa.ForeignKeyConstraint(
            ["airing_id"], ["airings.id"], name=op.f("fk_manual_requests_airing_id_airings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_requests")),
    )
    with op.batch_alter_table("manual_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_manual_requests_state_requested_at"),
            ["state", "requested_at"],
            unique=False,
        )

    op.create_table(
        "acks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("ward", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("played_s", sa.Float(), nullable=True),
        sa.Column("receiver_at_text", sa.Text(), nullable=False),
        sa.Column("receiver_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("changed_state", sa.Boolean(), nullable=False),
        sa.Column("state_after", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "state_after IN ('pending', 'sent', 'received', 'playing', 'expired', 'completed', 'failed', 'rejected')",
            name=op.f("ck_acks_state_after"),
        ),
        sa.CheckConstraint(
            "status IN ('received', 'playing', 'completed', 'failed', 'rejected')",
            name=op.f("ck_acks_status"),
        ),
        sa.ForeignKeyConstraint(
            ["command_id"], ["commands.id"], name=op.f("fk_acks_command_id_commands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acks")),
    )
    with op.batch_alter_table("acks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acks_command_id"), ["command_id"], unique=False)

    op.create_table(
        "send_attempts",
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('puback', 'no-connection', 'queue-full', 'timeout', 'error')",
            name=op.f("ck_send_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["command_id"], ["commands.id"], name=op.f("fk_send_attempts_command_id_commands")
        ),
        sa.PrimaryKeyConstraint("command_id", "attempt", name=op.f("pk_send_attempts")),
    )

    op.execute(AIRING_LOG)
    op.execute(WEEKLY_COMPLIANCE)


def downgrade() -> None:
    op.execute("DROP VIEW weekly_compliance")
    op.execute("DROP VIEW airing_log")
    op.drop_table("send_attempts")
    with op.batch_alter_table("acks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acks_command_id"))

    op.drop_table("acks")
    with op.batch_alter_table("manual_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manual_requests_state_requested_at"))

    op.drop_table("manual_requests")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commands_ward_receiver"))
        batch_op.drop_index(batch_op.f("ix_commands_state_expires_at"))

    op.drop_table("commands")
    with op.batch_alter_table("week_closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_week_closures_week"))

    op.drop_table("week_closures")
    op.drop_table("snapshot_wards")
    op.drop_table("snapshot_receivers")
    op.drop_table("snapshot_programmes")
    op.drop_table("snapshot_files")
    with op.batch_alter_table("config_loads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_loads_loaded_at"))

    op.drop_table("config_loads")
    with op.batch_alter_table("airings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_airings_week_ward_programme"))
        batch_op.drop_index(batch_op.f("ix_airings_planned_start"))
        batch_op.drop_index(batch_op.f("ix_airings_makeup_for"))

    op.drop_table("airings")
    op.drop_table("service_instances")
    with op.batch_alter_table("receiver_status_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receiver_status_events_ward_receiver_received_at"))

    op.drop_table("receiver_status_events")
    op.drop_table("receiver_status")
    op.drop_table("config_snapshots")
    op.drop_table("config_files")
    with op.batch_alter_table("ack_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ack_quarantine_received_at"))

    op.drop_table("ack_quarantine")
