"""``earlywarn detect``: the stream's core over a file, offline. Tickets JSONL in, alerts JSONL out.

Each line is one ticket-contract message (an object, or an array of them). Bad lines are
reported with their line number and reason, optionally written to a dead-letter file, and
never stop the run. The alerts are the ones the stream would raise for the same input.

With ``workers`` > 0, decoding and enrichment (segmenting the narrative is most of its
cost) run in that many forked processes, chunk by chunk, while this process runs the
detection core; results come back in input order and are batched exactly as a single
process batches them, so the alerts are the same, byte for byte.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from itertools import islice
from operator import attrgetter
from typing import Any

from alerts.render import render
from detectors.engine import Enriched, OfflineEngine
from detectors.enrich import Enricher
from earlywarn.settings import Settings
from schemas.tickets import Rejection, decode
from streams.routing import router

# One line's outcome: None for a blank line, else what it decoded to, in order.
_Line = list[Enriched | Rejection] | None

def default_workers() -> int:
    """Enrichment processes beside the detection core's own: one per other core."""
    return max(0, (os.cpu_count() or 1) - 1)


CHUNK_LINES = 1000  # lines a worker decodes and enriches per task: big enough to amortise the pickling
_as_tuple = attrgetter(*(f.name for f in fields(Enriched)))  # Enriched(*_as_tuple(e)) == e


@dataclass
class DetectStats:
    lines: int = 0
    tickets: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    alerts: int = 0


def detect(lines: Iterable[bytes], settings: Settings, *, batch: int = 2000,
           on_reject: Callable[[int, Rejection, bytes], None] | None = None,
           stats: DetectStats | None = None, enricher: Enricher | None = None,
           workers: int = 0) -> Iterator[dict[str, Any]]:
    """Yield alert-contract-v1 dicts for the tickets in *lines*, in event-time order.

    *workers* > 0 decodes and enriches in that many forked processes (where ``fork`` exists).
    """
    stats = stats if stats is not None else DetectStats()
    enricher = enricher or Enricher(settings.pseudonym_secret.encode())
    engine = OfflineEngine(settings.detect, router(settings.partitions))
    if workers > 0 and "fork" in multiprocessing.get_all_start_methods():
        outcomes = _enrich_forked(lines, enricher, settings.max_message_bytes, workers)
    else:
        outcomes = (_enrich_line(raw, enricher, settings.max_message_bytes) for raw in lines)
    pending: list[Enriched] = []
    for line_no, (raw, outcome) in enumerate(outcomes, 1):
        stats.lines = line_no
        if outcome is None:
            continue
        for r in outcome:
            if isinstance(r, Rejection):
                stats.rejected += 1
                stats.reasons[r.reason.value] = stats.reasons.get(r.reason.value, 0) + 1
                if on_reject is not None:
                    on_reject(line_no, r, raw.rstrip(b"\r\n"))
                continue
            stats.tickets += 1
            pending.append(r)
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


def _enrich_line(raw: bytes, enricher: Enricher, max_bytes: int) -> tuple[bytes, _Line]:
    payload = raw.rstrip(b"\r\n")
    if not payload.strip():
        return raw, None
    return raw, [r if isinstance(r, Rejection) else enricher.enrich(r) for r in decode(payload, max_bytes=max_bytes)]


# The forked workers' enricher: set just before the pool forks, so each worker inherits the
# parent's (building a segmenter costs ~1.2 s and ~100 MB), never pickled.
_worker: tuple[Enricher, int] | None = None


def _enrich_chunk(chunk: list[bytes]) -> list[Any]:
    """A worker's task: each line's outcome, with tickets as plain tuples (cheaper to pickle)."""
    assert _worker is not None
    enricher, max_bytes = _worker
    out: list[Any] = []
    for raw in chunk:
        _, outcome = _enrich_line(raw, enricher, max_bytes)
        out.append(None if outcome is None else
                   [r if isinstance(r, Rejection) else _as_tuple(r) for r in outcome])
    return out


def _enrich_forked(lines: Iterable[bytes], enricher: Enricher, max_bytes: int,
                   workers: int) -> Iterator[tuple[bytes, _Line]]:
    global _worker
    _worker = (enricher, max_bytes)
    try:
        pool = multiprocessing.get_context("fork").Pool(workers)
    finally:
        _worker = None
    with pool:
        it = iter(lines)
        # At most two chunks per worker in flight: reading runs ahead of detection by no more.
        in_flight: deque[tuple[list[bytes], Any]] = deque()
        while True:
            while len(in_flight) < 2 * workers:
                chunk = list(islice(it, CHUNK_LINES))
                if not chunk:
                    break
                in_flight.append((chunk, pool.apply_async(_enrich_chunk, (chunk,))))
            if not in_flight:
                return
            chunk, result = in_flight.popleft()
            for raw, outcome in zip(chunk, result.get(), strict=True):
                yield raw, (None if outcome is None else
                            [r if isinstance(r, Rejection) else Enriched(*r) for r in outcome])


def deadletter_line(line_no: int, r: Rejection, raw: bytes) -> dict[str, Any]:
    """A dead-letter record for a bad input line, like the stream's, with the line number."""
    rec: dict[str, Any] = {"line": line_no, "reason": r.reason.value, "detail": r.detail, "index": r.index,
                           "payload_b64": base64.b64encode(raw).decode()}
    try:
        rec["payload"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        rec["payload"] = None
    return rec
