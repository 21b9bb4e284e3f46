"""What every command shares: finding the station file, loading it, printing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG = Path("config/ipfm.yaml")
CONFIG_ENV = "IPFM_CONFIG"


@dataclass
class Options:
    """Global options, passed to every command as ``ctx.obj``."""

    config_path: str | None = None

    def station_path(self) -> Path:
        """``--config``, else ``$IPFM_CONFIG``, else ``config/ipfm.yaml``."""
        if self.config_path:
            return Path(self.config_path)
        env = os.environ.get(CONFIG_ENV)
        if env:
            return Path(env)
        return DEFAULT_CONFIG
