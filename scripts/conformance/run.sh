#!/usr/bin/env bash
# Client conformance checks against a running Kafka-protocol broker.
#
#   scripts/conformance/run.sh HOST:PORT
#
# Uses real clients: kcat (librdkafka) and Debian's python3-confluent-kafka
# (apt-get install -y kcat python3-confluent-kafka). Exits non-zero, naming the
# failed step, on the first failure. CONFORMANCE_XFAIL is passed to conformance.py.
# EDDY_RF (default 1) is the replication factor of the topics the checks create;
# on a cluster each partition must show that many replicas, all in sync.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 HOST:PORT" >&2
	exit 2
fi
ADDR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3 # Debian's interpreter: the python3 first on PATH may lack confluent_kafka
KCAT_TIMEOUT=${KCAT_TIMEOUT:-60}
export EDDY_RF=${EDDY_RF:-1}

fail() {
	echo "FAIL $*" >&2
	exit 1
}
ok() { echo "ok   $*"; }

command -v kcat >/dev/null || fail "kcat not installed (apt-get install -y kcat)"
$PY -c 'import confluent_kafka' 2>/dev/null ||
	fail "$PY cannot import confluent_kafka (apt-get install -y python3-confluent-kafka)"

WORK=$(mktemp -d)
TOPIC="conformance-kcat-$$-$RANDOM"
cleanup() {
	# Best effort: drop the kcat topic if it was created.
	$PY - "$ADDR" "$TOPIC" >/dev/null 2>&1 <<-'EOF' || true
		import sys
		from confluent_kafka.admin import AdminClient
		a = AdminClient({"bootstrap.servers": sys.argv[1]})  # keep a reference: a collected client cancels its futures
		a.delete_topics([sys.argv[2]], request_timeout=10)[sys.argv[2]].result()
	EOF
	rm -rf "$WORK"
}
trap cleanup EXIT

kc() { timeout "$KCAT_TIMEOUT" kcat -b "$ADDR" -X broker.address.family=v4 "$@"; }

echo "== kcat ($(kcat -V 2>&1 | grep -o 'librdkafka [0-9.]*')) against $ADDR"

# 1. Metadata lists the broker we talk to.
kc -L -m 10 >"$WORK/meta" 2>"$WORK/meta.err" ||
	fail "kcat -L metadata request: $(cat "$WORK/meta.err")"
grep -Eq '^ +[0-9]+ brokers:' "$WORK/meta" || fail "kcat -L: no broker list in output: $(cat "$WORK/meta")"
grep -Eq "^ +broker -?[0-9]+ at [^ ]+:${ADDR##*:}( |\$)" "$WORK/meta" ||
	fail "kcat -L: no broker advertised on port ${ADDR##*:}: $(cat "$WORK/meta")"
ok "kcat -L lists the broker: $(grep -E '^ +broker ' "$WORK/meta" | head -1 | sed 's/^ *//')"

# 2. Create the topic explicitly (1 partition, so consumed order must equal produced order);
#    the brokers under test need not auto-create topics.
$PY - "$ADDR" "$TOPIC" "$EDDY_RF" <<-'EOF' || fail "create topic $TOPIC with AdminClient"
	import sys
	from confluent_kafka.admin import AdminClient, NewTopic
	a = AdminClient({"bootstrap.servers": sys.argv[1]})
	a.create_topics([NewTopic(sys.argv[2], num_partitions=1, replication_factor=int(sys.argv[3]))], request_timeout=30)[sys.argv[2]].result()
EOF
ok "created topic $TOPIC (1 partition, replication factor $EDDY_RF)"

# replicated WHEN: kcat -L shows the partition with EDDY_RF distinct replicas, the
# leader among them, and all of them in sync (polled: followers join as they catch up).
replicated() {
	local deadline=$((SECONDS + KCAT_TIMEOUT)) line leader reps isrs
	while :; do
		kc -L -t "$TOPIC" -m 10 >"$WORK/tmeta" 2>"$WORK/tmeta.err" || true
		line=$(grep -E '^ +partition 0,' "$WORK/tmeta" || true)
		if [[ $line =~ leader\ (-?[0-9]+),\ replicas:\ ([0-9,]*),\ isrs:\ ([0-9,]*) ]]; then
			leader=${BASH_REMATCH[1]}
			reps=$(tr , '\n' <<<"${BASH_REMATCH[2]}" | sort -nu | paste -sd,)
			isrs=$(tr , '\n' <<<"${BASH_REMATCH[3]}" | sort -nu | paste -sd,)
			if [[ $(tr , '\n' <<<"${BASH_REMATCH[2]}" | wc -l) -eq $EDDY_RF &&
				$(tr , '\n' <<<"$reps" | wc -l) -eq $EDDY_RF && $reps == "$isrs" &&
				",$reps," == *",$leader,"* ]]; then
				ok "kcat -L $1: $(sed 's/^ *//' <<<"$line")"
				return
			fi
		fi
		((SECONDS < deadline)) ||
			fail "kcat -L $1: want the leader among $EDDY_RF distinct replicas, all in sync; got '${line:-no partition 0}' $(cat "$WORK/tmeta.err")"
		sleep 0.5
	done
}
replicated "after create"

