"""The Cẩm Phả sample (``config/``, ``audio/``) copied for a test to change."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "config"


def _made_in_the_checkout(folder: str, names: list[str]) -> set[str]:
    """The keys folder `keys init` or scripts/demo.sh made in the checkout (config/keys/, not
    in git): a test starts from the sample as the repository has it."""
    return {"keys"} if Path(folder) == SAMPLE else set()


def copy_sample(dest: Path, *, audio: bool = True) -> Path:
    """The sample station copied into ``dest``/config (and its recordings into ``dest``/audio
    unless ``audio`` is false); returns the copy's station file."""
    shutil.copytree(SAMPLE, dest / "config", ignore=_made_in_the_checkout)
    if audio:
        shutil.copytree(ROOT / "audio", dest / "audio")
    return dest / "config" / "ipfm.yaml"
