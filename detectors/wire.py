"""The internal wire formats, field by field, and every shim for older versions of them.

Three formats leave the engine and come back: the **delta message** (ingest -> windows, one
per partition per batch), a key's **stored state** and a partition's **clock** (both in the
state table's changelog). They are compact JSON: positional lists and short keys, because
they are written and read for every batch and every flush. This module is the one place
that knows those positions and keys; everything else reads named fields. The bytes are
the same as they always were, so messages and states written before still load: the
shims that read older versions are here too, and nowhere else.

Delta message (``delta_message``, ``message_keys``, ``message_sources``)::

    {"v": 2,                                      # DELTA_VERSION
     "w": {source: [front | None, idle, newest]}, # each source's event-time progress
     "k": [[dim, key, [delta, ...]], ...],        # each key's deltas, a Delta.to_list() each
     "t": {ticket id: facts},                     # optional: the facts (``facts``) of the tickets
                                                  #   in deltas of more than one ticket
     "h": [ticket id, ...],                       # optional: the tickets whose first key is here
                                                  #   (this partition counts them when they recur)
     "c": wall clock}                             # optional: the sender's wall clock, Unix seconds
                                                  #   (live: buckets close by it when input pauses)

  ``t`` and ``h`` are what deduplication by ticket id needs (``PartitionEngine.apply``); a
  message without them (written before) is folded in as it is.

  version 1 (before labels moved into each delta) carried ``[dim, key, label, category,
  deltas]`` with nine-field deltas; a source written before ``newest`` was ``[front, idle]``.

Stored key state (``encode_key`` / ``decode_key``)::

    {"d": dim, "k": key, "l": label, "di": district, "c": category,
     "b": [bucket as a Delta.to_list(), people sorted, ...],
     "bc": base count, "bp": base people, "be": base exposure, "bi": {issue: base count},
     "lt": learned to, "fb": first bucket, "pj": peer rate | None,
     "dy": {day: [people sorted] | -1}  (a firm's days, detectors.slow; absent when none),
     "ep": {"type|subject key": [Episode's fields in order]}}

  older states: buckets of nine fields (no label, category), no "pj", episodes of ten
  fields (no peak, people, ids, folded_to, terms: they start empty).

Partition clock (``encode_clock`` / ``decode_clock``)::

    {"s": {source: [front | None, idle, newest]}, "t": last tick, "ft": first tick,
     "d": {bucket: [table keys due]}, "o": [keys with open episodes], "day": day,
     "de": {dim: judgements today}, "pd": {dim: judgements the day before}, "late": late deltas,
     "r": the rhythm (Rhythm.to_dict), "ap": last offset applied, "pe": {peer group: [n, sum, sum of squares]},
     "sb": [buckets whose ticket ids are kept], "dup": duplicate tickets, "exp": expired key-deltas}

  older clocks: no "ap", no "pe", no "sb", "dup" or "exp", sources of two fields. The ids
  of the tickets of each bucket in "sb" are a record of their own (``PartitionEngine``'s
  ``take_seen``), so the clock stays small.

>>> from detectors.windows import KeyState
>>> s = KeyState("firm", "F1")
>>> s.add(Delta(bucket=10, n=2, people=["p_b", "p_a"], ids=["T1", "T2"], terms={"闭店": 2}))
>>> stored = encode_key(s)
>>> stored["b"]
[[10, 2, ['p_a', 'p_b'], ['T1', 'T2'], {'闭店': 2}, {}, {}, {}, 0.0, '', '']]
>>> encode_key(decode_key(stored)) == stored
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from sys import intern
from typing import Any

from detectors.baseline import Rhythm
from detectors.clock import Clock, Source
from detectors.dated import Dated
from detectors.gaps import Gaps
from detectors.windows import Bucket, Episode, KeyState

DELTA_VERSION = 2


def table_key(dim: str, key: str) -> str:
    """The key a dimension's key is routed and stored under."""
    return f"{dim}:{key}"


def split_table_key(tk: str) -> tuple[str, str]:
    """(dimension, key) of a table key."""
    dim, _, key = tk.partition(":")
    return dim, key


@dataclass(slots=True)
class Delta:
    """What one batch of tickets adds to one key's one bucket; on the wire, ``to_list()``.

    The aggregator fills one per key and bucket of a batch (mutable, slotted: it is the
    ingest hot path); the windows read the list form without making one
    (``KeyState.add_raw``).
    """

    bucket: int
    n: int = 0
    people: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    terms: dict[str, int] = field(default_factory=dict)
    firms: dict[str, int] = field(default_factory=dict)
    issues: dict[str, int] = field(default_factory=dict)
    districts: dict[str, int] = field(default_factory=dict)
    amount: float = 0.0
    label: str = ""  # the least of its tickets' labels (see windows.Bucket)
    category: str = ""  # the least of its tickets' product categories

    def to_list(self) -> list[Any]:
        return [self.bucket, self.n, self.people, self.ids, self.terms, self.firms,
                self.issues, self.districts, self.amount, self.label, self.category]

    @classmethod
    def from_list(cls, v: list[Any]) -> Delta:
        return cls(*v)


