#!/usr/bin/env bash
# Starts the services the test suite talks to, if they are not running: mosquitto on
# 127.0.0.1:1883 and PostgreSQL on 127.0.0.1:5432 (user postgres, no password from this host).
set -euo pipefail

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

if ! answers 1883; then
  echo "services: starting mosquitto"
  as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_port 1883 mosquitto
fi

if ! answers 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
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
