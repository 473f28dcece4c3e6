#!/usr/bin/python3
"""Transaction conformance checks for Eddy with confluent-kafka-python (librdkafka).

Usage: /usr/bin/python3 scripts/conformance/transactions.py HOST:PORT

A transactional producer commits and aborts across two topics; read_committed
consumers (confluent-kafka and kcat) see exactly the committed records, in
order, and stop at the last stable offset while a transaction is open;
watermarks and offsets_for_times follow the isolation level; a second
producer of a transactional id fences the first; a transaction timeout above
transaction.max.timeout.ms is refused and one that expires is aborted by the
broker; consume-transform-produce with send_offsets_to_transaction moves a
group's offsets only when its transaction commits. Prints one line per check
and exits 1 on the first failure, saying what was expected and what was seen.
"""

import os
import subprocess
import sys
import time
import uuid

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition, OFFSET_BEGINNING)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

PARTITIONS = 3
PER_PARTITION = 5  # records per partition per transaction
TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "60"))
RF = int(os.environ.get("EDDY_RF", "1"))  # replication factor (with-broker.sh)
DEBUG = os.environ.get("CONFORMANCE_DEBUG", "")
# The errors a fenced producer may see: librdkafka's own _FENCED, or the
# broker's PRODUCER_FENCED / INVALID_PRODUCER_EPOCH passed through.
FENCED = {getattr(KafkaError, "_FENCED", -144), 90, 47}
INVALID_TRANSACTION_TIMEOUT = 50
# The open transaction's records (and those after it) carry timestamps ten
# minutes ahead (inside message.timestamp.after.max.ms), one millisecond
# apart: every earlier batch, the broker's control markers included, is
# older, so offsets_for_times at their timestamps has a known answer.
FUTURE_TS = int(time.time() * 1000) + 600 * 1000


class Clock:
    """Hands out increasing record timestamps from FUTURE_TS."""

    def __init__(self):
        self.next = FUTURE_TS

    def __call__(self):
        self.next += 1
        return self.next


future = Clock()


def ok(msg):
    print("ok   " + msg, flush=True)


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def expect(cond, msg, want, got):
    if not cond:
        fail("%s: want %s, got %s" % (msg, want, got))
    ok(msg)


def conf(addr, **extra):
    c = {"bootstrap.servers": addr, "broker.address.family": "v4",
         "error_cb": lambda e: print("     (client error callback: %s)" % e, flush=True)}
    if DEBUG:
        c["debug"] = DEBUG
    c.update(extra)
    return c


def txn_producer(addr, tid, **extra):
    return Producer(conf(addr, **dict({"transactional.id": tid, "linger.ms": 5}, **extra)))


def produce(p, records, clock=None):
    """Produce (topic, partition, value) records, with timestamps from clock
    (else the client's time), and wait until each is acknowledged; returns
    {(topic, partition): [(offset, timestamp, value)]}."""
    errors, offsets = [], {}

    def on_delivery(err, msg):
        if err is not None:
            errors.append("%s/%d %r: %s" % (msg.topic(), msg.partition(), msg.value(), err))
            return
        offsets.setdefault((msg.topic(), msg.partition()), []).append(
            (msg.offset(), msg.timestamp()[1], msg.value()))
    for topic, part, value in records:
        p.produce(topic, value=value, partition=part, timestamp=clock() if clock else 0,
                  on_delivery=on_delivery)
    left = p.flush(TIMEOUT)
    if errors or left:
        fail("produce %d records: want all delivered, got %d undelivered, errors %s"
             % (len(records), left, errors[:5]))
    return offsets


def values(tag, topics, n=PER_PARTITION):
    """Records tag-topic-partition-i for every partition of topics."""
    return [(t, p, ("%s-%s-%d-%d" % (tag, t[-1], p, i)).encode())
            for t in topics for p in range(PARTITIONS) for i in range(n)]


def by_partition(records):
    out = {}
    for t, p, v in records:
        out.setdefault((t, p), []).append(v)
    return out


