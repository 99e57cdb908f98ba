"""``python -m earlywarn.simulate``: measure the simulator's rate on the default scenario."""

from earlywarn.simulate import _bench

_bench()
