"""Synchronous Kafka tools around the stream: create topics, replay a file, read a topic.

kafka-python (with the C ``crc32c`` installed) serves these command-line paths; the
stream itself runs on Faust/aiokafka.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.broker import CONNECT_TIMEOUT, BrokerError
from streams.settings import Settings


class BrokerUnavailable(BrokerError):
    """No Kafka broker answered at the configured address; the message says what to do."""


def _unavailable(settings: Settings, timeout: float, why: str) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"no Kafka broker answered at {settings.bootstrap} within {timeout:g}s ({why}).\n"
        "Start one (`earlywarn broker` prints the address of an embedded one) and pass its address "
        "with --broker or EARLYWARN_BROKER.")


def _listening(bootstrap: str, wait: float) -> str | None:
    """None when some bootstrap address accepts a TCP connection, else why not (the last error)."""
    why = "no address given"
    for address in bootstrap.split(","):
        host, colon, port = address.strip().rpartition(":")
        if not colon:  # no port: Kafka clients take the default one
            host, port = port, "9092"
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=wait):
                return None
        except ValueError:
            why = f"{address!r} is not host:port"
        except OSError as exc:
            why = exc.strerror or str(exc)
    return why


def _wait_for_broker(settings: Settings, timeout: float = CONNECT_TIMEOUT) -> None:
    """Return once a bootstrap address accepts connections; raise BrokerUnavailable after *timeout*.

    A plain TCP probe, so that nothing listening is told in *timeout* seconds whatever
    the Kafka client's own (longer) bootstrap timeouts are.
    """
    deadline = time.monotonic() + timeout
    while (why := _listening(settings.bootstrap, min(1.0, max(timeout, 0.1)))) is not None:
        if time.monotonic() >= deadline:
            raise _unavailable(settings, timeout, why)
        time.sleep(0.25)


def topic_plan(settings: Settings) -> dict[str, int]:
    """Every topic earlywarn reads or writes (but Faust's internal ones) -> partitions."""
    return {
        settings.topic_tickets: settings.ticket_partitions,
        settings.topic_deadletter: settings.ticket_partitions,
        settings.topic_deltas: settings.partitions,
        settings.topic_decisions: 1,
        settings.topic_alerts: 1,
        settings.topic_inspection: 1,
        settings.topic_inspection_results: 1,
        settings.topic_inspection_results_deadletter: 1,
        **({claims_topic(settings): 1} if "on" in (settings.complainants, settings.firms) else {}),
    }


def claims_topic(settings: Settings) -> str:
    """The claims topic (``streams.complainants``): the delta topic's name with ``.claims``; one partition."""
    return f"{settings.topic_deltas}.claims"


def ensure_topics(settings: Settings, timeout: float = CONNECT_TIMEOUT) -> None:
    """Create the topics that do not exist yet, with their partition counts.

    Raises BrokerUnavailable when no broker answers within *timeout* seconds.
    """
    deadline = time.monotonic() + timeout
    _wait_for_broker(settings, timeout)
    while True:
        try:
            admin = KafkaAdminClient(**settings.kafka_options(), client_id="earlywarn-admin")
            break
        except (KafkaError, OSError) as exc:  # listening, but not (yet) answering as a Kafka broker
            if time.monotonic() > deadline:
                raise _unavailable(settings, timeout, str(exc)) from None
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(name, n, 1) for name, n in topic_plan(settings).items() if name not in existing]
        if new:
            with suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
    finally:
        admin.close()


def producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(**settings.kafka_options(), linger_ms=10, batch_size=512 * 1024,
                         max_request_size=4 * 1024 * 1024, acks=1)


def produce(settings: Settings, messages: Iterable[bytes], *, topic: str | None = None,
            rate: float | None = None, on_sent: Callable[[int], None] | None = None) -> int:
    """Send each message to the tickets topic (round-robin partitions), at most *rate* per second."""
    topic = topic or settings.topic_tickets
    n_parts = settings.ticket_partitions if topic == settings.topic_tickets else None
    prod = producer(settings)
    if n_parts is None:
        n_parts = len(prod.partitions_for(topic) or [0])
    sent = 0
    start = time.monotonic()
    try:
        for value in messages:
            prod.send(topic, value, partition=sent % n_parts)
            sent += 1
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            if on_sent is not None and sent % 1000 == 0:
                on_sent(sent)
        prod.flush()
    finally:
        prod.close()
    if on_sent is not None:
        on_sent(sent)
    return sent


