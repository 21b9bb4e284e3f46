"""Exit codes of every ``ipfm-scheduler`` command (documented in the README).

systemd's unit file lists ``RET_CONFIG`` in ``RestartPreventExitStatus``: a bad configuration
is not a crash, and restarting will not fix it.
"""

from __future__ import annotations

from ipfm_scheduler.errors import (
    AudioError,
    BrokerUnavailable,
    ConfigError,
    IpfmError,
    PublishError,
    ServiceNotRunning,
    StorageError,
)

RET_OK = 0
RET_FAILED = 1  # the command ran and the answer is "no" (a week is short; `audit verify`: the
# airing log's hash chain is broken, errors.LogTampered)
RET_USAGE = 2  # wrong options or arguments (click's own code)
RET_CONFIG = 3  # the configuration is invalid; nothing was started
RET_DATABASE = 4  # the database can't be reached, or its schema is out of date
RET_BROKER = 5  # the MQTT broker can't be reached
RET_AUDIO = 6  # an audio file can't be read, converted or served
RET_NO_SERVICE = 7  # the command needs the running service, and none runs
RET_INTERNAL = 70  # a bug: please report it with the log

_BY_ERROR: tuple[tuple[type[IpfmError], int], ...] = (
    (ConfigError, RET_CONFIG),
    (StorageError, RET_DATABASE),
    (BrokerUnavailable, RET_BROKER),
    (PublishError, RET_BROKER),
    (AudioError, RET_AUDIO),
    (ServiceNotRunning, RET_NO_SERVICE),
)


def exit_code_for(error: IpfmError) -> int:
    for kind, code in _BY_ERROR:
        if isinstance(error, kind):
            return code
    return RET_FAILED
