#!/usr/bin/python3
"""Consumer-group conformance checks for Eddy with confluent-kafka-python (librdkafka).

Usage: /usr/bin/python3 scripts/conformance/groups.py HOST:PORT

Two consumers of one group split a topic's partitions and commit what they
process; a restarted consumer of the group resumes from the commits. Prints one
line per check and exits 1 on the first failure.
"""

import os
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4
RECORDS = 2000
TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "60"))
RF = int(os.environ.get("EDDY_RF", "1"))  # replication factor (with-broker.sh)


def ok(msg):
    print("ok   " + msg, flush=True)


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def consumer(addr, group, name):
    return Consumer({
        "bootstrap.servers": addr,
        "group.id": group,
        "client.id": name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })


def poll_until(consumers, done, seen, deadline):
    """Poll every consumer in turn, committing each record after it is
    processed, until done() or the deadline."""
    while not done():
        if time.time() > deadline:
            return False
        for name, c in consumers.items():
            msg = c.poll(0.1)
            if msg is None or msg.error():
                continue
            seen.setdefault(name, []).append((msg.partition(), msg.offset(), msg.value()))
            c.commit(message=msg, asynchronous=False)
    return True


def main(addr):
    topic = "conformance-groups-" + uuid.uuid4().hex[:8]
    group = "conformance-group-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": addr})
    admin.create_topics([NewTopic(topic, PARTITIONS, RF)])[topic].result(TIMEOUT)
    ok("created %s with %d partitions" % (topic, PARTITIONS))

    p = Producer({"bootstrap.servers": addr, "enable.idempotence": True, "linger.ms": 5})
    for i in range(RECORDS):
        p.produce(topic, key=str(i % 40).encode(), value=str(i).encode())
    if p.flush(TIMEOUT) != 0:
        fail("produce: records left undelivered")
    ok("produced %d records" % RECORDS)

    half = RECORDS // 2
    consumers = {"a": consumer(addr, group, "a"), "b": consumer(addr, group, "b")}
    for c in consumers.values():
        c.subscribe([topic])
    seen = {}
    total = lambda: sum(len(v) for v in seen.values())
    if not poll_until(consumers, lambda: total() >= half and len(seen) == 2, seen, time.time() + TIMEOUT):
        fail("two consumers: consumed %d records, by %s" % (total(), sorted(seen)))
    parts = {name: {p for p, _, _ in recs} for name, recs in seen.items()}
    if parts["a"] & parts["b"]:
        fail("two consumers read the same partitions: %s" % parts)
    assigned = {name: {tp.partition for tp in c.assignment()} for name, c in consumers.items()}
    if assigned["a"] & assigned["b"] or len(assigned["a"] | assigned["b"]) != PARTITIONS:
        fail("assignments overlap or miss partitions: %s" % assigned)
    ok("two consumers split the partitions: %s" % {k: sorted(v) for k, v in assigned.items()})

    committed = {}
    for name, c in consumers.items():
        for tp in c.committed([TopicPartition(topic, p) for p in assigned[name]], timeout=TIMEOUT):
            committed[tp.partition] = tp.offset
        c.close()
    last = {}
    for recs in seen.values():
        for p, off, _ in recs:
            last[p] = max(last.get(p, -1), off)
    for p, off in last.items():
        if committed.get(p) != off + 1:
            fail("partition %d committed %s, processed up to %d" % (p, committed.get(p), off))
    ok("commits match what was processed: %s" % dict(sorted(committed.items())))

    restarted = {"c": consumer(addr, group, "c")}
    restarted["c"].subscribe([topic])
    rest = {}
    want = RECORDS - total()
    if not poll_until(restarted, lambda: sum(len(v) for v in rest.values()) >= want, rest, time.time() + TIMEOUT):
        fail("restarted consumer read %d of the %d uncommitted records" % (sum(len(v) for v in rest.values()), want))
    for p, off, _ in rest["c"]:
        if off <= last.get(p, -1):
            fail("restarted consumer re-read partition %d offset %d, committed before" % (p, off))
    values = sorted(int(v) for recs in list(seen.values()) + list(rest.values()) for _, _, v in recs)
    if values != list(range(RECORDS)):
        fail("records across the group's life are not each read exactly once")
    restarted["c"].close()
    ok("restarted consumer resumed from the commits; every record read exactly once")
    admin.delete_topics([topic])[topic].result(TIMEOUT)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: groups.py HOST:PORT")
    main(sys.argv[1])
    print("groups.py: all checks passed")
