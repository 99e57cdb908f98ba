"""Every Prometheus metric a worker exports, defined in one place.

Names follow the Prometheus naming guide: an ``earlywarn_`` prefix, base units
(seconds), ``_total`` on counters. Labels come only from small closed sets: ticket
kinds, Shanghai's 16 district codes (anything else is ``other``), dead-letter reasons,
alert types / severities / statuses, pipeline stages, Redis and broker operations, and
the worker's own partitions and topics. Never a firm name, a term, a complainant or an
id: those would make a series per value and sink Prometheus. Pushes to staff are counted
by ``earlywarn notify`` on its own ``/metrics`` (alerts/notify/metrics.py).

The registry is passed in, so a test builds its own and a worker does not share the
process-global default. Series of closed label sets are created at zero up front, so a
board shows 0 rather than "no data" and ``rate()`` sees the first increment.

The hot path counts per batch, not per ticket: ``count_tickets`` takes a batch's
``(kind, district_code) -> n`` tally and makes one ``inc`` per pair.

>>> from prometheus_client import CollectorRegistry
>>> m = Metrics(CollectorRegistry())
>>> m.count_tickets({("complaint", "310115"): 3, ("complaint", "440305"): 2})
>>> m.registry.get_sample_value("earlywarn_tickets_total", {"kind": "complaint", "district": "310115"})
3.0
>>> m.registry.get_sample_value("earlywarn_tickets_total", {"kind": "complaint", "district": "other"})
2.0
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from schemas.alerts import AlertType, Severity, Status
from schemas.regions import SHANGHAI_DISTRICTS
from schemas.tickets import Kind, Reason

__all__ = [
    "ALERT_DISTRICTS",
    "ALERT_SEVERITIES",
    "ALERT_STATUSES",
    "AGENTS",
    "ALERT_TYPES",
    "BROKER_OPERATIONS",
    "DEADLETTER_REASONS",
    "DISTRICTS",
    "KINDS",
    "NO_DISTRICT",
    "OTHER_DISTRICT",
    "REDIS_OPERATIONS",
    "STAGES",
    "Metrics",
    "alert_district_label",
    "district_label",
]

# No board reads the ``*_created`` series a counter or histogram adds per label set (a
# third of every scrape): turned off for the process (a prometheus_client global).
disable_created_metrics()

# ---- the closed label sets (a test checks no label value falls outside them)

KINDS: tuple[str, ...] = tuple(k.value for k in Kind)
OTHER_DISTRICT = "other"
DISTRICTS: tuple[str, ...] = (*SHANGHAI_DISTRICTS, OTHER_DISTRICT)
#: an alert about no one district (a product, a term across the city)
NO_DISTRICT = "none"
ALERT_DISTRICTS: tuple[str, ...] = (*DISTRICTS, NO_DISTRICT)
DEADLETTER_REASONS: tuple[str, ...] = tuple(r.value for r in Reason)
ALERT_TYPES: tuple[str, ...] = tuple(t.value for t in AlertType)
ALERT_SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
ALERT_STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
#: ingest_batch: one batch of ticket messages, decode to deltas handed to the producer;
#: windows_message: one delta message folded into its partition's engine, alerts included;
#: flush: window state written to the table and the delta messages acknowledged.
STAGES: tuple[str, ...] = ("ingest_batch", "windows_message", "flush")
REDIS_OPERATIONS: tuple[str, ...] = ("read", "write", "connect")
#: produce: a send the broker did not acknowledge; offsets: a lag refresh that failed.
BROKER_OPERATIONS: tuple[str, ...] = ("produce", "offsets")
#: the worker's agents (streams/app.py); one that crashes stops the worker.
AGENTS: tuple[str, ...] = ("ingest", "windows", "release")

# Buckets, in seconds unless said otherwise.
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Live running lags seconds to minutes; a replay of history lags by days or a year.
_EVENT_LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 7 * 86400.0,
                      30 * 86400.0, 365 * 86400.0)
# Scores are 1 - p of a tail probability (rounded to 6 places): alerts live close to 1.
_SCORE_BUCKETS = (0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999, 1.0)
_KEY_BUCKETS = (0.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0)


def district_label(code: str) -> str:
    """The ``district`` label of a district code: the code for Shanghai's 16, else ``other``.

    >>> district_label("310115"), district_label("440305")
    ('310115', 'other')
    """
    return code if code in SHANGHAI_DISTRICTS else OTHER_DISTRICT


def alert_district_label(code: str | None) -> str:
    """The ``district`` label of an alert's district: as a ticket's, or ``none`` without one.

    >>> alert_district_label(None), alert_district_label("310115")
    ('none', '310115')
    """
    return NO_DISTRICT if not code else district_label(code)

REFETCHED_INPUTS = ("tickets", "deltas", "decisions", "claims")  # streams.refetch's inputs


class Metrics:
    """The worker's metrics, registered in *registry*; each metric is an attribute.

    Parameters
    ----------
    registry
        Where the metrics are registered (one ``Metrics`` per registry: a name can be
        registered only once).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # A table of declarations, one per metric, then their closed label sets at zero:
        # long, and clearer as one list than cut into pieces.
        self.registry = registry
        r = registry

        # ---- input
        self.input_messages = Counter(
            "earlywarn_input_messages_total",
            "Kafka messages read from the tickets topic (a message may carry a batch of tickets)", registry=r)
        self.tickets = Counter(
            "earlywarn_tickets_total", "Valid tickets ingested, by kind and district (16 Shanghai codes, else other)",
            ["kind", "district"], registry=r)
        self.deadletters = Counter(
            "earlywarn_deadletters_total", "Messages or batch elements sent to the dead-letter topic, by reason",
            ["reason"], registry=r)
        self.duplicate_tickets = Counter(
            "earlywarn_duplicate_tickets_total",
            "Tickets whose ticket_id came again within the deduplication horizon (a resent export, a "
            "line repeated): counted once, the copies here", registry=r)
        self.expired_tickets = Counter(
            "earlywarn_expired_tickets_total",
            "Tickets that came more than the deduplication horizon behind event time: too old to tell "
            "from a resend, not counted", registry=r)
        self.event_time = Gauge(
            "earlywarn_ingest_event_time_seconds",
            "Event time (received_at) this worker's ingest has reached, as a Unix time: the furthest "
            "of its ticket partitions' fronts (each partition's third newest ticket, so that a "
            "ticket dated far ahead does not move it)", registry=r)

        # ---- internal stream
        self.delta_messages_sent = Counter(
            "earlywarn_delta_messages_sent_total", "Pre-aggregated delta messages sent by ingest", registry=r)
        self.delta_messages_applied = Counter(
            "earlywarn_delta_messages_applied_total", "Delta messages folded into window state", registry=r)
        self.messages_refetched = Counter(
            "earlywarn_messages_refetched_total",
            "Messages the consumer skipped over, read from the broker and taken before the next "
            "(streams.refetch), by input", ["input"], registry=r)
        for what in REFETCHED_INPUTS:
            self.messages_refetched.labels(what)
        self.late_key_tickets = Counter(
            "earlywarn_late_key_tickets_total",
            "Tickets counted under a key after that key's bucket was judged (late or out of time order "
            "input; one ticket counts once per key it is counted under)", registry=r)
        self.feed_gaps = Counter(
            "earlywarn_feed_gaps_total",
            "Feed outages a partition recognised (its volume far below its rhythm for a stretch: not "
            "learned as quiet time, detectors.gaps); every partition sees an outage of the feed, so "
            "count outages as the max over partitions", ["partition"], registry=r)
        self.feed_gap_seconds = Counter(
            "earlywarn_feed_gap_seconds_total",
            "Event time in the feed outages a partition recognised, seconds", ["partition"], registry=r)

        # ---- latency
        self.processing_seconds = Histogram(
            "earlywarn_processing_seconds",
            "Processing time of one unit of work, by stage (ingest_batch, windows_message, flush)",
            ["stage"], buckets=_STAGE_BUCKETS, registry=r)
        self.delta_send_seconds = Histogram(
            "earlywarn_delta_send_seconds",
            "Wall-clock seconds from an ingest batch being taken to each of its delta messages "
            "being acknowledged by the broker", buckets=_SEND_BUCKETS, registry=r)
        self.alert_event_lag_seconds = Histogram(
            "earlywarn_alert_event_lag_seconds",
            "Wall-clock time when an alert event is published minus its raised_at event time",
            buckets=_EVENT_LAG_BUCKETS, registry=r)

        # ---- state
        self.engine_keys = Gauge(
            "earlywarn_engine_keys",
            "Window keys this worker holds for each delta partition it owns: the partition's keys in the state "
            "table (stubs of forgotten keys included), counted when the partition is recovered and as new keys "
            "are written; with the memory:// store the whole table is in memory", ["partition"], registry=r)
        self.partitions_owned = Gauge(
            "earlywarn_partitions_owned", "Partitions of each consumed topic assigned to this worker",
            ["topic"], registry=r)
        self.flush_dirty_keys = Histogram(
            "earlywarn_flush_dirty_keys", "Keys changed since the previous flush, written at each flush",
            buckets=_KEY_BUCKETS, registry=r)
        self.state_flushes = Counter(
            "earlywarn_state_flushes_total", "Flushes of window state to the changelog-backed table", registry=r)
        self.state_writes = Counter(
            "earlywarn_state_writes_total", "Table writes (one per changed key per flush, plus partition clocks)",
            registry=r)

        # ---- alerts
        self.alerts = Counter(
            "earlywarn_alerts_total", "Alert events published, by type, severity and status",
            ["type", "severity", "status"], registry=r)
        # Not a district label on earlywarn_alerts_total: that would make its 54 series 918.
        self.alerts_raised = Counter(
            "earlywarn_alerts_raised_total",
            "Alerts raised (open events), by type and district (16 Shanghai codes, other, or none when an "
            "alert is about no one district)", ["type", "district"], registry=r)
        self.alert_score = Histogram(
            "earlywarn_alert_score", "Anomaly score in [0, 1] of open and update alert events, by type",
            ["type"], buckets=_SCORE_BUCKETS, registry=r)
        # Told only by the alert stage's owner, from its recovery on: no series on the other
        # workers, so that a departed owner's last values (last_over_time) tell the boards the
        # open alerts until the next owner has recovered the stage (see the overview board).
        self.open_alerts = Gauge(
            "earlywarn_open_alerts",
            "Alerts published and not yet resolved, by type and severity (last published), as the alert stage "
            "this worker owns holds them; no series on workers that do not own it",
            ["type", "severity"], registry=r)
        self.alert_stage_recovered = Gauge(
            "earlywarn_alert_stage_recovered_timestamp_seconds",
            "Unix time at which this worker last recovered the alert stage (the decisions topic's one partition) "
            "as its owner; no series on workers that do not own it. The boards read earlywarn_open_alerts from "
            "the worker that recovered the stage last", ["partition"], registry=r)
        self.inspection_tasks = Counter(
            "earlywarn_inspection_tasks_total",
            "Inspection task messages published (group disputes at warning or critical), by severity",
            ["severity"], registry=r)

        # ---- infrastructure
        self.consumer_lag = Gauge(
            "earlywarn_consumer_lag_messages",
            "Messages not yet committed by this worker: highwater minus committed offset, summed over "
            "its assigned partitions, per topic", ["topic"], registry=r)
        self.redis_errors = Counter(
            "earlywarn_redis_errors_total", "Redis operations that failed, by operation (each retry counts)",
            ["operation"], registry=r)
        self.redis_up = Gauge(
            "earlywarn_redis_up", "1 when Redis answered the worker's last operation (the top-10 boards); "
            "0 while it does not: the worker goes on, and what Redis holds catches up when it is back", registry=r)
        self.board_tickets_dropped = Counter(
            "earlywarn_board_tickets_dropped_total",
            "Tickets never counted on the top-10 boards: dropped from the worker's queue (EARLYWARN_BOARDS_QUEUE_MAX) "
            "while Redis did not answer, or left in it when the worker stopped", registry=r)
        self.broker_errors = Counter(
            "earlywarn_broker_errors_total", "Kafka broker operations that failed, by operation",
            ["operation"], registry=r)
        self.agent_crashes = Counter(
            "earlywarn_agent_crashes_total", "Agents that raised an error (the worker then stops), by agent",
            ["agent"], registry=r)
        self.ready = Gauge(
            "earlywarn_worker_ready",
            "1 while the worker serves: it has joined its consumer group, its agents run and the broker "
            "answers; 0 otherwise", registry=r)
        self.broker_up = Gauge(
            "earlywarn_broker_up",
            "1 when the broker answered the worker's last offsets request (every 5 s, within 4 s); 0 otherwise",
            registry=r)
        self.broker_up.set(1)  # a worker starts only once the broker has answered (streams.kafka_io)

        # Series of the closed sets, created at zero (open alerts: by the stage's owner, at its
        # recovery); children cached for the hot path.
        self._tickets = {(k, d): self.tickets.labels(k, d) for k in KINDS for d in DISTRICTS}
        self._deadletters = {reason: self.deadletters.labels(reason) for reason in DEADLETTER_REASONS}
        self._stage = {s: self.processing_seconds.labels(s) for s in STAGES}
        for t in ALERT_TYPES:
            self.alert_score.labels(t)
            for dist in ALERT_DISTRICTS:
                self.alerts_raised.labels(t, dist)
            for sev in ALERT_SEVERITIES:
                for st in ALERT_STATUSES:
                    self.alerts.labels(t, sev, st)
        for op in REDIS_OPERATIONS:
            self.redis_errors.labels(op)
        for op in BROKER_OPERATIONS:
            self.broker_errors.labels(op)
        for agent in AGENTS:
            self.agent_crashes.labels(agent)
        for sev in ALERT_SEVERITIES:
            self.inspection_tasks.labels(sev)

    def count_tickets(self, tally: Mapping[tuple[str, str], int]) -> None:
        """Add a batch's ``(kind, district_code) -> n`` tally to ``earlywarn_tickets_total``."""
        children = self._tickets
        for (kind, code), n in tally.items():
            child = children.get((kind, code if code in SHANGHAI_DISTRICTS else OTHER_DISTRICT))
            if child is None:  # a kind outside the contract cannot pass validation; never make a series of it
                continue
            child.inc(n)

    def count_deadletter(self, reason: str) -> None:
        self._deadletters[reason].inc()

    def stage(self, stage: str) -> Histogram:
        """The ``earlywarn_processing_seconds`` series of *stage* (cached)."""
        return self._stage[stage]
