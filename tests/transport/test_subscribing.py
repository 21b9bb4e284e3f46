"""Refused subscriptions are asked for again (transport/subscribing.py): often while a NATS
cluster elects new leaders after losing a node (7 s seen), then less and less often."""

from __future__ import annotations

from typing import Any

from ipfm_scheduler.transport import subscribing
from ipfm_scheduler.transport.subscribing import Subscriptions, retry_wait


class Refused:
    is_failure = True


class Taken:
    is_failure = False


def test_the_first_tries_come_every_two_seconds_then_less_often() -> None:
    waits = [retry_wait(n) for n in range(1, 12)]
    assert waits[: subscribing.RETRY_FAST] == [2.0] * subscribing.RETRY_FAST
    assert waits[subscribing.RETRY_FAST :] == [4.0, 8.0, 16.0, 30.0, 30.0]
    # within the 7 s a NATS election was seen to last, the refused filters are asked for
    # again at least three times: the first answer after it is at most 2 s late
    assert sum(waits[:3]) <= 7.0


def test_a_refused_filter_is_subscribed_again_and_a_new_connection_starts_afresh(
    monkeypatch: Any,
) -> None:
    timers: list[tuple[float, Any, tuple[Any, ...]]] = []

    class Timer:  # the retries' timers, run by hand
        def __init__(self, wait: float, fn: Any, args: tuple[Any, ...]) -> None:
            timers.append((wait, fn, args))
            self.daemon = False

        def start(self) -> None:
            pass

    monkeypatch.setattr(subscribing.threading, "Timer", Timer)
    sent: list[tuple[str, ...]] = []

    def subscribe(filters: Any) -> int:
        sent.append(tuple(filters))
        return len(sent)

    subs = Subscriptions(["a/+/+/ack", "a/+/+/status"], subscribe, lambda: True)
    subs.connected()
    assert subs.answered(1, [Taken(), Refused()], "node") == (["a/+/+/status"], False)
    for n in range(2, 5):  # refused again and again: every 2 s
        wait, fn, args = timers[-1]
        assert wait == 2.0
        fn(*args)
        assert sent[-1] == ("a/+/+/status",)
        assert subs.answered(n, [Refused()], "node") == (["a/+/+/status"], True)
    timers[-1][1](*timers[-1][2])
    assert subs.answered(5, [Taken()], "node") == ([], True)
    subs.connected()  # a new connection: every filter, and the retries count from 0
    assert sent[-1] == ("a/+/+/ack", "a/+/+/status")
    assert subs.answered(6, [Refused(), Taken()], "node") == (["a/+/+/ack"], False)
    assert timers[-1][0] == 2.0
