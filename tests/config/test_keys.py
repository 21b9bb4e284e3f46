"""The keys folder (docs/configuration.md "Keys"): `keys init` (only missing keys, files 0600,
nothing secret printed), `keys rotate` (the old key accepted until the end of its date), the
station reading them, and receiver-config giving a box its own key."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler.cli import main
from ipfm_scheduler.config import keyfiles
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.receiver_file import load_receiver
from ipfm_scheduler.service.agenda import Plan
from tests.sample import copy_sample

NOW = datetime(2026, 12, 5, 6, 15, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("ffmpeg")  # the sample's recording is probed


@pytest.fixture
def station(tmp_path: Path) -> Path:
    return copy_sample(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


def key_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.key"))


def test_init_makes_a_command_key_and_one_per_receiver_0600_then_only_what_is_missing(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "keys"
    pairs = [("cam-trung", "loa-01"), ("cam-trung", "loa-02")]
    made = keyfiles.init_keys(folder, pairs, NOW)
    assert [m.owner for m in made] == ["commands", "cam-trung/loa-01", "cam-trung/loa-02"]
    for path in key_files(folder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_bytes()
        assert len(text) == 65  # 64 hex digits (256 bits) and a newline
        int(text, 16)
    secrets_before = {p: p.read_bytes() for p in key_files(folder)}
    assert keyfiles.init_keys(folder, pairs, NOW + timedelta(days=1)) == []
    again = keyfiles.init_keys(folder, [*pairs, ("cua-ong", "loa-01")], NOW)
    assert [m.owner for m in again] == ["cua-ong/loa-01"]
    assert all(p.read_bytes() == s for p, s in secrets_before.items())  # nothing overwritten
    assert len({p.read_bytes() for p in key_files(folder)}) == 4  # every key its own


def test_rotate_keeps_the_old_key_accepted_until_the_end_of_its_date(tmp_path: Path) -> None:
    folder = keyfiles.receiver_folder(tmp_path, "cam-trung", "loa-01")
    (first,) = keyfiles.init_keys(tmp_path, [("cam-trung", "loa-01")], NOW)[1:]
    new, retired = keyfiles.rotate(folder, date(2026, 12, 31), NOW + timedelta(hours=1))
    assert [r.kid for r in retired] == [first.kid]
    keys = keyfiles.read_keyset(folder)
    assert keys is not None
    assert keys.current is not None
    assert keys.current.kid == new.kid
    assert set(keys.accepted(date(2026, 12, 31))) == {first.kid, new.kid}
    assert set(keys.accepted(date(2027, 1, 1))) == {new.kid}
    newer, retired = keyfiles.rotate(folder, date(2027, 1, 15), NOW + timedelta(hours=2))
    assert [r.kid for r in retired] == [new.kid]  # the first keeps its own date
    keys = keyfiles.read_keyset(folder)
    assert keys is not None
    assert set(keys.accepted(date(2027, 1, 10))) == {new.kid, newer.kid}


def test_a_key_file_that_cant_be_used_is_a_problem_of_the_station(station: Path) -> None:
    folder = station.parent / "keys" / "commands"
    folder.mkdir(parents=True)
    (folder / "k1.key").write_text("short\n")
    loaded = load(station, today=date(2026, 12, 5))
    assert any("holds 5 bytes; a key is at least 16" in str(p) for p in loaded.problems)


def test_keys_init_on_the_command_line_then_the_station_and_the_plan_use_them(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--config", str(station), "keys", "init")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"made {station.parent / 'keys' / 'commands'}/k-")
    assert any("(cam-trung/loa-01's own key, kid k-" in line for line in lines)
    made = key_files(station.parent / "keys")
    assert len(lines) == len(made) > 2
    assert not any(p.read_text().strip() in out for p in made)  # no secret printed
    code, out, _ = run(capsys, "--config", str(station), "keys", "init")
    assert (code, out.startswith("every key is already in")) == (0, True)
    loaded = load(station, today=date(2026, 12, 5))
    assert loaded.station is not None
    assert loaded.schedule is not None
    signing = loaded.station.signing
    assert signing.key_for("cam-trung") == signing.commands.current  # type: ignore[union-attr]
    plan = Plan(loaded.station, loaded.schedule)
    assert plan.speaks_v2("cam-trung", "loa-01")
    assert plan.trust("cam-trung", "loa-01", NOW).keys
    assert not plan.trust("ghost-ward", "loa-01", NOW).known


def test_keys_rotate_on_the_command_line(station: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--config", str(station), "keys", "init")[0] == 0
    code, out, _ = run(
        capsys, "--config", str(station), "keys", "rotate", "commands", "cam-trung/loa-01",
        "--keep-old-until", "31/12/2099",
    )  # fmt: skip
    assert code == 0
    assert out.count("it signs from now on") == 2
    assert out.count("accepted until 2099-12-31") == 2
    code, _, err = run(
        capsys, "--config", str(station), "keys", "rotate", "commands",
        "--keep-old-until", "31/02/2099",
    )  # fmt: skip
    assert code == 2
    assert "is not a date" in err


def test_receiver_config_writes_the_boxs_own_key_beside_its_file(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--config", str(station), "keys", "init")[0] == 0
    out = tmp_path / "box" / "receiver.yaml"
    out.parent.mkdir()
    code, _, err = run(
        capsys, "--config", str(station), "receiver-config", "--ward", "cam-trung",
        "--receiver", "loa-02", "--broker", "mqtt://10.20.0.5:1883", "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    own = next(out.parent.glob("own-k-*.key"))
    assert stat.S_IMODE(own.stat().st_mode) == 0o600
    settings = load_receiver(out)
    assert settings.own_key is not None
    (kept,) = key_files(station.parent / "keys" / "receivers" / "cam-trung" / "loa-02")
    assert settings.own_key.secret == kept.read_bytes().strip()
    assert settings.own_key.secret not in out.read_bytes()  # the secret is only in its file
    assert len(settings.keys) == 1  # the command key


def test_the_service_accepts_a_receivers_old_key_until_the_end_of_its_date(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `keys rotate WARD/RECEIVER --keep-old-until`, the plan's trust for that receiver
    holds both keys through the last day (the station's date), then only the new one."""
    assert run(capsys, "--config", str(station), "keys", "init")[0] == 0
    old = load(station, today=date(2026, 12, 5)).station
    assert old is not None
    (old_kid,) = old.signing.answer_keys("cam-trung", "loa-01", date(2026, 12, 5))
    code, _, _ = run(
        capsys, "--config", str(station), "keys", "rotate", "cam-trung/loa-01",
        "--keep-old-until", "2099-12-31",
    )  # fmt: skip
    assert code == 0
    loaded = load(station, today=date(2026, 12, 5))
    assert loaded.station is not None
    assert loaded.schedule is not None
    plan = Plan(loaded.station, loaded.schedule)
    new_kid = loaded.station.signing.own_key("cam-trung", "loa-01").kid  # type: ignore[union-attr]
    last_evening = datetime(2099, 12, 31, 16, 59, tzinfo=UTC)  # 23:59 in Hanoi
    next_morning = datetime(2099, 12, 31, 17, 0, tzinfo=UTC)  # 00:00 on 1 January
    assert set(plan.trust("cam-trung", "loa-01", last_evening).keys) == {old_kid, new_kid}
    assert set(plan.trust("cam-trung", "loa-01", next_morning).keys) == {new_kid}
    assert old_kid != new_kid