def consumer(addr, isolation):
    """A consumer for assign(): its group.id is never joined."""
    return Consumer(conf(addr, **{
        "group.id": "conformance-txn-reader-" + uuid.uuid4().hex[:8],
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }))


def read_to_end(c, tps, what, end=0):
    """Poll c until every partition in tps reports EOF (the last stable offset
    under read_committed, the high watermark otherwise) at end or later.
    Returns ({(topic, partition): [(offset, value)]}, {(topic, partition): eof offset})."""
    got, eof = {}, {}
    want = {(tp.topic, tp.partition) for tp in tps}
    deadline = time.time() + TIMEOUT
    while set(k for k, o in eof.items() if o >= end) != want:
        if time.time() > deadline:
            fail("%s: want EOF at %d or later on %s, got EOF at %s after %ds"
                 % (what, end, sorted(want), eof, TIMEOUT))
        m = c.poll(0.2)
        if m is None:
            continue
        key = (m.topic(), m.partition())
        if m.error() is not None:
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof[key] = m.offset()
                continue
            fail("%s: consume error %s" % (what, m.error()))
        eof.pop(key, None)  # more data after an EOF: wait for the next one
        got.setdefault(key, []).append((m.offset(), m.value()))
    return got, eof


def read_all(addr, isolation, tps, what, end=0):
    c = consumer(addr, isolation)
    c.assign([TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in tps])
    got, eof = read_to_end(c, tps, what, end)
    c.close()
    return got, eof


def check_read(got, want, what):
    """got {(t,p): [(offset, value)]} must hold exactly want {(t,p): [value]},
    in increasing offsets."""
    for key in sorted(set(got) | set(want)):
        recs = got.get(key, [])
        offs = [o for o, _ in recs]
        if offs != sorted(set(offs)):
            fail("%s %s/%d: want increasing offsets, got %s" % (what, key[0], key[1], offs))
        vals = [v for _, v in recs]
        if vals != want.get(key, []):
            fail("%s %s/%d: want %s, got %s" % (what, key[0], key[1],
                                                  [x.decode() for x in want.get(key, [])],
                                                  [x.decode() for x in vals]))


def all_tps(topics):
    return [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]


def kafka_error(exc):
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def must_raise(fn, what):
    """Run fn, which must raise a KafkaException; return its KafkaError."""
    try:
        fn()
    except KafkaException as e:
        err = kafka_error(e)
        if err is None:
            fail("%s: want a KafkaError, got %r" % (what, e))
        return err
    fail("%s: want an error, got success" % what)


def wait_stable(addr, tps, what):
    """Wait until no transaction is open on tps (their last stable offset is
    the high watermark): commit_transaction and abort_transaction return
    once the outcome is decided, before the coordinator's markers are in
    the partitions, so a read straight after would stop at the LSO."""
    rc, ru = consumer(addr, "read_committed"), consumer(addr, "read_uncommitted")
    deadline = time.time() + TIMEOUT
    while True:
        marks = {(tp.topic, tp.partition): (
            rc.get_watermark_offsets(tp, timeout=TIMEOUT, cached=False)[1],
            ru.get_watermark_offsets(tp, timeout=TIMEOUT, cached=False)[1]) for tp in tps}
        open_ = {k: v for k, v in marks.items() if v[0] != v[1]}
        if not open_:
            break
        if time.time() > deadline:
            fail("%s: want the LSO at the high watermark once the transactions ended, got (LSO, HW) %s "
                 "after %ds" % (what, open_, TIMEOUT))
        time.sleep(0.1)
    rc.close()
    ru.close()
    return {k: v[1] for k, v in marks.items()}


def watermarks(addr, isolation, tp):
    c = consumer(addr, isolation)
    lo, hi = c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=TIMEOUT,
                                     cached=False)
    c.close()
    return lo, hi


