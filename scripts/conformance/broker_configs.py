#!/usr/bin/python3
"""Dynamic broker config checks with confluent-kafka-python (librdkafka).

Usage: /usr/bin/python3 scripts/conformance/broker_configs.py HOST:PORT

Sets dynamic configs on the BROKER resource of the broker (AlterConfigs, which
replaces the resource's whole dynamic set), describes them with their sources,
checks that a topic without overrides inherits them, that a read-only property
is refused, and clears them again. incremental_alter_configs is used too when the
installed confluent-kafka has it (>= 2.2). Prints one line per check and exits 1
on the first failure. Leaves the broker without dynamic configs.
"""

import os
import sys
import uuid

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

TIMEOUT = float(os.environ.get("CONFORMANCE_TIMEOUT", "60"))
RF = int(os.environ.get("EDDY_RF", "1"))  # replication factor (with-broker.sh)


def ok(msg):
    print("ok   " + msg, flush=True)


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def describe(admin, res):
    try:
        return list(admin.describe_configs([res], request_timeout=TIMEOUT).values())[0].result()
    except KafkaException as e:
        fail("describe_configs %s %r: %s" % (res.restype, res.name, e))


def alter(admin, res):
    """AlterConfigs on one resource; returns the KafkaError or None."""
    try:
        list(admin.alter_configs([res], request_timeout=TIMEOUT).values())[0].result()
        return None
    except KafkaException as e:
        return e.args[0]


def expect(entries, name, value, source, read_only):
    e = entries.get(name)
    if e is None or e.value != value or e.source != source.value or e.is_read_only != read_only:
        got = e and (e.value, ConfigSource(e.source).name, e.is_read_only)
        fail("%s: got %s, want (%r, %s, read_only=%s)" % (name, got, value, source.name, read_only))


def main(addr):
    admin = AdminClient({"bootstrap.servers": addr})
    broker = str(next(iter(admin.list_topics(timeout=TIMEOUT).brokers)))
    res = ConfigResource("broker", broker)

    err = alter(admin, ConfigResource("broker", broker, set_config={"log.retention.ms": "3600000"}))
    if err is not None:
        fail("alter_configs broker %s log.retention.ms: %s" % (broker, err))
    entries = describe(admin, res)
    expect(entries, "log.retention.ms", "3600000", ConfigSource.DYNAMIC_BROKER_CONFIG, False)
    expect(entries, "num.partitions", "1", ConfigSource.DEFAULT_CONFIG, True)
    ok("alter_configs broker %s: log.retention.ms=3600000 described as DYNAMIC_BROKER_CONFIG" % broker)

    topic = "conformance-brokercfg-" + uuid.uuid4().hex[:8]
    admin.create_topics([NewTopic(topic, 1, RF)])[topic].result(TIMEOUT)
    expect(describe(admin, ConfigResource("topic", topic)), "retention.ms", "3600000",
           ConfigSource.DYNAMIC_BROKER_CONFIG, False)
    ok("a topic without overrides inherits retention.ms=3600000 from the broker")
    admin.delete_topics([topic])[topic].result(TIMEOUT)

    err = alter(admin, ConfigResource("broker", broker, set_config={"num.partitions": "3"}))
    if err is None or err.name() != "INVALID_REQUEST" or "num.partitions" not in err.str():
        fail("alter_configs num.partitions: got %s, want INVALID_REQUEST naming it" % err)
    ok("read-only num.partitions refused: %s" % err.name())

    if hasattr(admin, "incremental_alter_configs"):   # confluent-kafka >= 2.2
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
        r = ConfigResource("broker", broker, incremental_configs=[
            ConfigEntry("log.cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
        list(admin.incremental_alter_configs([r]).values())[0].result()
        expect(describe(admin, res), "log.cleanup.policy", "delete,compact",
               ConfigSource.DYNAMIC_BROKER_CONFIG, False)
        ok("incremental_alter_configs APPEND log.cleanup.policy=compact")

    err = alter(admin, ConfigResource("broker", broker, set_config={}))
    if err is not None:
        fail("alter_configs clearing broker %s: %s" % (broker, err))
    expect(describe(admin, res), "log.retention.ms", None, ConfigSource.DEFAULT_CONFIG, False)
    ok("an empty alter_configs set clears the broker's dynamic configs")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: broker_configs.py HOST:PORT")
    main(sys.argv[1])
    print("broker_configs.py: all checks passed")
