#!/usr/bin/env bash
# The test command README.md gives: formatting, vet, unit and integration
# tests (with the race detector on the concurrent packages), a short run of
# every fuzz target, franz-go's own integration suite and the client
# conformance script against a real broker.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== static binary"
bin=$(mktemp -d)/eddy
CGO_ENABLED=0 go build -o "$bin" ./cmd/eddy
# ldd exits 1 for a static binary, so read its words, not its status.
linkage=$(ldd "$bin" 2>&1 || true)
case $linkage in
*"not a dynamic executable"*) ;;
*) echo "eddy is not statically linked:"; echo "$linkage"; exit 1 ;;
esac
rm -f "$bin"

# -short here: the long fault runs (ten kills, chaos seeds) drive eddy
# processes, which the race detector does not watch; they run in full below.
# gotest runs go test with its output kept; when it fails, the lines that
# say what failed (a timeout's list of running tests, each FAIL) are printed
# again at the end, where a CI log's tail shows them.
gotest() {
	local log
	log=$(mktemp)
	if go test "$@" 2>&1 | tee "$log"; then
		rm -f "$log"
		return 0
	fi
	echo "== what failed"
	grep -A12 '^panic: test timed out' "$log" || true
	grep -E -B2 -A8 '^\s*--- FAIL' "$log" | grep -v '^\s*=== ' | head -200 || true
	grep -E '^(FAIL|ok|panic:)' "$log" || true
	rm -f "$log"
	return 1
}

# internal/node is the long pole of both passes (most of its tests wait on
# real processes, timeouts and kills rather than burn CPU), so its tests
# are split into NODE_SHARDS groups that run beside the other packages.
NODE_SHARDS=${NODE_SHARDS:-2}
node_shards() {
	go test -list '.*' ./internal/node | grep '^Test' | sort |
		awk -v n="$NODE_SHARDS" '{ s[NR % n] = s[NR % n] (s[NR % n] == "" ? "" : "|") $0 }
			END { for (i = 0; i < n; i++) if (s[i] != "") print "^(" s[i] ")$" }'
}

# gotest_split FLAGS... -- PACKAGES... runs go test with FLAGS on the
# packages but internal/node, and on each shard of internal/node, all at
# once; their logs are printed one after another so they do not interleave.
gotest_split() {
	local flags=() pkgs pids=() logs=() shard i
	while [ "$1" != "--" ]; do flags+=("$1"); shift; done
	shift
	pkgs=$(go list "$@" | grep -v '/internal/node$')
	logs+=("$(mktemp)")
	gotest "${flags[@]}" $pkgs >"${logs[0]}" 2>&1 &
	pids+=($!)
	while read -r shard; do
		logs+=("$(mktemp)")
		gotest "${flags[@]}" -run "$shard" ./internal/node >"${logs[-1]}" 2>&1 &
		pids+=($!)
	done < <(node_shards)
	local failed=()
	for i in "${!pids[@]}"; do
		if wait "${pids[$i]}"; then
			cat "${logs[$i]}"
		else
			failed+=("${logs[$i]}")
		fi
	done
	# Failed runs last, where a CI log's tail shows them.
	[ ${#failed[@]} -eq 0 ] || cat "${failed[@]}"
	rm -f "${logs[@]}"
	[ ${#failed[@]} -eq 0 ]
}

echo "== go test (race detector on the concurrent packages; long fault runs shortened)"
gotest_split -race -short -count=1 -timeout 20m -- ./internal/storage/... ./internal/server/... ./internal/broker/... ./internal/meta/... ./internal/controller/... ./internal/replica/... ./internal/txn/... ./internal/group/... ./internal/coordinator/... ./internal/node/... ./internal/quorum/... ./internal/netfault/...

echo "== go test (everything)"
gotest_split -count=1 -timeout 30m -- ./...

# A count, not a duration: Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a duration runs out (golang/go#75804).
echo "== fuzz smoke (each target ${FUZZTIME:=20000x})"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		budget=$FUZZTIME
		case $target in
		FuzzRecover | FuzzIndexRebuild | FuzzWALRecords) budget=2000x ;; # each input is a whole log opened on disk
		FuzzScan) budget=3000x ;; # the request scan is cheap; its seeds cover every key and version
		esac
		echo "-- $pkg $target ($budget)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" "$pkg"
	done
done

echo "== franz-go's kgo integration suite against eddy"
bash scripts/kgo-suite.sh

echo "== franz-go's kgo integration suite against a 3-node eddy cluster"
bash scripts/kgo-suite.sh 3

echo "== client conformance (kcat, confluent-kafka-python)"
bash scripts/conformance/with-broker.sh

echo "== client conformance against a 3-node cluster"
EDDY_NODES=3 bash scripts/conformance/with-broker.sh

echo "== security conformance (kcat, confluent-kafka-python, kafka-python over SASL_SSL and SASL_PLAINTEXT)"
bash scripts/conformance/security.sh

echo "== all tests passed"
