"""The abnormal-complainant finder: marks, rings as one finding, order/batch/partition independence, due process."""

from __future__ import annotations

import random

import pytest

from detectors.complainants import Claim, ComplainantJudge, statutory_multiple
from detectors.flags import FlagRegistry
from detectors.templates import shingles

T0 = 1_741_000_000.0
DAY = 86400.0
TEMPLATE = ("本人于{d}在{firm}购买{product}，发现该商品标签未标注生产日期，违反《食品安全法》相关规定。"
            "现依据《食品安全法》第一百四十八条，要求{firm}退还货款并支付十倍赔偿，同时请求贵局依法查处并给予举报奖励。")
RING = ("消费者于{d}在{firm}购买{product}，收货后发现宣称具有治疗功效，该行为严重侵害消费者知情权。"
        "请求市场监管部门依法立案调查，对经营者予以行政处罚，并将处理结果书面答复本人。")
ORDINARY = ["在{firm}办的健身卡，门店突然关门，联系不上老板，要求退还剩余费用。",
            "{firm}送来的外卖里有头发，商家态度恶劣，要求退款。",
            "在{firm}买的洗衣机漏水，维修三次仍未修好，要求换货。",
            "{firm}的手机套餐被擅自变更，多扣了话费，要求退还。",
            "{firm}的课程与宣传不符，老师频繁更换，要求退费。",
            "在{firm}理发被强制推销会员卡，不办就不给剪，要求处理。"]


def claim(i: int, person: str, firm: str, text: str, *, kind: str = "complaint", day: float = 1.0,
          product: str = "蜂蜜", issue: str = "食品安全") -> Claim:
    return Claim(f"T{i:05d}", T0 + day * DAY + i, person, kind, text.format(d=f"{i % 28 + 1}日", firm=firm, product=product),
                 firm_key=firm, product_key=product, issue=issue, masks=(firm,))


def scenario(seed: int = 1) -> list[Claim]:
    """300 ordinary people (a few ring twice), one professional, a ring of four, a heavy genuine caller."""
    rng = random.Random(seed)
    out, i = [], 0
    for p in range(300):
        for _ in range(1 if rng.random() < 0.9 else 2):
            i += 1
            out.append(claim(i, f"p_ord{p}", f"店{rng.randrange(200)}", rng.choice(ORDINARY), day=rng.uniform(0, 25),
                             product=rng.choice(["健身卡", "外卖", "洗衣机"]), issue=rng.choice(["退费", "质量"])))
    for k in range(20):
        i += 1
        out.append(claim(i, "p_pro", f"食品店{k}", TEMPLATE, kind="report", day=k))
    for m in range(4):
        for k in range(2):
            i += 1
            out.append(claim(i, f"p_ring{m}", f"超市{m}-{k}", RING, kind="report", day=3 * m + k, product="果冻"))
    for k in range(8):  # a genuine consumer, ringing eight times about one shop in a day
        i += 1
        out.append(claim(i, "p_angry", "某健身", ORDINARY[0], day=10 + k / 24, product="健身卡", issue="预付卡"))
    for k in range(5):  # consultations are not claims
        i += 1
        out.append(claim(i, "p_ask", f"问店{k}", TEMPLATE, kind="consultation", day=k))
    return out


def judged(claims: list[Claim], at: float = T0 + 30 * DAY, **kw: object) -> list:
    j = ComplainantJudge(**kw)  # type: ignore[arg-type]
    j.add_many(claims)
    return j.judge(at)


def test_professional_and_ring_flagged_and_nobody_else() -> None:
    findings = judged(scenario())
    by_people = {f.persons: f for f in findings}
    assert set(by_people) == {("p_pro",), ("p_ring0", "p_ring1", "p_ring2", "p_ring3")}
    pro = by_people[("p_pro",)]
    assert "template" in pro.reasons and "statutory_multiple" in pro.reasons and "frequency" in pro.reasons
    ring = by_people[("p_ring0", "p_ring1", "p_ring2", "p_ring3")]
    assert ring.ring and ring.reasons == ("template",) and len(ring.clusters) == 1
    assert len(ring.ticket_ids) == 8 and ring.firms == 8
    assert ring.expires == ring.last_seen + 90 * DAY and ring.first_seen < ring.last_seen


