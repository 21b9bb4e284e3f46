"""The pure core: stations, wards, receivers, windows, programmes, ISO weeks, expansion of a
schedule into airings, the weekly-minimum rule and the command state machine.

It imports nothing else of ours, does no I/O and never reads the clock: anything that depends on
time takes ``now`` (or a date range) as an argument.
"""
