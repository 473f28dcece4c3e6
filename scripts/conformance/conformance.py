#!/usr/bin/python3
"""Client conformance checks for Eddy using confluent-kafka-python (librdkafka).

Usage: /usr/bin/python3 scripts/conformance/conformance.py HOST:PORT

Needs Debian's python3-confluent-kafka (1.7, librdkafka 2.0); use /usr/bin/python3,
not another python3 that may come first on PATH.

Prints one line per check ("ok   ..." or "FAIL ...") and exits 1 on the first failure.
Consumer groups are not used: the consumer assign()s partitions explicitly and never
commits, so no group coordinator is needed.
"""

import os
import sys
import time
import uuid

try:
    from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                                 TopicPartition, OFFSET_BEGINNING)
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    import confluent_kafka
except ImportError as e:  # pragma: no cover
    sys.exit("FAIL cannot import confluent_kafka (%s): run with /usr/bin/python3 after "
             "'apt-get install -y python3-confluent-kafka'" % e)

PARTITIONS = 3
NUM_KEYS = 100
PLAIN_RECORDS = 6000           # produced with compression.type=none
CODEC_RECORDS = 1000           # produced per compression codec below
CODECS = ["gzip", "snappy", "lz4", "zstd"]
TOTAL = PLAIN_RECORDS + CODEC_RECORDS * len(CODECS)   # 10,000
RETENTION_CREATE = "86400000"       # 1 day
RETENTION_ALTERED = "172800000"     # 2 days
MAX_MESSAGE_BYTES_CREATE = "2000000"
TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "60"))
# Replication factor of the topics created here: with-broker.sh sets it to
# min(3, nodes) for a cluster.
RF = int(os.environ.get("EDDY_RF", "1"))


class CheckFailed(Exception):
    pass


def ok(msg):
    print("ok   " + msg, flush=True)


FAILED = []
# Comma-separated ids of non-fatal checks whose failure is expected (e.g. a known gap of
# the broker under test); they print XFAIL and do not fail the run.
XFAIL = {x.strip() for x in os.environ.get("CONFORMANCE_XFAIL", "").split(",") if x.strip()}


def check(cond, msg, detail="", fatal=False, id=None):
    """Record one check. A failed non-fatal check is printed and the run goes on (so one
    run shows every gap); a failed fatal check stops the run because later checks
    depend on it. Either way the script exits 1."""
    if cond:
        ok(msg)
        return True
    text = msg + (": " + detail if detail else "")
    if fatal:
        raise CheckFailed(text)
    if id is not None and id in XFAIL:
        print("XFAIL [%s] %s" % (id, text), flush=True)
        return False
    if id is not None:
        text = "[%s] %s" % (id, text)
    print("FAIL " + text, flush=True)
    FAILED.append(text)
    return False


