"""The windows job: a ``PartitionEngine`` per delta partition, its state table, its decisions out.

Each delta partition has a ``PartitionEngine`` (detectors/, pure); its decisions, with how
far the partition has decided, go to the decisions topic for the alert stage. Key states
are kept in memory and written to the state table (changelog-backed, co-partitioned by the
same murmur2 routing) at each commit (streams.checkpoint), and only then are the delta
messages acknowledged. A commit is atomic: the changed keys and ticket ids first, then
each partition's clock (with the offset of the last delta message folded in) as its
marker, so a crash recovers the state of the last complete commit and replays the delta
messages after its offset onto it: nothing is lost or counted twice. A table write costs
about half a Kafka message, so writes are combined per key per commit, never made per
ticket.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import asdict
from typing import Any

import faust
import orjson

from detectors.config import DetectConfig
from detectors.partition import PartitionEngine
from detectors.windows import BUCKET_SECONDS
from detectors.wire import share_strings
from streams.checkpoint import MARKER, STATE, Acks, confirmed, stored, tagged
from streams.counters import Counters
from streams.metrics import Metrics
from streams.refetch import Reader, gap, read_back
from streams.routing import clock_key, partition_key, router

BOOKKEEPING_PREFIX = b"~"  # table keys of a partition's own bookkeeping (its clock, its seen ids), not window keys


class Windows:
    """The windows agent's state and work: engines per partition, input held until state is written."""

    def __init__(self, cfg: DetectConfig, *, state: Any, decisions: faust.TopicT,
                 counters: Counters, metrics: Metrics, read: Reader) -> None:
        self.cfg = cfg
        self.read = read  # (partition, from, before) -> the delta messages (offset, value) there
        self.state = state  # table: key -> its state; a partition's clock under clock_key
        self.decisions = decisions
        self.counters = counters
        self.metrics = metrics
        self.engines: dict[int, PartitionEngine] = {}
        self.keys_held: dict[int, int] = {}  # owned partition -> its window keys in the state table
        self.acks = Acks()
        self._markers: dict[int, bytes] = {}  # partition -> its clock as the commit under way took it
        self._unsent: list[Any] = []  # decisions sent and not yet known to be on the broker
        self._apply_timing = metrics.stage("windows_message")
        self._flush_timing = metrics.stage("flush")

    def _load(self, tk: str) -> dict[str, Any] | None:
        raw = self.state.get(tk.encode())
        return None if raw is None else orjson.loads(stored(raw))

    def engine(self, p: int) -> PartitionEngine:
        eng = self.engines.get(p)
        if eng is None:
            clock = self._load(clock_key(p, self.cfg.partitions))
            eng = self.engines[p] = PartitionEngine(p, self.cfg, load=self._load, clock=clock,
                                                    load_seen=lambda b, p=p: self._load(self._seen_key(p, b)))
        return eng

    def missing(self, ev: Any) -> tuple[int, int] | None:
        """The offsets [from, before) of the delta messages before *ev* its partition's state
        lacks: what the consumer skipped over (``streams.refetch``), or None."""
        return gap(self.engine(ev.message.partition).clock.applied, ev.message.offset)

    async def fill(self, p: int, missing: tuple[int, int]) -> None:
        """Read the delta messages at offsets *missing* of partition *p* from the broker and fold them in."""
        got = await read_back(self.read, "deltas", p, missing, self.metrics)
        for offset, value in got:
            self._fold(p, value, offset)
        self.counters.deltas_refetched += len(got)

    def apply(self, ev: Any) -> None:
        """Fold one delta message into its partition's engine and hold it until the next commit."""
        started = time.perf_counter()
        self._fold(ev.message.partition, ev.value, ev.message.offset)
        self.acks.hold(ev)
        self._apply_timing.observe(time.perf_counter() - started)

    def _fold(self, p: int, value: bytes, offset: int) -> None:
        eng = self.engine(p)
        clock = eng.clock
        late, dups, expired, before = clock.late, clock.duplicates, clock.expired, eng.done_to()
        gaps, gap_buckets = clock.gaps.count, clock.gaps.buckets
        decided = eng.apply(share_strings(orjson.loads(value)), offset=offset)
        if clock.gaps.count > gaps:  # a feed outage recognised (detectors.gaps)
            self.metrics.feed_gaps.labels(str(p)).inc(clock.gaps.count - gaps)
            self.metrics.feed_gap_seconds.labels(str(p)).inc((clock.gaps.buckets - gap_buckets) * BUCKET_SECONDS)
        self.counters.late_tickets += clock.late - late
        if clock.late > late:
            self.metrics.late_key_tickets.inc(clock.late - late)
        if clock.duplicates > dups or clock.expired > expired:
            self.counters.duplicate_tickets += clock.duplicates - dups
            self.counters.expired_tickets += clock.expired - expired
            self.metrics.duplicate_tickets.inc(clock.duplicates - dups)
            self.metrics.expired_tickets.inc(clock.expired - expired)
        done_to = eng.done_to()
        # To the alert stage: this partition's decisions and how far it has decided, once
        # per tick it passes (a replayed report is recognised there and ignored).
        if decided or done_to > before:
            self._unsent.append(self.decisions.send_soon(
                value=orjson.dumps({"p": p, "to": done_to, "d": [asdict(d) for d in decided]})))
        self.counters.deltas_applied += 1
        self.counters.last_applied_at = time.time()
        self.metrics.delta_messages_applied.inc()

    def unsaved(self) -> bool:
        return bool(self.acks.events or self.engines)

    async def sent(self) -> None:
        """Wait until the decisions and the state sent so far are on the broker. The decisions
        first: a commit's marker must never cover input whose decisions a crash could still
        lose (its successor replays only what comes after the marker)."""
        unsent, self._unsent = self._unsent, []
        await confirmed(unsent, self.decisions.get_topic_name())
        await self.state.sent()

    def _seen_key(self, p: int, bucket: int) -> str:
        """The table key of partition *p*'s ticket ids of one bucket (deduplication)."""
        return partition_key(f"~seen:{bucket}", p, self.cfg.partitions)

    def write_state(self, commit: bytes) -> None:
        """Every key changed since the last commit and the ticket ids kept for deduplication
        (each partition's clock closes the commit: ``write_marker``)."""
        writes = 0
        for p, eng in self.engines.items():
            held, changed = self.keys_held.get(p, 0), 0
            for tk, value in eng.take_dirty():  # one key's stored form at a time
                k = tk.encode()
                if k not in self.state:
                    held += 1
                self.state[k] = tagged(STATE, commit, orjson.dumps(value))
                changed += 1
            self.keys_held[p] = held
            for b, ids in eng.take_seen().items():
                key = self._seen_key(p, b).encode()
                if ids is not None:
                    self.state[key] = tagged(STATE, commit, orjson.dumps(ids))
                else:  # a tombstone, applied on recovery at once: ids older than any replay needs
                    self.state.pop(key, None)
                writes += 1
            self._markers[p] = orjson.dumps(eng.clock_dict())
            writes += changed + 1
            self.counters.state_writes += changed
            self.metrics.flush_dirty_keys.observe(changed)
            self.metrics.engine_keys.labels(str(p)).set(held)
        self.counters.flushes += 1
        self.metrics.state_flushes.inc()
        self.metrics.state_writes.inc(writes)

    def write_marker(self, commit: bytes) -> None:
        """Each partition's clock as the commit took it (with the offset of the last delta
        message in its state), which closes the commit in its changelog partition."""
        markers, self._markers = self._markers, {}
        for p, clock in markers.items():
            self.state[clock_key(p, self.cfg.partitions).encode()] = tagged(MARKER, commit, clock)

    def observe_commit(self, seconds: float) -> None:
        self._flush_timing.observe(seconds)

    def count_keys(self, owned: set[int]) -> None:
        """Count the state table's window keys of each *owned* partition, once its changelog is
        recovered (``earlywarn_engine_keys``; then kept as keys are written). One pass over the
        table: much less than recovering it cost. Keys of partitions not owned (a standby
        copy, or written here before a hand-over) are not counted."""
        route = router(self.cfg.partitions)
        counts = dict.fromkeys(owned, 0)
        for k in list(self.state.keys()):
            if not k.startswith(BOOKKEEPING_PREFIX):
                p = route(k.decode())
                if p in counts:
                    counts[p] += 1
        for p in set(self.keys_held) - owned:
            self.revoked(p)
        self.keys_held.update(counts)
        for p, n in counts.items():
            self.metrics.engine_keys.labels(str(p)).set(n)

    def revoked(self, p: int) -> None:
        """Forget a delta partition handed over (its state was written while settling)."""
        self.engines.pop(p, None)
        self.keys_held.pop(p, None)
        with suppress(KeyError):
            self.metrics.engine_keys.remove(str(p))