def offset_for_time(addr, isolation, tp, t):
    c = consumer(addr, isolation)
    r = c.offsets_for_times([TopicPartition(tp.topic, tp.partition, t)], timeout=TIMEOUT)[0]
    c.close()
    if r.error is not None:
        fail("offsets_for_times %s/%d at %d (%s): %s" % (tp.topic, tp.partition, t, isolation, r.error))
    return r.offset


def commit_and_abort(addr, topics):
    """Commit, abort, commit in one producer; returns the committed and aborted
    records by partition."""
    p = txn_producer(addr, "conformance-txn-" + uuid.uuid4().hex[:8])
    p.init_transactions(TIMEOUT)
    ok("init_transactions")
    rounds = [("c1", True), ("a2", False), ("c3", True)]
    committed, aborted = {}, {}
    for tag, commit in rounds:
        recs = values(tag, topics)
        p.begin_transaction()
        produce(p, recs)
        if commit:
            p.commit_transaction(TIMEOUT)
        else:
            p.abort_transaction(TIMEOUT)
        for k, v in by_partition(recs).items():
            (committed if commit else aborted).setdefault(k, []).extend(v)
        ok("%s %d records to %d partitions of %d topics"
           % ("committed" if commit else "aborted", len(recs), PARTITIONS, len(topics)))
    return p, committed, aborted


def check_isolation(addr, topics, committed, aborted):
    tps = all_tps(topics)
    # Each partition: c1 (5 records, marker), a2 (5, marker), c3 (5, marker).
    end = 3 * (PER_PARTITION + 1)
    ends = wait_stable(addr, tps, "after commit, abort, commit")
    bad = {k: v for k, v in ends.items() if v != end}
    expect(not bad, "every partition ends at %d after the last marker" % end, end, bad)
    got, eof = read_all(addr, "read_committed", tps, "read_committed consumer")
    check_read(got, committed, "read_committed consumer")
    ok("read_committed consumer sees exactly the %d committed records, in order, none aborted"
       % sum(len(v) for v in committed.values()))
    bad = {k: v for k, v in eof.items() if v != end}
    expect(not bad, "read_committed EOF at offset %d on every partition (after the last marker)" % end,
           end, bad)
    everything = {k: committed[k][:PER_PARTITION] + aborted[k] + committed[k][PER_PARTITION:]
                  for k in committed}
    got, _ = read_all(addr, "read_uncommitted", tps, "read_uncommitted consumer")
    check_read(got, everything, "read_uncommitted consumer")
    ok("read_uncommitted consumer sees committed and aborted records, in order")
    for iso in ("read_committed", "read_uncommitted"):
        marks = {(tp.topic, tp.partition): watermarks(addr, iso, tp) for tp in tps}
        bad = {k: v for k, v in marks.items() if v != (0, end)}
        expect(not bad, "%s watermarks are (0, %d) on every partition with no open transaction"
               % (iso, end), (0, end), bad)


