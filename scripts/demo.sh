#!/usr/bin/env bash
# The README's first command: sets up what is missing on a Debian/Ubuntu machine, then runs the
# main job on the Cẩm Phả sample configuration (config/ipfm.yaml and config/wards/): validate,
# plan, then the service itself with simulated receivers (a demo database) until they have
# confirmed the demo's airings (about 2 minutes: the recording lasts 85 s).
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
echo "== the service itself, on the sample, with simulated receivers, until they confirm"
bash scripts/services.sh --mosquitto   # starts mosquitto if nothing answers on 127.0.0.1:1883
mkdir -p var
db="$here/var/demo.db"
rm -f "$db" "$db-wal" "$db-shm"            # a fresh demo database each time (not var/ipfm.db)
export IPFM_DATABASE_URL="sqlite:///$db"
"$bin" db upgrade
# Signing on (docs/protocol.md "Version 2"): a command key and a key of its own for every
# receiver, in config/keys/ (made once, kept after: only missing keys are made). Every answer,
# from the real receiver and from the simulated ones, is signed and checked by the service.
"$bin" keys init | tail -n 1
# Every enabled receiver of the sample, simulated: each downloads the recording from the service
# (HTTP, audio.base_url), checks its sha256, starts at the planned time and plays the whole
# recording before it confirms `completed` (the service counts no `completed` that comes sooner
# than the recording lasts).
# One loudspeaker, cam-trung/loa-01, is a real receiver (ipfm-receiver): it downloads the
# recording, checks it and plays it into a WAV file (var/demo-box/wav/<command id>.wav) that
# you can play back; the simulator plays the others.
box="$here/var/demo-box"
rm -rf "$box" && mkdir -p "$box/wav"
"$bin" receiver-config --ward cam-trung --receiver loa-01 --output "file:$box/wav" \
  --state-dir "$box/state" --cache-dir "$box/cache" -o "$box/receiver.yaml" 2>/dev/null
.venv/bin/ipfm-receiver --config "$box/receiver.yaml" > var/demo-receiver.log 2>&1 &
rx=$!
"$bin" simulate --time-mode realtime --download --leave cam-trung/loa-01 \
  > var/demo-simulator.log 2>&1 &
sim=$!
# the service's log is read below (grep), so it is written in English whatever the sample's
# language: (the commands above and below speak it)
"$bin" run --demo --lang en > var/demo-service.log 2>&1 &
svc=$!
tail -n +1 -f var/demo-service.log \
  | grep --line-buffered -E "ready:|demo:|command\(s\) stored|quarantined|make-up|WARNING.*command|ERROR" &
shown=$!
trap 'kill "$svc" "$sim" "$rx" "$shown" 2>/dev/null || true' EXIT
echo "(the service's log: var/demo-service.log; the simulated receivers': var/demo-simulator.log;"
echo " the real one's, cam-trung/loa-01: var/demo-receiver.log)"
echo "(the loudspeakers start 15 s from now and confirm \`completed\` once they have played the"
echo " whole recording; below, the demo's commands as the database records them, as they change:"
echo " pending = stored, sent = the broker has it, received = the loudspeaker has it)"
# at most 3 minutes: until every command stored has its final answer
watch=0
.venv/bin/python -m ipfm_scheduler.cli.demo_watch --database "$IPFM_DATABASE_URL" --timeout 180 \
  || watch=$?
kill "$shown" 2>/dev/null || true
echo
echo "== ipfm-scheduler status"
"$bin" status
kill -TERM "$svc" 2>/dev/null && wait "$svc" || true
kill -TERM "$sim" 2>/dev/null && wait "$sim" || true
kill -TERM "$rx" 2>/dev/null && wait "$rx" || true
trap - EXIT
echo
confirmed=$(grep -c " completed$" var/demo-service.log || true)
airings=$(grep -c "command(s) stored" var/demo-service.log || true)
if [ "$watch" -ne 0 ] || [ "$confirmed" -eq 0 ]; then
  echo "demo: not every loudspeaker confirmed \`completed\` ($confirmed did) in 3 minutes: see" \
    "var/demo-service.log and var/demo-simulator.log" >&2
  tail -n 3 var/demo-simulator.log >&2
  exit 1
fi
echo "The demo's $airings airing(s) were confirmed \`completed\` by $confirmed loudspeaker(s); the" \
  "service stopped."
played=$(ls "$box"/wav/*.wav 2>/dev/null | head -n 1 || true)
if [ -n "$played" ]; then
  echo "The real receiver (ipfm-receiver, cam-trung/loa-01) played it into $played:" \
    "play it back (ffplay -autoexit -nodisp \"$played\", or any audio player) to hear it."
else
  echo "The real receiver (ipfm-receiver, cam-trung/loa-01) wrote no WAV: see var/demo-receiver.log" >&2
fi
week=$(TZ=Asia/Ho_Chi_Minh date +%G-W%V)   # this week at the sample station
echo
echo "The demo's record stays in var/demo.db (the station file's database, var/ipfm.db, is not"
echo "touched). Read it, from this folder, with:"
echo "  .venv/bin/ipfm-scheduler status --database sqlite:///var/demo.db"
echo "  .venv/bin/ipfm-scheduler report --database sqlite:///var/demo.db --week $week"
echo "  .venv/bin/ipfm-scheduler log --database sqlite:///var/demo.db --ward cam-trung"
echo "To run it for real: ipfm-scheduler db upgrade, then ipfm-scheduler run (docs/service.md: systemd)."
