"""``ipfm-scheduler broker-config``: a locked mosquitto (TLS, no anonymous client, a password
and an access list per receiver) from the station and ward files (docs/deployment.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.cli.root import cli
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.reader import suggestion
from ipfm_scheduler.config.settings import StationConfig
from ipfm_scheduler.core.model import Schedule
from ipfm_scheduler.errors import StationUnusable, ValueInvalid
from ipfm_scheduler.i18n import N_, _, ngettext
from ipfm_scheduler.transport import broker_access as access
from ipfm_scheduler.transport.broker_access import BrokerUser, PasswordStore, TlsListener

#: where the TLS files are named when no option gives them: the technician puts them there
PLACEHOLDERS = {
    "cafile": Path("/etc/mosquitto/certs/ca.crt"),
    "certfile": Path("/etc/mosquitto/certs/server.crt"),
    "keyfile": Path("/etc/mosquitto/certs/server.key"),
}
WHAT_TLS = {
    "cafile": N_("the CA certificate that signed the broker's"),
    "certfile": N_("the broker's certificate"),
    "keyfile": N_("the broker's private key"),
}


F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Passwords:
    """What writing the files did to the passwords."""

    hashes: dict[str, str] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _tls_option(name: str) -> Callable[[F], F]:
    return click.option(
        f"--{name}",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"{WHAT_TLS[name][0].upper()}{WHAT_TLS[name][1:]} (PEM), as the broker's machine "
        f"has it. Default: the placeholder {PLACEHOLDERS[name]}.",
    )


@cli.command("broker-config")
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write into (made if missing; keep it: it holds the clear passwords).",
)
@_tls_option("cafile")
@_tls_option("certfile")
@_tls_option("keyfile")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8883,
    show_default=True,
    help="The TLS listener's port.",
)
@click.option("--bind", default=None, help="Listen on this address only (default: every one).")
@click.option(
    "--installed-at",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The folder passwd and acl will be in on the broker's machine (default: the -o folder).",
)
@click.option(
    "--rotate",
    multiple=True,
    metavar="USER|all",
    help="Give this user (WARD.RECEIVER, or the service's) a new password; `all`: every user. "
    "Without it, every existing password is kept. Repeatable.",
)
@click.pass_obj
def broker_config(
    opts: Options,
    *,
    out: Path,
    cafile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
    port: int,
    bind: str | None,
    installed_at: Path | None,
    rotate: tuple[str, ...],
) -> None:
    """Write a locked mosquitto's files into the -o folder: mosquitto.conf (one TLS listener,
    no anonymous client), passwd (one user per receiver of every ward file, and the service's,
    hashed as mosquitto_passwd does), acl (each receiver reads only its own cmd topic and writes
    only its own ack and status; the service writes commands and reads answers) and
    users/NAME.password (the clear passwords, for receiver-config --broker-dir and the station
    file). Every file is 0600. Run it again after adding receivers: existing passwords are kept
    unless --rotate."""
    path = opts.station_path()
    loaded = load(path, today=date.today(), secrets=False)
    if not loaded.ok or loaded.station is None or loaded.schedule is None:
        raise StationUnusable(
            loaded.problems, str(path), "every ward's receivers", "run ipfm-scheduler validate"
        )
    station = loaded.station
    users = _users(station, loaded.schedule)
    renew = _rotated(rotate, [u.name for u in users])
    given = {"cafile": cafile, "certfile": certfile, "keyfile": keyfile}
    tls = {k: (v.absolute() if v is not None else PLACEHOLDERS[k]) for k, v in given.items()}
    try:
        listener = TlsListener(tls["cafile"], tls["certfile"], tls["keyfile"], port, bind)
    except ValueInvalid as exc:
        raise click.UsageError(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    store = PasswordStore(out / access.USERS_DIR)
    passwords = _passwords(users, store, out / "passwd", renew)
    wards = len(loaded.schedule.wards)
    header = (
        f"written by ipfm-scheduler broker-config from {path.name}: the service and "
        f"{len(users) - 1} receivers of {wards} ward{'s' * (wards != 1)}\n"
        "(docs/deployment.md). Don't edit it: run broker-config again (passwords are kept)."
    )
    _write_files(
        out,
        (installed_at or out).absolute(),
        users,
        passwords=passwords,
        listener=listener,
        header=header,
    )
    _report(out, users, passwords, store)
    _advise(station, users[0], store, listener, placeholders=[k for k, v in given.items() if not v])


def _write_files(
    out: Path,
    home: Path,
    users: list[BrokerUser],
    *,
    passwords: Passwords,
    listener: TlsListener,
    header: str,
) -> None:
    """passwd, acl and mosquitto.conf (which names passwd and acl in ``home``)."""
    _write(out / "passwd", access.render_passwords(users, passwords.hashes))
    _write(out / "acl", access.render_acl(users, header))
    conf = access.render_conf(
        listener, password_file=home / "passwd", acl_file=home / "acl", header=header
    )
    _write(out / "mosquitto.conf", conf)


def _users(station: StationConfig, schedule: Schedule) -> list[BrokerUser]:
    pairs = [(w.id, r.id) for w in schedule.wards.values() for r in w.receivers]
    try:
        return access.access_for(
            station.mqtt.topic_prefix, pairs, station.mqtt.username or access.SERVICE_USER
        )
    except ValueInvalid as exc:
        raise click.ClickException(
            _("{file}: mqtt.username: {problem}").format(file=station.path.name, problem=exc)
        ) from exc


def _rotated(asked: tuple[str, ...], names: list[str]) -> set[str]:
    if "all" in asked:
        return set(names)
    for name in asked:
        if name not in names:
            raise click.BadParameter(
                _(
                    "there is no broker user {name}{suggestion} (a receiver's is "
                    "WARD.RECEIVER, such as cam-trung.loa-01; or write all)"
                ).format(name=repr(name), suggestion=suggestion(name, names)),
                param_hint="--rotate",
            )
    return set(asked)


def _passwords(
    users: list[BrokerUser], store: PasswordStore, passwd: Path, renew: set[str]
) -> Passwords:
    """Each user's hash: the one already written while it still matches the kept password (so
    the files stay the same when nothing changed), else a new hash; a new password only for a
    new user or one in ``renew``."""
    try:
        written = access.read_password_file(passwd.read_text(encoding="utf-8"))
    except FileNotFoundError:
        written = {}
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(
            _("can't read {path}: {problem}").format(path=passwd, problem=exc)
        ) from exc
    done = Passwords()
    for user in users:
        password = None if user.name in renew else store.get(user.name)
        if password is None:
            password = access.new_password()
            with _writing():
                store.put(user.name, password)
            done.made.append(user.name)
        else:
            done.kept.append(user.name)
        old = written.get(user.name, "")
        keep = old and access.password_matches(password, old)
        done.hashes[user.name] = old if keep else access.hash_password(password)
    return done


def _write(path: Path, text: str) -> None:
    with _writing():
        access.write_private(path, text)


@contextmanager
def _writing() -> Iterator[None]:
    """A file that can't be written: a plain message (exit code 1)."""
    try:
        yield
    except OSError as exc:
        raise click.ClickException(
            _("can't write {filename}: {strerror}").format(
                filename=exc.filename, strerror=exc.strerror
            )
        ) from exc


