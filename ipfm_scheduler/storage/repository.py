"""The repository the service records everything through: one transaction per method.

Split by concern into mixins (one file each); :class:`Repository` is all of them together::

    engine = open_engine(url)
    require_current(engine)
    repo = Repository(engine)
"""

from __future__ import annotations

from ipfm_scheduler.storage.repo_answers import AnswerRepository
from ipfm_scheduler.storage.repo_service import ServiceRepository


class Repository(AnswerRepository, ServiceRepository):
    """Configuration snapshots, airings, commands, acks, receivers' status, week closures,
    manual requests and service heartbeats (see the mixins for each method), with batch
    versions of the service's hot paths (``repo_batch``, ``repo_answers``)."""


__all__ = ["Repository"]
