"""``earlywarn detect``: the stream's core over a file, offline. Tickets JSONL in, alerts JSONL out.

Each line is one ticket-contract message (an object, or an array of them). Bad lines are
reported with their line number and reason, optionally written to a dead-letter file, and
never stop the run. The alerts are the ones the stream would raise for the same input.

Input is taken in chunks of lines, and each goes through the stream's two halves. Ingest:
decoded, enriched (segmenting the narratives is most of it) and pre-aggregated into one
delta message per partition. Windows: each partition's engine folds its message in and
decides. With ``workers`` = N > 0 both halves run in N processes, as the stream runs them
in N workers: each ingests every Nth chunk and owns every Nth partition, and takes every
chunk's messages for its partitions, in input order. This process reads, keeps the books
and passes decisions through the alert stage in partition and input order, as the
one-process path does. The engine decides the same whatever the batching, so the alerts
are the same, byte for byte.
"""

from __future__ import annotations

import marshal
import multiprocessing
import os
import queue
import time
from operator import itemgetter
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from alerts.render import render
from detectors.aggregate import Aggregator
from detectors.baseline import LOCAL_OFFSET
from detectors.dated import DATED_SHARE
from detectors.decisions import Decision
from detectors.offline import OfflineEngine
from detectors.windows import bucket_start
from detectors.wire import share_strings
from detectors.enrich import Enricher, Taken, take
from schemas.tickets import Rejection
from streams.routing import router
from streams.settings import Settings

if TYPE_CHECKING:
    from detectors.complainant_stage import ComplainantStage


def default_workers() -> int:
    """One process per core, none on one core."""
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


_BY_PARTITION = itemgetter(0)  # (partition, ...) results, in partition order
CHUNK_LINES = 1000  # lines per chunk: big enough to amortise passing it between processes
DATED_RUN = 100  # tickets in input order that tell a date-only source (DetectStats.dated)
_Limits = tuple[int, float]  # (largest message in bytes, latest event time accepted)
_Counts = tuple[int, int, int, list[float]]  # tickets, duplicates, no identity, event times in input order
_Done = tuple[list[bytes], list[tuple[int, Rejection]], _Counts, list[tuple[int, float, list[Decision]]]]
_Totals = list[Any]  # [duplicate tickets, expired tickets, feed outages, days judged by the day] the engines counted


@dataclass
class DetectStats:
    lines: int = 0
    tickets: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    duplicates: int = 0  # tickets whose id was already counted within the horizon
    expired: int = 0  # tickets more than the horizon behind event time: not counted
    nobody: int = 0  # tickets with no identity (no id, phone or name): counted as no one
    # Feed outages (detectors.gaps): (start, end) event times, the partitions' outages merged.
    gaps: list[tuple[float, float]] = field(default_factory=list)
    # Input order against event time: tickets behind the newest before them in the input
    # (out of order), and by more than the allowed lateness (late: their buckets may have
    # been judged already; ``detectors.partition``).
    out_of_order: int = 0
    late: int = 0
    lateness_seconds: float = 0.0
    # Tickets that carried only a date: at a local midnight or noon sharp, where nearly all
    # the input before them was (``DATED_SHARE`` of the last ``DATED_RUN``; a file's first
    # eight are not counted); and the days the engines judged by the day (detectors.dated).
    dated: int = 0
    dated_days: int = 0
    _newest: float = float("-inf")
    _stamps: deque[bool] = field(default_factory=lambda: deque(maxlen=DATED_RUN))
    _n_stamps: int = 0

    def saw(self, times: list[float]) -> None:
        """Count the tickets of one chunk, in input order, against those before them."""
        newest, late_before = self._newest, self._newest - self.lateness_seconds
        stamps, n_stamps = self._stamps, self._n_stamps
        for ts in times:
            stamp = (ts + LOCAL_OFFSET) % 43200 == 0  # 00:00:00 or 12:00:00 local, to the second
            if len(stamps) == DATED_RUN:
                n_stamps -= stamps[0]
            stamps.append(stamp)
            n_stamps += stamp
            if stamp and n_stamps >= DATED_SHARE * max(len(stamps), 10):  # a file's first tickets alone are not a source
                self.dated += 1
            if ts < newest:
                self.out_of_order += 1
                if ts < late_before:
                    self.late += 1
            else:
                newest = ts
                late_before = ts - self.lateness_seconds
        self._newest, self._n_stamps = newest, n_stamps

    def mostly_late(self) -> bool:
        """Whether most of the input came late: its alerts are not to be trusted."""
        return self.tickets > 0 and self.late * 2 > self.tickets


