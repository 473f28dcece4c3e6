#!/usr/bin/python3
"""Per-record produce errors (KIP-467) with confluent-kafka-python (librdkafka).

Usage: /usr/bin/python3 scripts/conformance/record_errors.py HOST:PORT

librdkafka's test 0011 (test_message_single_partition_record_fail), against a
compacted topic: 100 records, every tenth without a key.
- In one batch: the broker refuses the batch with INVALID_RECORD and lists the
  keyless records in ProduceResponse ErrorRecords. librdkafka 2.4+ (Produce v8+)
  then fails exactly those 10 with INVALID_RECORD and the other 90 with
  _INVALID_DIFFERENT_RECORD; older librdkafka (Debian's 2.0 sends Produce v7,
  which has no ErrorRecords) fails all 100 with INVALID_RECORD.
- One record per batch (batch.size=1): the 10 keyless records fail with
  INVALID_RECORD and the 90 others are stored; a consumer reads exactly those.
Prints one line per check and exits 1 on the first failure.
"""

import os
import sys
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, libversion
from confluent_kafka.admin import AdminClient, NewTopic

RECORDS = 100
TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "60"))
RF = int(os.environ.get("EDDY_RF", "1"))  # replication factor (with-broker.sh)
INVALID_DIFFERENT_RECORD = -138  # RD_KAFKA_RESP_ERR__INVALID_DIFFERENT_RECORD, librdkafka 2.4+


def ok(msg):
    print("ok   " + msg, flush=True)


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def produce(addr, topic, extra):
    """Produce the 100 records to partition 0; return {index: error code or 0}."""
    results = {}

    def report(err, msg):
        results[int(msg.value())] = err.code() if err else 0

    # A long linger keeps the 100 records in one batch however slowly this
    # loop runs on a loaded machine; flush() sends at once.
    conf = dict({"bootstrap.servers": addr, "linger.ms": 5000, "batch.num.messages": 1000}, **extra)
    if os.environ.get("CONFORMANCE_DEBUG"):
        conf["debug"] = os.environ["CONFORMANCE_DEBUG"]
    p = Producer(conf)
    # Know the partition first: records queued while its metadata is still
    # on the way can reach it in two steps, and flush() then sends two batches.
    p.list_topics(topic, TIMEOUT)
    for i in range(RECORDS):
        key = None if i % 10 == 0 else b"key-%d" % i
        p.produce(topic, value=b"%d" % i, key=key, partition=0, on_delivery=report)
    left = p.flush(TIMEOUT)
    if left or len(results) != RECORDS:
        fail("%d of %d delivery reports after %.0f s" % (len(results), RECORDS, TIMEOUT))
    return results


def codes(results, which):
    return sorted({results[i] for i in which})


def main(addr):
    version = libversion()
    per_record = version[1] >= 0x02040000
    admin = AdminClient({"bootstrap.servers": addr})
    topic = "record-errors-" + uuid.uuid4().hex[:8]
    admin.create_topics([NewTopic(topic, 1, RF, config={"cleanup.policy": "compact"})])[topic].result(TIMEOUT)
    ok("created compacted topic %s (librdkafka %s)" % (topic, version[0]))

    keyless = [i for i in range(RECORDS) if i % 10 == 0]
    keyed = [i for i in range(RECORDS) if i % 10 != 0]
    invalid = KafkaError.INVALID_RECORD

    got = produce(addr, topic, {})
    if codes(got, keyless) != [invalid]:
        fail("one batch: keyless records got %s, want INVALID_RECORD" % codes(got, keyless))
    want = [INVALID_DIFFERENT_RECORD] if per_record else [invalid]
    if codes(got, keyed) != want:
        fail("one batch: keyed records got %s, want %s" % (codes(got, keyed), want))
    ok("one batch: the 10 keyless records fail with INVALID_RECORD, the 90 others with %s" %
       ("_INVALID_DIFFERENT_RECORD (per-record errors)" if per_record else "INVALID_RECORD (Produce v7, no per-record errors)"))

    got = produce(addr, topic, {"batch.size": 1})
    if codes(got, keyless) != [invalid] or codes(got, keyed) != [0]:
        fail("one record per batch: keyless got %s, keyed got %s" % (codes(got, keyless), codes(got, keyed)))
    ok("one record per batch: the 10 keyless records fail, the 90 others are stored")

    c = Consumer({"bootstrap.servers": addr, "group.id": topic, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    values = []
    while len(values) < len(keyed):
        m = c.poll(TIMEOUT)
        if m is None:
            fail("consumed %d of %d records" % (len(values), len(keyed)))
        if m.error():
            fail("consume: %s" % m.error())
        values.append(int(m.value()))
    c.close()
    if values != keyed:
        fail("consumed %s, want the keyed records in order" % values)
    ok("a consumer reads exactly the 90 keyed records")
    admin.delete_topics([topic])[topic].result(TIMEOUT)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: record_errors.py HOST:PORT")
    main(sys.argv[1])
    print("record_errors.py: all checks passed")