# ---- the delta message


def delta_message(watermarks: dict[str, list[Any]]) -> dict[str, Any]:
    """An empty delta message carrying *watermarks* (source -> [front, idle, newest]);
    ``add_key`` fills it."""
    return {"v": DELTA_VERSION, "w": watermarks, "k": []}


def add_key(msg: dict[str, Any], dim: str, key: str, deltas: list[list[Any]]) -> None:
    """Put one key's deltas (each a ``Delta.to_list()``) in a delta message."""
    msg["k"].append([dim, key, deltas])


def message_keys(msg: dict[str, Any]) -> list[list[Any]]:
    """The message's keys as [dim, key, deltas], whatever version wrote it."""
    keys: list[list[Any]] = msg["k"]
    if msg.get("v") == DELTA_VERSION:
        return keys
    # Version 1 (written before an upgrade): [dim, key, label, category, deltas]; each delta carries them now.
    return [[dim, key, [[*d, label, category] for d in deltas]] for dim, key, label, category, deltas in keys]


def share_strings(msg: dict[str, Any]) -> dict[str, Any]:
    """*msg* (a delta message just decoded) with its deltas' people and ticket ids interned
    (``sys.intern``): one string per pseudonym and per id in the process, however many
    keys' buckets hold it. Each decoding makes its own copies, and a ticket's person and id
    are in a bucket of each of its keys (a firm, a product, an issue, terms, a district):
    the stream's buckets held several copies of each. Returns *msg*.
    """
    if msg.get("v") == DELTA_VERSION:  # (a version-1 message is rebuilt by message_keys: left as it is)
        for _, _, deltas in msg["k"]:
            for d in deltas:
                d[2] = list(map(intern, d[2]))
                d[3] = list(map(intern, d[3]))
    return msg


def facts(amount: float, district: str, issue: str | None, firm: str | None, terms: tuple[str, ...]) -> list[Any]:
    """What one ticket adds to a key's delta besides its id and person: enough to take it out again."""
    return [amount, district, issue, firm, list(terms)]


def add_facts(msg: dict[str, Any], ids: list[str], tickets: dict[str, tuple[list[Any], str]],
              terms: bool = True) -> None:
    """Put the facts of the tickets *ids* in a delta message (*tickets*: id -> (facts, ...));
    without their terms when *terms* is false (a term's delta does not count terms), unless
    another delta of the message needs them."""
    table = msg.get("t")
    if table is None:
        table = msg["t"] = {}
    for tid in ids:
        full = tickets[tid][0]
        if terms:
            table[tid] = full
        elif tid not in table:
            table[tid] = [*full[:4], []]


def add_home(msg: dict[str, Any], tid: str) -> None:
    """Say in a delta message that ticket *tid*'s first key is in its partition."""
    home = msg.get("h")
    if home is None:
        msg["h"] = [tid]
    else:
        home.append(tid)


def without_tickets(raw: list[Any], dim: str, drop: set[int], table: dict[str, list[Any]]) -> list[Any]:
    """Key-delta *raw* (a ``Delta.to_list()`` of dimension *dim*) without the tickets at
    indices *drop* of its ids, each taken out by its facts in *table*; the sum of money is
    made again from the tickets kept, in their order, as the aggregator made it.

    >>> raw = Delta(5, 2, ["p1", "p2"], ["T1", "T2"], {"退费": 2, "闭店": 1}, {}, {"退费": 2}, {"310115": 2},
    ...             30.0, "F", "").to_list()
    >>> table = {"T1": facts(10.0, "310115", "退费", "F", ("退费", "闭店")), "T2": facts(20.0, "310115", "退费", "F", ("退费",))}
    >>> without_tickets(raw, "firm", {0}, table)
    [5, 1, ['p2'], ['T2'], {'退费': 1}, {}, {'退费': 1}, {'310115': 1}, 20.0, 'F', '']
    """
    bucket, _, people, ids, terms, firms, issues, districts, _, label, category = raw
    keep = [i for i in range(len(ids)) if i not in drop]
    terms, firms, issues, districts = dict(terms), dict(firms), dict(issues), dict(districts)
    counts_issues, counts_firms, counts_terms = dim in ("firm", "term"), dim != "firm", dim != "term"
    for i in drop:
        _, district, issue, firm, tterms = table[ids[i]]
        _less(districts, district)
        if counts_issues and issue:
            _less(issues, issue)
        if counts_firms:
            _less(firms, firm or "-")
        if counts_terms:
            for t in tterms:
                _less(terms, t)
    amount = 0.0
    for i in keep:
        amount += table[ids[i]][0]
    return [bucket, len(keep), [people[i] for i in keep], [ids[i] for i in keep], terms, firms, issues,
            districts, amount, label, category]


def _less(counter: dict[str, int], k: str) -> None:
    n = counter.get(k, 0) - 1
    if n > 0:
        counter[k] = n
    else:
        counter.pop(k, None)


