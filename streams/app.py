"""The Faust shell: two agents that wire the pure core to Kafka, and nothing more.

``ingest`` reads the tickets topic in batches: decode and validate (schemas/), dead-letter
what is bad with its bytes and reason, enrich the rest once (detectors/enrich), and send
one pre-aggregated delta message per partition per batch (detectors/aggregate.Aggregator).
Each message also says how far in event time this worker's ticket partitions have got.

``windows`` reads the delta topic. Each delta partition has a ``PartitionEngine``; its
decisions go straight to the alerts topic. Key states are kept in memory and written to
the state table (changelog-backed, co-partitioned by the same murmur2 routing) every
``flush_seconds``, and only then are the delta messages acknowledged, so a crash replays
from the last flush and nothing is lost. A table write costs about half a Kafka message
here, so writes are combined per key per flush, never made per ticket.

Handing partitions over (a rebalance, or a worker stopping) is exact, not at-least-once.
Before Faust waits for in-flight events, window state is flushed (which acknowledges the
delta messages it holds), and once ingest is idle, how far each ticket partition was
ingested goes to the ``ingested`` table, co-partitioned with the tickets topic. The next
owner of a ticket partition recovers that table and skips what was already ingested, so a
ticket is never counted twice even when Faust's own offset commit lags behind (it does:
a commit waits for the producer, and a rebalance does not wait for a late commit). Only a
crash (no clean hand-over) can still count a batch twice.

Per-event work in both agents is synchronous: no awaits on the hot path. Metrics
(streams/metrics.py) are counted per batch or per message, never per ticket per metric;
consumer lag is refreshed by a timer, off the hot path.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

import faust
import orjson
from faust.exceptions import ConsumerNotStarted
from faust.types import TP
from prometheus_client import CollectorRegistry

from alerts.inspection import task_of
from alerts.render import render
from detectors.aggregate import Aggregator
from detectors.decisions import RESOLVED, Decision, decision_from_dict
from detectors.enrich import Enricher, take
from detectors.front import Front
from detectors.partition import PartitionEngine
from detectors.stage import AlertStage
from earlywarn.settings import DEV_SECRET, Settings
from streams.health import Health
from streams.metrics import Metrics
from streams.routing import clock_key, partition_key, router

log = logging.getLogger("earlywarn")

LAG_SECONDS = 5.0  # how often consumer lag is refreshed (one offsets request per refresh)
STAGE_KEY = b"stage"  # the alert stage's one table key


@dataclass
class Counters:
    """What the shell has done; read by the demo, the bench and the metrics."""

    messages: int = 0
    tickets: int = 0
    deadlettered: int = 0
    deadletter_reasons: dict[str, int] = field(default_factory=dict)
    redelivered: int = 0  # ticket messages skipped because a previous owner had ingested them
    delta_messages: int = 0
    deltas_applied: int = 0
    late_tickets: int = 0  # counted after their bucket was judged (the stream then differs from detect)
    first_ingest_at: float = 0.0  # wall clock of the first ticket batch (for rates)
    last_applied_at: float = 0.0  # wall clock of the last delta message applied
    alerts: int = 0
    alerts_by_type: dict[str, int] = field(default_factory=dict)
    inspection_tasks: int = 0
    flushes: int = 0
    state_writes: int = 0
    on_alert: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)


def deadletter_record(reason: str, detail: str, payload: bytes, *, topic: str, partition: int,
                      offset: int, index: int | None) -> bytes:
    """The dead-letter message: where it came from, why, and the original bytes."""
    rec: dict[str, Any] = {
        "reason": reason, "detail": detail, "index": index,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "payload_b64": base64.b64encode(payload).decode(),
    }
    try:
        rec["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        rec["payload"] = None
    return orjson.dumps(rec)


def _element_bytes(payload: bytes, index: int | None) -> bytes:
    """The bytes of one bad element of a batch message (the whole payload otherwise)."""
    if index is None:
        return payload
    try:
        return orjson.dumps(orjson.loads(payload)[index])
    except Exception:  # noqa: BLE001 - fall back to the whole message, never lose it
        return payload


class BrokerErrorSensor(faust.Sensor):
    """Counts sends the broker did not acknowledge (any topic, changelogs included)."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._produce_errors = metrics.broker_errors.labels("produce")

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self._produce_errors.inc()


