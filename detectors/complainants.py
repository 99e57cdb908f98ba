"""Abnormal complainants (投诉举报异常名录): people filing templated, profit-seeking claims, judged per pseudonym.

The regulator's model marks a complainant on what the two source documents name:

=====================  ===================================================================
mark                   what fires it
=====================  ===================================================================
``template``           their narratives are near-duplicates of a template swept across
                       firms (a cluster spanning ``min_template_firms`` firms or more);
                       alone, or shared with other people (a **ring**: one finding naming
                       every member's pseudonym)
``frequency``          claims (complaints and reports) in the window far above ordinary people
``firm_sweep``         distinct firms claimed against, far above ordinary people
``repeat_claim``       the most firms one (product, issue) was claimed against, far above
                       ordinary people (反复就同类商品同类问题投诉举报)
``statutory_multiple`` claims demanding a statutory multiple (十倍赔偿, 退一赔三, 惩罚性赔偿 …,
                       ``data/statutory_demands.txt``), far above ordinary people
=====================  ===================================================================

A person is flagged by ``template`` alone, or by two or more of the other marks together
(one heavy-handed but genuine consumer, who rings eight times about one shop in a day,
fires ``frequency`` only and is not flagged). "Far above ordinary people" is a tail
probability under a Negative Binomial fitted to the population of complainants in the
window (method of moments, refitted without those it finds extreme until it settles,
so the abnormal few do not widen the yardstick they are measured by), against a
false-flag budget: ``false_flags`` ordinary people per mark per judgement, spread over
everyone judged (``p < false_flags / people``). No count is a fixed threshold.

Templates. Each claim's narrative, with the firm's and product's names blanked, digits
folded and NFKC applied, is cut into character 3-grams and summarised by a datasketch
``MinHash``; a datasketch ``MinHashLSH`` finds candidate near-duplicates, and a candidate
pair becomes an edge only when it passes a recheck on the two signatures (estimated
Jaccard >= ``template_threshold``) and names two different firms (a firm's own customers
tell one problem alike; a template is a claim *swept across* firms). A cluster is a
connected component of those edges among the tickets being judged.

Determinism (stream = offline, N workers = 1). Every piece is a function of the *set* of
tickets, never of their order or batching: a MinHash is a function of one text; LSH
candidates are symmetric (a pair is examined when its later member arrives, whichever
that is) and every candidate is rechecked by the same estimate, so the edge set is the
same for any order; connected components of a graph do not depend on the order it was
built in; the population fit reads histograms, which merge by addition. So per-person
state (:class:`ComplainantJudge` keeps it keyed by pseudonym; :meth:`ComplainantJudge.merge`
joins the partitions' stores) can live in as many partitions as the stream has, the
template index (a signature of 64 x 8 bytes per claim) in one, like the alert stage, and
:meth:`ComplainantJudge.judge` at a tick gives the same findings for the same tickets.
A redelivered ticket id is ignored.

Due process (a flag labels and deprioritises, never drops a ticket; staff clear flags) is
:class:`detectors.flags.FlagRegistry`'s.

>>> j = ComplainantJudge()
>>> for i in range(6):
...     _ = j.add(Claim(f"T{i}", 1000.0 + i, "p_pro", "report", f"本人在{i}号店购买蜂蜜，标签未标注生产日期，"
...                 "违反《食品安全法》，要求退还货款并支付十倍赔偿，请求依法查处并给予举报奖励。",
...                 firm_key=f"F{i}", masks=(f"{i}号店",)))
>>> [(f.persons, [m.name for _, ms in f.marks for m in ms]) for f in j.judge(2000.0)]
[(('p_pro',), ['template'])]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


from detectors.datafiles import norm, words
from detectors.templates import TemplateIndex, shingles
from detectors.tail import log_nb_sf, log_poisson_sf

DAY = 86400.0
STATUTORY_PHRASES: tuple[str, ...] = words("statutory_demands.txt")
CLAIM_KINDS = frozenset({"complaint", "report"})  # consultations ask; they claim nothing


def statutory_multiple(text: str, phrases: Iterable[str] = STATUTORY_PHRASES) -> bool:
    """Whether a narrative demands a statutory multiple of the price.

    >>> statutory_multiple("要求退还货款并支付十倍赔偿"), statutory_multiple("要求退款")
    (True, False)
    """
    t = norm(text)
    return any(p in t for p in phrases)


@dataclass(frozen=True, slots=True)
class Claim:
    """One ticket as the complainant judge sees it (what ingest produces, pseudonymised).

    ``masks`` are names to blank before comparing narratives (the firm's and the product's
    as written), so one template filled in for different shops still reads alike.
    """

    ticket_id: str
    ts: float
    person: str  # keyed pseudonym; "t:<ticket_id>" (unknown complainant) is never judged
    kind: str  # complaint | report | consultation
    text: str
    firm_key: str | None = None
    product_key: str | None = None
    issue: str | None = None
    district: str | None = None
    amount: float = 0.0
    masks: tuple[str, ...] = ()

    @classmethod
    def from_ticket(cls, ticket: Any, person: str) -> Claim:
        """From a validated ``schemas.tickets.Ticket`` and its pseudonym (``schemas.normalise.pseudonym``)."""
        from schemas.normalise import firm_key, text_key

        text = ticket.content if not ticket.title else f"{ticket.title}。{ticket.content}"
        return cls(ticket.ticket_id, ticket.ts, person, getattr(ticket.kind, "value", ticket.kind), text,
                   firm_key=firm_key(ticket.firm_id, ticket.firm_name), product_key=text_key(ticket.product_name),
                   issue=text_key(ticket.issue_category), district=ticket.district_code,
                   amount=float(ticket.amount or 0.0),
                   masks=tuple(m for m in (ticket.firm_name, ticket.product_name) if m))


@dataclass(frozen=True, slots=True)
class _Seen:
    """What a person's store keeps of one claim (the narrative itself is not kept)."""

    ts: float
    firm: str | None
    product: str | None
    issue: str | None
    statutory: bool


