"""Scoring the abnormal-firm judgement offline on simulated tickets with labelled repeat offenders and decoys.

Each scenario (:func:`scenario`: six weeks, so four weeks of past before the last two)
carries ``SimConfig.abnormal_firms`` = 4: four repeat offenders of each kind (volume,
issue mix, money), four one-day spikes, the four busiest platforms and one sector's season
(``earlywarn.simulate.firms``), on top of the usual background and incidents (the group
disputes among them are spikes too). Tickets go through contract validation and the keyed
pseudonym, as ``earlywarn detect`` with ``EARLYWARN_FIRMS=on`` takes them, into
:class:`detectors.firm_stage.FirmStage`, judged at each local midnight of event time.

A positive is found when one of its firm keys is in an ``abnormal_firm`` alert raised
after its onset; every other firm in an alert is a false flag (a decoy, a group dispute's
firm, or the background). Precision and recall are over firms; false flags per day over
the days judged. Tuned on :data:`TUNING_SEEDS`; the targets are judged on
:data:`FRESH_SEEDS`, used by nothing else.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

from detectors.firm_stage import FirmStage
from detectors.firms import FirmJudge, FirmTicket
from detectors.front import Front
from earlywarn.scenarios import WINDOWS
from earlywarn.simulate import SimConfig, Simulation
from schemas.normalise import pseudonym
from schemas.tickets import Ticket, decode

SECRET = b"earlywarn-eval"
TUNING_SEEDS = (1, 2, 3)
FRESH_SEEDS = (401, 402, 403, 404)  # used by no other evaluation or test
LATENESS = 600.0


def scenario(seed: int, *, days: float = 42, per_day: float = 6000, n: int = 4) -> SimConfig:
    return SimConfig(seed=seed, start=WINDOWS[seed % len(WINDOWS)], days=days, tickets_per_day=per_day,
                     abnormal_firms=n)


@dataclass(slots=True)
class Score:
    seed: int
    tickets: int
    positives: int
    found: int
    flagged: int  # firms in an alert: positives found (once each) plus every other firm key
    false_flags: int
    days_judged: int
    false_by_kind: Counter[str] = field(default_factory=Counter)
    missed: list[str] = field(default_factory=list)
    false_detail: list[str] = field(default_factory=list)  # each false flag's firm and what departed
    seconds: float = 0.0

    @property
    def precision(self) -> float:
        return (self.flagged - self.false_flags) / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else 1.0


def run(cfg: SimConfig, judge: FirmJudge | None = None) -> Score:
    started = time.perf_counter()
    sim = Simulation(cfg)
    stage = FirmStage(judge)
    front = Front()
    decisions = []
    judged = 0
    tickets = 0
    for raw in sim.tickets():
        (t,) = decode(orjson.dumps(raw))
        assert isinstance(t, Ticket)
        tickets += 1
        front.add(t.ts)
        ft = FirmTicket.from_ticket(t, pseudonym(SECRET, t.complainant_id, t.complainant_phone))
        if ft is not None:
            stage.add((ft,))
        if front.value is not None:
            before = stage.next_judgement
            decisions.extend(stage.advance(front.value - LATENESS))
            judged += round((stage.next_judgement - before) / 86400) if before is not None else 0
    before = stage.next_judgement
    decisions.extend(stage.advance(float(sim._t1)))
    judged += round((stage.next_judgement - before) / 86400) if before is not None else 0
    # Days judged: those whose window had its history (the judge says nothing before).
    judged = max(0, judged - (stage.judge.recent_days + stage.judge.min_past_days))
    positive = {k: c for c in sim.firm_cases if c.abnormal for k in c.firm_keys}
    decoy = {k: c.family for c in sim.firm_cases if not c.abnormal for k in c.firm_keys}
    incident = {k: i.family for i in sim.incidents for k in i.keys}
    found: set[str] = set()
    false: set[str] = set()
    kinds: Counter[str] = Counter()
    detail: list[str] = []
    for d in decisions:
        if d.status == "resolved":
            continue
        case = positive.get(d.key)
        if case is not None and d.raised_at >= case.start_ts:
            found.add(case.case_id)
        elif d.key not in false:
            false.add(d.key)
            kind = decoy.get(d.key) or incident.get(d.key) or "background"
            kinds[kind] += 1
            detail.append(f"{d.label} ({kind}): {'; '.join(d.top_terms)}")
    cases = [c for c in sim.firm_cases if c.abnormal]
    return Score(cfg.seed, tickets, len(cases), len(found), len(found) + len(false), len(false), judged, kinds,
                 [f"{c.case_id} ({c.description})" for c in cases if c.case_id not in found],
                 detail, time.perf_counter() - started)


def _run_one(a: tuple[int, float, float]) -> Score:
    return run(scenario(a[0], days=a[1], per_day=a[2]))


def table(scores: list[Score]) -> tuple[str, bool]:
    lines = ["| seed | tickets | positives | found | flagged | false flags | false flags/day | precision | recall "
             "| false flags by kind | seconds |", "|--:|--:|--:|--:|--:|--:|--:|--:|--:|:--|--:|"]
    for s in scores:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(s.false_by_kind.items())) or "-"
        lines.append(f"| {s.seed} | {s.tickets:,} | {s.positives} | {s.found} | {s.flagged} | {s.false_flags} "
                     f"| {s.false_flags / max(s.days_judged, 1):.3f} | {s.precision:.3f} | {s.recall:.3f} | {kinds} "
                     f"| {s.seconds:.0f} |")
    pos, found, flagged, false, days = (sum(getattr(s, a) for s in scores)
                                        for a in ("positives", "found", "flagged", "false_flags", "days_judged"))
    prec = (flagged - false) / flagged if flagged else 1.0
    rec = found / pos if pos else 1.0
    ok = prec >= 0.9 and rec >= 0.9
    lines.append("")
    lines.append(f"pooled: precision {prec:.3f} (>= 0.9) recall {rec:.3f} (>= 0.9), {false} false flags in {days} "
                 f"days judged ({false / max(days, 1):.3f}/day): {'targets met' if ok else 'TARGETS NOT MET'}")
    for s in scores:
        lines.extend(f"seed {s.seed} missed: {m}" for m in s.missed)
        lines.extend(f"seed {s.seed} false flag: {m}" for m in s.false_detail)
    return "\n".join(lines), ok


def eval_family(args: argparse.Namespace) -> int:
    """``earlywarn eval --family firms``: repeat offenders and decoys, judged daily, on fresh seeds."""
    from concurrent.futures import ProcessPoolExecutor

    seeds = FRESH_SEEDS if args.seeds in ((), None) else args.seeds
    days = args.days
    if days < 29:
        print("eval firms: --days must be 29 or more (two weeks of past, two of repeat offending)", file=sys.stderr)
        return 2
    print(f"eval firms: seeds {', '.join(map(str, seeds))}, {days:g} days at {args.per_day:g} tickets/day, "
          f"4 repeat offenders of each kind, spikes, big platforms and a season each", file=sys.stderr, flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        scores = list(pool.map(_run_one, [(s, days, args.per_day) for s in seeds]))
    text, ok = table(scores)
    print(text)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m earlywarn.evalfirms", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=",".join(map(str, TUNING_SEEDS)), help="comma-separated scenario seeds")
    ap.add_argument("--days", type=float, default=42)
    ap.add_argument("--per-day", type=float, default=6000)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    args.seeds = tuple(int(s) for s in args.seeds.split(","))
    return eval_family(args)


if __name__ == "__main__":
    sys.exit(main())