class OpenAlerts:
    """The ``earlywarn_open_alerts`` gauge, kept from the alert events this worker publishes.

    open / update set an alert's (type, severity), resolved removes it. Alerts are tracked
    with the alert stage's partition so that, when it moves to another worker, its alerts
    leave this worker's gauge (the new owner counts them from their next event).
    """

    def __init__(self, metrics: Metrics) -> None:
        self._gauge = metrics.open_alerts
        self._open: dict[str, tuple[int, str, str]] = {}  # alert_id -> (partition, type, severity)

    def event(self, partition: int, d: Decision) -> None:
        old = self._open.pop(d.alert_id, None)
        if old is not None:
            self._gauge.labels(old[1], old[2]).dec()
        if d.status != RESOLVED:
            self._open[d.alert_id] = (partition, d.type, d.severity)
            self._gauge.labels(d.type, d.severity).inc()

    def forget_partition(self, partition: int) -> None:
        for alert_id in [a for a, v in self._open.items() if v[0] == partition]:
            _, t, sev = self._open.pop(alert_id)
            self._gauge.labels(t, sev).dec()


class EarlywarnApp(faust.App):
    """A Faust app that settles its own state when partitions are handed over.

    Faust calls ``_consumer_wait_empty`` on a rebalance and on stop, after the flow of
    events has been stopped and before the offsets are committed and partitions let go.
    The windows agent acknowledges events only when window state is flushed, so without a
    flush here the wait never ends (a stopping app runs no timers): the worker hangs on
    SIGTERM. ``settle_before`` runs first, ``settle_after`` once in-flight events are done.

    An agent that raises makes the worker unready and stops it (``earlywarn_health``).
    """

    settle_before: list[Callable[[], Awaitable[None]]]
    settle_after: list[Callable[[], Awaitable[None]]]
    earlywarn_health: Health

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        # Every agent's error handler: the worker goes unready and stops (streams.health).
        await super()._on_agent_error(agent, exc)
        await self.earlywarn_health.agent_failed(agent, exc)

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        for hook in self.settle_before:
            await hook()
        await super()._consumer_wait_empty(consumer, logger)
        for hook in self.settle_after:
            await hook()


