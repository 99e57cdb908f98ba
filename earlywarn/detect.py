"""``earlywarn detect``: the stream's core over a file, offline. Tickets JSONL in, alerts JSONL out.

Each line is one ticket-contract message (an object, or an array of them). Bad lines are
reported with their line number and reason, optionally written to a dead-letter file, and
never stop the run. The alerts are the ones the stream would raise for the same input.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from alerts.render import render
from detectors.engine import OfflineEngine
from detectors.enrich import Enricher
from earlywarn.settings import Settings
from schemas.tickets import Rejection, decode
from streams.routing import router


@dataclass
class DetectStats:
    lines: int = 0
    tickets: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    alerts: int = 0


def detect(lines: Iterable[bytes], settings: Settings, *, batch: int = 2000,
           on_reject: Callable[[int, Rejection, bytes], None] | None = None,
           stats: DetectStats | None = None, enricher: Enricher | None = None) -> Iterator[dict[str, Any]]:
    """Yield alert-contract-v1 dicts for the tickets in *lines*, in event-time order."""
    stats = stats if stats is not None else DetectStats()
    enricher = enricher or Enricher(settings.pseudonym_secret.encode())
    engine = OfflineEngine(settings.detect, router(settings.partitions))
    pending = []
    for line_no, raw in enumerate(lines, 1):
        stats.lines = line_no
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        for r in decode(raw, max_bytes=settings.max_message_bytes):
            if isinstance(r, Rejection):
                stats.rejected += 1
                stats.reasons[r.reason.value] = stats.reasons.get(r.reason.value, 0) + 1
                if on_reject is not None:
                    on_reject(line_no, r, raw)
                continue
            stats.tickets += 1
            pending.append(enricher.enrich(r))
        if len(pending) >= batch:
            for d in engine.feed(pending):
                stats.alerts += 1
                yield render(d)
            pending = []
    for d in engine.feed(pending):
        stats.alerts += 1
        yield render(d)
    for d in engine.finish():
        stats.alerts += 1
        yield render(d)


def deadletter_line(line_no: int, r: Rejection, raw: bytes) -> dict[str, Any]:
    """A dead-letter record for a bad input line, like the stream's, with the line number."""
    rec: dict[str, Any] = {"line": line_no, "reason": r.reason.value, "detail": r.detail, "index": r.index,
                           "payload_b64": base64.b64encode(raw).decode()}
    try:
        rec["payload"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        rec["payload"] = None
    return rec
