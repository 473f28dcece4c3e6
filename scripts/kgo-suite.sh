#!/usr/bin/env bash
# Runs franz-go's own kgo integration suite against fresh Eddy brokers
# (../shared/TESTING.md): one standalone node, or with an argument N a
# cluster of N nodes (`eddy serve --voters`). On a cluster the suite's topics
# are replicated (KGO_TEST_RF: 3, or N if smaller); standalone they have
# replication factor 1; the SCRAM tests run against one more node with SASL.
# No test is skipped. Further arguments go to
# `go test`, e.g. scripts/kgo-suite.sh 3 -run TestTxnEtl.
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=${1:-1}
shift || true
rf=$((nodes < 3 ? nodes : 3))
version=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/eddy" ./cmd/eddy
ports=() voters=()
for i in $(seq "$nodes"); do
	ports+=("$(free_port)")
	voters+=("$i@127.0.0.1:$(free_port)")
done
cluster_args() { # node i's flags; none for a standalone node
	[ "$nodes" -gt 1 ] || return 0
	local i=$1
	echo --node-id "$i" --controller-addr "${voters[$((i - 1))]#*@}" --voters "$(IFS=,; echo "${voters[*]}")"
}
seeds=()
for i in $(seq "$nodes"); do
	port=${ports[$((i - 1))]}
	# shellcheck disable=SC2046 # word splitting of the flags is intended
	"$work/eddy" serve --data-dir "$work/data-$i" --kafka-addr "127.0.0.1:$port" --http-addr "" $(cluster_args "$i") >"$work/broker-$i.log" 2>&1 &
	pids+=($!)
	seeds+=("127.0.0.1:$port")
done
# The suite's SCRAM tests (KGO_TEST_SCRAM_SEEDS) get a node of their own
# with SASL on and a bootstrap user.
scram_port=$(free_port)
EDDY_BOOTSTRAP_USER=kgo:kgo-secret "$work/eddy" serve --data-dir "$work/data-scram" --kafka-addr "127.0.0.1:$scram_port" \
	--http-addr "" --set sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512 >"$work/broker-scram.log" 2>&1 &
pids+=($!)
for port in "${ports[@]}" "$scram_port"; do
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
done
# A listening node may still be fenced, and the suite's topics need all N
# replicas: wait until metadata lists every broker (it lists unfenced ones).
live_brokers() {
	local info
	info=$("$work/eddy" cluster info -b "${seeds[0]}" --format json 2>/dev/null) || { echo 0; return; }
	python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])["brokers"]))' "$info" 2>/dev/null || echo 0
}
if [ "$nodes" -gt 1 ]; then
	for _ in $(seq 300); do
		[ "$(live_brokers)" -eq "$nodes" ] && break
		sleep 0.1
	done
	[ "$(live_brokers)" -eq "$nodes" ] || { echo "metadata does not list $nodes live brokers" >&2; exit 1; }
fi

go mod download "github.com/twmb/franz-go@$version"
cp -r "$(go env GOMODCACHE)/github.com/twmb/franz-go@$version" "$work/franz-go"
chmod -R u+w "$work/franz-go"
suite() { # go test of the suite, extra flags appended; its output also in $work/suite.out
	(cd "$work/franz-go" && KGO_SEEDS="$(IFS=,; echo "${seeds[*]}")" KGO_TEST_RF=$rf KGO_TEST_RECORDS=20000 \
		KGO_TEST_SCRAM_SEEDS="127.0.0.1:$scram_port" KGO_TEST_SCRAM=kgo:kgo-secret:512 \
		go test ./pkg/kgo -count=1 -timeout 15m "$@") 2>&1 | tee "$work/suite.out"
	return "${PIPESTATUS[0]}"
}
# Races in franz-go v1.22.3's tests, not in the broker, that a cluster's
# timing exposes (seen in about 1 run in 3 on 3 nodes); each is rerun once,
# by name, when only such tests failed. Drop a name once upstream fixes it.
#   TestGroupETL (KIP-848 subtests): the ETL loop's CommitUncommittedOffsets
#     snapshots its partitions before waiting for the commit lock; a
#     revocation acknowledged meanwhile bumps the member epoch, the broker
#     answers STALE_MEMBER_EPOCH (as Kafka does), and the client's retry
#     reports the partitions it lost as REBALANCE_IN_PROGRESS, which
#     group_test.go treats as fatal outside OnPartitionsRevoked.
#   Test848RegexBrokerResolves: without kfake's is_internal config the
#     "internal" topic is __consumer_offsets, full of other tests' commits;
#     the poll loop stops once it has seen as many topics as it wants, so
#     records from orders and __consumer_offsets (one broker) before
#     orders-v2 (another) end it early.
RACY='^(TestGroupETL|Test848RegexBrokerResolves)$'
status=0
suite "$@" || status=$?
failed=$(sed -n 's/^--- FAIL: \([^ ]*\).*/\1/p' "$work/suite.out" | sort -u)
if [ "$status" -ne 0 ] && [ "$nodes" -gt 1 ] && [ -n "$failed" ] && ! grep -Evq "$RACY" <<<"$failed"; then
	echo "== rerunning once, known client-side races on a cluster: $(echo $failed)"
	status=0
	suite -run "^($(paste -sd'|' <<<"$failed"))\$" || status=$?
fi
if [ "$status" -ne 0 ]; then
	for i in $(seq "$nodes") scram; do
		echo "---- broker $i log (last 100 lines) ----"; tail -100 "$work/broker-$i.log"
	done
fi
exit "$status"
