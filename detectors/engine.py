"""The detection core both shells run: tickets -> routed per-key deltas -> decisions.

Two halves, split where the stream repartitions:

* ``Aggregator`` (ingest side) turns a batch of enriched tickets into one message per
  partition: every key's additions per event-time bucket, pre-aggregated, plus the event
  time each source has reached. One message per partition per batch, never one per ticket.
* ``PartitionEngine`` (window side) owns the keys routed to one partition. It folds
  deltas into ``KeyState``s and, whenever the watermark (the least event time every source
  has reached, less the allowed lateness) passes the end of a bucket, evaluates that
  bucket's tick: the keys with tickets in it are judged against their baselines, open
  episodes are updated or resolved. Evaluation is driven by event time only, so one
  worker or many, offline or streaming, the same input gives the same decisions.

Late tickets: a ticket whose bucket has already been evaluated (its event time is behind
the watermark) is still counted in its bucket, so later windows and the baseline include
it, and its key is judged again at the next tick; ticks already evaluated are not
revisited. Input disordered by less than the allowed lateness is never late.

End of input: when every source has gone quiet (offline: end of file; stream: idle for a
while) time is taken to have reached the end of the newest bucket seen, and every bucket
up to it is evaluated.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from detectors.baseline import Prior, Rhythm, per_day, predictive
from detectors.calendar import load_calendar
from detectors.front import Front
from detectors.scores import score_of_log_p
from detectors.tail import log_nb_sf
from detectors.text import domain_words
from detectors.windows import (
    BUCKET_SECONDS,
    BUCKETS_PER_DAY,
    Episode,
    KeyState,
    bucket_of,
    bucket_start,
)
from schemas.alerts import alert_id

FIRM, PRODUCT, ISSUE, TERM, FIRM_ISSUE = "firm", "product", "issue", "term", "firm_issue"
PLATFORM_TERM = "platform_term"  # a named practice among one platform's tickets: "京选商城|七天无理由"
GROUP_DISPUTE, CONCENTRATED_DEMAND, TERM_SURGE = "group_dispute", "concentrated_demand", "term_surge"
OPEN, UPDATE, RESOLVED = "open", "update", "resolved"
INFO, WARNING, CRITICAL = "info", "warning", "critical"
_SEVERITY_RANK = {INFO: 0, WARNING: 1, CRITICAL: 2}
MAX_EVIDENCE = 200
ISSUE_SHARE = 0.25  # prior share of a firm's tickets that one issue takes
SAFETY_TERMS = frozenset({"食物中毒", "中毒", "起火", "爆炸", "受伤", "触电", "烫伤", "过敏", "死亡", "电池起火", "腹泻", "呕吐"})


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """What detection needs to know; every field is a setting (see earlywarn.settings)."""

    partitions: int = 8  # partitions keys are routed to; fixed for a deployment
    sources: int = 1  # partitions of the ticket topic: the watermark waits for all of them
    lateness_seconds: float = 600.0
    min_people: int = 5  # a group is at least this many distinct complainants (definition, not tuning)
    min_firms: int = 3  # a concentrated demand spans at least this many firms
    false_alarms_per_day: float = 0.05  # the budget, per alert type, over the whole stream (all its dimensions)
    windows: tuple[int, ...] = (4, 16, 96)  # in buckets: 1 h, 4 h, 24 h
    quiet_buckets: int = 96  # an episode not anomalous for 24 h is resolved
    half_life_days: float = 28.0
    update_growth: float = 1.5  # an open episode emits an update when its people grow this much
    firm_share_explains: float = 0.6  # a term or product surge mostly at one firm is that firm's story
    warmup_days: float = 7.0  # no decisions until baselines have seen a week (backfill a fresh deployment)
    dispersion: float = 3.0  # NB shape cap: complaint counts are far burstier than Poisson (to be learned per dimension)
    calendar: str = ""  # known volume effects (detectors.calendar.load_calendar): "" bundled, "none" off
    forget_days: float = 90.0  # a key back after this long unseen starts afresh; one unseen this long is cut to a stub

    @property
    def longest(self) -> int:
        return max(self.windows)


# Weak priors for keys with no history, per dimension (rate per day, weight in days).
PRIORS: dict[str, Prior] = {
    FIRM: Prior(per_day(1 / 30), BUCKETS_PER_DAY // 2),
    PRODUCT: Prior(per_day(1 / 10), BUCKETS_PER_DAY // 2),
    ISSUE: Prior(per_day(5.0), BUCKETS_PER_DAY // 2),
    TERM: Prior(per_day(1 / 5), BUCKETS_PER_DAY // 2),
    PLATFORM_TERM: Prior(per_day(1 / 5), BUCKETS_PER_DAY // 2),
}


# A firm joins its peers (same product category, same district) once watched this long; a
# peer group of at least PEER_MIN firms gives a firm its prior, worth at most PEER_WEIGHT buckets.
PEER_AFTER = 3 * BUCKETS_PER_DAY
PEER_MIN = 5
PEER_WEIGHT = 7 * BUCKETS_PER_DAY

# The dimensions whose judgements share one alert type's false-alarm budget.
_DEMANDS = (PRODUCT, ISSUE, TERM, PLATFORM_TERM)
_RAISES_ALIKE: dict[str, tuple[str, ...]] = {FIRM: (FIRM,), **{d: _DEMANDS for d in _DEMANDS}}


@dataclass(frozen=True, slots=True)
class Enriched:
    """A valid ticket after ingest: keys derived, terms segmented, personal data reduced to a pseudonym."""

    ticket_id: str
    ts: float
    district: str
    person: str  # pseudonym, or "t:<ticket_id>" when the complainant is unknown
    firm_key: str | None = None
    firm_label: str | None = None
    product_key: str | None = None
    product_label: str | None = None
    category: str | None = None
    issue: str | None = None
    amount: float = 0.0
    terms: tuple[str, ...] = ()
    platform: str | None = None  # the platform the firm sells on (or is), normalised


def table_key(dim: str, key: str) -> str:
    """The key a dimension's key is routed and stored under."""
    return f"{dim}:{key}"


