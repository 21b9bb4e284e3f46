#!/usr/bin/env bash
# Re-creates audio/source/kh179.mp3, the original of the sample recording: the opening of
# Plan 197 (Plan 179's implementation), read by Debian's espeak-ng Vietnamese voice, as mono
# MP3. Needs espeak-ng and ffmpeg. What the sample station airs is this file imported with
#   ipfm-scheduler audio add audio/source/kh179.mp3 --programme kh179
# (normalised, stored as audio/<sha256>.mp3, catalogued); config/ipfm.yaml names that file.
# audio/source/ is never served to receivers.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
espeak-ng -v vi -s 140 -f "$here/audio/source/kh179.txt" -w "$tmp/kh179.wav"
ffmpeg -hide_banner -loglevel error -y -i "$tmp/kh179.wav" -ac 1 -ar 44100 -b:a 64k \
  -metadata title="Kế hoạch 179-KH/TU (phần mở đầu)" -metadata artist="espeak-ng vi" \
  "$here/audio/source/kh179.mp3"
echo "wrote $here/audio/source/kh179.mp3"
