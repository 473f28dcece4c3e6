#!/usr/bin/python3
"""Security conformance checks for Eddy: SASL over TLS and plaintext.

Usage: /usr/bin/python3 scripts/conformance/security.py SSL_ADDR PLAIN_ADDR CA_FILE USER PASSWORD

SSL_ADDR serves SASL_SSL (certificate signed by CA_FILE), PLAIN_ADDR
SASL_PLAINTEXT; both know USER with PASSWORD under SCRAM-SHA-256 and -512.
confluent-kafka-python (librdkafka: ApiVersions, SaslHandshake v1,
SaslAuthenticate) creates a topic, produces and consumes with each mechanism
on each listener; a wrong password and an unknown user fail with an
authentication error; kafka-python (SaslHandshake v0, then raw SASL tokens
without SaslAuthenticate framing) produces and consumes with PLAIN and
SCRAM. Prints one line per check and exits 1 on the first failure.
"""

import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "60"))
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
RECORDS = 300


def ok(msg):
    print("ok   " + msg, flush=True)


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def conf(addr, protocol, ca, mechanism, user, password):
    c = {
        "bootstrap.servers": addr,
        "security.protocol": protocol,
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    if protocol == "SASL_SSL":
        c["ssl.ca.location"] = ca
    return c


def produce_consume(c, topic, tag):
    p = Producer(dict(c, **{"enable.idempotence": True, "linger.ms": 5}))
    for i in range(RECORDS):
        p.produce(topic, key=b"k%d" % i, value=("%s %d" % (tag, i)).encode())
    if p.flush(TIMEOUT) != 0:
        fail("%s: records left undelivered" % tag)
    cons = Consumer(dict(c, **{"group.id": "security-" + uuid.uuid4().hex[:8], "enable.auto.commit": False}))
    cons.assign([TopicPartition(topic, 0, 0)])
    got, deadline = [], time.time() + TIMEOUT
    while len(got) < RECORDS and time.time() < deadline:
        m = cons.poll(0.5)
        if m is None:
            continue
        if m.error():
            fail("%s: consume error %s" % (tag, m.error()))
        got.append(m.value().decode())
    cons.close()
    want = ["%s %d" % (tag, i) for i in range(RECORDS)]
    if got != want:
        fail("%s: consumed %d records, want the %d produced (first %r)" % (tag, len(got), RECORDS, got[:2]))


def refused(c, what):
    """An AdminClient with bad credentials reports an authentication error."""
    errors = []
    a = AdminClient(dict(c, **{"error_cb": lambda e: errors.append(e)}))
    try:
        a.list_topics(timeout=10)
        fail("%s: metadata answered" % what)
    except KafkaException:
        pass
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        a.poll(0.2)
    if not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        fail("%s: no authentication error reported, got %s" % (what, [str(e) for e in errors]))
    ok("%s refused: %s" % (what, next(e for e in errors if e.code() == KafkaError._AUTHENTICATION).str()[:120]))


def kafka_python(addr, protocol, ca, mechanism, user, password, topic):
    """kafka-python 2.0 sends SaslHandshake v0 and raw SASL tokens."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTP

    kw = dict(bootstrap_servers=addr, security_protocol=protocol, sasl_mechanism=mechanism,
              sasl_plain_username=user, sasl_plain_password=password, api_version=(2, 0, 0))
    if protocol == "SASL_SSL":
        kw.update(ssl_cafile=ca, ssl_check_hostname=False)
    tag = "kafka-python %s %s" % (protocol, mechanism)
    p = KafkaProducer(**kw)
    for i in range(50):
        p.send(topic, key=b"k", value=("%s %d" % (tag, i)).encode())
    p.flush(TIMEOUT)
    p.close()
    c = KafkaConsumer(consumer_timeout_ms=int(TIMEOUT * 1000), **kw)
    tp = KTP(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for m in c:
        if m.value.decode().startswith(tag + " "):
            got.append(m.value.decode())
        if len(got) == 50:
            break
    c.close()
    if got != ["%s %d" % (tag, i) for i in range(50)]:
        fail("%s: consumed %d of 50 records" % (tag, len(got)))
    ok("%s: produced and consumed 50 records (SaslHandshake v0, raw tokens)" % tag)


def main(ssl_addr, plain_addr, ca, user, password):
    for protocol, addr in (("SASL_SSL", ssl_addr), ("SASL_PLAINTEXT", plain_addr)):
        admin = AdminClient(conf(addr, protocol, ca, "SCRAM-SHA-512", user, password))
        for mechanism in MECHANISMS:
            topic = "security-" + uuid.uuid4().hex[:8]
            admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(TIMEOUT)
            tag = "%s %s" % (protocol, mechanism)
            produce_consume(conf(addr, protocol, ca, mechanism, user, password), topic, tag)
            ok("%s: produced and consumed %d records (idempotent)" % (tag, RECORDS))
        refused(conf(addr, protocol, ca, "SCRAM-SHA-256", user, password + "x"), "%s wrong password" % protocol)
        refused(conf(addr, protocol, ca, "PLAIN", "nobody", password), "%s unknown user" % protocol)
        for mechanism in ("PLAIN", "SCRAM-SHA-512"):
            kafka_python(addr, protocol, ca, mechanism, user, password, topic)
    print("security.py: all checks passed")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
