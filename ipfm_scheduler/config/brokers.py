"""``mqtt.url``: one broker URL, or a list of them (the nodes of a clustered broker, or a pair
of mosquitto brokers bridged to each other), tried in order on connect and on reconnect
(docs/configuration.md, docs/deployment.md). Each URL is checked where it is written: a problem
names its own line."""

from __future__ import annotations

import yaml

from ipfm_scheduler.config import addresses as adr
from ipfm_scheduler.config.kinds import TEXT
from ipfm_scheduler.config.nodes import Node
from ipfm_scheduler.config.reader import INVALID, FileReader, Invalid, Kind, item, quote
from ipfm_scheduler.i18n import N_, _

MAX_BROKERS = 16

#: what ``mqtt.url`` reads into: each URL as written, with its address
Brokers = tuple[tuple[str, adr.BrokerAddress], ...]


def _one(r: FileReader, node: Node, path: str) -> tuple[str, adr.BrokerAddress] | Invalid:
    text = TEXT.read(r, node, path)
    if not isinstance(text, str):
        return INVALID
    try:
        return text, adr.broker_address(text)
    except adr.Unusable as exc:
        return r.problem(node, path, str(exc))


def read_brokers(r: FileReader, node: Node, path: str) -> Brokers | Invalid:
    """One URL (a text) or a list of 1 to ``MAX_BROKERS`` of them, all ``mqtt://`` or all
    ``mqtts://``, none named twice."""
    if not isinstance(node, yaml.SequenceNode):
        one = _one(r, node, path)
        return INVALID if isinstance(one, Invalid) else (one,)
    if not node.value:
        return r.problem(
            node, path, _("is empty; expected {expected}").format(expected=BROKERS.words)
        )
    if len(node.value) > MAX_BROKERS:
        return r.problem(
            node,
            path,
            _("{count} brokers: at most {most} may be listed").format(
                count=len(node.value), most=MAX_BROKERS
            ),
        )
    found: list[tuple[str, adr.BrokerAddress]] = []
    seen: dict[tuple[str, int], int] = {}
    for index, sub in enumerate(node.value, 1):
        one = _one(r, sub, item(path, index))
        if isinstance(one, Invalid):
            continue
        text, address = one
        where = (address.host.lower(), address.port)
        if where in seen:
            r.problem(
                sub,
                item(path, index),
                _("{url} is already in the list (item {first})").format(
                    url=quote(adr.redacted(text)), first=seen[where]
                ),
            )
            continue
        if found and address.tls != found[0][1].tls:
            r.problem(
                sub,
                item(path, index),
                _(
                    "{url}: every broker of the list is reached the same way, all mqtt:// or "
                    "all mqtts://"
                ).format(url=quote(adr.redacted(text))),
            )
            continue
        seen[where] = index
        found.append(one)
    if len(found) < len(node.value):
        return INVALID
    return tuple(found)


BROKERS = Kind(
    N_("a broker URL, or a list of at most {most} broker URLs"),
    read_brokers,
    {
        "anyOf": [
            TEXT.schema,
            {"type": "array", "minItems": 1, "maxItems": MAX_BROKERS, "items": TEXT.schema},
        ]
    },
    fill={"most": MAX_BROKERS},
)
