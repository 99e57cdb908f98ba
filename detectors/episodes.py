"""Episodes: a finding opens an episode or grows it; a quiet one resolves. Each step is a Decision.

One episode is one alert id from open to resolved (``schemas.alerts.alert_id`` of its
type, subject and first bucket), so a replay or a restart never makes a second id for
it. An open episode emits an update only when its people grow by ``update_growth`` or its
severity rises, and resolves after ``quiet_buckets`` without a finding.
"""

from __future__ import annotations

import math
from typing import Any

from detectors.config import DetectConfig
from detectors.decisions import (
    CONCENTRATED_DEMAND,
    CRITICAL,
    GROUP_DISPUTE,
    INFO,
    OPEN,
    PRODUCT,
    RESOLVED,
    SEVERITY_RANK,
    TERM,
    UPDATE,
    WARNING,
    Decision,
)
from detectors.evidence import Exclusion, Exclusions, fold, gather
from detectors.judge import Finding
from detectors.scores import score_of_log_p
from detectors.watch import Watch
from detectors.windows import Episode, KeyState, bucket_start
from detectors.wire import table_key
from schemas.alerts import alert_id


class Episodes:
    """Turns a partition's findings into decisions; keeps *open* (the partition clock's keys
    with open episodes) in step."""

    def __init__(self, config: DetectConfig, open_keys: set[str], watch: Watch | None = None,
                 exclusions: Exclusions | None = None) -> None:
        self.config = config
        self.open_keys = open_keys
        # A group dispute's evidence leaves out the complainants flagged abnormal at its tick.
        self.exclusions = exclusions if exclusions is not None else Exclusions()
        self.watch = watch if watch is not None else Watch(
            watch_min_people=config.watch_min_people, large_amount=config.large_amount)

    def found(self, s: KeyState, t: int, f: Finding) -> list[Decision]:
        """A finding on *s* at tick *t*: an episode opens, or an open one grows (or nothing is said)."""
        ek = f"{f.type}|{f.subject_key}"
        ep = s.episodes.get(ek)
        window = s.window(t, f.width)
        buckets = [bk for _, bk in window]
        first = next(b for b, bk in window if bk.n)
        severity = severity_of(f, buckets, self.watch, s.category)
        if ep is None:
            aid = alert_id(f.type, f.dimension, f.subject_key, bucket_start(first))
            ep = Episode(f.type, f.dimension, f.subject_key, aid, first, t, f.observed, severity, t, f.observed)
            s.episodes[ek] = ep
            self.open_keys.add(table_key(s.dim, s.key))
            status = OPEN
        else:
            ep.last_data_bucket = t
            status = UPDATE
        fold(s, ep, t, f.issue, self._excluded(f.type, t))
        ep.peak = max(ep.peak, f.observed)
        if status == UPDATE:
            grew = f.observed >= ep.last_people * self.config.update_growth
            worse = SEVERITY_RANK[severity] > SEVERITY_RANK[ep.last_severity]
            if not (grew or worse):
                return []
            ep.last_people = max(ep.last_people, f.observed)
            ep.last_severity = severity if worse else ep.last_severity
        ep.last_observed = f.observed
        return [self._decision(s, ep, t, f, status, severity)]

    def quiet(self, s: KeyState, t: int) -> list[Decision]:
        """Resolve *s*'s episodes quiet for ``quiet_buckets`` at tick *t*."""
        out = []
        for ek in sorted(s.episodes):
            ep = s.episodes[ek]
            if t - ep.last_data_bucket >= self.config.quiet_buckets:
                out.append(_resolved(s, ep, t, self._excluded(ep.type, t)))
                del s.episodes[ek]
        return out

    def _excluded(self, type_: str, t: int) -> Exclusion | None:
        return self.exclusions.at(bucket_start(t)) if type_ == GROUP_DISPUTE and self.exclusions else None

    def _decision(self, s: KeyState, ep: Episode, t: int, f: Finding, status: str, severity: str) -> Decision:
        exclude = self._excluded(f.type, t)
        ev = gather(s, ep.start_bucket, t, f.issue, exclude)
        # Bonferroni over the windows tried; the score keeps its order however small p gets.
        log_p = min(0.0, f.log_p + math.log(len(self.config.windows)))
        ep.terms = ev.terms if s.dim != TERM else (s.key, *[x for x in ev.terms if x != s.key][:7])
        # People are the window's (observed), as the contract says; the evidence is the episode's.
        return Decision(
            alert_id=ep.alert_id, type=f.type, status=status, severity=severity,
            dimension=f.dimension, key=f.subject_key, label=f.label or f.subject_key,
            district_code=ev.district,
            window_start=bucket_start(t - f.width + 1), window_end=bucket_start(t + 1),
            raised_at=bucket_start(t + 1), observed=f.observed, expected=round(f.expected, 3),
            score=score_of_log_p(log_p), distinct_complainants=f.observed, ticket_ids=_ids(ep, exclude),
            top_terms=ep.terms,
            firms=ev.firms, amount=ev.amount, top_issue=f.issue or ev.issue,
        )


