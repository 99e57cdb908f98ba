"""``python -m earlywarn.simulate``: measure the simulator's rate on the default scenario."""

import time

from earlywarn.simulate import SimConfig, Simulation


def _bench() -> None:  # pragma: no cover - a measurement, run by hand
    cfg = SimConfig(seed=1)
    t0 = time.perf_counter()
    sim = Simulation(cfg)
    t1 = time.perf_counter()
    n = sum(1 for _ in sim.tickets())
    t2 = time.perf_counter()
    print(
        f"{n} tickets, {len(sim.incidents)} incidents: plan {t1 - t0:.2f} s, write {t2 - t1:.2f} s, "
        f"{n / (t2 - t0):,.0f} tickets/s overall ({n / (t2 - t1):,.0f}/s writing)"
    )


_bench()