# --------------------------------------------------------------------------- ingest side


class Aggregator:
    """Pre-aggregates enriched tickets into per-partition delta messages.

    A ticket counts under its firm, product, issue and every term; a ticket on a platform
    also counts each named practice (a *named_terms* word: 七天无理由, 先用后付) under
    the platform: a rule change at one platform is a surge there, however common the
    practice's name is elsewhere.

    >>> agg = Aggregator(DetectConfig(partitions=2), route=lambda k: len(k) % 2)
    >>> agg.add(Enriched("T1", 1.7e9, "310115", "p_a", firm_key="F1", terms=("闭店",)))
    >>> msgs = agg.drain({"0": [1.7e9, False]})
    >>> sorted(msgs), sum(len(m["k"]) for m in msgs.values())
    ([0, 1], 2)
    """

    def __init__(self, config: DetectConfig, route: Callable[[str], int],
                 named_terms: frozenset[str] | None = None) -> None:
        self.config = config
        self.named_terms = domain_words() if named_terms is None else named_terms
        # The partitioner is murmur2 in pure Python (~10 us a key); hot keys recur every batch.
        self.route = lru_cache(maxsize=1 << 16)(route)
        # Per dimension: key -> {bucket: delta in Delta.to_list() layout}. No table key is
        # built per ticket: ``drain`` builds one per key per batch.
        self._keys: dict[str, dict[str, dict[int, list[Any]]]] = {
            dim: {} for dim in (FIRM, PRODUCT, ISSUE, TERM, PLATFORM_TERM)}

    def add(self, e: Enriched) -> None:
        b = bucket_of(e.ts)
        terms = e.terms
        person, tid, amount, district, issue = e.person, e.ticket_id, e.amount, e.district, e.issue
        firm = e.firm_key
        keys = self._keys
        if firm:
            d = _delta(keys[FIRM], firm, e.firm_label or firm, e.category, b)
            d[1] += 1
            d[2].append(person)
            d[3].append(tid)
            d[8] += amount
            d[7][district] = d[7].get(district, 0) + 1
            if issue:
                d[6][issue] = d[6].get(issue, 0) + 1
            dt = d[4]
            for t in terms:
                dt[t] = dt.get(t, 0) + 1
        else:
            firm = "-"
        spread = []  # the product, issue and platform-practice keys count the ticket's terms too
        if e.product_key:
            spread.append(_delta(keys[PRODUCT], e.product_key, e.product_label or e.product_key, e.category, b))
        if issue:
            spread.append(_delta(keys[ISSUE], issue, issue, None, b))
        if e.platform:
            for t in _practices(terms, self.named_terms):
                spread.append(_delta(keys[PLATFORM_TERM], f"{e.platform}|{t}", f"{e.platform}·{t}", e.category, b))
        for d in spread:
            d[1] += 1
            d[2].append(person)
            d[3].append(tid)
            d[8] += amount
            d[5][firm] = d[5].get(firm, 0) + 1
            d[7][district] = d[7].get(district, 0) + 1
            dt = d[4]
            for t in terms:
                dt[t] = dt.get(t, 0) + 1
        term_keys = keys[TERM]
        for t in terms:  # ~8 a ticket: _delta inlined
            entry = term_keys.get(t)
            if entry is None:
                entry = term_keys[t] = {}
            d = entry.get(b)
            if d is None:
                d = entry[b] = [b, 0, [], [], {}, {}, {}, {}, 0.0, t, ""]
            d[1] += 1
            d[2].append(person)
            d[3].append(tid)
            d[8] += amount
            d[5][firm] = d[5].get(firm, 0) + 1
            d[7][district] = d[7].get(district, 0) + 1
            if issue:
                d[6][issue] = d[6].get(issue, 0) + 1

    def drain(self, watermarks: dict[str, list[Any]]) -> dict[int, dict[str, Any]]:
        """One message per partition: its keys' deltas and the sources' event-time progress.

        Every partition gets a message, even with no deltas, so every partition's
        watermark advances. *watermarks* maps source id -> [its event-time front or None, idle,
        its newest event times] (see detectors.front).
        """
        out: dict[int, dict[str, Any]] = {
            p: {"v": 2, "w": watermarks, "k": []} for p in range(self.config.partitions)
        }
        route = self.route
        for dim, keys in self._keys.items():
            for key, deltas in keys.items():
                out[route(f"{dim}:{key}")]["k"].append([dim, key, list(deltas.values())])
            keys.clear()
        return out


