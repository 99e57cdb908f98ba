"""Tail probabilities of count distributions, computed in log space so tiny tails keep their order.

Complaint counts are sparse and over-dispersed: most firms see zero tickets most days, and
a rate learned from a short history is uncertain. A Gamma posterior on the rate makes the
count in a window Negative Binomial, so these are the tails the detectors judge by.

>>> round(poisson_sf(3, 1.0), 4)          # P(X >= 3), X ~ Poisson(1)
0.0803
>>> nb_sf(3, r=1e9, mean=1.0) - poisson_sf(3, 1.0) < 1e-6   # NB -> Poisson as r grows
True
>>> nb_sf(12, r=0.5, mean=0.05) < nb_sf(5, r=0.5, mean=0.05) < 1.0
True
>>> log_nb_sf(400, r=50.0, mean=20.0) < log_nb_sf(200, r=50.0, mean=20.0) < 0   # order kept far below 1e-300
True
"""

from __future__ import annotations

import math

_LN_TINY = -745.0  # below this exp() underflows to 0.0 in float64


def _logsumexp_add(acc: float, x: float) -> float:
    if acc == -math.inf:
        return x
    if x > acc:
        acc, x = x, acc
    return acc + math.log1p(math.exp(x - acc))


def _log_betainc(a: float, b: float, x: float, swap: bool = True) -> float:
    """log of the regularized incomplete beta I_x(a, b), by Lentz's continued fraction.

    On the boundary x = (a + 1) / (a + b + 2) rounding can put both x and 1 - x on the
    "other" side; the complement is taken once at most (it converges on either side there).

    >>> round(_log_betainc(3.0, 1 / 3, 0.75), 6) == round(_log_betainc(3.0, 1 / 3, 0.75 + 1e-12), 6)
    True
    """
    if x <= 0.0:
        return -math.inf
    if x >= 1.0:
        return 0.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if swap and x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only on this side
        other = _log_betainc(b, a, 1.0 - x, swap=False)  # I_x(a, b) = 1 - I_{1-x}(b, a)
        return math.log(max(-math.expm1(other), 1e-300))
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-13:
            break
    return log_front + math.log(h) - math.log(a)


def log_nb_sf(k: int, *, r: float, mean: float) -> float:
    """log P(X >= k) for a Negative Binomial with shape *r* and the given mean.

    P(X >= k) = I_q(k, r) with q = mean / (r + mean): the regularized incomplete beta,
    evaluated by continued fraction in log space (tens of iterations, whatever the tail).
    """
    if k <= 0:
        return 0.0
    if mean <= 0.0:
        return -math.inf
    return min(0.0, _log_betainc(float(k), r, mean / (r + mean)))


def nb_sf(k: int, *, r: float, mean: float) -> float:
    """P(X >= k) for a Negative Binomial with shape *r* and the given mean."""
    return math.exp(max(log_nb_sf(k, r=r, mean=mean), _LN_TINY))


def log_poisson_sf(k: int, mean: float) -> float:
    """log P(X >= k) for X ~ Poisson(mean)."""
    if k <= 0:
        return 0.0
    if mean <= 0.0:
        return -math.inf
    if k > mean:
        log_term = k * math.log(mean) - mean - math.lgamma(k + 1)
        acc = log_term
        x = k
        while True:
            ratio = mean / (x + 1)
            if ratio < 1.0 and log_term + math.log(ratio / (1.0 - ratio)) < acc - 36.0:
                break
            x += 1
            log_term += math.log(ratio)
            acc = _logsumexp_add(acc, log_term)
        return min(0.0, acc)
    head = 0.0
    log_term = -mean
    for x in range(k):
        head += math.exp(log_term)
        log_term += math.log(mean / (x + 1))
    return math.log(max(1.0 - head, 1e-300))


def poisson_sf(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean)."""
    return math.exp(max(log_poisson_sf(k, mean), _LN_TINY))
