"""Log lines a flood can't multiply: at most ``per_minute`` lines of one kind a minute, then one
line that says how many more there were (issue 13, item 4: every quarantined message used to
write a WARNING). The time is passed in; nothing here reads the clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ipfm_scheduler.i18n import _

MINUTE = timedelta(minutes=1)


class RateLimited:
    """Warnings of one kind (``what``, plural, for the summary: "quarantined messages")."""

    def __init__(self, logger: logging.Logger, what: str, per_minute: int = 10) -> None:
        self.logger = logger
        self.what = what
        self.per_minute = per_minute
        self._since: datetime | None = None
        self._logged = 0
        self.suppressed = 0  # in the current minute

    def warning(self, now: datetime, message: str, *args: object) -> None:
        self.flush(now)
        if self._since is None:
            self._since = now
        if self._logged < self.per_minute:
            self._logged += 1
            self.logger.warning(message, *args)
        else:
            self.suppressed += 1

    def flush(self, now: datetime) -> None:
        """Once the minute is over: the summary line (if lines were held back), a new minute."""
        if self._since is None or now - self._since < MINUTE:
            return
        if self.suppressed:
            self.logger.warning(
                _("... and %s more %s in the last minute"), f"{self.suppressed:,}", _(self.what)
            )
        self._since, self._logged, self.suppressed = None, 0, 0


def shown(text: str, limit: int = 120) -> str:
    """Text from the network, for a log line: at most ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
