"""The window side of the engine: one partition's keys, folded in from delta messages and judged tick by tick.

``PartitionEngine`` owns the keys routed to one partition. It folds delta messages into
their states (kept by a ``detectors.store`` store) and, whenever the watermark (the least
event time every source has reached, less the allowed lateness) passes the end of a
bucket, evaluates that bucket's tick: the keys with tickets in it learn their baselines and
are judged (``detectors.judge``), their findings open or grow episodes and quiet episodes
resolve (``detectors.episodes``). Evaluation is driven by event time only, so one worker or
many, offline or streaming, the same input gives the same decisions.

Late tickets: a ticket whose bucket has already been evaluated (its event time is behind
the watermark) is still counted in its bucket, so later windows and the baseline include
it, and its key is judged again at the next tick; ticks already evaluated are not
revisited. Input disordered by less than the allowed lateness is never late.

End of input: when every source has gone quiet (offline: end of file; stream: idle for a
while) time is taken to have reached the end of the newest bucket seen, and every bucket
up to it is evaluated. Live, a pause is not the end of input: a delta message may carry
the wall clock of the ingest that sent it (``c``), and then a bucket closes only once that
clock has passed its end plus the allowed lateness, however long the input pauses before
(a replay of history has the clock far ahead: the newest bucket closes as offline).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from detectors.baseline import Rhythm
from detectors.calendar import load_calendar
from detectors.clock import Clock
from detectors.config import PEER_AFTER, DetectConfig
from detectors.decisions import DISTRICT, FIRM, Decision
from detectors.episodes import Episodes
from detectors.evidence import Exclusion
from detectors.judge import Judge
from detectors.progress import take_progress, target_tick
from detectors.rate import forgetting
from detectors.slow import may_build
from detectors.store import KeyStore, MemoryStore, Stub, TableStore
from detectors.text import domain_words
from detectors.windows import BUCKET_SECONDS, BUCKETS_PER_DAY, KeyState, bucket_of, bucket_start
from detectors.wire import decode_clock, encode_clock, message_keys, without_tickets


class PartitionEngine:
    """Owns the keys of one partition: folds deltas in, evaluates ticks, keeps episodes.

    Its key states are in *store* (a ``detectors.store.KeyStore``; by default every state in
    memory); *load*, a table key's persisted state (``detectors.wire.encode_key`` form) or
    None, is short for ``store=TableStore(load)``: the stream passes its table's. *clock* is
    a persisted clock (``clock_dict()``) to resume from. After ``apply``, ``take_dirty()``
    gives the states to persist (stub states for keys cut down).

    Forgetting, so that state holds the recent past and not every key's whole history: a
    key (with no open episode) whose bucket at a tick comes more than ``forget_days``
    after the one before starts afresh there: its older buckets and its baseline are
    dropped (its label, category and district stay, and a firm's count in its peer groups
    is not made again). So at the first tick of each day, a key whose newest bucket is
    older than that is cut down to a stub of those
    (``stubs``; a stub state in the store): its next tickets, which can only come later,
    would renew it anyway. The rule reads only a key's buckets up to the tick, all of
    which are in by then, so the decisions do not depend on the batching, on the order
    sources deliver in, or on what was in memory when: a worker restarted from its
    table decides as one that never stopped.
    """

    def __init__(
        self,
        partition: int,
        config: DetectConfig,
        load: Callable[[str], dict[str, Any] | None] | None = None,
        clock: dict[str, Any] | None = None,
        named_terms: frozenset[str] | None = None,
        store: KeyStore | None = None,
        load_seen: Callable[[int], list[str] | None] | None = None,
    ) -> None:
        self.partition = partition
        self.config = config
        # A term names a demand only if it is a named practice or problem (the domain
        # dictionary: 强制办卡, 先用后付, 含绒量不足); any other word surging is a hot word.
        self.named_terms = domain_words() if named_terms is None else named_terms
        self.store: KeyStore = store if store is not None else TableStore(load) if load else MemoryStore()
        self.calendar = load_calendar(config.calendar)
        self.rhythm = Rhythm(day_factor=self.calendar.factor)
        self.clock = decode_clock(clock, self.rhythm) if clock else Clock()
        self.judge = Judge(config, self.named_terms, self.calendar, self.rhythm, self.clock)
        self.episodes = Episodes(config, self.clock.open, self.judge.watch, self.judge.exclusions)
        for at, people, tickets in self.clock.exclusions:  # the stream's, recovered with the clock
            self.judge.exclusions.add(at, Exclusion(frozenset(people), frozenset(tickets)))
        self._half_life = config.half_life_days * BUCKETS_PER_DAY
        self._forget = round(config.forget_days * BUCKETS_PER_DAY)
        # Deduplication by ticket id: the ids of the tickets within the horizon, with their
        # buckets; kept by bucket, persisted by bucket (take_seen), loaded by load_seen.
        self._horizon = max(round(config.dedup_days * BUCKETS_PER_DAY),
                            config.longest + math.ceil(config.lateness_seconds / BUCKET_SECONDS))
        self._seen: dict[str, int] = {}
        self._by_bucket: dict[int, list[str]] = {}
        self._seen_dirty: set[int] = set()
        for b in sorted(self.clock.seen_buckets):
            ids = load_seen(b) if load_seen is not None else None
            if ids:
                self._by_bucket[b] = list(ids)
                for tid in ids:
                    self._seen.setdefault(tid, b)

    # ---- state

    @property
    def states(self) -> dict[str, KeyState]:
        """The key states in memory, by table key."""
        return self.store.states

    @property
    def stubs(self) -> dict[str, Stub]:
        """Keys cut down, by table key (see the class docstring)."""
        return self.store.stubs

    def state(self, tk: str, dim: str = "", key: str = "") -> KeyState:
        return self.store.get(tk, dim, key)

    def take_dirty(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(table key, stored form) of the states changed since the last call (to persist), in
        table key order, each encoded as it is taken; a key cut down to a stub gives its stub state."""
        return self.store.take_dirty()

    def clock_dict(self) -> dict[str, Any]:
        return encode_clock(self.clock, self.rhythm)

    # ---- input

    def apply(self, msg: dict[str, Any], offset: int | None = None) -> list[Decision]:
        """Fold one delta message in; return the decisions of every tick it lets close.

        *offset* (the stream's) makes replays harmless: the clock, persisted with the
        states, remembers the last offset folded in, and a message at or before it is
        skipped, so redelivery after a rebalance or crash never counts twice.
        """
        clock = self.clock
        if offset is not None:
            if offset <= clock.applied:
                return []
            clock.applied = offset
        store = self.store
        due, last_tick, states, dirty, get = clock.due, clock.last_tick, store.states, store.dirty, store.get
        seen, table = self._seen, msg.get("t") or {}
        seen_ids = seen.keys()
        floor = last_tick - self._horizon if last_tick >= 0 else None
        fresh: dict[str, int] = {}  # tickets first seen in this message -> their bucket
        again: set[str] = set()  # tickets seen in an earlier message
        expired: set[str] = set()
        for dim, key, deltas in message_keys(msg):
            kept = []
            for raw in deltas:
                ids = raw[3]  # Delta.ids
                if floor is not None and raw[0] < floor:
                    expired.update(ids)
                    continue
                if not seen_ids.isdisjoint(ids):  # most key-deltas: one C-level pass
                    drop = {i for i, tid in enumerate(ids) if tid in seen}
                    again.update(ids[i] for i in drop)
                    if len(drop) == len(ids):
                        continue
                    if all(tid in table for tid in ids):  # else written before facts: folded in as it is
                        raw = without_tickets(raw, dim, drop, table)
                fresh.update(dict.fromkeys(raw[3], raw[0]))
                kept.append(raw)
            if not kept:
                continue
            tk = f"{dim}:{key}"  # wire.table_key, inlined: once per key per message
            s = states.get(tk) or get(tk, dim, key)
            for raw in kept:
                s.add_raw(raw)
                due_at = raw[0]  # Delta.bucket
                if last_tick >= 0 and due_at <= last_tick:  # late: its bucket's tick is past; judged at the next one
                    clock.late += raw[1]  # Delta.n
                    due_at = last_tick + 1
                keys = due.get(due_at)
                if keys is None:
                    due[due_at] = {tk}
                else:
                    keys.add(tk)
            dirty.add(tk)
        self._remember(fresh, again, expired, msg.get("h"))
        take_progress(clock, msg)
        if "x" in msg or "u" in msg:
            self._take_exclusions(msg)
        return self._advance(self._target_tick())

    def _take_exclusions(self, msg: dict[str, Any]) -> None:
        """Due process in the stream: the complainant stage's exclusions (``x``: [midnight,
        pseudonyms, ticket ids]) and how far in event time they are known (``u``). One told
        again (a replay) is ignored."""
        clock = self.clock
        for at, people, tickets in msg.get("x", ()):
            if clock.exclusions and at <= clock.exclusions[-1][0]:
                continue
            clock.exclusions.append([at, people, tickets])
            self.judge.exclusions.add(at, Exclusion(frozenset(people), frozenset(tickets)))
        gate = msg.get("u")
        if gate is not None and (clock.gate is None or gate > clock.gate):
            clock.gate = gate
        if clock.last_tick >= 0:  # what no tick to come can read (ticks are never revisited)
            now = bucket_start(clock.last_tick + 1)
            read = [i for i, x in enumerate(clock.exclusions) if x[0] <= now]
            if len(read) > 1:
                del clock.exclusions[:read[-1]]
            self.judge.exclusions.forget_before(now)

    def _remember(self, fresh: dict[str, int], again: set[str], expired: set[str], home: list[str] | None) -> None:
        """Keep the ids of the tickets first seen in a message; count the recurring and expired
        ones where their first key is (*home*: the message's ``h``)."""
        seen, by_bucket, clock = self._seen, self._by_bucket, self.clock
        for tid, b in fresh.items():
            if tid not in seen:
                seen[tid] = b
                ids = by_bucket.get(b)
                if ids is None:
                    by_bucket[b] = [tid]
                    clock.seen_buckets.add(b)
                else:
                    ids.append(tid)
                self._seen_dirty.add(b)
        if home and (again or expired):
            here = set(home)
            clock.duplicates += len(again & here)
            clock.expired += len(expired & here)

    def take_seen(self) -> dict[int, list[str] | None]:
        """The ticket ids kept per bucket changed since the last call (None: dropped), to persist."""
        out = {b: self._by_bucket.get(b) for b in sorted(self._seen_dirty)}
        self._seen_dirty.clear()
        return out

    def _forget_seen(self, t: int) -> None:
        """Drop the ids of tickets in buckets more than the horizon before tick *t*: a key-delta
        that old is expired anyway."""
        floor = t - self._horizon
        for b in [b for b in self._by_bucket if b < floor]:
            for tid in self._by_bucket.pop(b):
                if self._seen.get(tid) == b:
                    del self._seen[tid]
            self.clock.seen_buckets.discard(b)
            self._seen_dirty.add(b)

    def done_to(self) -> float:
        """The event time up to which this partition has decided everything (its last tick's end).

        A partition with no keys yet has decided nothing, up to wherever its watermark is.
        """
        tick = self.clock.last_tick
        if tick < 0:
            target = self._target_tick()
            if target is None:
                return float("-inf")
            tick = target
        return bucket_start(tick + 1)

    def finish(self) -> list[Decision]:
        """End of input: evaluate every bucket up to the newest one seen."""
        self.clock.wall = None
        for v in self.clock.sources.values():
            v.idle = True
        return self._advance(self._target_tick())

    def _target_tick(self) -> int | None:
        target = target_tick(self.clock, self.config.sources, self.config.lateness_seconds)
        if target is None or not self.config.exclusion_gate:
            return target
        # The stream with complainants judged: a tick reads the exclusions of its day, so
        # none passes a midnight before the complainant stage has judged it (``u``).
        gate = self.clock.gate
        return None if gate is None else min(target, bucket_of(gate) - 1)

    def _advance(self, target: int | None) -> list[Decision]:
        clock = self.clock
        if target is None:
            return []
        if clock.last_tick < 0:
            if not clock.due:
                return []
            clock.last_tick = min(clock.due) - 1
            clock.first_tick = clock.last_tick
        out: list[Decision] = []
        while clock.last_tick < target:
            # Skip stretches with nothing due and nothing open in one step.
            nxt = clock.last_tick + 1
            if not clock.open and clock.due:
                nxt = max(nxt, min(min(clock.due), target))
            elif not clock.open and not clock.due:
                nxt = target
            self._skip_rhythm(clock.last_tick, nxt)
            clock.last_tick = nxt
            out.extend(self._tick(nxt))
        return out

    def _skip_rhythm(self, last: int, nxt: int) -> None:
        # Skipped buckets had no tickets: the rhythm only needs to know time moved on, unless
        # they are a feed outage (detectors.gaps), whose days it must not learn at all. The
        # outage watch takes them day by day, as each day's mode says (detectors.dated).
        if nxt - 1 > last:
            gaps = self.clock.gaps
            lo = last
            while lo < nxt - 1:
                hi = min(nxt - 1, ((lo + 1) // BUCKETS_PER_DAY + 1) * BUCKETS_PER_DAY - 1)
                if not self._dated(lo + 1):
                    gaps.stretch(lo, hi, self.rhythm.exposure)
                lo = hi
            if gaps.in_outage:
                self.rhythm.pause(nxt - 1)
            else:
                self.rhythm.learn(nxt - 1, 0.0)

    def _dated(self, t: int) -> bool:
        """Whether bucket *t*'s day is judged by the day (``detectors.dated``). When one is,
        the outage watch pauses: a date's bucket is no outage's end."""
        dated = self.clock.dated
        was = dated.on
        if dated.at(t) and not was:
            self.clock.gaps.interrupt()
        return dated.on

    # ---- a tick

    def _tick(self, t: int) -> list[Decision]:
        """Evaluate tick *t*: every key with tickets in its bucket, then the open episodes.

        Long because it is the hot loop (every key due at every tick), with its names
        bound once; what it does per key is in the comments.
        """
        clock = self.clock
        self.judge.new_tick()
        keys = clock.due.pop(t, set())
        day = t // BUCKETS_PER_DAY
        gaps = clock.gaps
        if day != clock.day:
            # Only the day just before counts, however many empty ticks were skipped; a day a
            # feed outage touched was judged less than it would have been, so the day before
            # it counts too (detectors.gaps).
            if gaps.spans and clock.day >= 0 and gaps.overlap(clock.day * BUCKETS_PER_DAY - 1, t - 1):
                clock.prev_day_evals = {d: max(n, clock.prev_day_evals.get(d, 0)) for d, n in clock.day_evals.items()}
            else:
                clock.prev_day_evals = dict(clock.day_evals) if day == clock.day + 1 else {}
            clock.day_evals = {}
            clock.day = day
            self._dated(t)
            self._drop_stale(t, keys)
            self._forget_seen(t)
        out: list[Decision] = []
        tickets = 0  # every key's tickets in this bucket: only the shape of the rhythm matters
        # The hot loop (every key with tickets in the bucket): names bound once.
        cfg = self.config
        min_people, longest, evals, long_days = cfg.min_people, cfg.longest, clock.day_evals, cfg.long_days
        store = self.store
        states, dirty, get, learn = store.states, store.dirty, store.get, self._learn
        judge, found = self.judge, self.episodes.found
        # During the warm-up baselines are still short (much would look new): only strong
        # evidence is judged, and nothing on the first day. After it, keys that cannot be found anomalous are screened out before
        # judging (Judge.may_find). Firms and keys with open episodes are always judged.
        watched = t - clock.first_tick - gaps.within(clock.first_tick, t)
        judging = watched >= cfg.warmup_days * BUCKETS_PER_DAY
        # Before it, from cold_days on, only strong evidence (Judge.findings' cold).
        cold = not judging and watched >= cfg.cold_days * BUCKETS_PER_DAY
        forget = self._forget
        for tk in sorted(keys):
            s = states.get(tk) or get(tk)
            # Back after forget_days: start afresh (see the class docstring). A key whose
            # oldest bucket held is that recent has no such gap: one comparison for most.
            first = s.order[0] if s.order else t + 1
            if first < t - forget or (first == t and 0 <= s.learned_to < t - forget):
                self._renew(s, t)
            evals[s.dim] = evals.get(s.dim, 0) + 1
            b = s.get(t)
            if b is not None:
                b.settle()
                if s.dim != DISTRICT:  # a district's tickets are already counted under their other keys
                    tickets += b.n
                # Read at the bucket's tick, when all of it is in, so batching cannot change
                # them: the key's label is its newest bucket's, its category the first
                # bucket's that had one, and a firm's district (for its peers) where most of
                # its first bucket's tickets came from. A bucket's label and category are
                # read once, then dropped (they would be a tenth of the stored state).
                if b.label:
                    s.label = b.label
                    if not s.category:
                        s.category = b.category
                    b.label = b.category = ""
                if not s.district and s.dim == FIRM and b.districts:
                    counts = b.districts
                    s.district = max(sorted(counts), key=counts.__getitem__)
            if long_days and s.days is None and s.dim == FIRM:
                s.days = {}  # a firm keeps its days for the slow windows (detectors.slow)
            least = judge.min_people(s) if s.dim == FIRM else min_people  # the key-product watch's groups are smaller
            if (not s.episodes and (s.retained < least or s.count(t, longest) < least)
                    and not (long_days and s.days and judging and may_build(s, t, long_days))):
                # Most keys: too few tickets to matter. Learning waits (it catches up in one
                # step) but never more than two days, so old buckets are pruned.
                if t - s.learned_to > 2 * BUCKETS_PER_DAY:
                    learn(s, t - longest)
                    s.prune(s.learned_to + 1)
                    dirty.add(tk)
                continue
            learn(s, t - longest)
            if (judging or cold) and (s.episodes or s.dim == FIRM or judge.may_find(s, t, cold)):
                for finding in judge.findings(s, t, cold=cold):
                    out.extend(found(s, t, finding))
            s.prune(s.learned_to + 1)  # after judging: evidence reaches back to an episode's start
            dirty.add(tk)
        out.extend(self._close_tick(t, tickets))
        return out

    def _close_tick(self, t: int, tickets: int) -> list[Decision]:
        """The end of tick *t*, whose bucket held *tickets* over every key: the feed-outage
        watch and the rhythm learn it, and quiet episodes resolve (not in an outage)."""
        clock, gaps, store = self.clock, self.clock.gaps, self.store
        outages = gaps.count
        clock.dated.tick(t, tickets)
        outage = not clock.dated.on and gaps.tick(t, tickets, self.rhythm.exposure(t - 1, t))
        if gaps.count > outages:
            self._resume(gaps.spans[-1])
        out: list[Decision] = []
        for tk in sorted(clock.open):
            if gaps.in_outage:  # an outage is not quiet: episodes wait for the feed
                break
            s = store.get(tk)
            resolved = self.episodes.quiet(s, t)
            if resolved:
                out.extend(resolved)
                store.dirty.add(tk)
            if not s.episodes:
                clock.open.discard(tk)
        self.rhythm.learn(t, float(tickets))
        if outage:
            self.rhythm.spoil_today()
        return out

    def _resume(self, span: list[int]) -> None:
        """The feed is back after an outage over *span*: open episodes' quiet is counted
        without it."""
        length = span[1] - span[0] + 1
        for tk in sorted(self.clock.open):
            s = self.store.get(tk)
            for ep in s.episodes.values():
                if ep.last_data_bucket < span[0]:
                    ep.last_data_bucket += length
            self.store.dirty.add(tk)

    def _renew(self, s: KeyState, t: int) -> None:
        """Start *s* afresh at tick *t* if its bucket there comes more than forget_days after
        the one before (or, with none before, after what it last learned)."""
        order = s.order
        i = bisect_left(order, t)
        if s.episodes or i == len(order) or order[i] != t:
            return  # an open episode, or due for a late ticket only (no bucket at this tick)
        prev = order[i - 1] if i else s.learned_to
        if prev >= 0 and t - prev > self._forget:
            s.renew(i)

    def _drop_stale(self, t: int, due_now: set[str]) -> None:
        """Cut down to stubs the keys whose newest bucket is more than forget_days before
        tick *t*: their next tickets, which can only come after it, would renew them."""
        before = t - self._forget
        states = self.store.states
        stale = [tk for tk, s in states.items() if (s.order[-1] if s.order else s.learned_to) < before]
        if not stale:
            return
        clock = self.clock
        keep = clock.open.union(due_now, *clock.due.values())
        for tk in stale:
            if states[tk].episodes or tk in keep:
                continue
            self.store.cut(tk)

    def _learn(self, s: KeyState, upto: int) -> None:
        """Feed the key's closed history up to *upto* into its baseline, skipping episodes."""
        # A key first seen today was watched, with nothing to report, since the partition began.
        start = s.learned_to if s.learned_to >= 0 else min(s.first_bucket - 1, self.clock.first_tick)
        if upto <= start:
            return
        # A feed outage is not time: no exposure, no forgetting (detectors.gaps).
        dead = self.clock.gaps.overlap(start, upto)
        decay = forgetting(upto - start - sum(b - a for a, b in dead), self._half_life)
        s.base_count *= decay
        s.base_people *= decay
        s.base_exposure *= decay
        # Only a firm's issues are judged (Judge's issue findings): other keys, most of them
        # terms judged at every tick, need not learn theirs.
        issues = s.base_issues if s.dim == FIRM else None
        if issues:
            for i in issues:
                issues[i] *= decay
        stop = upto
        if s.episodes:  # an ongoing episode must not inflate its own baseline
            stop = min(upto, min(e.start_bucket for e in s.episodes.values()) - 1)
        if stop > start:
            watched = s.base_exposure
            exposure = self.calendar.exposure(self.rhythm, start, stop, s.category)
            for a, b in dead:
                if min(b, stop) > a:
                    exposure = max(0.0, exposure - self.calendar.exposure(self.rhythm, a, min(b, stop), s.category))
            s.base_exposure += exposure
            if s.dim == FIRM and watched < PEER_AFTER <= s.base_exposure:
                self._join_peers(s)
            # Bucket by bucket, oldest first, so the sums do not depend on the order buckets arrived in.
            count, people = s.base_count, s.base_people
            for bk in s.between(start, stop):
                count += bk.n
                people += len(bk.people)
                if issues is not None:
                    for i, c in bk.issues.items():
                        issues[i] = issues.get(i, 0.0) + c
            s.base_count, s.base_people = count, people
        s.learned_to = upto

    def _join_peers(self, s: KeyState) -> None:
        """Count a firm watched for PEER_AFTER into its peer groups, once, with the rate it
        showed by then. It can cross PEER_AFTER again: its exposure is forgotten as it
        grows (at night faster than it grows), and a firm that starts afresh (forgetting)
        crosses it anew, with the rate of a firm new since the partition began, which says
        nothing of what firms of its kind get."""
        if not s.category or s.peer is not None:
            return
        rate = s.base_people / s.base_exposure
        for group in {f"{s.category}|{s.district}", f"{s.category}|"}:
            g = self.clock.peers.setdefault(group, [0.0, 0.0, 0.0])
            g[0] += 1.0
            g[1] += rate
            g[2] += rate * rate
        s.peer = rate


__all__ = ["PartitionEngine"]
