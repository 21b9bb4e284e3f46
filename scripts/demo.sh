#!/usr/bin/env bash
# The README's first command: sets up what is missing on a Debian/Ubuntu machine, then runs the
# main job on the Cẩm Phả sample configuration (config/ipfm.yaml and config/wards/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/bootstrap.sh
export IPFM_CONFIG="$here/config/ipfm.yaml"
bin=.venv/bin/ipfm-scheduler

echo
echo "== ipfm-scheduler validate: every ward file checked, the weekly minimum per ward"
"$bin" validate
echo
echo "== ipfm-scheduler plan: this week's airings in every ward, local time"
"$bin" plan
