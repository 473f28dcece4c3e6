#!/usr/bin/env bash
# Security conformance: real clients against eddy over SASL_SSL and
# SASL_PLAINTEXT. Makes a CA and a server certificate (openssl), starts two
# brokers with a bootstrap SCRAM user, one with TLS and one without, both
# with sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512, then runs
# kcat (librdkafka) with each mechanism, wrong credentials and the wrong
# security protocol, and security.py (confluent-kafka-python, kafka-python).
# Always stops the brokers; prints their logs on failure.
#
#   scripts/conformance/security.sh
#
# Environment: EDDY_BIN (skip the build), EDDY_START_TIMEOUT (30 s),
# CONFORMANCE_TIMEOUT (per step, 60 s).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
START_TIMEOUT=${EDDY_START_TIMEOUT:-30}
KCAT_TIMEOUT=${CONFORMANCE_TIMEOUT:-60}
USER_NAME=admin
PASSWORD=admin-secret
TMP=$(mktemp -d)
PIDS=()

fail() {
	echo "FAIL $*" >&2
	exit 1
}
ok() { echo "ok   $*"; }

on_exit() {
	rc=$?
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $rc -ne 0 ]]; then
		for f in "$TMP"/*.log; do
			[[ -s $f ]] || continue
			echo "---- $f (last 100 lines) ----" >&2
			tail -n 100 "$f" >&2
		done
	fi
	rm -rf "$TMP"
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

command -v kcat >/dev/null || fail "kcat not installed (apt-get install -y kcat)"
command -v openssl >/dev/null || fail "openssl not installed"
$PY -c 'import confluent_kafka, kafka' 2>/dev/null ||
	fail "$PY cannot import confluent_kafka and kafka (apt-get install -y python3-confluent-kafka python3-kafka)"

if [[ -n ${EDDY_BIN:-} ]]; then
	BIN=$EDDY_BIN
else
	(cd "$ROOT" && go build -o "$TMP/eddy" ./cmd/eddy) || fail "go build ./cmd/eddy"
	BIN=$TMP/eddy
fi

# A CA and a server certificate for 127.0.0.1 and localhost.
(
	cd "$TMP"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj "/CN=eddy conformance CA" -keyout ca-key.pem -out ca.pem
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
		-keyout server-key.pem -out server.csr
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 \
		-extfile ext.cnf -out server.pem
) >"$TMP/openssl.out" 2>&1 || fail "making certificates: $(cat "$TMP/openssl.out")"
ok "made a CA and a server certificate"

read -r P1 P2 H1 H2 < <($PY -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
SSL_ADDR=127.0.0.1:$P1
PLAIN_ADDR=127.0.0.1:$P2
MECHS=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512

start() { # name kafka-addr http-addr extra-args...
	local name=$1 addr=$2 http=$3
	shift 3
	EDDY_BOOTSTRAP_USER=$USER_NAME:$PASSWORD "$BIN" serve --data-dir "$TMP/$name" --kafka-addr "$addr" \
		--http-addr "$http" --set sasl.enabled.mechanisms=$MECHS "$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=("$!")
}
start ssl "$SSL_ADDR" "127.0.0.1:$H1" --tls-cert "$TMP/server.pem" --tls-key "$TMP/server-key.pem"
start plain "$PLAIN_ADDR" "127.0.0.1:$H2"

SSL_ARGS=(-X security.protocol=SASL_SSL -X "ssl.ca.location=$TMP/ca.pem")
PLAIN_ARGS=(-X security.protocol=SASL_PLAINTEXT)
kc() { # addr mechanism user password kcat-args...
	local addr=$1 mech=$2 user=$3 pw=$4
	shift 4
	timeout "$KCAT_TIMEOUT" kcat -b "$addr" -X broker.address.family=v4 -X "sasl.mechanisms=$mech" \
		-X "sasl.username=$user" -X "sasl.password=$pw" "$@"
}

deadline=$((SECONDS + START_TIMEOUT))
for which in SSL PLAIN; do
	addr_var=${which}_ADDR
	args_var=${which}_ARGS[@]
	until kc "${!addr_var}" SCRAM-SHA-256 "$USER_NAME" "$PASSWORD" "${!args_var}" -L -m 2 >/dev/null 2>&1; do
		for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a broker exited before answering metadata"; done
		((SECONDS < deadline)) || fail "the SASL_$which broker did not answer metadata within ${START_TIMEOUT}s"
		sleep 0.5
	done
done
ok "both brokers answer authenticated metadata"

for which in SSL PLAIN; do
	addr_var=${which}_ADDR
	args_var=${which}_ARGS[@]
	addr=${!addr_var}
	proto=SASL_$which
	[[ $which == PLAIN ]] && proto=SASL_PLAINTEXT
	for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
		topic=security-kcat-$RANDOM$RANDOM
		seq 1 100 | sed 's/^/record-/' >"$TMP/in"
		kc "$addr" "$mech" "$USER_NAME" "$PASSWORD" "${!args_var}" -P -t "$topic" -X allow.auto.create.topics=true \
			-X acks=all -l "$TMP/in" 2>"$TMP/p.err" || fail "kcat $proto $mech produce: $(cat "$TMP/p.err")"
		kc "$addr" "$mech" "$USER_NAME" "$PASSWORD" "${!args_var}" -C -t "$topic" -o beginning -e -q \
			>"$TMP/out" 2>"$TMP/c.err" || fail "kcat $proto $mech consume: $(cat "$TMP/c.err")"
		diff -q "$TMP/in" "$TMP/out" >/dev/null ||
			fail "kcat $proto $mech: consumed $(wc -l <"$TMP/out") lines, not the 100 produced"
		ok "kcat $proto $mech: produced and consumed 100 records"
	done
	if kc "$addr" SCRAM-SHA-512 "$USER_NAME" wrong "${!args_var}" -L -m 5 >"$TMP/bad" 2>&1; then
		fail "kcat $proto with a wrong password got metadata"
	fi
	grep -qi "authentication failed\|invalid credentials" "$TMP/bad" ||
		fail "kcat $proto wrong password: no authentication error in $(head -5 "$TMP/bad")"
	ok "kcat $proto wrong password refused: $(grep -oi 'authentication failed[^(]*' "$TMP/bad" | head -1)"
done

# The wrong security protocol: plaintext to the TLS port, TLS to the plaintext one.
if timeout 20 kcat -b "$SSL_ADDR" -X broker.address.family=v4 "${PLAIN_ARGS[@]}" -X sasl.mechanisms=PLAIN \
	-X sasl.username=$USER_NAME -X sasl.password=$PASSWORD -L -m 5 >/dev/null 2>&1; then
	fail "SASL_PLAINTEXT client served by the SASL_SSL listener"
fi
grep -q "not speaking TLS to this TLS listener" "$TMP/ssl.log" || fail "no log line naming the plaintext client"
if timeout 20 kcat -b "$PLAIN_ADDR" -X broker.address.family=v4 "${SSL_ARGS[@]}" -X sasl.mechanisms=PLAIN \
	-X sasl.username=$USER_NAME -X sasl.password=$PASSWORD -L -m 5 >/dev/null 2>&1; then
	fail "SASL_SSL client served by the SASL_PLAINTEXT listener"
fi
grep -q "speaking TLS to this plaintext listener" "$TMP/plain.log" || fail "no log line naming the TLS client"
ok "the wrong security protocol is refused both ways and logged"

echo "== security.py"
$PY "$HERE/security.py" "$SSL_ADDR" "$PLAIN_ADDR" "$TMP/ca.pem" "$USER_NAME" "$PASSWORD" ||
	fail "security.py checks failed, see above"
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a broker exited during the checks"; done
echo "security.sh: all security checks passed"
