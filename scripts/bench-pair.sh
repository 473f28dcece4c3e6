#!/usr/bin/env bash
# W1 and W2 (../shared/BENCHMARKS.md) against two eddy nodes started side by
# side, one plain and one with a feature on: encryption at rest
# (--encryption-key-file), TLS on the Kafka listener (certificates made here
# with openssl; the clients verify them), or metrics (the plain node runs
# with eddy.metrics.enabled=false; the other is scraped every 5 s, three
# times as often as Prometheus' default). Rounds alternate which goes first
# (odd ones plain first) so that neither always runs on a warmer machine.
# Each line is one `eddy bench` JSON object plus the broker's CPU seconds
# (utime+stime from /proc) spent in that workload.
#   usage: [ROUNDS=2] scripts/bench-pair.sh encryption|tls|metrics [DURATION]   (default 30s)
set -euo pipefail
cd "$(dirname "$0")/.."
secured=${1:?usage: scripts/bench-pair.sh encryption|tls|metrics [DURATION]}
case $secured in encryption | tls | metrics) ;; *) echo "unknown mode $secured (want encryption, tls or metrics)" >&2; exit 2 ;; esac
duration=${2:-30s}
work=$(mktemp -d -p "${BENCH_DIR:-$PWD}" .bench.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/eddy" ./cmd/eddy
eddy="$work/eddy"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$work/key.hex"
if [ "$secured" = tls ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
		-keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-keyout "$work/server-key.pem" -out "$work/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/san.ext"
	openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial \
		-days 1 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
fi

declare -A addr pid client
for mode in plain "$secured"; do
	port=$(free_port)
	args=(serve --data-dir "$work/$mode" --kafka-addr "127.0.0.1:$port" --http-addr "")
	client[$mode]=""
	case $mode in
	plain) [ "$secured" = metrics ] && args+=(--set eddy.metrics.enabled=false) ;;
	metrics)
		http_port=$(free_port)
		args[-1]="127.0.0.1:$http_port"
		(while sleep 5; do curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$http_port/metrics" >>"$work/scrapes" || true; done) &
		pids+=("$!")
		;;
	encryption) args+=(--encryption-key-file "$work/key.hex") ;;
	tls)
		args+=(--tls-cert "$work/server.pem" --tls-key "$work/server-key.pem")
		client[$mode]="--tls-ca $work/ca.pem"
		;;
	esac
	"$eddy" "${args[@]}" >"$work/$mode.log" 2>&1 &
	pid[$mode]=$!
	pids+=("$!")
	addr[$mode]="127.0.0.1:$port"
done
sleep 1

run() { # mode workload topic
	local before after out
	before=$(cpu_seconds "${pid[$1]}")
	if [ "$2" = W1 ]; then
		out=$("$eddy" bench produce ${client[$1]} --against "${addr[$1]}" --topic "$3" --create --partitions 6 --record-size 1024 --acks all --duration "$duration" --format json)
	else
		out=$("$eddy" bench consume ${client[$1]} --against "${addr[$1]}" --topic "$3" --format json)
	fi
	after=$(cpu_seconds "${pid[$1]}")
	echo "{\"mode\":\"$1\",\"workload\":\"$2\",\"broker_cpu_s\":$(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.2f", a - b}'),\"result\":$out}" | tee -a "$work/results.json"
}
for round in $(seq 1 "${ROUNDS:-2}"); do
	order=(plain "$secured")
	[ $((round % 2)) = 0 ] && order=("$secured" plain)
	for mode in "${order[@]}"; do
		run "$mode" W1 "w1-r$round"
		run "$mode" W2 "w1-r$round"
	done
done

python3 - "$work/results.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
dec, rows, i = json.JSONDecoder(), [], 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    o, i = dec.raw_decode(text, i)
    rows.append(o)
print("| round | mode | workload | MB/s | records/s | p50 / p99 ms | broker CPU s | CPU s per GB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for n, o in enumerate(rows):
    r = o["result"]
    lat = f'{r.get("p50_ms", 0):.1f} / {r.get("p99_ms", 0):.1f}' if o["workload"] == "W1" else "-"
    gb = r["bytes"] / 1e9
    print(f'| {n // 4 + 1} | {o["mode"]} | {o["workload"]} | {r["mb_per_sec"]:.1f} | {r["records_per_sec"]:,.0f} | {lat} | {o["broker_cpu_s"]:.2f} | {o["broker_cpu_s"] / gb:.2f} |')
PY
if [ -s "$work/scrapes" ]; then
	sort -n "$work/scrapes" | awk '{a[NR] = $1} END {printf "scrapes of the metrics node during the run (half while it carried the load): %d, seconds min %.4f median %.4f max %.4f\n", NR, a[1], a[int((NR + 1) / 2)], a[NR]}'
fi
