"""Delta messages the consumer skips over are read from the broker and folded in, in order.

Faust's consumer was seen to hand the windows agent offset 0 of a delta partition and then
offset 4 (and, after a hand-over, the committed offset of a worker that never folded the
messages before it in): the stream's alerts then differed from ``detect``'s. The windows
job checks each message's offset against the last one its state holds and reads what is
missing from the broker itself (``streams.windows.Windows.missing`` and ``fill``). Here the
job is given messages 0, 3, 5 and 6 of a partition the broker holds in full.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from detectors.aggregate import Aggregator
from detectors.partition import PartitionEngine
from detectors.wire import encode_key
from earlywarn.simulate import SimConfig, generate
from detectors.enrich import Enricher, take
from streams import kafka_io
from streams.counters import Counters
from streams.metrics import Metrics
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


class Decisions:
    """The decisions topic as the job sends to it: kept here, each send done at once."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_soon(self, value: bytes) -> asyncio.Future[None]:
        self.sent.append(value)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def get_topic_name(self) -> str:
        return "decisions"


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
    job = Windows(s.detect, state={}, decisions=Decisions(), counters=counters, metrics=Metrics(CollectorRegistry()),
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