def _report(out: Path, users: list[BrokerUser], passwords: Passwords, store: PasswordStore) -> None:
    click.echo(
        ngettext(
            "wrote {conf}, {passwd} ({count} user) and {acl}, all 0600; the clear passwords "
            "are in {folder}/ (0600): keep that folder on this machine",
            "wrote {conf}, {passwd} ({count} users) and {acl}, all 0600; the clear passwords "
            "are in {folder}/ (0600): keep that folder on this machine",
            len(users),
        ).format(
            conf=out / "mosquitto.conf",
            passwd=out / "passwd",
            count=len(users),
            acl=out / "acl",
            folder=store.folder,
        ),
        err=True,
    )
    made, kept = passwords.made, passwords.kept
    if made:
        more = _(" and {count} more").format(count=len(made) - 5) if len(made) > 5 else ""
        shown = ", ".join(made[:5]) + more
        click.echo(
            _("new passwords: {count} ({names})").format(count=len(made), names=shown), err=True
        )
    if kept:
        click.echo(_("kept passwords: {count}").format(count=len(kept)), err=True)
    gone = sorted(set(store.users()) - {u.name for u in users})
    if gone:
        click.echo(
            _(
                "note: no longer in any ward file, so not in passwd: {names} (their files in "
                "{folder}/ are kept)"
            ).format(
                names=", ".join(gone[:10]) + (" ..." if len(gone) > 10 else ""),
                folder=store.folder,
            ),
            err=True,
        )


def _advise(
    station: StationConfig,
    service: BrokerUser,
    store: PasswordStore,
    listener: TlsListener,
    *,
    placeholders: list[str],
) -> None:
    for name in placeholders:
        click.echo(
            _(
                "note: no --{option}: mosquitto.conf names {path} as {what}: put the file there "
                "(or run again with the option)"
            ).format(option=name, path=PLACEHOLDERS[name], what=_(WHAT_TLS[name])),
            err=True,
        )
    host = listener.bind or station.mqtt.host
    click.echo(
        _(
            "The station file's mqtt section, for the service (HOST: the broker's name in its "
            "certificate):"
        ),
        err=True,
    )
    click.echo(  # i18n: verbatim (YAML to paste into the station file)
        "mqtt:\n"
        f"  url: mqtts://{host}:{listener.port}\n"
        f"  topic_prefix: {station.mqtt.topic_prefix}\n"
        f"  username: {service.name}\n"
        f"  password_file: {store.path(service.name).absolute()}\n"
        f"  ca_file: {listener.cafile}"
    )
    click.echo(
        _(
            "Each box: ipfm-scheduler receiver-config --ward WARD --receiver RECEIVER --broker "
            "mqtts://HOST:{port} --ca-file CA --broker-dir {folder} -o ..."
        ).format(port=listener.port, folder=store.folder.parent),
        err=True,
    )