def kafka_error(exc):
    """Return the KafkaError inside a KafkaException (or None)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def error_cb(err):
    # librdkafka reports transient, non-fatal errors here (e.g. a dropped connection);
    # print them so a failing run explains itself, but do not fail on them alone.
    print("     (client error callback: %s)" % err, flush=True)


def record(i, codec):
    """Deterministic content of record i: key, value, headers."""
    key = ("key-%03d" % (i % NUM_KEYS)).encode()
    seq = i // NUM_KEYS
    if i % 997 == 0:
        value = b""                              # empty (not null) value
    elif i % 1499 == 0:
        value = bytes(range(256)) * 400          # ~100 KB binary value
    else:
        value = ("value %d seq=%d codec=%s \u00e9\u6f22 " % (i, seq, codec)).encode() \
            + bytes([i % 256, (i * 7) % 256, 0, 255]) + b"x" * (i % 50)
    headers = [
        ("idx", str(i).encode()),
        ("seq", str(seq).encode()),
        ("codec", codec.encode()),
        ("bin", bytes([0, 1, 2, 255, i % 256])),
        ("dup", b"first"),                       # duplicate header keys are legal and ordered
        ("dup", b"second"),
        ("empty", b""),
    ]
    return key, value, headers


def replication_problems(md, topic):
    """What is wrong with topic's partitions in md: each must have a live
    leader, RF distinct live replicas that include the leader, and a full ISR."""
    t = md.topics.get(topic)
    if t is None or t.error is not None or len(t.partitions) != PARTITIONS:
        return ["want %d partitions, got %r" % (PARTITIONS, t and (t.error, t.partitions))]
    bad = []
    for p in sorted(t.partitions.values(), key=lambda p: p.id):
        reps, isrs = list(p.replicas), list(p.isrs)
        if p.leader not in md.brokers or len(reps) != RF or len(set(reps)) != RF or \
                not set(reps) <= set(md.brokers) or p.leader not in reps or \
                sorted(isrs) != sorted(reps):
            bad.append("partition %d: leader %d replicas %s isrs %s (live brokers %s)" %
                       (p.id, p.leader, reps, isrs, sorted(md.brokers)))
    return bad


def wait_replicated(admin, topic, what):
    """Wait until metadata shows every partition of topic fully replicated."""
    deadline = time.time() + TIMEOUT
    while True:
        bad = replication_problems(admin.list_topics(topic=topic, timeout=TIMEOUT), topic)
        if not bad:
            break
        if time.time() > deadline:
            raise CheckFailed("metadata for %s: %s" % (what, "; ".join(bad)))
        time.sleep(0.2)
    ok("metadata: %s has %d partitions, each with a live leader, %d distinct live "
       "replicas and all of them in sync" % (what, PARTITIONS, RF))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: conformance.py HOST:PORT")
    addr = sys.argv[1]
    print("confluent-kafka %s, librdkafka %s, broker %s" %
          (confluent_kafka.version()[0], confluent_kafka.libversion()[0], addr), flush=True)
    run_id = uuid.uuid4().hex[:8]
    topic = "conformance-py-" + run_id
    common = {"bootstrap.servers": addr, "error_cb": error_cb,
              "socket.timeout.ms": 10000, "broker.address.family": "v4"}
    if os.environ.get("CONFORMANCE_DEBUG"):   # e.g. "protocol,broker": librdkafka logs to stderr
        common["debug"] = os.environ["CONFORMANCE_DEBUG"]

    admin = AdminClient(dict(common))

    # --- metadata --------------------------------------------------------------------
    md = admin.list_topics(timeout=TIMEOUT)
    check(len(md.brokers) >= 1, "metadata: at least one broker listed",
          "brokers=%r" % md.brokers)
    port = addr.rsplit(":", 1)[1]
    check(any(str(b.port) == port for b in md.brokers.values()),
          "metadata: a broker advertises port %s" % port,
          "brokers=%s" % ["%s:%d" % (b.host, b.port) for b in md.brokers.values()])
    check(bool(md.cluster_id), "metadata: cluster id present (%r)" % md.cluster_id, id="cluster-id")
    check(md.controller_id in md.brokers, "metadata: controller id %d is a listed broker" %
          md.controller_id, "brokers=%r" % list(md.brokers))

    # --- create topics ----------------------------------------------------------------
    cfg = {"retention.ms": RETENTION_CREATE, "cleanup.policy": "delete",
           "max.message.bytes": MAX_MESSAGE_BYTES_CREATE}
    fs = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=RF,
                                       config=cfg)], request_timeout=TIMEOUT)
    try:
        fs[topic].result()
    except KafkaException as e:
        raise CheckFailed("create topic %s: %s" % (topic, e))
    ok("create topic %s (%d partitions, replication factor %d, %s)" % (topic, PARTITIONS, RF, cfg))

    wait_replicated(admin, topic, "new topic")

    fs = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=RF)],
                             request_timeout=TIMEOUT)
    try:
        fs[topic].result()
        check(False, "create existing topic -> TOPIC_ALREADY_EXISTS", "it succeeded", id="create-existing")
    except KafkaException as e:
        err = kafka_error(e)
        check(err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS,
              "create existing topic -> TOPIC_ALREADY_EXISTS", "got %s" % e, id="create-existing")

    bad = "bad topic name!"
    fs = admin.create_topics([NewTopic(bad, num_partitions=1, replication_factor=RF)],
                             request_timeout=TIMEOUT)
    try:
        fs[bad].result()
        check(False, "create topic with invalid name %r -> INVALID_TOPIC_EXCEPTION" % bad,
              "it succeeded", id="invalid-topic-name")
        admin.delete_topics([bad], request_timeout=TIMEOUT)[bad].result()
    except KafkaException as e:
        err = kafka_error(e)
        check(err is not None and err.code() == KafkaError.TOPIC_EXCEPTION,
              "create topic with invalid name -> INVALID_TOPIC_EXCEPTION", "got %s" % e,
              id="invalid-topic-name")

    # --- produce ----------------------------------------------------------------------
    base_ts = int(time.time() * 1000) - 60_000
    sent = {}          # idx -> (key, value, headers, ts, codec)
    delivered = {}     # idx -> (partition, offset)
    failures = []

    def produce_phase(codec, start, count):
        conf = dict(common)
        conf.update({"enable.idempotence": True, "acks": "all", "compression.type": codec,
                     "linger.ms": 5, "message.timeout.ms": int(TIMEOUT * 1000)})
        p = Producer(conf)

        for i in range(start, start + count):
            key, value, headers = record(i, codec)
            ts = base_ts + i
            sent[i] = (key, value, headers, ts, codec)

            def cb(err, msg, i=i):
                if err is not None:
                    failures.append((i, err))
                else:
                    delivered[i] = (msg.partition(), msg.offset())
            while True:
                try:
                    p.produce(topic, key=key, value=value, headers=headers, timestamp=ts,
                              on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
        remaining = p.flush(TIMEOUT)
        if remaining:
            raise CheckFailed("produce %s: %d records still undelivered after %.0fs" %
                              (codec, remaining, TIMEOUT))
        if failures:
            raise CheckFailed("produce %s: %d delivery failures, first: record %d: %s" %
                              (codec, len(failures), failures[0][0], failures[0][1]))
        missing = [i for i in range(start, start + count) if i not in delivered]
        if missing:
            raise CheckFailed("produce %s: no delivery report for %d records" %
                              (codec, len(missing)))
        ok("produce %d records, idempotent, acks=all, compression=%s: all delivered" %
           (count, codec))

    produce_phase("none", 0, PLAIN_RECORDS)
    start = PLAIN_RECORDS
    for codec in CODECS:
        produce_phase(codec, start, CODEC_RECORDS)
        start += CODEC_RECORDS

    # Delivery reports must give distinct, per-partition contiguous offsets.
    per_part = {}
    for i, (p, o) in delivered.items():
        per_part.setdefault(p, []).append(o)
    dup = sum(len(v) - len(set(v)) for v in per_part.values())
    check(dup == 0, "delivery reports: offsets unique per partition", "%d duplicates" % dup)
    contiguous = all(sorted(v) == list(range(len(v))) for v in per_part.values())
    check(contiguous, "delivery reports: offsets per partition are 0..n-1",
          {p: (min(v), max(v), len(v)) for p, v in per_part.items()}.__repr__())
    check(set(per_part) <= set(range(PARTITIONS)) and len(per_part) == PARTITIONS,
          "delivery reports: records spread over all %d partitions" % PARTITIONS,
          "partitions=%s" % sorted(per_part))

    # acks=all waited for the ISR, so every replica still keeps up.
    wait_replicated(admin, topic, "topic after produce")

    # --- consume with assign() --------------------------------------------------------
    cons = Consumer(dict(common, **{
        "group.id": "conformance-dummy-" + run_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "check.crcs": True,
    }))
    cons.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    got = {}           # idx -> (partition, offset, key, value, headers, ts)
    eof = set()
    deadline = time.time() + TIMEOUT
    while (len(got) < TOTAL or len(eof) < PARTITIONS) and time.time() < deadline:
        msg = cons.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
                continue
            raise CheckFailed("consume: error on partition %s: %s" %
                              (msg.partition(), msg.error()))
        eof.discard(msg.partition())
        hs = dict(msg.headers() or []).get("idx")
        if hs is None:
            raise CheckFailed("consume: record at %d/%d has no idx header" %
                              (msg.partition(), msg.offset()))
        idx = int(hs)
        if idx in got:
            raise CheckFailed("consume: record %d seen twice (%d/%d and %d/%d)" %
                              (idx, got[idx][0], got[idx][1], msg.partition(), msg.offset()))
        got[idx] = (msg.partition(), msg.offset(), msg.key(), msg.value(),
                    msg.headers(), msg.timestamp())
    check(len(got) == TOTAL, "consume (assign, OFFSET_BEGINNING): got all %d records" % TOTAL,
          "got %d, eof partitions %s" % (len(got), sorted(eof)), fatal=True)

    bad = []
    for i in range(TOTAL):
        key, value, headers, ts, codec = sent[i]
        p, o, k, v, h, (tstype, t) = got[i]
        if (p, o) != delivered[i]:
            bad.append("record %d at %d/%d, delivery report said %s" % (i, p, o, delivered[i]))
        if k != key:
            bad.append("record %d key %r != %r" % (i, k, key))
        if v != value:
            bad.append("record %d value differs (len %d vs %d)" %
                       (i, len(v or b""), len(value)))
        if list(h or []) != headers:
            bad.append("record %d headers %r != %r" % (i, h, headers))
        if tstype != confluent_kafka.TIMESTAMP_CREATE_TIME or t != ts:
            bad.append("record %d timestamp (%d, %d) != (CreateTime, %d)" % (i, tstype, t, ts))
        if len(bad) > 10:
            break
    check(not bad, "consume: every record intact (partition/offset, key, value, headers, "
          "timestamp)", "; ".join(bad[:10]))

    # Per-key order: a key lives in one partition and its seq numbers rise with offset.
    by_key = {}
    for i in range(TOTAL):
        p, o = got[i][0], got[i][1]
        by_key.setdefault(sent[i][0], []).append((p, o, i))
    order_bad = []
    for key, lst in by_key.items():
        parts = {p for p, _, _ in lst}
        if len(parts) != 1:
            order_bad.append("%r in partitions %s" % (key, sorted(parts)))
            continue
        idxs = [i for _, _, i in sorted(lst)]
        if idxs != sorted(idxs):
            order_bad.append("%r out of order" % key)
    check(not order_bad, "consume: per-key order preserved for %d keys" % len(by_key),
          "; ".join(order_bad[:5]))

    # --- list offsets -----------------------------------------------------------------
    counts = {p: len(v) for p, v in per_part.items()}
    for p in range(PARTITIONS):
        lo, hi = cons.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT,
                                            cached=False)
        check(lo == 0 and hi == counts.get(p, 0),
              "watermarks partition %d: low=%d high=%d" % (p, lo, hi),
              "want low=0 high=%d" % counts.get(p, 0), id="watermarks")

    # offsets_for_times: earliest offset whose timestamp >= T, or -1 (end) if none.
    # librdkafka keeps one query per partition per call (a second TopicPartition for the
    # same partition silently replaces the first), so each target gets its own call.
    recs_by_part = {p: sorted((o, ts) for (pp, o, _, _, _, (_, ts)) in got.values() if pp == p)
                    for p in range(PARTITIONS)}
    mism = []
    n = 0
    for label in ("before first", "first", "middle", "middle+1ms", "after last"):
        queries, expect = [], []
        for p in range(PARTITIONS):
            recs = recs_by_part[p]
            mid_ts = recs[len(recs) // 2][1]
            target = {"before first": 0, "first": base_ts, "middle": mid_ts,
                      "middle+1ms": mid_ts + 1,
                      "after last": base_ts + TOTAL + 10_000_000}[label]
            queries.append(TopicPartition(topic, p, target))
            expect.append(next((o for o, ts in recs if ts >= target), -1))
        res = cons.offsets_for_times(queries, timeout=TIMEOUT)
        for q, r, want in zip(queries, res, expect):
            n += 1
            if r.error is not None or r.offset != want:
                mism.append("%s: p%d ts=%d -> %s (err %s), want %d" %
                            (label, q.partition, q.offset, r.offset, r.error, want))
    check(not mism, "offsets_for_times: %d lookups (before first, first, middle, after last)"
          % n, "; ".join(mism[:6]), id="offsets-for-times")
    cons.close()

    # --- configs ----------------------------------------------------------------------
    res = ConfigResource("topic", topic)

    def describe():
        f = admin.describe_configs([res], request_timeout=TIMEOUT)
        try:
            return list(f.values())[0].result()
        except KafkaException as e:
            raise CheckFailed("describe_configs %s: %s" % (topic, e))

    def val(entries, name):
        e = entries.get(name)
        return None if e is None else e.value

    entries = describe()
    check(val(entries, "retention.ms") == RETENTION_CREATE and
          val(entries, "cleanup.policy") == "delete" and
          val(entries, "max.message.bytes") == MAX_MESSAGE_BYTES_CREATE,
          "describe_configs: values set at create time are reported",
          "retention.ms=%r cleanup.policy=%r max.message.bytes=%r" %
          (val(entries, "retention.ms"), val(entries, "cleanup.policy"),
           val(entries, "max.message.bytes")))
    e = entries.get("retention.ms")
    dynamic = confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    check(e is not None and not e.is_default and e.source == dynamic,
          "describe_configs: retention.ms source is DYNAMIC_TOPIC_CONFIG",
          "is_default=%r source=%r" % (e and e.is_default, e and e.source), id="config-source")
    check(len(entries) > 3, "describe_configs: lists the topic's full config set (%d entries)"
          % len(entries), id="config-full-set")

    if hasattr(admin, "incremental_alter_configs"):   # confluent-kafka >= 2.2
        from confluent_kafka.admin import ConfigEntry, AlterConfigOpType
        r = ConfigResource("topic", topic, incremental_configs=[
            ConfigEntry("retention.ms", RETENTION_ALTERED,
                        incremental_operation=AlterConfigOpType.SET)])
        f = admin.incremental_alter_configs([r])
        how = "incremental_alter_configs"
        expect_mmb = MAX_MESSAGE_BYTES_CREATE
    else:
        # Legacy AlterConfigs replaces the whole set: what is not given reverts to default.
        r = ConfigResource("topic", topic,
                           set_config={"retention.ms": RETENTION_ALTERED,
                                       "cleanup.policy": "delete"})
        f = admin.alter_configs([r], request_timeout=TIMEOUT)
        how = "alter_configs"
        expect_mmb = None
    try:
        list(f.values())[0].result()
    except KafkaException as e:
        raise CheckFailed("%s %s: %s" % (how, topic, e))
    ok("%s: retention.ms=%s" % (how, RETENTION_ALTERED))

    entries = describe()
    check(val(entries, "retention.ms") == RETENTION_ALTERED and
          val(entries, "cleanup.policy") == "delete",
          "describe_configs after %s: retention.ms=%s cleanup.policy=delete" %
          (how, RETENTION_ALTERED),
          "retention.ms=%r cleanup.policy=%r" %
          (val(entries, "retention.ms"), val(entries, "cleanup.policy")))
    mmb = entries.get("max.message.bytes")
    if expect_mmb is None:
        check(mmb is not None and mmb.value != MAX_MESSAGE_BYTES_CREATE and
              mmb.source != dynamic,
              "describe_configs after alter_configs: unlisted max.message.bytes reverted to "
              "default (%r)" % (mmb and mmb.value),
              "value=%r source=%r" % (mmb and mmb.value, mmb and mmb.source), id="alter-configs-revert")
    else:
        check(mmb is not None and mmb.value == expect_mmb,
              "describe_configs after incremental alter: max.message.bytes kept")

    # --- delete topic -----------------------------------------------------------------
    fs = admin.delete_topics([topic], request_timeout=TIMEOUT)
    try:
        fs[topic].result()
    except KafkaException as e:
        raise CheckFailed("delete topic %s: %s" % (topic, e))
    ok("delete topic %s" % topic)
    deadline = time.time() + TIMEOUT
    while topic in admin.list_topics(timeout=TIMEOUT).topics:
        if time.time() > deadline:
            raise CheckFailed("deleted topic %s still listed in metadata" % topic)
        time.sleep(0.2)
    ok("metadata: deleted topic no longer listed")

    fs = admin.delete_topics([topic], request_timeout=TIMEOUT)
    try:
        fs[topic].result()
        check(False, "delete missing topic -> UNKNOWN_TOPIC_OR_PARTITION", "it succeeded", id="delete-missing")
    except KafkaException as e:
        err = kafka_error(e)
        check(err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
              "delete missing topic -> UNKNOWN_TOPIC_OR_PARTITION", "got %s" % e, id="delete-missing")


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        print("FAIL " + str(e), flush=True)
        print("conformance.py: stopped at a fatal failure (%d earlier failures)" % len(FAILED))
        sys.exit(1)
    if FAILED:
        print("conformance.py: %d checks FAILED:" % len(FAILED))
        for f in FAILED:
            print("  - " + f)
        sys.exit(1)
    print("conformance.py: all checks passed", flush=True)
