#!/usr/bin/env bash
# The whole test suite, as CI runs it: sets up what is missing, starts mosquitto and PostgreSQL
# if they are not running, then ruff, mypy and pytest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/bootstrap.sh --postgres
bash scripts/services.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
