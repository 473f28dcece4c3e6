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
cluster_pids=()
cleanup() {
	for pid in $broker_pid "${cluster_pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
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

echo "== transactions: transactional vs idempotent produce, then end-to-end latency under read_committed ($duration each)"
"$eddy" bench txn --against "127.0.0.1:$port" --create --partitions 6 --record-size 1024 --commit-interval 100ms \
	--duration "$duration" --broker-pid "$broker_pid"

# CPU seconds (user + system) the given processes have used, from /proc.
cpu_seconds() {
	local hz total=0 pid
	hz=$(getconf CLK_TCK)
	for pid in "$@"; do total=$(awk -v t="$total" -v hz="$hz" '{print t + ($14 + $15) / hz}' "/proc/$pid/stat"); done
	echo "$total"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== W4: W1 against 3 nodes, RF=3, acks=all, beside W1 on the single node in the same run"
single_before=$(cpu_seconds "$broker_pid")
"$eddy" bench produce --against "127.0.0.1:$port" --topic w4-single --create --partitions 6 --record-size 1024 --acks all --duration "$duration" --format json | tee "$work/w4-single.json"
single_after=$(cpu_seconds "$broker_pid")
kill "$broker_pid" && wait "$broker_pid" 2>/dev/null || true
broker_pid=""
kports=() voters=()
for i in 1 2 3; do kports+=("$(free_port)"); voters+=("$i@127.0.0.1:$(free_port)"); done
for i in 1 2 3; do
	"$eddy" serve --data-dir "$work/cluster-$i" --kafka-addr "127.0.0.1:${kports[$((i - 1))]}" --http-addr "" \
		--node-id "$i" --controller-addr "${voters[$((i - 1))]#*@}" --voters "$(IFS=,; echo "${voters[*]}")" >"$work/cluster-$i.log" 2>&1 &
	cluster_pids+=($!)
done
seeds=$(printf '127.0.0.1:%s,' "${kports[@]}"); seeds=${seeds%,}
for port in "${kports[@]}"; do
	for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
sleep 2 # every node unfenced
cluster_before=$(cpu_seconds "${cluster_pids[@]}")
"$eddy" bench produce -b "$seeds" --topic w4 --create --replication-factor 3 --partitions 6 --record-size 1024 --acks all --duration "$duration" --format json | tee "$work/w4.json"
cluster_after=$(cpu_seconds "${cluster_pids[@]}")
python3 - "$work/w4-single.json" "$work/w4.json" "$single_before" "$single_after" "$cluster_before" "$cluster_after" <<'PY'
import json, sys
single, cluster = (json.load(open(f)) for f in sys.argv[1:3])
single_cpu = float(sys.argv[4]) - float(sys.argv[3])
cluster_cpu = float(sys.argv[6]) - float(sys.argv[5])
print(f"W4: {cluster['mb_per_sec']:.1f} MB/s on 3 nodes RF=3 vs W1 {single['mb_per_sec']:.1f} MB/s on one node: "
      f"ratio {cluster['mb_per_sec'] / single['mb_per_sec']:.2f}; p99 {cluster['p99_ms']:.1f} ms vs {single['p99_ms']:.1f} ms")
print(f"broker CPU seconds per GB produced: single node {single_cpu / (single['bytes'] / 1e9):.1f}, "
      f"three nodes together {cluster_cpu / (cluster['bytes'] / 1e9):.1f}")
PY
