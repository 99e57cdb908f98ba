"""Key-product watch and abnormal firms."""

from __future__ import annotations

import pytest

from detectors.firms import FirmJudge, FirmTicket
from detectors.watch import Watch

DAY0 = 20000


@pytest.mark.parametrize(("category", "product", "base", "texts", "amount", "want"), [
    ("家用电器", "洗衣机", "info", [], 0.0, "info"),
    ("特种设备", "电梯", "info", [], 0.0, "warning"),
    ("母婴用品", "婴儿推车", "info", ["孩子受伤"], 0.0, "critical"),
    ("家用电器", "电热水器", "info", ["热水器爆炸起火"], 0.0, "warning"),
    ("家用电器", "电热水器", "warning", [], 60000.0, "critical"),
    ("化妆品", "面霜", "critical", ["过敏"], 1e6, "critical"),
])
def test_watch_raises_severity(category: str, product: str, base: str, texts: list[str], amount: float, want: str) -> None:
    assert Watch().judge(base, category=category, product=product, texts=texts, amount_total=amount).severity == want


def test_watch_group_size_and_threshold_setting() -> None:
    w = Watch(watch_min_people=2, large_amount=1000.0)
    assert w.min_people("药品", None, default=5) == 2 and w.min_people("通信服务", None, default=5) == 5
    assert w.judge("info", amount_total=999.0).reasons == () and w.judge("info", amount_total=1000.0).large_amount


def _peers(j: FirmJudge, days: range, n_firms: int = 12) -> None:
    for d in days:
        for f in range(n_firms):
            if (d + f) % 3:  # about two claims every three days each
                j.add(FirmTicket(f"F{f}", d * 86400.0 - 8 * 3600 + 36000, "complaint", "餐饮服务", "310115", issue="价格",
                                 amount=100.0 + f))


def test_repeat_offender_found_with_what_departs() -> None:
    j = FirmJudge()
    _peers(j, range(DAY0, DAY0 + 56))
    for d in range(DAY0 + 42, DAY0 + 56):
        for k in range(3):
            j.add(FirmTicket("F0", d * 86400.0 - 8 * 3600 + 40000 + k, "complaint", "餐饮服务", "310115",
                             issue="食品安全", amount=5000.0))
    (f,) = j.judge((DAY0 + 56) * 86400.0 - 8 * 3600)
    names = {m.name for m in f.measures}
    assert f.firm == "F0" and {"volume", "issue_mix", "amount"} <= names and f.top_issue == "食品安全"
    vol = next(m for m in f.measures if m.name == "volume")
    assert vol.observed > 3 * vol.expected


def test_one_day_spike_is_not_an_abnormal_firm() -> None:
    j = FirmJudge()
    _peers(j, range(DAY0, DAY0 + 56))
    for k in range(40):  # forty claims in one day: a group dispute's business, not this model's
        j.add(FirmTicket("F1", (DAY0 + 50) * 86400.0 - 8 * 3600 + 40000 + k, "complaint", "餐饮服务", "310115",
                         issue="预付卡"))
    assert j.judge((DAY0 + 56) * 86400.0 - 8 * 3600) == []


def test_ordinary_firms_raise_nothing_and_order_does_not_matter() -> None:
    a, b = FirmJudge(), FirmJudge()
    _peers(a, range(DAY0, DAY0 + 56))
    _peers(b, range(DAY0 + 55, DAY0 - 1, -1))
    at = (DAY0 + 56) * 86400.0 - 8 * 3600
    assert a.judge(at) == [] == b.judge(at)
