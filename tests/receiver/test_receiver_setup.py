"""A box's setup: its receiver.yaml as ipfm-scheduler receiver-config writes it, read back by
ipfm-receiver (every mistake located on its line), and its systemd unit."""

from __future__ import annotations

import configparser
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipfm_scheduler.cli import main
from ipfm_scheduler.cli.exitcodes import RET_CONFIG
from ipfm_scheduler.config.receiver_file import load_receiver
from ipfm_scheduler.errors import ConfigError
from tests.conftest import ROOT
from tests.sample import copy_sample

KEY = b"a-secret-of-more-than-16-bytes"
UNIT = ROOT / "config" / "systemd" / "ipfm-receiver.service"
INSTALLED = "/opt/ipfm-scheduler/.venv/bin/ipfm-receiver"
pytestmark = pytest.mark.usefixtures("ffmpeg")  # the sample's recording is probed


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def station(tmp_path: Path) -> Path:
    """The sample station, signing cam-trung's commands with its own key."""
    copy_sample(tmp_path)
    (tmp_path / "config" / "cam-trung.key").write_bytes(KEY + b"\n")
    path = tmp_path / "config" / "ipfm.yaml"
    path.write_text(
        path.read_text()
        + "signing:\n  wards:\n    cam-trung: {kid: cam-trung-2026, key_file: cam-trung.key}\n"
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return Run(int(done.value.code or 0), captured.out, captured.err)


def test_receiver_config_writes_a_file_the_receiver_reads_and_its_key_beside_it(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "box" / "receiver.yaml"
    out.parent.mkdir()
    result = run(
        capsys, "--config", str(station), "receiver-config", "--ward", "cam-trung",
        "--receiver", "loa-02", "--broker", "mqtt://10.20.0.5:1883", "-o", str(out),
    )  # fmt: skip
    assert result.code == 0, result.err
    key_file = out.with_name("cam-trung-2026.key")
    assert key_file.read_bytes().strip() == KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    settings = load_receiver(out)
    assert (settings.ward, settings.receiver) == ("cam-trung", "loa-02")
    assert (settings.mqtt.host, settings.mqtt.port) == ("10.20.0.5", 1883)
    assert settings.mqtt.topic_prefix == "ipfm"
    assert settings.mqtt.client_id == "ipfm-receiver-cam-trung-loa-02"
    assert settings.keys == {"cam-trung-2026": KEY}
    assert settings.timezone.key == "Asia/Ho_Chi_Minh"
    assert settings.output == "alsa:default"
    assert settings.state_dir == Path("/var/lib/ipfm-receiver")
    assert f"wrote {out}" in result.err


def test_receiver_config_names_an_unknown_ward_or_receiver(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--config", str(station), "receiver-config")
    wrong_ward = run(capsys, *base, "--ward", "cam-trng", "--receiver", "loa-01")
    assert wrong_ward.code == 2
    assert "there is no valid ward 'cam-trng' (did you mean \"cam-trung\"?)" in wrong_ward.err
    wrong_box = run(capsys, *base, "--ward", "cam-trung", "--receiver", "loa-9")
    assert wrong_box.code == 2
    assert "ward cam-trung has no receiver 'loa-9' (it has: loa-01, loa-02" in wrong_box.err


def test_receiver_config_says_a_loopback_broker_is_no_use_to_a_box(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(
        capsys, "--config", str(station), "receiver-config", "--ward", "cam-trung", "--receiver",
        "loa-01",
    )  # fmt: skip
    assert result.code == 0
    assert "ward: cam-trung\nreceiver: loa-01\n" in result.out
    assert "which a box can't reach: give --broker" in result.err
    assert "the box also needs its key file (cam-trung-2026.key): use -o FILE" in result.err


def test_every_mistake_in_a_receiver_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "receiver.yaml"
    path.write_text(
        "ward: Cam Trung\nreceiver: loa-01\noutput: speakers\nmqtt:\n  url: http://x\n"
        "signing:\n  kid: k1\n  key_file: nope.key\ntimezone: Asia/Hanoi2\nbogus: 1\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_receiver(path)
    shown = [str(p) for p in raised.value.problems]
    assert shown == [
        'receiver.yaml:1:7: ward: "Cam Trung" is not a valid id: use 1 to 64 characters of '
        "a-z, 0-9, '-' and '_' (such as \"cam-trung\")",
        'receiver.yaml:3:9: output: "speakers" is not an output: write alsa:DEVICE '
        "(alsa:default), pulse, pulse:SINK or file:FOLDER",
        'receiver.yaml:5:8: mqtt.url: "http://x" is not a broker address (write '
        "mqtt://HOST:1883, or mqtts://HOST:8883 for TLS)",
        f"receiver.yaml:8:13: signing.key_file: the file {tmp_path / 'nope.key'} does not exist",
        'receiver.yaml:9:11: timezone: "Asia/Hanoi2" is not a known time zone: write an IANA '
        "name such as Asia/Ho_Chi_Minh",
        'receiver.yaml:10:1: bogus: unknown key "bogus"; the receiver file has the keys: ward, '
        "receiver, timezone, language, mqtt, signing, own_key, output, cache, state_dir, "
        "max_clock_offset_s",
    ]


def test_ipfm_receiver_check_says_what_the_file_sets_and_exits_3_on_a_bad_one(
    tmp_path: Path,
) -> None:
    good = tmp_path / "receiver.yaml"
    good.write_text("ward: cam-trung\nreceiver: loa-01\noutput: file:wav\nstate_dir: state\n")
    binary = Path(sys.executable).with_name("ipfm-receiver")
    done = subprocess.run(
        [str(binary), "--config", str(good), "--check"], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "valid: receiver cam-trung/loa-01" in done.stdout
    assert f"output file:{tmp_path / 'wav'}" in done.stdout
    assert "NO signing key" in done.stdout
    good.write_text("ward: cam-trung\n")
    bad = subprocess.run(
        [str(binary), "--config", str(good), "--check"], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == RET_CONFIG
    assert 'receiver.yaml:1:1: the key "receiver" is missing (this box\'s id in the ward file)' in (
        bad.stderr
    )


def _unit() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser["Service"]


def test_the_receivers_unit_is_a_notify_service_that_always_comes_back() -> None:
    service = _unit()
    assert service["Type"] == "notify"
    assert service["WatchdogSec"] == "30"
    assert service["Restart"] == "always"
    assert service["RestartPreventExitStatus"] == str(RET_CONFIG)
    assert service["User"] == "ipfm-receiver"
    assert service["SupplementaryGroups"] == "audio"
    assert service["ExecStart"] == f"{INSTALLED} --config /etc/ipfm-receiver/receiver.yaml"
    assert (service["StateDirectory"], service["CacheDirectory"]) == ("ipfm-receiver",) * 2


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_accepts_the_receivers_unit(tmp_path: Path) -> None:
    """As installed, but with ExecStart pointing at this checkout's binary (verify checks it)."""
    binary = Path(sys.executable).with_name("ipfm-receiver")
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED, str(binary)))
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_receiver_config_lists_every_broker_the_box_tries_in_order(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "box" / "receiver.yaml"
    out.parent.mkdir()
    result = run(
        capsys, "--config", str(station), "receiver-config", "--ward", "cam-trung",
        "--receiver", "loa-02", "--broker", "mqtt://10.20.0.5:1883",
        "--broker", "mqtt://10.20.0.6:11884", "-o", str(out),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "    - mqtt://10.20.0.5:1883\n    - mqtt://10.20.0.6:11884\n" in out.read_text()
    settings = load_receiver(out)
    assert settings.mqtt.nodes == (("10.20.0.5", 1883), ("10.20.0.6", 11884))


def test_a_bad_broker_in_a_receivers_list_is_named_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "receiver.yaml"
    path.write_text(
        "ward: cam-trung\nreceiver: loa-01\nmqtt:\n  url:\n    - mqtt://10.0.0.1\n"
        "    - mqtt:/10.0.0.2\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_receiver(path)
    assert [str(p) for p in raised.value.problems] == [
        'receiver.yaml:6:7: mqtt.url[2]: "mqtt:/10.0.0.2" names no host (write mqtt://HOST:1883)'
    ]
