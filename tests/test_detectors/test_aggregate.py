"""Ingest-side aggregation: a batch of tickets becomes one delta per key and bucket, routed."""

from __future__ import annotations

from detectors.aggregate import Aggregator, Enriched
from detectors.config import DetectConfig
from detectors.windows import bucket_of

T0 = 1_740_960_000.0  # 2025-03-03 08:00 +08:00, a Monday
CFG = DetectConfig(partitions=4, sources=1)


def route(key: str) -> int:
    return sum(key.encode()) % CFG.partitions


def test_a_batch_becomes_one_delta_per_key_and_bucket() -> None:
    agg = Aggregator(CFG, route)
    t = T0 + 60
    agg.add(Enriched("A1", t, "310115", "p_a", firm_key="F", firm_label="甲", product_key="卡", category="健身",
                     issue="退费", amount=10.0, terms=("闭店", "退费")))
    agg.add(Enriched("A2", t + 1, "310101", "p_b", firm_key="F", firm_label="甲店", product_key="卡",
                     category="美容", terms=("闭店",)))
    agg.add(Enriched("A3", t + 900, "310101", "p_b", firm_key="F", terms=("闭店",)))  # the next bucket
    msgs = agg.drain({"0": [t + 900, False]})
    keys = {(dim, key): deltas for m in msgs.values() for dim, key, deltas in m["k"]}
    b = bucket_of(t)
    assert set(keys) == {("firm", "F"), ("product", "卡"), ("issue", "退费"), ("term", "闭店"), ("term", "退费"),
                         ("district", "310115"), ("district", "310101")}
    # Each bucket's label and category: the least its tickets give (a key with none: the key).
    assert keys["firm", "F"] == [[b, 2, ["p_a", "p_b"], ["A1", "A2"], {"闭店": 2, "退费": 1}, {}, {"退费": 1},
                                  {"310115": 1, "310101": 1}, 10.0, "甲", "健身"],
                                 [b + 1, 1, ["p_b"], ["A3"], {"闭店": 1}, {}, {}, {"310101": 1}, 0.0, "F", ""]]
    assert [d[9:] for d in keys["product", "卡"]] == [["卡", "健身"]]  # A3 names no product
    assert keys["term", "闭店"][0] == [b, 2, ["p_a", "p_b"], ["A1", "A2"], {}, {"F": 2}, {"退费": 1},
                                     {"310115": 1, "310101": 1}, 10.0, "闭店", ""]
    assert keys["issue", "退费"] == [[b, 1, ["p_a"], ["A1"], {"闭店": 1, "退费": 1}, {"F": 1}, {}, {"310115": 1}, 10.0,
                                    "退费", ""]]
    assert all(m["w"] == {"0": [t + 900, False]} for m in msgs.values()) and sorted(msgs) == list(range(CFG.partitions))
    assert agg.drain({})[0]["k"] == []  # drained: the next batch starts empty
