#!/usr/bin/env bash
# Re-creates audio/kh179.mp3: the opening of Plan 197 (Plan 179's implementation), read by
# Debian's espeak-ng Vietnamese voice, as mono MP3. Needs espeak-ng and ffmpeg.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
espeak-ng -v vi -s 140 -f "$here/audio/kh179.txt" -w "$tmp/kh179.wav"
ffmpeg -hide_banner -loglevel error -y -i "$tmp/kh179.wav" -ac 1 -ar 44100 -b:a 64k \
  -metadata title="Kế hoạch 179-KH/TU (phần mở đầu)" -metadata artist="espeak-ng vi" \
  "$here/audio/kh179.mp3"
echo "wrote $here/audio/kh179.mp3"
