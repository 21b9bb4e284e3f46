"""Times in the logs as the people who read them live them: local to the station, with the
offset, ``2026-12-05 11:41:07+07:00``, the logging timestamp of each line included.

The commands set the logging up with :func:`configure`; the station's zone is known only once
its file is read, so the service (and ``ipfm-receiver``) name it with :func:`use_zone`. Until
then the lines carry the machine's own zone, with its offset: never an unlabelled time.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, tzinfo

from ipfm_scheduler import i18n

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_zone: tzinfo | None = None  # the station's, once known; None: the machine's


def use_zone(zone: tzinfo | None) -> None:
    """Write every later logging timestamp in ``zone`` (None: the machine's zone)."""
    global _zone  # noqa: PLW0603 - one zone for the whole process, as its logs are one
    _zone = zone


def local_text(moment: datetime, timespec: str = "minutes") -> str:
    """``moment`` (aware) as a person reads it in a log line: ``2026-12-05 11:41+07:00`` in the
    zone the moment carries (give it the station's: ``planned.local_start``)."""
    return moment.isoformat(sep=" ", timespec=timespec)


def message_time(moment: datetime, timespec: str = "minutes") -> str:
    """``moment`` inside a log message, in the language spoken: :func:`local_text` in English,
    ``05/12/2026 11:41 +07:00`` in Vietnamese (dd/mm/yyyy, :func:`i18n.datetime_text`)."""
    if i18n.language() == "en":
        return local_text(moment, timespec)
    return i18n.datetime_text(moment, seconds=timespec == "seconds")


class StationTimeFormatter(logging.Formatter):
    """A formatter whose ``%(asctime)s`` is local to the station, to the second, with offset."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created).astimezone(_zone)
        return local_text(moment, "seconds")


def configure(level: int) -> None:
    """Log to stderr at ``level``, one line per event, its time local with offset."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StationTimeFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
