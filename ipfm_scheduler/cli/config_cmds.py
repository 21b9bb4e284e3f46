"""Commands for ward staff and technicians: validate, plan, schema (foundation issue)."""

from __future__ import annotations
