"""detectors.watchlist: which subscriptions a ticket matches, for every kind, whether the
ticket comes as a ``Ticket`` or a mapping, and the same the second time a name is seen."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from detectors import watchlist
from detectors.watchlist import Sub, Watchlist
from schemas.tickets import Ticket, decode


def ticket(**over: Any) -> dict[str, Any]:
    t = {"ticket_id": "T1", "kind": "complaint", "received_at": "2026-03-04T09:00:00+08:00",
         "district_code": "310115", "firm_name": "上海某健身（浦东店）", "firm_id": "91310115MA1K3ABCDM",
         "product_name": "私教课", "product_category": "体育健身", "title": "健身房跑路",
         "content": "老板跑路了，要求退费。"}
    t.update(over)
    return {k: v for k, v in t.items() if v is not None}


def as_ticket(t: dict[str, Any]) -> Ticket:
    (parsed,) = decode(orjson.dumps(t), max_bytes=1 << 20)
    assert isinstance(parsed, Ticket)
    return parsed


@pytest.mark.parametrize("sub, t, words", [
    (Sub("a", "term", "跑路", "r"), ticket(), ("跑路",)),
    (Sub("a", "term", "健身房", "r"), ticket(), ("健身房",)),  # in the title
    (Sub("a", "term", "gym", "r"), ticket(content="GYM 关门了"), ("gym",)),  # case folded
    (Sub("a", "term", "中毒", "r"), ticket(), None),
    (Sub("a", "firm", "某健身", "r"), ticket(), ("某健身",)),
    (Sub("a", "firm", "某健身", "r"), ticket(firm_name="上海某健身（浦东店）".replace("健", "建")), None),
    (Sub("a", "firm", "某健身(浦东店)", "r"), ticket(), ("某健身(浦东店)",)),  # the name normalised
    (Sub("a", "firm", "91310115MA1K3ABCDM", "r"), ticket(firm_id=" ９１310115ma1k3abcdm "), ("91310115MA1K3ABCDM",)),
    (Sub("a", "firm", "91310115MA1K3ABCDM", "r"), ticket(firm_id=None), None),
    (Sub("a", "product", "私教", "r"), ticket(), ("私教",)),
    (Sub("a", "product", "健身", "r"), ticket(product_name=None), ("健身",)),  # the category
    (Sub("a", "product", "私教", "r"), ticket(product_name=None), None),
    (Sub("a", "district", "310115", "r"), ticket(), ("310115",)),
    (Sub("a", "district", "310104", "r"), ticket(), None),
])
def test_each_kind_matches_what_it_should(sub: Sub, t: dict[str, Any], words: tuple[str, ...] | None) -> None:
    want = [(sub, words)] if words else []
    w = Watchlist([sub])
    assert w.match_ticket(t) == want
    assert w.match_ticket(as_ticket(t)) == want  # the stream hands ingest's Ticket objects
    assert w.match_ticket(t) == want  # and again, from what it remembered of the names


def test_one_subscription_gathers_its_words_from_every_field() -> None:
    subs = [Sub("b", "term", "跑路", "r"), Sub("a", "product", "私教课", "r"), Sub("c", "product", "健身", "r"),
            Sub("d", "firm", "某健身", "r"), Sub("e", "firm", "浦东店", "r")]
    got = Watchlist(subs).match_ticket(as_ticket(ticket()))
    assert [(s.id, words) for s, words in got] == [
        ("a", ("私教课",)), ("b", ("跑路",)), ("c", ("健身",)), ("d", ("某健身",)), ("e", ("浦东店",))]
    same_word = Watchlist([Sub("x", "product", "健身", "r")])
    # 健身 is in both the product category and (had it been subscribed as a firm) the name: listed once.
    assert same_word.match_ticket(ticket(product_name="健身年卡")) == [(same_word.subs[0], ("健身",))]


def test_what_a_watchlist_remembers_is_bounded_and_forgetting_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchlist, "MEMO_MAX", 3)
    sub = Sub("a", "firm", "健身", "r")
    w = Watchlist([sub])
    names = [f"上海{i}号健身有限公司" for i in range(5)] + ["上海某餐饮有限公司"]
    for _ in range(2):
        got = [w.match_ticket(ticket(firm_name=n, product_name=None, product_category=None)) for n in names]
        assert got == [[(sub, ("健身",))]] * 5 + [[]]
        assert len(w._memo) <= 3


def test_masks_with_a_remembering_shaped_are_the_masks_without() -> None:
    import functools
    from importlib.resources import files

    from detectors.text import Segmenter

    seg = Segmenter()
    corpus = [x for x in (files("detectors") / "data" / "text_corpus.txt").read_text("utf-8").splitlines() if x]
    corpus += ["我叫张伟，电话13800138000，店员袁怡悦说老板跑路了。", "投诉人杜芳称店长王强不退费。"]
    shaped = functools.lru_cache(maxsize=100)(seg.names.shaped)  # smaller than the corpus's vocabulary: it forgets
    plain = [watchlist.mask(x, own_name="张伟", cut=seg.cut, names=seg.names) for x in corpus]
    for _ in range(2):
        assert [watchlist.mask(x, own_name="张伟", cut=seg.cut, names=seg.names, shaped=shaped) for x in corpus] == plain
    assert "张伟" not in plain[-2] and "袁怡悦" not in plain[-2] and "13800138000" not in plain[-2]
    # and *shaped* is what decides: one that calls every token a name hides every word
    assert set(watchlist.mask("老板跑路了", cut=seg.cut, names=seg.names, shaped=lambda tok: True)) == {"＊"}