def _v2_keys(keys: list[list[Any]]) -> list[list[Any]]:
    """A version 1 delta message's keys (``[dim, key, label, category, deltas]``, written
    before an upgrade) in version 2's layout, where each delta carries them."""
    return [[dim, key, [[*d, label, category] for d in deltas]] for dim, key, label, category, deltas in keys]


def _practices(terms: tuple[str, ...], named: frozenset[str]) -> list[str]:
    """The named practices among *terms*, each by its shortest name (七天无理由, not also 七天无理由退货).

    >>> _practices(("七天无理由退货", "七天无理由", "退货", "先用后付"), frozenset({"七天无理由", "七天无理由退货", "先用后付"}))
    ['七天无理由', '先用后付']
    """
    found = [t for t in terms if t in named]
    if len(found) < 2:
        return found
    return [t for t in found if not any(o != t and o in t for o in found)]


def _delta(keys: dict[str, dict[int, list[Any]]], key: str, label: str, category: str | None,
           bucket: int) -> list[Any]:
    """*key*'s delta for *bucket* in this batch (``Delta.to_list()`` layout: no object per key per batch).

    Its label and category are the least of those its tickets give (see ``Bucket``).
    """
    entry = keys.get(key)
    if entry is None:
        entry = keys[key] = {}
    d = entry.get(bucket)
    if d is None:
        d = entry[bucket] = [bucket, 0, [], [], {}, {}, {}, {}, 0.0, label, category or ""]
    else:
        if label < d[9]:
            d[9] = label
        if category and (not d[10] or category < d[10]):
            d[10] = category
    return d


# --------------------------------------------------------------------------- window side


@dataclass(frozen=True, slots=True)
class Decision:
    """One alert event the core decided on; alerts/ renders it into contract v1."""

    alert_id: str
    type: str
    status: str
    severity: str
    dimension: str
    key: str
    label: str
    district_code: str | None
    window_start: float
    window_end: float
    raised_at: float
    observed: int
    expected: float
    score: float
    distinct_complainants: int
    ticket_ids: tuple[str, ...]
    top_terms: tuple[str, ...]
    firms: int = 0  # distinct firms in the window (for demands across firms)
    amount: float = 0.0
    top_issue: str | None = None


@dataclass(slots=True)
class _Finding:
    type: str
    dimension: str
    subject_key: str
    label: str
    width: int
    observed: int
    expected: float
    log_p: float
    issue: str | None = None


@dataclass(slots=True)
class Clock:
    """A partition's event-time progress: persisted with its keys."""

    # source -> [front | None, idle, its newest event times (``Front.newest``)]: see detectors.front
    sources: dict[str, list[Any]] = field(default_factory=dict)
    last_tick: int = -1
    first_tick: int = -1  # when this partition began watching: the exposure of every key starts here
    due: dict[int, set[str]] = field(default_factory=dict)  # bucket -> keys with tickets in it
    open: set[str] = field(default_factory=set)  # keys with open episodes
    day: int = -1
    day_evals: dict[str, int] = field(default_factory=dict)  # dim -> keys judged today (key x tick)
    prev_day_evals: dict[str, int] = field(default_factory=dict)
    late: int = 0  # (key, bucket) deltas that arrived after their bucket's tick
    applied: int = -1  # offset of the last delta message folded in (the stream's); replays skip
    peers: dict[str, list[float]] = field(default_factory=dict)  # "category|district" -> [firms, sum rate, sum rate^2]

    def to_dict(self, rhythm: Rhythm) -> dict[str, Any]:
        return {
            "s": self.sources, "t": self.last_tick, "ft": self.first_tick,
            "d": {str(b): sorted(ks) for b, ks in self.due.items()},
            "o": sorted(self.open), "day": self.day,
            "de": self.day_evals, "pd": self.prev_day_evals, "late": self.late, "r": rhythm.to_dict(),
            "ap": self.applied, "pe": self.peers,
        }

    @classmethod
    def from_dict(cls, v: dict[str, Any], rhythm: Rhythm) -> Clock:
        rhythm.load(v["r"])
        return cls(
            sources={k: list(x) for k, x in v["s"].items()}, last_tick=v["t"], first_tick=v["ft"],
            due={int(b): set(ks) for b, ks in v["d"].items()}, open=set(v["o"]), day=v["day"],
            day_evals=dict(v["de"]), prev_day_evals=dict(v["pd"]),
            late=v["late"], applied=v.get("ap", -1), peers={g: list(x) for g, x in v.get("pe", {}).items()},
        )


