"""Key-product watch (三品一特): food, drugs, cosmetics, medical devices, special equipment and children's products
are judged with a smaller group and told with a higher severity; sudden harm and large sums raise it further.

The watchlist (``data/watchlist.csv``: group, label, pattern) matches a key's product
category or product name; the sudden-harm words (``data/harm_words.txt``: 中毒, 爆炸, 起火,
过敏, 死亡, 受伤 …) are looked for in the episode's narratives or terms; a large amount is
the episode's money involved at or above ``large_amount`` CNY (a setting, default 50 000).
The engine calls :meth:`Watch.min_people` when it decides whether a key's people make a
group, and :meth:`Watch.judge` when it sets an alert's severity.

>>> w = Watch()
>>> w.group_of("特种设备", "住宅电梯").label, w.group_of("网络购物", "连衣裙")
('特种设备', None)
>>> w.min_people("婴幼儿配方奶粉", None, default=5), w.min_people("家用电器", None, default=5)
(3, 5)
>>> v = w.judge("warning", category="食品", texts=["多人食物中毒送医"], amount_total=1200.0)
>>> v.severity, v.reasons, v.harm_words
('critical', ('key_product', 'sudden_harm'), ('中毒', '食物中毒'))
>>> w.judge("info", category="家用电器", amount_total=80000.0).severity
'warning'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from detectors.datafiles import norm, rows, words

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class WatchGroup:
    group: str  # food, drug, cosmetic, medical_device, special_equipment, children
    label: str  # 食品, 药品, …


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the watch adds to a judgement: the severity after it, and why."""

    severity: str
    watched: WatchGroup | None
    reasons: tuple[str, ...]  # key_product, sudden_harm, large_amount (those that raised it)
    harm_words: tuple[str, ...]
    amount_total: float
    large_amount: bool


def _raise(severity: str, steps: int) -> str:
    i = SEVERITIES.index(severity) if severity in SEVERITIES else 0
    return SEVERITIES[min(len(SEVERITIES) - 1, i + steps)]


class Watch:
    """The watchlist, the harm words and the large-amount threshold.

    Parameters
    ----------
    watch_min_people
        Distinct complainants that make a group for a watched product (the engine's usual
        ``EARLYWARN_MIN_PEOPLE`` applies elsewhere).
    large_amount
        Money involved (CNY, the episode's total) that raises severity.
    """

    def __init__(self, *, watch_min_people: int = 3, large_amount: float = 50_000.0,
                 watchlist: Iterable[tuple[str, str, str]] | None = None,
                 harm_words: Iterable[str] | None = None) -> None:
        self.watch_min_people = watch_min_people
        self.large_amount = large_amount
        table = list(watchlist) if watchlist is not None else [
            (r["group"], r["label"], r["pattern"]) for r in rows("watchlist.csv")]
        # Longer patterns first: 医疗美容 is a device group even though 美容 might match elsewhere.
        self._patterns = sorted(((norm(p), WatchGroup(g, lab)) for g, lab, p in table), key=lambda x: -len(x[0]))
        self._harm = tuple(norm(w) for w in (harm_words if harm_words is not None else words("harm_words.txt")))

    def group_of(self, category: str | None, product: str | None = None) -> WatchGroup | None:
        """The watch group of a product category or product name, else None."""
        for text in (category, product):
            if text:
                t = norm(text)
                for p, g in self._patterns:
                    if p in t:
                        return g
        return None

    def min_people(self, category: str | None, product: str | None, *, default: int) -> int:
        """Distinct people that make a group for this key."""
        return min(default, self.watch_min_people) if self.group_of(category, product) else default

    def harm_words_in(self, texts: Iterable[str]) -> tuple[str, ...]:
        found = set()
        for text in texts:
            t = norm(text)
            found.update(w for w in self._harm if w in t)
        return tuple(sorted(found))

    def judge(self, severity: str, *, category: str | None = None, product: str | None = None,
              texts: Iterable[str] = (), amount_total: float = 0.0) -> Verdict:
        """The severity after the watch: one step up for a watched product, one for sudden
        harm, one for a large amount (capped at critical)."""
        group = self.group_of(category, product)
        harm = self.harm_words_in(texts)
        large = amount_total >= self.large_amount
        reasons = tuple(r for r, on in (("key_product", group is not None), ("sudden_harm", bool(harm)),
                                        ("large_amount", large)) if on)
        return Verdict(_raise(severity, len(reasons)), group, reasons, harm, amount_total, large)