def message_sources(msg: dict[str, Any]) -> Iterator[tuple[str, float | None, bool, list[float]]]:
    """(source, front, idle, newest event times) of each source the message reports on."""
    for src, (front, idle, *newest) in msg["w"].items():
        yield src, front, idle, newest[0] if newest else []  # [front, idle]: written before newest


# ---- a key's stored state


def encode_key(s: KeyState) -> dict[str, Any]:
    """A key's state as the state table stores it (stable field order)."""
    return {
        "d": s.dim, "k": s.key, "l": s.label, "di": s.district, "c": s.category,
        "b": [[b, bk.n, sorted(bk.people), bk.ids, bk.terms, bk.firms, bk.issues, bk.districts, bk.amount,
               bk.label, bk.category] for b, bk in zip(s.order, s.slots)],
        "bc": s.base_count, "bp": s.base_people, "be": s.base_exposure, "bi": s.base_issues,
        "lt": s.learned_to, "fb": s.first_bucket, "pj": s.peer,
        **({"dy": {str(d): sorted(v) if isinstance(v, set) else v for d, v in sorted(s.days.items())}}
           if s.days else {}),
        "ep": {k: [e.type, e.dimension, e.subject_key, e.alert_id, e.start_bucket, e.opened_at,
                   e.last_people, e.last_severity, e.last_data_bucket, e.last_observed,
                   e.peak, sorted(e.people), e.ids, e.folded_to, list(e.terms)]
               for k, e in s.episodes.items()},
    }


def decode_key(v: dict[str, Any]) -> KeyState:
    """A key's state back from ``encode_key``'s form, or an older version's."""
    s = KeyState(v["d"], v["k"], v["l"], v["di"], v["c"])
    # A bucket stored before buckets had labels (nine fields) takes none.
    for b, n, people, ids, terms, firms, issues, districts, amount, *named in sorted(v["b"], key=lambda x: x[0]):
        s.slots.append(Bucket(n, set(map(intern, people)), list(map(intern, ids)), terms, firms, issues, districts,
                              amount, *named))
        s.order.append(b)
        s.counts.append(n)
        s.retained += n
    s.base_count, s.base_people, s.base_exposure = v["bc"], v["bp"], v["be"]
    s.base_issues = dict(v["bi"])
    s.learned_to, s.first_bucket = v["lt"], v["fb"]
    s.peer = v.get("pj")  # None in states stored before peers
    if "dy" in v:  # a firm's days (detectors.slow), when they are kept
        s.days = {int(d): set(x) if isinstance(x, list) else x for d, x in v["dy"].items()}
    s.episodes = {k: Episode(*e) for k, e in v["ep"].items()}
    return s


# ---- a partition's clock


def encode_clock(c: Clock, rhythm: Rhythm) -> dict[str, Any]:
    """A partition's clock (and its rhythm) as the state table stores it."""
    out = {
        "s": {src: [x.front, x.idle, x.newest] for src, x in c.sources.items()}, "t": c.last_tick,
        "ft": c.first_tick, "d": {str(b): sorted(ks) for b, ks in c.due.items()},
        "o": sorted(c.open), "day": c.day,
        "de": c.day_evals, "pd": c.prev_day_evals, "late": c.late, "r": rhythm.to_dict(),
        "ap": c.applied, "pe": c.peers, "sb": sorted(c.seen_buckets), "dup": c.duplicates, "exp": c.expired, "wa": c.wall,
        "gp": c.gaps.to_dict(), "dt": c.dated.to_dict(),
    }
    if c.exclusions or c.gate is not None:  # the stream's due process (detectors.partition), when on
        out["ex"], out["ga"] = c.exclusions, c.gate
    return out


def decode_clock(v: dict[str, Any], rhythm: Rhythm) -> Clock:
    """A clock back from ``encode_clock``'s form, or an older version's; loads *rhythm* too."""
    rhythm.load(v["r"])
    return Clock(
        sources={k: Source(x[0], x[1], list(x[2]) if len(x) > 2 else []) for k, x in v["s"].items()},
        last_tick=v["t"], first_tick=v["ft"],
        due={int(b): set(ks) for b, ks in v["d"].items()}, open=set(v["o"]), day=v["day"],
        day_evals=dict(v["de"]), prev_day_evals=dict(v["pd"]), late=v["late"],
        applied=v.get("ap", -1), peers={g: list(x) for g, x in v.get("pe", {}).items()},
        seen_buckets=set(v.get("sb", ())), duplicates=v.get("dup", 0), expired=v.get("exp", 0),
        wall=v.get("wa"), exclusions=[list(x) for x in v.get("ex", ())], gate=v.get("ga"), gaps=Gaps.load(v.get("gp")),
        dated=Dated.load(v.get("dt")),
    )


__all__ = [
    "DELTA_VERSION", "Delta", "add_facts", "add_home", "add_key", "facts", "without_tickets", "decode_clock", "decode_key", "delta_message", "encode_clock",
    "encode_key", "message_keys", "message_sources", "split_table_key", "table_key",
]
