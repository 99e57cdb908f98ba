"""The abnormal-complainant stage: claims in, a judgement at each local midnight of event time, decisions out.

:class:`ComplainantStage` wraps :class:`detectors.complainants.ComplainantJudge` and its
:class:`~detectors.flags.FlagRegistry` in the engine's terms. Claims are added as
they come; :meth:`ComplainantStage.advance` takes the event time every ticket has reached
(the same watermark the partitions tick on) and judges each local midnight (Asia/Shanghai)
it passes that was not judged yet, on the claims up to it. So the findings, the flags and
the decisions are a function of the claims and the watermark only: batching, arrival
order within the allowed lateness, and how many workers fed it change nothing.

A finding is one episode, one alert id: ``abnormal_complainant`` on the subject
``complainant`` with the finding's key (its least member's pseudonym; a ring keeps the key
it was first told under as members join). It opens when first found, is updated when
members, reasons or evidence grow by half, and is resolved when every member's flag has
lapsed or been cleared. Alerts name people by pseudonym only.

A clearing (staff's act, :meth:`ComplainantStage.clear`) is an event at its event time:
it takes effect at the first judgement after it (a clearing told after that midnight was
judged takes effect at once), so the stream, which reads clearings among the claims, and
``earlywarn detect``, told them before it starts, judge alike.

:meth:`ComplainantStage.excluded` is what due process takes out of group disputes at an
event time: the flagged pseudonyms, and their claims' ticket ids (for evidence); their
tickets still count in every total.

>>> from detectors.complainants import Claim
>>> st = ComplainantStage()
>>> text = "本人在{}购买蜂蜜，标签未标注生产日期，违反《食品安全法》，要求退还货款并支付十倍赔偿，请求依法查处并给予举报奖励。"
>>> st.add([Claim(f"T{i}", 1_740_800_000.0 + i * 3600, "p_00000000000000aa", "report", text.format(f"{i}号店"),
...               firm_key=f"F{i}", masks=(f"{i}号店",)) for i in range(6)])
>>> [(str(d.type), str(d.status), d.key, d.distinct_complainants) for d in st.advance(1_740_900_000.0)]
[('abnormal_complainant', 'open', 'p_00000000000000aa', 1)]
>>> sorted(st.excluded(1_740_900_000.0)[0])
['p_00000000000000aa']
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from detectors.complainants import Claim, ComplainantJudge, Finding
from detectors.flags import Clearing, FlagRegistry
from detectors.evidence import Exclusion
from detectors.decisions import ABNORMAL_COMPLAINANT, COMPLAINANT, INFO, OPEN, RESOLVED, UPDATE, WARNING, Decision
from detectors.scores import score_of_log_p
from schemas.alerts import alert_id

DAY = 86400.0
_LOCAL = 8 * 3600.0  # Asia/Shanghai, no daylight saving

# What each mark means to a duty officer; alerts list them as their top terms.
REASON_NAMES = {
    "template": "模板化投诉举报",
    "frequency": "投诉举报频次异常",
    "firm_sweep": "大量不同经营者",
    "repeat_claim": "同类商品同类问题反复索赔",
    "statutory_multiple": "惩罚性赔偿诉求",
}


def next_midnight(ts: float) -> float:
    """The first local midnight strictly after *ts* (event time, epoch seconds).

    >>> next_midnight(1_740_758_400.0 - 1) - (1_740_758_400.0 - 1), next_midnight(1_740_758_400.0) - 1_740_758_400.0
    (1.0, 86400.0)
    """
    return (math.floor((ts + _LOCAL) / DAY) + 1) * DAY - _LOCAL


@dataclass(slots=True)
class _Episode:
    alert_id: str
    key: str
    members: tuple[str, ...]
    reasons: tuple[str, ...]
    evidence: int
    first_seen: float
    severity: str
    last: Finding


class ComplainantStage:
    """Daily abnormal-complainant judgement in event time (see the module docstring).

    Parameters
    ----------
    judge
        The finder (its window, flag lifetime, template and false-flag settings).
    update_growth
        An open episode is told again when its evidence grows by this factor (or it gains
        a member or a reason).
    """

    def __init__(self, judge: ComplainantJudge | None = None, *, update_growth: float = 1.5) -> None:
        self.judge = judge if judge is not None else ComplainantJudge()
        self.registry = FlagRegistry()
        self.update_growth = update_growth
        self.next_judgement: float | None = None  # the next local midnight to judge at
        self.last_judged: float | None = None  # the last local midnight judged
        self._pending: dict[str, Clearing] = {}  # clearings whose event time is not judged yet
        # Claims new to the stage dated within the window of a midnight already judged: that
        # judgement went without them (the stream then differs from detect).
        self.late = 0
        self._episodes: dict[str, _Episode] = {}  # by episode key
        self._episode_of: dict[str, str] = {}  # member pseudonym -> episode key
        self._tickets: dict[str, tuple[str, ...]] = {}  # flagged pseudonym -> their claims' ticket ids
        self._judged: list[tuple[float, Exclusion]] = []  # midnights judged since take_judged, with their exclusions

    # ---------------------------------------------------------------- input

    def add(self, claims: Iterable[Claim]) -> None:
        """Take claims in (any order; a ticket id seen before is ignored)."""
        judge, last = self.judge, self.last_judged
        since = -math.inf if last is None else last - judge.window_days * DAY
        for c in claims:
            if self.next_judgement is None:
                self.next_judgement = next_midnight(c.ts)
            if judge.add(c) and last is not None and since < c.ts <= last:
                self.late += 1

    def advance(self, watermark: float) -> list[Decision]:
        """Judge every local midnight up to *watermark* (event time every ticket has reached)."""
        out: list[Decision] = []
        while self.next_judgement is not None and self.next_judgement <= watermark:
            at = self.next_judgement
            for p in sorted(p for p, c in self._pending.items() if c.at < at):
                c = self._pending.pop(p)
                self._apply(c.person, c.at, c.who, c.why)
            out.extend(self._judge(at))
            self.last_judged = at
            self._judged.append((at, Exclusion(*self.excluded(at))))
            self.next_judgement += DAY
        return out

    def take_judged(self) -> list[tuple[float, Exclusion]]:
        """(midnight, what it excludes until the next) for each midnight judged since the last call:
        what the partition engines read (``Judge.exclusions``)."""
        out, self._judged = self._judged, []
        return out

    def finish(self, reach: float) -> list[Decision]:
        """End of input at event time *reach*: judge up to it, as ``advance`` does (a day
        not yet over is not judged: its midnight has not come)."""
        return self.advance(reach)

    def clear(self, person: str, at: float, who: str, why: str) -> bool:
        """Staff clear *person* at event time *at*: from the first judgement after *at* on (at once
        when that midnight is judged already) the flag is gone and only their claims after *at*
        count. Whether it took effect at once (else it waits for its midnight). A clearing
        no later than one known for the person is ignored (told twice, or overtaken)."""
        known = self._pending.get(person) or self.registry.clearings.get(person)
        if known is not None and at <= known.at:
            return False
        if self.last_judged is None or at > self.last_judged:
            self._pending[person] = Clearing(person, at, who, why)
            return False
        self._pending.pop(person, None)
        self._apply(person, at, who, why)
        return True

    def _apply(self, person: str, at: float, who: str, why: str) -> None:
        self._tickets.pop(person, None)
        self.registry.clear(person, at, who, why)

    def clearings(self) -> dict[str, dict[str, object]]:
        """Every clearing told, in effect or waiting for its midnight, by pseudonym: {at, who, why}
        (what Redis keeps beside the flags)."""
        out = {p: {"at": c.at, "who": c.who, "why": c.why} for p, c in self.registry.clearings.items()}
        out.update({p: {"at": c.at, "who": c.who, "why": c.why} for p, c in self._pending.items()})
        return dict(sorted(out.items()))

    # ---------------------------------------------------------------- output

    def excluded(self, at: float) -> tuple[frozenset[str], frozenset[str]]:
        """(pseudonyms, ticket ids) left out of group-dispute people counts and evidence at *at*."""
        people = self.registry.excluded(at)
        return people, frozenset(t for p in people for t in self._tickets.get(p, ()))

    def flags(self, at: float) -> dict[str, dict[str, object]]:
        """The flags in force at *at*, by pseudonym (what staff see; Redis keeps them)."""
        return {p: f.to_dict() for p, f in sorted(self.registry.flags.items()) if at <= f.expires}

    # ---------------------------------------------------------------- judging

    def _judge(self, at: float) -> list[Decision]:
        judge, registry = self.judge, self.registry
        findings = judge.judge(at, registry.cleared)
        registry.update(findings, at)
        for f in findings:
            # All their claims in the window, not only the evidence shown; up to the judgement
            # only: which later ones are in already depends on how far input has run ahead.
            for p in f.persons:
                self._tickets[p] = judge.claims_of(p, at)
        out = [d for f in findings if (d := self._found(f, at)) is not None]
        out.extend(self._lapsed(at))
        registry.prune(at)
        for p in [p for p in self._tickets if p not in registry.flags]:
            del self._tickets[p]
        judge.expire(at)
        return out

    def _found(self, f: Finding, at: float) -> Decision | None:
        key = next((self._episode_of[p] for p in f.persons if p in self._episode_of), f.key)
        ep = self._episodes.get(key)
        severity = WARNING if f.ring else INFO
        if ep is None:
            ep = _Episode(alert_id(ABNORMAL_COMPLAINANT, COMPLAINANT, key, at), key, f.persons, f.reasons,
                          len(f.ticket_ids), f.first_seen, severity, f)
            self._episodes[key] = ep
            status = OPEN
        else:
            members = tuple(sorted(set(ep.members) | set(f.persons)))
            reasons = tuple(sorted(set(ep.reasons) | set(f.reasons)))
            grew = (members != ep.members or reasons != ep.reasons
                    or len(f.ticket_ids) >= ep.evidence * self.update_growth)
            worse = severity == WARNING and ep.severity == INFO
            ep.last = f
            if not (grew or worse):
                return None
            ep.members, ep.reasons, ep.evidence = members, reasons, len(f.ticket_ids)
            ep.severity = WARNING if worse else ep.severity
            status = UPDATE
        for p in ep.members:
            self._episode_of[p] = key
        return self._decision(ep, f, at, status)

    def _lapsed(self, at: float) -> list[Decision]:
        out = []
        for key in sorted(self._episodes):
            ep = self._episodes[key]
            if any(self.registry.is_flagged(p, at) for p in ep.members):
                continue
            out.append(self._decision(ep, ep.last, at, RESOLVED))
            del self._episodes[key]
            for p in ep.members:
                if self._episode_of.get(p) == key:
                    del self._episode_of[p]
        return out

    def _decision(self, ep: _Episode, f: Finding, at: float, status: str) -> Decision:
        marks = [m for _, ms in f.marks for m in ms]
        counted = [m for m in marks if m.name != "template"]
        # The surprise of the strongest count mark; a template alone is certain by construction.
        log_p = -max(m.score for m in counted) * math.log(10) if counted else -math.inf
        frequency = [m for m in marks if m.name == "frequency"]
        return Decision(
            alert_id=ep.alert_id, type=ABNORMAL_COMPLAINANT, status=status, severity=ep.severity,
            dimension=COMPLAINANT, key=ep.key, label=ep.key, district_code=None,
            window_start=min(ep.first_seen, f.first_seen), window_end=at, raised_at=at,
            observed=len(f.ticket_ids), expected=max((m.expected for m in frequency), default=0.0),
            score=0.0 if status == RESOLVED else 1.0 if log_p == -math.inf else score_of_log_p(log_p),
            distinct_complainants=len(ep.members), ticket_ids=f.ticket_ids,
            top_terms=tuple(REASON_NAMES.get(r, r) for r in ep.reasons), firms=f.firms,
            top_issue=None, members=ep.members,
        )


__all__ = ["REASON_NAMES", "ComplainantStage", "next_midnight"]