def check_open_transaction(addr, topic, start, committed):
    """An open transaction on topic/0 (from offset start) and a plain record
    after it: read_committed stops at the open transaction's first offset (the
    LSO) until it commits."""
    tp = TopicPartition(topic, 0)
    p = txn_producer(addr, "conformance-txn-open-" + uuid.uuid4().hex[:8])
    p.init_transactions(TIMEOUT)
    p.begin_transaction()
    open_recs = [(topic, 0, ("open-%d" % i).encode()) for i in range(PER_PARTITION)]
    open_offs = produce(p, open_recs, future)[(topic, 0)]
    expect(open_offs[0][0] == start, "open transaction's first record at offset %d" % start,
           start, open_offs[0][0])
    plain = Producer(conf(addr, **{"enable.idempotence": True}))
    plain_recs = [(topic, 0, ("plain-%d" % i).encode()) for i in range(3)]
    plain_offs = produce(plain, plain_recs, future)[(topic, 0)]
    hw = plain_offs[-1][0] + 1
    ok("open transaction holds %d records at %d..%d, %d non-transactional records follow (high watermark %d)"
       % (len(open_recs), start, open_offs[-1][0], len(plain_recs), hw))

    got = watermarks(addr, "read_committed", tp)
    expect(got == (0, start), "read_committed watermarks stop at the LSO (%d) during the open transaction"
           % start, (0, start), got)
    got = watermarks(addr, "read_uncommitted", tp)
    expect(got == (0, hw), "read_uncommitted watermarks reach the high watermark (%d)" % hw, (0, hw), got)
    open_ts = open_offs[0][1]
    for iso, want in (("read_committed", -1), ("read_uncommitted", start)):
        got = offset_for_time(addr, iso, tp, open_ts)
        expect(got == want, "%s offsets_for_times(first open record's timestamp) is %d" % (iso, want),
               want, got)

    c = consumer(addr, "read_committed")
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, eof = read_to_end(c, [tp], "read_committed consumer during the open transaction", start)
    check_read(got, {(topic, 0): committed}, "read_committed consumer during the open transaction")
    expect(eof == {(topic, 0): start},
           "read_committed consumer reaches EOF at the LSO, before the open transaction",
           {(topic, 0): start}, eof)
    pos = c.position([TopicPartition(topic, 0)])[0].offset
    expect(pos == start, "read_committed consumer's position is the LSO (%d)" % start, start, pos)
    # Nothing more may arrive while the transaction stays open (a bounded
    # look: the records are durable, so a broker that leaked them past the
    # LSO would have returned them with the EOF above already).
    deadline = time.time() + 2
    while time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            fail("read_committed consumer during the open transaction: want nothing past the LSO, got "
                 "offset %d %r" % (m.offset(), m.value()))
    ok("read_committed consumer sees nothing of the open transaction or what follows it")

    p.commit_transaction(TIMEOUT)
    end = hw + 1  # the commit marker
    # The consumer may see an EOF before the marker (the marker appended but
    # not yet below the high watermark): read on to the end.
    got, eof = read_to_end(c, [tp], "read_committed consumer after the commit", end)
    want = [v for _, _, v in open_recs] + [v for _, _, v in plain_recs]
    check_read(got, {(topic, 0): want}, "read_committed consumer after the commit")
    expect(eof == {(topic, 0): end}, "read_committed consumer continues past the committed transaction to %d"
           % end, {(topic, 0): end}, eof)
    c.close()
    for iso in ("read_committed", "read_uncommitted"):
        got = watermarks(addr, iso, tp)
        expect(got == (0, end), "%s watermarks (0, %d) after the commit" % (iso, end), (0, end), got)
    got = offset_for_time(addr, "read_committed", tp, open_ts)
    expect(got == start, "read_committed offsets_for_times(first open record's timestamp) is %d after the commit"
           % start, start, got)
    return committed + want


def check_kcat(addr, topic, committed, everything):
    for iso, want in (("read_committed", committed), ("read_uncommitted", everything)):
        cmd = ["kcat", "-b", addr, "-X", "broker.address.family=v4", "-X", "isolation.level=" + iso,
               "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%s\\n"]
        r = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
        if r.returncode != 0:
            fail("kcat -C %s: exit %d: %s" % (iso, r.returncode, r.stderr.decode()))
        got = r.stdout.decode().splitlines()
        want = [v.decode() for v in want]
        expect(got == want, "kcat -C -X isolation.level=%s reads %d values of %s/0" % (iso, len(want), topic),
               want, got)


def expect_fenced(err, what):
    expect(err.code() in FENCED and err.fatal(), "%s fails with a fatal fencing error (%s)" % (what, err),
           "fatal, one of codes %s" % sorted(FENCED), "code %d fatal=%s" % (err.code(), err.fatal()))


