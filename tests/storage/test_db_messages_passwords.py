"""No password in any message that shows a database URL, wherever the URL came from
(--database, $IPFM_DATABASE_URL, the station file) and whatever is wrong with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.brokers import free_port
from tests.sample import copy_sample
from tests.storage.test_storage_cli import run

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cretPW"


def closed_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    return free_port()


@pytest.fixture
def station(tmp_path: Path) -> Path:
    """The sample station file, copied with its wards and audio into a temp folder."""
    return copy_sample(tmp_path)


def set_database(station: Path, url: str) -> None:
    lines = station.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = [f'database: "{url}"\n' if line.startswith("database:") else line for line in lines]
    station.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres@127.0.0.1:{{port}}/x?password={SECRET}",
        f"postgresql://postgres@127.0.0.1/x?sslpassword={SECRET}&port={{port}}",
        f"postgresql://postgres:{SECRET}@127.0.0.1:{{port}}/x",
    ],
    ids=["query-password", "query-sslpassword", "user-password"],
)
def test_a_failed_connection_names_the_database_without_its_password(station: Path, url: str):
    result = run(
        "--config", str(station), "db", "check", "--database", url.format(port=closed_port())
    )
    assert result.code == 4
    assert "connection failed" in result.err
    assert "***" in result.err
    assert SECRET not in result.err + result.text


@pytest.mark.parametrize(
    "url",
    [
        f"postgresq://postgres:{SECRET}@127.0.0.1/x",
        f"mysql://u:{SECRET}@h/d",
        f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1/x",
        f"sqlite://u:{SECRET}@h/x",
        f"postgresql://postgres:{SECRET}@127.0.0.1:notaport/x",
    ],
    ids=["typo", "mysql", "psycopg2", "sqlite-with-user", "bad-port"],
)
def test_a_url_that_is_refused_is_shown_without_its_password(station: Path, url: str):
    given = run("--config", str(station), "db", "check", "--database", url)
    assert given.code == 2
    assert "***" in given.err
    assert SECRET not in given.err
    from_env = run("--config", str(station), "db", "check", env={"IPFM_DATABASE_URL": url})
    assert from_env.code == 3
    assert "***" in from_env.err
    assert SECRET not in from_env.err


@pytest.mark.usefixtures("ffmpeg")
@pytest.mark.parametrize("command", [["db", "check"], ["validate"], ["run"]])
def test_a_mistyped_database_in_the_station_file_is_shown_without_its_password(
    station: Path, command: list[str]
):
    set_database(station, f"postgresq://postgres:{SECRET}@127.0.0.1/x")
    result = run("--config", str(station), *command, env={"IPFM_DATABASE_URL": ""})
    assert result.code == 3
    shown = result.err + result.text
    assert '"postgresq://postgres:***@127.0.0.1/x" is not a database URL' in shown
    assert SECRET not in shown


def test_a_password_with_an_unescaped_at_sign_is_never_shown_in_part(station: Path):
    url = f"postgresql://postgres:s3cret@PW@127.0.0.1:{closed_port()}/x"
    result = run("--config", str(station), "db", "check", "--database", url)
    assert result.code == 2
    assert "postgres:***@127.0.0.1" in result.err
    assert "write each '@' of the password as %40" in result.err
    assert "s3cret" not in result.err
    assert "PW@" not in result.err
