"""The daemon: APScheduler wiring, dispatch, make-ups, systemd notify (and, from the audio
branch, the HTTP server and metrics).

Dependencies point inwards: ``dispatcher`` and its helpers make decisions against the small
interfaces in ``ports`` (the airing log, the outbox transport, the payload builder); ``timer``
is the only module that imports APScheduler; ``daemon`` wires the real adapters together.
"""