def make_app(settings: Settings, counters: Counters | None = None, metrics: Metrics | None = None) -> faust.App:
    """A Faust app with earlywarn's topics, table and agents, configured by *settings*.

    *metrics* defaults to a fresh :class:`Metrics` in its own registry (``app.earlywarn_metrics``).
    """
    if settings.pseudonym_secret == DEV_SECRET:
        log.warning("EARLYWARN_PSEUDONYM_SECRET is the development default: set your own in production")
    counters = counters if counters is not None else Counters()
    metrics = metrics if metrics is not None else Metrics(CollectorRegistry())
    app = EarlywarnApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout,
        broker_rebalance_timeout=settings.rebalance_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        producer_max_request_size=4 * 1024 * 1024,
        consumer_max_fetch_size=4 * 1024 * 1024,
        key_serializer="raw",
        value_serializer="raw",  # we encode with orjson ourselves: faster, and bytes stay bytes
    )
    app.settle_before, app.settle_after = [], []
    app.earlywarn_counters = counters  # type: ignore[attr-defined]
    app.earlywarn_metrics = metrics  # type: ignore[attr-defined]
    app.earlywarn_health = Health(metrics)
    app.sensors.add(BrokerErrorSensor(metrics))
    cfg = settings.detect
    route = router(settings.partitions)

    tickets = app.topic(settings.topic_tickets, value_type=bytes, value_serializer="raw",
                        key_serializer="raw", partitions=settings.ticket_partitions)
    deadletter = app.topic(settings.topic_deadletter, value_type=bytes, value_serializer="raw",
                           key_serializer="raw", partitions=settings.ticket_partitions)
    deltas = app.topic(settings.topic_deltas, value_type=bytes, value_serializer="raw",
                       key_serializer="raw", partitions=settings.partitions)
    decisions = app.topic(settings.topic_decisions, value_type=bytes, value_serializer="raw",
                          key_serializer="raw", partitions=1)
    alerts = app.topic(settings.topic_alerts, value_type=bytes, value_serializer="raw",
                       key_serializer="raw", partitions=1)
    inspection = app.topic(settings.topic_inspection, value_type=bytes, value_serializer="raw",
                           key_serializer="raw", partitions=1)
    # Table keys are bytes so that Faust writes them to the changelog raw (a str key would be
    # JSON-encoded, quotes and all, and hash to another partition than its stream's): the
    # changelog partition of a key is then the partition routing.router gives it, and the
    # worker that owns a partition recovers exactly that partition's keys.
    state = app.Table(f"{settings.app_id}-state", default=None, key_type=bytes, value_type=bytes,
                      partitions=settings.partitions, use_partitioner=True)
    stage_table = app.Table(f"{settings.app_id}-stage", default=None, key_type=bytes, value_type=bytes,
                            partitions=1, use_partitioner=True)
    # Ticket partition -> the offset ingest resumes from. Co-partitioned with the tickets
    # topic (same partition count), so a ticket partition's new owner recovers its entry.
    ingested = app.Table(f"{settings.app_id}-ingested", default=None, key_type=bytes, value_type=bytes,
                         partitions=settings.ticket_partitions, use_partitioner=True)

    enricher = Enricher(settings.pseudonym_secret.encode())
    newest_event = [float("-inf")]  # the furthest event-time front ingested here (for the gauge)
    aggregator = Aggregator(cfg, route)
    # Event-time progress of the ticket partitions this worker reads:
    # source -> [front | None, wall clock of the last input (or of assignment), next offset | None].
    sources: dict[str, list[Any]] = {}
    fronts: dict[str, Front] = {}  # source -> its robust event-time front (detectors.front)
    idle_reported: dict[str, bool] = {}

    def fetched_highwater(tp: TP) -> int | None:
        try:
            return app.consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - not fetched yet, or just revoked
            return None

    def resume_key(src: str) -> bytes:
        return partition_key("~ingested", int(src), settings.ticket_partitions).encode()

    # Ticket partition -> the offset below which a previous owner already ingested. Read on
    # the first message after an assignment: streams resume only once tables are recovered.
    resume: dict[str, int] = {}

    def resume_offset(src: str) -> int:
        off = resume.get(src)
        if off is None:
            raw = ingested.get(resume_key(src))
            off = resume[src] = -1 if raw is None else int(raw)
        return off

    def caught_up(tp: TP, next_offset: int | None) -> bool:
        hw = fetched_highwater(tp)
        return hw is not None and next_offset is not None and next_offset >= hw

    def watermarks(now: float) -> dict[str, list[Any]]:
        # A partition is idle only when this worker has ingested all the broker holds of it
        # and nothing new came for idle_seconds. Silence alone is not enough: a partition
        # waiting through a rebalance, a recovery or a slow fetch still has tickets to come,
        # and calling it idle would let event time run past them (they would arrive late).
        out: dict[str, list[Any]] = {}
        for tp in app.consumer.assignment() if app.consumer else ():
            if tp.topic != settings.topic_tickets:
                continue
            src = str(tp.partition)
            newest, last, next_offset = sources.get(src, (None, None, None))
            idle = last is not None and now - last >= settings.idle_seconds and caught_up(tp, next_offset)
            front = fronts.get(src)
            out[src] = [newest, idle, front.newest if front is not None else []]
        return out

    delta_send_seconds = metrics.delta_send_seconds
    ingest_timing = metrics.stage("ingest_batch")
    windows_timing = metrics.stage("windows_message")
    flush_timing = metrics.stage("flush")

    def sent_since(started: float) -> Callable[[Any], None]:
        def on_sent(_fut: Any) -> None:
            delta_send_seconds.observe(time.monotonic() - started)
        return on_sent

    def send_deltas(msgs: dict[int, dict[str, Any]], started: float | None = None) -> None:
        # One callback per batch, shared by its few delta messages: called when the broker acks.
        on_sent = sent_since(started) if started is not None else None
        for p, msg in msgs.items():
            deltas.send_soon(value=orjson.dumps(msg), partition=p, callback=on_sent)
        counters.delta_messages += len(msgs)
        metrics.delta_messages_sent.inc(len(msgs))

    @app.agent(tickets)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            now = time.monotonic()
            started = time.perf_counter()
            if not counters.first_ingest_at:
                counters.first_ingest_at = time.time()
            fresh: list[Any] = []  # the events to ingest, their payloads and sources
            payloads: list[bytes] = []
            srcs: list[str] = []
            for ev in events:
                msg = ev.message
                src = str(msg.partition)
                entry = sources.setdefault(src, [None, None, None])
                # Already ingested: by a previous owner, or here before Faust sought back to
                # a lagging committed offset (it does so after every rebalance).
                if msg.offset < max(resume_offset(src), -1 if entry[2] is None else entry[2]):
                    counters.redelivered += 1
                    entry[1], entry[2] = now, max(entry[2] or 0, msg.offset + 1)
                    continue
                entry[1], entry[2] = now, msg.offset + 1
                fresh.append(ev)
                payloads.append(ev.value if isinstance(ev.value, bytes) else bytes(ev.value or b""))
                srcs.append(src)
            taken = take(payloads, enricher, aggregator, settings.max_message_bytes, srcs,
                         not_after=time.time() + settings.max_future_seconds)
            for i, r in taken.rejected:
                msg = fresh[i].message
                counters.deadlettered += 1
                counters.deadletter_reasons[r.reason.value] = counters.deadletter_reasons.get(r.reason.value, 0) + 1
                metrics.count_deadletter(r.reason.value)
                deadletter.send_soon(value=deadletter_record(
                    r.reason.value, r.detail, _element_bytes(payloads[i], r.index),
                    topic=msg.topic, partition=msg.partition, offset=msg.offset, index=r.index))
            counters.messages += len(events)
            counters.tickets += taken.tickets
            metrics.input_messages.inc(len(events))
            metrics.count_tickets(taken.tally)
            # Progress is published only with the deltas it covers (no await in between),
            # so no partition can see an event time before the tickets behind it.
            for src, batch_newest in taken.newest.items():
                front = fronts.get(src) or fronts.setdefault(src, Front())
                front.merge(batch_newest)
                sources[src][0] = front.value
                if front.value is not None and front.value > newest_event[0]:
                    newest_event[0] = front.value
                    metrics.event_time.set(front.value)
            marks = watermarks(now)
            idle_reported.update({s: v[1] for s, v in marks.items()})
            for delta in taken.deltas.values():
                delta["w"] = marks
            send_deltas(taken.deltas, started=now)
            ingest_timing.observe(time.perf_counter() - started)

    async def track_new_sources(now: float) -> None:
        # A ticket partition assigned here but not read yet starts where the group stands:
        # its committed offset, or its first offset when the group never committed it.
        for tp in app.consumer.assignment():
            src = str(tp.partition)
            if tp.topic != settings.topic_tickets or src in sources:
                continue
            start = getattr(app.consumer, "_committed_offset", {}).get(tp)
            if start is None:
                start = (await app.consumer.earliest_offsets(tp)).get(tp)
            if src not in sources:  # the ingest agent may have read it meanwhile
                sources[src] = [None, now, start]

    @app.timer(interval=1.0)
    async def heartbeat() -> None:
        # Tell every delta partition when a ticket partition goes quiet (or was never fed),
        # so event time can move on without it; quiet everywhere means "end of input so far".
        now = time.monotonic()
        try:
            await track_new_sources(now)
        except ConsumerNotStarted:
            return
        marks = watermarks(now)
        if marks and any(idle_reported.get(s) != v[1] for s, v in marks.items()):
            idle_reported.update({s: v[1] for s, v in marks.items()})
            send_deltas(aggregator.drain(marks))

    engines: dict[int, PartitionEngine] = {}
    pending: list[Any] = []
    last_flush = [time.monotonic()]
    window_stream: list[faust.StreamT[bytes]] = []

    def load(tk: str) -> dict[str, Any] | None:
        raw = state.get(tk.encode())
        return None if raw is None else orjson.loads(raw)

    def engine(p: int) -> PartitionEngine:
        eng = engines.get(p)
        if eng is None:
            clock = load(clock_key(p, settings.partitions))
            eng = engines[p] = PartitionEngine(p, cfg, load=load, clock=clock)
        return eng

    open_alerts = OpenAlerts(metrics)

    def publish(partition: int, decisions: list[Decision]) -> None:
        wall = time.time()
        for d in decisions:
            alert = render(d)
            alerts.send_soon(key=d.alert_id.encode(), value=orjson.dumps(alert))
            task = task_of(alert)
            if task is not None:
                inspection.send_soon(key=task["task_id"].encode(), value=orjson.dumps(task))
                counters.inspection_tasks += 1
                metrics.inspection_tasks.labels(task["severity"]).inc()
            counters.alerts += 1
            counters.alerts_by_type[d.type] = counters.alerts_by_type.get(d.type, 0) + 1
            # Alerts are rare next to messages: per-alert label lookups cost nothing here.
            metrics.alerts.labels(d.type, d.severity, d.status).inc()
            if d.status != RESOLVED:
                metrics.alert_score.labels(d.type).observe(d.score)
            metrics.alert_event_lag_seconds.observe(wall - d.raised_at)
            open_alerts.event(partition, d)
            for cb in counters.on_alert:
                cb(alert)

    def write_clock(p: int, eng: PartitionEngine) -> None:
        state[clock_key(p, settings.partitions).encode()] = orjson.dumps(eng.clock_dict())

    async def flush() -> None:
        started = time.perf_counter()
        writes = 0
        for p, eng in engines.items():
            dirty = eng.take_dirty()
            for tk, value in dirty.items():
                state[tk.encode()] = orjson.dumps(value)
            write_clock(p, eng)
            writes += len(dirty) + 1
            counters.state_writes += len(dirty)
            metrics.flush_dirty_keys.observe(len(dirty))
            metrics.engine_keys.labels(str(p)).set(len(eng.states))
        counters.flushes += 1
        metrics.state_flushes.inc()
        metrics.state_writes.inc(writes)
        last_flush[0] = time.monotonic()
        done, pending[:] = list(pending), []
        if window_stream:
            for ev in done:
                await window_stream[0].ack(ev)
        flush_timing.observe(time.perf_counter() - started)

    @app.agent(deltas)
    async def windows(stream: faust.StreamT[bytes]) -> None:
        s = stream.noack()
        window_stream[:] = [s]
        async for ev in s.events():
            started = time.perf_counter()
            p = ev.message.partition
            eng = engine(p)
            late, before = eng.clock.late, eng.done_to()
            decided = eng.apply(orjson.loads(ev.value), offset=ev.message.offset)
            counters.late_tickets += eng.clock.late - late
            done_to = eng.done_to()
            # To the alert stage: this partition's decisions and how far it has decided, once
            # per tick it passes (a replayed report is recognised there and ignored).
            if decided or done_to > before:
                decisions.send_soon(value=orjson.dumps({"p": p, "to": done_to, "d": [asdict(d) for d in decided]}))
            counters.deltas_applied += 1
            counters.last_applied_at = time.time()
            metrics.delta_messages_applied.inc()
            pending.append(ev)
            windows_timing.observe(time.perf_counter() - started)
            if time.monotonic() - last_flush[0] >= settings.flush_seconds:
                await flush()

    @app.timer(interval=1.0)
    async def flush_when_quiet() -> None:
        if pending and time.monotonic() - last_flush[0] >= settings.flush_seconds:
            await flush()
        if stage_pending and time.monotonic() - stage_flushed[0] >= settings.flush_seconds:
            await flush_stage()

    # The alert stage: one partition, so one worker sees every partition's decisions and
    # publishes one alert per episode (detectors.stage). Its state is a single table value,
    # written every flush_seconds like the windows' (input acked only after it is written).
    stage_box: list[AlertStage | None] = [None]
    stage_pending: list[Any] = []
    stage_flushed = [time.monotonic()]
    stage_stream: list[faust.StreamT[bytes]] = []

    def alert_stage() -> AlertStage:
        st = stage_box[0]
        if st is None:
            st = stage_box[0] = AlertStage(settings.partitions)
            raw = stage_table.get(STAGE_KEY)
            if raw is not None:
                st.load(orjson.loads(raw))
        return st

    def write_stage() -> None:
        if stage_box[0] is not None:
            stage_table[STAGE_KEY] = orjson.dumps(stage_box[0].to_dict())

    async def flush_stage() -> None:
        write_stage()
        stage_flushed[0] = time.monotonic()
        done, stage_pending[:] = list(stage_pending), []
        if stage_stream:
            for ev in done:
                await stage_stream[0].ack(ev)

    @app.agent(decisions)
    async def release(stream: faust.StreamT[bytes]) -> None:
        s = stream.noack()
        stage_stream[:] = [s]
        async for ev in s.events():
            m = orjson.loads(ev.value)
            publish(ev.message.partition, alert_stage().offer(m["p"], m["to"], [decision_from_dict(x) for x in m["d"]]))
            stage_pending.append(ev)
            if time.monotonic() - stage_flushed[0] >= settings.flush_seconds:
                await flush_stage()

    async def flush_windows() -> None:
        # Acknowledges the delta and decision messages held back since the last flush.
        if pending or engines:
            await flush()
        if stage_pending:  # the stage's state itself is written once more, last, in record_progress
            await flush_stage()

    async def record_progress() -> None:
        # Ingest is idle now. Its deltas and the window state go to the broker first: a
        # resume offset must never claim more than was sent.
        await flush_windows()
        await app.producer.flush()
        owned = {str(tp.partition) for tp in app.consumer.assignment() if tp.topic == settings.topic_tickets}
        for src in owned & resume.keys():  # read here since the assignment
            ingested[resume_key(src)] = str(max(sources[src][2], resume[src])).encode()
        # Written last and alone, one record per changelog partition: the embedded broker
        # answers ListOffsets with the start of a partition's last record batch plus one,
        # not its end, and Faust recovers a changelog only up to that answer. A lone last
        # record makes the answer exact (Apache Kafka needs none of this).
        for p, eng in engines.items():
            write_clock(p, eng)
        write_stage()
        await app.producer.flush()

    app.settle_before.append(flush_windows)
    app.settle_after.append(record_progress)

    @app.on_partitions_assigned.connect
    async def on_assigned(_sender: Any, assigned: set[TP], **_: Any) -> None:
        # The heartbeat may have tracked partitions mid-rebalance that went elsewhere.
        mine = {str(tp.partition) for tp in assigned if tp.topic == settings.topic_tickets}
        for src in set(sources) - mine:
            sources.pop(src, None)
            fronts.pop(src, None)
            idle_reported.pop(src, None)

    @app.on_partitions_revoked.connect
    async def on_revoked(_sender: Any, revoked: set[TP], **_: Any) -> None:
        # Everything was persisted while settling (see EarlywarnApp): forget the partitions.
        for tp in revoked:
            if tp.topic == settings.topic_decisions:
                stage_box[0] = None
                open_alerts.forget_partition(tp.partition)
            if tp.topic == settings.topic_deltas:
                engines.pop(tp.partition, None)
                with suppress(KeyError):
                    metrics.engine_keys.remove(str(tp.partition))
        sources_revoked = {str(tp.partition) for tp in revoked if tp.topic == settings.topic_tickets}
        for src in sources_revoked:
            sources.pop(src, None)
            fronts.pop(src, None)
            resume.pop(src, None)
            idle_reported.pop(src, None)

    lag_topics = (settings.topic_tickets, settings.topic_deltas, settings.topic_decisions)

    @app.timer(interval=LAG_SECONDS)
    async def refresh_lag() -> None:
        # Highwater minus committed offset (Faust's own record of what it committed; before
        # the first commit, what it has read; before any read, the start of the partition).
        # Only the topics our agents consume: changelogs are read for recovery, never committed.
        # The highwater is the larger of the last fetch response's and a ListOffsets answer:
        # either can be the staler one (and the embedded broker's ListOffsets lags behind).
        try:
            assigned = [tp for tp in app.consumer.assignment() if tp.topic in lag_topics]
        except ConsumerNotStarted:
            return
        if not assigned:
            for topic in lag_topics:
                metrics.consumer_lag.labels(topic).set(0)
            return
        try:
            listed = await app.consumer.highwaters(*assigned)
        except ConsumerNotStarted:
            return
        except Exception as exc:  # noqa: BLE001 - a failed refresh must not stop the worker
            metrics.broker_errors.labels("offsets").inc()
            log.warning("consumer lag refresh failed: %r", exc)
            listed = {}
        committed = getattr(app.consumer, "_committed_offset", {})
        read = getattr(app.consumer, "_read_offset", {})
        lag = dict.fromkeys(lag_topics, 0)
        for tp in assigned:
            known = [hw for hw in (listed.get(tp), fetched_highwater(tp)) if hw is not None]
            if not known:
                continue
            hw = max(known)
            done = committed.get(tp)
            if done is None:
                last_read = read.get(tp)
                done = 0 if last_read is None else last_read + 1
            lag[tp.topic] += max(0, hw - done)
        for topic, n in lag.items():
            metrics.consumer_lag.labels(topic).set(n)

    app.earlywarn_flush = flush  # type: ignore[attr-defined]
    return app
