"""The snapshot's digest is what it was when it was written with ``asdict`` (storage/snapshot.py
builds the same JSON faster): a configuration recorded before keeps its id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from ipfm_scheduler.storage.snapshot import ConfigSnapshot, snapshot_from_config
from tests.storage.test_storage_snapshot import loaded


def written_with_asdict(snapshot: ConfigSnapshot) -> str:
    content = {
        "timezone": snapshot.timezone,
        "files": sorted((f.path, f.kind, f.sha256, f.valid) for f in snapshot.files),
        "programmes": sorted((asdict(p) for p in snapshot.programmes), key=lambda p: str(p["id"])),
        "wards": sorted((asdict(w) for w in snapshot.wards), key=lambda w: str(w["id"])),
    }
    text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_the_digest_is_the_one_asdict_gave() -> None:
    snapshot = snapshot_from_config(loaded())
    assert any(not r.enabled for w in snapshot.wards for r in w.receivers)
    assert any(r.location for w in snapshot.wards for r in w.receivers)
    assert snapshot.digest == written_with_asdict(snapshot)