def detect(lines: Iterable[bytes], settings: Settings, *, batch: int = CHUNK_LINES,
           on_reject: Callable[[int, Rejection, bytes], None] | None = None,
           stats: DetectStats | None = None, enricher: Enricher | None = None,
           workers: int = 0, cleared: Mapping[str, Mapping[str, Any]] | None = None,
           on_flags: Callable[[dict[str, Any]], None] | None = None) -> Iterator[dict[str, Any]]:
    """Yield alert-contract-v1 dicts for the tickets in *lines*, in event-time order.

    *batch* lines are enriched and aggregated at a time; *workers* > 0 runs both halves in
    that many forked processes (where ``fork`` exists). With complainants judged
    (``EARLYWARN_COMPLAINANTS=on``), *cleared* (pseudonym -> {at, who, why}: staff's
    clearings) is honoured and *on_flags* gets the flags in force at the end.
    """
    if settings.firms == "on":  # abnormal firms, judged beside the engine over the same lines
        yield from firm_alerts(lines, settings, batch=batch, on_reject=on_reject, stats=stats, enricher=enricher,
                               workers=workers, cleared=cleared, on_flags=on_flags)
        return
    stats = stats if stats is not None else DetectStats()
    stats.lateness_seconds = settings.detect.lateness_seconds
    enricher = enricher or Enricher(settings.secret())
    stage = complainant_stage(settings)
    if stage is not None:
        for person, c in sorted((cleared or {}).items()):
            stage.clear(person, float(c["at"]), str(c.get("who", "")), str(c.get("why", "")))
    engine = OfflineEngine(settings.detect, router(settings.partitions), complainants=stage)
    chunks = _chunks(lines, batch)
    last: list[Decision] = []
    totals: _Totals = [0, 0, [], 0]
    # As the stream does: a ticket dated beyond the clock plus the allowed skew is dead-lettered.
    limits = (settings.max_message_bytes, time.time() + settings.max_future_seconds)
    # Complainants are judged over everyone's claims before any partition ticks past a
    # midnight: one process for now (N processes would each need every claim).
    if workers > 0 and stage is None and "fork" in multiprocessing.get_all_start_methods():
        done = _forked(chunks, enricher, engine, limits, workers, last, totals)
    else:
        done = _in_process(chunks, enricher, engine, limits, last, totals)
    for raw_lines, rejected, (tickets, duplicates, nobody, times), decided in done:
        for i, r in rejected:
            stats.rejected += 1
            stats.reasons[r.reason.value] = stats.reasons.get(r.reason.value, 0) + 1
            if on_reject is not None:
                on_reject(stats.lines + i + 1, r, raw_lines[i].rstrip(b"\r\n"))
        stats.lines += len(raw_lines)
        stats.tickets += tickets
        stats.duplicates += duplicates
        stats.nobody += nobody
        stats.saw(times)
        for p, done_to, ds in decided:
            for d in engine.stage.offer(p, done_to, ds):
                stats.alerts += 1
                yield render(d)
        for d in engine.take_complainant_decisions():
            stats.alerts += 1
            yield render(d)
    stats.duplicates += totals[0]
    stats.expired += totals[1]
    stats.gaps = merge_spans(totals[2])
    stats.dated_days = totals[3]
    for d in [*engine.stage.finish(last), *engine.take_complainant_decisions()]:
        stats.alerts += 1
        yield render(d)
    if stage is not None and on_flags is not None and stage.next_judgement is not None:
        on_flags(stage.flags(stage.next_judgement - 86400.0))


def complainant_stage(settings: Settings) -> ComplainantStage | None:
    """The abnormal-complainant stage when ``EARLYWARN_COMPLAINANTS=on``, else None."""
    if settings.complainants != "on":
        return None
    from detectors.complainant_stage import ComplainantStage

    return ComplainantStage()


