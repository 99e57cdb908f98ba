"""The ingest job: tickets in, dead letters and pre-aggregated deltas out, with event-time progress.

Ticket messages are read in batches: decoded and validated (schemas/), dead-lettered with
their bytes and reason when bad, enriched once (detectors/enrich) and sent as one
pre-aggregated delta message per partition per batch (detectors/aggregate.Aggregator). Each
delta message also says how far in event time this worker's ticket partitions have got
(their watermarks), so every delta partition knows when a tick has passed.

A ticket partition's progress is the offset ingest resumes from; a worker writes it to the
``ingested`` table when it hands the partition over (streams.checkpoint), and the next
owner skips what was already ingested, even when Faust's own offset commit lags behind
(it does: a commit waits for the producer, and a rebalance does not wait for a late
commit). After a crash (no clean hand-over) the next owner ingests again from the last
committed offset: the windows count each ticket id once (detectors.partition), and those
tickets show as duplicates there. So that offset never gets ahead of what was sent, a
batch's ticket events are acknowledged only once the broker has every message made of
them (deltas, claims, dead letters): Faust may commit an acknowledged offset at any
moment, and a crash between that commit and the sends would lose the batch's tickets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from faust.exceptions import ConsumerNotStarted
from faust.types import TP

from detectors.aggregate import Aggregator
from detectors.config import DetectConfig
from detectors.enrich import Enricher, Taken, take
from detectors.front import Front
from detectors.windows import bucket_of
from streams import deadletter
from streams.checkpoint import confirmed
from streams.counters import Counters
from streams.lag import fetched_highwater
from streams.metrics import Metrics
from streams.refetch import Reader, gap, read_back
from streams.routing import partition_key, router
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Source:
    """How far this worker has got with one ticket partition."""

    last_input: float | None = None  # wall clock (monotonic) of the last input, or of assignment
    next_offset: int | None = None  # the offset after the last one read
    front: Front | None = None  # its robust event-time front (detectors.front), once it has tickets

    @property
    def newest(self) -> float | None:
        return None if self.front is None else self.front.value


@dataclass
class Read:
    """Where a ticket message read back from the broker was (what a Faust message tells)."""

    topic: str
    partition: int
    offset: int


@dataclass
class Refetched:
    """A ticket message the consumer skipped over, read back from the broker (``Ingest.fill``)."""

    message: Read
    value: bytes


@dataclass
class Batch:
    """The events of a batch that were not ingested before, with their payloads and sources."""

    events: list[Any]
    payloads: list[bytes]
    sources: list[str]


class Ingest:
    """The ingest agent's state and work: sources, fronts, resume offsets and watermarks."""

    def __init__(self, app: faust.App, settings: Settings, cfg: DetectConfig, *, ingested: Any,
                 deltas: faust.TopicT, deadletter: faust.TopicT, counters: Counters, metrics: Metrics,
                 boards: Any = None, claims: Any = None, read: Reader | None = None) -> None:
        self.app = app
        self.boards = boards  # alerts.boards.BoardWriter, when EARLYWARN_BOARDS=on
        # streams.complainants.ClaimSender, when EARLYWARN_COMPLAINANTS or EARLYWARN_FIRMS is on:
        # each batch's claims and firm tickets with the watermarks its deltas carry, so the
        # judges of people and firms move in step with the partitions.
        self.claims = claims
        self.settings = settings
        self.ingested = ingested  # table: ticket partition -> the offset ingest resumes from
        self.deltas = deltas
        self.deadletter = deadletter
        self.counters = counters
        self.metrics = metrics
        self.enricher = Enricher(settings.secret())
        self.aggregator = Aggregator(cfg, router(settings.partitions))
        self.sources: dict[str, Source] = {}  # the ticket partitions this worker reads
        # Ticket partition -> the offset below which a previous owner already ingested. Read on
        # the first message after an assignment: streams resume only once tables are recovered.
        self.resume: dict[str, int] = {}
        self.idle_reported: dict[str, bool] = {}  # what delta partitions were last told
        # The bucket the wall clock less the lateness is in, as last reported: while the input
        # pauses, a bucket closes when the wall clock passes its end plus lateness.
        self.wall_bucket = bucket_of(time.time() - settings.lateness_seconds)
        self.newest_event = float("-inf")  # the furthest event-time front ingested here (for the gauge)
        self._timing = metrics.stage("ingest_batch")
        self.read = read  # the tickets topic read back (streams.refetch)
        self.stream: faust.StreamT[bytes] | None = None  # the agent's stream, for acknowledgements
        self._acking: set[asyncio.Task[None]] = set()  # acknowledgements under way (held against GC)

    def resume_key(self, src: str) -> bytes:
        return partition_key("~ingested", int(src), self.settings.ticket_partitions).encode()

    def resume_offset(self, src: str) -> int:
        off = self.resume.get(src)
        if off is None:
            raw = self.ingested.get(self.resume_key(src))
            off = self.resume[src] = -1 if raw is None else int(raw)
        return off

    def caught_up(self, tp: TP, next_offset: int | None) -> bool:
        hw = fetched_highwater(self.app, tp)
        return hw is not None and next_offset is not None and next_offset >= hw

    def watermarks(self, now: float) -> dict[str, list[Any]]:
        """Per owned ticket partition: ``[front value, idle, front's newest times]``.

        A partition is idle only when this worker has ingested all the broker holds of it
        and nothing new came for idle_seconds. Silence alone is not enough: a partition
        waiting through a rebalance, a recovery or a slow fetch still has tickets to come,
        and calling it idle would let event time run past them (they would arrive late).
        """
        out: dict[str, list[Any]] = {}
        for tp in self.app.consumer.assignment() if self.app.consumer else ():
            if tp.topic != self.settings.topic_tickets:
                continue
            src = str(tp.partition)
            s = self.sources.get(src) or Source()
            idle = (s.last_input is not None and now - s.last_input >= self.settings.idle_seconds
                    and self.caught_up(tp, s.next_offset))
            out[src] = [s.newest, idle, s.front.newest if s.front is not None else []]
        return out

    def send_deltas(self, msgs: dict[int, dict[str, Any]], started: float | None = None) -> list[Any]:
        """Send one delta message per partition; their futures (done once the broker has them)."""
        # One callback per batch, shared by its few delta messages: called when the broker acks.
        on_sent = self._sent_since(started) if started is not None else None
        wall = time.time()
        sent = []
        for p, msg in msgs.items():
            msg["c"] = wall  # live, buckets close by the wall clock when the input pauses
            sent.append(self.deltas.send_soon(value=orjson.dumps(msg), partition=p, callback=on_sent))
        self.counters.delta_messages += len(msgs)
        self.metrics.delta_messages_sent.inc(len(msgs))
        return sent

    def _sent_since(self, started: float) -> Callable[[Any], None]:
        delta_send_seconds = self.metrics.delta_send_seconds

        def on_sent(_fut: Any) -> None:
            delta_send_seconds.observe(time.monotonic() - started)
        return on_sent

    def take(self, events: list[Any]) -> None:
        """Ingest one batch of ticket events: no awaits, so progress goes out with its deltas.

        The events stay unacknowledged (the agent's own acknowledgement is matched by a
        reference held here) until the broker has what was sent of them."""
        for ev in events:
            ev.message.incref()
        self._take(events, events)

    def missing(self, events: list[Any]) -> list[tuple[str, int, int]]:
        """(ticket partition, from, before): the offsets before *events* this worker has not
        ingested and the consumer skipped over (``streams.refetch``), where it knows where
        each partition stands."""
        out, stand = [], {}
        for ev in events:
            src, offset = str(ev.message.partition), ev.message.offset
            if src not in stand:
                s = self.sources.get(src)
                if s is None or s.next_offset is None:
                    continue
                stand[src] = max(s.next_offset, self.resume_offset(src)) - 1
            missing = gap(stand[src], offset)
            if missing is not None:
                out.append((src, *missing))
            stand[src] = max(stand[src], offset)
        return out

    async def fill(self, missing: list[tuple[str, int, int]]) -> None:
        """Read the ticket messages at *missing* from the broker and ingest them (before the
        batch whose events showed them missing)."""
        if self.read is None:
            return
        for src, start, before in missing:
            got = await read_back(self.read, "tickets", int(src), (start, before), self.metrics)
            self.counters.tickets_refetched += len(got)
            if got:
                self._take([Refetched(Read(self.settings.topic_tickets, int(src), off), value) for off, value in got], [])

    def _take(self, events: list[Any], held: list[Any]) -> None:
        """Ingest *events* (Faust's, or messages read back); acknowledge the events *held*
        once the broker has what was sent of them."""
        now = time.monotonic()
        started = time.perf_counter()
        if not self.counters.first_ingest_at:
            self.counters.first_ingest_at = time.time()
        batch = self._not_ingested_before(events, now)
        taken = take(batch.payloads, self.enricher, self.aggregator, self.settings.max_message_bytes,
                     batch.sources, not_after=time.time() + self.settings.max_future_seconds,
                     boards=self.boards is not None,
                     claims=self.claims is not None and self.claims.claims,
                     firms=self.claims is not None and self.claims.firms)
        sent = self._deadletter(taken, batch)
        if taken.board_tickets:
            # Handed to the writer's thread: Redis, up or not, never holds ingest up. A ticket
            # delivered again (restart, rebalance) is counted once (the Lua dedup).
            self.boards.offer(taken.board_tickets)
        self.counters.messages += len(events)
        self.counters.tickets += taken.tickets
        if taken.duplicates:
            self.counters.duplicate_tickets += taken.duplicates
            self.metrics.duplicate_tickets.inc(taken.duplicates)
        self.metrics.input_messages.inc(len(events))
        self.metrics.count_tickets(taken.tally)
        # Progress is published only with the deltas it covers (no await in between),
        # so no partition can see an event time before the tickets behind it.
        self._advance_fronts(taken)
        marks = self.watermarks(now)
        self.idle_reported.update({s: v[1] for s, v in marks.items()})
        for delta in taken.deltas.values():
            delta["w"] = marks
        if self.claims is not None:
            sent.append(self.claims(taken.claims, taken.firm_tickets, marks))
        sent += self.send_deltas(taken.deltas, started=now)
        self._ack_when_sent(held, sent)
        self._timing.observe(time.perf_counter() - started)

    def _ack_when_sent(self, events: list[Any], sent: list[Any]) -> None:
        """Acknowledge *events* once every future in *sent* is done (the broker has them).

        A send that fails leaves its events unacknowledged: the worker's next owner ingests
        them again (and the windows count each ticket once)."""
        async def ack() -> None:
            await confirmed(sent, "the ingest outputs")
            for ev in events:
                if self.stream is not None:
                    await self.stream.ack(ev)
                else:
                    ev.ack()

        task = asyncio.ensure_future(ack())
        self._acking.add(task)
        task.add_done_callback(self._acking.discard)

    def _not_ingested_before(self, events: list[Any], now: float) -> Batch:
        batch = Batch([], [], [])
        for ev in events:
            msg = ev.message
            src = str(msg.partition)
            s = self.sources.setdefault(src, Source())
            # Already ingested: by a previous owner, or here before Faust sought back to
            # a lagging committed offset (it does so after every rebalance).
            if msg.offset < max(self.resume_offset(src), -1 if s.next_offset is None else s.next_offset):
                self.counters.redelivered += 1
                s.last_input, s.next_offset = now, max(s.next_offset or 0, msg.offset + 1)
                continue
            s.last_input, s.next_offset = now, msg.offset + 1
            batch.events.append(ev)
            batch.payloads.append(ev.value if isinstance(ev.value, bytes) else bytes(ev.value or b""))
            batch.sources.append(src)
        return batch

    def _deadletter(self, taken: Taken, batch: Batch) -> list[Any]:
        """Send the batch's rejected messages to the dead-letter topic; their futures."""
        sent = []
        for i, r in taken.rejected:
            msg = batch.events[i].message
            self.counters.deadlettered += 1
            reasons = self.counters.deadletter_reasons
            reasons[r.reason.value] = reasons.get(r.reason.value, 0) + 1
            self.metrics.count_deadletter(r.reason.value)
            sent.append(self.deadletter.send_soon(value=orjson.dumps(deadletter.record(
                r.reason.value, r.detail, deadletter.element_bytes(batch.payloads[i], r.index),
                key=self.settings.deadletter_key, index=r.index,
                source={"source": {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}}))))
        return sent

    def _advance_fronts(self, taken: Taken) -> None:
        for src, batch_newest in taken.newest.items():
            s = self.sources[src]
            if s.front is None:
                s.front = Front()
            s.front.merge(batch_newest)
            if s.front.value is not None and s.front.value > self.newest_event:
                self.newest_event = s.front.value
                self.metrics.event_time.set(s.front.value)

    async def heartbeat(self) -> None:
        """Tell every delta partition when a ticket partition goes quiet (or was never fed),
        so event time can move on without it; quiet everywhere means "end of input so far"."""
        now = time.monotonic()
        try:
            await self._track_new_sources(now)
        except ConsumerNotStarted:
            return
        marks = self.watermarks(now)
        wall_bucket = bucket_of(time.time() - self.settings.lateness_seconds)
        passed, self.wall_bucket = wall_bucket != self.wall_bucket, wall_bucket
        # Tell when a partition goes quiet (or comes back), and, while any is quiet, when the
        # wall clock passes a bucket's end plus lateness: that bucket may close now.
        if marks and (any(self.idle_reported.get(s) != v[1] for s, v in marks.items())
                      or (passed and any(v[1] for v in marks.values()))):
            self.idle_reported.update({s: v[1] for s, v in marks.items()})
            if self.claims is not None:
                self.claims([], [], marks)
            self.send_deltas(self.aggregator.drain(marks))

    async def _track_new_sources(self, now: float) -> None:
        # A ticket partition assigned here but not read yet starts where the group stands:
        # its committed offset, or its first offset when the group never committed it.
        consumer = self.app.consumer
        for tp in consumer.assignment():
            src = str(tp.partition)
            if tp.topic != self.settings.topic_tickets or src in self.sources:
                continue
            start = getattr(consumer, "_committed_offset", {}).get(tp)
            if start is None:
                start = (await consumer.earliest_offsets(tp)).get(tp)
            if src not in self.sources:  # the ingest agent may have read it meanwhile
                self.sources[src] = Source(last_input=now, next_offset=start)

    async def sent(self) -> None:
        """Wait until the broker has what every batch so far sent (and their events are
        acknowledged), and the progress written."""
        while self._acking:
            await asyncio.gather(*list(self._acking))
        await self.ingested.sent()

    def write_progress(self) -> None:
        """Write how far each owned ticket partition was ingested (read here since the assignment)."""
        owned = {str(tp.partition) for tp in self.app.consumer.assignment()
                 if tp.topic == self.settings.topic_tickets}
        for src in owned & self.resume.keys():
            self.ingested[self.resume_key(src)] = str(max(self.sources[src].next_offset, self.resume[src])).encode()

    def keep_only(self, mine: set[str]) -> None:
        """After an assignment: forget partitions the heartbeat tracked mid-rebalance that went elsewhere."""
        for src in set(self.sources) - mine:
            self.sources.pop(src, None)
            self.idle_reported.pop(src, None)

    def revoked(self, srcs: set[str]) -> None:
        """Forget ticket partitions handed over (their progress was written while settling)."""
        for src in srcs:
            self.sources.pop(src, None)
            self.resume.pop(src, None)
            self.idle_reported.pop(src, None)
