"""A box's login on a locked broker, for ``receiver-config``: its user (``WARD.RECEIVER``) and
password from the folder ``broker-config`` wrote, and the broker's CA certificate
(docs/deployment.md "A locked broker")."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import click

from ipfm_scheduler.i18n import _
from ipfm_scheduler.transport.broker_access import (
    USERS_DIR,
    PasswordStore,
    receiver_user,
    write_private,
)

#: the names of the box's password and CA files, beside its receiver.yaml
PASSWORD_FILE = "broker.password"
CA_NAME = "ca.crt"


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """What a box needs to log in: its user and password (from ``source``), the broker's CA."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    source: Path | None = None
    ca_file: Path | None = None


def broker_login(
    broker_dir: Path | None, ward: str, receiver: str, ca_file: Path | None
) -> BrokerLogin | None:
    """The login of ``ward``/``receiver`` from ``broker_dir`` (None: no user), with
    ``ca_file``; None when there is neither."""
    if broker_dir is None:
        return BrokerLogin(ca_file=ca_file) if ca_file is not None else None
    store = PasswordStore(broker_dir / USERS_DIR)
    user = receiver_user(ward, receiver)
    password = store.get(user)
    if password is None:
        raise click.ClickException(
            _(
                "{folder} has no password for {user}: run ipfm-scheduler broker-config "
                "-o {out} again (it makes the missing ones, and keeps the others)"
            ).format(folder=store.folder, user=user, out=broker_dir)
        )
    return BrokerLogin(user, password, store.path(user), ca_file)


def mqtt_login_lines(login: BrokerLogin | None) -> list[str]:
    """The lines of receiver.yaml's mqtt section that log the box in."""
    if login is None or login.user is None:
        lines = [
            "  # username: ...            # if the broker asks for one",
            f"  # password_file: {PASSWORD_FILE}",
        ]
    else:
        lines = [f"  username: {login.user}", f"  password_file: {PASSWORD_FILE}"]
    if login is not None and login.ca_file is not None:
        lines.append(f"  ca_file: {CA_NAME}")
    return lines


def write_login(out: Path, login: BrokerLogin | None) -> None:
    """The password file (0600) and the CA certificate beside ``out``."""
    if login is None:
        return
    try:
        if login.password is not None:
            write_private(out.with_name(PASSWORD_FILE), login.password + "\n")
            click.echo(_("wrote {path} (0600)").format(path=out.with_name(PASSWORD_FILE)), err=True)
        if login.ca_file is not None:
            target = out.with_name(CA_NAME)
            if not (target.exists() and target.samefile(login.ca_file)):
                shutil.copyfile(login.ca_file, target)
            click.echo(
                _("wrote {path} (the broker's CA certificate)").format(path=target), err=True
            )
    except OSError as exc:
        raise click.ClickException(
            _("can't write {filename}: {strerror}").format(
                filename=exc.filename, strerror=exc.strerror
            )
        ) from exc


def advise_login(login: BrokerLogin | None, url: str, out: Path | None) -> None:
    tls = url.startswith("mqtts://")
    if login is not None and login.user is not None and not tls:
        click.echo(
            _(
                "note: {url} is not TLS: the box's password would cross the network in clear; "
                "give --broker mqtts://ADDRESS:8883"
            ).format(url=url),
            err=True,
        )
    if tls and (login is None or login.ca_file is None):
        click.echo(
            _(
                "note: no --ca-file (and none in the station file): the box checks the broker's "
                "certificate against its system's CAs only"
            ),
            err=True,
        )
    if out is None and login is not None:
        copy = _("{name} (copy {path})")
        needs = [copy.format(name=PASSWORD_FILE, path=login.source)] if login.source else []
        needs += [copy.format(name=CA_NAME, path=login.ca_file)] if login.ca_file else []
        click.echo(
            _("note: the box also needs {files}: use -o FILE").format(files=_(" and ").join(needs)),
            err=True,
        )