def firm_alerts(lines: Iterable[bytes], settings: Settings, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """``detect`` with abnormal firms (``EARLYWARN_FIRMS=on``): every line the engine reads is
    decoded once more here, in this process, and fed to ``detectors.firm_stage``, which
    judges each local midnight the lines' watermark passes (their front less the allowed
    lateness, as the engine's). Its alerts go out just before the first engine alert raised
    after them, the rest at the end: a function of the lines, whatever ``workers`` is.
    """
    from dataclasses import replace
    from datetime import datetime

    from detectors.firm_stage import FirmStage
    from detectors.firms import FirmJudge, FirmTicket
    from detectors.front import Front
    from detectors.windows import bucket_of, bucket_start
    from schemas.normalise import pseudonym
    from schemas.tickets import Ticket, decode

    stage = FirmStage(FirmJudge(false_alarms_per_day=settings.false_alarms_per_day))
    front = Front()
    secret, lateness = settings.secret(), settings.lateness_seconds
    max_bytes, not_after = settings.max_message_bytes, time.time() + settings.max_future_seconds
    ready: deque[Decision] = deque()
    stats = kwargs.get("stats") or DetectStats()
    kwargs["stats"] = stats

    def watch(lines: Iterable[bytes]) -> Iterator[bytes]:
        for raw in lines:
            if raw.strip():
                for t in decode(raw.rstrip(b"\r\n"), max_bytes=max_bytes, not_after=not_after):
                    if isinstance(t, Ticket):
                        front.add(t.ts)
                        ft = FirmTicket.from_ticket(t, pseudonym(secret, t.complainant_id, t.complainant_phone))
                        if ft is not None:
                            stage.add((ft,))
                if front.value is not None:
                    ready.extend(stage.advance(front.value - lateness))
            yield raw

    def due(until: float) -> Iterator[dict[str, Any]]:
        while ready and ready[0].raised_at <= until:
            stats.alerts += 1
            yield render(ready.popleft())

    for alert in detect(watch(lines), replace(settings, firms="off"), **kwargs):
        yield from due(datetime.fromisoformat(alert["raised_at"]).timestamp())
        yield alert
    reach = front.reach
    if reach is not None:  # as the engine ends: at the end of the newest 15-minute bucket
        ready.extend(stage.advance(bucket_start(bucket_of(reach) + 1)))
    yield from due(float("inf"))


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


def _take(raw_lines: list[bytes], enricher: Enricher, aggregator: Aggregator, limits: _Limits,
          claims: bool = False) -> Taken:
    """Decode, enrich and aggregate one chunk of lines; blank lines are skipped."""
    kept = [i for i, raw in enumerate(raw_lines) if raw.strip()]
    max_bytes, not_after = limits
    taken = take([raw_lines[i].rstrip(b"\r\n") for i in kept], enricher, aggregator, max_bytes,
                 not_after=not_after, claims=claims, order=True)
    taken.rejected = [(kept[j], r) for j, r in taken.rejected]
    return taken


def _counts(t: Taken) -> _Counts:
    return t.tickets, t.duplicates, t.nobody, t.times


def _in_process(chunks: Iterator[list[bytes]], enricher: Enricher, engine: OfflineEngine, limits: _Limits,
                last: list[Decision], totals: _Totals) -> Iterator[_Done]:
    claims = engine.complainants is not None
    for chunk in chunks:
        taken = _take(chunk, enricher, engine.aggregator, limits, claims)
        yield (chunk, taken.rejected, _counts(taken),
               engine.apply(taken.deltas, taken.newest.get("0"), taken.claims))
    last.extend(engine.finish_partitions())
    totals[:] = _engine_totals(engine)


def _engine_totals(engine: OfflineEngine) -> _Totals:
    """Duplicate and expired tickets the engines counted (each where its first key is), and
    the feed outages each recognised (``detectors.gaps``: [first, last] buckets)."""
    return [sum(e.clock.duplicates for e in engine.engines.values()),
            sum(e.clock.expired for e in engine.engines.values()),
            [span for e in engine.engines.values() for span in e.clock.gaps.spans],
            max((e.clock.dated.days for e in engine.engines.values()), default=0)]


def merge_spans(spans: Iterable[list[int]]) -> list[tuple[float, float]]:
    """The partitions' outages ([first, last] buckets) as event-time spans, overlapping ones
    merged: every partition sees an outage of the feed, each with its own edges.

    >>> merge_spans([[4, 7], [5, 9], [20, 21]])
    [(3600.0, 9000.0), (18000.0, 19800.0)]
    """
    out: list[list[int]] = []
    for first, last in sorted(spans):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(bucket_start(a), bucket_start(b + 1)) for a, b in out]


