#!/usr/bin/env bash
# Starts the services the test suite talks to, if they are not running: mosquitto on
# 127.0.0.1:1883 and PostgreSQL on 127.0.0.1:5432 (user postgres, no password from this host).
# Under systemd it asks systemd; without it (a container, a chroot) it starts the daemons itself.
#
#   scripts/services.sh              mosquitto and PostgreSQL (the test suite)
#   scripts/services.sh --mosquitto  mosquitto only (the demo)
set -euo pipefail
only_mosquitto=0
[ "${1:-}" = "--mosquitto" ] && only_mosquitto=1

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "services: need root (or sudo) to run: $*" >&2; exit 1
  fi
}
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 100); do answers "$1" && return 0; sleep 0.1; done
  echo "services: nothing answers on 127.0.0.1:$1 after 10 s ($2)" >&2
  return 1
}
systemd_runs() { [ -d /run/systemd/system ]; }

if ! answers 1883; then
  if [ ! -x /usr/sbin/mosquitto ]; then
    echo "services: mosquitto is not installed (scripts/bootstrap.sh installs it)" >&2
    exit 1
  fi
  echo "services: starting mosquitto"
  if systemd_runs; then
    as_root systemctl start mosquitto
  else
    # What mosquitto.service does before starting: the broker (running as user mosquitto)
    # writes its pid file in /run/mosquitto and its log in /var/log/mosquitto.
    as_root install -d -m 740 -o mosquitto /run/mosquitto /var/log/mosquitto
    as_root /usr/sbin/mosquitto -d -c /etc/mosquitto/mosquitto.conf
  fi
  wait_port 1883 mosquitto
fi
[ "$only_mosquitto" = 1 ] && exit 0

if ! answers 5432; then
  if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql)" ]; then
    echo "services: PostgreSQL is not installed (scripts/bootstrap.sh --postgres installs it)" >&2
    exit 1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "services: starting PostgreSQL $version"
  if systemd_runs; then
    as_root systemctl start "postgresql@$version-main"
  else
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  wait_port 5432 postgresql
fi
# A fresh Debian install asks for a password on TCP; the tests connect as postgres without one.
if command -v psql >/dev/null 2>&1 && ! psql -h 127.0.0.1 -U postgres -w -c 'select 1' postgres >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  echo "services: letting the postgres user in from 127.0.0.1 without a password ($hba)"
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi
