"""Staff verdicts as labelled outcomes: the export (`earlywarn eval --feedback`) and precision as staff see it.

Every verdict the desk stores (``true``, ``false`` or ``duplicate``, see
:meth:`desk.actions.Desk.judge`) is indexed in ``P:verdicts`` (sorted set: alert id by
the time of its latest verdict), so reading them never scans the keyspace.

**The feedback file** (JSON Lines, one marked alert a line, in the order they were
marked; ``feedback_version`` "1"): the alert as the desk holds it now (``alert_id``,
``type``, ``severity``, ``status``, ``subject``, ``district_code``, ``first_raised_at``,
``raised_at``, ``window_start``, ``window_end``, ``observed``, ``expected``, ``score``,
``distinct_complainants``, ``top_terms``) and the staff's label (``label``: true / false
/ duplicate, ``duplicate_of``, ``reason``, ``by``, ``marked_at``; times RFC 3339 at +08:00).
Join it with ``earlywarn detect`` output or an alerts-topic dump by ``alert_id``.

**Precision as staff see it**, by alert type: true / (true + false) over the marked
alerts; duplicates are neither (the episode was real, the alert said it twice). The desk
exports it on ``/metrics`` as ``earlywarn_desk_staff_precision{type}`` (absent for a type
with no true or false verdict) and the counts as ``earlywarn_desk_verdicts{type,verdict}``;
``type`` is one of the alert contract's types or ``other``, so the labels stay bounded.

>>> precision([{"type": "group_dispute", "label": "true"}, {"type": "group_dispute", "label": "false"},
...            {"type": "group_dispute", "label": "duplicate"}, {"type": "x", "label": "true"}])
{'group_dispute': {'true': 1, 'false': 1, 'duplicate': 1, 'precision': 0.5}, 'other': {'true': 1, 'false': 0, 'duplicate': 0, 'precision': 1.0}}
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson
import redis

from desk.store import AlertStore
from schemas.alerts import AlertType, rfc3339

LABELS = ("true", "false", "duplicate")
TYPES = frozenset(t.value for t in AlertType)
FEEDBACK_VERSION = "1"
_ALERT_FIELDS = ("alert_id", "type", "severity", "status", "subject", "district_code", "raised_at", "window_start",
                 "window_end", "observed", "expected", "score", "distinct_complainants", "top_terms")


def index_key(store: AlertStore) -> str:
    return store.key("verdicts")


def index(pipe: redis.client.Pipeline, store: AlertStore, alert_id: str, at: float) -> None:
    """Index a verdict written in *pipe* (the write's own transaction)."""
    pipe.zadd(index_key(store), {alert_id: at})


def labelled(store: AlertStore) -> Iterator[dict[str, Any]]:
    """Every marked alert with its label, in the order they were (last) marked."""
    ids = [x.decode() for x in store.r.zrange(index_key(store), 0, -1)]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        p = store.r.pipeline(transaction=False)
        for aid in chunk:
            p.hmget(store.key("alert", aid), "event", "first")
            p.hget(store.key("state", aid), "verdict")
        got = p.execute()
        for aid, (event, first), verdict in zip(chunk, got[0::2], got[1::2], strict=True):
            if not event or not verdict:
                continue
            alert, v = orjson.loads(event), orjson.loads(verdict)
            yield {"feedback_version": FEEDBACK_VERSION, **{k: alert.get(k) for k in _ALERT_FIELDS},
                   "first_raised_at": rfc3339(float(first)) if first else alert.get("raised_at"),
                   "label": v["verdict"], "duplicate_of": v.get("duplicate_of"), "reason": v.get("reason"),
                   "by": v.get("by"), "marked_at": rfc3339(v["at"])}


def bounded_type(alert_type: str) -> str:
    return alert_type if alert_type in TYPES else "other"


def precision(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per (bounded) alert type: counts of each label and true / (true + false), None when undefined."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        row = out.setdefault(bounded_type(rec["type"]), dict.fromkeys(LABELS, 0))
        row[rec["label"]] += 1
    for row in out.values():
        judged = row["true"] + row["false"]
        row["precision"] = row["true"] / judged if judged else None
    return out


def refresh(metrics: Any, store: AlertStore) -> None:
    """Set the verdict gauges of *metrics* (a DeskMetrics) from the store: called at each scrape."""
    table = precision(labelled(store))
    metrics.verdicts.clear()
    metrics.staff_precision.clear()
    for alert_type, row in table.items():
        for label in LABELS:
            metrics.verdicts.labels(alert_type, label).set(row[label])
        if row["precision"] is not None:
            metrics.staff_precision.labels(alert_type).set(row["precision"])


def write(records: Iterable[dict[str, Any]], out: IO[bytes]) -> list[dict[str, Any]]:
    kept = []
    for rec in records:
        out.write(orjson.dumps(rec) + b"\n")
        kept.append(rec)
    return kept


def cmd_feedback(args: argparse.Namespace) -> int:
    """``earlywarn eval --feedback FILE``: the labelled outcomes from the desk's Redis, and their precision."""
    from alerts.redis_client import connect
    from desk.commands import DeskCommandError
    from desk.settings import SettingsError, from_env

    try:
        settings = from_env()
    except SettingsError as exc:
        raise DeskCommandError(str(exc)) from None
    store = AlertStore(connect(settings.redis_url), settings.prefix)
    if args.feedback == "-":
        records = write(labelled(store), sys.stdout.buffer)
        sys.stdout.flush()
    else:
        with open(args.feedback, "wb") as out:
            records = write(labelled(store), out)
    print(f"feedback: {len(records)} marked alerts -> {args.feedback}", file=sys.stderr)
    print(f"{'type':<24}{'true':>6}{'false':>7}{'dup':>5}  precision as staff see it", file=sys.stderr)
    for alert_type, row in sorted(precision(records).items()):
        p = "-" if row["precision"] is None else f"{row['precision']:.3f}"
        print(f"{alert_type:<24}{row['true']:>6}{row['false']:>7}{row['duplicate']:>5}  {p}", file=sys.stderr)
    return 0
