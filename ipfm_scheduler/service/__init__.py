"""The daemon: APScheduler wiring, dispatch, make-ups, HTTP, systemd notify.

Dependencies point inwards: ``dispatcher`` and its helpers make decisions against the small
interfaces in ``ports`` (the airing log, the outbox) and ``wire`` (the wire format); ``timer``
is the only module that imports APScheduler; ``daemon`` runs the service's life and
``wiring`` plugs the real adapters in.
"""
