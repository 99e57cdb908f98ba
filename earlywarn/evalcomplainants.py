"""Scoring the abnormal-complainant finder offline on simulated tickets with labelled claimants.

The simulator's professionals (one template each, ~1.5 claims a working day) and its
claimant rings (``SimConfig.rings``: 3-6 people, 2-4 claims each, one shared template) are
the positives; everyone else who filed a claim is a negative, including the
``decoy_repeat_person`` (one genuine consumer ringing many times about one shop).
Tickets go through contract validation (``schemas.tickets.decode``) and the keyed
pseudonym, as ingest does, then into :class:`detectors.complainants.ComplainantJudge`,
judged once a day at local midnight; a person counts as found when any daily judgement
flags them. ``python -m earlywarn.evalcomplainants --seeds 101,102,103`` prints the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import orjson

from detectors.complainants import Claim, ComplainantJudge, FlagRegistry
from earlywarn.simulate import SimConfig, Simulation
from schemas.normalise import pseudonym
from schemas.tickets import Ticket, decode

SECRET = b"earlywarn-eval"
DAY = 86400


@dataclass(frozen=True, slots=True)
class Score:
    seed: int
    positives: int
    flagged: int
    true_flags: int
    ring_members: int
    ring_found: int
    ring_findings: int  # findings naming two or more ring members (ideally one per ring)
    rings: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.true_flags / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.true_flags / self.positives if self.positives else 1.0


def scenario(seed: int, *, days: float = 28, rings: int = 4) -> SimConfig:
    return SimConfig(seed=seed, days=days, rings=rings)


def run(cfg: SimConfig) -> Score:
    started = time.perf_counter()
    sim = Simulation(cfg)
    judge = ComplainantJudge()
    registry = FlagRegistry()
    of_id: dict[str, str] = {}
    claimants: set[str] = set()
    next_tick = None
    ever: set[str] = set()
    ring_findings = 0
    ring_of: dict[str, int] = {}

    def tick(at: float) -> None:
        findings = judge.judge(at, registry.cleared)
        registry.update(findings, at)
        for f in findings:
            ever.update(f.persons)
        judge.expire(at)

    for raw in sim.tickets():
        (t,) = decode(orjson.dumps(raw))
        assert isinstance(t, Ticket)
        if next_tick is None:
            next_tick = (int(t.ts + 8 * 3600) // DAY + 1) * DAY - 8 * 3600
        while t.ts >= next_tick:
            tick(next_tick)
            next_tick += DAY
        person = pseudonym(SECRET, t.complainant_id, t.complainant_phone) or f"t:{t.ticket_id}"
        if t.complainant_id:
            of_id[t.complainant_id] = person
        if t.kind.value != "consultation" and not person.startswith("t:"):
            claimants.add(person)
        judge.add(Claim.from_ticket(t, person))
    if next_tick is not None:
        tick(next_tick)
    pros = {of_id[c] for c in sim.professional_complainants if c in of_id}
    for k, ring in enumerate(sim.claimant_rings):
        for c in ring:
            if c in of_id:
                ring_of[of_id[c]] = k
    # A ring is told as one finding: count the distinct findings its flagged members are under.
    positives = (pros | set(ring_of)) & claimants
    flagged = ever & claimants
    rings_told = {ring_of[p] for p in ever if p in ring_of}
    for k in rings_told:
        members = {p for p, r in ring_of.items() if r == k}
        firm_keys = {registry.flags[p].finding for p in members if p in registry.flags}
        ring_findings += len(firm_keys)
    return Score(cfg.seed, len(positives), len(flagged), len(flagged & positives), len(ring_of),
                 len(ever & set(ring_of)), ring_findings, len(sim.claimant_rings), time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m earlywarn.evalcomplainants", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="101,102,103", help="comma-separated scenario seeds")
    ap.add_argument("--days", type=float, default=28)
    ap.add_argument("--rings", type=int, default=4)
    args = ap.parse_args(argv)
    scores = [run(scenario(int(s), days=args.days, rings=args.rings)) for s in args.seeds.split(",")]
    for s in scores:
        print(f"seed {s.seed}: positives {s.positives} flagged {s.flagged} true {s.true_flags} "
              f"precision {s.precision:.3f} recall {s.recall:.3f}; ring members {s.ring_members} found "
              f"{s.ring_found}, {s.rings} rings told in {s.ring_findings} findings; {s.seconds:.1f}s")
    pos, flg, tru = (sum(getattr(s, a) for s in scores) for a in ("positives", "flagged", "true_flags"))
    p, r = (tru / flg if flg else 1.0), (tru / pos if pos else 1.0)
    print(f"pooled: precision {p:.3f} recall {r:.3f} ({tru}/{flg} flagged, {tru}/{pos} positives)")
    return 0 if p >= 0.95 and r >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
