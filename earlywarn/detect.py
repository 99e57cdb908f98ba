"""``earlywarn detect``: the stream's core over a file, offline. Tickets JSONL in, alerts JSONL out.

Each line is one ticket-contract message (an object, or an array of them). Bad lines are
reported with their line number and reason, optionally written to a dead-letter file, and
never stop the run. The alerts are the ones the stream would raise for the same input.

Input is taken in chunks of lines, and each goes through the stream's two halves. Ingest:
decoded, enriched (segmenting the narratives is most of it) and pre-aggregated into one
delta message per partition. Windows: each partition's engine folds its message in and
decides. With ``workers`` = N > 0 both halves run in processes, as the stream runs them
in workers: N enrich chunks in turn, and N own a share of the partitions each and take
every chunk's messages for them, in input order. This process reads, keeps the books and
passes decisions through the alert stage in partition and input order, as the one-process
path does. The engine decides the same whatever the batching, so the alerts are the
same, byte for byte.
"""

from __future__ import annotations

import base64
import marshal
import multiprocessing
import os
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from alerts.render import render
from detectors.engine import Aggregator, Decision, OfflineEngine
from detectors.enrich import Enricher, Taken, take
from earlywarn.settings import Settings
from schemas.tickets import Rejection
from streams.routing import router


def default_workers() -> int:
    """One process per core for each half (they take turns on the cores), none on one core."""
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


