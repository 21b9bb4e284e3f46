"""ipfm-scheduler: airs the recorded Plan 179 on the IPFM loudspeakers of every ward, at least
once a week, and keeps the record that proves it."""

__version__ = "0.1.0"
