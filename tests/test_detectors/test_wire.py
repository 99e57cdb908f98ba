"""The internal wire formats: the same bytes as before, and what older versions wrote still loads."""

from __future__ import annotations

import orjson

from detectors.baseline import Rhythm
from detectors.config import DetectConfig
from detectors.partition import PartitionEngine
from detectors.windows import bucket_of
from detectors.wire import (
    Delta,
    decode_clock,
    decode_key,
    delta_message,
    encode_clock,
    encode_key,
    message_keys,
    message_sources,
    share_strings,
    split_table_key,
    table_key,
)

T0 = 1_740_960_000.0  # 2025-03-03 08:00 +08:00, a Monday
CFG = DetectConfig(partitions=4, sources=1)


def test_a_delta_message_has_its_bytes() -> None:
    msg = delta_message({"0": [T0, False, [T0]]})
    d = Delta(7, 1, ["p"], ["T1"], {"闭店": 1}, {"F": 1}, {}, {"310115": 1}, 2.0, "甲", "健身")
    msg["k"].append(["firm", "F", [d.to_list()]])
    assert orjson.dumps(msg) == orjson.dumps({"v": 2, "w": {"0": [T0, False, [T0]]}, "k": [
        ["firm", "F", [[7, 1, ["p"], ["T1"], {"闭店": 1}, {"F": 1}, {}, {"310115": 1}, 2.0, "甲", "健身"]]]]})
    assert Delta.from_list(d.to_list()) == d
    assert message_keys(msg) is msg["k"]


def test_sources_of_two_fields_read_with_no_newest_times() -> None:
    msg = {"v": 2, "k": [], "w": {"0": [T0, False], "1": [None, True, [T0, T0 + 1]]}}
    assert list(message_sources(msg)) == [("0", T0, False, []), ("1", None, True, [T0, T0 + 1])]


def test_table_keys() -> None:
    assert table_key("platform_term", "京选|七天无理由") == "platform_term:京选|七天无理由"
    assert split_table_key("term:a:b") == ("term", "a:b")


def test_a_delta_message_of_version_1_is_folded_in_as_version_2() -> None:
    # Written by a worker before the upgrade: the label and category per key, not per delta.
    b = bucket_of(T0)
    delta = [b, 2, ["p1", "p2"], ["T1", "T2"], {"闭店": 2}, {}, {}, {"310115": 2}, 0.0]
    w = {"0": [(b + 8) * 900.0, False]}
    old, new = PartitionEngine(0, CFG), PartitionEngine(0, CFG)
    old.apply({"v": 1, "k": [["firm", "F1", "老店", "健身", [list(delta)]]], "w": w})
    new.apply({"v": 2, "k": [["firm", "F1", [[*delta, "老店", "健身"]]]], "w": w})
    state = encode_key(new.states["firm:F1"])
    assert encode_key(old.states["firm:F1"]) == state and (state["l"], state["c"]) == ("老店", "健身")
    # A state stored before the upgrade (buckets of nine fields) loads, its buckets unlabelled.
    state["b"] = [x[:9] for x in state["b"]]
    assert [x[9:] for x in encode_key(decode_key(state))["b"]] == [["", ""]]


def test_a_state_stored_before_peers_loads_without_one() -> None:
    eng = PartitionEngine(0, CFG)
    b = bucket_of(T0)
    eng.apply({"v": 2, "k": [["firm", "F1", [[b, 1, ["p"], ["T"], {}, {}, {}, {}, 0.0, "店", "c"]]]],
               "w": {"0": [(b + 8) * 900.0, False]}})
    state = encode_key(eng.states["firm:F1"])
    del state["pj"]
    assert decode_key(state).peer is None


def test_a_clock_round_trips_and_an_old_one_loads() -> None:
    eng = PartitionEngine(0, CFG)
    b = bucket_of(T0)
    eng.apply({"v": 2, "k": [["term", "退费", [[b, 1, ["p"], ["T"], {}, {}, {}, {}, 0.0, "退费", ""]]]],
               "w": {"0": [T0, False, [T0 - 2, T0 - 1, T0]]}}, offset=4)
    stored = orjson.loads(orjson.dumps(eng.clock_dict()))
    assert list(stored) == ["s", "t", "ft", "d", "o", "day", "de", "pd", "late", "r", "ap", "pe", "sb", "dup", "exp", "wa",
                            "gp", "dt"]
    assert stored["s"] == {"0": [T0, False, [T0 - 2, T0 - 1, T0]]} and stored["ap"] == 4
    assert stored["sb"] == [b] and eng.take_seen() == {b: ["T"]}
    assert encode_clock(decode_clock(stored, Rhythm()), Rhythm()) == {**stored, "r": Rhythm().to_dict()}
    # Written before offsets, peers, sources' newest times, deduplication, feed outages and
    # date-only days: it loads, with none of them.
    old = {k: v for k, v in stored.items() if k not in ("ap", "pe", "sb", "dup", "exp", "wa", "gp", "dt")}
    old["s"] = {"0": stored["s"]["0"][:2]}
    clock = decode_clock(old, Rhythm())
    assert (clock.applied, clock.peers, clock.sources["0"].newest) == (-1, {}, [])
    assert (clock.seen_buckets, clock.duplicates, clock.expired, clock.wall) == (set(), 0, 0, None)
    assert (clock.gaps.spans, clock.gaps.level) == ([], None)
    assert (clock.dated.on, clock.dated.days, clock.dated.day) == (False, 0, -1)
    assert PartitionEngine(0, CFG, clock=old).done_to() == eng.done_to()


def test_buckets_of_keys_decoded_apart_share_their_people_and_ids() -> None:
    # A ticket under two keys, and the same person's next ticket in another message, each
    # message decoded apart (as the stream decodes them), and a state loaded from the
    # table: each pseudonym and each id is one string however many buckets hold it.
    b = bucket_of(T0)
    person = "p_" + "a1b2" * 8  # longer than any string the runtime shares by itself
    first, second = "T-" + "1" * 30, "T-" + "2" * 30

    def message(*keys: tuple[str, str]) -> dict[str, object]:
        raw = orjson.dumps({"v": 2, "w": {"0": [T0, False, [T0]]}, "k": [
            ["firm", key, [[b, 1, [person], [tid], {}, {}, {}, {}, 0.0, "", ""]]] for key, tid in keys]})
        return share_strings(orjson.loads(raw))

    eng = PartitionEngine(0, CFG)
    eng.apply(message(("F1", first), ("F2", first)))
    eng.apply(message(("F3", second)))
    loaded = decode_key(orjson.loads(orjson.dumps(encode_key(eng.states["firm:F1"]))))
    buckets = [eng.states[f"firm:{k}"].get(b) for k in ("F1", "F2", "F3")] + [loaded.get(b)]
    people = [next(iter(bk.people)) for bk in buckets if bk is not None]
    ids = [bk.ids[0] for bk in buckets if bk is not None and bk.ids[0] == first]
    assert len(people) == 4 and len(ids) == 3
    assert all(p is people[0] for p in people) and all(i is ids[0] for i in ids)
