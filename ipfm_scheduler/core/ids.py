"""Identifiers, as docs/protocol.md defines them."""

from __future__ import annotations

import re

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import N_, _

#: ward and receiver ids (and, in this project, programme ids): 1-64 of ``a-z 0-9 - _``
NAME_RE = re.compile(r"[a-z0-9_-]{1,64}")
#: command ids: 1-64 of ``A-Za-z0-9-_.:``
COMMAND_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

NAME_RULE = N_("1 to 64 characters of a-z, 0-9, '-' and '_'")


def is_name(value: str) -> bool:
    return NAME_RE.fullmatch(value) is not None


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a valid ward/receiver/programme id, else raise."""
    if not isinstance(value, str) or not is_name(value):
        raise ValueInvalid(
            _("{what} {value} is not a valid id ({rule})").format(
                what=_(what), value=repr(value), rule=_(NAME_RULE)
            )
        )
    return value


def check_command_id(value: str) -> str:
    if not isinstance(value, str) or COMMAND_ID_RE.fullmatch(value) is None:
        raise ValueInvalid(
            _("command id {value} is not valid (1 to 64 characters of A-Z, a-z, 0-9, -_.:)").format(
                value=repr(value)
            )
        )
    return value
