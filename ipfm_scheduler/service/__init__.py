"""The daemon: APScheduler wiring, dispatch, make-ups, HTTP, systemd notify."""
