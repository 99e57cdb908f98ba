"""Event-time buckets and the per-key state the windows are counted in: window maths, no storage.

Time is cut into fixed buckets of ``BUCKET_SECONDS`` by each ticket's ``received_at``
(never the wall clock), so replaying history gives the counts live running would have.
A key (a firm, a product, a term, ...) keeps the buckets of its recent past, each with
its ticket count, the distinct complainants (pseudonyms), evidence ticket ids, and small
counters of the terms, firms, issues and districts seen, enough to explain an alert.
How a key's state is stored is ``detectors.wire`` (its format) and ``detectors.store``
(where it lives); nothing here reads or writes either.

>>> from detectors.wire import Delta
>>> s = KeyState("firm", "91310115MA1K3ABCD8")
>>> s.add(Delta(bucket=10, n=2, people=["p_a", "p_b"], ids=["T1", "T2"], terms={"闭店": 2}))
>>> s.add(Delta(bucket=11, n=1, people=["p_a"], ids=["T3"], terms={"退费": 1}))
>>> s.count(11, 2), s.people(11, 2)
(3, 2)
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

BUCKET_SECONDS = 900  # 15 minutes: fine enough for a two-hour detection delay
BUCKETS_PER_DAY = 86400 // BUCKET_SECONDS
# Evidence kept per bucket (an alert carries at most 200): a bucket with more keeps the least
# ids, so which does not depend on the order its tickets came in (a date-only day is one bucket).
MAX_IDS_PER_BUCKET = 64
MAX_COUNTER = 24  # distinct terms / firms / issues / districts kept per bucket
# A delta's person for a ticket with no identity (no id, phone or name): it keeps the
# delta's people aligned with its ids (``detectors.wire.without_tickets``); a bucket's
# people never hold it, so such a ticket counts as a ticket and as evidence, not as a person.
NO_ONE = ""
# A firm's days (KeyState.days, for detectors.slow): kept this many, each with up to DAY_CAP people.
KEEP_DAYS = 60
DAY_CAP = 48


def bucket_of(ts: float) -> int:
    """The bucket index of an event time in epoch seconds."""
    return int(ts // BUCKET_SECONDS)


def bucket_start(b: int) -> float:
    return float(b * BUCKET_SECONDS)


def _merge_counter(into: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _heavy(counter: dict[str, int]) -> dict[str, int]:
    """The ``MAX_COUNTER`` heavy hitters of *counter*, ties broken by name: what a bucket
    keeps of a counter once all its tickets are in (``Bucket.settle``).

    >>> kept = _heavy({**{f"t{i:02}": 1 for i in range(30, 0, -1)}, "z": 2})
    >>> len(kept), list(kept)[:3], list(kept)[-1]
    (24, ['z', 't01', 't02'], 't23')
    """
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_COUNTER])


class Bucket:
    """One key's tickets in one bucket (a plain slotted class: made for every new key-bucket).

    Its label and category are the least (in code point order) of those its tickets give,
    so they do not depend on the order tickets arrive in: a key takes them at the
    bucket's tick, when all its tickets are in, and they are dropped then.
    """

    __slots__ = ("n", "people", "ids", "terms", "firms", "issues", "districts", "amount", "label", "category")

    def __init__(self, n: int, people: set[str], ids: list[str], terms: dict[str, int], firms: dict[str, int],
                 issues: dict[str, int], districts: dict[str, int], amount: float, label: str = "",
                 category: str = "") -> None:
        self.n = n
        self.people = people
        self.ids = ids
        self.terms = terms
        self.firms = firms
        self.issues = issues
        self.districts = districts
        self.amount = amount
        self.label = label
        self.category = category

    @classmethod
    def of(cls, d: list[Any]) -> Bucket:
        """A new bucket holding one delta (wire form, ``detectors.wire.Delta``), with the
        counters as merging into empty ones would leave them. It takes the delta's lists and
        dicts over rather than copying them: a delta is applied once, and most key-buckets
        are made by one."""
        _, n, people, ids, terms, firms, issues, districts, amount, label, category = d
        who = set(people)
        who.discard(NO_ONE)
        return cls(n, who, ids if len(ids) <= MAX_IDS_PER_BUCKET else sorted(ids)[:MAX_IDS_PER_BUCKET],
                   terms, firms, issues, districts, 0.0 + amount, label, category)

    def settle(self) -> None:
        """At the bucket's tick, when all its tickets are in: its counters keep their heavy
        hitters only. Not before: which of many equal counts to keep would then depend on
        the order and batching tickets arrived in (the stream's from ``detect``'s)."""
        cap = 2 * MAX_COUNTER
        if len(self.terms) > cap:
            self.terms = _heavy(self.terms)
        if len(self.firms) > cap:
            self.firms = _heavy(self.firms)
        if len(self.issues) > cap:
            self.issues = _heavy(self.issues)
        if len(self.districts) > cap:
            self.districts = _heavy(self.districts)


@dataclass(slots=True)
class Episode:
    """An open alert episode on this key: one alert id from open to resolved."""

    type: str
    dimension: str  # the subject's dimension: a firm key also carries firm_issue episodes
    subject_key: str
    alert_id: str
    start_bucket: int  # first bucket of the window that opened it
    opened_at: int  # the tick (bucket) it opened at
    last_people: int
    last_severity: str
    last_data_bucket: int  # the last tick it was found anomalous; quiet is counted from here
    last_observed: int = 0
    # The episode as a whole, folded in as it goes (its buckets are pruned before it resolves):
    # its peak, everyone in it, its first evidence ids, the buckets folded in so far, its last terms.
    peak: int = 0
    people: set[str] = field(default_factory=set)
    ids: list[str] = field(default_factory=list)
    folded_to: int = -1
    terms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.people, set):  # stored as a sorted list (detectors.wire)
            self.people = set(self.people)
        self.terms = tuple(self.terms)


@dataclass(slots=True)
class KeyState:
    """Everything kept for one key of one dimension.

    The buckets are three parallel lists: ``order``, the bucket indices ascending;
    ``counts``, their ticket counts; ``slots``, the ``Bucket``s. A window is two bisections
    and a C-level slice, and learning and pruning touch only the buckets they learn or drop
    (pruning is one slice deletion). A busy key holds a few hundred buckets (a day of
    windows plus up to two days of lazy learning) and is evaluated at every tick, so passes
    over all of them were most of the cost. Only ``add_raw``, ``prune``, ``renew`` and
    ``detectors.wire.decode_key`` change the buckets, and they keep the three in step.
    """

    dim: str
    key: str
    label: str = ""
    district: str = ""  # the district most of its tickets come from, when one
    category: str = ""  # product category, for peer priors
    peer: float | None = None  # the rate a firm counts in its peer groups with (of its category and district)
    retained: int = 0  # tickets in the buckets kept: an O(1) upper bound on any window's count
    # Baseline: exponentially forgotten ticket count and exposure (in buckets), learned
    # from closed buckets outside episodes, up to and including ``learned_to``.
    base_count: float = 0.0
    base_people: float = 0.0
    base_exposure: float = 0.0
    base_issues: dict[str, float] = field(default_factory=dict)  # forgotten ticket count per issue
    learned_to: int = -1
    first_bucket: int = -1
    episodes: dict[str, Episode] = field(default_factory=dict)  # "type|subject key" -> open episode
    order: list[int] = field(default_factory=list, repr=False)  # the bucket indices, ascending
    counts: list[int] = field(default_factory=list, repr=False)  # ``slots[i].n``
    slots: list[Bucket] = field(default_factory=list, repr=False)  # the bucket at ``order[i]``
    # A firm's people by day (day index -> pseudonyms, or -1 for a day of more than DAY_CAP),
    # folded in from buckets as they are pruned, while the slow windows are on
    # (DetectConfig.long_days, detectors.slow); else None.
    days: dict[int, Any] | None = field(default=None, repr=False)

    def get(self, bucket: int) -> Bucket | None:
        """The bucket at index *bucket*, if kept."""
        order = self.order
        if order and order[-1] == bucket:
            return self.slots[-1]
        i = bisect_left(order, bucket)
        return self.slots[i] if i < len(order) and order[i] == bucket else None

    def add(self, d: Any) -> None:
        """Add a delta (``detectors.wire.Delta``); the state may keep its lists and dicts (see ``add_raw``)."""
        self.add_raw(d.to_list())

    def add_raw(self, d: list[Any]) -> None:
        """Add a delta in its wire form (``detectors.wire.Delta``'s fields in order): the hot
        path, no Delta made.

        The state may keep the delta's lists and dicts (``Bucket.of``): the caller hands them over.
        """
        bucket, n, people, ids, terms, firms, issues, districts, amount, label, category = d
        order = self.order
        self.retained += n
        if not order or bucket > order[-1]:  # the common case: a new bucket, the newest
            order.append(bucket)
            self.counts.append(n)
            self.slots.append(Bucket.of(d))
            if self.first_bucket < 0 or bucket < self.first_bucket:  # (all pruned, then a late one)
                self.first_bucket = bucket
            return
        i = len(order) - 1 if order[-1] == bucket else bisect_left(order, bucket)
        if order[i] != bucket:  # a late ticket's bucket, older than the newest kept
            order.insert(i, bucket)
            self.counts.insert(i, n)
            self.slots.insert(i, Bucket.of(d))
            if bucket < self.first_bucket:
                self.first_bucket = bucket
            return
        b = self.slots[i]
        b.n += n
        self.counts[i] += n
        b.people.update(people)
        b.people.discard(NO_ONE)
        if len(b.ids) + len(ids) <= MAX_IDS_PER_BUCKET:
            b.ids.extend(ids)
        else:  # a full bucket keeps the least ids, whatever order its tickets came in
            b.ids = sorted({*b.ids, *ids})[:MAX_IDS_PER_BUCKET]
        if terms:
            _merge_counter(b.terms, terms)
        if firms:
            _merge_counter(b.firms, firms)
        if issues:
            _merge_counter(b.issues, issues)
        if districts:
            _merge_counter(b.districts, districts)
        b.amount += amount
        if label and (not b.label or label < b.label):
            b.label = label
        if category and (not b.category or category < b.category):
            b.category = category

    def between(self, lo: int, hi: int) -> list[Bucket]:
        """The buckets in (lo, hi], oldest first."""
        order = self.order
        return self.slots[bisect_right(order, lo):bisect_right(order, hi)]

    def window(self, end: int, width: int) -> list[tuple[int, Bucket]]:
        """The (bucket index, bucket) pairs in (end - width, end], oldest first."""
        order = self.order
        i, j = bisect_right(order, end - width), bisect_right(order, end)
        return list(zip(order[i:j], self.slots[i:j]))

    def count(self, end: int, width: int) -> int:
        """Tickets in (end - width, end]."""
        order = self.order
        return sum(self.counts[bisect_right(order, end - width):bisect_right(order, end)])

    def people(self, end: int, width: int) -> int:
        seen: set[str] = set()
        for bk in self.between(end - width, end):
            seen |= bk.people
        return len(seen)

    def prune(self, before: int) -> None:
        """Forget buckets older than *before* (they have been learned already)."""
        order = self.order
        if not order or order[0] >= before:  # the common case at a tick: nothing to forget
            return
        i = bisect_left(order, before)
        self.retained -= sum(self.counts[:i])
        if self.days is not None:
            self._fold_days(i)
        del order[:i], self.counts[:i], self.slots[:i]

    def _fold_days(self, i: int) -> None:
        """Fold the people of the buckets before index *i* (about to be pruned) into ``days``."""
        days = self.days
        assert days is not None
        for b, bk in zip(self.order[:i], self.slots[:i]):
            if not bk.people:
                continue
            d = b // BUCKETS_PER_DAY
            day = days.get(d)
            if day is None:
                day = days[d] = set()
            elif day == -1:  # busy: no longer kept
                continue
            day |= bk.people
            if len(day) > DAY_CAP:
                days[d] = -1
        if days:
            newest = max(days)
            for d in [d for d in days if d <= newest - KEEP_DAYS]:
                del days[d]

    def renew(self, i: int) -> None:
        """Start afresh from the bucket at index *i*: the buckets before it and all that was
        learned are dropped (the label, category, district and peer contribution stay)."""
        del self.order[:i], self.counts[:i], self.slots[:i]
        self.retained = sum(self.counts)
        self.base_count = self.base_people = self.base_exposure = 0.0
        self.base_issues = {}
        self.learned_to = -1
        self.first_bucket = self.order[0] if self.order else -1
        if self.days is not None:
            self.days = {}