def read_topic(settings: Settings, topic: str, *, idle: float = 3.0, until: Callable[[list[Any]], bool] | None = None,
               timeout: float = 120.0) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) in *topic* from the beginning, stopping after *idle* seconds with
    nothing new (or when *until* says so, or at *timeout*)."""
    consumer = KafkaConsumer(**settings.kafka_options(), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=int(idle * 1000))
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while parts is None and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                time.sleep(0.2)
        if parts is None:
            return []
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        consumer.seek_to_beginning()
        out: list[tuple[bytes | None, bytes]] = []
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200, max_records=10_000)
            got = [(m.key, m.value) for ms in batch.values() for m in ms]
            if got:
                out.extend(got)
                quiet_since = time.monotonic()
                if until is not None and until(out):
                    break
            elif time.monotonic() - quiet_since >= idle and (until is None or until(out)):
                break
        return out
    finally:
        consumer.close()


def follow(settings: Settings, topic: str, *, stop: Callable[[], bool]) -> Iterator[bytes]:
    """Yield values from *topic* as they arrive (from the beginning) until *stop()*."""
    consumer = KafkaConsumer(**settings.kafka_options(), auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        parts = None
        while parts is None and not stop():
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                time.sleep(0.2)
        if parts is None:
            return
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        consumer.seek_to_beginning()
        while not stop():
            for ms in consumer.poll(timeout_ms=200).values():
                for m in ms:
                    yield m.value
    finally:
        consumer.close()


def read_from(settings: Settings, topic: str, offset: int, *, partition: int = 0, timeout: float = 60.0) -> list[bytes]:
    """The values of one partition of *topic* from *offset* to its end (what the broker holds now).

    The end is where a fetch brings nothing more, not only where ListOffsets says it is:
    the embedded broker answers that with the start of the partition's last record batch.
    """
    return [v for _, v in read_range(settings, topic, partition, offset, timeout=timeout)]


def read_range(settings: Settings, topic: str, partition: int, offset: int, before: int | None = None, *,
               timeout: float = 60.0) -> list[tuple[int, bytes]]:
    """(offset, value) of one partition of *topic* from *offset*, before offset *before* or to
    its end (see ``read_from``)."""
    deadline = time.monotonic() + timeout
    consumer = KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False, request_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        end = consumer.end_offsets([tp])[tp] if before is None else before
        out: list[tuple[int, bytes]] = []
        while time.monotonic() < deadline:
            got = [m for m in consumer.poll(timeout_ms=500, max_records=10_000).get(tp, [])
                   if before is None or m.offset < before]
            out.extend((m.offset, m.value) for m in got)
            if not got and consumer.position(tp) >= end or out and before is not None and out[-1][0] >= before - 1:
                return out
        raise BrokerUnavailable(f"{topic} could not be read to its end within {timeout:g}s")
    finally:
        consumer.close()


def send_one(settings: Settings, topic: str, value: bytes, *, partition: int = 0, wait: float = 2.0) -> bool:
    """Send *value* to an existing *topic* and wait until the broker has it (all replicas).
    False, having sent nothing, when no broker answers within *wait* seconds or the topic
    does not exist (no worker made it)."""
    if _listening(settings.bootstrap, wait) is not None:
        return False
    try:
        admin = KafkaAdminClient(**settings.kafka_options(), client_id="earlywarn-admin")
        try:
            if topic not in set(admin.list_topics()):
                return False
        finally:
            admin.close()
        prod = KafkaProducer(**settings.kafka_options(), acks="all")
        try:
            prod.send(topic, value, partition=partition).get(timeout=30)
        finally:
            prod.close()
        return True
    except (KafkaError, OSError):
        return False
