#!/usr/bin/env bash
# Runs the workloads of ../shared/BENCHMARKS.md in one go, each beside its
# reference measured in the same run: the disk and loopback limits, and
# kfake (franz-go's in-memory broker) started in-process by the same client
# code. Prints the figures that docs/benchmarks.md records.
#   usage: scripts/bench.sh [DURATION]   (default 30s)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-30s}
work=$(mktemp -d -p "${BENCH_DIR:-$PWD}" .bench.XXXXXX)
broker_pid=""
cleanup() {
	[ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/eddy" ./cmd/eddy
eddy="$work/eddy"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "== references: disk (same filesystem as the broker's data) and loopback"
"$eddy" bench disk --dir "$work" --size 1GiB
"$eddy" bench net --size 1GiB

echo "== W5: idle broker"
"$eddy" bench idle --binary "$eddy"

"$eddy" serve --data-dir "$work/data" --kafka-addr "127.0.0.1:$port" --http-addr "" >"$work/broker.log" 2>&1 &
broker_pid=$!
sleep 1

echo "== W1 + W2: eddy vs kfake (1 KiB, acks=all, 6 partitions, $duration)"
"$eddy" bench compare --against "127.0.0.1:$port" --create --partitions 6 --record-size 1024 --acks all --duration "$duration" --format json | tee "$work/w1.json"
rate=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(d["produce"]["records_per_sec"]/2))' "$work/w1.json")

echo "== W3: W1 at half of eddy's W1 peak ($rate records/s), eddy then kfake"
"$eddy" bench produce --against "127.0.0.1:$port" --topic w3 --create --partitions 6 --record-size 1024 --acks all --duration "$duration" --rate "$rate"
"$eddy" bench produce --kfake --topic w3 --partitions 6 --record-size 1024 --acks all --duration "$duration" --rate "$rate"
