"""The Faust shell: two agents that wire the pure core to Kafka, and nothing more.

``ingest`` reads the tickets topic in batches: decode and validate (schemas/), dead-letter
what is bad with its bytes and reason, enrich the rest once (detectors/enrich), and send
one pre-aggregated delta message per partition per batch (detectors/engine.Aggregator).
Each message also says how far in event time this worker's ticket partitions have got.

``windows`` reads the delta topic. Each delta partition has a ``PartitionEngine``; its
decisions go straight to the alerts topic. Key states are kept in memory and written to
the state table (changelog-backed, co-partitioned by the same murmur2 routing) every
``flush_seconds``, and only then are the delta messages acknowledged, so a crash replays
from the last flush and nothing is lost. A table write costs about half a Kafka message
here, so writes are combined per key per flush, never made per ticket.

Per-event work in both agents is synchronous: no awaits on the hot path. Metrics
(streams/metrics.py) are counted per batch or per message, never per ticket per metric;
consumer lag is refreshed by a timer, off the hot path.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

import faust
import orjson
from faust.exceptions import ConsumerNotStarted
from faust.types import TP
from prometheus_client import CollectorRegistry

from alerts.render import render
from detectors.engine import RESOLVED, Aggregator, Decision, PartitionEngine
from detectors.enrich import Enricher
from detectors.stage import AlertStage, decision_from_dict
from detectors.text import domain_words
from earlywarn.settings import DEV_SECRET, Settings
from schemas.tickets import Rejection, Ticket, decode
from streams.metrics import Metrics
from streams.routing import clock_key, router

log = logging.getLogger("earlywarn")

LAG_SECONDS = 5.0  # how often consumer lag is refreshed (one offsets request per refresh)


@dataclass
class Counters:
    """What the shell has done; read by the demo, the bench and the metrics."""

    messages: int = 0
    tickets: int = 0
    deadlettered: int = 0
    deadletter_reasons: dict[str, int] = field(default_factory=dict)
    delta_messages: int = 0
    deltas_applied: int = 0
    first_ingest_at: float = 0.0  # wall clock of the first ticket batch (for rates)
    last_applied_at: float = 0.0  # wall clock of the last delta message applied
    alerts: int = 0
    alerts_by_type: dict[str, int] = field(default_factory=dict)
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


def make_app(settings: Settings, counters: Counters | None = None, metrics: Metrics | None = None) -> faust.App:
    """A Faust app with earlywarn's topics, table and agents, configured by *settings*.

    *metrics* defaults to a fresh :class:`Metrics` in its own registry (``app.earlywarn_metrics``).
    """
    if settings.pseudonym_secret == DEV_SECRET:
        log.warning("EARLYWARN_PSEUDONYM_SECRET is the development default: set your own in production")
    counters = counters if counters is not None else Counters()
    metrics = metrics if metrics is not None else Metrics(CollectorRegistry())
    app = faust.App(
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
    app.earlywarn_counters = counters  # type: ignore[attr-defined]
    app.earlywarn_metrics = metrics  # type: ignore[attr-defined]
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
    state = app.Table(f"{settings.app_id}-state", default=None, key_type=str, value_type=bytes,
                      partitions=settings.partitions, use_partitioner=True)
    stage_table = app.Table(f"{settings.app_id}-stage", default=None, key_type=str, value_type=bytes,
                            partitions=1, use_partitioner=True)

    enricher = Enricher(settings.pseudonym_secret.encode())
    newest_event = [float("-inf")]  # newest ticket event time ingested here (for the gauge)
    aggregator = Aggregator(cfg, route)
    # Event-time progress of the ticket partitions this worker reads: source -> [newest ts, last wall].
    sources: dict[str, list[float | None]] = {}
    idle_reported: dict[str, bool] = {}

    def watermarks(now: float) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for tp in app.consumer.assignment() if app.consumer else ():
            if tp.topic != settings.topic_tickets:
                continue
            src = str(tp.partition)
            newest, last = sources.get(src, (None, None))
            idle = last is None or now - last >= settings.idle_seconds
            out[src] = [newest, idle]
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
            seen: dict[str, float] = {}
            tally: dict[tuple[str, str], int] = {}  # (kind, district_code) -> tickets, for the metrics
            n_tickets = 0
            for ev in events:
                msg = ev.message
                payload: bytes = ev.value if isinstance(ev.value, bytes) else bytes(ev.value or b"")
                src = str(msg.partition)
                for r in decode(payload, max_bytes=settings.max_message_bytes):
                    if isinstance(r, Rejection):
                        counters.deadlettered += 1
                        counters.deadletter_reasons[r.reason.value] = counters.deadletter_reasons.get(r.reason.value, 0) + 1
                        metrics.count_deadletter(r.reason.value)
                        deadletter.send_soon(value=deadletter_record(
                            r.reason.value, r.detail, _element_bytes(payload, r.index),
                            topic=msg.topic, partition=msg.partition, offset=msg.offset, index=r.index))
                        continue
                    assert isinstance(r, Ticket)
                    n_tickets += 1
                    tk = (r.kind.value, r.district_code)
                    tally[tk] = tally.get(tk, 0) + 1
                    aggregator.add(enricher.enrich(r))
                    if r.ts > seen.get(src, float("-inf")):
                        seen[src] = r.ts
                sources.setdefault(src, [None, None])[1] = now
            counters.messages += len(events)
            counters.tickets += n_tickets
            metrics.input_messages.inc(len(events))
            metrics.count_tickets(tally)
            # Progress is published only with the deltas it covers (no await in between),
            # so no partition can see an event time before the tickets behind it.
            for src, ts in seen.items():
                old = sources[src][0]
                sources[src][0] = ts if old is None else max(old, ts)
            if seen:
                newest = max(seen.values())
                if newest > newest_event[0]:
                    newest_event[0] = newest
                    metrics.event_time.set(newest)
            marks = watermarks(now)
            idle_reported.update({s: v[1] for s, v in marks.items()})
            send_deltas(aggregator.drain(marks), started=now)
            ingest_timing.observe(time.perf_counter() - started)

    @app.timer(interval=1.0)
    async def heartbeat() -> None:
        # Tell every delta partition when a ticket partition goes quiet (or was never fed),
        # so event time can move on without it; quiet everywhere means "end of input so far".
        marks = watermarks(time.monotonic())
        if marks and any(idle_reported.get(s) != v[1] for s, v in marks.items()):
            idle_reported.update({s: v[1] for s, v in marks.items()})
            send_deltas(aggregator.drain(marks))

    engines: dict[int, PartitionEngine] = {}
    reported: dict[int, float] = {}  # partition -> the done_to last sent to the alert stage
    pending: list[Any] = []
    last_flush = [time.monotonic()]
    window_stream: list[faust.StreamT[bytes]] = []

    def load(tk: str) -> dict[str, Any] | None:
        raw = state.get(tk)
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

    async def flush() -> None:
        started = time.perf_counter()
        writes = 0
        for p, eng in engines.items():
            dirty = eng.take_dirty()
            for tk, value in dirty.items():
                state[tk] = orjson.dumps(value)
            state[clock_key(p, settings.partitions)] = orjson.dumps(eng.clock_dict())
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
            decided = eng.apply(orjson.loads(ev.value), offset=ev.message.offset)
            done_to = eng.done_to()
            # To the alert stage: this partition's decisions and how far it has decided, once
            # per tick it passes (a replayed report is recognised there and ignored).
            if decided or done_to > reported.get(p, float("-inf")):
                reported[p] = done_to
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
            st = stage_box[0] = AlertStage(settings.partitions, named_terms=domain_words())
            raw = stage_table.get("stage")
            if raw is not None:
                st.load(orjson.loads(raw))
        return st

    async def flush_stage() -> None:
        if stage_box[0] is not None:
            stage_table["stage"] = orjson.dumps(stage_box[0].to_dict())
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

    @app.on_partitions_revoked.connect
    async def on_revoked(_sender: Any, revoked: set[TP], **_: Any) -> None:
        # Persist before another worker takes the partitions, then forget them here.
        losing_stage = any(tp.topic == settings.topic_decisions for tp in revoked)
        if pending or engines or (losing_stage and stage_box[0] is not None):
            await flush()
            if losing_stage:
                await flush_stage()
            # The new owner recovers from the changelog: our writes must be on the broker first.
            await app.producer.flush()
        for tp in revoked:
            if tp.topic == settings.topic_decisions:
                stage_box[0] = None
                open_alerts.forget_partition(tp.partition)
            if tp.topic == settings.topic_deltas:
                engines.pop(tp.partition, None)
                reported.pop(tp.partition, None)
                with suppress(KeyError):
                    metrics.engine_keys.remove(str(tp.partition))
        sources_revoked = {str(tp.partition) for tp in revoked if tp.topic == settings.topic_tickets}
        for src in sources_revoked:
            sources.pop(src, None)
            idle_reported.pop(src, None)

    lag_topics = (settings.topic_tickets, settings.topic_deltas, settings.topic_decisions)

    def fetched_highwater(tp: TP) -> int | None:
        try:
            return app.consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - not fetched yet, or just revoked
            return None

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
