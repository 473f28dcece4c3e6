#!/usr/bin/env bash
# Build eddy, start `eddy serve` on free loopback ports with a fresh data dir, run the client
# conformance checks (run.sh) against it, and always stop the broker. On failure the broker
# log is printed. This is what CI calls:
#
#   scripts/conformance/with-broker.sh
#
# With EDDY_NODES=N (N > 1) it starts an N-node cluster (`eddy serve --voters`) instead and
# points the clients at its first node; the checks then create their topics with
# replication factor EDDY_RF=min(3, N) and check replicas and ISR in metadata.
#
# Environment:
#   EDDY_BIN           use this binary instead of building ./cmd/eddy
#   EDDY_START_TIMEOUT seconds to wait for the broker to answer metadata (default 30)
#   CONFORMANCE_XFAIL  passed through to conformance.py (ids of known-failing checks)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
START_TIMEOUT=${EDDY_START_TIMEOUT:-30}

TMP=$(mktemp -d)
LOG="$TMP/eddy.log"
PID=""
PIDS=()
NODES=${EDDY_NODES:-1}
export EDDY_RF=$((NODES < 3 ? (NODES < 1 ? 1 : NODES) : 3))

fail() {
	echo "FAIL $*" >&2
	exit 1
}

stop_one() {
	local pid=$1
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "broker (pid $pid) did not exit 10 s after SIGTERM; sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

stop_broker() {
	for pid in "${PIDS[@]}"; do stop_one "$pid"; done
	PIDS=()
	PID=""
}

on_exit() {
	rc=$?
	stop_broker
	if [[ $rc -ne 0 ]]; then
		for f in "$LOG" "$LOG".*; do
			[[ -s $f ]] || continue
			echo "---- broker log ($f, last 200 lines) ----" >&2
			tail -n 200 "$f" >&2
			echo "---- end of broker log ----" >&2
		done
	fi
	rm -rf "$TMP"
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

command -v kcat >/dev/null || fail "kcat not installed (apt-get install -y kcat)"

if [[ -n "${EDDY_BIN:-}" ]]; then
	BIN=$EDDY_BIN
else
	echo "== building ./cmd/eddy"
	(cd "$ROOT" && go build -o "$TMP/eddy" ./cmd/eddy) || fail "go build ./cmd/eddy"
	BIN="$TMP/eddy"
fi

# Two distinct free loopback ports (held open together while chosen so they differ).
read -r KPORT HPORT < <(/usr/bin/python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
ADDR="127.0.0.1:$KPORT"

mkdir -p "$TMP/data"
if [[ $NODES -le 1 ]]; then
	echo "== starting $BIN serve (kafka $ADDR, http 127.0.0.1:$HPORT, data $TMP/data)"
	"$BIN" serve --data-dir "$TMP/data" --kafka-addr "$ADDR" --http-addr "127.0.0.1:$HPORT" >"$LOG" 2>&1 &
	PID=$!
	PIDS=("$PID")
else
	# A cluster: node 1 on ADDR and LOG, the others on further free ports
	# and LOG.<id>.
	mapfile -t PORTS < <(/usr/bin/python3 -c '
import socket, sys
n = int(sys.argv[1]); s = [socket.socket() for _ in range(2 * n)]
for x in s: x.bind(("127.0.0.1", 0))
for x in s: print(x.getsockname()[1])' "$NODES")
	VOTERS=""
	for i in $(seq 1 "$NODES"); do
		VOTERS+="${VOTERS:+,}$i@127.0.0.1:${PORTS[$((NODES + i - 1))]}"
	done
	echo "== starting $NODES nodes of $BIN serve (kafka $ADDR and more, voters $VOTERS)"
	for i in $(seq 1 "$NODES"); do
		KADDR="127.0.0.1:${PORTS[$((i - 1))]}"
		[[ $i -eq 1 ]] && KADDR=$ADDR
		NLOG=$LOG.$i
		[[ $i -eq 1 ]] && NLOG=$LOG
		"$BIN" serve --data-dir "$TMP/data/$i" --kafka-addr "$KADDR" --http-addr "" --node-id "$i" \
			--controller-addr "127.0.0.1:${PORTS[$((NODES + i - 1))]}" --voters "$VOTERS" >"$NLOG" 2>&1 &
		PIDS+=("$!")
	done
	PID=${PIDS[0]}
fi

deadline=$((SECONDS + START_TIMEOUT))
until timeout 5 kcat -b "$ADDR" -X broker.address.family=v4 -L -m 2 >/dev/null 2>&1; do
	if ! kill -0 "$PID" 2>/dev/null; then
		wait "$PID" && code=0 || code=$?
		PID=""
		fail "broker exited (status $code) before answering metadata on $ADDR"
	fi
	((SECONDS < deadline)) || fail "broker did not answer metadata (kcat -L) on $ADDR within ${START_TIMEOUT}s"
	sleep 0.5
done
echo "ok   broker answers metadata on $ADDR"
# A cluster's topics need every node live: wait until metadata lists them all
# (Metadata lists unfenced brokers only).
until [[ $NODES -le 1 ]] || timeout 5 kcat -b "$ADDR" -X broker.address.family=v4 -L -m 2 2>/dev/null |
	grep -Eq "^ +$NODES brokers:"; do
	((SECONDS < deadline)) || fail "metadata did not list $NODES live brokers within ${START_TIMEOUT}s"
	sleep 0.5
done
[[ $NODES -le 1 ]] || echo "ok   metadata lists $NODES live brokers"

CONFORMANCE_CLUSTER=$([[ $NODES -gt 1 ]] && echo 1 || true) "$HERE/run.sh" "$ADDR" || fail "conformance checks against eddy at $ADDR (see above)"

kill -0 "$PID" 2>/dev/null || fail "broker exited during the conformance run"
echo "with-broker.sh: conformance passed against eddy"