CHUNK_LINES = 1000  # lines per chunk: big enough to amortise passing it between processes
_Done = tuple[list[bytes], list[tuple[int, Rejection]], int, list[tuple[int, float, list[Decision]]]]


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

    *batch* lines are enriched and aggregated at a time; *workers* > 0 runs ingest in that
    many forked processes and the partition engines in as many more (where ``fork`` exists).
    """
    stats = stats if stats is not None else DetectStats()
    enricher = enricher or Enricher(settings.pseudonym_secret.encode())
    engine = OfflineEngine(settings.detect, router(settings.partitions))
    chunks = _chunks(lines, batch)
    last: list[Decision] = []
    if workers > 0 and "fork" in multiprocessing.get_all_start_methods():
        done = _forked(chunks, enricher, engine, settings.max_message_bytes, workers, last)
    else:
        done = _in_process(chunks, enricher, engine, settings.max_message_bytes, last)
    for raw_lines, rejected, tickets, decided in done:
        for i, r in rejected:
            stats.rejected += 1
            stats.reasons[r.reason.value] = stats.reasons.get(r.reason.value, 0) + 1
            if on_reject is not None:
                on_reject(stats.lines + i + 1, r, raw_lines[i].rstrip(b"\r\n"))
        stats.lines += len(raw_lines)
        stats.tickets += tickets
        for p, done_to, ds in decided:
            for d in engine.stage.offer(p, done_to, ds):
                stats.alerts += 1
                yield render(d)
    for d in engine.stage.finish(last):
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


def _in_process(chunks: Iterator[list[bytes]], enricher: Enricher, engine: OfflineEngine, max_bytes: int,
                last: list[Decision]) -> Iterator[_Done]:
    for chunk in chunks:
        taken = _take(chunk, enricher, engine.aggregator, max_bytes)
        yield chunk, taken.rejected, taken.tickets, engine.apply(taken.deltas, taken.newest.get("0"))
    last.extend(engine.finish_partitions())


def _forked(chunks: Iterator[list[bytes]], enricher: Enricher, engine: OfflineEngine, max_bytes: int,
            workers: int, last: list[Decision]) -> Iterator[_Done]:
    """Both halves in forked processes: *workers* ingest processes take chunks in turn; as
    many window processes (at most one per partition) own partitions p with p % count = i
    and read every chunk's messages for them, in input order, from the ingest process
    that had it. Every queue is read in the order it was written, so nothing is
    reordered anywhere; at most two chunks per ingest process are in flight.
    """
    ctx = multiprocessing.get_context("fork")
    lanes = min(workers, engine.config.partitions)
    inboxes = [ctx.Queue() for _ in range(workers)]  # this process -> ingest i: chunks
    taken = [ctx.Queue() for _ in range(workers)]  # ingest i -> this process: rejections, counts
    deltas = [[ctx.Queue() for _ in range(lanes)] for _ in range(workers)]  # ingest i -> window j
    decided = [ctx.Queue() for _ in range(lanes)]  # window j -> this process: decisions
    # Forked, not spawned: each inherits the segmenter (~1.2 s and ~100 MB to build) and its engines.
    procs = [ctx.Process(target=_ingest, args=(enricher, engine.aggregator, max_bytes, inboxes[i], taken[i],
                                               deltas[i]), daemon=True, name=f"detect-ingest-{i}")
             for i in range(workers)]
    procs += [ctx.Process(target=_windows, args=(engine, j, lanes, [d[j] for d in deltas], decided[j]),
                          daemon=True, name=f"detect-windows-{j}")
              for j in range(lanes)]
    for proc in procs:
        proc.start()
    finished = False
    try:
        in_flight: deque[list[bytes]] = deque()
        sent = 0
        while True:
            while len(in_flight) < 2 * workers and (chunk := next(chunks, None)) is not None:
                inboxes[sent % workers].put(chunk)
                in_flight.append(chunk)
                sent += 1
            if not in_flight:
                break
            c = sent - len(in_flight)
            rejected, tickets = _get(taken[c % workers], procs)
            results = sorted((r for q in decided for r in _get(q, procs)), key=_partition)
            yield in_flight.popleft(), rejected, tickets, results
        for q in inboxes:
            q.put(None)
        last.extend(d for _, ds in sorted((r for q in decided for r in _get(q, procs)), key=_partition) for d in ds)
        finished = True
    finally:
        # Stopped early (an error, or the caller stopped reading): the workers wait on their
        # queues forever, so they are stopped, and nothing waits to flush what they were sent.
        for proc in procs:
            if not finished:
                proc.kill()
            proc.join()
        if not finished:
            for q in inboxes:
                q.cancel_join_thread()


def _partition(result: tuple[Any, ...]) -> int:
    return result[0]


def _get(q: Any, procs: list[Any]) -> Any:
    """The next item on *q*; raises if a worker process has died instead of sending it."""
    while True:
        try:
            return q.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"detect: worker process {dead[0].name} failed with exit code "
                                   f"{dead[0].exitcode} (its error is printed above)") from None


def _ingest(enricher: Enricher, aggregator: Aggregator, max_bytes: int, inbox: Any, out: Any,
            lanes: list[Any]) -> None:
    """An ingest process: chunks in; their rejections out to the reader, deltas out to the windows."""
    n = len(lanes)
    while (chunk := inbox.get()) is not None:
        t = _take(chunk, enricher, aggregator, max_bytes)
        out.put((t.rejected, t.tickets))
        newest = t.newest.get("0")
        for j, lane in enumerate(lanes):
            # Pre-serialised: marshal is faster both ways than the queue's pickling, and these are plain data.
            lane.put(marshal.dumps(({p: m for p, m in t.deltas.items() if p % n == j}, newest)))
    for lane in lanes:
        lane.put(None)


def _windows(engine: OfflineEngine, j: int, lanes: int, inboxes: list[Any], out: Any) -> None:
    """A window process: partitions p % *lanes* == *j*; chunk c's messages come from ingest c % len(inboxes)."""
    mine = OfflineEngine(engine.config, engine.aggregator.route, [p for p in engine.engines if p % lanes == j])
    c = 0
    while (item := inboxes[c % len(inboxes)].get()) is not None:
        msgs, newest = marshal.loads(item)
        out.put(mine.apply(msgs, newest))
        c += 1
    out.put([(p, eng.finish()) for p, eng in mine.engines.items()])


def deadletter_line(line_no: int, r: Rejection, raw: bytes) -> dict[str, Any]:
    """A dead-letter record for a bad input line, like the stream's, with the line number."""
    rec: dict[str, Any] = {"line": line_no, "reason": r.reason.value, "detail": r.detail, "index": r.index,
                           "payload_b64": base64.b64encode(raw).decode()}
    try:
        rec["payload"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        rec["payload"] = None
    return rec
