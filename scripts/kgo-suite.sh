#!/usr/bin/env bash
# Runs franz-go's own kgo integration suite against a fresh Eddy broker
# (../shared/TESTING.md). Tests of features Eddy does not have yet are
# skipped by name; remove a name when its feature lands.
set -euo pipefail
cd "$(dirname "$0")/.."

# Transactions are not served yet.
SKIP='^(TestTxnEtl)$'
version=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)

work=$(mktemp -d)
broker_pid=""
cleanup() {
	[ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/eddy" ./cmd/eddy
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/eddy" serve --data-dir "$work/data" --kafka-addr "127.0.0.1:$port" --http-addr "" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

go mod download "github.com/twmb/franz-go@$version"
cp -r "$(go env GOMODCACHE)/github.com/twmb/franz-go@$version" "$work/franz-go"
chmod -R u+w "$work/franz-go"
status=0
(cd "$work/franz-go" && KGO_SEEDS="127.0.0.1:$port" KGO_TEST_RF=1 KGO_TEST_RECORDS=20000 \
	go test ./pkg/kgo -count=1 -timeout 15m -skip "$SKIP") || status=$?
if [ "$status" -ne 0 ]; then
	echo "---- broker log (last 100 lines) ----"; tail -100 "$work/broker.log"
fi
exit "$status"