def severity_of(f: Finding, buckets: list[Any], watch: Watch, category: str | None = None) -> str:
    """How grave a finding is: by its people, then the key-product watch raises it a step
    each for a watched product (by the key's category, or a product key's own name),
    sudden harm (a word of ``data/harm_words.txt`` in the window's terms) and a large
    amount (the window's money at or above ``large_amount``); see ``Watch.judge``.

    A hot word is told as it is: a surging word alone is no product and no harm.
    """
    if f.type == GROUP_DISPUTE:
        base = CRITICAL if f.observed >= 30 else WARNING if f.observed >= 12 else INFO
    else:
        base = CRITICAL if f.observed >= 100 else WARNING if f.observed >= 20 else INFO
    if f.type not in (GROUP_DISPUTE, CONCENTRATED_DEMAND):
        return base
    amount = 0.0
    terms: set[str] = set()
    for bk in buckets:
        amount += bk.amount
        terms.update(bk.terms)
    product = f.label if f.dimension == PRODUCT else None
    return watch.judge(base, category=category, product=product, texts=sorted(terms), amount_total=amount).severity


def _resolved(s: KeyState, ep: Episode, t: int, exclude: Exclusion | None) -> Decision:
    """The episode as a whole: its span, its peak (observed), everyone in it, its evidence.

    Its buckets are mostly pruned by now (quiet for a day after its last finding): what
    ``fold`` kept of it is the account; the buckets left give only where and how much.
    """
    ev = gather(s, ep.start_bucket, ep.last_data_bucket, None, exclude)
    issue = ep.subject_key.rsplit("|", 1)[-1] if ep.dimension != s.dim else None
    fold(s, ep, ep.last_data_bucket, issue, exclude, again=True)
    label = s.label if ep.dimension == s.dim else f"{s.label}·{ep.subject_key.rsplit('|', 1)[-1]}"
    return Decision(
        alert_id=ep.alert_id, type=ep.type, status=RESOLVED, severity=ep.last_severity,
        dimension=ep.dimension, key=ep.subject_key, label=label, district_code=ev.district,
        window_start=bucket_start(ep.start_bucket), window_end=bucket_start(ep.last_data_bucket + 1),
        raised_at=bucket_start(t + 1), observed=ep.peak or ep.last_observed, expected=0.0, score=0.0,
        distinct_complainants=max(len(ep.people - exclude.people if exclude else ep.people),
                                  ep.peak or ep.last_observed),
        ticket_ids=_ids(ep, exclude) or ev.ids, top_terms=ep.terms or ev.terms,
        firms=ev.firms, amount=ev.amount, top_issue=ev.issue,
    )


def _ids(ep: Episode, exclude: Exclusion | None) -> tuple[str, ...]:
    """The episode's evidence ids, without the tickets due process leaves out now (people
    flagged after their tickets were folded in)."""
    if exclude is None or not exclude.tickets:
        return tuple(ep.ids)
    return tuple(i for i in ep.ids if i not in exclude.tickets)


__all__ = ["Episodes", "severity_of"]
