"""GET /healthz and GET /metrics over real sockets; the checks and metrics behind them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.service.http.health import Health, HealthChecks
from ipfm_scheduler.service.http.metrics import Metrics

if TYPE_CHECKING:
    from tests.service.conftest import Served


def healthz(served: Served) -> tuple[int, dict[str, Any]]:
    status, headers, body = served.request("/healthz")
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(body)


def test_healthz_is_200_when_every_part_is_fine(served: Served) -> None:
    status, body = healthz(served)
    assert status == 200
    assert body == {
        "ok": True,
        "checks": {
            "scheduler": {"ok": True, "reason": "fine"},
            "broker": {"ok": True, "reason": "fine"},
            "database": {"ok": True, "reason": "fine"},
        },
    }


def test_healthz_turns_503_naming_the_failing_part_and_back(served: Served) -> None:
    """The broker check fails: 503 and the body says which part and why; it recovers: 200."""
    served.checks["broker"] = Health(False, "disconnected from 127.0.0.1:1883 since 06:01")
    status, body = healthz(served)
    assert status == 503
    assert body["ok"] is False
    assert body["checks"]["broker"] == {
        "ok": False,
        "reason": "disconnected from 127.0.0.1:1883 since 06:01",
    }
    assert body["checks"]["database"]["ok"] is True

    served.checks["broker"] = Health(True, "connected")
    assert healthz(served)[0] == 200


def test_a_check_that_raises_is_a_failing_part_not_a_crash() -> None:
    def database() -> Health:
        raise ConnectionError("could not connect to server: Connection refused\n  details")

    results = HealthChecks({"database": database, "scheduler": lambda: True}).run()
    assert results["database"] == Health(
        False, "ConnectionError: could not connect to server: Connection refused details"
    )
    assert results["scheduler"] == Health(True, "ok")


def test_a_hung_check_fails_in_time_and_is_not_started_twice() -> None:
    """A database that never answers: the check fails after the timeout; asking again while
    it still hangs does not start a second call; once it returns, it is asked afresh."""
    release = threading.Event()
    calls: list[int] = []

    def database() -> Health:
        calls.append(1)
        release.wait(timeout=10)
        return Health(True, "answered")

    checks = HealthChecks({"database": database}, timeout_s=0.2)
    first = checks.run()["database"]
    second = checks.run()["database"]
    release.set()

    assert not first.ok
    assert first.reason.startswith("no answer after 0.")
    assert not second.ok
    assert len(calls) == 1
    assert checks.run()["database"] == Health(True, "answered")


def test_metrics_are_prometheus_text_with_bounded_labels(served: Served) -> None:
    m = served.metrics
    m.command_sent("cam-trung")
    m.command_sent("cam-trung", resend=True)
    m.ack("cam-trung", "completed")
    m.ack("cam-trung", "completed")
    m.ack("cua-ong", "rejected")
    m.receivers_online("cam-trung", 7)
    m.commands_waiting("cam-trung", 2)
    m.week("cam-trung", "kh179", confirmed=5, enabled=8, minimum=1)
    m.dispatch_latency(0.03)
    m.dispatch_latency(4.0)

    status, headers, body = served.request("/metrics")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }

    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    ward = (("ward", "cam-trung"),)
    assert samples[("ipfm_commands_sent_total", (("send", "first"), *ward))] == 1
    assert samples[("ipfm_commands_sent_total", (("send", "resend"), *ward))] == 1
    assert samples[("ipfm_acks_total", (("status", "completed"), *ward))] == 2
    assert samples[("ipfm_acks_total", (("status", "rejected"), ("ward", "cua-ong")))] == 1
    assert samples[("ipfm_receivers_online", ward)] == 7
    assert samples[("ipfm_commands_waiting", ward)] == 2
    week = (("programme", "kh179"), *ward)
    assert samples[("ipfm_week_receivers_confirmed", week)] == 5
    assert samples[("ipfm_week_receivers_enabled", week)] == 8
    assert samples[("ipfm_week_minimum_airings", week)] == 1
    assert samples[("ipfm_dispatch_latency_seconds_count", ())] == 2
    assert samples[("ipfm_dispatch_latency_seconds_bucket", (("le", "0.05"),))] == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.ack("cam-trung", "exploded"), "ack status 'exploded' is not one of"),
        (lambda m: m.command_sent("9f1c2a6e-1b9e-4c57 cmd"), "ward id"),
        (lambda m: m.week("cam-trung", "KH179", confirmed=1, enabled=1, minimum=1), "programme"),
        (lambda m: m.receivers_online("cam-trung", -1), "a count must be"),
        (lambda m: m.dispatch_latency(-0.5), "cannot be negative"),
    ],
)
def test_label_values_are_checked_so_series_stay_bounded(
    call: Callable[[Metrics], None], message: str
) -> None:
    with pytest.raises(ValueInvalid, match=message):
        call(Metrics())


def test_each_metrics_object_has_its_own_registry() -> None:
    """Two services (or tests) in one process do not share or clash on metrics."""
    a, b = Metrics(), Metrics()
    a.command_sent("cam-trung")
    assert b"cam-trung" in a.render()
    assert b"cam-trung" not in b.render()
