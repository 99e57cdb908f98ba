"""The Faust shell: earlywarn's topics, tables and agents, each agent a thin call into its job.

Three agents wire the pure core to Kafka, and nothing more: ``ingest`` (streams.ingest)
reads the tickets topic, ``windows`` (streams.windows) the delta topic and ``release``
(streams.release) the decisions topic; with ``EARLYWARN_COMPLAINANTS=on`` a fourth,
``complainants`` (streams.complainants), reads the claims topic. State is written and input acknowledged in the
order ``streams.checkpoint`` gives, every ``flush_seconds`` and when partitions are handed
over, so hand-overs are exact: the next owner of a partition recovers its state and
progress and counts nothing twice. Commits are atomic and outputs deduplicated on
recovery, so a crash (no clean hand-over) is exact too (streams.checkpoint).

Per-event work in the agents is synchronous: no awaits on the hot path. Metrics
(streams.metrics) are counted per batch or per message, never per ticket per metric;
consumer lag is refreshed by a timer, off the hot path (streams.lag).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, replace
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.checkpoint import Checkpoint, CommittedTable
from streams.counters import Counters
from streams.exposure import loopback_only
from streams.health import Health
from streams.ingest import Ingest
from streams.lag import LAG_SECONDS, BrokerErrorSensor, ConsumerLag
from streams.metrics import Metrics
from streams.refetch import Reader
from streams.release import Publisher, Release
from streams import kafka_io
from streams.kafka_io import claims_topic
from streams.settings import Settings
from streams.store import table_store
from streams.windows import Windows

__all__ = ["Counters", "EarlywarnApp", "make_app"]

log = logging.getLogger("earlywarn")
CLEARINGS_SECONDS = 5.0  # how often the complainants job reads staff's clearings in Redis (one HGETALL)


class EarlywarnApp(faust.App):
    """A Faust app that settles its own state when partitions are handed over.

    Faust calls ``_consumer_wait_empty`` on a rebalance and on stop, after the flow of
    events has been stopped and before the offsets are committed and partitions let go.
    The windows and release agents acknowledge events only when their state is written, so
    without a commit here the wait never ends (a stopping app runs no timers): the worker
    hangs on SIGTERM. The checkpoint's ``settle_before`` runs first, ``settle_after`` once
    in-flight events are done (streams.checkpoint lists the steps).

    An agent that raises makes the worker unready and stops it (``earlywarn_health``).
    """

    earlywarn_counters: Counters
    earlywarn_metrics: Metrics
    earlywarn_health: Health
    earlywarn_checkpoint: Checkpoint | None = None

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        # Every agent's error handler: the worker goes unready and stops (streams.health).
        await super()._on_agent_error(agent, exc)
        await self.earlywarn_health.agent_failed(agent, exc)

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        # After an agent crashed its state may hold half a message: nothing is written, and
        # the next owner recovers the last complete commit and replays from it, as after a kill.
        checkpoint = self.earlywarn_checkpoint if self.earlywarn_health.problem is None else None
        if checkpoint is not None:
            await checkpoint.settle_before()
        await super()._consumer_wait_empty(consumer, logger)
        if checkpoint is not None:
            await checkpoint.settle_after()


@dataclass
class Topics:
    tickets: faust.TopicT
    deadletter: faust.TopicT
    deltas: faust.TopicT
    decisions: faust.TopicT
    alerts: faust.TopicT
    inspection: faust.TopicT
    claims: faust.TopicT | None = None  # EARLYWARN_COMPLAINANTS=on (streams.complainants)


@dataclass
class Jobs:
    ingest: Ingest
    windows: Windows
    release: Release
    checkpoint: Checkpoint
    lag: ConsumerLag
    complainants: Any = None  # streams.complainants.Complainants, when EARLYWARN_COMPLAINANTS=on


def _faust_app(settings: Settings) -> EarlywarnApp:
    return EarlywarnApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store=table_store(settings.store)[0],  # rocksdb://: streams.store's, which files keys by partition
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
        broker_credentials=kafka_credentials(settings),
        # Beyond this host only /metrics and /health are served (streams.exposure).
        web_application_options={"middlewares": [loopback_only]},
    )


def kafka_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust's credentials for the settings' security protocol (None: plaintext)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    if protocol.startswith("SASL_"):
        return faust.SASLCredentials(username=settings.kafka_username, password=settings.kafka_password,
                                     ssl_context=context, mechanism=settings.kafka_sasl_mechanism)
    return faust.SSLCredentials(context)


def _topics(app: faust.App, settings: Settings) -> Topics:
    def raw(name: str, partitions: int) -> faust.TopicT:
        return app.topic(name, value_type=bytes, value_serializer="raw", key_serializer="raw", partitions=partitions)

    return Topics(
        tickets=raw(settings.topic_tickets, settings.ticket_partitions),
        deadletter=raw(settings.topic_deadletter, settings.ticket_partitions),
        deltas=raw(settings.topic_deltas, settings.partitions),
        decisions=raw(settings.topic_decisions, 1),
        alerts=raw(settings.topic_alerts, 1),
        inspection=raw(settings.topic_inspection, 1),
        claims=raw(claims_topic(settings), 1) if "on" in (settings.complainants, settings.firms) else None,
    )


def _jobs(app: EarlywarnApp, settings: Settings, topics: Topics) -> Jobs:
    # Table keys are bytes so that Faust writes them to the changelog raw (a str key would be
    # JSON-encoded, quotes and all, and hash to another partition than its stream's): the
    # changelog partition of a key is then the partition routing.router gives it, and the
    # worker that owns a partition recovers exactly that partition's keys.
    store, options = table_store(settings.store)

    async def recovered_one(_event: Any) -> None:  # a changelog record read into a table (recovery, standby)
        app.earlywarn_counters.changelog_records_read += 1

    def committed(name: str, partitions: int) -> Any:  # written in atomic commits (streams.checkpoint)
        return app.tables.add(CommittedTable(app, name=f"{settings.app_id}-{name}", default=None,
                                             beacon=app.tables.beacon, key_type=bytes, value_type=bytes,
                                             partitions=partitions, use_partitioner=True, store=store,
                                             options=dict(options), on_changelog_event=recovered_one))

    state = committed("state", settings.partitions)
    stage = committed("stage", 1)
    # Ticket partition -> the offset ingest resumes from. Co-partitioned with the tickets
    # topic (same partition count), so a ticket partition's new owner recovers its entry.
    ingested = committed("ingested", settings.ticket_partitions)  # its writes untagged: applied at once on recovery
    counters, metrics, cfg = app.earlywarn_counters, app.earlywarn_metrics, settings.detect

    def read_from(topic: str, offset: int) -> Any:
        return asyncio.to_thread(kafka_io.read_from, settings, topic, offset)

    def read_back(topic: str) -> Reader:  # what the consumer skipped over, read from the broker (streams.refetch)
        return lambda p, start, before: asyncio.to_thread(kafka_io.read_range, settings, topic, p, start, before)

    complainants = sender = None
    if topics.claims is not None:  # abnormal complainants, firms judged in the stream (streams.complainants)
        from streams.complainants import ClaimSender, Complainants, FlagMirror  # datasketch: only when on

        people = settings.complainants == "on"
        sender = ClaimSender(topics.claims, claims=people, firms=settings.firms == "on")
        if people:
            cfg = replace(cfg, exclusion_gate=True)  # partitions wait for the exclusions of each midnight
        complainants = Complainants(settings, table=committed("complainants", 1), deltas=topics.deltas,
                                    publisher=Publisher(topics.alerts, topics.inspection, counters, metrics),
                                    flags=FlagMirror(lambda: _flag_store(settings)) if people else None,
                                    read_from=read_from, counters=counters, claims=topics.claims,
                                    read_claims=read_back(claims_topic(settings)))
    ingest = Ingest(app, settings, cfg, ingested=ingested, deltas=topics.deltas, deadletter=topics.deadletter,
                    counters=counters, metrics=metrics, boards=_boards(settings, app),
                    claims=sender, read=read_back(settings.topic_tickets))
    windows = Windows(cfg, state=state, decisions=topics.decisions, counters=counters, metrics=metrics,
                      read=read_back(settings.topic_deltas))
    release = Release(settings.partitions, stage_table=stage,
                      publisher=Publisher(topics.alerts, topics.inspection, counters, metrics), read_from=read_from,
                      read_decisions=read_back(settings.topic_decisions))
    checkpoint = Checkpoint(app, [windows, release, *([complainants] if complainants else [])], ingest,
                            settings.flush_seconds)
    lag = ConsumerLag(app, metrics, (settings.topic_tickets, settings.topic_deltas, settings.topic_decisions),
                      app.earlywarn_health)
    return Jobs(ingest, windows, release, checkpoint, lag, complainants)


def make_app(settings: Settings, counters: Counters | None = None, metrics: Metrics | None = None) -> EarlywarnApp:
    """A Faust app with earlywarn's topics, tables and agents, configured by *settings*.

    *metrics* defaults to a fresh :class:`Metrics` in its own registry (``app.earlywarn_metrics``).
    """
    settings.secret()  # refuse to start without one (streams.settings.Settings.secret)
    app = _faust_app(settings)
    app.earlywarn_counters = counters if counters is not None else Counters()
    app.earlywarn_metrics = metrics if metrics is not None else Metrics(CollectorRegistry())
    app.earlywarn_health = Health(app.earlywarn_metrics)
    app.sensors.add(BrokerErrorSensor(app.earlywarn_metrics))
    topics = _topics(app, settings)
    jobs = _jobs(app, settings, topics)
    app.earlywarn_checkpoint = jobs.checkpoint
    _agents(app, settings, topics, jobs)
    _timers(app, jobs)
    _partition_signals(app, settings, jobs)
    return app


def _agents(app: faust.App, settings: Settings, topics: Topics, jobs: Jobs) -> None:
    # The agents' names (ingest, windows, release) label earlywarn_agent_crashes_total.
    @app.agent(topics.tickets)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        jobs.ingest.stream = stream  # a batch's events are acknowledged once what it sent is on the broker
        async for events in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            missing = jobs.ingest.missing(events)
            if missing:  # messages the consumer skipped over (streams.refetch)
                await jobs.ingest.fill(missing)
            jobs.ingest.take(events)

    @app.agent(topics.deltas)
    async def windows(stream: faust.StreamT[bytes]) -> None:
        s = jobs.windows.acks.stream = stream.noack()
        async for ev in s.events():
            missing = jobs.windows.missing(ev)
            if missing is not None:  # messages the consumer skipped over (streams.refetch)
                await jobs.windows.fill(ev.message.partition, missing)
            jobs.windows.apply(ev)
            await jobs.checkpoint.commit_due(jobs.windows)

    @app.agent(topics.decisions)
    async def release(stream: faust.StreamT[bytes]) -> None:
        s = jobs.release.acks.stream = stream.noack()
        async for ev in s.events():
            if jobs.release.unlearned:  # recovered: what a crashed owner published, before offering anything
                await jobs.release.learn_what_went_out()
            missing = jobs.release.missing(ev)
            if missing is not None:  # messages the consumer skipped over (streams.refetch)
                await jobs.release.fill(missing)
            jobs.release.offer(ev)
            await jobs.checkpoint.commit_due(jobs.release)

    if topics.claims is not None and jobs.complainants is not None:
        job = jobs.complainants

        @app.agent(topics.claims)
        async def complainants(stream: faust.StreamT[bytes]) -> None:
            s = job.acks.stream = stream.noack()
            async for ev in s.events():
                if job.unlearned:  # recovered: the stage is rebuilt from the claims before anything
                    await job.recover()
                missing = job.missing(ev)
                if missing is not None:  # messages the consumer skipped over (streams.refetch)
                    await job.fill(missing)
                job.apply(ev)
                await jobs.checkpoint.commit_due(job)


def _timers(app: faust.App, jobs: Jobs) -> None:
    @app.timer(interval=1.0)
    async def heartbeat() -> None:
        await jobs.ingest.heartbeat()

    @app.timer(interval=1.0)
    async def flush_when_quiet() -> None:
        await jobs.checkpoint.commit_due(jobs.windows)
        await jobs.checkpoint.commit_due(jobs.release)
        if jobs.complainants is not None:
            await jobs.checkpoint.commit_due(jobs.complainants)

    if jobs.complainants is not None and jobs.complainants.flags is not None:
        job = jobs.complainants

        @app.timer(interval=CLEARINGS_SECONDS)
        async def copy_clearings() -> None:  # staff's clearings that reached Redis alone, onto the claims topic
            job.poll_clearings()

    @app.timer(interval=LAG_SECONDS)
    async def refresh_lag() -> None:
        await jobs.lag.refresh()


def _partition_signals(app: faust.App, settings: Settings, jobs: Jobs) -> None:
    @app.on_partitions_assigned.connect
    async def on_assigned(_sender: Any, assigned: set[TP], **_: Any) -> None:
        # The heartbeat may have tracked partitions mid-rebalance that went elsewhere.
        jobs.ingest.keep_only({str(tp.partition) for tp in assigned if tp.topic == settings.topic_tickets})
        app.earlywarn_health.joined()

    def owned(topic: str) -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}

    # Gauges of what the worker holds are set from its tables once they are recovered, not
    # from the next events (which may be long in coming): right from the first scrape.
    @jobs.windows.state.on_recover
    async def state_recovered() -> None:
        jobs.windows.count_keys(owned(settings.topic_deltas))

    @jobs.release.stage_table.on_recover
    async def stage_recovered() -> None:
        await jobs.release.recovered(bool(owned(settings.topic_decisions)))

    if jobs.complainants is not None:
        job, claims = jobs.complainants, claims_topic(settings)

        @job.table.on_recover
        async def complainants_recovered() -> None:
            job.unlearned = bool(owned(claims))  # rebuilt by the agent, before its next message

        @app.on_partitions_revoked.connect
        async def claims_revoked(_sender: Any, revoked: set[TP], **_: Any) -> None:
            if any(tp.topic == claims for tp in revoked):
                job.revoked()

    @app.on_partitions_assigned.connect
    async def count_owned(_sender: Any, assigned: set[TP], **_: Any) -> None:
        for topic in (settings.topic_tickets, settings.topic_deltas, settings.topic_decisions):
            app.earlywarn_metrics.partitions_owned.labels(topic).set(sum(tp.topic == topic for tp in assigned))
        jobs.release.assigned(any(tp.topic == settings.topic_decisions for tp in assigned))

    @app.on_partitions_revoked.connect
    async def on_revoked(_sender: Any, revoked: set[TP], **_: Any) -> None:
        # Everything was persisted while settling (see EarlywarnApp): forget the partitions.
        for tp in revoked:
            if tp.topic == settings.topic_decisions:
                jobs.release.revoked(tp.partition)
            if tp.topic == settings.topic_deltas:
                jobs.windows.revoked(tp.partition)
        jobs.ingest.revoked({str(tp.partition) for tp in revoked if tp.topic == settings.topic_tickets})


def _boards(settings: Settings, app: EarlywarnApp) -> Any:
    """The writer of the top-10 boards in Redis ingest hands tickets to, when ``EARLYWARN_BOARDS=on``."""
    if settings.boards != "on":
        return None
    from alerts.boards import start_writer

    return start_writer(settings, app.earlywarn_health.redis, app.earlywarn_metrics.board_tickets_dropped)


def _flag_store(settings: Settings) -> Any:
    """The Redis flag registry abnormal complainants are mirrored to (``EARLYWARN_REDIS_URL``)."""
    from alerts.complainants import FlagStore, connect

    return FlagStore(connect(settings.redis_url, settings.data_dir))
