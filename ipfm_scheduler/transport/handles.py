"""What the MQTT transport (``transport/mqtt.py``) hands its callers: a publish accepted, its
PUBACK, and the last will it leaves with the broker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Publication:
    """The handle of an accepted publish: ``mid`` until its PUBACK comes (mids are reused)."""

    mid: int
    topic: str
    token: object


@dataclass(frozen=True, slots=True)
class Delivered:
    """The broker acknowledged (PUBACK) a publish: it now holds the message."""

    mid: int
    topic: str
    token: object


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for us if we vanish without saying goodbye."""

    topic: str
    payload: bytes
    retain: bool = True
