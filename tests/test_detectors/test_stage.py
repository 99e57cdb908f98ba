"""The alert stage: one alert per story, released in event-time order whatever the partition order."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from detectors.decisions import Decision
from detectors.stage import AlertStage

GD, CD, TS = "group_dispute", "concentrated_demand", "term_surge"


def dec(aid: str, typ: str, dim: str, ids: str, *, status: str = "open", at: float = 900.0,
        key: str | None = None, terms: tuple[str, ...] = ()) -> Decision:
    return Decision(aid, typ, status, "info", dim, key or aid, key or aid, None, 0.0, at, at, len(ids), 1.0,
                    0.99, len(ids), tuple(ids), terms)


def released(stage: AlertStage, *batches: list[Decision]) -> list[tuple[str, str]]:
    """Offer each batch as one tick from partition 0 (the stage is single-partition here)."""
    out = []
    for n, batch in enumerate(batches, 1):
        out += [(d.alert_id, d.status) for d in stage.offer(0, 900.0 * n, batch)]
    return out


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        # A term whose tickets are the product's is the product's story.
        ([[dec("p", CD, "product", "abcdef"), dec("t", CD, "term", "abcd")]], [("p", "open")]),
        # Less than half its tickets known: news.
        ([[dec("p", CD, "product", "abcdef"), dec("t", CD, "term", "awxyz")]], [("p", "open"), ("t", "open")]),
        # A term containing a term already alerted on, no shared tickets needed.
        ([[dec("a", CD, "term", "abc", key="强制办卡")], [dec("b", CD, "term", "xyz", key="健身强制办卡", at=1800.0)]],
         [("a", "open")]),
        # A shop's group dispute whose top terms name the product's story (3 shared terms).
        ([[dec("p", CD, "product", "abc", terms=("羽绒服", "含绒量不足", "飞途牌"))],
          [dec("f", GD, "firm", "xyz", at=1800.0, terms=("含绒量不足", "羽绒服", "飞途牌", "儿童"))]],
         [("p", "open")]),
        # A merchant's group dispute naming the platform practice's term.
        ([[dec("c", CD, "term", "abc", key="先用后付")],
          [dec("f", GD, "firm_issue", "xyz", at=1800.0, terms=("商城", "先用后付"))]],
         [("c", "open")]),
        # A firm's earlier group dispute does not hide the named practice behind it.
        ([[dec("f", GD, "firm_issue", "abcdef")], [dec("c", CD, "term", "abcd", key="先用后付", at=1800.0)]],
         [("f", "open"), ("c", "open")]),
        # A hot word tells nothing but hot words.
        ([[dec("h", TS, "term", "abcdef")], [dec("t", CD, "term", "abcd", key="召回", at=1800.0)]],
         [("h", "open"), ("t", "open")]),
        # Explained, then its update brings mostly new tickets: published as an open then.
        ([[dec("p", CD, "product", "abcdef"), dec("t", CD, "term", "abcd")],
          [dec("t", CD, "term", "abvwxyz", status="update", at=1800.0)]],
         [("p", "open"), ("t", "open")]),
        # An explained alert's updates and resolution stay unpublished; the teller's pass.
        ([[dec("p", CD, "product", "abcdef"), dec("t", CD, "term", "abcd")],
          [dec("t", CD, "term", "abcde", status="update", at=1800.0),
           dec("p", CD, "product", "abcdefg", status="update", at=1800.0)],
          [dec("t", CD, "term", "abcde", status="resolved", at=2700.0),
           dec("p", CD, "product", "abcdefg", status="resolved", at=2700.0)]],
         [("p", "open"), ("p", "update"), ("p", "resolved")]),
    ],
)
def test_one_alert_per_story(batches: list[list[Decision]], expected: list[tuple[str, str]]) -> None:
    stage = AlertStage(partitions=1, named_terms=frozenset({"强制办卡", "先用后付"}))
    assert released(stage, *batches) == expected


def test_within_a_tick_the_more_specific_tells_whatever_the_arrival_order() -> None:
    for order in (1, -1):
        stage = AlertStage(partitions=1)
        batch = [dec("t", CD, "term", "abcdefgh", key="电动自行车"), dec("p", CD, "product", "abcdef")][::order]
        assert released(stage, batch) == [("p", "open")]


def test_nothing_is_released_before_every_partition_has_passed_the_tick() -> None:
    stage = AlertStage(partitions=2)
    assert stage.offer(0, 1800.0, [dec("a", GD, "firm", "abc", at=900.0)]) == []
    assert stage.offer(1, 900.0, []) != []  # partition 1 has passed 900 now
    assert stage.offer(1, 1800.0, [dec("b", GD, "firm", "xyz", at=1800.0)])[0].alert_id == "b"


def test_a_replayed_report_is_ignored() -> None:
    stage = AlertStage(partitions=1)
    first = stage.offer(0, 900.0, [dec("a", GD, "firm", "abc")])
    assert [d.alert_id for d in first] == ["a"]
    assert stage.offer(0, 900.0, [dec("a", GD, "firm", "abc")]) == []


def test_state_survives_a_round_trip_through_json() -> None:
    stage = AlertStage(partitions=2)
    stage.offer(0, 900.0, [dec("p", CD, "product", "abcdef")])
    stage.offer(1, 900.0, [dec("t", CD, "term", "abcd")])
    stage.offer(0, 1800.0, [dec("q", GD, "firm", "xyz", at=1800.0)])  # held: partition 1 is behind
    again = AlertStage(partitions=2)
    again.load(orjson.loads(orjson.dumps(stage.to_dict())))
    assert again.to_dict() == stage.to_dict()
    later = [dec("t", CD, "term", "abcde", status="update", at=1800.0)]
    assert again.offer(1, 1800.0, list(later)) == stage.offer(1, 1800.0, list(later))


def test_open_alerts_are_the_published_ones_with_their_last_severity() -> None:
    stage = AlertStage(partitions=1)
    stage.offer(0, 900.0, [dec("p", CD, "product", "abcdef"), dec("t", CD, "term", "abcd"),
                           dec("f", GD, "firm", "xyz")])
    assert stage.open_alerts() == {"p": (CD, "info"), "f": (GD, "info")}  # t is told by p: not published
    stage.offer(0, 1800.0, [replace(dec("f", GD, "firm", "xyzw", status="update", at=1800.0), severity="critical"),
                            dec("p", CD, "product", "abcdef", status="resolved", at=1800.0)])
    assert stage.open_alerts() == {"f": (GD, "critical")}
    again = AlertStage(partitions=1)
    again.load(orjson.loads(orjson.dumps(stage.to_dict())))
    assert again.open_alerts() == {"f": (GD, "critical")}


def test_a_state_stored_before_severity_was_kept_still_loads() -> None:
    stage = AlertStage(partitions=1)
    stage.offer(0, 900.0, [dec("f", GD, "firm", "xyz")])
    old = stage.to_dict()
    old["shown"] = {a: v[:5] for a, v in old["shown"].items()}  # the five-field form
    again = AlertStage(partitions=1)
    again.load(old)
    assert again.open_alerts() == {"f": (GD, "info")}
