"""The RocksDB table store: a restarted worker recovers its tables from disk, and alerts stay those of detect.

With ``EARLYWARN_STORE=rocksdb://`` a worker keeps its tables in RocksDB under its data
directory. Stopped (SIGTERM) mid-input and started again on the same directory, it reads
only what its changelogs gained since (a few records), not the whole changelog as
``memory://`` does, and the alerts equal offline ``detect`` on the same input.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, generate
from streams.broker import free_port
from streams.kafka_io import produce
from tests.conftest import Worker
from streams.settings import environment
from tests.test_streams.test_scaleout import alerts, canonical, differences

pytestmark = pytest.mark.broker


def simulated() -> list[bytes]:
    """Ten simulated days with a group dispute and a concentrated demand (~7,200 tickets)."""
    tickets, _ = generate(SimConfig(seed=23, days=10, tickets_per_day=700, firms=800, warmup_days=7.5,
                                    incidents=(("prepaid_closure", 1), ("product_defect", 1)), decoys=()))
    return [orjson.dumps(t) for t in tickets]


def start(env: Any, name: str) -> Worker:
    """A worker on the environment's one data directory (so a restart finds its tables)."""
    s = env.settings.with_(web_port=free_port(), data_dir=str(env.tmp / "data"))
    log = env.tmp / f"{name}.log"
    proc = subprocess.Popen([sys.executable, "-m", "earlywarn", "worker"], env=environment(s),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    w = Worker(s, proc, log)
    env.workers.append(w)
    return w


def changelog_records(env: Any) -> int:
    """Records in the worker's changelog topics (what a worker without local state reads)."""
    consumer = KafkaConsumer(**env.settings.kafka_options())
    try:
        tps = [TopicPartition(t, p) for t in consumer.topics() if t.startswith(env.settings.app_id)
               and t.endswith("-changelog") for p in consumer.partitions_for_topic(t) or ()]
        ends, starts = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        consumer.close()


@pytest.mark.parametrize("store, reads_little", [("rocksdb://", True), ("memory://", False)])
def test_a_restarted_worker_recovers_from_disk_and_alerts_stay_those_of_detect(
        stream_env: Any, store: str, reads_little: bool) -> None:
    env = stream_env
    env.settings = env.settings.with_(store=store)
    lines = simulated()
    produce(env.settings, lines)  # all on the broker first: the pause of the restart is no end of input
    first = start(env, "first")
    first.wait_stats(lambda st: st["tickets"] >= len(lines) // 2, timeout=180)
    first.process.terminate()  # SIGTERM: state written, progress recorded, then it leaves
    assert first.process.wait(timeout=60) == 0, first.log.read_text()[-3000:]
    written = changelog_records(env)

    second = start(env, "second")
    expected = list(detect(lines, env.settings))
    got = alerts(env, len(expected))
    st = second.wait_stats(lambda st: st["tickets"] > 0)
    assert st["late_tickets"] == 0
    assert expected and canonical(got) == canonical(expected), differences(got, expected)
    # What the restart read back: with RocksDB a record or so per changelog partition; without,
    # every record the first run wrote.
    read = st["changelog_records_read"]
    if reads_little:
        assert read <= 20, f"read {read} changelog records of {written} on restart: not recovered from disk"
    else:
        assert read >= written // 2, f"memory:// read only {read} of {written} changelog records"


def test_a_worker_killed_on_rocksdb_leaves_tables_its_successor_discards_and_alerts_stay_those_of_detect(
        stream_env: Any) -> None:
    """SIGKILL leaves the databases as they were (a commit perhaps cut short): the next
    worker on the directory recovers every table from its changelog instead (streams.store)."""
    env = stream_env
    env.settings = env.settings.with_(store="rocksdb://")
    lines = simulated()
    produce(env.settings, lines)
    first = start(env, "first")
    first.wait_stats(lambda st: st["tickets"] >= len(lines) // 2 and st["state_writes"] >= 2, timeout=180)
    first.process.kill()  # SIGKILL: no hand-over, no flush
    assert first.process.wait(timeout=30) == -9
    written = changelog_records(env)

    second = start(env, "second")
    expected = list(detect(lines, env.settings))
    got = alerts(env, len(expected))
    st = second.wait_stats(lambda st: st["tickets"] > 0)
    assert st["tables_discarded"], "the killed worker's tables should have been discarded"
    assert st["changelog_records_read"] >= written // 2, "the tables should have been recovered from the changelogs"
    assert expected and canonical(got) == canonical(expected), differences(got, expected)
