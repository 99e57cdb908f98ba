"""Small deterministic draws shared by the planners and the writer: cumulative weights and a
pick from them, Poisson counts, and the integer hash that turns person numbers into ids.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence
from typing import Any


def _scramble(x: int) -> int:
    """A bijection of [0, 2**33) that looks random (an invertible integer hash). Person
    ids come from it (< 10**10, so ten digits), so they never collide and show no sequence."""
    x &= 0x1FFFFFFFF
    x = (x * 0x9E3779B1) & 0x1FFFFFFFF
    x ^= x >> 16
    x = (x * 0x85EBCA77) & 0x1FFFFFFFF
    return x ^ (x >> 11)


def _anonymous(v: int) -> bool:
    """Whether the person hashed to *v* files reports anonymously (~10 % do, always)."""
    return (v >> 23) % 10 == 0


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: Sequence[Any], cum: list[float]) -> Any:
    return items[bisect.bisect(cum, rng.random() * cum[-1])]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:  # normal approximation; exact enough for hourly counts
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
