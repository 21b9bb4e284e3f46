"""Manual and emergency airings queued by ``ipfm-scheduler air``, as the service takes them:
each request taken ends done, refused or queued again, with the reason (the decisions are in
``core/manual.py``; this is the part that reads and writes the airing log)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from ipfm_scheduler.core import manual as rules
from ipfm_scheduler.errors import IpfmError, StorageError
from ipfm_scheduler.i18n import _
from ipfm_scheduler.logtime import local_text
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.dispatch import order
from ipfm_scheduler.service.ports import (
    AiringLog,
    AiringToStore,
    ManualRequest,
    RequestState,
    StoredAiring,
)

log = logging.getLogger(__name__)

Store = Callable[[Sequence[AiringToStore], datetime], list[StoredAiring]]


class RequestDesk:
    def __init__(self, airing_log: AiringLog) -> None:
        self.log = airing_log
        self._stale_checked: datetime | None = None

    def take(self, plan: Plan, store: Store, now: datetime) -> int:
        """Handle airings queued by ``ipfm-scheduler air``; returns how many were taken.

        Each request taken is finished as done or refused (with the reason, logged at WARNING,
        which ``air`` prints and ``status`` lists), also when ordering or storing its airing
        raises. Only a database error while storing puts it back in the queue, to be tried on
        the next tick, for ``rules.RETRY_FOR`` after it was queued (see ``core/manual.py``).
        """
        self._settle_stale(plan, now)
        taken = self.log.take_requests(now)
        for request in taken:
            decision = rules.decide(request, plan.schedule, now)
            if decision.planned is None:
                log.warning("%s", decision.refusal)
                self.log.finish_request(
                    request.id,
                    state=RequestState.REFUSED,
                    message=decision.refusal,
                    airing_id=None,
                    now=now,
                )
                continue
            note = f"requested by {request.requested_by or 'unknown'} (request #{request.id})"
            try:
                item = order(
                    plan,
                    decision.planned,
                    receivers=decision.receivers,
                    now=now,
                    priority=request.priority,
                    note=note,
                )
                (stored,) = store([replace(item, request_id=request.id)], now)
            except Exception as exc:
                self._request_failed(request, exc, now)
                continue
            message = _request_done(item, stored)
            self.log.finish_request(
                request.id,
                state=RequestState.DONE,
                message=message,
                airing_id=stored.airing_id,
                now=now,
            )
            log.info(_("request #%d: %s"), request.id, message)
        return len(taken)

    def _settle_stale(self, plan: Plan, now: datetime) -> None:
        """Finish the requests a service took and never finished (killed, or its database gone
        between storing the airing and noting the outcome): done if their airing was stored,
        else refused, saying so. Checked at most once every ``rules.STALE_CHECK``."""
        if self._stale_checked is not None and now - self._stale_checked < rules.STALE_CHECK:
            return
        self._stale_checked = now
        for stale in self.log.stale_requests(now - rules.TAKEN_LEASE):
            state, message = rules.settle_stale(stale, plan.schedule)
            log.warning("%s", message)
            self.log.finish_request(
                stale.request.id,
                state=state,
                message=message,
                airing_id=stale.airing_id,
                now=now,
            )

    def _request_failed(self, request: ManualRequest, exc: Exception, now: datetime) -> None:
        """Queue ``request`` again after a database error (for a while), else refuse it."""
        if isinstance(exc, StorageError) and rules.retry(request, now):
            log.warning(
                _("request #%d: its airing could not be stored (%s); queued again"),
                request.id,
                exc,
            )
            self.log.finish_request(
                request.id,
                state=RequestState.QUEUED,
                message=f"queued again: its airing could not be stored: {exc}",
                airing_id=None,
                now=now,
            )
            return
        refusal = rules.failed(request, exc)
        log.warning("%s", refusal, exc_info=not isinstance(exc, IpfmError))  # a bug: its trace
        self.log.finish_request(
            request.id, state=RequestState.REFUSED, message=refusal, airing_id=None, now=now
        )


def _request_done(item: AiringToStore, stored: StoredAiring) -> str:
    planned = item.planned
    text = (
        f"airing #{stored.airing_id}: {planned.programme} in {planned.ward} at "
        f"{local_text(planned.local_start, 'seconds')} ({item.priority.value}), "
        f"{stored.commands_added} receiver(s) commanded"
    )
    if not stored.created:
        text += "; joined the airing already planned at that time"
    return text
