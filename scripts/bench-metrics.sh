#!/usr/bin/env bash
# Scrape cost at many partitions (issue 12): one eddy node with TOPICS x
# PARTITIONS partitions (RF 1; default 100 x 100 = 10,000), a few records in
# each topic and BENCH_GROUPS groups with committed offsets (group 0 on every
# partition, group g on every GROUP_STRIDE-th topic from topic g modulo
# TOPICS: a fifth of them by default, one each with GROUP_STRIDE=TOPICS),
# then SCRAPES scrapes of /metrics. Prints one JSON line per scrape (wall
# time, bytes, series in all, kafka_ series, lag series, the node's RSS
# after it: VmRSS from /proc) and the RSS before the first scrape and after
# the last. Measures; asserts nothing.
#   usage: [TOPICS=100] [PARTITIONS=100] [BENCH_GROUPS=5] [GROUP_STRIDE=5] [SCRAPES=5] scripts/bench-metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
topics=${TOPICS:-100}
partitions=${PARTITIONS:-100}
groups=${BENCH_GROUPS:-5}
scrapes=${SCRAPES:-5}
stride=${GROUP_STRIDE:-5}
work=$(mktemp -d -p "${BENCH_DIR:-$PWD}" .bench.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/eddy" ./cmd/eddy
eddy="$work/eddy"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

kport=$(free_port)
hport=$(free_port)
"$eddy" serve --data-dir "$work/data" --kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" >"$work/eddy.log" 2>&1 &
pid=$!
b=(-b "127.0.0.1:$kport")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null && break; sleep 0.1; done

names=()
for i in $(seq 0 $((topics - 1))); do names+=("$(printf 'bench-%03d' "$i")"); done
start=$(date +%s.%N)
# Ten topics a request, well under the partitions one request may create
# (maxPartitionsPerRequest).
for ((i = 0; i < topics; i += 10)); do
	"$eddy" topic create "${names[@]:i:10}" -p "$partitions" -r 1 "${b[@]}" >/dev/null
done
echo "{\"created_partitions\":$((topics * partitions)),\"seconds\":$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')}"
for t in "${names[@]}"; do
	seq 1 "$((partitions * 2))" | sed 's/.*/k&:v/' | "$eddy" produce "$t" --key-delim : "${b[@]}" 2>/dev/null
done
"$eddy" group seek bench-group-0 --to 1 $(printf -- '--topic %s ' "${names[@]}") "${b[@]}" >/dev/null
for g in $(seq 1 $((groups - 1))); do
	chosen=()
	for ((i = g % topics; i < topics; i += stride)); do chosen+=(--topic "${names[$i]}"); done
	"$eddy" group seek "bench-group-$g" --to start "${chosen[@]}" "${b[@]}" >/dev/null
done

rss_before=$(rss_kib "$pid")
for s in $(seq 1 "$scrapes"); do
	read -r secs bytes < <(curl -s -o "$work/scrape" -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$hport/metrics")
	series=$(grep -vc '^#' "$work/scrape")
	kafka=$(grep -c '^kafka_' "$work/scrape")
	lag=$(grep -c '^kafka_consumergroup_lag{' "$work/scrape")
	echo "{\"scrape\":$s,\"seconds\":$secs,\"bytes\":$bytes,\"series\":$series,\"kafka_series\":$kafka,\"lag_series\":$lag,\"rss_kib\":$(rss_kib "$pid")}"
done
echo "{\"rss_kib_before\":$rss_before,\"rss_kib_after\":$(rss_kib "$pid")}"
