"""The key-product watch inside the engine: smaller groups at watched firms, severity raised
by a watched product, harm words (the one list in data/harm_words.txt) and large amounts."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

import detectors.episodes as episodes
from detectors.aggregate import Enriched
from detectors.config import DetectConfig
from detectors.datafiles import words
from detectors.decisions import CONCENTRATED_DEMAND, CRITICAL, GROUP_DISPUTE, INFO, TERM_SURGE, WARNING
from detectors.episodes import severity_of
from detectors.judge import Finding
from detectors.watch import Watch
from tests.test_detectors.test_partition import CFG, DAY, T0, added, burst, quiet, quiet_alerts, run  # noqa: F401


WATCH3 = replace(CFG, watch_min_people=3)  # the watch's own default (detectors.watch.Watch)


def in_category(tickets: list[Enriched], category: str, **changes: object) -> list[Enriched]:
    return [replace(e, category=category, **changes) for e in tickets]


@pytest.mark.parametrize(("category", "people", "alerts"), [
    ("食品", 4, True),  # a restaurant: food is watched, 3 people make a group
    ("儿童用品", 3, True),
    ("c", 4, False),  # anything else still needs 5
    ("食品", 2, False),  # and two people are never a group
])
def test_a_watched_firm_makes_a_group_with_fewer_people(quiet: list[Enriched], quiet_alerts: set[str],
                                                        category: str, people: int, alerts: bool) -> None:
    incident = in_category(burst("KP", T0 + 9 * DAY + 3600, hours=2, people=people), category)
    got = added(run(quiet + incident, cfg=WATCH3), quiet_alerts, GROUP_DISPUTE)
    assert [(d.dimension, d.key) for d in got] == ([("firm", "SHOP")] if alerts else [])


def test_the_watch_group_size_is_a_setting_as_large_as_anywhere_by_default(quiet: list[Enriched],
                                                                         quiet_alerts: set[str]) -> None:
    incident = in_category(burst("KP", T0 + 9 * DAY + 3600, hours=2, people=4), "食品")
    assert DetectConfig().watch_min_people == DetectConfig().min_people
    assert added(run(quiet + incident), quiet_alerts, GROUP_DISPUTE) == []


def test_harm_in_a_watched_firms_dispute_makes_it_critical(quiet: list[Enriched], quiet_alerts: set[str]) -> None:
    plain = in_category(burst("KP", T0 + 9 * DAY + 3600, hours=2, people=6), "家用电器")
    harm = in_category(plain, "食品", terms=("食物中毒", "呕吐", "腹泻"))
    (a,) = added(run(quiet + plain), quiet_alerts, GROUP_DISPUTE)
    (b,) = added(run(quiet + harm), quiet_alerts, GROUP_DISPUTE)
    assert (a.severity, b.severity) == (INFO, CRITICAL)


def buckets(terms: tuple[str, ...] = (), amount: float = 0.0) -> list[SimpleNamespace]:
    return [SimpleNamespace(terms=dict.fromkeys(terms, 1), amount=amount)]


def finding(type_: str, people: int, dimension: str = "firm", label: str = "某店") -> Finding:
    return Finding(type_, dimension, "K", label, 4, people, 1.0, -20.0)


@pytest.mark.parametrize(("f", "category", "terms", "amount", "want"), [
    (finding(GROUP_DISPUTE, 6), "c", (), 0.0, INFO),
    (finding(GROUP_DISPUTE, 12), "c", (), 0.0, WARNING),
    (finding(GROUP_DISPUTE, 30), "c", (), 0.0, CRITICAL),
    (finding(GROUP_DISPUTE, 6), "特种设备", (), 0.0, WARNING),  # a lift
    (finding(GROUP_DISPUTE, 6), "c", ("被困", "电梯"), 0.0, WARNING),  # a harm word of the data file
    (finding(GROUP_DISPUTE, 6), "c", (), 49_999.0, INFO),
    (finding(GROUP_DISPUTE, 6), "c", (), 50_000.0, WARNING),  # large amount
    (finding(GROUP_DISPUTE, 6), "食品", ("食物中毒",), 80_000.0, CRITICAL),  # capped
    (finding(CONCENTRATED_DEMAND, 25, "product", "婴幼儿配方奶粉"), None, (), 0.0, CRITICAL),  # by its name
    (finding(TERM_SURGE, 25, "term", "中毒"), "食品", ("中毒",), 1e6, WARNING),  # a hot word is told as is
])
def test_severity(f: Finding, category: str | None, terms: tuple[str, ...], amount: float, want: str) -> None:
    assert severity_of(f, buckets(terms, amount), Watch(), category) == want


def test_severity_reads_the_settings_large_amount() -> None:
    cfg = DetectConfig(large_amount=1000.0)
    w = Watch(watch_min_people=cfg.watch_min_people, large_amount=cfg.large_amount)
    assert severity_of(finding(GROUP_DISPUTE, 6), buckets(amount=1000.0), w, "c") == WARNING


def test_one_list_of_harm_words() -> None:
    # The engine keeps no word list of its own: every harm word of the data file raises severity.
    assert not hasattr(episodes, "SAFETY_TERMS")
    for word in words("harm_words.txt"):
        assert severity_of(finding(GROUP_DISPUTE, 6), buckets((word,)), Watch(), "c") == WARNING, word