def check_fencing(addr, topic):
    """A second producer of a transactional id fences the first, whether the
    first has a transaction open (its commit is refused and the coordinator
    aborts it) or not (its next transaction's first partition is refused)."""
    tid = "conformance-txn-fence-" + uuid.uuid4().hex[:8]
    p1 = txn_producer(addr, tid)
    p1.init_transactions(TIMEOUT)
    p1.begin_transaction()
    first = produce(p1, [(topic, 1, b"fenced-1")])[(topic, 1)][0][0]
    ok("first producer of %s has an open transaction at %s/1 offset %d" % (tid, topic, first))
    p2 = txn_producer(addr, tid)
    p2.init_transactions(TIMEOUT)
    ok("second producer of %s initialized (the first's transaction aborted)" % tid)
    expect_fenced(must_raise(lambda: p1.commit_transaction(TIMEOUT), "fenced producer's commit"),
                  "fenced producer's commit")
    err = must_raise(lambda: p1.begin_transaction(), "fenced producer's next begin_transaction")
    expect(err.fatal(), "fenced producer stays failed (%s)" % err, "fatal", "fatal=%s" % err.fatal())
    p2.begin_transaction()
    produce(p2, [(topic, 1, b"fencer-1")])
    p2.commit_transaction(TIMEOUT)
    ok("second producer commits")

    # The second producer, idle, is fenced by a third: its next transaction fails.
    p3 = txn_producer(addr, tid)
    p3.init_transactions(TIMEOUT)
    p2.begin_transaction()
    p2.produce(topic, value=b"fenced-2", partition=1)
    expect_fenced(must_raise(lambda: p2.commit_transaction(TIMEOUT), "idle fenced producer's next commit"),
                  "idle fenced producer's next transaction")
    p3.begin_transaction()
    produce(p3, [(topic, 1, b"fencer-2")])
    p3.commit_transaction(TIMEOUT)
    ok("third producer commits")

    tp = TopicPartition(topic, 1)
    wait_stable(addr, [tp], "after fencing")
    for iso, want in (("read_committed", [b"fencer-1", b"fencer-2"]),
                      ("read_uncommitted", [b"fenced-1", b"fencer-1", b"fencer-2"])):
        c = consumer(addr, iso)
        c.assign([TopicPartition(topic, 1, first)])
        got, _ = read_to_end(c, [tp], "%s after fencing" % iso)
        c.close()
        vals = [v for _, v in got.get((topic, 1), [])]
        expect(vals == want, "%s reads %s from the fenced and fencing producers" % (iso, [v.decode() for v in want]),
               want, vals)


def broker_setting(addr, name):
    admin = AdminClient(conf(addr))
    md = admin.list_topics(timeout=TIMEOUT)
    res = ConfigResource(ConfigResource.Type.BROKER, str(next(iter(md.brokers))))
    entries = admin.describe_configs([res])[res].result(TIMEOUT)
    return int(entries[name].value)


