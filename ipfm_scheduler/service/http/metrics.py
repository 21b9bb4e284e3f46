"""The service's Prometheus metrics, in a private registry (``GET /metrics``).

Labels stay bounded: per ward, programme, ack status or send kind, never per command or
receiver (a city has a few dozen wards; it has thousands of commands a week). Label values are
checked here, so a bug elsewhere cannot blow up the number of series.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.ids import check_name
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _

NAMESPACE = "ipfm"
#: decision -> PUBACK: milliseconds on a healthy broker, seconds when it struggles
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_ACK_STATUSES = frozenset(s.value for s in AckStatus)


class Metrics:
    """What the service counts; it calls these methods, ``GET /metrics`` renders them."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, ns = self.registry, NAMESPACE
        self._sent = Counter(
            "commands_sent",
            "Commands accepted by the broker, by ward; resends counted apart (send=resend).",
            ["ward", "send"],
            namespace=ns,
            registry=r,
        )
        self._acks = Counter(
            "acks",
            "Acknowledgements received from receivers, by ward and status.",
            ["ward", "status"],
            namespace=ns,
            registry=r,
        )
        # the labelled counters, by (ward, send or status): found once, not per command
        self._sent_by: dict[tuple[str, bool], Any] = {}
        self._acks_by: dict[tuple[str, str], Any] = {}
        self._online = Gauge(
            "receivers_online",
            "Receivers whose last status was online.",
            ["ward"],
            namespace=ns,
            registry=r,
        )
        self._waiting = Gauge(
            "commands_waiting",
            "Commands sent and still waiting for a final answer.",
            ["ward"],
            namespace=ns,
            registry=r,
        )
        self._confirmed = Gauge(
            "week_receivers_confirmed",
            "Enabled receivers that have aired the programme at least the weekly minimum "
            "this ISO week, confirmed by a completed ack.",
            ["ward", "programme"],
            namespace=ns,
            registry=r,
        )
        self._enabled = Gauge(
            "week_receivers_enabled",
            "Enabled receivers that must air the programme this ISO week.",
            ["ward", "programme"],
            namespace=ns,
            registry=r,
        )
        self._minimum = Gauge(
            "week_minimum_airings",
            "Airings each enabled receiver owes the programme per ISO week (min_per_week).",
            ["ward", "programme"],
            namespace=ns,
            registry=r,
        )
        self._waiting_answers = Gauge(
            "answers_waiting",
            "Answers taken from the broker and not stored yet (the database refused them): in "
            "memory (where=memory), and bytes in the spill file (where=spill_bytes).",
            ["where"],
            namespace=ns,
            registry=r,
        )
        self._unknown = Counter(
            "answers_unknown",
            "Acks and statuses on topics of wards or receivers not in the configuration: "
            "counted here only (no row, no series of their own).",
            namespace=ns,
            registry=r,
        )
        self._quarantined = Counter(
            "answers_quarantined",
            "Acks and statuses of receivers in the configuration that were quarantined.",
            namespace=ns,
            registry=r,
        )
        self._latency = Histogram(
            "dispatch_latency_seconds",
            "From the decision to send a command to the broker's PUBACK.",
            buckets=LATENCY_BUCKETS_S,
            namespace=ns,
            registry=r,
        )

        self._role = Gauge(
            "role",
            "1 for this instance's role (leader, standby, or sole: SQLite, no standby), else 0; "
            "epoch: the leader's epoch as this instance last saw it.",
            ["role"],
            namespace=ns,
            registry=r,
        )
        self._epoch = Gauge("leader_epoch", "The leader's epoch, as last seen.", namespace=ns,
                            registry=r)  # fmt: skip

    def role(self, role: str, epoch: int) -> None:
        """This instance's role (``core.lease.Role``), and the leader's epoch it last saw."""
        for name in ("leader", "standby", "sole"):
            self._role.labels(name).set(1 if name == role else 0)
        self._epoch.set(_count(epoch))

    def command_sent(self, ward: str, *, resend: bool = False) -> None:
        key = (ward, resend)
        child = self._sent_by.get(key)
        if child is None:  # the ward's name checked once (a counter per ward: as many)
            child = self._sent.labels(_ward(ward), "resend" if resend else "first")
            self._sent_by[key] = child
        child.inc()

    def ack(self, ward: str, status: str) -> None:
        key = (ward, status)
        child = self._acks_by.get(key)
        if child is None:
            if status not in _ACK_STATUSES:
                raise ValueInvalid(
                    _("ack status {status} is not one of {known}").format(
                        status=repr(status), known=sorted(_ACK_STATUSES)
                    )
                )
            child = self._acks_by[key] = self._acks.labels(_ward(ward), status)
        child.inc()

    def receivers_online(self, ward: str, count: int) -> None:
        self._online.labels(_ward(ward)).set(_count(count))

    def commands_waiting(self, ward: str, count: int) -> None:
        self._waiting.labels(_ward(ward)).set(_count(count))

    def week(
        self, ward: str, programme: str, *, confirmed: int, enabled: int, minimum: int
    ) -> None:
        """This ISO week, for one ward and programme: receivers that met the minimum so far,
        receivers that must, and the minimum itself."""
        labels = (_ward(ward), check_name(programme, "programme id"))
        self._confirmed.labels(*labels).set(_count(confirmed))
        self._enabled.labels(*labels).set(_count(enabled))
        self._minimum.labels(*labels).set(_count(minimum))

    def dispatch_latency(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueInvalid(
                _("a latency cannot be negative ({seconds} s)").format(seconds=seconds)
            )
        self._latency.observe(seconds)

    def answers_waiting(self, memory: int, spilled_bytes: int) -> None:
        self._waiting_answers.labels("memory").set(_count(memory))
        self._waiting_answers.labels("spill_bytes").set(_count(spilled_bytes))

    def answers_unknown(self, count: int) -> None:
        self._unknown.inc(_count(count))

    def answers_quarantined(self, count: int) -> None:
        self._quarantined.inc(_count(count))

    def watch_intake(self, intake: IntakeStats) -> None:
        """Report the broker intake's bound at each scrape (``transport/intake.py``)."""
        self.registry.register(_IntakeCollector(intake))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def _ward(ward: str) -> str:
    return check_name(ward, "ward id")


def _count(value: int) -> int:
    if not (isinstance(value, int) and value >= 0):
        raise ValueInvalid(
            _("a count must be a whole number, 0 or more, not {value}").format(value=repr(value))
        )
    return value


class IntakeStats(Protocol):
    """What the bounded intake counts (``transport.intake.Intake``)."""

    dropped: int
    cut: int
    blocked_s: float

    def qsize(self) -> int: ...
    @property
    def queued_bytes(self) -> int: ...


class _IntakeCollector:
    def __init__(self, intake: IntakeStats) -> None:
        self.intake = intake

    def collect(self) -> Iterator[Metric]:
        i, ns = self.intake, NAMESPACE
        yield CounterMetricFamily(
            f"{ns}_intake_dropped",
            "Messages from the broker dropped because the intake was full (statuses and junk "
            "at once; acks after paho's thread waited intake_blocked_seconds).",
            value=i.dropped,
        )
        yield CounterMetricFamily(
            f"{ns}_intake_blocked_seconds",
            "Time paho's network thread waited for room in the intake (back-pressure on the "
            "broker).",
            value=i.blocked_s,
        )
        yield CounterMetricFamily(
            f"{ns}_intake_cut",
            "Messages larger than any answer (16 KiB), kept as their first 1 KiB, size, sha256.",
            value=i.cut,
        )
        queued = GaugeMetricFamily(
            f"{ns}_intake_queued", "Messages waiting in the intake.", labels=["unit"]
        )
        queued.add_metric(["messages"], i.qsize())
        queued.add_metric(["bytes"], i.queued_bytes)
        yield queued
