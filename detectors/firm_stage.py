"""The abnormal-firm stage: tickets in, a judgement at each local midnight of event time, decisions out.

:class:`FirmStage` wraps :class:`detectors.firms.FirmJudge` in the engine's terms. Tickets
are added as they come (a ticket id seen before is ignored); :meth:`FirmStage.advance`
takes the event time every ticket has reached and judges each local midnight
(Asia/Shanghai) it passes, on the days before it. So the decisions are a function of the
tickets and the watermark only.

A firm found is one episode, one alert id: ``abnormal_firm`` on the subject ``firm``. It
opens when first found, is updated when a new measure departs, its claims grow by half,
or it becomes more severe (two measures or more depart: ``warning``), and is resolved
after ``quiet_days`` judgements in a row that no longer find it. The alert says what
departs and by how much (its top terms, e.g. ``投诉举报量 42件/以往约8.1件``, and the
summary), and its evidence is the window's claims, newest first.

>>> from detectors.firms import FirmTicket
>>> st = FirmStage()
>>> day0 = 20000
>>> for d in range(day0, day0 + 42):
...     for f in range(12):
...         st.add([FirmTicket(f"F{f}", d * 86400.0 - 8 * 3600 + 36000, "complaint", "餐饮服务", "310115",
...                            issue="价格", ticket_id=f"T{d}-{f}", label=f"{f}号店")])
...     if d >= day0 + 28:
...         st.add([FirmTicket("F0", d * 86400.0 - 8 * 3600 + 40000 + k, "complaint", "餐饮服务", "310115",
...                            issue="食品安全", ticket_id=f"X{d}-{k}", label="0号店") for k in range(3)])
>>> ds = st.advance((day0 + 42) * 86400.0 - 8 * 3600)
>>> [(str(d.type), str(d.status), str(d.severity), d.key, d.observed) for d in ds]
[('abnormal_firm', 'open', 'info', 'F0', 29), ('abnormal_firm', 'update', 'info', 'F0', 38), ('abnormal_firm', 'update', 'warning', 'F0', 41)]
>>> ds[-1].top_terms
('“食品安全”问题 27件/按以往占比约0.06件', '高于同类同区企业 41件/同行约14件', '投诉举报量 41件/以往约14件')
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from detectors.decisions import FIRM, INFO, OPEN, RESOLVED, SEVERITY_RANK, UPDATE, WARNING, Decision
from detectors.firms import FirmFinding, FirmJudge, FirmTicket, Measure, local_day
from detectors.scores import score_of_log_p
from schemas.alerts import AlertType, alert_id

ABNORMAL_FIRM = AlertType.ABNORMAL_FIRM
DAY = 86400.0
_LOCAL = 8 * 3600.0  # Asia/Shanghai, no daylight saving


def next_midnight(ts: float) -> float:
    """The first local midnight strictly after *ts* (event time, epoch seconds)."""
    return (math.floor((ts + _LOCAL) / DAY) + 1) * DAY - _LOCAL


def departure(m: Measure) -> str:
    """What departs and by how much, as staff read it."""
    name, obs, exp, detail = m.name, m.observed, m.expected, m.detail
    if name == "volume":
        return f"投诉举报量 {obs:g}件/以往约{exp:g}件"
    if name == "peer_volume":
        return f"高于同类同区企业 {obs:g}件/同行约{exp:g}件"
    if name == "issue_mix":
        issue = detail.split(":", 1)[0].removeprefix("issue ")
        return f"“{issue}”问题 {obs:g}件/按以往占比约{exp:g}件"
    if name == "claim_share":
        return f"投诉举报占比上升 {obs:g}件/按以往占比约{exp:g}件"
    if name == "amount":
        cut = detail.removeprefix("above ").removesuffix(" CNY")
        return f"大额诉求(>{cut}元) {obs:g}件/按以往约{exp:g}件"
    return f"{name} {obs:g}/{exp:g}"


@dataclass(slots=True)
class _Episode:
    alert_id: str
    measures: frozenset[str]
    claims: int
    severity: str
    last: FirmFinding
    quiet: int = 0  # judgements in a row that no longer found it


class FirmStage:
    """Daily abnormal-firm judgement in event time (see the module docstring).

    Parameters
    ----------
    judge
        The judge (its windows, budget and minimum counts).
    update_growth
        An open episode is told again when its claims grow by this factor (or a measure joins,
        or it becomes more severe).
    quiet_days
        Judgements in a row without it that resolve an episode.
    """

    def __init__(self, judge: FirmJudge | None = None, *, update_growth: float = 1.5, quiet_days: int = 3) -> None:
        self.judge = judge if judge is not None else FirmJudge()
        self.update_growth = update_growth
        self.quiet_days = quiet_days
        self.next_judgement: float | None = None
        self._seen: dict[str, int] = {}  # ticket id -> its local day, while its day is in the history
        self._episodes: dict[str, _Episode] = {}
        # Tickets dated at or after the next judgement, held back until it is made: a firm first
        # seen after a midnight would otherwise join that midnight's peers and category totals,
        # and which such tickets are in already depends on how far input has run ahead.
        self._ahead: list[FirmTicket] = []

    def add(self, tickets: Iterable[FirmTicket]) -> None:
        """Take tickets in (any order; a ticket id seen before is ignored)."""
        for t in tickets:
            if t.ticket_id is not None:
                if t.ticket_id in self._seen:
                    continue
                self._seen[t.ticket_id] = local_day(t.ts)
            if self.next_judgement is None:
                self.next_judgement = next_midnight(t.ts)
            if t.ts >= self.next_judgement:
                self._ahead.append(t)
            else:
                self.judge.add(t)

    def advance(self, watermark: float) -> list[Decision]:
        """Judge every local midnight up to *watermark* (event time every ticket has reached)."""
        out: list[Decision] = []
        while self.next_judgement is not None and self.next_judgement <= watermark:
            at = self.next_judgement
            if self._ahead:
                self.judge.add_many(t for t in self._ahead if t.ts < at)
                self._ahead = [t for t in self._ahead if t.ts >= at]
            out.extend(self._judge(at))
            self.next_judgement += DAY
        return out

    def _judge(self, at: float) -> list[Decision]:
        findings = {f.firm: f for f in self.judge.judge(at)}
        out = []
        for key in sorted(findings):
            f = findings[key]
            told = frozenset(m.name for m in f.measures)
            severity = WARNING if len(told - {"peer_volume"}) >= 2 else INFO
            ep = self._episodes.get(key)
            if ep is None:
                ep = self._episodes[key] = _Episode(alert_id(ABNORMAL_FIRM, FIRM, key, at), told, f.claims, severity, f)
                out.append(self._decision(ep, f, at, OPEN))
                continue
            ep.quiet = 0
            grew = not told <= ep.measures or f.claims >= ep.claims * self.update_growth
            worse = SEVERITY_RANK[severity] > SEVERITY_RANK[ep.severity]
            ep.last = f
            if grew or worse:
                ep.measures, ep.claims = ep.measures | told, f.claims
                ep.severity = severity if worse else ep.severity
                out.append(self._decision(ep, f, at, UPDATE))
        for key in sorted(set(self._episodes) - set(findings)):
            ep = self._episodes[key]
            ep.quiet += 1
            if ep.quiet >= self.quiet_days:
                out.append(self._decision(ep, ep.last, at, RESOLVED))
                del self._episodes[key]
        self.judge.expire(at)
        # A ticket older than the history is never counted again: its id need not be kept.
        oldest = local_day(at) - self.judge.history_days
        self._seen = {t: d for t, d in self._seen.items() if d >= oldest}
        return out

    def _decision(self, ep: _Episode, f: FirmFinding, at: float, status: str) -> Decision:
        strongest = max(f.measures, key=lambda m: m.score)
        return Decision(
            alert_id=ep.alert_id, type=ABNORMAL_FIRM, status=status, severity=ep.severity,
            dimension=FIRM, key=f.firm, label=f.label or f.firm, district_code=f.district,
            window_start=f.window_start, window_end=f.window_end, raised_at=at,
            observed=f.claims, expected=f.expected,
            score=0.0 if status == RESOLVED else score_of_log_p(-strongest.score * math.log(10)),
            distinct_complainants=f.people, ticket_ids=f.ticket_ids,
            top_terms=tuple(departure(m) for m in sorted(f.measures, key=lambda m: (-m.score, m.name))),
            firms=1, amount=f.amount, top_issue=f.top_issue,
        )


__all__ = ["ABNORMAL_FIRM", "FirmStage", "departure", "next_midnight"]