@dataclass(frozen=True, slots=True)
class Mark:
    """One reason that fired: what was observed against what ordinary people show."""

    name: str
    observed: float
    expected: float  # the population's mean (template: the cluster's firms needed)
    score: float  # -log10 of the tail probability (template: the cluster's firms)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """A flagged person, or a ring of people sharing one template: one finding, one alert.

    ``key`` (the least member pseudonym) names it; ``marks`` says, per member, what fired;
    ``clusters`` are the template clusters' ids (``tc-`` + hash of their first ticket).
    """

    key: str
    persons: tuple[str, ...]
    marks: tuple[tuple[str, tuple[Mark, ...]], ...]
    clusters: tuple[str, ...]
    firms: int  # distinct firms across the evidence
    first_seen: float  # event time of the earliest evidence ticket
    last_seen: float
    expires: float
    ticket_ids: tuple[str, ...]  # evidence, oldest first, at most 200

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(sorted({m.name for _, ms in self.marks for m in ms}))

    @property
    def ring(self) -> bool:
        return len(self.persons) > 1


@dataclass(frozen=True, slots=True)
class _Fit:
    mean: float
    r: float  # NB shape; inf = Poisson

    def log_sf(self, k: int) -> float:
        if math.isinf(self.r):
            return log_poisson_sf(k, self.mean)
        return log_nb_sf(k, r=self.r, mean=self.mean)


def _fit(hist: Mapping[int, int], budget: float) -> _Fit:
    """Negative Binomial by moments on a histogram of excess counts, fitted robustly: from
    the bulk (values up to the 99th percentile), then refitted on every value the fit does
    not find extreme (tail at or above *budget*) until that set stops changing."""
    if not hist:
        return _Fit(0.0, math.inf)
    values = sorted(hist)
    total = sum(hist.values())
    acc, top = 0, values[-1]
    for v in values:
        acc += hist[v]
        if acc >= 0.99 * total:
            top = v
            break
    fit = _Fit(0.0, math.inf)
    for _ in range(10):
        kept = [(k, c) for k, c in hist.items() if k <= top]
        n = sum(c for _, c in kept)
        mean = sum(k * c for k, c in kept) / n
        var = sum((k - mean) ** 2 * c for k, c in kept) / max(n - 1, 1)
        # A rate never seen is not zero: half a pseudo-count keeps one observation from being infinitely surprising.
        mean = max(mean, 0.5 / n)
        fit = _Fit(mean, mean * mean / (var - mean) if var > mean * 1.0001 else math.inf)
        new_top = max((v for v in values if v <= top or fit.log_sf(v) >= math.log(budget)), default=0)
        new_top = max(v for v in values if v <= new_top and (v <= top or fit.log_sf(v) >= math.log(budget)))
        if new_top == top:
            break
        top = new_top
    return fit


class ComplainantJudge:
    """Keeps each pseudonym's claims and the template index; :meth:`judge` at a tick gives the findings.

    Parameters
    ----------
    window_days
        Claims older than this before the judgement are not counted (and are forgotten by ``expire``).
    flag_days
        A flag lapses this long after its newest evidence, unless new evidence renews it.
    min_template_firms
        Firms a near-duplicate cluster must span to be a template (a claim swept across firms).
    false_flags
        Ordinary people a count mark may fire on, per mark per judgement, across everyone judged.
    """

    def __init__(self, *, window_days: float = 30.0, flag_days: float = 90.0, min_template_firms: int = 3,
                 false_flags: float = 0.05, template_threshold: float = 0.5, num_perm: int = 64) -> None:
        self.window_days = window_days
        self.flag_days = flag_days
        self.min_template_firms = min_template_firms
        self.false_flags = false_flags
        self.template_threshold = template_threshold
        self.num_perm = num_perm
        self._people: dict[str, dict[str, _Seen]] = {}  # pseudonym -> ticket id -> claim
        self._owner: dict[str, str] = {}  # ticket id -> pseudonym (templated claims only)
        self._index = TemplateIndex(threshold=template_threshold, num_perm=num_perm)

    # ------------------------------------------------------------------ state

    def add(self, claim: Claim) -> bool:
        """Count one ticket; whether it is a claim not held before. Consultations and unknown
        complainants are not claims and are skipped."""
        if claim.kind not in CLAIM_KINDS or claim.person.startswith("t:"):
            return False
        mine = self._people.setdefault(claim.person, {})
        if claim.ticket_id in mine:
            return False
        mine[claim.ticket_id] = _Seen(claim.ts, claim.firm_key, claim.product_key, claim.issue,
                                      statutory_multiple(claim.text))
        self._owner[claim.ticket_id] = claim.person
        self._index.add(claim.ticket_id, claim.firm_key, shingles(claim.text, claim.masks))
        return True

    def add_many(self, claims: Iterable[Claim]) -> None:
        for c in claims:
            self.add(c)

    def expire(self, at: float) -> None:
        """Forget claims older than the window before *at* (they can no longer count)."""
        lo = at - self.window_days * DAY
        for person in list(self._people):
            mine = self._people[person]
            for tid in [t for t, s in mine.items() if s.ts <= lo]:
                del mine[tid]
                self._owner.pop(tid, None)
                self._index.remove(tid)
            if not mine:
                del self._people[person]

    def people(self) -> int:
        return len(self._people)

    def claims_of(self, person: str, upto: float = math.inf) -> tuple[str, ...]:
        """The ticket ids of *person*'s claims still held (the window) dated up to *upto*, sorted."""
        return tuple(sorted(t for t, s in self._people.get(person, {}).items() if s.ts <= upto))

    # ------------------------------------------------------------------ judging

    def judge(self, at: float, cleared: Mapping[str, float] | None = None) -> list[Finding]:
        """The findings from claims in ``(at - window, at]``; a person in *cleared* counts only
        claims after their clearing (judged afresh). Sorted by key."""
        cleared = cleared or {}
        lo = at - self.window_days * DAY

        def live(person: str, s: _Seen) -> bool:
            return lo < s.ts <= at and s.ts > cleared.get(person, -math.inf)

        stats: dict[str, tuple[int, int, int, int]] = {}
        for person, mine in self._people.items():
            seen = [s for s in mine.values() if live(person, s)]
            if seen:
                stats[person] = _person_stats(seen)
        if not stats:
            return []
        budget = self.false_flags / len(stats)
        marks: dict[str, list[Mark]] = {}
        for i, name in enumerate(_COUNT_MARKS):
            hist: dict[int, int] = {}
            for v in stats.values():
                hist[v[i]] = hist.get(v[i], 0) + 1
            fit = _fit(hist, budget)
            for person, v in stats.items():
                if v[i] <= 0:
                    continue
                lp = fit.log_sf(v[i])
                if lp < math.log(budget):
                    offset = 0 if name == "statutory_multiple" else 1
                    marks.setdefault(person, []).append(
                        Mark(name, float(v[i] + offset), round(fit.mean + offset, 4), round(-lp / math.log(10), 2)))

        # Templates. A person's own claims at different firms that are near-duplicates
        # (directly, or through one other claim) make them a candidate; clusters are then
        # taken among candidates' claims only, so a formulaic single complaint never joins
        # (nor chains two unrelated claimants together through) a template.
        def keep(tid: str) -> bool:
            p = self._owner.get(tid)
            return p is not None and live(p, self._people[p][tid])

        candidates = {p for p in stats if self._self_similar(p, keep)}
        members: dict[str, set[str]] = {}  # cluster id -> people
        cluster_tickets: dict[str, tuple[str, ...]] = {}
        for comp in self._index.clusters(lambda t: keep(t) and self._owner[t] in candidates):
            firms = {self._index.firm_of(t) for t in comp}
            if len(firms) < self.min_template_firms:
                continue
            first = min(comp, key=lambda t: (self._people[self._owner[t]][t].ts, t))
            cid = "tc-" + hashlib.sha1(first.encode()).hexdigest()[:12]
            own: dict[str, list[str]] = {}
            for t in comp:
                own.setdefault(self._owner[t], []).append(t)
            people = {p for p, ts in own.items() if len(ts) >= 2}
            if not people:
                continue
            members[cid] = people
            cluster_tickets[cid] = tuple(t for t in comp if self._owner[t] in people)
            for p in sorted(people):
                detail = f"{len(comp)} claims, {len(firms)} firms, {len(people)} people share it"
                marks.setdefault(p, []).append(
                    Mark("template", float(len(own[p])), float(self.min_template_firms), float(len(firms)), detail))

        flagged = {p for p, ms in marks.items()
                   if any(m.name == "template" for m in ms) or len(ms) >= 2}
        return self._group(flagged, marks, members, cluster_tickets, live)

    def _group(self, flagged: set[str], marks: dict[str, list[Mark]], members: dict[str, set[str]],
               cluster_tickets: dict[str, tuple[str, ...]], live: Callable[[str, _Seen], bool]) -> list[Finding]:
        """One finding per group of flagged people joined by shared template clusters."""
        parent = {p: p for p in flagged}

        def find(p: str) -> str:
            while parent[p] != p:
                parent[p] = parent[parent[p]]
                p = parent[p]
            return p

        for people in members.values():
            ps = sorted(people & flagged)
            for q in ps[1:]:
                a, b = find(ps[0]), find(q)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        groups: dict[str, list[str]] = {}
        for p in sorted(flagged):
            groups.setdefault(find(p), []).append(p)
        out = []
        for key, persons in sorted(groups.items()):
            cids = sorted(c for c, ppl in members.items() if ppl & set(persons))
            in_template = {t for c in cids for t in cluster_tickets[c]}
            evidence: list[tuple[float, str]] = []
            firms: set[str | None] = set()
            for p in persons:
                for tid, s in self._people[p].items():
                    if live(p, s):
                        firms.add(s.firm)
                        # Evidence: the templated claims, else every claim in the window.
                        if not in_template or tid in in_template:
                            evidence.append((s.ts, tid))
            evidence.sort()
            first, last = evidence[0][0], evidence[-1][0]
            out.append(Finding(
                key=key,
                persons=tuple(persons),
                marks=tuple((p, tuple(sorted(marks[p], key=lambda m: m.name))) for p in persons),
                clusters=tuple(cids),
                firms=len(firms - {None}),
                first_seen=first,
                last_seen=last,
                expires=last + self.flag_days * DAY,
                ticket_ids=tuple(t for _, t in evidence[:200]),
            ))
        return out

    def _self_similar(self, person: str, keep: Callable[[str], bool]) -> bool:
        """Whether two of the person's live claims, at different firms, are near-duplicates
        (an edge, or both edged to one other claim)."""
        mine = [t for t in self._people[person] if keep(t)]
        if len(mine) < 2:
            return False
        index = self._index
        own = set(mine)
        for t in mine:
            firm = index.firm_of(t)
            reach = set(index.neighbours(t))
            for o in list(reach):
                reach |= index.neighbours(o)
            if any(o in own and o != t and index.firm_of(o) != firm for o in reach):
                return True
        return False

    # ------------------------------------------------------------------ partitions

    def merge(self, other: ComplainantJudge) -> None:
        """Take in another partition's people (disjoint pseudonyms) and index: the union of both."""
        for person, mine in other._people.items():
            for tid, s in mine.items():
                self._people.setdefault(person, {}).setdefault(tid, s)
                self._owner[tid] = person
        for tid, (firm, sig) in sorted(other._index.signatures().items()):
            self._index.add_signature(tid, firm, sig)



_COUNT_MARKS = ("frequency", "firm_sweep", "repeat_claim", "statutory_multiple")


def _person_stats(seen: list[_Seen]) -> tuple[int, int, int, int]:
    """The excess counts the count marks judge: claims - 1, firms - 1, most firms for one
    (product, issue) - 1, statutory-multiple claims."""
    firms = {s.firm for s in seen if s.firm}
    per_claim: dict[tuple[str | None, str | None], set[str]] = {}
    for s in seen:
        if s.firm and (s.product or s.issue):
            per_claim.setdefault((s.product, s.issue), set()).add(s.firm)
    repeat = max((len(v) for v in per_claim.values()), default=1)
    return (len(seen) - 1, max(len(firms) - 1, 0), max(repeat - 1, 0), sum(s.statutory for s in seen))
