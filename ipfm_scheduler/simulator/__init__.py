"""Simulated receivers that follow docs/protocol.md (for technicians trying a
setup, and for the service's end-to-end tests).

    sim = Simulator(settings, [("cam-trung", "loa-01")], Behaviour(fail_rate=0.1, seed=7))
    sim.start()          # connects; every receiver publishes a retained `online` status
    ...                  # commands on PREFIX/WARD/RECEIVER/cmd are answered on .../ack
    sim.stop()           # retained `offline` statuses, then disconnect

Each simulated receiver (``playback.SimBox``) is the real receiver core
(:mod:`ipfm_scheduler.receiver.core`) with a simulated player; ``runner.Simulator`` does the MQTT.
"""

from ipfm_scheduler.clock import Clock, ManualClock, SystemClock
from ipfm_scheduler.receiver.core import FetchResult, Outcome, Wakeup
from ipfm_scheduler.simulator.playback import Behaviour, SimBox, TimeMode
from ipfm_scheduler.simulator.runner import (
    Handled,
    HttpFetch,
    Simulator,
    parse_pairs,
    receivers_of,
)

__all__ = [
    "Behaviour",
    "Clock",
    "FetchResult",
    "Handled",
    "HttpFetch",
    "ManualClock",
    "Outcome",
    "SimBox",
    "Simulator",
    "SystemClock",
    "TimeMode",
    "Wakeup",
    "parse_pairs",
    "receivers_of",
]
