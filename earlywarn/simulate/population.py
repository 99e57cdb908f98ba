"""The firm population: who can be complained about, with valid (and sometimes malformed) USCCs.

A scenario's firms are the fixed big platforms and chains of ``data/names.json`` plus
companies and sole traders (个体工商户) drawn by sector share and district weight, ranked
on a Zipf curve so a few take most tickets and most firms none on a given day.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from earlywarn.simulate.draws import _cum, _pick
from earlywarn.simulate.rhythm import _ECOMMERCE
from earlywarn.simulate.vocab import _BIG_FIRMS, _BRAND_A, _BRAND_B, SECTORS, Sector
from schemas.regions import SHANGHAI_DISTRICTS
from schemas.uscc import ALPHABET, uscc_check_digit

_ZIPF_EXPONENT = 1.0


@dataclass(slots=True)
class _Firm:
    idx: int
    name: str
    short: str  # shop or brand name as people say it
    firm_id: str
    district: str
    sector: str
    products: tuple[str, ...]
    platform: str | None  # the platform an online shop sells on / the platform a platform firm runs
    is_platform: bool
    weight: float = 0.0


def _uscc(rng: random.Random, district: str, sole: bool) -> str:
    body = ("92" if sole else "91") + district
    if sole or rng.random() < 0.7:  # post-2015 registrations start the org part with MA
        org = "MA" + "".join(rng.choice(ALPHABET) for _ in range(7))
    else:
        org = "".join(rng.choice("0123456789") for _ in range(8)) + rng.choice(ALPHABET)
    return body + org + uscc_check_digit(body + org)


def _malformed(rng: random.Random, firm_id: str, district: str) -> str | None:
    """None (omitted), or an id the engine cannot use: wrong check, truncated, old 15-digit."""
    u = rng.random()
    if u < 0.6:
        return None
    if u < 0.8:
        wrong = ALPHABET[(ALPHABET.index(firm_id[17]) + 1 + rng.randrange(30)) % 31]
        return firm_id[:17] + wrong
    if u < 0.9:
        return firm_id[:17]
    return district + "".join(rng.choice("0123456789") for _ in range(9))


def _make_firms(
    rng: random.Random, n_firms: int, district_codes: Sequence[str], district_cum: list[float]
) -> tuple[list[_Firm], dict[int, int]]:
    """The scenario's *n_firms* firms and each one's Zipf rank (by ``idx``): the fixed big firms
    first, then companies and 个体工商户 drawn by sector and district."""
    firms: list[_Firm] = []
    names: set[str] = set()
    platform_names = [p for *_x, p in _BIG_FIRMS if p and _x[2] in _ECOMMERCE]
    for name, short, sector, district, platform in _BIG_FIRMS:
        s = SECTORS[sector]
        products = tuple(rng.sample(s.products, min(6, len(s.products))))
        firms.append(
            _Firm(len(firms), name, short, _uscc(rng, district, False), district, sector, products, platform, True)
        )
        names.add(name)
    sectors = list(SECTORS.values())
    sector_cum = _cum([s.firm_share for s in sectors])
    live = [p for p in platform_names if "直播" in p]
    shop = [p for p in platform_names if "直播" not in p]
    while len(firms) < n_firms:
        s: Sector = _pick(rng, sectors, sector_cum)
        district = _pick(rng, district_codes, district_cum)
        brand = rng.choice(_BRAND_A) + rng.choice(_BRAND_B)
        sole = bool(s.sole_words) and rng.random() < s.sole_share
        if sole:
            word = rng.choice(s.sole_words)
            name, short = f"上海市{SHANGHAI_DISTRICTS[district]}{brand}{word}", brand + word
        else:
            word = rng.choice(s.words)
            name = f"上海{brand}{word}{rng.choice(s.suffixes)}"
            short = brand + word[:2]
        if name in names:
            continue
        names.add(name)
        platform = None
        if s.online:
            platform = rng.choice(live if s.name == "直播电商" else shop)
            short = brand + rng.choice(("旗舰店", "官方店", "优选", "专营店", "小铺"))
        products = tuple(rng.sample(s.products, rng.randint(1, min(4, len(s.products)))))
        firms.append(_Firm(len(firms), name, short, _uscc(rng, district, sole), district, s.name, products,
                           platform, False))  # fmt: skip
    # Zipf by rank: the fixed big firms first, then companies in random order, then
    # sole traders (个体工商户: one shop each, never a big complaint volume).
    rest = firms[len(_BIG_FIRMS) :]
    rng.shuffle(rest)
    rest.sort(key=lambda f: f.firm_id.startswith("92"))  # stable: keeps the shuffle within each group
    ranked = firms[: len(_BIG_FIRMS)] + rest
    total = sum(1 / (r + 1) ** _ZIPF_EXPONENT for r in range(len(ranked)))
    for r, f in enumerate(ranked):
        f.weight = 1 / (r + 1) ** _ZIPF_EXPONENT / total
    return firms, {f.idx: r for r, f in enumerate(ranked)}