# 3. Produce 100 keyed records with headers. Values contain the key delimiter ':' (only the
#    first ':' splits), spaces and UTF-8.
for i in $(seq 1 100); do
	printf 'key-%03d:value %d: caf\xc3\xa9 \xe6\xbc\xa2 %s\n' "$i" "$i" "$(printf 'x%.0s' $(seq 1 $((i % 7 + 1))))"
done >"$WORK/in"
kc -P -t "$TOPIC" -K: -H h1=v1 -H h2=with=equals -X acks=all -X enable.idempotence=true \
	-l "$WORK/in" 2>"$WORK/produce.err" || fail "kcat -P produce 100 records: $(cat "$WORK/produce.err")"
if grep -qi 'error\|fail' "$WORK/produce.err"; then
	fail "kcat -P reported errors: $(cat "$WORK/produce.err")"
fi
ok "kcat -P produced 100 keyed records with headers (idempotent, acks=all)"
replicated "after produce"

# 4. Consume them back and compare exactly: key, value, headers, and offsets 0..99 in order.
kc -C -t "$TOPIC" -o beginning -e -q -f '%p|%o|%k|%s|%h\n' >"$WORK/out" 2>"$WORK/consume.err" ||
	fail "kcat -C consume: $(cat "$WORK/consume.err")"
i=0
while IFS=':' read -r key value; do
	printf '0|%d|%s|%s|h1=v1,h2=with=equals\n' "$i" "$key" "$value"
	i=$((i + 1))
done <"$WORK/in" >"$WORK/want"
if ! diff -u "$WORK/want" "$WORK/out" >"$WORK/diff"; then
	head -40 "$WORK/diff" >&2
	fail "kcat -C: consumed records differ from produced ones (diff above: - want, + got; $(wc -l <"$WORK/out") lines consumed)"
fi
ok "kcat -C consumed all 100 records back intact (partition, offset, key, value, headers)"

# 5. Offset queries: -Q with the -1 (latest) timestamp gives the high watermark, 100.
hw=$(kc -Q -t "$TOPIC:0:-1" 2>"$WORK/q.err" | grep -Eo 'offset -?[0-9]+' | awk '{print $2}') ||
	fail "kcat -Q latest offset: $(cat "$WORK/q.err")"
[[ "$hw" == 100 ]] || fail "kcat -Q latest offset: got '$hw', want 100"
ok "kcat -Q latest offset is 100"

# 6. confluent-kafka (AdminClient, idempotent Producer, Consumer with assign()).
echo "== conformance.py"
$PY "$HERE/conformance.py" "$ADDR" || fail "conformance.py (confluent-kafka) checks failed, see above"

# 7. confluent-kafka consumer groups: split, commit, resume.
echo "== groups.py"
$PY "$HERE/groups.py" "$ADDR" || fail "groups.py (confluent-kafka consumer groups) checks failed, see above"

# 8. confluent-kafka dynamic broker configs (AlterConfigs/DescribeConfigs on BROKER).
# Its per-broker checks describe a topic through whichever broker the client
# picks, so they hold on a single broker only (as against Kafka).
if [[ -z ${CONFORMANCE_CLUSTER:-} ]]; then
	echo "== broker_configs.py"
	$PY "$HERE/broker_configs.py" "$ADDR" || fail "broker_configs.py (confluent-kafka dynamic broker configs) checks failed, see above"
else
	echo "== broker_configs.py not run against a cluster: a per-broker config shows only where it was set"
fi

# 9. confluent-kafka per-record produce errors (KIP-467) on a compacted topic.
echo "== record_errors.py"
$PY "$HERE/record_errors.py" "$ADDR" || fail "record_errors.py (per-record produce errors) checks failed, see above"

# 10. confluent-kafka and kcat transactions: commit/abort, read_committed,
# LSO, fencing, timeouts, consume-transform-produce.
echo "== transactions.py"
$PY "$HERE/transactions.py" "$ADDR" || fail "transactions.py (transactions) checks failed, see above"

echo "run.sh: all conformance checks passed against $ADDR"
