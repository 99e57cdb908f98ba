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

Per-event work in both agents is synchronous: no awaits on the hot path.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from faust.types import TP

from alerts.render import render
from detectors.engine import Aggregator, Decision, PartitionEngine
from detectors.enrich import Enricher
from earlywarn.settings import DEV_SECRET, Settings
from schemas.tickets import Rejection, Ticket, decode
from streams.routing import clock_key, router

log = logging.getLogger("earlywarn")


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


def make_app(settings: Settings, counters: Counters | None = None) -> faust.App:
    """A Faust app with earlywarn's topics, table and agents, configured by *settings*."""
    if settings.pseudonym_secret == DEV_SECRET:
        log.warning("EARLYWARN_PSEUDONYM_SECRET is the development default: set your own in production")
    counters = counters if counters is not None else Counters()
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
    cfg = settings.detect
    route = router(settings.partitions)

    tickets = app.topic(settings.topic_tickets, value_type=bytes, value_serializer="raw",
                        key_serializer="raw", partitions=settings.ticket_partitions)
    deadletter = app.topic(settings.topic_deadletter, value_type=bytes, value_serializer="raw",
                           key_serializer="raw", partitions=settings.ticket_partitions)
    deltas = app.topic(settings.topic_deltas, value_type=bytes, value_serializer="raw",
                       key_serializer="raw", partitions=settings.partitions)
    alerts = app.topic(settings.topic_alerts, value_type=bytes, value_serializer="raw",
                       key_serializer="raw", partitions=1)
    state = app.Table(f"{settings.app_id}-state", default=None, key_type=str, value_type=bytes,
                      partitions=settings.partitions, use_partitioner=True)

    enricher = Enricher(settings.pseudonym_secret.encode())
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

    def send_deltas(msgs: dict[int, dict[str, Any]]) -> None:
        for p, msg in msgs.items():
            deltas.send_soon(value=orjson.dumps(msg), partition=p)
        counters.delta_messages += len(msgs)

    @app.agent(tickets)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            now = time.monotonic()
            if not counters.first_ingest_at:
                counters.first_ingest_at = time.time()
            seen: dict[str, float] = {}
            for ev in events:
                msg = ev.message
                payload: bytes = ev.value if isinstance(ev.value, bytes) else bytes(ev.value or b"")
                src = str(msg.partition)
                counters.messages += 1
                for r in decode(payload, max_bytes=settings.max_message_bytes):
                    if isinstance(r, Rejection):
                        counters.deadlettered += 1
                        counters.deadletter_reasons[r.reason.value] = counters.deadletter_reasons.get(r.reason.value, 0) + 1
                        deadletter.send_soon(value=deadletter_record(
                            r.reason.value, r.detail, _element_bytes(payload, r.index),
                            topic=msg.topic, partition=msg.partition, offset=msg.offset, index=r.index))
                        continue
                    assert isinstance(r, Ticket)
                    counters.tickets += 1
                    aggregator.add(enricher.enrich(r))
                    if r.ts > seen.get(src, float("-inf")):
                        seen[src] = r.ts
                sources.setdefault(src, [None, None])[1] = now
            # Progress is published only with the deltas it covers (no await in between),
            # so no partition can see an event time before the tickets behind it.
            for src, ts in seen.items():
                old = sources[src][0]
                sources[src][0] = ts if old is None else max(old, ts)
            marks = watermarks(now)
            idle_reported.update({s: v[1] for s, v in marks.items()})
            send_deltas(aggregator.drain(marks))

    @app.timer(interval=1.0)
    async def heartbeat() -> None:
        # Tell every delta partition when a ticket partition goes quiet (or was never fed),
        # so event time can move on without it; quiet everywhere means "end of input so far".
        marks = watermarks(time.monotonic())
        if marks and any(idle_reported.get(s) != v[1] for s, v in marks.items()):
            idle_reported.update({s: v[1] for s, v in marks.items()})
            send_deltas(aggregator.drain(marks))

    engines: dict[int, PartitionEngine] = {}
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

    def publish(decisions: list[Decision]) -> None:
        for d in decisions:
            alert = render(d)
            alerts.send_soon(key=d.alert_id.encode(), value=orjson.dumps(alert))
            counters.alerts += 1
            counters.alerts_by_type[d.type] = counters.alerts_by_type.get(d.type, 0) + 1
            for cb in counters.on_alert:
                cb(alert)

    async def flush() -> None:
        for p, eng in engines.items():
            for tk, value in eng.take_dirty().items():
                state[tk] = orjson.dumps(value)
                counters.state_writes += 1
            state[clock_key(p, settings.partitions)] = orjson.dumps(eng.clock_dict())
        counters.flushes += 1
        last_flush[0] = time.monotonic()
        done, pending[:] = list(pending), []
        if window_stream:
            for ev in done:
                await window_stream[0].ack(ev)

    @app.agent(deltas)
    async def windows(stream: faust.StreamT[bytes]) -> None:
        s = stream.noack()
        window_stream[:] = [s]
        async for ev in s.events():
            eng = engine(ev.message.partition)
            publish(eng.apply(orjson.loads(ev.value)))
            counters.deltas_applied += 1
            counters.last_applied_at = time.time()
            pending.append(ev)
            if time.monotonic() - last_flush[0] >= settings.flush_seconds:
                await flush()

    @app.timer(interval=1.0)
    async def flush_when_quiet() -> None:
        if pending and time.monotonic() - last_flush[0] >= settings.flush_seconds:
            await flush()

    @app.on_partitions_revoked.connect
    async def on_revoked(_sender: Any, revoked: set[TP], **_: Any) -> None:
        # Persist before another worker takes the partitions, then forget them here.
        if pending or engines:
            await flush()
        for tp in revoked:
            if tp.topic == settings.topic_deltas:
                engines.pop(tp.partition, None)
        sources_revoked = {str(tp.partition) for tp in revoked if tp.topic == settings.topic_tickets}
        for src in sources_revoked:
            sources.pop(src, None)
            idle_reported.pop(src, None)

    app.earlywarn_flush = flush  # type: ignore[attr-defined]
    return app
