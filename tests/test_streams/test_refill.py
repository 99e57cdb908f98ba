"""Messages the consumer skips over are read from the broker and taken, in order.

Faust's consumer was seen to hand the windows agent offset 0 of a delta partition and then
offset 4 (and, after a hand-over, the committed offset of a worker that never folded the
messages before it in): the stream's alerts then differed from ``detect``'s. The windows
job checks each message's offset against the last one its state holds and reads what is
missing from the broker itself (``streams.refetch``; each job's ``missing`` and ``fill``). Here the
job is given messages 0, 3, 5 and 6 of a partition the broker holds in full; the release
job (``streams.release.Release``), decisions messages with a gap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from dataclasses import asdict

from detectors.aggregate import Aggregator
from detectors.offline import OfflineEngine
from detectors.partition import PartitionEngine
from detectors.wire import encode_key
from earlywarn.simulate import SimConfig, generate
from detectors.enrich import Enricher, take
from streams import kafka_io
from streams.counters import Counters
from streams.metrics import Metrics
from streams.release import Publisher, Release
from streams.routing import router
from streams.windows import Windows

pytestmark = pytest.mark.broker

PARTITION = 1


@dataclass
class Message:
    partition: int
    offset: int


@dataclass
class Event:
    """What the windows job reads of a Faust event."""

    message: Message
    value: bytes


class Kept:
    """An output topic as a job sends to it: kept here, each send done at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[bytes] = []

    def send_soon(self, value: bytes, key: bytes | None = None) -> asyncio.Future[None]:
        self.sent.append(value)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def get_topic_name(self) -> str:
        return self.name


def delta_messages(stream_env: Any) -> list[bytes]:
    """One partition's delta messages over two simulated days, in batches as ingest makes them."""
    s = stream_env.settings
    tickets, _ = generate(SimConfig(seed=7, days=2, tickets_per_day=600, firms=200, decoys=(), incidents=()))
    agg, enricher, out = Aggregator(s.detect, router(s.partitions)), Enricher(s.secret()), []
    lines = [orjson.dumps(t) for t in tickets]
    for i in range(0, len(lines), 150):
        taken = take(lines[i:i + 150], enricher, agg, s.max_message_bytes)
        msg = taken.deltas[PARTITION]
        msg["w"] = {"0": [max(taken.newest["0"]), False, taken.newest["0"]]}
        out.append(orjson.dumps(msg))
    return out


def test_messages_the_consumer_skips_are_read_from_the_broker_in_order(stream_env: Any) -> None:
    s = stream_env.settings
    values = delta_messages(stream_env)
    assert len(values) >= 8
    producer = KafkaProducer(**s.kafka_options())
    for v in values:
        producer.send(s.topic_deltas, v, partition=PARTITION)
    producer.flush()
    producer.close()

    counters = Counters()
    job = Windows(s.detect, state={}, decisions=Kept("decisions"), counters=counters, metrics=Metrics(CollectorRegistry()),
                  read=lambda p, start, before: asyncio.to_thread(
                      kafka_io.read_range, s, s.topic_deltas, p, start, before))

    async def deliver(offsets: list[int]) -> None:
        for off in offsets:
            ev = Event(Message(PARTITION, off), values[off])
            missing = job.missing(ev)
            if missing is not None:
                await job.fill(PARTITION, missing)
            job.apply(ev)

    delivered = [0, 3, 5, *range(6, len(values))]
    asyncio.run(deliver(delivered))
    assert counters.deltas_refetched == 3  # offsets 1, 2 and 4
    assert counters.deltas_applied == len(values)

    straight = PartitionEngine(PARTITION, s.detect)
    for off, v in enumerate(values):
        straight.apply(orjson.loads(v), offset=off)
    got = job.engines[PARTITION]
    assert got.clock.applied == len(values) - 1
    assert got.states.keys() == straight.states.keys()
    assert all(encode_key(got.states[k]) == encode_key(straight.states[k]) for k in straight.states)


def decisions_messages(stream_env: Any) -> list[bytes]:
    """The windows' reports over ten simulated days with a group dispute, as the decisions topic holds them."""
    s = stream_env.settings
    tickets, _ = generate(SimConfig(seed=23, days=10, tickets_per_day=500, firms=600, warmup_days=7.5,
                                    incidents=(("prepaid_closure", 1),), decoys=()))
    engine, enricher, out = OfflineEngine(s.detect, router(s.partitions)), Enricher(s.secret()), []
    lines = [orjson.dumps(t) for t in tickets]
    for i in range(0, len(lines), 500):
        taken = take(lines[i:i + 500], enricher, engine.aggregator, s.max_message_bytes)
        for p, done_to, decided in engine.apply(taken.deltas, taken.newest.get("0")):
            out.append(orjson.dumps({"p": p, "to": done_to, "d": [asdict(d) for d in decided]}))
    return out


def test_decisions_the_consumer_skips_are_read_from_the_broker_and_released(stream_env: Any) -> None:
    s = stream_env.settings
    values = decisions_messages(stream_env)
    producer = KafkaProducer(**s.kafka_options())
    for v in values:
        producer.send(s.topic_decisions, v, partition=0)
    producer.flush()
    producer.close()

    def release(read: bool) -> tuple[Release, Kept]:
        alerts = Kept("alerts")
        job = Release(s.partitions, stage_table={},
                      publisher=Publisher(alerts, Kept("tasks"), Counters(), Metrics(CollectorRegistry())),
                      read_decisions=(lambda p, start, before: asyncio.to_thread(
                          kafka_io.read_range, s, s.topic_decisions, p, start, before)) if read else None)
        return job, alerts

    async def deliver(job: Release, offsets: list[int]) -> None:
        for off in offsets:
            ev = Event(Message(0, off), values[off])
            missing = job.missing(ev)
            if missing is not None:
                await job.fill(missing)
            job.offer(ev)

    every, straight = release(read=False)
    asyncio.run(deliver(every, list(range(len(values)))))
    gaps, filled = release(read=True)
    with_decisions = [o for o, v in enumerate(values) if orjson.loads(v)["d"]]
    skipped = {1, *with_decisions[:2]}  # reports with decisions in them among the skipped
    asyncio.run(deliver(gaps, [o for o in range(len(values)) if o not in skipped]))
    assert len(with_decisions) >= 2 and straight.sent and filled.sent == straight.sent
    assert gaps.applied == len(values) - 1