def check_timeouts(addr, topic):
    max_ms = broker_setting(addr, "transaction.max.timeout.ms")
    p = txn_producer(addr, "conformance-txn-tmo-" + uuid.uuid4().hex[:8],
                     **{"transaction.timeout.ms": max_ms + 1})
    err = must_raise(lambda: p.init_transactions(TIMEOUT), "init_transactions above the maximum")
    expect(err.code() == INVALID_TRANSACTION_TIMEOUT,
           "init_transactions with transaction.timeout.ms=%d > transaction.max.timeout.ms=%d fails (%s)"
           % (max_ms + 1, max_ms, err), "INVALID_TRANSACTION_TIMEOUT (50)", err.code())
    p = txn_producer(addr, "conformance-txn-tmo-" + uuid.uuid4().hex[:8],
                     **{"transaction.timeout.ms": max_ms})
    p.init_transactions(TIMEOUT)
    ok("init_transactions with transaction.timeout.ms=transaction.max.timeout.ms=%d succeeds" % max_ms)

    # A transaction left open past its timeout is aborted by the coordinator:
    # the LSO moves past it and the producer cannot commit it.
    # Not shorter: librdkafka sets message.timeout.ms to it, and a new
    # producer's first records wait up to a second for topic metadata (its
    # unknown-topic scan runs once a second).
    tmo = 5000
    p = txn_producer(addr, "conformance-txn-expire-" + uuid.uuid4().hex[:8],
                     **{"transaction.timeout.ms": tmo})
    p.init_transactions(TIMEOUT)
    p.begin_transaction()
    tp = TopicPartition(topic, 2)
    offs = produce(p, [(topic, 2, b"expired-%d" % i) for i in range(3)])[(topic, 2)]
    first, last = offs[0][0], offs[-1][0]
    start = time.time()
    while True:
        _, lso = watermarks(addr, "read_committed", tp)
        if lso > last:
            break
        if time.time() - start > TIMEOUT:
            fail("transaction with transaction.timeout.ms=%d: want the broker to abort it (LSO past %d), "
                 "LSO still %d after %ds" % (tmo, last, lso, TIMEOUT))
        time.sleep(0.5)
    ok("broker aborted the transaction open past transaction.timeout.ms=%d (LSO %d, after %.1fs)"
       % (tmo, lso, time.time() - start))
    err = must_raise(lambda: p.commit_transaction(TIMEOUT), "commit of an expired transaction")
    ok("commit of the expired transaction fails (%s, fatal=%s)" % (err, err.fatal()))
    c = consumer(addr, "read_committed")
    c.assign([TopicPartition(topic, 2, first)])
    got, _ = read_to_end(c, [tp], "read_committed after the expiry")
    c.close()
    vals = [v for _, v in got.get((topic, 2), [])]
    expect(vals == [], "read_committed sees none of the expired transaction", [], vals)


def ctp_consumer(addr, group):
    return Consumer(conf(addr, **{
        "group.id": group,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }))


def transform(v):
    return b"out:" + v


def ctp_round(c, p, out_topic, want, commit):
    """Poll up to want records from c, produce their transforms to out_topic
    and send the consumer's positions with them in one transaction; commit or
    abort. Returns the input records [(partition, offset, value)]."""
    p.begin_transaction()
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < want:
        if time.time() > deadline:
            fail("consume-transform-produce: want %d input records, got %d" % (want, len(got)))
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error() is not None:
            fail("consume-transform-produce: consume error %s" % m.error())
        got.append((m.partition(), m.offset(), m.value()))
        p.produce(out_topic, value=transform(m.value()), partition=m.partition())
    # Partitions not read yet have no position (OFFSET_INVALID): nothing to commit.
    positions = [tp for tp in c.position(c.assignment()) if tp.offset >= 0]
    p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), TIMEOUT)
    # Deliver the output first: abort_transaction purges unsent records, and
    # the aborted round's records are checked for in the log.
    if p.flush(TIMEOUT) != 0:
        fail("consume-transform-produce: output records left undelivered")
    if commit:
        p.commit_transaction(TIMEOUT)
    else:
        p.abort_transaction(TIMEOUT)
    return got, {tp.partition: tp.offset for tp in positions}


def committed_offsets(addr, group, topic):
    c = ctp_consumer(addr, group)
    offs = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=TIMEOUT)
    c.close()
    return {tp.partition: tp.offset for tp in offs}


