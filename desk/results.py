"""Inspection results (contract v1, topic ``inspection.results``) attached to their alerts.

:class:`Results` keeps them in Redis: ``P:results:<alert_id>`` is a hash ``result_id`` ->
``{"result": <the message>, "received_at": <epoch s>, "source": {topic, partition,
offset}}``; a result sent again with the same id replaces the earlier one (a correction).

:class:`ResultConsumer` reads the topic in a consumer group of its own (the desk's group
id + ``.results``). Each message ends stored or on ``inspection.results.deadletter`` with
a reason from :class:`schemas.inspection_results.Reason` (malformed, a task that is not
the alert's, an alert the desk does not hold, or a task it never made: neither an event of
its timeline nor staff drafted it), and only then are the batch's offsets
committed: nothing is lost. A dead-letter record is JSON: ``reason``, ``detail``,
``source`` and the original ``key`` and ``value`` (text, or ``value_b64`` when not
UTF-8). Results name offices and firms, never complainants, so the bytes are kept in the
clear; re-send a record's value once what was wrong is put right (e.g. after the alert
store has caught up with the alerts topic).
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any, Protocol

import orjson
import redis

from alerts.inspection import task_of
from desk.background import ConsumerThread, group_consumer
from desk.metrics import DeskMetrics
from desk.settings import DeskSettings
from desk.store import AlertStore
from schemas.inspection_results import Reason, Rejection, check

log = logging.getLogger("earlywarn.desk")


class Results:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.p = prefix

    def key(self, alert_id: str) -> str:
        return f"{self.p}:results:{alert_id}"

    def attach(self, result: dict[str, Any], source: dict[str, Any] | None = None,
               pipe: redis.client.Pipeline | None = None) -> None:
        value = {"result": result, "received_at": time.time(), "source": source}
        (pipe if pipe is not None else self.r).hset(self.key(result["alert_id"]), result["result_id"],
                                                     orjson.dumps(value))

    def of_alert(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's results, in the order the visits were made."""
        got = [orjson.loads(v) for v in self.r.hvals(self.key(alert_id))]
        return sorted(got, key=lambda x: (x["result"]["inspected_at"], x["result"]["result_id"]))


def deadletter_record(rec: Any, why: Rejection) -> dict[str, Any]:
    """What ``inspection.results.deadletter`` keeps of a message that was not attached."""
    out: dict[str, Any] = {"reason": str(why.reason), "detail": why.detail,
                           "source": {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset},
                           "key": rec.key.decode("utf-8", "replace") if rec.key else None}
    try:
        out["value"] = rec.value.decode("utf-8") if rec.value is not None else None
    except UnicodeDecodeError:
        out["value_b64"] = base64.b64encode(rec.value).decode()
    return out


class Sender(Protocol):
    def send(self, topic: str, *, key: bytes | None, value: bytes) -> Any: ...
    def flush(self, timeout: float | None = None) -> None: ...


class ResultConsumer(ConsumerThread):
    """Reads ``inspection.results`` into :class:`Results`; a thread beside the alert consumer."""

    name = "desk-results"

    def __init__(self, settings: DeskSettings, store: AlertStore, results: Results, metrics: DeskMetrics) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.results = results
        self.metrics = metrics

    def _clients(self) -> tuple[Any, Any]:
        from kafka import KafkaProducer

        s = self.settings
        consumer = group_consumer(s, s.topic_inspection_results, f"{s.group_id}.results", "earlywarn-desk-results")
        producer = KafkaProducer(bootstrap_servers=s.broker, client_id="earlywarn-desk-results", acks="all")
        return consumer, producer

    def tasks_of(self, alert_id: str) -> set[str]:
        """The tasks an alert made: the stream's (an event of its timeline that makes one) and staff's (on request)."""
        made = {t["task_id"] for t in map(task_of, self.store.timeline(alert_id)) if t is not None}
        return made | {k.decode() for k in self.store.r.hkeys(self.store.key("tasks", alert_id))}

    def handle(self, records: list[Any], producer: Sender) -> dict[str, int]:
        """Attach or dead-letter each record (dead letters acknowledged by the broker). Counts by outcome."""
        checked = [(rec, check(rec.value)) for rec in records]
        wanted = sorted({c["alert_id"] for _, c in checked if isinstance(c, dict)})
        known = {a["alert_id"] for a in self.store.many(wanted)}
        counts: dict[str, int] = {}
        pipe = self.results.r.pipeline()
        for rec, c in checked:
            if isinstance(c, dict) and c["alert_id"] not in known:
                c = Rejection(Reason.UNKNOWN_ALERT, f"no alert {c['alert_id']} in the desk's store")
            elif isinstance(c, dict) and c["task_id"] not in self.tasks_of(c["alert_id"]):
                c = Rejection(Reason.UNKNOWN_TASK, f"alert {c['alert_id']} made no task {c['task_id']}")
            if isinstance(c, Rejection):
                log.warning("desk: inspection result at %s/%d/%d dead-lettered: %s (%s)", rec.topic, rec.partition,
                            rec.offset, c.reason, c.detail)
                producer.send(self.settings.topic_inspection_results_deadletter, key=rec.key,
                              value=orjson.dumps(deadletter_record(rec, c)))
                outcome = str(c.reason)
            else:
                self.results.attach(c, {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset}, pipe)
                outcome = "attached"
            counts[outcome] = counts.get(outcome, 0) + 1
        producer.flush(30)  # every dead letter is on the broker before the offsets move
        pipe.execute()
        for outcome, n in counts.items():
            self.metrics.results.labels(outcome).inc(n)
        return counts

    def take(self, records: list[Any], producer: Sender) -> None:  # type: ignore[override]
        self.handle(records, producer)
