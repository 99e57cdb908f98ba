"""The release job: the alert stage over every partition's decisions, publishing alerts and inspection tasks.

The decisions topic has one partition, so one worker sees every partition's decisions and
publishes one alert per story (detectors.stage). The stage's state is a single table
value, written at each commit like the windows' (its input acknowledged only after it is
written, streams.checkpoint), with the offsets the alerts and inspection topics had
reached when it was written: every alert and task published before is on the broker by
then. After a crash the stage recovers its last commit and the decisions after it are
replayed; it reads what the alerts and inspection topics hold past those offsets (what
the lost worker published after its last commit) and does not publish those events
again. An alert event is one (alert_id, status, raised_at), a task one (task_id,
raised_at).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
import orjson

from alerts.inspection import task_of
from alerts.render import render
from detectors.decisions import OPEN, RESOLVED, Decision, decision_from_dict
from detectors.stage import AlertStage
from streams.checkpoint import MARKER, Acks, confirmed, stored, tagged
from streams.counters import Counters
from streams.metrics import ALERT_SEVERITIES, ALERT_TYPES, Metrics, alert_district_label
from streams.refetch import Reader, gap, read_back

STAGE_KEY = b"stage"  # the alert stage's one table key
DECISIONS_PARTITION = 0  # the decisions topic's one partition: its owner runs the alert stage


class OpenAlerts:
    """The ``earlywarn_open_alerts`` gauge, told by the alert stage's owner only.

    The owner sets it from the stage it recovers (``reset``: every known type and severity,
    0 included, and ``earlywarn_alert_stage_recovered_timestamp_seconds`` to now), so it is
    right from the first scrape after a hand-over or restart; then open / update set an
    alert's (type, severity) and resolved removes it. A worker that loses the stage removes
    every series (``leave``) rather than setting them to 0: Prometheus then keeps their last
    values, which the boards read (``last_over_time``) from the worker that recovered the
    stage last, until the new owner has recovered it. A stopping owner keeps reporting until
    it exits.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._gauge = metrics.open_alerts
        self._recovered = metrics.alert_stage_recovered
        self._open: dict[str, tuple[str, str]] = {}  # alert_id -> (type, severity)

    def event(self, d: Decision) -> None:
        old = self._open.pop(d.alert_id, None)
        if old is not None:
            self._gauge.labels(*old).dec()
        if d.status != RESOLVED:
            self._open[d.alert_id] = (d.type, d.severity)
            self._gauge.labels(d.type, d.severity).inc()

    def reset(self, open_alerts: Mapping[str, tuple[str, str]], now: float | None = None) -> None:
        """This worker owns the stage and its open alerts are exactly *open_alerts*
        (``alert_id -> (type, severity)``)."""
        self._open = dict(open_alerts)
        counts = Counter(self._open.values())
        for t in ALERT_TYPES:
            for sev in ALERT_SEVERITIES:
                self._gauge.labels(t, sev).set(counts.pop((t, sev), 0))
        for (t, sev), n in counts.items():  # outside the closed sets: cannot come from the stage
            self._gauge.labels(t, sev).set(n)
        self._recovered.labels(str(DECISIONS_PARTITION)).set(time.time() if now is None else now)

    def leave(self) -> None:
        """The stage went to another worker: this one tells nothing of it any more."""
        self._open.clear()
        self._gauge.clear()
        self._recovered.clear()


class Publisher:
    """Publishes released decisions: the alert, its inspection task if any, the counts and gauges."""

    def __init__(self, alerts: faust.TopicT, inspection: faust.TopicT, counters: Counters, metrics: Metrics) -> None:
        self.alerts = alerts
        self.inspection = inspection
        self.counters = counters
        self.metrics = metrics
        self.open_alerts = OpenAlerts(metrics)
        self.out: dict[str, int] = {}  # topic -> the offset after the last record the broker took from us
        self.already_out: set[tuple[str, ...]] = set()  # events a crashed owner published (see the module doc)
        self._unsent: dict[str, list[asyncio.Future[Any]]] = {}

    def _send(self, topic: faust.TopicT, key: str, value: dict[str, Any]) -> None:
        fut = topic.send_soon(key=key.encode(), value=orjson.dumps(value))
        self._unsent.setdefault(topic.get_topic_name(), []).append(fut)

    async def sent(self) -> None:
        """Wait until every alert and task published is on the broker; note the offsets they reached."""
        unsent, self._unsent = self._unsent, {}
        for topic, futs in unsent.items():
            for meta in await confirmed(futs, topic):
                self.out[topic] = max(self.out.get(topic, 0), meta.offset + 1)

    def publish(self, decisions: list[Decision]) -> None:
        wall = time.time()
        counters, metrics = self.counters, self.metrics
        for d in decisions:
            alert = render(d)
            self.open_alerts.event(d)
            if alert_event(alert) in self.already_out:  # published before a crash: not again
                self.already_out.discard(alert_event(alert))
            else:
                self._send(self.alerts, d.alert_id, alert)
            task = task_of(alert)
            if task is not None and task_event(task) in self.already_out:
                self.already_out.discard(task_event(task))
            elif task is not None:
                self._send(self.inspection, task["task_id"], task)
                counters.inspection_tasks += 1
                metrics.inspection_tasks.labels(task["severity"]).inc()
            counters.alerts += 1
            counters.alerts_by_type[d.type] = counters.alerts_by_type.get(d.type, 0) + 1
            # Alerts are rare next to messages: per-alert label lookups cost nothing here.
            metrics.alerts.labels(d.type, d.severity, d.status).inc()
            if d.status == OPEN:
                metrics.alerts_raised.labels(d.type, alert_district_label(d.district_code)).inc()
            if d.status != RESOLVED:
                metrics.alert_score.labels(d.type).observe(d.score)
            metrics.alert_event_lag_seconds.observe(wall - d.raised_at)
            for cb in counters.on_alert:
                cb(alert)


