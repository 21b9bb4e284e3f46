#!/usr/bin/env bash
# A 3-node NATS JetStream cluster on loopback with an MQTT listener on every node, from the
# files in config/nats/ (docs/deployment.md "A province or the nation on a NATS cluster").
# MQTT on 127.0.0.1:11883, :11884 and :11885; NATS clients on :14222-14224; routes on
# :16222-16224; monitoring on :18222-18224. Nothing clashes with a system nats-server (4222)
# or mosquitto (1883). The tests start a cluster of their own on free ports (tests/nats.py).
#
#   scripts/nats-cluster.sh start [DIR]   start the three nodes (store, logs, pids in DIR,
#                                         default var/nats), wait until each serves MQTT
#   scripts/nats-cluster.sh stop [DIR]    stop them (SIGTERM, then SIGKILL after 10 s)
#   scripts/nats-cluster.sh status [DIR]  which nodes run; exit 1 unless all three do
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
action=${1:-status}
dir=${2:-$here/var/nats}
binary=$(command -v nats-server || echo /usr/sbin/nats-server)
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
running() { [ -f "$dir/n$1.pid" ] && kill -0 "$(cat "$dir/n$1.pid")" 2>/dev/null; }

case $action in
  start)
    [ -x "$binary" ] || { echo "nats-cluster: nats-server is not installed (apt-get install nats-server)" >&2; exit 1; }
    mkdir -p "$dir"
    for n in 1 2 3; do
      if running "$n"; then echo "nats-cluster: node $n already runs"; continue; fi
      mkdir -p "$dir/n$n"
      env "IPFM_NATS_STORE_N$n=$dir/n$n" "$binary" -c "$here/config/nats/node$n.conf" \
        -P "$dir/n$n.pid" -l "$dir/n$n.log" &
    done
    for n in 1 2 3; do
      port=$((11882 + n))
      for _ in $(seq 1 150); do answers "$port" && break; sleep 0.1; done
      answers "$port" || { echo "nats-cluster: node $n serves no MQTT on $port after 15 s (see $dir/n$n.log)" >&2; exit 1; }
    done
    echo "nats-cluster: MQTT on mqtt://127.0.0.1:11883, mqtt://127.0.0.1:11884, mqtt://127.0.0.1:11885"
    ;;
  stop)
    for n in 1 2 3; do
      running "$n" || continue
      pid=$(cat "$dir/n$n.pid")
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      rm -f "$dir/n$n.pid"
      echo "nats-cluster: node $n stopped"
    done
    ;;
  status)
    up=0
    for n in 1 2 3; do
      if running "$n"; then echo "node $n: running (pid $(cat "$dir/n$n.pid"), MQTT 127.0.0.1:$((11882 + n)))"; up=$((up + 1))
      else echo "node $n: stopped"; fi
    done
    [ "$up" = 3 ]
    ;;
  *) echo "usage: scripts/nats-cluster.sh start|stop|status [DIR]" >&2; exit 2 ;;
esac
