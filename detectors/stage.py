"""The alert stage: every partition's decisions in one place, so one episode is one alert.

A real incident shows on several keys at once: a battery defect is a surge of its product,
of its issue (安全), of a handful of terms (电动自行车, 锂电池, 鼓包 …) and, at the shops
that sold most of it, of a few firms. Each partition judges its own keys and cannot know;
this stage sees them all. It holds decisions until every partition has finished their
tick (so the outcome depends on event time only, not on which partition answered
first), then releases them tick by tick:

* an ``open`` whose story is already in front of staff, in a published alert at least as
  specific, is **explained**: it is not published, and neither are its updates or its
  resolution; its tickets join the story that explains it, so the story's later pieces
  are recognised too. An alert tells a newcomer's story when most (``explained_share``)
  of the newcomer's evidence tickets are the story's; or the newcomer is a term that
  contains, or is part of, the alert's subject or top terms (锂电池 and 电动自行车锂电池,
  强制办卡 and 健身强制办卡); or the newcomer is a group dispute whose top terms name the
  alert's concentrated-demand term or share three of its top terms (a merchant's 先用后付
  complaints during a platform's 先用后付 policy change; a shop that sold a defective
  product).
* within a tick the more specific go first, so a defective product's alert explains its
  terms' and the shops that sold it, not the other way round. Specificity ranks what a
  duty officer can act on: a product, a named practice at one platform, a named practice
  anywhere (a term of the domain dictionary: 强制办卡, 先涨后降), a firm, a firm's issue,
  any other term, an issue category, a hot word, a district last; ties go to the broader, then to
  the longer term;
* an explained alert whose later update brings mostly new tickets is published then, as
  an ``open`` (staff have not seen it): it has become its own story;
* updates and resolutions of published alerts pass through (before the tick's opens, so
  an episode's growth explains what it causes); a resolution retires the alert's evidence.

The evidence compared is each decision's ``ticket_ids`` (the earliest tickets of its
window, up to the engine's evidence cap), so two alerts about the same tickets overlap
whatever their dimension. Pure: no I/O; the stream persists :meth:`to_dict`.

>>> from detectors.decisions import Decision
>>> def d(aid, typ, dim, ids, status="open", at=900.0):
...     return Decision(aid, typ, status, "info", dim, aid, aid, None, 0.0, at, at, len(ids), 1.0,
...                     0.99, len(ids), tuple(ids), ())
>>> stage = AlertStage(partitions=2)
>>> stage.offer(0, 900.0, [d("prod", "concentrated_demand", "product", "abcdef")])
[]
>>> out = stage.offer(1, 900.0, [d("term", "concentrated_demand", "term", "abcd")])
>>> [x.alert_id for x in out]   # the term's tickets are the product's: one alert
['prod']
>>> stage.offer(1, 1800.0, [d("term", "concentrated_demand", "term", "abvwxyz", "update", 1800.0)])
[]
>>> [(x.alert_id, str(x.status)) for x in stage.offer(0, 1800.0, [])]  # mostly new tickets: news now
[('term', 'open')]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from detectors.decisions import (
    CONCENTRATED_DEMAND,
    DISTRICT,
    FIRM,
    FIRM_ISSUE,
    GROUP_DISPUTE,
    ISSUE,
    OPEN,
    PLATFORM_TERM,
    PRODUCT,
    RESOLVED,
    TERM,
    TERM_SURGE,
    Decision,
    decision_from_dict,
    decision_order,
)
from detectors.text import domain_words

_RANK = {PRODUCT: 0, PLATFORM_TERM: 1, FIRM: 3, FIRM_ISSUE: 4, TERM: 5, ISSUE: 6, DISTRICT: 8}  # a named term: 2; a term surge: 7
_SIGNATURE_TERMS = 5  # top terms that stand for an alert's story


@dataclass(slots=True)
class _Shown:
    rank: int
    type: str
    key: str  # the subject key when it is a term or a product (a platform's practice: the term), else ""
    terms: tuple[str, ...]
    evidence: set[str]
    severity: str = "info"  # as last published (stored before severity was kept: info until its next update)


@dataclass
class AlertStage:
    """Holds decisions until every partition has passed their tick; publishes one alert per episode."""

    partitions: int
    explained_share: float = 0.5
    named_terms: frozenset[str] = field(default_factory=domain_words)  # ranked above other terms
    _done: dict[int, float] = field(default_factory=dict)  # partition -> last tick end it finished
    _held: list[Decision] = field(default_factory=list)
    _shown: dict[str, _Shown] = field(default_factory=dict)  # published alerts, until resolved
    _hidden: dict[str, str] = field(default_factory=dict)  # explained alert -> the alert that told it

    def offer(self, partition: int, done_to: float, decisions: list[Decision]) -> list[Decision]:
        """One partition's decisions, and the event time (tick end) it has finished, in order.

        Returns the decisions this releases. A report at or before one already taken from
        the partition is a replay (redelivery after a restart) and is ignored.
        """
        if done_to <= self._done.get(partition, float("-inf")):
            return []
        self._done[partition] = done_to
        self._held.extend(decisions)
        return self.take()

    def take(self) -> list[Decision]:
        """What is releasable now (every partition past its tick), judged; see the module doc."""
        if len(self._done) < self.partitions:
            return []
        horizon = min(self._done.values())
        return self._release(lambda d: d.raised_at <= horizon)

    def finish(self, decisions: list[Decision] = ()) -> list[Decision]:  # type: ignore[assignment]
        """End of input: release everything held (and *decisions*, the engines' last)."""
        self._held.extend(decisions)
        return self._release(lambda d: True)

    def _release(self, due: Any) -> list[Decision]:
        now = [d for d in self._held if due(d)]
        if not now:
            return []
        self._held = [d for d in self._held if not due(d)]
        out: list[Decision] = []
        # Ties of evidence go to the more people: a date-only day is one bucket, whose
        # evidence is capped (windows.MAX_IDS_PER_BUCKET), so a practice's collateral term
        # would tell its story first.
        for d in sorted(now, key=lambda d: (d.raised_at, d.status == OPEN, self.rank(d), -len(d.ticket_ids),
                                             -d.observed, -len(d.key), d.alert_id)):
            out.extend(self._judge(d))
        return sorted(out, key=decision_order)

    def rank(self, d: Decision) -> int:
        """Specificity: 0 (a product) to 8 (a district); see the module docstring."""
        if d.type == TERM_SURGE:
            return 7
        if d.dimension == TERM and d.key in self.named_terms:
            return 2
        return _RANK.get(d.dimension, 6)

    def _judge(self, d: Decision) -> list[Decision]:
        aid = d.alert_id
        ids = set(d.ticket_ids)
        if d.status == RESOLVED:
            if aid in self._hidden:
                del self._hidden[aid]
                return []
            self._shown.pop(aid, None)
            return [d]
        if aid in self._shown:
            self._shown[aid].evidence.update(ids)
            self._shown[aid].severity = d.severity
            return [d]
        # A new episode, or an update of one that was explained: is it news?
        rank = self.rank(d)
        teller = self._teller(d, rank, ids)
        if teller is not None:
            # Its tickets join the story that explains it, so the story's later pieces
            # (which may share tickets with this one and not with the first alert) are told too.
            self._hidden[aid] = teller
            self._shown[teller].evidence.update(ids)
            return []
        self._hidden.pop(aid, None)
        key = d.key if d.dimension in (TERM, PRODUCT) else d.key.rpartition("|")[2] if d.dimension == PLATFORM_TERM else ""
        self._shown[aid] = _Shown(rank, d.type, key, d.top_terms[:_SIGNATURE_TERMS], ids, d.severity)
        return [d if d.status == OPEN else replace(d, status=OPEN)]

    def _teller(self, d: Decision, rank: int, ids: set[str]) -> str | None:
        """The published alert that already tells *d*'s story, if one does (see the module docstring)."""
        # Only an alert at least as specific tells another's story: a firm's group dispute
        # raised first does not hide the named practice (先用后付) behind it.
        told = sorted((a, s) for a, s in self._shown.items() if s.rank <= rank)
        if d.dimension == TERM:
            for a, s in told:
                if any(d.key in w or w in d.key for w in (s.key, *s.terms) if w):
                    return a
        if d.type == GROUP_DISPUTE:
            mine = set(d.top_terms[:_SIGNATURE_TERMS])
            for a, s in told:
                if s.type == CONCENTRATED_DEMAND and (s.key in mine or len(mine & set(s.terms)) >= 3):
                    return a
        if not ids:
            return None
        seen: set[str] = set()
        best, most = None, 0
        for a, s in told:
            common = s.evidence & ids
            seen |= common
            if len(common) > most:
                best, most = a, len(common)
        return best if len(seen) >= self.explained_share * len(ids) else None

    def open_alerts(self) -> dict[str, tuple[str, str]]:
        """The alerts published and not yet resolved: ``alert_id -> (type, severity)``."""
        return {a: (s.type, s.severity) for a, s in self._shown.items()}

    # ---- persistence (the stream keeps it in a table)

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": {str(p): t for p, t in self._done.items()},
            "held": [asdict(d) for d in self._held],
            "shown": {a: [s.rank, s.type, s.key, list(s.terms), sorted(s.evidence), s.severity]
                      for a, s in self._shown.items()},
            "hidden": dict(sorted(self._hidden.items())),
        }

    def load(self, v: dict[str, Any]) -> None:
        """Take the state :meth:`to_dict` saved (settings stay this instance's)."""
        self._done = {int(p): t for p, t in v["done"].items()}
        self._held = [decision_from_dict(x) for x in v["held"]]
        # A state stored before severity was kept has five fields: its alerts load as info.
        self._shown = {a: _Shown(r, t, k, tuple(ts), set(ev), *rest) for a, (r, t, k, ts, ev, *rest) in v["shown"].items()}
        self._hidden = dict(v["hidden"])

