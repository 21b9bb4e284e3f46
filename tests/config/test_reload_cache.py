"""What a reload reads again (config/keyfiles.py ``KeyCache``, config/loader.py ``LoadCache``):
only what changed, and every change: a key swapped in place (same size, same mtime, same
inode) is seen, a receiver removed is gone, a new one appears; a ward file edited is checked
again, the others are not, and the result is always the one of a load without a cache."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ipfm_scheduler.config import keyfiles
from ipfm_scheduler.config.loader import LoadCache
from tests.config.conftest import Station

NOW = datetime(2026, 12, 5, 6, 15, tzinfo=UTC)
PAIRS = [("cam-trung", "loa-01"), ("cam-trung", "loa-02"), ("cua-ong", "loa-01")]


def keys_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    keyfiles.init_keys(folder, PAIRS, NOW)
    return folder


def the_key(folder: Path, ward: str, receiver: str) -> Path:
    (path,) = keyfiles.receiver_folder(folder, ward, receiver).glob("*.key")
    return path


def read(folder: Path, cache: keyfiles.KeyCache) -> dict[tuple[str, str], keyfiles.KeySet]:
    """Through the cache; always what a reading without one gives."""
    commands, receivers = keyfiles.read_keys_dir(folder, cache)
    assert (commands, receivers) == keyfiles.read_keys_dir(folder)
    return receivers


def changed_ctime(path: Path, before: os.stat_result) -> None:
    """The file's ctime differs from ``before``'s: a change within the same tick of the
    filesystem's clock keeps it, so write the same bytes again until it moves (a few ms)."""
    data = path.read_bytes()
    while os.stat(path).st_ctime_ns == before.st_ctime_ns:
        with open(path, "r+b") as handle:
            handle.write(data)


def test_an_unchanged_folder_is_not_read_again(tmp_path: Path) -> None:
    folder = keys_dir(tmp_path)
    cache = keyfiles.KeyCache(racy_s=0)
    first = read(folder, cache)
    assert (cache.read, cache.reused) == (3, 0)
    assert read(folder, cache) == first
    assert (cache.read, cache.reused) == (0, 3)


def test_a_key_swapped_in_place_with_its_size_mtime_and_inode_is_seen(tmp_path: Path) -> None:
    folder = keys_dir(tmp_path)
    cache = keyfiles.KeyCache(racy_s=0)
    first = read(folder, cache)
    path = the_key(folder, "cam-trung", "loa-02")
    before = os.stat(path)
    forged = b"f" * 64 + b"\n"  # the same size as the key it replaces
    with open(path, "r+b") as handle:  # in place: the same inode
        handle.write(forged)
    changed_ctime(path, before)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # its mtime put back
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    again = read(folder, cache)
    assert (cache.read, cache.reused) == (1, 2)
    swapped = again[("cam-trung", "loa-02")].current
    assert swapped is not None
    assert swapped.secret == b"f" * 64
    assert again[("cam-trung", "loa-01")] == first[("cam-trung", "loa-01")]


def test_a_key_replaced_by_another_file_is_seen(tmp_path: Path) -> None:
    folder = keys_dir(tmp_path)
    cache = keyfiles.KeyCache(racy_s=0)
    read(folder, cache)
    path = the_key(folder, "cua-ong", "loa-01")
    before = os.stat(path)
    other = tmp_path / "other.key"
    other.write_bytes(b"e" * 64 + b"\n")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, path)  # renamed over it: its folder and the file both change
    again = read(folder, cache)
    assert cache.read == 1
    key = again[("cua-ong", "loa-01")].current
    assert key is not None
    assert key.secret == b"e" * 64


def test_a_receiver_removed_is_gone_and_a_new_one_appears(tmp_path: Path) -> None:
    folder = keys_dir(tmp_path)
    cache = keyfiles.KeyCache(racy_s=0)
    read(folder, cache)
    shutil.rmtree(keyfiles.receiver_folder(folder, "cam-trung", "loa-01"))
    keyfiles.init_keys(folder, [("cua-ong", "loa-02")], NOW)
    again = read(folder, cache)
    assert sorted(again) == [("cam-trung", "loa-02"), ("cua-ong", "loa-01"), ("cua-ong", "loa-02")]
    assert len(cache) == 3  # the folder removed is forgotten
    assert (cache.read, cache.reused) == (1, 2)


def test_a_rotation_and_a_retired_key_s_date_are_seen(tmp_path: Path) -> None:
    folder = keys_dir(tmp_path)
    cache = keyfiles.KeyCache(racy_s=0)
    first = read(folder, cache)
    receiver = keyfiles.receiver_folder(folder, "cam-trung", "loa-01")
    new, (retired,) = keyfiles.rotate(receiver, date(2026, 12, 31), NOW + timedelta(hours=1))
    keys = read(folder, cache)[("cam-trung", "loa-01")]
    assert keys.current is not None
    assert keys.current.kid == new.kid
    assert set(keys.accepted(date(2026, 12, 31))) == {new.kid, retired.kid}
    assert keys != first[("cam-trung", "loa-01")]
    read(folder, cache)  # now cached with its .until file
    before = os.stat(retired.path)
    retired.path.write_text("2027-01-15\n", encoding="utf-8")  # the same size
    changed_ctime(retired.path, before)
    os.utime(retired.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    keys = read(folder, cache)[("cam-trung", "loa-01")]
    assert set(keys.accepted(date(2027, 1, 15))) == {new.kid, retired.kid}


def test_what_changed_just_before_the_reading_is_read_again(tmp_path: Path) -> None:
    """A file changed twice within one tick of the filesystem's clock may keep its ctime: what
    changed less than ``racy_s`` before the reading began is never taken from the cache."""
    folder = keys_dir(tmp_path)  # just written
    cache = keyfiles.KeyCache(racy_s=3600)
    read(folder, cache)
    read(folder, cache)
    assert (cache.read, cache.reused) == (3, 0)
    assert len(cache) == 0


def test_a_ward_file_is_checked_again_only_when_it_changed(station: Station) -> None:
    cache = LoadCache()
    plain = station.load()
    first = station.load(cache=cache)
    wards = len(first.ward_files)
    assert cache.checked == wards
    again = station.load(cache=cache)
    assert cache.checked == 0
    assert again.problems == plain.problems
    assert again.ward_files == plain.ward_files
    assert again.schedule == plain.schedule
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    copy = station.ward_path("cam-son.yaml").read_text(encoding="utf-8")
    station.write_ward("cam-son-2.yaml", copy)  # a duplicate id
    edited = station.load(cache=cache)
    assert cache.checked == 2
    for _ in range(2):  # the same problems each time, none added twice
        cached = station.load(cache=cache)
        assert cache.checked == 0
        assert cached.problems == edited.problems == station.load().problems
    assert sum("already used by" in p.message for p in cached.problems) == 1
    assert any("25:00" in p.message for p in cached.problems)
    station.ward_path("cam-son-2.yaml").unlink()
    assert station.load(cache=cache).problems == station.load().problems
    assert set(cache.wards) == {station.ward_path(n) for n in plain.ward_files}


def test_ward_files_are_checked_again_when_the_station_changes(station: Station) -> None:
    cache = LoadCache()
    station.load(cache=cache)
    station.load(cache=cache, today=date(2026, 12, 4))  # another day: campaigns may differ
    assert cache.checked == len(cache.wards)
    station.edit_station("min_per_week: 1 ", "min_per_week: 2 ")
    reloaded = station.load(cache=cache)
    assert cache.checked == len(cache.wards)
    assert reloaded.problems == station.load().problems
