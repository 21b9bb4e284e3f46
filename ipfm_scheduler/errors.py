"""One error tree for the whole project.

Every error the project raises on purpose is an :class:`IpfmError`. Messages are built inside
the classes, in words a technician or ward staff member understands. Adapters translate
third-party exceptions into these with ``raise ... from exc``; only the CLI turns them into exit
codes (see :mod:`ipfm_scheduler.cli.exitcodes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ipfm_scheduler.i18n import N_, _, ngettext


class IpfmError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One mistake in one configuration file, pointing at its line and column.

    ``line`` and ``column`` are 1-based; 0 means the problem concerns the whole file.
    ``path`` is the key path inside the file, such as ``airings[1].at`` (empty for the file).
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line <= 0 else f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(IpfmError):
    """The configuration is invalid: carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        count = len(self.problems)
        head = ngettext(
            "{count} problem in the configuration:", "{count} problems in the configuration:", count
        ).format(count=count)
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class ConfigRejected(ConfigError):
    """The configuration is invalid and its problems have already been shown (by `validate`,
    `plan`): the message is a one-line summary instead of the whole list."""

    def __init__(self, problems: Iterable[ConfigProblem], summary: str) -> None:
        super().__init__(problems)
        self.args = (summary,)


class StationUnusable(ConfigError):
    """A command cannot get what it needs from the station file; every problem is listed.

    ``needs`` says what the command wanted from it, ``hint`` what else the user may do.
    """

    def __init__(
        self, problems: Iterable[ConfigProblem], station: str, needs: str, hint: str = ""
    ) -> None:
        super().__init__(problems)
        count = len(self.problems)
        also = f"; {hint}" if hint else ""
        head = ngettext(
            "the station file {station} cannot give {needs} ({count} problem{also}):",
            "the station file {station} cannot give {needs} ({count} problems{also}):",
            count,
        ).format(station=station, needs=needs, count=count, also=also)
        self.args = ("\n".join([head, *(f"  {p}" for p in self.problems)]),)


class ValueInvalid(IpfmError, ValueError):
    """A core value was built from invalid parts (raised by the values themselves)."""


class StorageError(IpfmError):
    """The database could not be reached or did not answer as expected."""


class SchemaOutOfDate(StorageError):
    """The database schema is older (or newer) than this program."""

    def __init__(self, current: str | None, expected: str, url: str) -> None:
        self.current = current
        self.expected = expected
        shown = current or _("empty (no schema yet)")
        super().__init__(
            _(
                "the database {url} is at schema version {current}, this program needs "
                "{expected}; run `ipfm-scheduler db upgrade` first"
            ).format(url=url, current=shown, expected=expected)
        )


class SchemaTooNew(SchemaOutOfDate):
    """The database was upgraded by a newer ipfm-scheduler than this one."""

    def __init__(self, current: str, expected: str, url: str) -> None:
        self.current = current
        self.expected = expected
        StorageError.__init__(
            self,
            _(
                "the database {url} is at schema version {current}, which this ipfm-scheduler "
                "does not know (it needs {expected}): a newer version upgraded it; run that version"
            ).format(url=url, current=current, expected=expected),
        )


class PublishError(IpfmError):
    """A message could not be handed to the MQTT broker."""


class BrokerUnavailable(PublishError):
    """The MQTT broker could not be reached."""


class PublishBusy(PublishError):
    """Too many publishes await the broker's acknowledgement: nothing was sent, try later."""


class NotAirable(IpfmError):
    """A planned airing can't be turned into commands (its programme has no audio).

    Its text is stored (a manual request's refusal) in English; :meth:`shown` is the same in
    the language spoken, for the log."""

    TEXT = N_(
        "ward {ward}: programme {programme} has no audio in the configuration; airing at {at} "
        "not sent"
    )

    def __init__(self, ward: str, programme: str, at: str) -> None:
        self.ward, self.programme, self.at = ward, programme, at
        super().__init__(self.TEXT.format(ward=ward, programme=programme, at=at))

    def shown(self) -> str:
        return _(self.TEXT).format(ward=self.ward, programme=self.programme, at=self.at)


class ProtocolError(IpfmError):
    """A message from a receiver does not follow docs/protocol.md."""


class AudioError(IpfmError):
    """An audio file could not be read, converted or served."""


class HttpUnavailable(IpfmError):
    """The service's HTTP server cannot listen on its configured address."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        super().__init__(
            _(
                "cannot serve HTTP on {host}:{port}: {reason} (is another ipfm-scheduler "
                "running? else change http.port in the station file)"
            ).format(host=host, port=port, reason=reason)
        )


class CheckFailed(IpfmError):
    """A checking command ran and found problems (exit code 1, ``RET_FAILED``)."""


class NotCompliant(IpfmError):
    """The record answers "no": a week is short, or nothing is recorded for it (exit 1)."""


class LogTampered(IpfmError):
    """`audit verify`: the airing log's hash chain is broken, so rows were changed, deleted or
    inserted after the service wrote them (exit code 1, ``RET_FAILED``)."""

    def __init__(self, breaks: Sequence[str]) -> None:
        self.breaks = tuple(breaks)
        tables = "; ".join(self.breaks)
        super().__init__(
            _(
                "the airing log is NOT intact: rows were changed, deleted or inserted after they "
                "were recorded ({tables})"
            ).format(tables=tables)
        )


class ServiceNotRunning(IpfmError):
    """A command needs the running service, and none is running."""


class ServiceAlreadyRunning(IpfmError):
    """Another service runs on the same airing log: a second one would send every command
    twice (exit code 1, ``RET_FAILED``: the answer to "may I start?" is no)."""


class NotLeading(StorageError):
    """A service that no longer leads (another took over, or its lease ran out) tried to store or
    publish: refused, so that two services never both send (docs/service.md). ``epoch``: the one
    a store was fenced with; None: a publish, stopped by the leader's own clock."""

    def __init__(self, epoch: int | None) -> None:
        if epoch is None:
            text = _("this service does not lead now: nothing published")
        else:
            text = _("this service does not lead in epoch {epoch}: nothing stored").format(
                epoch=epoch
            )
        super().__init__(text)
        self.epoch = epoch


def join_problems(problems: Sequence[ConfigProblem]) -> str:
    """Render problems one per line, as `validate` prints them."""
    return "\n".join(str(p) for p in problems)