class PartitionEngine:
    """Owns the keys of one partition: folds deltas in, evaluates ticks, keeps episodes.

    *load* fetches a key's persisted state (``KeyState.to_dict()`` form) or None; the
    stream passes its table, offline runs pass nothing. After ``apply``, ``take_dirty()``
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
    ) -> None:
        self.partition = partition
        self.config = config
        # A term names a demand only if it is a named practice or problem (the domain
        # dictionary: 强制办卡, 先用后付, 含绒量不足); any other word surging is a hot word.
        self.named_terms = domain_words() if named_terms is None else named_terms
        self._load = load or (lambda _k: None)
        self.calendar = load_calendar(config.calendar)
        self.rhythm = Rhythm(day_factor=self.calendar.factor)
        self.clock = Clock.from_dict(clock, self.rhythm) if clock else Clock()
        self.states: dict[str, KeyState] = {}
        self._dirty: set[str] = set()
        # Keys cut down to (label, district, category, peer), KeyState's own order; with a store
        # (*load*) only until take_dirty hands their stub states over, offline for good.
        self.stubs: dict[str, tuple[str, str, str, float | None]] = {}
        self._stubbed: set[str] = set()  # cut since the last take_dirty
        self._keep_stubs = load is None
        self._half_life = config.half_life_days * BUCKETS_PER_DAY
        self._forget = round(config.forget_days * BUCKETS_PER_DAY)
        # Each window's exposure per category at the current tick (see _exposures).
        self._window_exposures: dict[str, list[tuple[int, float]]] = {}

    # ---- state

    def state(self, tk: str, dim: str = "", key: str = "") -> KeyState:
        s = self.states.get(tk)
        if s is None:
            stub = self.stubs.pop(tk, ())
            raw = None if stub else self._load(tk)
            if raw is not None:
                s = KeyState.from_dict(raw)
            else:
                if not dim:
                    dim, _, key = tk.partition(":")
                s = KeyState(dim, key, *stub)
            self.states[tk] = s
        return s

    def take_dirty(self) -> dict[str, dict[str, Any]]:
        """Serialised states changed since the last call (to persist), keyed by table key;
        a key cut down to a stub gives its stub state."""
        out = {tk: self.states[tk].to_dict() for tk in self._dirty}
        for tk in self._stubbed - self._dirty:
            stub = self.stubs[tk] if self._keep_stubs else self.stubs.pop(tk)
            dim, _, key = tk.partition(":")
            out[tk] = KeyState(dim, key, *stub).to_dict()
        self._dirty.clear()
        self._stubbed.clear()
        return dict(sorted(out.items()))

    def clock_dict(self) -> dict[str, Any]:
        return self.clock.to_dict(self.rhythm)

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
        due, last_tick, states, dirty = clock.due, clock.last_tick, self.states, self._dirty
        for dim, key, deltas in msg["k"] if msg.get("v") == 2 else _v2_keys(msg["k"]):
            tk = f"{dim}:{key}"  # table_key, inlined: once per key per message
            s = states.get(tk) or self.state(tk, dim, key)
            for raw in deltas:
                s.add_raw(raw)
                due_at = raw[0]
                if last_tick >= 0 and due_at <= last_tick:  # late: its bucket's tick is past; judged at the next one
                    clock.late += raw[1]
                    due_at = last_tick + 1
                keys = due.get(due_at)
                if keys is None:
                    due[due_at] = {tk}
                else:
                    keys.add(tk)
            dirty.add(tk)
        for src, (ts, idle, *top) in msg["w"].items():
            old = clock.sources.get(src)
            if old is None:
                clock.sources[src] = old = [None, idle, []]
            elif len(old) < 3:  # stored before sources carried their newest times
                old.append([])
            if ts is not None and (old[0] is None or ts > old[0]):
                old[0] = ts
            old[1] = idle
            if top and top[0]:
                front = Front(old[2])
                front.update(top[0])
                old[2] = front.newest
        return self._advance(self._target_tick())

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
        for v in self.clock.sources.values():
            v[1] = True
        return self._advance(self._target_tick())

    def _target_tick(self) -> int | None:
        srcs = self.clock.sources
        if len(srcs) < self.config.sources:
            return None
        seen = [v[0] for v in srcs.values() if v[0] is not None]
        if not seen:
            return None
        active = [v[0] for v in srcs.values() if not v[1]]
        if active:
            if any(ts is None for ts in active):
                return None
            return bucket_of(min(active) - self.config.lateness_seconds) - 1
        # All quiet: the bucket of the reach of everything every source carried is as
        # complete as it gets. Merged from each source's newest times, it is the reach one
        # reader of all the input would have (offline: the file's), however the input
        # was split; the sources' own fronts would not give it.
        together = Front()
        for v in srcs.values():
            together.merge(v[2] if len(v) > 2 else ())
        reach = together.reach
        return bucket_of(reach if reach is not None else max(seen))

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
        # Skipped buckets had no tickets: the rhythm only needs to know time moved on.
        if nxt - 1 > last:
            self.rhythm.learn(nxt - 1, 0.0)

    # ---- a tick

    def _tick(self, t: int) -> list[Decision]:
        clock = self.clock
        self._window_exposures.clear()  # the rhythm changes between ticks
        keys = clock.due.pop(t, set())
        day = t // BUCKETS_PER_DAY
        if day != clock.day:
            # Only the day just before counts, however many empty ticks were skipped.
            clock.prev_day_evals = dict(clock.day_evals) if day == clock.day + 1 else {}
            clock.day_evals = {}
            clock.day = day
            self._drop_stale(t, keys)
        out: list[Decision] = []
        tickets = 0  # every key's tickets in this bucket: only the shape of the rhythm matters
        # The hot loop (every key with tickets in the bucket): names bound once.
        cfg = self.config
        min_people, longest, evals, states = cfg.min_people, cfg.longest, clock.day_evals, self.states
        dirty, learn = self._dirty, self._learn
        # Nothing is judged during the warm-up (baselines are still empty: everything would
        # look new). After it, keys that cannot be found anomalous are screened out before
        # _judge (_may_find). Firms and keys with open episodes are always judged.
        judging = t - clock.first_tick >= cfg.warmup_days * BUCKETS_PER_DAY
        forget = self._forget
        for tk in sorted(keys):
            s = states.get(tk) or self.state(tk)
            # Back after forget_days: start afresh (see the class docstring). A key whose
            # oldest bucket held is that recent has no such gap: one comparison for most.
            first = s.order[0] if s.order else t + 1
            if first < t - forget or (first == t and 0 <= s.learned_to < t - forget):
                self._renew(s, t)
            evals[s.dim] = evals.get(s.dim, 0) + 1
            b = s.get(t)
            if b is not None:
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
            if not s.episodes and (s.retained < min_people or s.count(t, longest) < min_people):
                # Most keys: too few tickets to matter. Learning waits (it catches up in one
                # step) but never more than two days, so old buckets are pruned.
                if t - s.learned_to > 2 * BUCKETS_PER_DAY:
                    learn(s, t - longest)
                    s.prune(s.learned_to + 1)
                    dirty.add(tk)
                continue
            learn(s, t - longest)
            if judging and (s.episodes or s.dim == FIRM or self._may_find(s, t)):
                out.extend(self._judge(s, t))
            s.prune(s.learned_to + 1)  # after judging: evidence reaches back to an episode's start
            dirty.add(tk)
        for tk in sorted(clock.open):
            s = self.state(tk)
            for ek in sorted(s.episodes):
                ep = s.episodes[ek]
                if t - ep.last_data_bucket >= self.config.quiet_buckets:
                    out.append(self._resolved(s, ep, t))
                    del s.episodes[ek]
                    self._dirty.add(tk)
            if not s.episodes:
                clock.open.discard(tk)
        self.rhythm.learn(t, float(tickets))
        return out

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
        stale = [tk for tk, s in self.states.items() if (s.order[-1] if s.order else s.learned_to) < before]
        if not stale:
            return
        clock = self.clock
        keep = clock.open.union(due_now, *clock.due.values())
        for tk in stale:
            s = self.states[tk]
            if s.episodes or tk in keep:
                continue
            del self.states[tk]
            self.stubs[tk] = (s.label, s.district, s.category, s.peer)
            self._dirty.discard(tk)
            self._stubbed.add(tk)

    def _learn(self, s: KeyState, upto: int) -> None:
        """Feed the key's closed history up to *upto* into its baseline, skipping episodes."""
        # A key first seen today was watched, with nothing to report, since the partition began.
        start = s.learned_to if s.learned_to >= 0 else min(s.first_bucket - 1, self.clock.first_tick)
        if upto <= start:
            return
        decay = math.pow(0.5, (upto - start) / self._half_life)
        s.base_count *= decay
        s.base_people *= decay
        s.base_exposure *= decay
        # Only a firm's issues are judged (_judge_issues): other keys, most of them terms
        # judged at every tick, need not learn theirs.
        issues = s.base_issues if s.dim == FIRM else None
        if issues:
            for i in issues:
                issues[i] *= decay
        stop = upto
        if s.episodes:  # an ongoing episode must not inflate its own baseline
            stop = min(upto, min(e.start_bucket for e in s.episodes.values()) - 1)
        if stop > start:
            watched = s.base_exposure
            s.base_exposure += self.calendar.exposure(self.rhythm, start, stop, s.category)
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

    def _prior(self, s: KeyState) -> Prior:
        """The prior of a key's rate: for a firm, the Gamma its peers' rates fit (firms of its
        product category in its district, else in any district), else the default.

        Fitted by moments (empirical Bayes): mean m and variance v of the peers' rates give
        a prior worth m / v buckets. Alike peers give a firm with no history a firm
        expectation; peers as varied as firm volumes usually are weigh next to nothing
        against a firm's own history. Peers only ever raise the default: that a firm's
        category is quiet is no reason to find five complaints at it more alarming than
        the default prior does (small firms' chance bursts are the commonest false alarm).
        """
        default = PRIORS[s.dim]
        if s.dim == FIRM and s.category:
            peers = self.clock.peers
            for group in (f"{s.category}|{s.district}", f"{s.category}|"):
                g = peers.get(group)
                if g is not None and g[0] >= PEER_MIN:
                    mean = g[1] / g[0]
                    if mean <= default.rate:
                        break
                    var = g[2] / g[0] - mean * mean
                    return Prior(mean, PEER_WEIGHT if var * PEER_WEIGHT <= mean else mean / var)
        return default

    def _alpha(self, dim: str) -> float:
        """Per-test false-alarm rate: the daily budget spread over the judgements made per day.

        Every key with tickets in a bucket is judged at that tick, so a busy key is tested
        many times a day; the budget of an alert type is split over the (key, tick)
        judgements of every dimension that can raise it, counted in this partition and
        scaled by the partition count (keys are spread evenly by the hash).
        """
        clock = self.clock
        tests = sum(max(clock.day_evals.get(d, 0), clock.prev_day_evals.get(d, 0)) for d in _RAISES_ALIKE[dim])
        return self.config.false_alarms_per_day / max(100, self.config.partitions * tests)

    def _exposures(self, t: int, category: str) -> list[tuple[int, float]]:
        """Each window's (calendar-weighted) exposure at tick *t* for keys of *category*:
        the same for every such key of the tick, so computed once per tick and category."""
        windows = self._window_exposures.get(category)
        if windows is None:
            windows = self._window_exposures[category] = [
                (w, self.calendar.exposure(self.rhythm, t - w, t, category)) for w in self.config.windows]
        return windows

    def _suspect_windows(self, s: KeyState, t: int) -> Iterator[tuple[int, int, float, float]]:
        """(window, tickets, shape, mean) of each window whose ticket count ``_count_clears``
        against the people ``_judge`` expects (people never outnumber tickets)."""
        cfg = self.config
        prior = self._prior(s)
        order, counts = s.order, s.counts
        hi = bisect_right(order, t)
        for w, exposure in self._exposures(t, s.category):
            n = sum(counts[bisect_right(order, t - w, 0, hi):hi])  # s.count(t, w)
            if n >= cfg.min_people:
                r, mean = predictive(s.base_people, s.base_exposure, prior, exposure)
                r = min(r, cfg.dispersion)
                if _count_clears(n, mean, r):
                    yield w, n, r, mean

    def _may_find(self, s: KeyState, t: int) -> bool:
        """Could ``_judge`` find anything on *s*? For keys other than firms (a firm's issues are judged apart).

        Most keys judged at a tick are common terms at their usual rate: more than nine in
        ten have no suspect window and stop here, before ``_judge``'s budget and people sets.
        """
        return next(self._suspect_windows(s, t), None) is not None

    def _judge(self, s: KeyState, t: int) -> list[Decision]:
        """Findings on *s* at tick *t*, past the warm-up (``_tick`` judges nothing before it)."""
        cfg = self.config
        findings: list[_Finding] = []
        best: _Finding | None = None
        for w, n, r, mean in self._suspect_windows(s, t):
            lo = t - w
            buckets = s.between(lo, t)
            people: set[str] = set()
            for bk in buckets:
                people |= bk.people
            k = len(people)
            if k < cfg.min_people or k <= mean:
                continue
            if s.dim != FIRM:
                firms: dict[str, int] = {}
                for bk in buckets:
                    for firm, c in bk.firms.items():
                        firms[firm] = firms.get(firm, 0) + c
                total = sum(firms.values())
                top = max(firms.values()) if firms else 0
                if total and top / total >= cfg.firm_share_explains and firms.get("-", 0) != top:
                    continue  # one firm's story: its group dispute explains it
                kind = CONCENTRATED_DEMAND if len(firms) - ("-" in firms) >= cfg.min_firms else TERM_SURGE
                if s.dim == TERM and s.key not in self.named_terms:
                    kind = TERM_SURGE
                if kind == TERM_SURGE and s.dim != TERM:
                    continue
            else:
                kind = GROUP_DISPUTE
            lp = log_nb_sf(k, r=r, mean=mean)
            if best is None or lp < best.log_p:
                best = _Finding(kind, s.dim, s.key, s.label, w, k, mean, lp)
        n_tests = len(cfg.windows)
        alpha = self._alpha(s.dim)
        if best is not None and best.log_p + math.log(n_tests) < math.log(alpha):
            findings.append(best)
        elif s.dim == FIRM:
            issue_finding = self._judge_issues(s, t, alpha)
            if issue_finding is not None:
                findings.append(issue_finding)
        out: list[Decision] = []
        for finding in findings:
            out.extend(self._episode(s, t, finding, n_tests))
        return out

    def _judge_issues(self, s: KeyState, t: int, alpha: float) -> _Finding | None:
        """One issue surging at a firm under its normal total volume (firm x issue)."""
        cfg = self.config
        firm_prior = self._prior(s)
        # An issue's prior is a share of the firm's own learned rate, not the new-firm prior:
        # a busy firm with no 质量 complaints yet is not a firm where one is a surprise.
        firm_rate = (firm_prior.shape + s.base_people) / (firm_prior.weight + s.base_exposure)
        issue_prior = Prior(max(firm_rate * ISSUE_SHARE, firm_prior.rate), 2 * BUCKETS_PER_DAY)
        best: _Finding | None = None
        for w, exposure in self._exposures(t, s.category):
            counts: dict[str, int] = {}
            for _, bk in s.window(t, w):
                for i, c in bk.issues.items():
                    counts[i] = counts.get(i, 0) + c
            for issue, k in counts.items():
                if k < cfg.min_people:
                    continue
                r, mean = predictive(s.base_issues.get(issue, 0.0), s.base_exposure, issue_prior, exposure)
                if k <= mean:  # people never outnumber tickets: no need to count them
                    continue
                people = self._issue_people(s, t, w, issue)
                if people < cfg.min_people or people <= mean:
                    continue
                r = min(r, cfg.dispersion)
                lp = log_nb_sf(people, r=r, mean=mean)
                if best is None or lp < best.log_p:
                    best = _Finding(GROUP_DISPUTE, FIRM_ISSUE, f"{s.key}|{issue}", f"{s.label}·{issue}",
                                    w, people, mean, lp, issue)
        n_tests = len(cfg.windows) * 4  # a few issues per firm compete
        if best is not None and best.log_p + math.log(n_tests) < math.log(alpha):
            return best
        return None

    @staticmethod
    def _issue_people(s: KeyState, t: int, w: int, issue: str) -> int:
        # Buckets keep issue counts, not who raised which issue: bound people by both.
        n = 0
        people: set[str] = set()
        for _, bk in s.window(t, w):
            c = bk.issues.get(issue, 0)
            if c:
                n += c
                people |= bk.people
        return min(n, len(people))

    # ---- episodes and evidence

    def _episode(self, s: KeyState, t: int, f: _Finding, n_tests: int) -> list[Decision]:
        ek = f"{f.type}|{f.subject_key}"
        ep = s.episodes.get(ek)
        window = s.window(t, f.width)
        buckets = [bk for _, bk in window]
        first = next(b for b, bk in window if bk.n)
        severity = self._severity(f, buckets)
        if ep is None:
            aid = alert_id(f.type, f.dimension, f.subject_key, bucket_start(first))
            ep = Episode(f.type, f.dimension, f.subject_key, aid, first, t, f.observed, severity, t, f.observed)
            s.episodes[ek] = ep
            self.clock.open.add(table_key(s.dim, s.key))
            status = OPEN
        else:
            ep.last_data_bucket = t
            grew = f.observed >= ep.last_people * self.config.update_growth
            worse = _SEVERITY_RANK[severity] > _SEVERITY_RANK[ep.last_severity]
            if not (grew or worse):
                return []
            ep.last_people = max(ep.last_people, f.observed)
            ep.last_severity = severity if worse else ep.last_severity
            status = UPDATE
        ep.last_observed = f.observed
        return [self._decision(s, ep, t, f, status, severity, n_tests)]

    def _severity(self, f: _Finding, buckets: list[Any]) -> str:
        amount = sum(bk.amount for bk in buckets)
        terms = set()
        for bk in buckets:
            terms.update(bk.terms)
        if f.type == GROUP_DISPUTE:
            if f.observed >= 30 or amount >= 500_000 or (terms & SAFETY_TERMS and f.observed >= 10):
                return CRITICAL
            if f.observed >= 12 or amount >= 100_000:
                return WARNING
            return INFO
        if f.observed >= 100:
            return CRITICAL
        if f.observed >= 20:
            return WARNING
        return INFO

    def _evidence(self, s: KeyState, lo: int, hi: int, issue: str | None) -> dict[str, Any]:
        ids: list[str] = []
        terms: dict[str, int] = {}
        districts: dict[str, int] = {}
        issues: dict[str, int] = {}
        firms: set[str] = set()
        people: set[str] = set()
        amount = 0.0
        for bk in s.between(lo - 1, hi):
            if issue is not None and not bk.issues.get(issue):
                continue
            if len(ids) < MAX_EVIDENCE:  # sorted: arrival order within a bucket is not the data's
                ids.extend(sorted(bk.ids)[: MAX_EVIDENCE - len(ids)])
            for src, dst in ((bk.terms, terms), (bk.districts, districts), (bk.issues, issues)):
                for k, v in src.items():
                    dst[k] = dst.get(k, 0) + v
            firms.update(f for f in bk.firms if f != "-")
            people |= bk.people
            amount += bk.amount
        top_terms = tuple(k for k, _ in sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
        total = sum(districts.values())
        district = None
        if total:
            d, c = max(districts.items(), key=lambda kv: (kv[1], kv[0]))
            district = d if c / total >= 0.8 else None
        top_issue = max(issues.items(), key=lambda kv: (kv[1], kv[0]))[0] if issues else None
        return {"ids": tuple(ids), "terms": top_terms, "district": district, "firms": len(firms),
                "people": len(people), "amount": amount, "issue": top_issue}

    def _decision(self, s: KeyState, ep: Episode, t: int, f: _Finding, status: str, severity: str,
                  n_tests: int) -> Decision:
        ev = self._evidence(s, ep.start_bucket, t, f.issue)
        # Bonferroni over the windows tried; the score keeps its order however small p gets.
        log_p = min(0.0, f.log_p + math.log(n_tests))
        return Decision(
            alert_id=ep.alert_id, type=f.type, status=status, severity=severity,
            dimension=f.dimension, key=f.subject_key, label=f.label or f.subject_key,
            district_code=ev["district"],
            window_start=bucket_start(t - f.width + 1), window_end=bucket_start(t + 1),
            raised_at=bucket_start(t + 1), observed=f.observed, expected=round(f.expected, 3),
            score=score_of_log_p(log_p), distinct_complainants=ev["people"], ticket_ids=ev["ids"],
            top_terms=ev["terms"] if s.dim != TERM else (s.key, *[x for x in ev["terms"] if x != s.key][:7]),
            firms=ev["firms"], amount=ev["amount"], top_issue=f.issue or ev["issue"],
        )

    def _resolved(self, s: KeyState, ep: Episode, t: int) -> Decision:
        ev = self._evidence(s, ep.start_bucket, ep.last_data_bucket, None)
        label = s.label if ep.dimension == s.dim else f"{s.label}·{ep.subject_key.rsplit('|', 1)[-1]}"
        return Decision(
            alert_id=ep.alert_id, type=ep.type, status=RESOLVED, severity=ep.last_severity,
            dimension=ep.dimension, key=ep.subject_key, label=label, district_code=ev["district"],
            window_start=bucket_start(ep.start_bucket), window_end=bucket_start(ep.last_data_bucket + 1),
            raised_at=bucket_start(t + 1), observed=ep.last_observed, expected=0.0, score=0.0,
            distinct_complainants=ev["people"], ticket_ids=ev["ids"], top_terms=ev["terms"],
            firms=ev["firms"], amount=ev["amount"], top_issue=ev["issue"],
        )


def _count_clears(n: int, mean: float, r: float) -> bool:
    """Whether *n* tickets in a window are remarkable enough for ``_judge`` to look at its people.

    Above the *mean*, and by three standard deviations of the Negative Binomial (shape *r*)
    once the mean is large enough for that to mean something.

    >>> _count_clears(5, 0.4, 3.0), _count_clears(12, 8.0, 3.0), _count_clears(30, 8.0, 3.0)
    (True, False, True)
    """
    return n > mean and (mean < 3.0 or n - mean >= 3.0 * math.sqrt(mean + mean * mean / r))


# --------------------------------------------------------------------------- offline


class OfflineEngine:
    """Aggregator and partition engines in one process: what ``earlywarn detect`` runs.

    Feeding it the tickets the stream reads, in batches of any size, gives the decisions
    the stream gives (routing uses the stream's partitioner and partition count). It owns
    every partition, or only *partitions* (``detect``'s worker processes split them):
    ``apply`` and ``finish_partitions`` give what its engines decide, and ``advance`` and
    ``finish`` pass that through the alert stage, which only an owner of every partition has.
    """

    def __init__(self, config: DetectConfig, route: Callable[[str], int],
                 partitions: Iterable[int] | None = None) -> None:
        config = replace(config, sources=1)  # one reader: the file is its only source
        self.config = config
        self.aggregator = Aggregator(config, route)
        owned = range(config.partitions) if partitions is None else sorted(partitions)
        self.engines = {p: PartitionEngine(p, config) for p in owned}
        from detectors.stage import AlertStage  # stage.py builds on this module

        self.stage = AlertStage(config.partitions)
        self._front = Front()  # the file's event-time front (detectors.front)

    def feed(self, batch: Iterable[Enriched]) -> list[Decision]:
        front = Front()
        for e in batch:
            self.aggregator.add(e)
            front.add(e.ts)
        return self.advance(self.aggregator.drain({}), front.newest)

    def apply(self, msgs: dict[int, dict[str, Any]], newest: Iterable[float] | None) -> list[tuple[int, float, list[Decision]]]:
        """Apply one batch's delta messages (``Aggregator.drain``, from this aggregator or
        another process's), whose tickets' newest event times are *newest* (a batch's
        ``Front.newest``), to the partitions owned.

        Returns (partition, the event time it is done to, its decisions) per owned
        partition, in partition order: what ``AlertStage.offer`` takes.
        """
        if newest:
            self._front.merge(newest)
        watermarks = {"0": [self._front.value, False, self._front.newest]}
        out = []
        for p, msg in sorted(msgs.items()):
            eng = self.engines.get(p)
            if eng is not None:
                msg["w"] = watermarks
                decided = eng.apply(msg)
                out.append((p, eng.done_to(), decided))
        return out

    def advance(self, msgs: dict[int, dict[str, Any]], newest: Iterable[float] | None) -> list[Decision]:
        """``apply``, through the alert stage."""
        out: list[Decision] = []
        for p, done_to, decided in self.apply(msgs, newest):
            out.extend(self.stage.offer(p, done_to, decided))
        return out

    def finish_partitions(self) -> list[Decision]:
        """End of input: the owned engines' last decisions, in partition order."""
        return [d for eng in self.engines.values() for d in eng.finish()]

    def finish(self) -> list[Decision]:
        return self.stage.finish(self.finish_partitions())


def decision_order(d: Decision) -> tuple[float, str, str]:
    """A total order on decisions that does not depend on partitions or arrival."""
    return (d.raised_at, d.alert_id, d.status)


__all__ = [
    "PLATFORM_TERM", "Aggregator", "BUCKET_SECONDS", "Decision", "DetectConfig", "Enriched", "OfflineEngine",
    "PartitionEngine", "decision_order", "table_key",
]
