#!/usr/bin/env bash
# Sets up everything ipfm-scheduler needs on a Debian/Ubuntu machine, installing only what is
# missing: Debian packages (python3-venv, which brings python3 on a minimal system; ffmpeg;
# mosquitto; ca-certificates if there is no CA bundle; postgresql with --postgres) and the Python
# packages in a virtual environment at .venv. Safe to run again: it does nothing twice. It prints
# one line per step; apt's and pip's output goes to var/bootstrap.log (shown when a step fails).
#
#   scripts/bootstrap.sh              the service's needs
#   scripts/bootstrap.sh --postgres   also PostgreSQL (the test suite runs against it), and chromium
#                                     and poppler-utils (the web pages' browser tests)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

want_pg=0
[ "${1:-}" = "--postgres" ] && want_pg=1

# apt's and pip's own output (hundreds of lines) goes to a log file; the terminal gets one line per
# step, and, when a step fails, the end of the log and its path.
mkdir -p var
log="$here/var/bootstrap.log"
: > "$log"

step() {  # step "what it does" COMMAND...
  local what=$1
  shift
  echo "bootstrap: $what"
  echo "== $what: $*" >> "$log"
  if ! "$@" >> "$log" 2>&1; then
    echo "bootstrap: FAILED: $what; the end of its output (all of it: $log):" >&2
    tail -n 25 "$log" | sed 's/^/  /' >&2
    exit 1
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "bootstrap: need root (or sudo) to run: $*" >&2; return 1
  fi
}

need_python() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || {
    echo "bootstrap: ipfm-scheduler needs Python 3.11 or newer (python3 is $(python3 --version 2>&1))" >&2
    exit 1
  }
}

missing=()
# A minimal Debian (a container image, debootstrap) has no python3 at all: python3-venv brings it.
if command -v python3 >/dev/null 2>&1; then
  need_python
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
else
  missing+=(python3-venv)
fi
# pip reaches PyPI over HTTPS and trusts the system's CA bundle.
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto mosquitto-clients)
# The test suite checks the web pages in a real headless browser (chromium, driven by Playwright for
# Python: the dev extra; it uses this chromium and downloads none), and the printed report's text
# with pdftotext (poppler-utils).
if [ "$want_pg" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
  command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
  # the tests of a clustered broker start a 3-node NATS cluster of their own (tests/nats.py)
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
fi
if [ "$want_pg" = 1 ] && ! command -v pg_ctlcluster >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  step "updating the Debian package lists" \
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  step "installing Debian packages: ${missing[*]}" \
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi
need_python

stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  step "creating the virtual environment .venv" python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  step "upgrading pip in .venv" \
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  step "installing the Python packages into .venv" \
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
echo "bootstrap: ready (apt's and pip's output, if they ran: var/bootstrap.log)"
