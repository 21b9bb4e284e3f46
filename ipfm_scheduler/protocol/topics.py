"""MQTT topics of docs/protocol.md: ``PREFIX/WARD/RECEIVER/{cmd,ack,status}``.

Building a topic checks the ids (core/ids.py) and raises ``ValueInvalid`` on our own mistakes;
:func:`parse_topic` reads a topic that arrived from the broker and raises ``ProtocolError`` for
anything that is not exactly one of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ipfm_scheduler.core.ids import NAME_RULE, check_name, is_name
from ipfm_scheduler.errors import ProtocolError, ValueInvalid
from ipfm_scheduler.i18n import _

DEFAULT_PREFIX = "ipfm"
MAX_PREFIX_CHARS = 128


class TopicKind(StrEnum):
    """The last level of a receiver topic."""

    CMD = "cmd"  # scheduler -> receiver: commands (QoS 1, never retained)
    ACK = "ack"  # receiver -> scheduler: acknowledgements (QoS 1)
    STATUS = "status"  # receiver -> scheduler: online/offline (QoS 1, retained, last will)


@dataclass(frozen=True, slots=True)
class TopicRef:
    """Whom a topic speaks for: one receiver of one ward, and which of its three topics."""

    ward: str
    receiver: str
    kind: TopicKind

    def __post_init__(self) -> None:
        check_name(self.ward, "ward id")
        check_name(self.receiver, "receiver id")

    def topic(self, prefix: str) -> str:
        return topic_for(prefix, self.ward, self.receiver, self.kind)


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start our topics: no wildcards, no empty level."""
    if not isinstance(prefix, str) or not prefix or len(prefix) > MAX_PREFIX_CHARS:
        raise ValueInvalid(
            _("topic prefix {prefix} must be 1 to {limit} characters").format(
                prefix=repr(prefix), limit=MAX_PREFIX_CHARS
            )
        )
    bad = [ch for ch in "+#\0" if ch in prefix]
    if bad:
        raise ValueInvalid(
            _("topic prefix {prefix} must not contain {characters}").format(
                prefix=repr(prefix), characters=" ".join(bad)
            )
        )
    if "" in prefix.split("/"):
        raise ValueInvalid(
            _("topic prefix {prefix} has an empty level (a leading, trailing or '//')").format(
                prefix=repr(prefix)
            )
        )
    return prefix


def topic_for(prefix: str, ward: str, receiver: str, kind: TopicKind) -> str:
    check_prefix(prefix)
    check_name(ward, "ward id")
    check_name(receiver, "receiver id")
    return f"{prefix}/{ward}/{receiver}/{kind.value}"


def cmd_topic(prefix: str, ward: str, receiver: str) -> str:
    """Where the scheduler sends ``ward``/``receiver`` its commands."""
    return topic_for(prefix, ward, receiver, TopicKind.CMD)


def ack_topic(prefix: str, ward: str, receiver: str) -> str:
    """Where ``ward``/``receiver`` acknowledges commands."""
    return topic_for(prefix, ward, receiver, TopicKind.ACK)


def status_topic(prefix: str, ward: str, receiver: str) -> str:
    """Where ``ward``/``receiver`` says it is online or offline (retained; its last will)."""
    return topic_for(prefix, ward, receiver, TopicKind.STATUS)


def scheduler_filters(prefix: str) -> tuple[str, str]:
    """What the scheduler subscribes to: every receiver's acks and statuses."""
    check_prefix(prefix)
    return (f"{prefix}/+/+/{TopicKind.ACK.value}", f"{prefix}/+/+/{TopicKind.STATUS.value}")


def receivers_filter(prefix: str) -> str:
    """What a process playing many receivers (the simulator) subscribes to: every cmd topic."""
    check_prefix(prefix)
    return f"{prefix}/+/+/{TopicKind.CMD.value}"


def parse_topic(prefix: str, topic: str) -> TopicRef:
    """Ward, receiver and kind of a topic that arrived from the broker.

    Raises ``ProtocolError`` unless ``topic`` is exactly ``PREFIX/WARD/RECEIVER/KIND`` with valid
    ids and a known kind.
    """
    if not isinstance(topic, str):
        raise ProtocolError(f"topic {topic!r} is not text")  # i18n: stored
    head = prefix + "/"
    if not topic.startswith(head):
        raise ProtocolError(f"topic {topic[:200]!r} is not under {prefix}/")  # i18n: stored
    levels = topic[len(head) :].split("/")
    if len(levels) != 3:
        raise ProtocolError(
            f"topic {topic[:200]!r} is not {prefix}/WARD/RECEIVER/(cmd|ack|status)"
        )  # i18n: stored
    ward, receiver, kind = levels
    for value, what in ((ward, "ward"), (receiver, "receiver")):
        if not is_name(value):
            raise ProtocolError(
                f"topic {topic[:200]!r}: {what} id {value[:80]!r} is not valid ({NAME_RULE})"
            )  # i18n: stored
    try:
        return TopicRef(ward, receiver, TopicKind(kind))
    except ValueError:
        raise ProtocolError(
            f"topic {topic[:200]!r}: {kind[:40]!r} is not one of cmd, ack, status"
        ) from None  # i18n: stored
