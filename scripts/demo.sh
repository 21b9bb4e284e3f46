#!/usr/bin/env bash
# The README's first command: sets up what is missing on a Debian/Ubuntu machine, then runs the
# main job on the Cẩm Phả sample configuration (config/ipfm.yaml and config/wards/): validate,
# plan, then the service itself for 45 seconds with simulated receivers (a demo database).
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

echo
echo "== the service itself, on the sample, with simulated receivers, for 45 seconds"
bash scripts/services.sh --mosquitto   # starts mosquitto if nothing answers on 127.0.0.1:1883
mkdir -p var
db="$here/var/demo.db"
rm -f "$db" "$db-wal" "$db-shm"            # a fresh demo database each time (not var/ipfm.db)
export IPFM_DATABASE_URL="sqlite:///$db"
"$bin" db upgrade
# Every enabled receiver of the sample, simulated: each downloads the recording from the service
# (HTTP, audio.base_url), checks its sha256, and answers at once (instant mode) so that
# confirmations show within the minute.
"$bin" simulate --time-mode instant --download > var/demo-simulator.log 2>&1 &
sim=$!
"$bin" run --demo > var/demo-service.log 2>&1 &
svc=$!
trap 'kill "$svc" "$sim" 2>/dev/null || true' EXIT
echo "(the service's log: var/demo-service.log; the receivers': var/demo-simulator.log)"
timeout 45 tail -n +1 -f var/demo-service.log \
  | grep --line-buffered -E "ready:|demo:|command\(s\) stored|completed$|make-up|ERROR" || true
echo
echo "== ipfm-scheduler status"
"$bin" status
kill -TERM "$svc" 2>/dev/null && wait "$svc" || true
kill -TERM "$sim" 2>/dev/null && wait "$sim" || true
trap - EXIT
echo
confirmed=$(grep -c " completed$" var/demo-service.log || true)
if [ "$confirmed" -eq 0 ]; then
  echo "demo: no airing was confirmed in 45 seconds: see var/demo-service.log and" \
    "var/demo-simulator.log" >&2
  tail -n 3 var/demo-simulator.log >&2
  exit 1
fi
airings=$(grep -c "command(s) stored" var/demo-service.log || true)
echo "The demo's $airings airing(s) were confirmed \`completed\` by $confirmed simulated" \
  "loudspeaker(s); the service stopped."
echo "To run it for real: ipfm-scheduler run (docs/service.md: systemd)."
