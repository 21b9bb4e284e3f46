#!/usr/bin/env bash
# The test suite: sets up what is missing, starts mosquitto and PostgreSQL if they are not
# running, then ruff, mypy and pytest. The slow end-to-end cases (marked `slow`: real-time plays,
# two services taking over from each other, a NATS cluster losing nodes) run when CI=true (as
# .ci/run sets it) or with --all; without, the rest runs in under 10 minutes on 2 cores.
#
#   bash scripts/test.sh [--all] [pytest arguments]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/bootstrap.sh --postgres
bash scripts/services.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
only=(-m "not slow")
if [ "${1:-}" = --all ]; then
  only=()
  shift
elif [ "${CI:-}" = true ]; then
  only=()
fi
if [ "${#only[@]}" -gt 0 ]; then
  echo "test: the slow end-to-end cases are left out (bash scripts/test.sh --all, or CI=true, runs them)"
fi
.venv/bin/python -m pytest "${only[@]}" "$@"