def check_consume_transform_produce(addr, in_topic, out_topic):
    n = 60
    plain = Producer(conf(addr, **{"enable.idempotence": True}))
    inputs = [(in_topic, i % PARTITIONS, ("in-%d" % i).encode()) for i in range(n)]
    produce(plain, inputs)
    ok("produced %d input records to %s" % (n, in_topic))
    group = "conformance-txn-ctp-" + uuid.uuid4().hex[:8]
    p = txn_producer(addr, "conformance-txn-ctp-" + uuid.uuid4().hex[:8])
    p.init_transactions(TIMEOUT)

    c = ctp_consumer(addr, group)
    c.subscribe([in_topic])
    done = []
    for _ in range(2):
        got, pos = ctp_round(c, p, out_topic, 10, commit=True)
        done += got
        after = committed_offsets(addr, group, in_topic)
        shown = {k: v for k, v in after.items() if k in pos}
        expect(shown == pos, "a committed round moves the group's offsets to the consumer's positions",
               pos, after)
    ok("two committed rounds of 10 records (send_offsets_to_transaction, commit)")
    before = committed_offsets(addr, group, in_topic)
    ctp_round(c, p, out_topic, 10, commit=False)
    after = committed_offsets(addr, group, in_topic)
    expect(after == before, "an aborted round leaves the group's offsets where they were", before, after)
    c.close()

    # A fresh consumer of the group resumes at the committed offsets (the
    # start, where none was committed), so the aborted round's inputs are
    # processed again.
    c = ctp_consumer(addr, group)
    c.subscribe([in_topic])
    firsts = {}
    while len(done) < n:
        got, _ = ctp_round(c, p, out_topic, min(10, n - len(done)), commit=True)
        for part, off, _ in got:
            firsts.setdefault(part, off)
        done += got
    want = {k: max(before.get(k, 0), 0) for k in firsts}
    expect(firsts == want, "fresh consumer of the group resumes at the committed offsets", want, firsts)
    c.close()
    in_vals = sorted(v for _, _, v in done)
    expect(in_vals == sorted(v for _, _, v in inputs), "every input record processed once across the rounds",
           "%d distinct" % n, "%d (%d distinct)" % (len(in_vals), len(set(in_vals))))
    wait_stable(addr, all_tps([out_topic]), "output after the last commit")
    got, _ = read_all(addr, "read_committed", all_tps([out_topic]), "read_committed output")
    out = sorted(v for recs in got.values() for _, v in recs)
    want = sorted(transform(v) for _, _, v in inputs)
    expect(out == want, "read_committed output holds each input's transform exactly once (%d records)" % n,
           "%d records" % len(want), "%d records, %d distinct, missing %s"
           % (len(out), len(set(out)), sorted(set(want) - set(out))[:5]))
    got, _ = read_all(addr, "read_uncommitted", all_tps([out_topic]), "read_uncommitted output")
    seen = sum(len(recs) for recs in got.values())
    expect(seen == n + 10, "read_uncommitted output also holds the aborted round's 10 records",
           n + 10, seen)
    final = committed_offsets(addr, group, in_topic)
    ends = {}
    for _, part, _ in inputs:
        ends[part] = ends.get(part, 0) + 1
    expect(final == ends, "group's final committed offsets are the input's ends", ends, final)


def main(addr):
    run = uuid.uuid4().hex[:8]
    a, b = "conformance-txn-%s-a" % run, "conformance-txn-%s-b" % run
    cin, cout = "conformance-txn-%s-in" % run, "conformance-txn-%s-out" % run
    admin = AdminClient(conf(addr))
    topics = [a, b, cin, cout]
    for t, f in admin.create_topics([NewTopic(t, PARTITIONS, RF) for t in topics]).items():
        f.result(TIMEOUT)
    ok("created %s with %d partitions each" % (", ".join(topics), PARTITIONS))

    _, committed, aborted = commit_and_abort(addr, [a, b])
    check_isolation(addr, [a, b], committed, aborted)
    start = 3 * (PER_PARTITION + 1)
    committed_a0 = check_open_transaction(addr, a, start, committed[(a, 0)])
    everything_a0 = committed[(a, 0)][:PER_PARTITION] + aborted[(a, 0)] + committed_a0[PER_PARTITION:]
    check_kcat(addr, a, committed_a0, everything_a0)
    check_fencing(addr, b)
    check_timeouts(addr, b)
    check_consume_transform_produce(addr, cin, cout)
    for t, f in admin.delete_topics(topics).items():
        f.result(TIMEOUT)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: transactions.py HOST:PORT")
    try:
        main(sys.argv[1])
    except KafkaException as e:
        # A client call that should have worked: fail with the step's trace.
        import traceback
        traceback.print_exc(file=sys.stdout)
        fail("unexpected client error: %s" % e)
    print("transactions.py: all checks passed")