def test_marks_say_how_much() -> None:
    (pro,) = [f for f in judged(scenario()) if f.persons == ("p_pro",)]
    marks = dict(pro.marks)["p_pro"]
    freq = next(m for m in marks if m.name == "frequency")
    assert freq.observed == 20 and freq.expected < 2 and freq.score > 5


def test_order_batching_and_partitions_do_not_change_findings() -> None:
    claims = scenario(2)
    want = judged(claims)
    shuffled = claims[:]
    random.Random(7).shuffle(shuffled)
    assert judged(shuffled) == want
    # Two partitions by pseudonym, merged: what one judge finds.
    parts = [ComplainantJudge(), ComplainantJudge()]
    for c in shuffled:
        parts[hash(c.person) % 2].add(c)
    parts[0].merge(parts[1])
    assert parts[0].judge(T0 + 30 * DAY) == want
    # A redelivered ticket counts once.
    assert judged(claims + claims[:50]) == want


def test_ring_member_with_one_claim_is_not_marked() -> None:
    claims = [c for c in scenario() if not (c.person == "p_ring3" and c.ticket_id.endswith(("1", "3", "5", "7", "9")))]
    ring = [f for f in judged(claims) if f.ring]
    assert ring and all("p_ring3" not in f.persons or len([c for c in claims if c.person == "p_ring3"]) >= 2 for f in ring)


def test_window_forgets_old_claims() -> None:
    j = ComplainantJudge(window_days=30)
    j.add_many(scenario())
    j.expire(T0 + 80 * DAY)
    assert j.judge(T0 + 80 * DAY) == [] and j.people() == 0


def test_cleared_person_is_judged_afresh() -> None:
    claims = scenario()
    j = ComplainantJudge()
    j.add_many(claims)
    reg = FlagRegistry()
    at = T0 + 30 * DAY
    assert "p_pro" in reg.update(j.judge(at), at)
    assert reg.is_flagged("p_pro", at) and "p_pro" in reg.excluded(at)
    assert reg.flag("p_ord1", at) is None
    reg.clear("p_pro", at, who="王科长", why="核实为正常消费")
    assert not reg.is_flagged("p_pro", at) and "p_pro" not in reg.excluded(at)
    assert all("p_pro" not in f.persons for f in j.judge(at, reg.cleared))
    # Afresh: new templated claims after the clearing flag them again.
    for k in range(20):
        j.add(claim(90000 + k, "p_pro", f"新店{k}", TEMPLATE, kind="report", day=31 + k / 2))
    later = T0 + 45 * DAY
    assert any(f.persons == ("p_pro",) for f in j.judge(later, reg.cleared))


def test_flag_lapses_without_new_evidence() -> None:
    j = ComplainantJudge(flag_days=10)
    j.add_many(scenario())
    reg = FlagRegistry()
    findings = j.judge(T0 + 30 * DAY)
    reg.update(findings, T0 + 30 * DAY)
    pro = next(f for f in findings if f.persons == ("p_pro",))
    assert reg.is_flagged("p_pro", pro.expires) and not reg.is_flagged("p_pro", pro.expires + 1)
    reg.prune(pro.expires + 1)
    assert "p_pro" not in reg.flags


@pytest.mark.parametrize(("text", "want"), [
    ("要求退一赔三", True), ("依据第一百四十八条要求赔偿", True), ("要求假一赔十", True),
    ("要求ＴＥＮ倍", False), ("要求退款并道歉", False), ("要求支付惩罚性赔偿", True),
])
def test_statutory_phrases(text: str, want: bool) -> None:
    assert statutory_multiple(text) is want


def test_shingles_blank_names_and_fold_digits() -> None:
    a = shingles("在甲公司买了3件，花了120元", masks=("甲公司",))
    b = shingles("在乙商行买了5件，花了88元", masks=("乙商行",))
    c = shingles("在乙商行买了5件，花了88元")
    assert a == b != c
