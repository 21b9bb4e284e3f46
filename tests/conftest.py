"""Shared fixtures. Real services are used where a test needs one; locally a missing service
skips its tests, in CI (``CI=true``) it fails them (dramatiq's ``raise e if CI else skip``)."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.brokers import PrivateBroker, clear_retained

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# The tests read English unless they choose Vietnamese (--lang vi): the sample station file says
# `language: vi`, and $IPFM_LANG comes before it (ipfm_scheduler/i18n.py). Subprocesses inherit it.
os.environ["IPFM_LANG"] = "en"

MQTT_HOST = os.environ.get("IPFM_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("IPFM_TEST_MQTT_PORT", "1883"))
PG_HOST = os.environ.get("IPFM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("IPFM_TEST_PG_PORT", "5432"))


def need_service(ok: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when a real service the test needs is missing."""
    if ok:
        return
    if CI:
        pytest.fail(f"{what} is not available, and CI=true: the real service is required")
    pytest.skip(f"{what} is not available")


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """The real mosquitto broker (host, port)."""
    need_service(port_answers(MQTT_HOST, MQTT_PORT), f"mosquitto at {MQTT_HOST}:{MQTT_PORT}")
    return MQTT_HOST, MQTT_PORT


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test (or test run sharing the broker) uses."""
    return f"ipfm-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The real ffmpeg binary."""
    path = shutil.which("ffmpeg")
    need_service(path is not None and shutil.which("ffprobe") is not None, "ffmpeg/ffprobe")
    assert path is not None
    return path


# --- PostgreSQL: a throwaway database per test session (or per test that asks) ----------------

PG_ADMIN_URL = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/postgres"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The real PostgreSQL server: the URL of its maintenance database (user postgres)."""
    need_service(port_answers(PG_HOST, PG_PORT), f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def pg_databases(pg_server: str) -> Iterator[Callable[[], str]]:
    """Makes throwaway databases (random names) and drops them all at the end of the session:
    call it to get the URL of a new, empty database."""
    import psycopg

    made: list[str] = []

    def admin(sql: str) -> None:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def make() -> str:
        name = f"ipfm_test_{uuid.uuid4().hex[:12]}"
        admin(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"

    yield make
    for name in made:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clean_prefix(mqtt_broker: tuple[str, int], topic_prefix: str) -> Iterator[str]:
    """``topic_prefix`` on the shared broker, with every retained message under it deleted
    afterwards (the shared broker is persistent: tests leave nothing behind)."""
    yield topic_prefix
    clear_retained(*mqtt_broker, topic_prefix)


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A mosquitto of this test's own on a free port, which the test may stop, pause, restart
    (``tests.brokers.PrivateBroker``). Never the shared one at 1883."""
    need_service(
        shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists(),
        "the mosquitto binary",
    )
    broker = PrivateBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()
