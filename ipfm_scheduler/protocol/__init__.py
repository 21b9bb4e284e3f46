"""The wire format of docs/protocol.md: topics, commands, signatures, acks (written only here).

Pure: no sockets, no clock. The scheduler side::

    payload = encode_command(PlayCommand(...), tz, signing.key_for(ward))  # store, then publish
    made = encode_plays(PlayCommand(...), tz, key, count)  # one airing's commands: [(id, bytes)]
    topic = cmd_topic(prefix, ward, receiver)
    ref = parse_topic(prefix, incoming_topic)   # ProtocolError if not one of ours
    ack = parse_ack(incoming_payload)           # ProtocolError: quarantine with str(error)

The receiver side (the simulator): :func:`verify`, :func:`parse_command`, :func:`encode_ack`,
:func:`encode_status`.
"""

from ipfm_scheduler.protocol.command_ids import new_command_ids
from ipfm_scheduler.protocol.commands import (
    STOP_ALL,
    AudioRef,
    Command,
    PlayCommand,
    StopCommand,
    command_from_object,
    encode_command,
    encode_plays,
    new_command_id,
    parse_command,
)
from ipfm_scheduler.protocol.messages import (
    Ack,
    OwnKey,
    ReceiverState,
    ReceiverStatus,
    Trust,
    encode_ack,
    encode_status,
    parse_ack,
    parse_status,
    read_ack,
    read_status,
)
from ipfm_scheduler.protocol.signing import (
    PLACEHOLDER_ID,
    PLACEHOLDER_RECEIVER,
    Verdict,
    Verification,
    keyring,
    sign,
    verify,
)
from ipfm_scheduler.protocol.topics import (
    DEFAULT_PREFIX,
    TopicKind,
    TopicRef,
    ack_topic,
    check_prefix,
    cmd_topic,
    parse_topic,
    receivers_filter,
    scheduler_filters,
    status_topic,
)
from ipfm_scheduler.protocol.wire import MAX_PAYLOAD_BYTES, VERSION, canonical

__all__ = [
    "DEFAULT_PREFIX",
    "MAX_PAYLOAD_BYTES",
    "PLACEHOLDER_ID",
    "PLACEHOLDER_RECEIVER",
    "STOP_ALL",
    "VERSION",
    "Ack",
    "AudioRef",
    "Command",
    "OwnKey",
    "PlayCommand",
    "ReceiverState",
    "ReceiverStatus",
    "StopCommand",
    "TopicKind",
    "TopicRef",
    "Trust",
    "Verdict",
    "Verification",
    "ack_topic",
    "canonical",
    "check_prefix",
    "cmd_topic",
    "command_from_object",
    "encode_ack",
    "encode_command",
    "encode_plays",
    "encode_status",
    "keyring",
    "new_command_id",
    "new_command_ids",
    "parse_ack",
    "parse_command",
    "parse_status",
    "parse_topic",
    "read_ack",
    "read_status",
    "receivers_filter",
    "scheduler_filters",
    "sign",
    "status_topic",
    "verify",
]
