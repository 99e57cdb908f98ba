"""The abnormal-complainant flags, with due process: a flag labels and deprioritises, never drops.

:class:`FlagRegistry` keeps each flag (from :class:`detectors.complainants.Finding`) with
its reasons, first-seen time and expiry; ``excluded(at)`` is the set of pseudonyms the
engine leaves out of group-dispute people counts and evidence, and ``is_flagged`` the
predicate. Staff ``clear`` a flag; the cleared person is judged afresh, on tickets after
the clearing only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detectors.complainants import Finding, Mark  # Mark: in FlagRegistry's example


@dataclass(slots=True)
class Flag:
    """A person's flag: why, since when (the judgement that first raised it), until when."""

    person: str
    finding: str  # the finding's key (a ring's members share it)
    reasons: tuple[str, ...]
    first_seen: float
    last_seen: float
    expires: float
    ticket_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "finding": self.finding, "reasons": list(self.reasons),
                "first_seen": self.first_seen, "last_seen": self.last_seen, "expires": self.expires,
                "ticket_ids": list(self.ticket_ids)}


@dataclass(slots=True)
class Clearing:
    """Staff cleared a flag: who, why, when (event time). Earlier claims no longer count."""

    person: str
    at: float
    who: str
    why: str


@dataclass
class FlagRegistry:
    """The flags in force and the clearings: what the engine reads to deprioritise and exclude.

    >>> reg = FlagRegistry()
    >>> f = Finding("p_a", ("p_a",), (("p_a", (Mark("template", 3, 3, 4),)),), (), 4, 10.0, 20.0, 99.0, ("T1",))
    >>> reg.update([f], at=30.0)
    ['p_a']
    >>> reg.is_flagged("p_a", 50.0), "p_a" in reg.excluded(100.0)   # lapsed after its expiry
    (True, False)
    >>> _ = reg.clear("p_a", at=60.0, who="王科长", why="核实为正常消费者"); reg.is_flagged("p_a", 61.0)
    False
    >>> reg.cleared
    {'p_a': 60.0}
    """

    flags: dict[str, Flag] = field(default_factory=dict)
    clearings: dict[str, Clearing] = field(default_factory=dict)

    def update(self, findings: Iterable[Finding], at: float) -> list[str]:
        """Record a judgement's findings at event time *at*; the pseudonyms newly flagged."""
        new = []
        for f in findings:
            for p, ms in f.marks:
                old = self.flags.get(p)
                if old is None or old.expires < at:
                    new.append(p)
                    first = at
                else:
                    first = old.first_seen
                self.flags[p] = Flag(p, f.key, tuple(sorted({m.name for m in ms})), first, f.last_seen,
                                     f.expires, f.ticket_ids)
        return new

    def clear(self, person: str, at: float, who: str, why: str) -> Flag | None:
        """Staff clear *person*: the flag goes, and only claims after *at* count from now on."""
        self.clearings[person] = Clearing(person, at, who, why)
        return self.flags.pop(person, None)

    @property
    def cleared(self) -> dict[str, float]:
        """Pseudonym -> when cleared: pass to :meth:`ComplainantJudge.judge`."""
        return {p: c.at for p, c in self.clearings.items()}

    def is_flagged(self, person: str, at: float) -> bool:
        f = self.flags.get(person)
        return f is not None and at <= f.expires

    def flag(self, person: str, at: float) -> Flag | None:
        """The flag in force on *person* at *at* (staff see it on every ticket of theirs), else None."""
        return self.flags.get(person) if self.is_flagged(person, at) else None

    def excluded(self, at: float) -> frozenset[str]:
        """Pseudonyms left out of group-dispute people counts and evidence at *at*."""
        return frozenset(p for p, f in self.flags.items() if at <= f.expires)

    def prune(self, at: float) -> None:
        """Drop lapsed flags (they no longer exclude anyone)."""
        for p in [p for p, f in self.flags.items() if f.expires < at]:
            del self.flags[p]
