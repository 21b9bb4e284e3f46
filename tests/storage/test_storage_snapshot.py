"""A loaded configuration becomes a snapshot: files verbatim, the plan in columns."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.config.settings import (
    AudioFile,
    AudioSettings,
    DispatchSettings,
    HttpSettings,
    LoadedConfig,
    MqttSettings,
    SigningSettings,
    StationConfig,
    WardFile,
)
from ipfm_scheduler.core.model import AiringRule, Programme, Receiver, Schedule, Ward, Window
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.storage.snapshot import snapshot_from_config

VN = ZoneInfo("Asia/Ho_Chi_Minh")
KH179 = Programme("kh179", "Kế hoạch 179", "kh179.mp3", 612.4, 1, date(2022, 7, 4), None)


def loaded(ward_text: str = "id: cam-trung\n") -> LoadedConfig:
    ward = Ward(
        "cam-trung",
        "Phường Cẩm Trung",
        (Receiver("loa-01", "Tổ 1"), Receiver("loa-02", enabled=False)),
        (Window(frozenset(range(7)), time(5, 30), time(6, 30)),),
        (AiringRule("kh179", time(6, 0), frozenset({0, 3})),),
    )
    station = StationConfig(
        path=Path("config/ipfm.yaml"),
        timezone=VN,
        database_url="sqlite:///x.db",
        mqtt=MqttSettings(),
        audio=AudioSettings(dir=Path("audio")),
        http=HttpSettings(),
        signing=SigningSettings(),
        dispatch=DispatchSettings(),
        programmes={"kh179": KH179},
        programme_audio={"kh179": AudioFile(Path("audio/kh179.mp3"), "cd" * 32, 4915200, 612.4)},
        wards_dir=Path("config/wards"),
        text="timezone: Asia/Ho_Chi_Minh\n",
    )
    files = {
        "cam-trung.yaml": WardFile(
            Path("config/wards/cam-trung.yaml"), "cam-trung", ward_text, "", True
        ),
        "broken.yaml": WardFile(Path("config/wards/broken.yaml"), None, "id: [", "", False),
    }
    schedule = Schedule(VN, {"kh179": KH179}, {"cam-trung": ward})
    return LoadedConfig(station, schedule, files, ())


def test_a_loaded_configuration_becomes_a_snapshot_with_every_file_and_the_plan():
    snap = snapshot_from_config(loaded())
    assert snap.timezone == "Asia/Ho_Chi_Minh"
    assert [(f.path, f.kind, f.valid) for f in snap.files] == [
        ("config/ipfm.yaml", "station", True),
        ("config/wards/broken.yaml", "ward", False),  # kept too: the auditor sees what was there
        ("config/wards/cam-trung.yaml", "ward", True),
    ]
    (programme,) = snap.programmes
    assert (programme.id, programme.min_per_week, programme.audio_sha256) == ("kh179", 1, "cd" * 32)
    assert (programme.first_full_week, programme.last_full_week) == ("2022-W27", None)
    (ward,) = snap.wards
    assert [(r.id, r.enabled, r.location) for r in ward.receivers] == [
        ("loa-01", True, "Tổ 1"),
        ("loa-02", False, ""),
    ]


def test_the_digest_follows_the_content_and_only_the_content():
    assert snapshot_from_config(loaded()).digest == snapshot_from_config(loaded()).digest
    assert snapshot_from_config(loaded()).digest != snapshot_from_config(loaded("# edit\n")).digest


def test_an_unusable_station_file_is_not_a_snapshot():
    with pytest.raises(ValueInvalid, match="unusable station file"):
        snapshot_from_config(LoadedConfig(None, None, {}, ()))
