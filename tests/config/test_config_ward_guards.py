"""The wards folder is read with care (issue 13, "Files"): a link to a file outside it, a pipe
or a device named like a ward file, a folder so named, or a file over 1 MB is a located problem,
and nothing of its content is read or shown; everything else in the folder is read as before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ipfm_scheduler.config.source import MAX_WARD_BYTES
from tests.config.conftest import Station


def wards(station: Station) -> Path:
    return station.folder / "wards"


def test_a_link_to_a_file_outside_the_wards_folder_is_not_followed(
    station: Station, tmp_path: Path
) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$very-secret-hash:19000:0:99999:7:::\n")
    (wards(station) / "evil.yaml").symlink_to(secret)
    problems = station.problems()
    assert problems == [
        "wards/evil.yaml: evil.yaml is a link to a file outside the wards folder: not read "
        "(copy the ward file itself into the folder)"
    ]
    assert "very-secret" not in "\n".join(problems)


def test_a_link_to_a_ward_file_inside_the_folder_is_read(station: Station) -> None:
    folder = wards(station)
    (folder / "kept").mkdir()
    (folder / "cam-trung.yaml").rename(folder / "kept" / "cam-trung.yaml")
    (folder / "cam-trung.yaml").symlink_to(folder / "kept" / "cam-trung.yaml")
    loaded = station.load()
    assert [str(p) for p in loaded.problems] == []
    assert loaded.schedule is not None
    assert "cam-trung" in loaded.schedule.wards


def test_a_pipe_named_like_a_ward_file_is_reported_and_never_opened(station: Station) -> None:
    os.mkfifo(wards(station) / "pipe.yaml")  # opening it would wait for ever
    assert station.problems() == [
        "wards/pipe.yaml: pipe.yaml is not a regular file (a pipe or a device?): not read"
    ]


def test_a_device_named_like_a_ward_file_is_reported(station: Station) -> None:
    (wards(station) / "zero.yaml").symlink_to("/dev/zero")
    problems = station.problems()
    assert problems == [
        "wards/zero.yaml: zero.yaml is a link to a file outside the wards folder: not read "
        "(copy the ward file itself into the folder)"
    ]


def test_a_folder_named_like_a_ward_file_is_reported(station: Station) -> None:
    (wards(station) / "old.yaml").mkdir()
    assert station.problems() == ["wards/old.yaml: old.yaml is a folder, not a ward file"]


@pytest.mark.parametrize("extra", [1, 50 * 1024 * 1024], ids=["just over", "50 MB"])
def test_a_ward_file_over_1_mb_is_not_read(station: Station, extra: int) -> None:
    path = wards(station) / "huge.yaml"
    with path.open("wb") as out:
        out.truncate(MAX_WARD_BYTES + extra)  # sparse: no disk used
    size = MAX_WARD_BYTES + extra
    assert station.problems() == [
        f"wards/huge.yaml: huge.yaml is {size:,} bytes, more than a ward file may be "
        f"({MAX_WARD_BYTES:,}): not read"
    ]
