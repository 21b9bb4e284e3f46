"""Topics: built from valid ids only, and parsed strictly (anything else is a ProtocolError)."""

from __future__ import annotations

import pytest

from ipfm_scheduler.errors import ProtocolError, ValueInvalid
from ipfm_scheduler.protocol import (
    TopicKind,
    TopicRef,
    ack_topic,
    cmd_topic,
    parse_topic,
    receivers_filter,
    scheduler_filters,
    status_topic,
)


def test_topics_follow_the_spec_layout() -> None:
    assert cmd_topic("ipfm", "cam-trung", "loa-01") == "ipfm/cam-trung/loa-01/cmd"
    assert ack_topic("ipfm", "cam-trung", "loa-01") == "ipfm/cam-trung/loa-01/ack"
    assert status_topic("ipfm", "cam-trung", "loa-01") == "ipfm/cam-trung/loa-01/status"
    assert scheduler_filters("ipfm") == ("ipfm/+/+/ack", "ipfm/+/+/status")
    assert receivers_filter("qn/ipfm") == "qn/ipfm/+/+/cmd"


@pytest.mark.parametrize(
    ("ward", "receiver"), [("Cam-Trung", "loa-01"), ("cam-trung", "loa 01"), ("", "x"), ("a", "+")]
)
def test_building_a_topic_refuses_invalid_ids(ward: str, receiver: str) -> None:
    with pytest.raises(ValueInvalid):
        cmd_topic("ipfm", ward, receiver)


@pytest.mark.parametrize("prefix", ["", "ipfm/", "/ipfm", "a//b", "ipfm/#", "ip+fm", "x" * 129])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueInvalid):
        cmd_topic(prefix, "cam-trung", "loa-01")


def test_parse_topic_returns_ward_receiver_and_kind() -> None:
    ref = parse_topic("qn/ipfm", "qn/ipfm/cam-trung/loa-01/ack")
    assert ref == TopicRef("cam-trung", "loa-01", TopicKind.ACK)
    assert ref.topic("qn/ipfm") == "qn/ipfm/cam-trung/loa-01/ack"


@pytest.mark.parametrize(
    "topic",
    [
        "other/cam-trung/loa-01/ack",  # another prefix
        "ipfmx/cam-trung/loa-01/ack",  # prefix is a whole level, not a string prefix
        "ipfm/cam-trung/ack",  # too few levels
        "ipfm/cam-trung/loa-01/ack/extra",  # too many
        "ipfm/Cam-Trung/loa-01/ack",  # upper case ward
        "ipfm/cam-trung/loa 01/ack",  # space in receiver
        "ipfm/cam-trung/loa-01/acks",  # unknown kind
        "ipfm//loa-01/ack",  # empty ward
        "ipfm/" + "w" * 65 + "/loa-01/ack",  # ward id too long
    ],
)
def test_parse_topic_rejects_anything_else(topic: str) -> None:
    with pytest.raises(ProtocolError):
        parse_topic("ipfm", topic)