def _forked(chunks: Iterator[list[bytes]], enricher: Enricher, engine: OfflineEngine, limits: _Limits,
            workers: int, last: list[Decision], totals: _Totals) -> Iterator[_Done]:
    """Both halves in *workers* forked processes, as the stream's workers run them: process
    k ingests chunks k, k + N, k + 2N, ... and owns partitions p with p % N = k. It keeps its
    own share of each chunk it ingests and sends the others theirs; it folds in every
    chunk's share in input order, ingesting its next chunk while it waits for another's.
    Every queue is read in the order it was written, so nothing is reordered anywhere; at
    most two chunks per process are in flight.
    """
    ctx = multiprocessing.get_context("fork")
    n = workers
    inboxes = [ctx.Queue() for _ in range(n)]  # this process -> k: its chunks, then None
    taken = [ctx.Queue() for _ in range(n)]  # k -> this process: each chunk's rejections and count
    decided = [ctx.Queue() for _ in range(n)]  # k -> this process: each chunk's decisions, then the last
    shares = [[ctx.Queue() if j != k else None for j in range(n)] for k in range(n)]  # shares[k][j]: k -> j, deltas
    # Forked, not spawned: each inherits the segmenter (~1.2 s and ~100 MB to build).
    procs = [ctx.Process(target=_lane, args=(k, n, enricher, engine, limits, inboxes[k], taken[k], decided[k],
                                             shares[k], [shares[j][k] for j in range(n)]),
                         daemon=True, name=f"detect-{k}")
             for k in range(n)]
    for proc in procs:
        proc.start()
    finished = False
    try:
        in_flight: deque[list[bytes]] = deque()
        sent = 0
        while True:
            while len(in_flight) < 2 * n and (chunk := next(chunks, None)) is not None:
                inboxes[sent % n].put(chunk)
                in_flight.append(chunk)
                sent += 1
            if not in_flight:
                break
            c = sent - len(in_flight)
            rejected, counts = _get(taken[c % n], procs)
            results = sorted((r for q in decided for r in _get(q, procs)), key=_BY_PARTITION)
            yield in_flight.popleft(), rejected, counts, results
        for q in inboxes:
            q.put(None)
        ends = [_get(q, procs) for q in decided]  # each: (its partitions' last decisions, its totals)
        last.extend(d for _, ds in sorted((r for end, _ in ends for r in end), key=_BY_PARTITION) for d in ds)
        totals[:] = [*(sum(t[i] for _, t in ends) for i in range(2)), [g for _, t in ends for g in t[2]],
                     max(t[3] for _, t in ends)]
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


def _lane(k: int, n: int, enricher: Enricher, engine: OfflineEngine, limits: _Limits, inbox: Any, taken: Any,
          decided: Any, send: list[Any], receive: list[Any]) -> None:
    """Process *k* of *n* (see ``_forked``): *send*[j] and *receive*[j] carry deltas to and from process j."""
    mine = OfflineEngine(engine.config, engine.aggregator.route, [p for p in engine.engines if p % n == k])
    ahead: deque[tuple[dict[int, Any], list[float] | None]] = deque()  # own chunks' shares, ingested, not folded in
    ended = False  # no more chunks to ingest

    def ingest(wait: bool) -> None:
        nonlocal ended
        try:
            chunk = inbox.get(wait)
        except queue.Empty:
            return
        if chunk is None:
            ended = True
            for j in range(n):
                if j != k:
                    send[j].put(None)
            return
        t = _take(chunk, enricher, mine.aggregator, limits)
        taken.put((t.rejected, _counts(t)))
        newest = t.newest.get("0")
        split: list[dict[int, Any]] = [{} for _ in range(n)]
        for p, msg in t.deltas.items():
            split[p % n][p] = msg
        for j in range(n):
            if j != k:  # marshalled here: faster both ways than the queue's pickling, and plain data
                send[j].put(marshal.dumps((split[j], newest)))
        ahead.append((split[k], newest))

    c = 0
    while True:
        if c % n == k:
            if not ahead and not ended:
                ingest(wait=True)
            if not ahead:
                break
            msgs, newest = ahead.popleft()
        else:
            if not ahead and not ended:
                # Before waiting for another's share, if a chunk is here: the processes ingest
                # side by side. Never waiting for one: it is sent only once this chunk is done.
                ingest(wait=False)
            item = receive[c % n].get()
            if item is None:
                break
            msgs, newest = marshal.loads(item)
            for msg in msgs.values():  # copies of the sender's strings: one each here
                share_strings(msg)
        decided.put(mine.apply(msgs, newest))
        c += 1
    ends = [(p, eng.finish()) for p, eng in mine.engines.items()]
    decided.put((ends, _engine_totals(mine)))