class Release:
    """The release agent's state and work: the alert stage, loaded from its table, and what it releases."""

    def __init__(self, partitions: int, *, stage_table: Any, publisher: Publisher,
                 read_from: Callable[[str, int], Awaitable[list[bytes]]] | None = None,
                 read_decisions: Reader | None = None) -> None:
        self.partitions = partitions
        self.stage_table = stage_table  # a streams.checkpoint.CommittedTable
        self.publisher = publisher
        self.read_from = read_from  # (topic, offset) -> the values from there to the end
        self.read_decisions = read_decisions  # the decisions topic read back (streams.refetch)
        # The offset of the last decisions message offered (None: a stage written before
        # offsets were kept; its next message sets it).
        self.applied: int | None = -1
        self.acks = Acks()
        self._stage: AlertStage | None = None  # loaded from the table on first use
        self._marker: bytes | None = None  # the stage as the commit under way took it
        self.unlearned = False  # the stage was recovered: what went out since its commit is not known yet

    def _stored(self) -> dict[str, Any] | None:
        raw = self.stage_table.get(STAGE_KEY)
        return None if raw is None else orjson.loads(stored(raw))

    def stage(self) -> AlertStage:
        if self._stage is None:
            self._stage = AlertStage(self.partitions)
            v = self._stored()
            self.applied = -1
            if v is not None:
                self._stage.load(v)
                self.publisher.out = dict(v.get("out", {}))
                self.applied = v.get("ap")
        return self._stage

    def missing(self, ev: Any) -> tuple[int, int] | None:
        """The offsets [from, before) of the decisions messages before *ev* the stage has not
        been offered: what the consumer skipped over (``streams.refetch``), or None."""
        self.stage()
        return gap(self.applied, ev.message.offset)

    async def fill(self, missing: tuple[int, int]) -> None:
        """Read the decisions messages at offsets *missing* from the broker and offer them."""
        if self.read_decisions is None:
            return
        for offset, value in await read_back(self.read_decisions, "decisions", DECISIONS_PARTITION, missing,
                                             self.publisher.metrics):
            self._offer(value, offset)

    def offer(self, ev: Any) -> None:
        """Offer one partition's decisions to the stage, publish what it releases, hold the event."""
        self._offer(ev.value, ev.message.offset)
        self.acks.hold(ev)

    def _offer(self, value: bytes, offset: int) -> None:
        stage = self.stage()
        if self.applied is not None and offset <= self.applied:
            return  # offered before (a replay after a rebalance or a crash)
        m = orjson.loads(value)
        released = stage.offer(m["p"], m["to"], [decision_from_dict(x) for x in m["d"]])
        self.publisher.publish(released)
        self.applied = offset

    def unsaved(self) -> bool:
        return bool(self.acks.events)

    async def sent(self) -> None:
        await self.publisher.sent()
        await self.stage_table.sent()

    def write_state(self, commit: bytes) -> None:
        """Take the stage, with the offsets its alerts and tasks had reached (on the broker by
        now): one value, written as the commit's marker."""
        if self._stage is not None:
            self._marker = orjson.dumps({**self._stage.to_dict(), "out": self.publisher.out, "ap": self.applied})

    def write_marker(self, commit: bytes) -> None:
        if self._marker is not None:
            self.stage_table[STAGE_KEY] = tagged(MARKER, commit, self._marker)
            self._marker = None

    def observe_commit(self, seconds: float) -> None:
        pass  # one table value: not timed

    def revoked(self, partition: int) -> None:
        """Forget the stage handed over. Its alerts stay on this worker's gauge until the new
        assignment (``assigned``): a stopping worker reports them until it is gone, and one
        that keeps the stage never reads 0 in between."""
        self._stage = None

    def assigned(self, owned: bool) -> None:
        """The group's new assignment: when the stage went elsewhere, this worker's open-alerts
        series go (removed, not 0: the boards read their last values until the new owner has
        recovered the stage and set its own)."""
        if not owned:
            self.publisher.open_alerts.leave()

    async def recovered(self, owned: bool) -> None:
        """The stage table is recovered (after a rebalance or at start): when this worker owns
        the stage, load it, learn what a crashed owner published after its last commit, and
        set the open-alerts gauge from it, not from the next events."""
        if owned:
            self._stage = None
            self.publisher.open_alerts.reset(self.stage().open_alerts())
            self.unlearned = True  # the agent learns it before it offers anything (not here: no broker I/O in recovery)

    async def learn_what_went_out(self) -> None:
        """The alert and task events on their topics past the offsets the stage last wrote
        (from the start when it never wrote any): the replay will release them again."""
        self.unlearned = False
        v = self._stored()
        if self.read_from is None or (v is not None and "out" not in v):  # a stage written before offsets were kept
            return
        out = self.publisher.out
        alerts, tasks = self.publisher.alerts.get_topic_name(), self.publisher.inspection.get_topic_name()
        went = {alert_event(orjson.loads(x)) for x in await self.read_from(alerts, out.get(alerts, 0))}
        went |= {task_event(orjson.loads(x)) for x in await self.read_from(tasks, out.get(tasks, 0))}
        self.publisher.already_out = went


def alert_event(alert: Mapping[str, Any]) -> tuple[str, ...]:
    return ("alert", alert["alert_id"], alert["status"], alert["raised_at"])


def task_event(task: Mapping[str, Any]) -> tuple[str, ...]:
    return ("task", task["task_id"], task["raised_at"])
