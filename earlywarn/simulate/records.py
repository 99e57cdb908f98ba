"""The simulator's public records: a scenario's :class:`SimConfig`, an :class:`Incident` label,
and the key functions (:func:`text_key`, :func:`firm_key`) labels are written with.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from earlywarn.simulate.families import DECOY_FAMILIES, DEFAULT_DECOYS, DEFAULT_INCIDENTS, FAMILIES
from earlywarn.simulate.vocab import _BIG_FIRMS
from schemas.uscc import is_uscc

try:  # the engine's own key rules when they exist, so labels and alerts key alike
    from schemas.normalise import firm_key as _engine_firm_key
    from schemas.normalise import normalise_name as _engine_normalise
except ImportError:  # pragma: no cover - before schemas/normalise.py existed
    _engine_firm_key = None
    _engine_normalise = None


def text_key(s: str) -> str:
    """NFKC, strip, collapse whitespace, lowercase: the engine's key for names and categories.

    >>> text_key("  ＡＢＣ牌  空气炸锅（KX-2型） ")
    'abc牌 空气炸锅(kx-2型)'
    """
    if _engine_normalise is not None:
        return str(_engine_normalise(s))
    return " ".join(unicodedata.normalize("NFKC", s).split()).lower()


def firm_key(ticket: dict[str, Any]) -> str | None:
    """The firm subject key of a ticket: its USCC when valid, else ``name:`` + normalised name.

    >>> firm_key({"firm_name": "上海 悦动健身有限公司 ", "firm_id": "913101150000000000"})
    'name:上海 悦动健身有限公司'
    """
    fid, name = ticket.get("firm_id"), ticket.get("firm_name")
    if _engine_firm_key is not None:
        key = _engine_firm_key(fid, name)
        return None if key is None else str(key)
    if fid and is_uscc(fid):
        return str(fid)
    return "name:" + text_key(name) if name else None


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled injected episode: what the engine should (or, for decoys, must not) alert on.

    ``ticket_ts`` holds each ticket's event time (UTC epoch seconds), parallel to
    ``ticket_ids``, so scoring can count how many of the incident's tickets had arrived
    when the first alert was raised.
    """

    incident_id: str
    family: str
    expected_type: str | None
    dimension: str
    keys: tuple[str, ...]
    start_ts: float
    end_ts: float
    people: int
    ticket_ids: tuple[str, ...]
    ticket_ts: tuple[float, ...] = ()
    description: str = ""


Counts = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SimConfig:
    """One scenario. ``incidents`` / ``decoys``: explicit ``(family, count)`` pairs, or a
    float rate per day spread round-robin over the families (decoys: over the
    person/small-firm decoys, plus one festival). Incidents start after ``warmup_days``
    so a detector has some history; ``bad_firm_id_rate`` of firm-bearing tickets omit
    ``firm_id`` or carry a malformed one. ``rings`` claimant rings are added on request
    (``Simulation.claimant_rings`` lists their members' complainant ids).
    """

    seed: int = 1
    start: str = "2025-03-03T00:00:00+08:00"
    days: float = 28
    tickets_per_day: float = 6000
    firms: int = 4000
    incidents: Counts | float = DEFAULT_INCIDENTS
    decoys: Counts | float = DEFAULT_DECOYS
    professionals: int = 8
    warmup_days: float = 3.0
    # Claimant rings (opt-in; 0 leaves every other config's output unchanged): groups of
    # 3-6 people who each file 2-4 claims from one shared template against different firms.
    rings: int = 0
    # Abnormal firms (opt-in; 0 changes nothing): n repeat offenders of each kind and their
    # decoys (earlywarn.simulate.firms; ``Simulation.firm_cases`` labels them).
    abnormal_firms: int = 0
    bad_firm_id_rate: float = 0.05
    # Tickets with no identity (opt-in, issue 16 item 3; 0 leaves every other config's output
    # unchanged): a share without complainant_id (half of it without phone and name too), and
    # bursts of near-identical letters from one sender with no identity (decoys).
    missing_identity_rate: float = 0.0
    one_sender_bursts: int = 0
    # Slow-building disputes (opt-in, issue 16 item 1; 0 leaves other configs unchanged):
    # 30-70 people against one small firm over 14-35 days, a few a day.
    slow_disputes: int = 0
    # District surges (opt-in, issue 19 item 5; 0 leaves other configs unchanged): one
    # district at three to five times its usual complaints for 3-8 hours, over many firms.
    district_surges: int = 0

    def __post_init__(self) -> None:
        if self.days <= 0 or self.tickets_per_day < 0 or self.firms < len(_BIG_FIRMS) + 50:
            raise ValueError(f"need days > 0, tickets_per_day >= 0 and firms >= {len(_BIG_FIRMS) + 50}")
        if datetime.fromisoformat(self.start).utcoffset() is None:
            raise ValueError(f"start must carry a UTC offset, e.g. 2025-03-03T00:00:00+08:00; got {self.start!r}")
        for counts, known in ((self.incidents, FAMILIES), (self.decoys, DECOY_FAMILIES)):
            if not isinstance(counts, (int, float)):
                for fam, n in counts:
                    if fam not in known or n < 0:
                        raise ValueError(f"unknown family or negative count: {fam!r} {n}")
