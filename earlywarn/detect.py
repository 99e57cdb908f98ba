"""``earlywarn detect``: the stream's core over a file, offline. Tickets JSONL in, alerts JSONL out.

Each line is one ticket-contract message (an object, or an array of them). Bad lines are
reported with their line number and reason, optionally written to a dead-letter file, and
never stop the run. The alerts are the ones the stream would raise for the same input.

Input is taken in chunks of lines. Each chunk is decoded, enriched (segmenting the
narrative is most of that) and pre-aggregated into per-partition deltas, as the stream's
ingest agent does; this process folds the deltas into the partition engines. With
``workers`` > 0 the first half runs in that many forked processes, chunk by chunk, while
this process runs the second; chunks come back in input order, and since the engine
decides the same whatever the batching, the alerts are the same, byte for byte.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from alerts.render import render
from detectors.engine import Aggregator, OfflineEngine
from detectors.enrich import Enricher, Taken, take
from earlywarn.settings import Settings
from schemas.tickets import Rejection
from streams.routing import router


def default_workers() -> int:
    """Enrichment processes beside the detection core's own: one per other core."""
    return max(0, (os.cpu_count() or 1) - 1)


CHUNK_LINES = 1000  # lines per chunk: big enough to amortise a worker's pickling


@dataclass
class DetectStats:
    lines: int = 0
    tickets: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    alerts: int = 0


def detect(lines: Iterable[bytes], settings: Settings, *, batch: int = CHUNK_LINES,
           on_reject: Callable[[int, Rejection, bytes], None] | None = None,
           stats: DetectStats | None = None, enricher: Enricher | None = None,
           workers: int = 0) -> Iterator[dict[str, Any]]:
    """Yield alert-contract-v1 dicts for the tickets in *lines*, in event-time order.

    *batch* lines are enriched and aggregated at a time; *workers* > 0 does that in that
    many forked processes (where ``fork`` exists).
    """
    stats = stats if stats is not None else DetectStats()
    enricher = enricher or Enricher(settings.pseudonym_secret.encode())
    engine = OfflineEngine(settings.detect, router(settings.partitions))
    chunks = _chunks(lines, batch)
    worker = (enricher, engine.aggregator, settings.max_message_bytes)
    if workers > 0 and "fork" in multiprocessing.get_all_start_methods():
        done = _forked(chunks, worker, workers)
    else:
        done = ((c, _take(c, *worker)) for c in chunks)
    for raw_lines, chunk in done:
        for i, r in chunk.rejected:
            stats.rejected += 1
            stats.reasons[r.reason.value] = stats.reasons.get(r.reason.value, 0) + 1
            if on_reject is not None:
                on_reject(stats.lines + i + 1, r, raw_lines[i].rstrip(b"\r\n"))
        stats.lines += len(raw_lines)
        stats.tickets += chunk.tickets
        for d in engine.advance(chunk.deltas, chunk.newest.get("0")):
            stats.alerts += 1
            yield render(d)
    for d in engine.finish():
        stats.alerts += 1
        yield render(d)


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


def _take(raw_lines: list[bytes], enricher: Enricher, aggregator: Aggregator, max_bytes: int) -> Taken:
    """Decode, enrich and aggregate one chunk of lines; blank lines are skipped."""
    kept = [i for i, raw in enumerate(raw_lines) if raw.strip()]
    taken = take([raw_lines[i].rstrip(b"\r\n") for i in kept], enricher, aggregator, max_bytes)
    taken.rejected = [(kept[j], r) for j, r in taken.rejected]
    return taken


# The forked workers' enricher and aggregator: set just before the pool forks, so each
# worker inherits the parent's (building a segmenter costs ~1.2 s and ~100 MB), never pickled.
_worker: tuple[Enricher, Aggregator, int] | None = None


def _take_in_worker(raw_lines: list[bytes]) -> Taken:
    assert _worker is not None
    return _take(raw_lines, *_worker)


def _forked(chunks: Iterator[list[bytes]], worker: tuple[Enricher, Aggregator, int],
            workers: int) -> Iterator[tuple[list[bytes], Taken]]:
    global _worker
    _worker = worker
    try:
        pool = multiprocessing.get_context("fork").Pool(workers)
    finally:
        _worker = None
    with pool:
        # At most two chunks per worker in flight: reading runs ahead of detection by no more.
        in_flight: deque[tuple[list[bytes], Any]] = deque()
        while True:
            while len(in_flight) < 2 * workers and (chunk := next(chunks, None)) is not None:
                in_flight.append((chunk, pool.apply_async(_take_in_worker, (chunk,))))
            if not in_flight:
                return
            chunk, result = in_flight.popleft()
            yield chunk, result.get()


def deadletter_line(line_no: int, r: Rejection, raw: bytes) -> dict[str, Any]:
    """A dead-letter record for a bad input line, like the stream's, with the line number."""
    rec: dict[str, Any] = {"line": line_no, "reason": r.reason.value, "detail": r.detail, "index": r.index,
                           "payload_b64": base64.b64encode(raw).decode()}
    try:
        rec["payload"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        rec["payload"] = None
    return rec
