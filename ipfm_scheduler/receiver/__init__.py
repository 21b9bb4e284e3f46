"""``ipfm-receiver``: the program on a loudspeaker cluster's box (docs/receiver.md).

:mod:`.core` is the receiver side of docs/protocol.md (pure: it never reads the clock);
:mod:`.store` what it remembers across restarts. The simulator (``ipfm-scheduler simulate``) runs
the same core with a simulated player.
"""
