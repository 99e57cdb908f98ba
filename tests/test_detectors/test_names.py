"""Person names never become terms: measured on narratives full of names."""

from __future__ import annotations

import random

import pytest

from detectors.enrich import Enricher
from detectors.names import SINGLE_SURNAMES
from detectors.text import Segmenter
from schemas.tickets import Ticket, validate

GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力永健燕云飞鹏宇浩凯婷雪琳晨欣悦佳怡晓晶颖俊峰"
WITH_INTRODUCER = ["投诉人{n}称健身房闭店跑路，要求退费。", "我叫{n}，在该店办理预付卡后无法退款。", "店员{n}态度恶劣，拒绝退货。",
                   "经理{n}承诺七天内退款但未兑现。", "客服{n}表示不予处理。", "消费者{n}反映购买的电动自行车电池鼓包。"]
WITHOUT_CONTEXT = ["{n}于3月在门店办卡，后门店关闭。", "与{n}多次协商未果，要求商家赔偿。", "{n}称其购买的奶粉有异味。",
                   "商家让{n}等待，至今未退款。"]
ADDRESSED = [("{s}先生反映门店闭店。", "先生"), ("{s}女士要求退费。", "女士"), ("{s}某某拒绝退款。", "某某"),
             ("{s}经理承诺退货。", "经理"), ("找{s}师傅维修。", "师傅")]


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter()


def leaked(terms: tuple[str, ...], name: str) -> bool:
    """A term holds the whole name, or starts with its surname and more of it."""
    return any(name in t or (len(t) >= 2 and name.startswith(t)) for t in terms)


def corpus(templates: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    surnames = sorted(SINGLE_SURNAMES)
    out = []
    for _ in range(n):
        name = rng.choice(surnames) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        out.append((name, rng.choice(templates).format(n=name)))
    return out


@pytest.mark.parametrize(("templates", "at_most"), [
    # Before detectors.names: 5.5 % and 12 % of these narratives put a name in their terms.
    (WITH_INTRODUCER, 0.005),
    (WITHOUT_CONTEXT, 0.015),
])
def test_names_in_narratives_rarely_become_terms(seg: Segmenter, templates: list[str], at_most: float) -> None:
    cases = corpus(templates, 2000, seed=3)
    leaks = [(name, seg.terms(text)) for name, text in cases if leaked(seg.terms(text), name)]
    assert len(leaks) <= at_most * len(cases), leaks[:10]


def test_a_surname_with_a_form_of_address_is_never_a_term(seg: Segmenter) -> None:
    for s in sorted(SINGLE_SURNAMES):
        for template, address in ADDRESSED:
            terms = seg.terms(template.format(s=s))
            assert not any(s + address in t for t in terms), (s, terms)


def test_words_jieba_tags_as_names_but_are_not_stay_terms(seg: Segmenter) -> None:
    assert {"华为", "胡萝卜", "许可证"} <= set(seg.terms("华为手机胡萝卜许可证华为手机胡萝卜许可证"))


def test_the_complainants_own_name_never_reaches_a_term() -> None:
    enricher = Enricher(b"k")
    rng = random.Random(5)
    for name, text in corpus(WITH_INTRODUCER + WITHOUT_CONTEXT, 300, seed=11):
        raw = {"ticket_id": f"T{rng.random()}", "kind": "complaint", "received_at": "2025-03-03T10:00:00+08:00",
               "district_code": "310115", "firm_name": "某店", "content": text + f"联系人{name}，{name}要求处理。",
               "complainant_name": name}
        ticket = validate(raw)
        assert isinstance(ticket, Ticket)
        (e,) = enricher.enrich([ticket])
        assert not any(name in t for t in e.terms), (name, e.terms)
