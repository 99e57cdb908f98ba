"""A simulated 12315 ticket firehose with labelled incidents, for demos, benchmarks and evaluation.

``Simulation(cfg)`` plans a scenario: a population of firms with USCC codes across
Shanghai's districts and sixteen sectors, a heavy-tailed (Zipf) complaint volume per firm
(a few platforms take hundreds of tickets a day, most firms none on most days), the three
kinds in Shanghai's 2025 proportions (1.66 M complaints, 0.63 M reports, 5.19 M
consultations), a daily rhythm (quiet nights, peaks near 10:00 and 15:00), a weekly one
(weekends at ~63 % of a weekday) and the calendar in :data:`CALENDAR` (holidays, shopping
festivals, 3·15). On top of that background it injects labelled incidents, each an
:class:`Incident` saying what an alert about it must name:

=====================  ====================  ==========  ===================================
family                 expected alert        dimension   shape
=====================  ====================  ==========  ===================================
prepaid_closure        group_dispute         firm        a small gym / school / salon closes:
                                                         12–80 people in 2–48 h, 预付卡/退费
platform_issue_surge   group_dispute         firm_issue  one issue at a big platform, 30–150
                                                         people in 6–48 h, on its normal load
safety_event           group_dispute         firm        食物中毒 at a chain's branches or an
                                                         amusement-ride injury: 12–60 in 1–6 h
product_defect         concentrated_demand   product     one product model at 15–60 shops in
                                                         many districts, 30–120 people, 1–5 d
holiday_practice       concentrated_demand   term        one practice around a holiday at
                                                         20–80 restaurants/shops, 1–4 d
platform_policy        concentrated_demand   term        a platform rule change: its shops and
                                                         itself, 40–200 people in 1–3 d
decoy_repeat_person    none (must not alert) firm        one person, 3–8 tickets, one firm, a day
decoy_small_firm       none                  firm        2–3 unrelated complaints, a small firm
decoy_festival         none                  firm        all e-commerce ×2–3 on a festival day
                                                         (the label spans it and 2 days after)
=====================  ====================  ==========  ===================================

Keys are those the engine derives (:func:`firm_key` and :func:`text_key` defer to
``schemas.normalise``): a firm is its valid USCC, else ``"name:" + text_key(firm_name)``;
an incident whose tickets mix both lists both. A product incident's keys are the
product's key and its signature term. ``platform_policy`` keys are the policy's terms
*and* the platform's firm keys: a concentrated demand raised on the platform itself names
the right thing. :data:`INCIDENT_TERMS` lists every signature term, for the segmenter's
user dictionary. Incidents never share a key within two days of each other, start after
``warmup_days``, and a family that finds no room is listed in ``Simulation.unplaced``.

Also in the background: ~8 "professional" claimants (``professional_complainants``) who
file near-identical food-law claims against many small firms on working days, callers
who ring again (~5 %), anonymous reporters, and ~5 % of firm tickets without a usable
``firm_id`` (absent, wrong check character, truncated, or an old 15-digit number).

Everything is a pure function of the config: one ``random.Random`` per purpose, seeded
from ``cfg.seed`` by name (string seeds hash with SHA-512, so runs, processes and
``PYTHONHASHSEED`` do not matter). Planning (times, firms, people, incidents and their
tickets) happens in the constructor; background tickets are written lazily by
:meth:`Simulation.tickets`, so memory stays ~150 bytes per ticket planned.

Rate (40 k tickets/s required): ~55 k tickets/s for the default scenario (28 days × 6 000
tickets a day: ~0.6 s planning, ~2.2 s writing 159 k tickets), measured on our 2-core
machine with other work running (load ≈ 1), CPython 3.11; the four holdout scenarios of
``earlywarn.scenarios`` (618 k tickets) take ~12 s. ``python -m earlywarn.simulate``
measures it again.

>>> sim = Simulation(SimConfig(seed=7, days=1, tickets_per_day=400, firms=300,
...                            incidents=(), decoys=(), professionals=0))
>>> tickets = list(sim.tickets())
>>> len(tickets) == sim.total_tickets, all(a["received_at"] <= b["received_at"] for a, b in zip(tickets, tickets[1:]))
(True, True)
>>> tickets[0]["ticket_id"], tickets[0]["received_at"][:13]
('SH2025030300000001', '2025-03-03T00')
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from schemas.regions import SHANGHAI_DISTRICTS
from schemas.uscc import ALPHABET, is_uscc, uscc_check_digit

__all__ = [
    "CALENDAR",
    "DECOY_FAMILIES",
    "DEFAULT_DECOYS",
    "DEFAULT_INCIDENTS",
    "FAMILIES",
    "HOURLY_PROFILE",
    "INCIDENT_TERMS",
    "KIND_SHARES",
    "SECTORS",
    "WEEKDAY_VOLUME",
    "CalendarDay",
    "Incident",
    "SimConfig",
    "Simulation",
    "firm_key",
    "generate",
    "text_key",
]

try:  # the engine's own key rules when they exist, so labels and alerts key alike
    from schemas.normalise import firm_key as _engine_firm_key
    from schemas.normalise import normalise_name as _engine_normalise
except ImportError:  # pragma: no cover - before schemas/normalise.py existed
    _engine_firm_key = None
    _engine_normalise = None


def text_key(s: str) -> str:
    """NFKC, strip, collapse whitespace, lowercase: the engine's key for names and categories.

    >>> text_key("  ＡＢＣ牌  空气炸锅（KX-2型） ")
    'abc牌 空气炸锅(kx-2型)'
    """
    if _engine_normalise is not None:
        return str(_engine_normalise(s))
    return " ".join(unicodedata.normalize("NFKC", s).split()).lower()


def firm_key(ticket: dict[str, Any]) -> str | None:
    """The firm subject key of a ticket: its USCC when valid, else ``name:`` + normalised name.

    >>> firm_key({"firm_name": "上海 悦动健身有限公司 ", "firm_id": "913101150000000000"})
    'name:上海 悦动健身有限公司'
    """
    fid, name = ticket.get("firm_id"), ticket.get("firm_name")
    if _engine_firm_key is not None:
        key = _engine_firm_key(fid, name)
        return None if key is None else str(key)
    if fid and is_uscc(fid):
        return str(fid)
    return "name:" + text_key(name) if name else None


# --------------------------------------------------------------------------------------
# Volumes, rhythm and calendar
# --------------------------------------------------------------------------------------

# Shanghai 2025: 166.05 万 complaints, 62.79 万 reports, 518.98 万 consultations.
KIND_SHARES: dict[str, float] = {
    "complaint": 166.05 / 747.82,
    "report": 62.79 / 747.82,
    "consultation": 518.98 / 747.82,
}
_KINDS = ("complaint", "report", "consultation")
# Consultations that name a firm ("is what this shop did legal?"); the rest are general.
_CONSULT_WITH_FIRM = 0.3
_FIRM_BEARING = KIND_SHARES["complaint"] + KIND_SHARES["report"] + KIND_SHARES["consultation"] * _CONSULT_WITH_FIRM

# Relative intake per local hour: the hotline is staffed by day, web/app intake runs 24 h.
HOURLY_PROFILE: tuple[float, ...] = (
    0.20, 0.10, 0.06, 0.05, 0.05, 0.10, 0.25, 0.60, 1.30, 2.10, 2.40, 2.10,
    1.30, 1.70, 2.20, 2.40, 2.10, 1.50, 1.00, 0.85, 0.75, 0.60, 0.45, 0.30,
)  # fmt: skip
_HOUR_MAX = max(HOURLY_PROFILE)
# Monday..Sunday; a statutory holiday takes its CalendarDay.volume instead.
WEEKDAY_VOLUME: tuple[float, ...] = (1.06, 1.04, 1.03, 1.02, 1.00, 0.66, 0.62)

# Population 2020 census (万): where firms are registered and callers live.
_DISTRICT_WEIGHTS: dict[str, float] = {
    "310115": 568.2, "310112": 265.4, "310113": 223.5, "310117": 191.0, "310114": 183.4,
    "310118": 127.1, "310110": 124.2, "310107": 124.0, "310120": 114.1, "310104": 111.3,
    "310106": 97.6, "310116": 82.3, "310109": 75.8, "310105": 69.3, "310101": 66.2, "310151": 63.7,
}  # fmt: skip
assert set(_DISTRICT_WEIGHTS) == set(SHANGHAI_DISTRICTS)

_ECOMMERCE = ("电商平台", "直播电商")


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One calendar day's effect on the stream.

    ``volume`` multiplies every ticket of the day (for a ``holiday`` it replaces the
    weekday factor); ``sectors`` adds firm-bearing tickets of those sectors (×m means
    that sector's tickets are m times their usual number). ``kind`` is ``holiday``,
    ``shopping_festival``, ``festival_aftermath``, ``consumer_day`` or ``occasion`` (a day
    that moves practices, not volumes: 情人节, 中秋节 …).
    """

    day: date
    name: str
    kind: str
    volume: float = 1.0
    sectors: tuple[tuple[str, float], ...] = ()


def _span(first: str, last: str) -> list[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def _build_calendar() -> tuple[CalendarDay, ...]:
    days: list[CalendarDay] = []
    holiday_mix = (("餐饮", 1.8), ("旅游", 2.2))
    holidays = (
        ("2025-01-01", "2025-01-01", "元旦"), ("2025-01-28", "2025-02-04", "春节"),
        ("2025-04-04", "2025-04-06", "清明节"), ("2025-05-01", "2025-05-05", "劳动节"),
        ("2025-05-31", "2025-06-02", "端午节"), ("2025-10-01", "2025-10-08", "国庆节"),
        ("2026-01-01", "2026-01-03", "元旦"), ("2026-02-15", "2026-02-23", "春节"),
        ("2026-04-04", "2026-04-06", "清明节"), ("2026-05-01", "2026-05-05", "劳动节"),
        ("2026-06-19", "2026-06-21", "端午节"), ("2026-10-01", "2026-10-07", "国庆节"),
    )  # fmt: skip
    for first, last, name in holidays:
        # Spring Festival: the city empties, but 年夜饭 and travel complaints rise.
        volume = 0.55 if name == "春节" else 0.62
        days += [CalendarDay(d, name, "holiday", volume, holiday_mix) for d in _span(first, last)]
    festivals = (
        ("2025-01-10", "年货节", 2.0), ("2025-03-08", "女神节", 2.0), ("2025-06-18", "618", 2.5),
        ("2025-11-11", "双十一", 2.8), ("2025-12-12", "双十二", 2.0), ("2026-01-12", "年货节", 2.0),
        ("2026-03-08", "女神节", 2.0), ("2026-06-18", "618", 2.5), ("2026-11-11", "双十一", 2.8),
        ("2026-12-12", "双十二", 2.0),
    )  # fmt: skip
    for day, name, mult in festivals:
        d = date.fromisoformat(day)
        days.append(CalendarDay(d, name, "shopping_festival", 1.0, tuple((s, mult) for s in _ECOMMERCE)))
        # Returns and after-sales disputes trail a big sale for a few days.
        for k in (1, 2):
            days.append(
                CalendarDay(d + timedelta(days=k), name + "售后", "festival_aftermath", 1.0,
                            tuple((s, 1.5) for s in _ECOMMERCE))
            )  # fmt: skip
    for year in (2025, 2026):
        days.append(CalendarDay(date(year, 3, 15), "3·15", "consumer_day", 1.35))
    occasions = (
        ("2025-01-28", "除夕"), ("2025-02-12", "元宵节"), ("2025-02-14", "情人节"), ("2025-03-08", "妇女节"),
        ("2025-05-11", "母亲节"), ("2025-06-01", "儿童节"), ("2025-06-15", "父亲节"), ("2025-08-29", "七夕"),
        ("2025-10-06", "中秋节"), ("2025-12-24", "平安夜"), ("2025-12-25", "圣诞节"),
        ("2026-02-14", "情人节"), ("2026-02-16", "除夕"), ("2026-03-03", "元宵节"), ("2026-03-08", "妇女节"),
        ("2026-05-10", "母亲节"), ("2026-06-01", "儿童节"), ("2026-06-21", "父亲节"), ("2026-08-19", "七夕"),
        ("2026-09-25", "中秋节"), ("2026-12-24", "平安夜"), ("2026-12-25", "圣诞节"),
    )  # fmt: skip
    days += [CalendarDay(date.fromisoformat(d), name, "occasion") for d, name in occasions]
    return tuple(sorted(days, key=lambda c: (c.day, c.kind, c.name)))


#: Every day the simulator treats specially (2025–2026). Several entries may share a day.
CALENDAR: tuple[CalendarDay, ...] = _build_calendar()
_CALENDAR_BY_DAY: dict[date, list[CalendarDay]] = {}
for _c in CALENDAR:
    _CALENDAR_BY_DAY.setdefault(_c.day, []).append(_c)


# --------------------------------------------------------------------------------------
# Sectors, firms and text pools
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sector:
    """A line of business: what its firms are called, sell, get complained about and charge."""

    name: str
    category: str  # product_category on its tickets
    firm_share: float  # share of (non-platform) firms
    words: tuple[str, ...]  # industry words in company names
    suffixes: tuple[str, ...]
    products: tuple[str, ...]
    issues: tuple[tuple[str, float], ...]
    amount_median: float  # log-normal amount, CNY
    amount_sigma: float
    online: bool = False  # its shops sell on a platform
    sole_words: tuple[str, ...] = ()  # 个体工商户 shop words; empty: none in this sector
    sole_share: float = 0.0


SECTORS: dict[str, Sector] = {
    s.name: s
    for s in (
        Sector("电商平台", "网络购物", 0.20, ("电子商务", "网络科技", "商贸", "贸易"), ("有限公司",),
               ("连衣裙", "运动鞋", "羽绒服", "手机", "蓝牙耳机", "平板电脑", "护肤品套装", "床上四件套",
                "扫地机器人", "零食礼盒", "行李箱", "儿童玩具", "智能手表", "电动牙刷"),
               (("质量", 30), ("售后服务", 25), ("退费", 12), ("虚假宣传", 10), ("价格", 7), ("合同", 6),
                ("个人信息", 3), ("假冒", 5), ("食品安全", 2)), 300, 1.0, online=True),
        Sector("直播电商", "直播带货", 0.06, ("网络科技", "文化传媒", "电子商务"), ("有限公司",),
               ("护肤品", "面膜", "翡翠手镯", "羊绒大衣", "保健茶", "零食大礼包", "口红", "洗地机",
                "减肥代餐", "珍珠项链"),
               (("质量", 25), ("虚假宣传", 25), ("售后服务", 20), ("退费", 10), ("假冒", 10), ("价格", 6),
                ("合同", 4)), 260, 1.0, online=True),
        Sector("餐饮", "餐饮服务", 0.14, ("餐饮管理", "餐饮", "食品"), ("有限公司", "服务有限公司"),
               ("套餐", "火锅", "外卖套餐", "自助餐", "生日蛋糕", "奶茶", "烧烤", "小龙虾", "团购券"),
               (("食品安全", 35), ("价格", 20), ("售后服务", 8), ("预付卡", 10), ("个人信息", 7), ("计量", 5),
                ("合同", 5), ("安全", 3), ("退费", 7)), 180, 0.8,
               sole_words=("面馆", "小吃店", "餐厅", "烧烤店", "饭店", "火锅店"), sole_share=0.45),
        Sector("健身", "体育健身服务", 0.05, ("健身管理", "体育发展", "健身服务"), ("有限公司",),
               ("健身年卡", "私教课", "游泳卡", "瑜伽课程", "次卡", "团操课"),
               (("预付卡", 35), ("退费", 30), ("合同", 20), ("虚假宣传", 8), ("安全", 4), ("售后服务", 3)),
               3000, 0.7),
        Sector("教育培训", "教育培训服务", 0.06, ("教育科技", "文化传播", "培训"), ("有限公司",),
               ("英语课程", "少儿编程课", "钢琴课", "美术班", "考研辅导", "托管班", "舞蹈课", "职业技能培训"),
               (("退费", 40), ("预付卡", 20), ("合同", 20), ("虚假宣传", 15), ("售后服务", 5)), 8000, 0.8),
        Sector("美容美发", "美容美发服务", 0.07, ("美容", "美发", "形象设计"), ("有限公司", "服务有限公司"),
               ("美发套餐", "美容护理卡", "烫染服务", "美甲", "头皮护理", "会员储值卡"),
               (("预付卡", 35), ("价格", 20), ("退费", 15), ("虚假宣传", 12), ("质量", 10), ("合同", 8)),
               2000, 0.9, sole_words=("理发店", "美发工作室", "美甲店", "美容店"), sole_share=0.4),
        Sector("医美", "医疗美容服务", 0.02, ("医疗美容门诊部", "医疗美容", "医美"), ("有限公司",),
               ("双眼皮手术", "玻尿酸注射", "光子嫩肤", "热玛吉", "隆鼻手术", "祛斑项目"),
               (("质量", 30), ("虚假宣传", 25), ("退费", 20), ("合同", 15), ("安全", 10)), 12000, 0.9),
        Sector("汽车", "汽车及零部件", 0.05, ("汽车销售服务", "汽车服务", "汽车维修"), ("有限公司",),
               ("新能源汽车", "二手车", "汽车保养", "车辆维修", "延保服务", "轮胎"),
               (("质量", 40), ("售后服务", 25), ("合同", 20), ("价格", 10), ("虚假宣传", 5)), 60000, 1.2),
        Sector("家电", "家用电器", 0.06, ("电器", "家电销售", "电子科技"), ("有限公司",),
               ("空调", "冰箱", "洗衣机", "电热水器", "油烟机", "电视机", "空气炸锅", "净水器"),
               (("质量", 45), ("售后服务", 35), ("虚假宣传", 8), ("价格", 6), ("安全", 6)), 2500, 0.8),
        Sector("通信", "通信服务", 0.02, ("通信技术", "通讯器材", "信息技术"), ("有限公司",),
               ("5G套餐", "宽带", "手机流量包", "合约机", "靓号", "家庭融合套餐"),
               (("合同", 40), ("价格", 20), ("售后服务", 25), ("个人信息", 15)), 150, 0.9),
        Sector("旅游", "旅游服务", 0.03, ("国际旅行社", "旅游发展", "旅行社", "乐园管理", "游乐"), ("有限公司",),
               ("跟团游", "机票", "酒店预订", "景区门票", "邮轮旅游", "自由行套餐"),
               (("合同", 40), ("退费", 30), ("虚假宣传", 15), ("价格", 10), ("安全", 5)), 4000, 1.0),
        Sector("房产中介", "房屋中介服务", 0.04, ("房地产经纪", "房屋租赁", "置业顾问"), ("有限公司",),
               ("房屋租赁", "二手房买卖", "长租公寓", "中介服务"),
               (("合同", 45), ("退费", 25), ("虚假宣传", 20), ("个人信息", 10)), 15000, 1.1),
        Sector("食品", "食品", 0.09, ("食品", "商贸", "超市"), ("有限公司",),
               ("月饼", "水果", "猪肉", "大米", "进口牛奶", "熟食", "粽子", "坚果", "海鲜"),
               (("食品安全", 45), ("质量", 15), ("计量", 12), ("价格", 12), ("虚假宣传", 8), ("假冒", 8)),
               80, 0.9, sole_words=("食品店", "水果店", "便利店", "生鲜店"), sole_share=0.4),
        Sector("保健品", "保健食品", 0.03, ("生物科技", "健康科技", "保健品"), ("有限公司",),
               ("保健酒", "鱼油", "蛋白粉", "灵芝孢子粉", "益生菌", "钙片"),
               (("虚假宣传", 50), ("质量", 15), ("退费", 20), ("合同", 10), ("安全", 5)), 1500, 1.0),
        Sector("电动车", "电动自行车", 0.03, ("电动车", "车业", "新能源科技"), ("有限公司", "销售有限公司"),
               ("电动自行车", "锂电池", "充电器", "电动车维修"),
               (("质量", 45), ("售后服务", 30), ("安全", 15), ("虚假宣传", 10)), 2500, 0.6),
        Sector("母婴", "母婴用品", 0.05, ("母婴用品", "婴童用品", "儿童用品"), ("有限公司",),
               ("婴儿奶粉", "纸尿裤", "婴儿推车", "儿童安全座椅", "儿童保温杯", "辅食"),
               (("质量", 40), ("售后服务", 20), ("食品安全", 15), ("虚假宣传", 15), ("假冒", 10)), 400, 0.8),
    )  # fmt: skip
}
assert abs(sum(s.firm_share for s in SECTORS.values()) - 1.0) < 1e-9

# The head of the Zipf curve: fictional platforms and chains. Fictional on purpose, so
# synthetic complaints are never mistaken for data about a real company.
# (full name, short name, sector, district, platform it runs or None)
_BIG_FIRMS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("上海淘易购网络科技有限公司", "淘易购", "电商平台", "310105", "淘易购"),
    ("上海京选商城电子商务有限公司", "京选商城", "电商平台", "310115", "京选商城"),
    ("上海抖映网络科技有限公司", "抖映", "直播电商", "310110", "抖映直播"),
    ("上海拼好货信息技术有限公司", "拼好货", "电商平台", "310105", "拼好货"),
    ("上海美味到家信息服务有限公司", "美味到家", "餐饮", "310104", "美味到家"),
    ("上海星联通信有限公司", "星联通信", "通信", "310115", None),
    ("上海快享网络科技有限公司", "快享直播", "直播电商", "310112", "快享直播"),
    ("上海游途旅行网络科技有限公司", "游途旅行", "旅游", "310105", "游途旅行"),
    ("上海华讯移动通信有限公司", "华讯移动", "通信", "310106", None),
    ("上海安居房地产经纪有限公司", "安居地产", "房产中介", "310115", None),
    ("上海百汇电器连锁有限公司", "百汇电器", "家电", "310107", None),
    ("上海力行健身管理有限公司", "力行健身", "健身", "310106", None),
    ("上海启航教育科技有限公司", "启航教育", "教育培训", "310104", None),
    ("上海优鲜生活超市有限公司", "优鲜生活", "食品", "310112", None),
)
_ZIPF_EXPONENT = 1.0

_BRAND_A = "悦动佳美华鑫恒源博凯瑞星盛宏达优乐嘉汇诚信锦润晨阳泰丰宁康安新立德和福金海天云正元力启航途梦享益创智易通百千万尚品雅逸君鼎聚合兴旺隆昌辉耀"
_BRAND_B = "动美华鑫源博凯瑞星盛宏达乐汇诚锦润阳泰丰宁康安立德福金海天云元力航途享益创智通品雅逸鼎聚兴隆昌辉耀翔琪睿远帆"
_PRODUCT_BRAND_A = "博凯欧锐飞普安康达优捷美科新佳宜晨嘉领卓"
_PRODUCT_BRAND_B = "迅驰途锋宝力源泰诺朗瑞禾顿格邦威帆德鑫"

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力永健燕云飞鹏宇浩凯婷雪琳晨欣悦佳怡晓晶颖俊峰"
_ROADS = (
    "南京西路", "淮海中路", "张杨路", "世纪大道", "中山北路", "曹杨路", "四平路", "虹桥路", "漕溪北路",
    "共和新路", "沪太路", "七莘路", "莘松路", "浦东南路", "长寿路", "大渡河路", "江宁路", "黄兴路",
    "松江新城路", "嘉松北路", "城中路", "友谊路", "南桥路", "卫零路", "人民路", "金山大道", "宝杨路",
)  # fmt: skip
_CHANNELS = (("12315热线", 0.45), ("全国12315平台", 0.35), ("微信小程序", 0.15), ("来信来访", 0.05))
_PLATFORM_CHANNELS = (("全国12315平台", 0.5), ("12315热线", 0.3), ("微信小程序", 0.2))
_PERIOD = ("凌晨", "上午", "中午", "下午", "晚上")

# {when} {firm} {product} {amount} {platform} placeholders; the first list has an amount.
_CONTEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "电商平台": (("{when}在{platform}上的“{firm}”店铺购买了{product}，实付{amount}元。",
                  "{when}通过{platform}在{firm}下单了一件{product}，支付了{amount}元。",
                  "本人{when}在{platform}“{firm}”购买{product}，订单金额{amount}元。"),
                 ("{when}在{platform}上的“{firm}”店铺购买了{product}。",
                  "本人{when}在{platform}“{firm}”网店下单购买{product}。")),
    "直播电商": (("{when}在{platform}观看“{firm}”直播时下单了{product}，支付{amount}元。",
                  "{when}在{platform}直播间被主播推荐购买了{product}，花费{amount}元，店铺为“{firm}”。"),
                 ("{when}在{platform}“{firm}”直播间购买了{product}。",)),
    "餐饮": (("{when}在{firm}就餐，消费{amount}元。", "{when}在{firm}点了{product}，共计{amount}元。",
              "{when}与家人在{firm}用餐，点了{product}，结账{amount}元。"),
             ("{when}在{firm}就餐。", "{when}在{firm}购买了{product}。")),
    "健身": (("本人{when}在{firm}办理了{product}，支付{amount}元。",
              "{when}经销售人员推荐在{firm}购买了{product}，共{amount}元。"),
             ("本人{when}在{firm}办理了{product}。",)),
    "教育培训": (("{when}为孩子在{firm}报名了{product}，缴纳学费{amount}元。",
                  "本人{when}在{firm}报读{product}，一次性支付{amount}元。"),
                 ("{when}为孩子在{firm}报名了{product}。",)),
    "美容美发": (("{when}在{firm}办理了{product}，充值{amount}元。", "{when}在{firm}做了{product}，收费{amount}元。"),
                 ("{when}在{firm}办理了{product}。",)),
    "医美": (("{when}在{firm}做了{product}，花费{amount}元。", "本人{when}经咨询师推荐在{firm}做{product}，支付{amount}元。"),
             ("{when}在{firm}做了{product}。",)),
    "汽车": (("{when}在{firm}购买{product}，合同价{amount}元。", "{when}在{firm}做{product}，付款{amount}元。"),
             ("{when}在{firm}购买了{product}。", "本人{when}到{firm}做{product}。")),
    "家电": (("{when}在{firm}购买了{product}，价格{amount}元。", "{when}在{firm}门店买了一台{product}，花了{amount}元。"),
             ("{when}在{firm}购买了{product}。",)),
    "通信": (("本人是{firm}的用户，{when}办理了{product}，每月{amount}元。",
              "{when}在{firm}营业厅办理{product}，预存{amount}元。"),
             ("本人是{firm}的用户，{when}办理了{product}。",)),
    "旅游": (("{when}通过{firm}预订了{product}，费用{amount}元。", "{when}报名了{firm}的{product}，支付{amount}元。"),
             ("{when}通过{firm}预订了{product}。",)),
    "房产中介": (("{when}通过{firm}办理{product}，支付中介费{amount}元。", "{when}经{firm}介绍签订{product}合同，付款{amount}元。"),
                 ("{when}通过{firm}办理{product}。",)),
    "食品": (("{when}在{firm}购买了{product}，{amount}元。", "{when}在{firm}买了{product}，付款{amount}元。"),
             ("{when}在{firm}购买了{product}。",)),
    "保健品": (("家中老人{when}在{firm}组织的讲座上购买了{product}，花费{amount}元。",
                "{when}在{firm}购买{product}，共{amount}元。"),
               ("家中老人{when}在{firm}购买了{product}。",)),
    "电动车": (("{when}在{firm}购买了{product}，{amount}元。", "{when}到{firm}购买{product}，付款{amount}元。"),
               ("{when}在{firm}购买了{product}。",)),
    "母婴": (("{when}在{firm}为孩子购买了{product}，{amount}元。", "{when}在{firm}买了{product}，花费{amount}元。"),
             ("{when}在{firm}为孩子购买了{product}。",)),
}  # fmt: skip

# Tickets about a platform itself (its own goods, membership, customer service).
_PLATFORM_CONTEXTS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("{when}在{platform}平台自营店购买了{product}，支付{amount}元。", "本人是{platform}的会员，{when}通过{platform}下单{product}，实付{amount}元。",
     "{when}使用{platform}下单，订单金额{amount}元。"),
    ("本人是{platform}的用户，{when}在平台上购买了{product}。", "{when}通过{platform}下单购买{product}。"),
)  # fmt: skip

_PROBLEMS: dict[str, tuple[str, ...]] = {
    "质量": ("收到的{product}使用不到{n}天就出现故障，无法正常使用。", "{product}做工粗糙，存在明显质量问题，与宣传描述严重不符。",
             "{product}使用过程中突然损坏，怀疑是质量不合格产品。", "发现{product}有破损和污渍，明显是瑕疵品。",
             "{product}出现异响和发热，经检测属于质量问题。", "{product}用了{n}次就坏了，质量太差。"),
    "退费": ("因个人原因申请退款，商家一直以各种理由拖延不予退还。", "商家承诺七个工作日内退款，至今已过去{n}周仍未到账。",
             "要求退还剩余费用，对方称需要扣除高额手续费。", "办理退费时商家要求扣除{n}成违约金，本人认为不合理。",
             "商家同意退款后又反悔，称财务流程需要{n}个月。"),
    "虚假宣传": ("商家宣传时称{product}效果显著，实际使用后完全没有效果。", "页面宣传的赠品和优惠均未兑现，属于虚假宣传。",
                 "销售人员口头承诺的服务内容与实际提供的完全不一致。", "宣传中使用“最好”“第一”等绝对化用语，夸大产品功效。",
                 "宣传图片与实物差距极大，存在误导消费者的情况。"),
    "价格": ("结账时实际收取的价格比标价高出{n}元，商家拒绝解释。", "同一商品前一天刚涨价，第二天又以“优惠价”名义出售。",
             "明码标价不清楚，收费项目事先没有告知。", "被收取了事先未说明的附加费用共{n}十元。"),
    "合同": ("合同中有“概不退换”“最终解释权归商家所有”等霸王条款。", "商家单方面变更服务内容，未与本人协商。",
             "签约时未给本人合同副本，现在商家不认可当时的约定。", "未经本人同意开通了自动续费，每月被扣款{n}十元。",
             "商家未按合同约定的时间履行义务，已经拖延{n}周。"),
    "售后服务": ("联系售后要求维修，售后推诿称需自行寄回且承担运费。", "申请退货后商家一直不处理，客服电话无人接听。",
                 "维修{n}次后问题依旧，要求换货被拒绝。", "在线客服只会机械回复，问题一直得不到解决。",
                 "售后人员上门后收取了高额维修费，问题仍未解决。"),
    "食品安全": ("食用后出现腹痛、腹泻等症状，怀疑食品不卫生。", "在菜品中吃出异物，疑似头发和塑料片。",
                 "购买的食品已经超过保质期仍在销售。", "发现包装内有霉变现象，商家拒绝承认。", "后厨卫生条件很差，餐具有明显污渍。"),
    "计量": ("回家复称发现少了{n}两，存在缺斤短两。", "商家电子秤未经检定，称重明显不准。", "实际分量与标注重量相差很大。"),
    "个人信息": ("在该商家消费后频繁接到骚扰电话，怀疑个人信息被泄露。", "扫码点餐强制要求授权手机号和位置信息。",
                 "办理会员时被要求提供身份证照片，用途不明。", "没有经过本人同意，商家将本人信息提供给第三方推销。"),
    "预付卡": ("本人办理的预付卡余额还有不少，现在商家以各种理由拒绝兑付。", "商家更换经营主体后不认可之前办理的会员卡。",
               "商家推销续卡时承诺的优惠未兑现，剩余课时无法使用。", "办卡时承诺随时可退，现在要求退卡被拒绝。"),
    "安全": ("{product}使用中出现漏电，险些造成人身伤害。", "店内地面湿滑没有警示标志，本人摔倒受伤。",
             "{product}充电时冒烟，存在严重安全隐患。", "场地设施老化，存在安全隐患。"),
    "假冒": ("购买的{product}经鉴定为假冒产品，商家拒不承认。", "商品包装与正品明显不同，疑似假货。",
             "商家以次充好，把普通货当正品卖。"),
}  # fmt: skip

# Services have no goods to repair or return: their quality / after-sales / safety stories.
_SERVICE_SECTORS = frozenset({"餐饮", "健身", "教育培训", "美容美发", "医美", "通信", "旅游", "房产中介"})
_SERVICE_PROBLEMS: dict[str, tuple[str, ...]] = {
    "质量": ("服务质量与办理时的承诺严重不符，多次反映也没有改善。", "{product}的服务敷衍了事，明显偷工减料。",
             "实际提供的{product}与宣传的内容差距很大。"),
    "售后服务": ("服务过程中出现问题，商家拒绝承担责任。", "客服电话一直打不通，问题得不到解决。",
                 "提出意见后商家答应整改，但之后没有任何改变。"),
    "安全": ("店内地面湿滑没有警示标志，本人摔倒受伤。", "场地设施老化，存在明显安全隐患。", "消防通道被杂物堵塞，存在安全隐患。"),
    "假冒": ("商家使用的产品疑似假冒品牌，与宣传的不一致。",),
}  # fmt: skip
# Sector-specific problems, used half the time when a sector has them for the issue.
_SECTOR_PROBLEMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("健身", "退费"): ("教练离职后私教课无法正常预约，申请退费被拒。", "健身房搬迁到很远的地方，本人无法继续锻炼，要求退卡被拒。"),
    ("健身", "预付卡"): ("健身卡还有{n}个月没用，门店却要求补差价才能继续使用。",),
    ("教育培训", "退费"): ("试听后发现老师水平与宣传不符，要求退学费被拒。", "机构频繁更换老师，孩子无法继续上课，剩余课时费不予退还。"),
    ("医美", "质量"): ("术后出现红肿、不对称等情况，与术前承诺效果相差很大。",),
    ("汽车", "质量"): ("新车提车不到{n}个月发动机故障灯就亮了，多次维修没有解决。", "车辆变速箱异响，4S店一直说是正常现象。"),
    ("汽车", "合同"): ("提车时被要求缴纳金融服务费和上牌费，事先没有告知。",),
    ("通信", "合同"): ("未经同意擅自开通了增值业务，每月多扣费{n}元。", "要求携号转网被以各种理由拒绝。"),
    ("旅游", "合同"): ("行程中被导游强制购物，不购物就被甩团。", "旅行社擅自更改行程，减少了景点。"),
    ("房产中介", "合同"): ("中介隐瞒了房屋漏水问题，入住后才发现。", "中介收取中介费后房东违约，中介费不予退还。"),
    ("保健品", "虚假宣传"): ("销售人员宣称产品能治疗高血压、糖尿病，老人停药后病情加重。", "讲座上宣称产品有神奇功效，实际就是普通食品。"),
    ("电动车", "质量"): ("电动自行车续航严重虚标，标称{n}十公里实际只能跑一半。",),
    ("母婴", "质量"): ("{product}有异味，孩子使用后皮肤发红。",),
    ("餐饮", "价格"): ("就餐时被收取了服务费和餐具费，事先没有告知。",),
}  # fmt: skip

_DETAILS_ONLINE = ("订单号为{order}。", "本人有付款记录和聊天截图为证。", "商品页面承诺“假一赔十”。", "已在平台申请售后但被驳回。")
_DETAILS_OFFLINE = ("该店位于{district}{road}{no}号。", "本人有付款凭证和照片为证。", "当时店员承诺{n}天内给答复。",
                    "门店地址在{district}{road}附近。")  # fmt: skip
_CONTACTS = (
    "事后本人多次与商家沟通，对方态度敷衍，一会儿说要请示领导，一会儿说系统有问题。",
    "拨打客服电话{n}次均未得到解决，每次都让等待回复。", "商家当时答应三天内处理，但一直没有下文。",
    "与店长协商未果，对方让本人“去投诉”。", "已经等待{n}天，没有任何回复，微信消息也不回。",
    "商家称需要请示上级，之后再无回音。", "本人要求协商处理，对方以公司规定为由拒绝。",
    "商家只同意补偿一张小额优惠券，本人不接受。", "本人多次到店交涉，店员互相推诿，找不到负责人。",
)  # fmt: skip
_DEMANDS: dict[str, tuple[str, ...]] = {
    "质量": ("要求退货退款。", "要求更换合格产品。", "要求按照法律规定赔偿损失。"),
    "退费": ("要求全额退款。", "要求商家退还剩余费用。"),
    "虚假宣传": ("要求退一赔三。", "要求商家赔偿，并请监管部门查处其虚假宣传行为。"),
    "价格": ("要求退还多收的费用。", "请求查处该商家价格违法行为。"),
    "合同": ("要求按合同约定履行。", "要求解除合同并退款。", "要求退还被扣费用并取消相关业务。"),
    "售后服务": ("要求商家履行三包义务。", "要求尽快退货退款。"),
    "食品安全": ("要求退款并赔偿医疗费用。", "要求商家赔偿，并请监管部门检查其卫生状况。"),
    "计量": ("要求补足分量并赔偿。", "请求对其计量器具进行检查。"),
    "个人信息": ("要求删除本人个人信息并赔礼道歉。", "请求查处其侵害消费者个人信息的行为。"),
    "预付卡": ("要求退还预付卡余额。", "要求商家兑付剩余服务或者退款。"),
    "安全": ("要求赔偿损失并消除安全隐患。", "要求商家承担责任并整改。"),
    "假冒": ("要求假一赔三。", "要求退款赔偿并查处售假行为。"),
}
_CLOSINGS = ("请市场监管部门帮助协调处理。", "希望12315尽快处理，谢谢。", "", "请帮忙维权。", "")

_VIOLATIONS: dict[str, tuple[str, ...]] = {
    "质量": ("销售不合格产品", "销售质量不达标的商品"),
    "退费": ("收取费用后拒不退还", "以预付方式收费后拒绝退款"),
    "虚假宣传": ("发布虚假广告，夸大产品功效", "进行虚假宣传，欺骗消费者", "使用绝对化用语进行宣传"),
    "价格": ("存在价格欺诈行为", "不明码标价，乱收费"),
    "合同": ("使用不公平格式条款", "利用格式条款排除消费者权利"),
    "售后服务": ("拒不履行三包义务",),
    "食品安全": ("销售过期食品", "后厨卫生条件恶劣，存在食品安全隐患", "无证经营食品"),
    "计量": ("使用未经检定的计量器具，缺斤短两",),
    "个人信息": ("违规收集、使用消费者个人信息",),
    "预付卡": ("违规发行预付卡", "收取预付款后拒不兑付"),
    "安全": ("经营场所存在严重安全隐患", "销售存在安全隐患的产品"),
    "假冒": ("销售假冒商品", "销售假冒注册商标的商品"),
}
_EVIDENCE = ("本人有购物小票和照片为证。", "已拍摄视频留存证据。", "附件为现场照片。", "")

# General consultations: (question, title, issue_category or None, situations, answers).
# Operators record the caller's situation and the answer given, so these run long.
_TOPICS: tuple[tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]], ...] = (
    ("办理个体工商户营业执照需要准备哪些材料", "营业执照办理", None,
     ("来电人计划在小区附近开一家小吃店，不清楚登记流程。", "来电人称准备开网店，想了解是否需要办理营业执照。"),
     ("已告知其可通过“一网通办”平台在线申请，需准备经营者身份证明、经营场所证明等材料，具体以登记机关要求为准。",
      "已告知个体工商户登记所需材料及办理渠道，并建议其到所在区市场监管局登记窗口现场咨询。")),
    ("网购商品七天无理由退货的具体规定，哪些商品不适用七天无理由", "七天无理由退货", "售后服务",
     ("来电人在网上买了一件衣服，收到后不合适，商家以已拆吊牌为由拒绝退货。", "来电人称网购的电子产品已激活，商家称不支持退货。"),
     ("已告知其《网络购买商品七日无理由退货暂行办法》的相关规定，消费者定作、鲜活易腐等商品不适用，其他商品在完好的前提下可以退货，协商不成可投诉。",
      "已解释七天无理由退货的适用范围及商品完好的认定标准，建议其保留聊天记录等证据。")),
    ("预付卡消费纠纷应该如何维权，商家不退费怎么办", "预付卡维权", "预付卡",
     ("来电人在小区附近的健身房办了年卡，近期门店经常不开门，担心商家跑路。", "来电人称孩子的培训班更换了老板，新老板不认可之前的课时。"),
     ("已告知其依据《消费者权益保护法》第五十三条，经营者以预收款方式提供服务的，应按约定提供，未按约定提供的应退回预付款，建议其保留合同和付款凭证。",
      "已建议其先与经营者协商，并告知可向属地市场监管部门投诉或通过司法途径解决。")),
    ("食品经营许可证的办理流程和所需时间", "食品经营许可", None,
     ("来电人准备经营一家奶茶店，想了解需要办理哪些许可。", "来电人称在家制作烘焙食品通过朋友圈销售，询问是否需要许可。"),
     ("已告知食品经营许可的申请条件、所需材料和办理时限，建议其通过“一网通办”提交申请。",
      "已告知其从事食品经营应依法取得许可，具体要求可咨询所在区市场监管局。")),
    ("如何查询企业的统一社会信用代码和登记信息", "企业信息查询", None,
     ("来电人准备与一家公司签订合同，想核实对方的经营状况。", "来电人在网上看到一家公司的招聘信息，想确认该公司是否真实存在。"),
     ("已告知其可通过国家企业信用信息公示系统查询企业的统一社会信用代码、登记状态和行政处罚等信息。",
      "已告知查询渠道，并提醒其注意核实合同主体与营业执照是否一致。")),
    ("商品标价与结算价格不一致时的处理办法", "价格纠纷", "价格",
     ("来电人在超市购物时发现货架标价与收银结算价格不一致，商家只同意按结算价收费。", "来电人称商场促销标注的折扣价结账时没有兑现。"),
     ("已告知经营者应当按照标示的价格结算，不得收取未予标明的费用，可以向属地市场监管部门反映。",
      "已告知《明码标价和禁止价格欺诈规定》的相关内容，建议其保留价签照片和购物小票。")),
    ("家电三包期限如何计算", "三包规定", "售后服务",
     ("来电人购买的洗衣机一年内坏了三次，商家只同意继续维修。", "来电人称新买的空调安装后不制冷，厂家说要先检测。"),
     ("已告知家用电器三包规定中关于退货、换货和修理的期限，以及修理两次仍不能正常使用可以换货的规定。",
      "已解释三包有效期从开具发票之日起计算，建议其保留发票和维修记录。")),
    ("企业年报的报送时间和逾期后果", "企业年报", None,
     ("来电人是一家小微企业的负责人，担心错过年报时间。", "来电人称公司被列入经营异常名录，想了解如何移出。"),
     ("已告知企业应于每年1月1日至6月30日通过国家企业信用信息公示系统报送上一年度年报，逾期将被列入经营异常名录。",
      "已告知补报年报后可以申请移出经营异常名录的程序。")),
    ("商标注册的流程和费用", "商标注册", None,
     ("来电人开了一家餐馆，想给店名注册商标。", "来电人发现有人在网上使用与自己店铺相同的名称。"),
     ("已告知商标注册可通过国家知识产权局商标局网上服务系统办理，并提示其注意防范假冒代理机构。",
      "已告知商标注册的基本流程，并建议其委托正规商标代理机构办理。")),
    ("网络直播购物的维权途径", "直播购物维权", None,
     ("来电人在直播间购买了一件翡翠，收到后怀疑是假货，主播已经下播联系不上。", "来电人称直播间宣传的赠品没有收到。"),
     ("已告知直播营销平台和直播间运营者的责任，建议其先通过平台投诉，并保存好直播录屏和订单截图。",
      "已告知其可通过全国12315平台对直播间经营者进行投诉。")),
    ("计量器具检定的相关规定", "计量器具检定", "计量",
     ("来电人怀疑菜市场摊位的电子秤不准。", "来电人开了一家水果店，询问电子秤需要多久检定一次。"),
     ("已告知用于贸易结算的计量器具属于强制检定范围，应定期检定，消费者可以使用市场的公平秤复核。",
      "已告知强制检定的相关规定和检定机构的联系方式。")),
    ("消费者权益保护法中关于退一赔三的规定", "惩罚性赔偿", None,
     ("来电人购买的商品被商家以次充好，想了解能否要求三倍赔偿。", "来电人称商家存在欺诈行为，询问赔偿标准。"),
     ("已告知《消费者权益保护法》第五十五条关于经营者有欺诈行为的，应当按照消费者要求增加赔偿其受到的损失，增加赔偿的金额为价款的三倍，不足五百元的为五百元。",
      "已告知惩罚性赔偿的适用条件，建议其保留证据后与商家协商或依法投诉。")),
    ("个人信息被商家泄露应该如何处理", "个人信息保护", "个人信息",
     ("来电人在一家商场办理会员后经常接到推销电话。", "来电人称扫码点餐时被要求授权手机号，担心信息泄露。"),
     ("已告知《个人信息保护法》和《消费者权益保护法》中关于经营者收集、使用个人信息的规定，建议其向相关部门反映。",
      "已告知其可以要求经营者删除个人信息，并可通过全国12315平台投诉。")),
    ("投诉提交后多久会有处理结果", "投诉处理进度", None,
     ("来电人一周前在全国12315平台提交了投诉，目前显示处理中。", "来电人称投诉后商家一直没有联系自己。"),
     ("已告知市场监管部门在收到投诉之日起七个工作日内作出是否受理的决定，受理后一般在六十日内终结调解。",
      "已帮其查询投诉处理进度，并告知承办单位的联系方式。")),
)  # fmt: skip
_ANSWERS = (
    "已告知其可通过全国12315平台提交投诉，并保留好付款凭证、聊天记录等相关证据。",
    "已按相关规定进行解答，告知其可先与经营者协商，来电人表示理解。",
    "已告知相关法律规定及办理途径，建议其协商不成时依法投诉。",
    "已建议其先与经营者协商，协商不成可以向属地市场监管部门投诉或者向人民法院起诉。",
    "已告知其向属地市场监管所咨询具体办理事项，并提供了联系方式。",
)  # fmt: skip
_CONSULT_TAILS = (
    "来电人表示如有需要将通过全国12315平台进一步反映。", "来电人对答复表示满意。", "来电人表示会先与商家沟通。",
    "", "", "来电人表示理解。",
)  # fmt: skip
_GENERAL_NOTES = (
    "来电人还询问了办理时限，已一并告知。", "已将相关政策文件的查询方式告知来电人，并提醒其以官方发布的信息为准。",
    "已提醒其注意留存相关材料，如有疑问可再次来电。", "来电人询问能否电话办理，已告知需按规定渠道提交。",
    "来电人对部分条款不太理解，已逐条进行了解释。", "来电人还询问了收费标准，已告知以相关部门公布的为准。",
)  # fmt: skip
_GENERAL_TAILS = ("来电人对答复表示满意。", "来电人表示理解。", "来电人表示清楚了。", "")
# A sentence that gives a complaint its weight; most callers add one.
_REMARKS = (
    "本人认为商家的行为违反了《消费者权益保护法》的相关规定，侵害了消费者的合法权益。",
    "商家的做法明显不合理，严重损害了消费者权益。", "网上也有不少消费者反映类似问题。",
    "这件事给本人造成了很大困扰，耽误了不少时间。", "本人是老顾客，对商家的处理方式非常失望。",
    "商家还称“爱去哪投诉就去哪投诉”，态度极其恶劣。", "本人觉得很不公平。", "希望商家能给一个合理的说法。",
)  # fmt: skip
# Extra sentences a report adds about the firm's conduct.
_REPORT_NOTES = (
    "该经营者长期存在此类问题，周边居民多有反映。", "经与商家交涉，对方拒不改正。", "据了解还有其他消费者遇到同样的情况。",
    "希望执法人员到现场进行检查。", "该店营业时间为每天上午十点至晚上九点。",
)  # fmt: skip
_CALLERS = ("市民", "来电人", "消费者", "一位市民")

_PROF_FINDINGS = (
    "标签未标注生产日期", "配料表中含有未经批准的添加剂", "宣称具有治疗功效", "使用“最佳”“第一”等绝对化用语",
    "进口食品无中文标签", "已超过保质期",
)  # fmt: skip
_PROF_PRODUCTS = ("进口饼干", "蜂蜜", "保健茶", "代餐粉", "进口红酒", "燕窝", "即食海参", "果冻", "固体饮料")
_PROF_TEMPLATES = (
    "本人于{when}在{firm}购买{product}{n}件，发现该商品{finding}，违反《食品安全法》相关规定。"
    "现依据《食品安全法》第一百四十八条，要求{firm}退还货款{amount}元并支付十倍赔偿，同时请求贵局依法查处并给予举报奖励。",
    "举报人于{when}在{firm}购买了{product}，经查该商品{finding}，属于不符合食品安全标准的食品。"
    "请求贵局依法立案查处，并责令商家按照《食品安全法》第一百四十八条支付价款十倍赔偿，赔偿不足一千元的按一千元计算。",
    "本人{when}在{firm}购得{product}，其{finding}，涉嫌违反《广告法》和《消费者权益保护法》。"
    "要求退一赔三，并请求贵局对该经营者进行立案调查，书面告知处理结果。",
)  # fmt: skip


# --------------------------------------------------------------------------------------
# Incident families
# --------------------------------------------------------------------------------------

FAMILIES: tuple[str, ...] = (
    "prepaid_closure",
    "platform_issue_surge",
    "product_defect",
    "holiday_practice",
    "safety_event",
    "platform_policy",
)
DECOY_FAMILIES: tuple[str, ...] = ("decoy_repeat_person", "decoy_small_firm", "decoy_festival")
_EXPECTED: dict[str, tuple[str | None, str]] = {
    "prepaid_closure": ("group_dispute", "firm"),
    "platform_issue_surge": ("group_dispute", "firm_issue"),
    "safety_event": ("group_dispute", "firm"),
    "product_defect": ("concentrated_demand", "product"),
    "holiday_practice": ("concentrated_demand", "term"),
    "platform_policy": ("concentrated_demand", "term"),
    "decoy_repeat_person": (None, "firm"),
    "decoy_small_firm": (None, "firm"),
    "decoy_festival": (None, "firm"),
}
DEFAULT_INCIDENTS: tuple[tuple[str, int], ...] = tuple((f, 2) for f in FAMILIES)
DEFAULT_DECOYS: tuple[tuple[str, int], ...] = (
    ("decoy_repeat_person", 4),
    ("decoy_small_firm", 4),
    ("decoy_festival", 1),
)

_PREPAID_PROBLEMS = (
    "{when2}到店发现{short}已经闭店，门口贴着“内部装修暂停营业”的通知，工作人员全部联系不上。",
    "{short}突然闭店，老板电话关机，会员群也被解散，疑似老板跑路。",
    "今天去上课才知道{short}已经闭店，卡里还有{n}次课没有上。",
    "听其他会员说{short}闭店了，赶到现场发现已经人去楼空，怀疑卷款跑路。",
    "{short}一夜之间闭店，前几天还在推销续费，明显是恶意圈钱后跑路。",
    "{short}无任何通知就关门停业，预付卡里的钱无法使用，怀疑跑路。",
)  # fmt: skip
_PREPAID_DETAILS = (
    "和本人情况相同的会员有几十人，已经建了维权群。", "预付卡余额还有{amount2}元。", "店里的器材和物品已经被搬走。",
    "前台说是总部资金出了问题。", "物业说该店已经拖欠了几个月房租。",
)  # fmt: skip
_PREPAID_DEMANDS = ("要求退还预付卡剩余费用。", "要求商家退费，并请监管部门追究其责任。", "请政府部门帮助我们追回预付款。")


@dataclass(frozen=True, slots=True)
class _SurgeVariant:
    issue: str
    term: str
    sectors: tuple[str, ...]
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_SURGES = (
    _SurgeVariant("合同", "自动续费", ("电商平台", "直播电商", "旅游", "餐饮"),
                  ("发现{firm}会员在没有任何提醒的情况下自动续费，扣款{amount}元。",
                   "开通{firm}的试用会员后被自动续费，取消入口非常隐蔽。",
                   "{firm}默认勾选自动续费，本人从未主动开通，近期被连续扣费。",
                   "{firm}的会员自动续费扣款前未按规定提前告知。"),
                  ("要求退还自动续费扣款并关闭自动续费。", "要求{firm}退款并整改自动续费规则。")),
    _SurgeVariant("个人信息", "信息泄露", ("电商平台", "直播电商", "旅游", "餐饮", "通信"),
                  ("在{firm}下单后接到诈骗电话，对方准确说出了订单信息，怀疑信息泄露。",
                   "最近频繁接到自称{firm}客服的电话，对方知道本人的姓名和地址，{firm}存在信息泄露。",
                   "{firm}的订单信息泄露导致本人被骗{amount}元。"),
                  ("要求{firm}说明信息泄露原因并赔偿损失。", "请求查处{firm}信息泄露问题。")),
    _SurgeVariant("虚假宣传", "虚构原价", ("直播电商", "电商平台"),
                  ("{firm}上的商品标注“原价{amount}元”，实际从未以该价格销售，属于虚构原价。",
                   "{firm}活动页面虚构原价，所谓的折扣价比平时还贵。",
                   "在{firm}购买的商品划线价是虚构原价，诱导消费。"),
                  ("要求退一赔三。", "请求查处{firm}虚构原价的行为。")),
    _SurgeVariant("合同", "增值业务", ("通信",),
                  ("本人是{firm}用户，近期话费账单中多出了从未订购的增值业务，每月扣费{n}十元。",
                   "{firm}未经本人同意擅自开通增值业务，客服称是系统默认开通。",
                   "{firm}营业厅办理业务时被捆绑开通增值业务，未告知收费。"),
                  ("要求退还增值业务费用并取消业务。", "请求查处{firm}擅自开通增值业务的行为。")),
    _SurgeVariant("退费", "退票手续费", ("旅游",),
                  ("航班取消后在{firm}申请退票，却被收取高额退票手续费{amount}元。",
                   "{firm}退票时收取的退票手续费远高于航空公司规定。",
                   "因行程变化在{firm}退票，退票手续费被扣了大半。"),
                  ("要求{firm}全额退还退票手续费。", "要求按航空公司规定退票。")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _ProductVariant:
    template: str  # product name; {brand} {model}
    terms: tuple[str, ...]
    sectors: tuple[str, ...]
    category: str
    amount: tuple[float, float]
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_PRODUCTS = (
    _ProductVariant("{brand}牌48V电动自行车锂电池（{model}型）", ("电池起火",), ("电动车", "电商平台"), "电动自行车",
                    (600, 2000),
                    ("购买的{product}使用{n}个月后充电时发生电池起火，幸好及时扑灭。",
                     "{product}充电时冒烟并起明火，同小区已经有多起电池起火事件。",
                     "{product}在楼道充电时电池起火，烧毁了电动车。",
                     "网上有很多人反映{product}电池起火，本人这块也出现鼓包发烫。"),
                    ("要求召回该型号电池并赔偿损失。", "请求对{product}进行抽检并责令召回。")),
    _ProductVariant("{brand}牌空气炸锅（{model}）", ("涂层脱落",), ("家电", "电商平台", "直播电商"), "家用电器",
                    (200, 800),
                    ("购买的{product}使用{n}周后内胆涂层脱落，担心有害物质进入食物。",
                     "{product}炸篮涂层脱落严重，商家说是使用不当。",
                     "{product}才用了几次就出现涂层脱落，同款很多人遇到。"),
                    ("要求退货退款。", "请求对{product}质量进行检测。")),
    _ProductVariant("{brand}婴幼儿配方奶粉（{model}批次）", ("结块",), ("母婴", "食品", "电商平台"), "婴幼儿食品",
                    (200, 600),
                    ("冲泡{product}时发现奶粉结块并有异味，孩子喝后腹泻。", "新开罐的{product}出现明显结块，怀疑受潮变质。",
                     "{product}结块严重，同批次很多家长都遇到了。"),
                    ("要求退款并对该批次产品进行检测。", "请求查处并召回问题批次。")),
    _ProductVariant("{brand}牌充电宝（{model}）", ("自燃",), ("家电", "电商平台", "直播电商"), "数码产品",
                    (80, 300),
                    ("{product}在包里突然自燃，烧坏了衣物。", "{product}充电时发烫后自燃，险些引发火灾。",
                     "购买的{product}出现自燃，网上已有多起同款事故。"),
                    ("要求召回该款充电宝并赔偿损失。", "请求对{product}进行抽检。")),
    _ProductVariant("{brand}牌儿童羽绒服（{model}款）", ("含绒量不足",), ("电商平台", "直播电商", "母婴"), "服装鞋帽",
                    (300, 900),
                    ("购买的{product}送检后发现含绒量不足，与标注的90%白鸭绒严重不符。", "{product}含绒量不足，里面都是飞丝和碎毛。",
                     "{product}被曝含绒量不足，本人购买的同款手感明显不对。"),
                    ("要求退一赔三。", "请求查处销售含绒量不足羽绒服的行为。")),
    _ProductVariant("{brand}牌电热水器（{model}）", ("漏电",), ("家电", "电商平台"), "家用电器", (1200, 3500),
                    ("{product}洗澡时漏电，家人被电了一下。", "{product}安装不到一年就出现漏电，非常危险。",
                     "{product}漏电保护失灵，维修人员说是设计缺陷。"),
                    ("要求更换并赔偿。", "请求对{product}进行检测并召回。")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Practice:
    name: str
    terms: tuple[str, ...]
    occasions: tuple[str, ...]  # calendar names; "*" also takes any weekend
    sectors: tuple[str, ...]
    issue: str
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_SHOPPING = ("双十一", "618", "双十二", "女神节", "年货节", "店庆大促")
_PRACTICES = (
    _Practice("年夜饭最低消费", ("最低消费",), ("除夕", "春节"), ("餐饮",), "价格",
              ("预订{occasion}年夜饭时{firm}要求每桌最低消费{amount}元，不达到不让订。",
               "{firm}的{occasion}年夜饭包间设置最低消费，还要另收服务费。",
               "{occasion}在{firm}吃年夜饭，被告知有最低消费，点不够也要按最低消费收费。"),
              ("要求退还多收费用。", "请求查处{firm}设置最低消费的行为。")),
    _Practice("节日套餐强制消费", ("强制消费",), ("情人节", "七夕", "平安夜", "圣诞节", "母亲节", "父亲节", "元宵节"),
              ("餐饮",), "合同",
              ("{occasion}去{firm}用餐，店家只提供{amount}元的节日套餐，不允许单点，属于强制消费。",
               "{occasion}当天{firm}强制消费，必须购买节日套餐才能入座。",
               "{firm}借{occasion}强制消费，套餐价格比平时贵一倍。"),
              ("要求退还差价。", "请求查处{firm}强制消费行为。")),
    _Practice("节日礼盒捆绑销售", ("捆绑销售",), ("中秋节", "国庆节", "端午节", "春节", "元宵节"), ("食品",), "价格",
              ("{occasion}前在{firm}购买礼盒，被要求捆绑销售其他商品才能买到。",
               "{firm}的{occasion}礼盒捆绑销售高价酒和茶叶，单买不卖。",
               "{firm}借{occasion}捆绑销售，礼盒里大部分是没用的东西，价格{amount}元。"),
              ("要求退货退款。", "请求查处捆绑销售行为。")),
    _Practice("假日服务费", ("服务费",), ("劳动节", "国庆节", "端午节", "清明节", "元旦", "春节", "*"),
              ("餐饮", "旅游"), "价格",
              ("{occasion}期间在{firm}消费，结账时被加收{n}%的服务费，事先没有告知。",
               "{firm}{occasion}期间额外收取服务费，菜单上没有标明。",
               "{occasion}在{firm}被收取了服务费和茶位费共{amount}元。"),
              ("要求退还服务费。", "请求查处{firm}乱收服务费的行为。")),
    _Practice("开瓶费", ("开瓶费",), ("*", "春节", "国庆节", "中秋节", "元旦"), ("餐饮",), "价格",
              ("{occasion}在{firm}聚餐自带酒水，被收取开瓶费{amount}元。", "{firm}禁止自带酒水，否则收取开瓶费。",
               "{occasion}聚会时{firm}按每瓶{n}十元收取开瓶费。"),
              ("要求退还开瓶费。", "请求查处{firm}收取开瓶费的行为。")),
    _Practice("大促先涨后降", ("先涨后降",), _SHOPPING, ("电商平台", "直播电商"), "价格",
              ("{occasion}大促前{firm}把{product}价格先涨后降，所谓优惠价比平时还贵{n}十元。",
               "{firm}在{occasion}期间先涨后降，虚假打折。", "关注了很久的{product}，{occasion}前被{firm}先涨后降。"),
              ("要求退还差价。", "请求查处{firm}先涨后降的价格欺诈行为。")),
    _Practice("节日强制办卡", ("强制办卡",), ("妇女节", "情人节", "七夕", "母亲节", "*"), ("美容美发", "医美", "健身"),
              "合同",
              ("{occasion}活动期间在{firm}消费，店员强制办卡，不办卡不给优惠还被冷嘲热讽。",
               "{firm}借{occasion}搞活动，结账时强制办卡充值{amount}元。", "在{firm}做{product}时被强制办卡。"),
              ("要求退还办卡费用。", "请求查处{firm}强制办卡行为。")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Policy:
    terms: tuple[str, ...]
    own_share: float  # share of tickets about the platform itself, the rest about its shops
    issue: str
    problems: tuple[str, ...]
    demands: tuple[str, ...]


_POLICIES = (
    _Policy(("七天无理由",), 0.3, "售后服务",
            ("{platform}新规则调整后，店铺以“平台规定”为由拒绝七天无理由退货。",
             "{platform}取消了多类商品的七天无理由退货，购买时没有任何提示。",
             "在{platform}购买的{product}申请七天无理由退货被拒，客服说是平台新政策。"),
            ("要求按规定七天无理由退货。", "请求约谈{platform}恢复七天无理由退货。")),
    _Policy(("运费险",), 0.4, "售后服务",
            ("{platform}取消了运费险赠送，退货需要自付运费，商品页面还显示“赠运费险”。",
             "{platform}新规后运费险不再理赔，退货运费要自己承担。", "在{platform}退货时发现运费险被取消了。"),
            ("要求{platform}承担退货运费。", "请求查处{platform}运费险相关问题。")),
    _Policy(("免密支付",), 0.7, "合同",
            ("{platform}在没有告知的情况下默认开通了免密支付，被扣款{amount}元。",
             "{platform}更新后自动开通免密支付，关闭入口很难找到。", "在{platform}下单时被默认勾选免密支付，事后才发现被多次扣款。"),
            ("要求退还扣款并关闭免密支付。", "请求查处{platform}默认开通免密支付的行为。")),
    _Policy(("先用后付",), 0.5, "合同",
            ("在{platform}购物时被默认勾选先用后付，事后被催缴并影响信用。", "{platform}新上线的先用后付默认开启，本人并不知情。",
             "{platform}先用后付规则不透明，退货后仍然被扣款。"),
            ("要求取消先用后付并退款。", "请求查处{platform}先用后付默认开通的问题。")),
)  # fmt: skip

_SAFETY_FOOD_PROBLEMS = (
    "{when2}在{short}（{branch}店）用餐后，同桌{n}人陆续出现呕吐、腹泻症状，怀疑食物中毒，已到医院就诊。",
    "在{short}{branch}店吃完饭后几个小时开始腹痛腹泻，医生诊断为食物中毒。",
    "{short}（{branch}店）疑似发生食物中毒，本人和朋友都在医院挂水，同一天去吃饭的很多人都有症状。",
    "孩子在{short}{branch}店吃了儿童套餐后上吐下泻，怀疑食物中毒。",
)  # fmt: skip
_SAFETY_RIDE_PROBLEMS = (
    "{when2}在{short}游玩时，游乐设施突然故障停在半空，多名游客受伤。",
    "{short}的过山车运行中紧急停止，本人被安全压杠压伤，现场很多人受伤。",
    "在{short}乘坐游乐设施时发生故障，孩子受伤送医，景区工作人员处置混乱。",
    "{short}游乐设施故障导致游客受伤，现场没有任何应急措施。",
)  # fmt: skip
_SAFETY_DEMANDS = ("要求{short}承担医疗费用并赔偿。", "请求监管部门立即介入调查。", "要求彻查事故原因并追究责任。")

# Signature terms the incidents use, by family: the engine's segmenter must keep each
# one whole (a user-dictionary entry), or its term alerts cannot name them.
INCIDENT_TERMS: dict[str, tuple[str, ...]] = {
    "prepaid_closure": ("闭店", "跑路", "退费", "预付卡"),
    "platform_issue_surge": tuple(v.term for v in _SURGES),
    "product_defect": tuple(t for v in _PRODUCTS for t in v.terms),
    "holiday_practice": tuple(t for p in _PRACTICES for t in p.terms),
    "safety_event": ("食物中毒", "受伤"),
    "platform_policy": tuple(t for p in _POLICIES for t in p.terms),
}


# --------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled injected episode: what the engine should (or, for decoys, must not) alert on.

    ``ticket_ts`` holds each ticket's event time (UTC epoch seconds), parallel to
    ``ticket_ids``, so scoring can count how many of the incident's tickets had arrived
    when the first alert was raised.
    """

    incident_id: str
    family: str
    expected_type: str | None
    dimension: str
    keys: tuple[str, ...]
    start_ts: float
    end_ts: float
    people: int
    ticket_ids: tuple[str, ...]
    ticket_ts: tuple[float, ...] = ()
    description: str = ""


Counts = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SimConfig:
    """One scenario. ``incidents`` / ``decoys``: explicit ``(family, count)`` pairs, or a
    float rate per day spread round-robin over the families (decoys: over the
    person/small-firm decoys, plus one festival). Incidents start after ``warmup_days``
    so a detector has some history; ``bad_firm_id_rate`` of firm-bearing tickets omit
    ``firm_id`` or carry a malformed one.
    """

    seed: int = 1
    start: str = "2025-03-03T00:00:00+08:00"
    days: float = 28
    tickets_per_day: float = 6000
    firms: int = 4000
    incidents: Counts | float = DEFAULT_INCIDENTS
    decoys: Counts | float = DEFAULT_DECOYS
    professionals: int = 8
    warmup_days: float = 3.0
    bad_firm_id_rate: float = 0.05

    def __post_init__(self) -> None:
        if self.days <= 0 or self.tickets_per_day < 0 or self.firms < len(_BIG_FIRMS) + 50:
            raise ValueError(f"need days > 0, tickets_per_day >= 0 and firms >= {len(_BIG_FIRMS) + 50}")
        if datetime.fromisoformat(self.start).utcoffset() is None:
            raise ValueError(f"start must carry a UTC offset, e.g. 2025-03-03T00:00:00+08:00; got {self.start!r}")
        for counts, known in ((self.incidents, FAMILIES), (self.decoys, DECOY_FAMILIES)):
            if not isinstance(counts, (int, float)):
                for fam, n in counts:
                    if fam not in known or n < 0:
                        raise ValueError(f"unknown family or negative count: {fam!r} {n}")


# --------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------

_T = TypeVar("_T")
_TZ = timezone(timedelta(hours=8))
_DAY = 86400
_HOUR = 3600
_PAST_DAYS = 70  # narratives date purchases up to ~2 months before the call


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


def _scramble(x: int) -> int:
    """A bijection of [0, 2**33) that looks random (an invertible integer hash). Person
    ids come from it (< 10**10, so ten digits), so they never collide and show no sequence."""
    x &= 0x1FFFFFFFF
    x = (x * 0x9E3779B1) & 0x1FFFFFFFF
    x ^= x >> 16
    x = (x * 0x85EBCA77) & 0x1FFFFFFFF
    return x ^ (x >> 11)


def _anonymous(v: int) -> bool:
    """Whether the person hashed to *v* files reports anonymously (~10 % do, always)."""
    return (v >> 23) % 10 == 0


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: Sequence[Any], cum: list[float]) -> Any:
    return items[bisect.bisect(cum, rng.random() * cum[-1])]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:  # normal approximation; exact enough for hourly counts
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


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


@dataclass(slots=True)
class _Planned:
    """An incident being planned: its tickets (dicts without ids yet) and label fields."""

    family: str
    tickets: list[dict[str, Any]]
    ts: list[int]
    dimension: str
    keys_from: Callable[[list[dict[str, Any]]], set[str]]
    description: str
    reserve: list[str]


class Simulation:
    """A planned scenario: ``incidents``, ``professional_complainants`` and ``tickets()``.

    ``tickets()`` can be called any number of times and yields the same sequence each
    time (fresh dicts, in non-decreasing ``received_at``). ``background_tickets`` counts
    every ticket not in a real (non-decoy) incident: the denominator of the false-alert rate.
    """

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self._seed_text = f"earlywarn-sim:{cfg.seed}"
        rng = self._rng("plan")
        self._t0 = int(datetime.fromisoformat(cfg.start).timestamp())
        self._t1 = self._t0 + int(cfg.days * _DAY)
        # Local (+08:00) midnight at or before the start: day index 0.
        self._midnight0 = self._t0 - (self._t0 + 8 * _HOUR) % _DAY
        n_days = (self._t1 - self._midnight0 + _DAY - 1) // _DAY
        self._dates = [
            (datetime.fromtimestamp(self._midnight0, _TZ) + timedelta(days=i)).date()
            for i in range(-_PAST_DAYS, n_days + 2)
        ]
        self._perm_b = rng.randrange(10**9)
        self._district_codes = tuple(_DISTRICT_WEIGHTS)
        self._district_cum = _cum(list(_DISTRICT_WEIGHTS.values()))
        self.firms: list[_Firm] = self._make_firms(rng)
        self._firm_cum = _cum([f.weight for f in self.firms])
        self._platforms = [f for f in self.firms if f.is_platform and f.sector in _ECOMMERCE]
        self._by_sector: dict[str, list[_Firm]] = {}
        for f in self.firms:
            self._by_sector.setdefault(f.sector, []).append(f)
        self._reserved: dict[str, list[tuple[int, int]]] = {}
        self.unplaced: list[str] = []  # families asked for but with no room left in the scenario
        self._used: set[str] = set()  # variants (practices, products, policies) already in the scenario
        # People are numbers (ids are a hash of them): professionals first, then everyone else.
        self.professional_complainants: tuple[str, ...] = tuple(self._person_id(i) for i in range(cfg.professionals))
        self._next_person = cfg.professionals
        # Festival days (calendar ones in range, plus synthetic sales if the decoys ask for more).
        self._festivals = self._festival_days(rng)
        background = self._plan_background(rng)
        planned = self._plan_incidents(rng)
        self._plan: list[tuple[int, int, int, int, int, dict[str, Any] | None]] = background
        order = len(background)
        for p in planned:
            for ts, t in zip(p.ts, p.tickets, strict=True):
                self._plan.append((ts, order, -1, -1, -1, t))
                order += 1
        self._plan.sort()  # (ts, order) decide: order is unique, so payloads are never compared
        self.total_tickets = len(self._plan)
        # Ticket ids (SH + local date + 8-digit sequence in the day) of the tickets labels name.
        wanted = {o for orders in self._festival_orders.values() for o in orders}
        ids: dict[int, str] = {}
        by_order: dict[int, tuple[int, int]] = {}
        for e, tid in zip(self._plan, self._numbers(), strict=True):
            if e[5] is not None:
                e[5]["ticket_id"] = tid
            elif e[1] in wanted:
                ids[e[1]] = tid
                # Who the label counts: anonymous reports carry no complainant id.
                anon = e[2] == 1 and e[4] >= cfg.professionals and _anonymous(_scramble(e[4] + self._perm_b))
                by_order[e[1]] = (e[0], -1 if anon else e[4])
        self.incidents: list[Incident] = [self._label(i, p) for i, p in enumerate(planned)]
        self.incidents += self._festival_labels(ids, by_order)
        real = sum(len(i.ticket_ids) for i in self.incidents if i.expected_type is not None)
        self.background_tickets = self.total_tickets - real

    # ---- seeds, people, time -------------------------------------------------------

    def _rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self._seed_text}:{purpose}")

    def _person_id(self, idx: int) -> str:
        return f"P{_scramble(idx + self._perm_b):010d}"

    def _new_person(self) -> int:
        self._next_person += 1
        return self._next_person - 1

    def _day_index(self, ts: int) -> int:
        return (ts - self._midnight0) // _DAY

    def _date_of(self, day_idx: int) -> date:
        return self._dates[day_idx + _PAST_DAYS]

    def _local_hour(self, ts: int) -> int:
        return ((ts - self._midnight0) % _DAY) // _HOUR

    def _numbers(self) -> Iterator[str]:
        """Ticket ids in plan order: SH + local date + an 8-digit sequence within the day."""
        next_midnight, seq, prefix = -1, 0, ""
        for e in self._plan:
            if e[0] >= next_midnight:
                d = (e[0] - self._midnight0) // _DAY
                next_midnight = self._midnight0 + (d + 1) * _DAY
                seq = 0
                prefix = "SH" + self._date_of(d).strftime("%Y%m%d")
            seq += 1
            yield f"{prefix}{seq:08d}"

    # ---- firms ---------------------------------------------------------------------

    def _make_firms(self, rng: random.Random) -> list[_Firm]:
        cfg = self.cfg
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
        while len(firms) < cfg.firms:
            s: Sector = _pick(rng, sectors, sector_cum)
            district = _pick(rng, self._district_codes, self._district_cum)
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
        self._rank = {f.idx: r for r, f in enumerate(ranked)}
        return firms

    def _small(self, sectors: Sequence[str], min_rank: int | None = None) -> list[_Firm]:
        """Firms of these sectors in the long tail (usually no tickets on a given day)."""
        lo = min_rank if min_rank is not None else max(len(_BIG_FIRMS) + 1, len(self.firms) // 5)
        return [f for s in sectors for f in self._by_sector.get(s, ()) if self._rank[f.idx] >= lo]

    # ---- background ----------------------------------------------------------------

    def _festival_days(self, rng: random.Random) -> dict[int, tuple[str, float]]:
        """Day index -> (name, e-commerce multiplier) of every shopping festival in range."""
        out: dict[int, tuple[str, float]] = {}
        first, last = self._day_index(self._t0), self._day_index(self._t1 - 1)
        for d in range(first, last + 1):
            for c in _CALENDAR_BY_DAY.get(self._date_of(d), ()):
                if c.kind == "shopping_festival":
                    # A festival's pull varies from year to year: ×2–3 around its nominal value.
                    out[d] = (c.name, min(3.0, max(2.0, c.sectors[0][1] * rng.uniform(0.85, 1.15))))
        want = self._counts(self.cfg.decoys, DECOY_FAMILIES, rng).get("decoy_festival", 0)
        tries = 0
        after_warmup = self._day_index(self._t0 + int(self.cfg.warmup_days * _DAY))
        while len(out) < want and tries < 100:  # a platform's own anniversary sale
            tries += 1
            d = rng.randint(min(after_warmup, last), last)
            if d not in out and self._date_of(d).weekday() < 5:
                out[d] = ("店庆大促", rng.uniform(2.0, 3.0))
        return out

    def _day_profile(self, d: int) -> tuple[float, dict[str, float]]:
        """(volume multiplier, sector multipliers) of local day index *d*."""
        day = self._date_of(d)
        cal = _CALENDAR_BY_DAY.get(day, ())
        holiday = [c for c in cal if c.kind == "holiday"]
        volume = holiday[0].volume if holiday else WEEKDAY_VOLUME[day.weekday()]
        sectors: dict[str, float] = {}
        for c in cal:
            if c.kind == "shopping_festival":
                continue  # taken from self._festivals (seed-jittered)
            if c.kind != "holiday":
                volume *= c.volume
            for s, m in c.sectors:
                sectors[s] = max(sectors.get(s, 1.0), m)
        if d in self._festivals:
            m = self._festivals[d][1]
            for s in _ECOMMERCE:
                sectors[s] = max(sectors.get(s, 1.0), m)
        return volume, sectors

    def _plan_background(self, rng: random.Random) -> list[tuple[int, int, int, int, int, dict[str, Any] | None]]:
        """(ts, order, kind, firm, person, None) for every background ticket; fills
        ``self._festival_orders`` (festival day -> orders of its e-commerce tickets)."""
        cfg = self.cfg
        r = rng.random
        hour_share = [h / sum(HOURLY_PROFILE) for h in HOURLY_PROFILE]
        kind_cum = _cum([KIND_SHARES[k] for k in _KINDS])
        kind_top = kind_cum[-1]
        # Kinds among tickets that name a firm (a consultation names one 30 % of the time).
        firm_kind_cum = _cum([KIND_SHARES["complaint"], KIND_SHARES["report"],
                              KIND_SHARES["consultation"] * _CONSULT_WITH_FIRM])  # fmt: skip
        firm_kind_top = firm_kind_cum[-1]
        firms = self.firms
        firm_cum = self._firm_cum
        firm_top = firm_cum[-1]
        is_ecom = [f.sector in _ECOMMERCE for f in firms]
        sector_share: dict[str, float] = {}
        for f in firms:
            sector_share[f.sector] = sector_share.get(f.sector, 0.0) + f.weight
        extra_tables: dict[tuple[tuple[str, float], ...], list[float]] = {}
        plan: list[tuple[int, int, int, int, int, dict[str, Any] | None]] = []
        append = plan.append
        n_prof = cfg.professionals
        person = self._next_person  # the next new person
        prof_firms = self._small(("食品", "保健品", "电商平台")) or firms
        # A festival's label covers the sale day and two days of returns after it.
        festival_of = {d + k: d for d in sorted(self._festivals) for k in (2, 1, 0)}
        self._festival_orders: dict[int, list[int]] = {d: [] for d in self._festivals}
        bisect_ = bisect.bisect
        first, last = self._day_index(self._t0), self._day_index(self._t1 - 1)
        for d in range(first, last + 1):
            volume, sectors = self._day_profile(d)
            # Sector boosts add firm-bearing tickets about those sectors on top of the base day.
            extra = sum(sector_share.get(s, 0.0) * (m - 1) for s, m in sectors.items())
            p_extra = _FIRM_BEARING * extra / (1 + _FIRM_BEARING * extra)
            key = tuple(sorted(sectors.items()))
            if extra > 0 and key not in extra_tables:
                extra_tables[key] = _cum([f.weight * (sectors.get(f.sector, 1.0) - 1) for f in firms])
            extra_cum = extra_tables.get(key) if extra > 0 else None
            extra_top = extra_cum[-1] if extra_cum else 0.0
            fest = self._festival_orders.get(festival_of.get(d, -1))
            day_total = cfg.tickets_per_day * volume * (1 + _FIRM_BEARING * extra)
            midnight = self._midnight0 + d * _DAY
            for h in range(24):
                lo, hi = max(midnight + h * _HOUR, self._t0), min(midnight + (h + 1) * _HOUR, self._t1)
                if hi <= lo:
                    continue
                span = hi - lo
                n = _poisson(rng, day_total * hour_share[h] * span / _HOUR)
                times = [lo + int(r() * span) for _ in range(n)]
                times.sort()
                for ts in times:
                    if extra_cum is not None and r() < p_extra:  # an extra ticket about a boosted sector
                        kind = bisect_(firm_kind_cum, r() * firm_kind_top)
                        firm = bisect_(extra_cum, r() * extra_top)
                    else:
                        kind = bisect_(kind_cum, r() * kind_top)
                        firm = bisect_(firm_cum, r() * firm_top) if kind < 2 or r() < _CONSULT_WITH_FIRM else -1
                    # About 5 % of callers have called before (about anything).
                    if r() < 0.05 and person > n_prof + 1:
                        who = max(n_prof, person - 1 - int(r() * 3000))
                    else:
                        who = person
                        person += 1
                    if fest is not None and firm >= 0 and is_ecom[firm]:
                        fest.append(len(plan))
                    append((ts, len(plan), kind, firm, who, None))
            # Professional claimants work office hours on working days, many claims each.
            if self._date_of(d).weekday() < 5:
                for p in range(n_prof):
                    for _ in range(_poisson(rng, 1.5)):
                        ts = midnight + 9 * _HOUR + int(r() * 8 * _HOUR)
                        if self._t0 <= ts < self._t1:
                            f = prof_firms[int(r() * len(prof_firms))].idx
                            if fest is not None and is_ecom[f]:
                                fest.append(len(plan))
                            append((ts, len(plan), 1 if r() < 0.7 else 0, f, p, None))
        self._next_person = person
        return plan

    def _festival_labels(self, ids: dict[int, str], by_order: dict[int, tuple[int, int]]) -> list[Incident]:
        """One decoy label per festival: its e-commerce tickets, sale day and two days after."""
        if not self._decoy_counts.get("decoy_festival"):
            return []
        keys: set[str] = set()
        for f in self._platforms:
            keys.add(f.firm_id)
            keys.add("name:" + text_key(f.name))
        keys |= {text_key(i) for i in ("质量", "售后服务", "退费", "虚假宣传")}
        out = []
        for d, (name, mult) in sorted(self._festivals.items()):
            orders = sorted(self._festival_orders[d], key=lambda o: by_order[o])
            if not orders:
                continue
            out.append(
                Incident(
                    incident_id=f"s{self.cfg.seed}-decoy_festival-{len(out) + 1}",
                    family="decoy_festival",
                    expected_type=None,
                    dimension="firm",
                    keys=tuple(sorted(keys)),
                    start_ts=float(by_order[orders[0]][0]),
                    end_ts=float(by_order[orders[-1]][0]),
                    people=len({by_order[o][1] for o in orders} - {-1}),
                    ticket_ids=tuple(ids[o] for o in orders),
                    ticket_ts=tuple(float(by_order[o][0]) for o in orders),
                    description=f"{name}：电商 ×{mult:.1f}（当天及其后两天售后）",
                )
            )
        return out

    # ---- incidents: planning -------------------------------------------------------

    def _counts(self, spec: Counts | float, families: Sequence[str], rng: random.Random) -> dict[str, int]:
        if isinstance(spec, (int, float)):
            span = max(0.0, self.cfg.days - self.cfg.warmup_days)
            total = round(float(spec) * span)
            fams = [f for f in families if f != "decoy_festival"]
            order = rng.sample(fams, len(fams))
            out = {f: 0 for f in families}
            for i in range(total):
                out[order[i % len(order)]] += 1
            if "decoy_festival" in families and total:
                out["decoy_festival"] = 1
            return out
        out = {f: 0 for f in families}
        for f, n in spec:
            out[f] += n
        return out

    def _free(self, keys: Sequence[str], t0: int, t1: int) -> bool:
        margin = 2 * _DAY  # keep label windows (plus the scorer's grace) apart
        return all(
            b + margin <= t0 or t1 + margin <= a for k in keys for a, b in self._reserved.get(k, ())
        )

    def _reserve(self, keys: Sequence[str], t0: int, t1: int) -> None:
        for k in keys:
            self._reserved.setdefault(k, []).append((t0, t1))

    def _plan_incidents(self, rng: random.Random) -> list[_Planned]:
        self._decoy_counts = self._counts(self.cfg.decoys, DECOY_FAMILIES, rng)
        # A platform incident may fall on a festival (as on a real 双十一): scoring counts an
        # alert that matches it as true before it ever blames the festival decoy.
        jobs: list[str] = []
        for fam, n in self._counts(self.cfg.incidents, FAMILIES, rng).items():
            jobs += [fam] * n
        for fam, n in self._decoy_counts.items():
            if fam != "decoy_festival":
                jobs += [fam] * n
        planners: dict[str, Callable[[random.Random], _Planned | None]] = {
            "prepaid_closure": self._plan_prepaid,
            "platform_issue_surge": self._plan_surge,
            "product_defect": self._plan_product,
            "holiday_practice": self._plan_practice,
            "safety_event": self._plan_safety,
            "platform_policy": self._plan_policy,
            "decoy_repeat_person": self._plan_repeat_person,
            "decoy_small_firm": self._plan_small_firm,
        }
        out: list[_Planned] = []
        for fam in jobs:
            for _attempt in range(100):
                # A person id is only consumed when its plan is kept: restore on failure.
                mark = self._next_person
                p = planners[fam](rng)
                if p is not None and p.tickets and self._free(p.reserve, min(p.ts), max(p.ts)):
                    self._reserve(p.reserve, min(p.ts), max(p.ts))
                    out.append(p)
                    break
                self._next_person = mark
            else:  # the scenario is too short or too crowded for it
                self.unplaced.append(fam)
        return out

    def _fresh(self, rng: random.Random, options: Sequence[_T], name: Callable[[_T], str]) -> _T:
        """A random option, preferring one this scenario has not used yet (variety)."""
        unused = [o for o in options if name(o) not in self._used]
        choice = rng.choice(unused or list(options))
        self._used.add(name(choice))  # kept even if the plan is then dropped: variety is a preference
        return choice

    def _start(self, rng: random.Random, duration: int, first_hour: int, last_hour: int) -> int | None:
        """A start at a daytime hour (*first_hour*..*last_hour*) after the warm-up that leaves
        room for *duration* before the end, or None when the scenario is too short."""
        lo = self._t0 + int(self.cfg.warmup_days * _DAY)
        hi = self._t1 - duration - _HOUR
        if hi <= lo:
            return None
        for _ in range(20):
            ts = rng.randrange(lo, hi)
            midnight = ts - (ts - self._midnight0) % _DAY
            ts = midnight + rng.randrange(first_hour * _HOUR, last_hour * _HOUR)
            if lo <= ts <= hi:
                return ts
        return None

    def _arrivals(
        self, rng: random.Random, n: int, t0: int, duration: int, burst_frac: float, burst: int
    ) -> list[int]:
        """*n* first-contact times: a burst just after *t0*, then a decaying tail, fewer at night."""
        times = [t0]
        end = t0 + duration
        while len(times) < n:
            if rng.random() < burst_frac:
                off = int(rng.random() ** 1.3 * burst)
            else:
                off = int(rng.random() ** 1.8 * duration)
            ts = min(t0 + off, end)
            # People call less at night: thin night-time arrivals (they call next morning).
            if rng.random() < 0.25 + 0.75 * HOURLY_PROFILE[self._local_hour(ts)] / _HOUR_MAX:
                times.append(ts)
        return sorted(times)

    def _people_tickets(self, rng: random.Random, firsts: list[int], end: int) -> list[tuple[int, int, int]]:
        """(ts, person, nth) for each ticket: most people file once, some follow up."""
        out = []
        for ts in firsts:
            person = self._new_person()
            out.append((ts, person, 0))
            extra = (rng.random() < 0.10) + (rng.random() < 0.02)
            for k in range(extra):
                out.append((min(end, ts + rng.randrange(_HOUR // 2, 24 * _HOUR)), person, k + 1))
        out.sort()
        return out

    def _plan_prepaid(self, rng: random.Random) -> _Planned | None:
        cands = self._small(("健身", "教育培训", "美容美发"))
        firm = cands[rng.randrange(len(cands))]
        duration = int(rng.uniform(2, 48) * _HOUR)
        t0 = self._start(rng, duration, 7, 21)
        reserve = [f"F{firm.idx}"]
        if t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(12, 80)
        # A closure is found out at once (a locked door, a dissolved group chat): a burst.
        firsts = self._arrivals(rng, people, t0, duration, 0.45, min(duration, 3 * _HOUR))
        main_issue = "预付卡" if rng.random() < 0.7 else "退费"
        other_issue = "退费" if main_issue == "预付卡" else "预付卡"
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            amount = round(math.exp(rng.uniform(math.log(1000), math.log(20000))), -1)
            parts = w.story(rng.choice(_CONTEXTS[firm.sector][0]), rng.choice(_PREPAID_PROBLEMS),
                            rng.choice(_PREPAID_DEMANDS), extra=rng.choice(_PREPAID_DETAILS), nth=nth)  # fmt: skip
            vals = {"product": rng.choice(firm.products), "amount": _fmt_amount(amount),
                    "amount2": _fmt_amount(round(amount * rng.uniform(0.3, 0.9), -1)), "when2": "今天"}  # fmt: skip
            title = rng.choice((f"{firm.short}闭店跑路", f"{firm.short}突然闭店无法退费", f"预付卡商家{firm.short}跑路",
                                f"{firm.short}关门了", "商家闭店要求退费"))  # fmt: skip
            issue = main_issue if rng.random() < 0.8 else other_issue
            kind = _pick(rng, _KINDS, [0.85, 0.95, 1.0])
            tickets.append(w.compose(kind, firm, person, t, issue, amount, parts, vals, title))
            ts.append(t)
        return _Planned("prepaid_closure", tickets, ts, "firm", _firm_keys_of(firm), f"{firm.short} 闭店跑路", reserve)

    def _plan_surge(self, rng: random.Random) -> _Planned | None:
        big = [f for f in self.firms if f.is_platform]
        firm = big[rng.randrange(len(big))]
        variants = [v for v in _SURGES if firm.sector in v.sectors]
        if not variants:
            return None
        v = self._fresh(rng, variants, lambda x: x.term)
        duration = int(rng.uniform(6, 48) * _HOUR)
        t0 = self._start(rng, duration, 8, 20)
        reserve = [f"F{firm.idx}", f"T{v.term}"]
        if t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(30, 150)
        # Word spreads on social media within hours of the first posts.
        firsts = self._arrivals(rng, people, t0, duration, 0.35, min(duration, 4 * _HOUR))
        s = SECTORS[firm.sector]
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            amount = round(math.exp(rng.gauss(math.log(s.amount_median), 0.6)), 1)
            lead = rng.choice(("本人是{firm}的用户。", "本人长期使用{firm}。", "", ""))
            parts = w.story(lead, rng.choice(v.problems), rng.choice(v.demands), nth=nth)
            vals = {"firm": firm.short, "amount": _fmt_amount(amount), "product": rng.choice(firm.products)}
            title = rng.choice((f"{firm.short}{v.term}问题", f"投诉{firm.short}{v.term}", v.term))
            kind = _pick(rng, _KINDS, [0.9, 0.97, 1.0])
            tickets.append(w.compose(kind, firm, person, t, v.issue, amount, parts, vals, title, platform=firm.platform))
            ts.append(t)
        return _Planned("platform_issue_surge", tickets, ts, "firm_issue", _firm_issue_keys_of(firm),
                        f"{firm.short} {v.term}", reserve)  # fmt: skip

    def _plan_product(self, rng: random.Random) -> _Planned | None:
        v = self._fresh(rng, _PRODUCTS, lambda x: x.template)
        brand = rng.choice(_PRODUCT_BRAND_A) + rng.choice(_PRODUCT_BRAND_B)
        model = rng.choice("ABCDEFGHKMNPRSTX") + rng.choice("ABCDEFGHKMNPRSTX") + f"-{rng.randint(10, 99)}"
        if "批次" in v.template:  # a formula batch is named by its production date
            made = self._date_of(0) - timedelta(days=rng.randint(30, 200))
            model = made.strftime("%Y%m%d") + model[-2:]
        product = v.template.format(brand=brand, model=model)
        pool = self._small(v.sectors, min_rank=len(_BIG_FIRMS) + 10)
        n_firms = min(rng.randint(15, 60), len(pool))
        duration = int(rng.uniform(1, 5) * _DAY)
        t0 = self._start(rng, duration, 8, 20)
        if n_firms < 10 or t0 is None:
            return None
        shops = rng.sample(pool, n_firms)
        reserve = [f"P{product}", *(f"T{t}" for t in v.terms), *(f"F{f.idx}" for f in shops)]
        if not self._free(reserve, t0, t0 + duration):
            return None
        people = max(rng.randint(30, 120), n_firms)
        # A few shops' buyers first; then news and social media spread it.
        firsts = self._arrivals(rng, people, t0, duration, 0.2, min(duration, 12 * _HOUR))
        issue = "安全" if v.terms[0] in ("电池起火", "自燃", "漏电") else "质量"
        w = _Writer(self, rng)
        tickets, ts = [], []
        for i, (t, person, nth) in enumerate(self._people_tickets(rng, firsts, t0 + duration)):
            firm = shops[i] if i < n_firms else shops[int(rng.random() ** 1.5 * n_firms)]
            amount = round(rng.uniform(*v.amount), 0)
            parts = w.story(rng.choice(_CONTEXTS[firm.sector][0]), rng.choice(v.problems), rng.choice(v.demands),
                            nth=nth)  # fmt: skip
            vals = {"product": product, "amount": _fmt_amount(amount)}
            title = rng.choice((f"{product}{v.terms[0]}", f"{v.terms[0]}问题投诉", f"{product}质量问题"))
            kind = _pick(rng, _KINDS, [0.8, 0.92, 1.0])
            tickets.append(w.compose(kind, firm, person, t, issue, amount, parts, vals, title,
                                     product=product, category=v.category))  # fmt: skip
            ts.append(t)
        keys = {text_key(product), *v.terms}
        return _Planned("product_defect", tickets, ts, "product", lambda _t: keys, f"{product} {v.terms[0]}", reserve)

    def _occasions(self) -> list[tuple[int, str]]:
        """(day index, name) of every calendar day in the incident range, weekends as "*"."""
        lo = self._day_index(self._t0 + int(self.cfg.warmup_days * _DAY)) + 1
        hi = self._day_index(self._t1 - 1) - 1
        out: list[tuple[int, str]] = []
        for d in range(lo, hi + 1):
            day = self._date_of(d)
            out += [(d, c.name) for c in _CALENDAR_BY_DAY.get(day, ()) if c.kind != "festival_aftermath"]
            if d in self._festivals and self._festivals[d][0] == "店庆大促":
                out.append((d, "店庆大促"))
            if day.weekday() >= 5:
                out.append((d, "*"))
        return out

    def _plan_practice(self, rng: random.Random) -> _Planned | None:
        options = [(d, name, p) for d, name in self._occasions() for p in _PRACTICES if name in p.occasions]
        if not options:
            return None
        # Prefer a named occasion over a plain weekend when there is one.
        named = [o for o in options if o[1] != "*"]
        d, name, pr = self._fresh(rng, named if named and rng.random() < 0.8 else options, lambda o: o[2].name)
        pool = self._small(pr.sectors, min_rank=len(_BIG_FIRMS) + 10)
        n_firms = min(rng.randint(20, 80), len(pool))
        if n_firms < 15:
            return None
        days = rng.randint(1, 4)
        # Complaints come around the day: bookings before it, the bill on it, reports after.
        t0 = self._midnight0 + (d - rng.randint(0, days - 1)) * _DAY + rng.randrange(8 * _HOUR, 18 * _HOUR)
        t0 = max(t0, self._t0 + int(self.cfg.warmup_days * _DAY))
        duration = min(days * _DAY, self._t1 - t0 - _HOUR)
        shops = rng.sample(pool, n_firms)
        reserve = [*(f"T{t}" for t in pr.terms), *(f"F{f.idx}" for f in shops)]
        if duration < 6 * _HOUR or not self._free(reserve, t0, t0 + duration):
            return None
        people = n_firms + rng.randint(0, n_firms // 2)
        firsts = self._arrivals(rng, people, t0, duration, 0.1, min(duration, 12 * _HOUR))
        label = "周末" if name == "*" else name
        w = _Writer(self, rng)
        tickets, ts = [], []
        for i, (t, person, nth) in enumerate(self._people_tickets(rng, firsts, t0 + duration)):
            firm = shops[i] if i < n_firms else shops[rng.randrange(n_firms)]
            s = SECTORS[firm.sector]
            amount = round(math.exp(rng.gauss(math.log(s.amount_median * 3), 0.5)), 0)
            detail = rng.choice(_DETAILS_ONLINE if s.online else _DETAILS_OFFLINE)
            parts = w.story("", rng.choice(pr.problems), rng.choice(pr.demands), extra=detail, nth=nth)
            vals = {"firm": firm.short, "occasion": label, "product": rng.choice(firm.products),
                    "amount": _fmt_amount(amount)}  # fmt: skip
            title = rng.choice((f"{label}{pr.terms[0]}", f"{firm.short}{pr.terms[0]}", f"投诉{pr.terms[0]}"))
            kind = _pick(rng, _KINDS, [0.8, 0.95, 1.0])
            tickets.append(w.compose(kind, firm, person, t, pr.issue, amount, parts, vals, title))
            ts.append(t)
        keys = set(pr.terms)
        return _Planned("holiday_practice", tickets, ts, "term", lambda _t: keys, f"{label} {pr.name}", reserve)

    def _plan_safety(self, rng: random.Random) -> _Planned | None:
        food = rng.random() < 0.6
        if food:  # a chain with branches: mid-sized, not one of the platforms
            pool = [f for f in self._by_sector["餐饮"] if 15 <= self._rank[f.idx] < 600 and not f.is_platform]
        else:  # ride accidents happen at parks: 旅游 firms named 乐园 / 游乐
            pool = [f for f in self._by_sector["旅游"] if self._rank[f.idx] >= 15 and ("乐园" in f.name or "游乐" in f.name)]
        if not pool:
            return None
        firm = pool[rng.randrange(len(pool))]
        duration = int(rng.uniform(1, 6) * _HOUR)
        # Food poisoning shows after lunch or dinner; ride accidents happen in opening hours.
        t0 = self._start(rng, duration, 13, 21) if food else self._start(rng, duration, 10, 18)
        term = "食物中毒" if food else "受伤"
        reserve = [f"F{firm.idx}", f"T{term}"]
        if t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(12, 60)
        firsts = self._arrivals(rng, people, t0, duration, 0.6, min(duration, _HOUR))
        branches = [(SHANGHAI_DISTRICTS[firm.district][:2], firm.district)]
        for _ in range(rng.randint(0, 2) if food else 0):
            dc = _pick(rng, self._district_codes, self._district_cum)
            branches.append((SHANGHAI_DISTRICTS[dc][:2], dc))
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            branch, district = branches[int(rng.random() ** 2 * len(branches))]
            parts = w.story("", rng.choice(_SAFETY_FOOD_PROBLEMS if food else _SAFETY_RIDE_PROBLEMS),
                            rng.choice(_SAFETY_DEMANDS), nth=nth)  # fmt: skip
            amount = round(rng.uniform(100, 800), 0) if rng.random() < 0.5 else None
            vals = {"short": firm.short, "branch": branch + rng.choice(("", "一", "万达", "中心")), "when2": "今天",
                    "n": str(rng.randint(2, 6))}  # fmt: skip
            if food:
                title = rng.choice((f"{firm.short}疑似食物中毒", "食物中毒", f"{firm.short}{branch}店食物中毒"))
            else:
                title = rng.choice((f"{firm.short}游乐设施故障游客受伤", "游乐设施故障受伤", f"{firm.short}安全事故"))
            kind = _pick(rng, _KINDS, [0.7, 0.97, 1.0])
            tickets.append(w.compose(kind, firm, person, t, "食品安全" if food else "安全", amount, parts, vals, title,
                                     district=district))  # fmt: skip
            ts.append(t)
        what = "食物中毒" if food else "游乐设施故障受伤"
        return _Planned("safety_event", tickets, ts, "firm", _firm_keys_of(firm), f"{firm.short} {what}", reserve)

    def _plan_policy(self, rng: random.Random) -> _Planned | None:
        platform = rng.choice(self._platforms)
        pol = self._fresh(rng, _POLICIES, lambda x: x.terms[0])
        shops = [f for f in self.firms if f.platform == platform.platform and not f.is_platform]
        duration = int(rng.uniform(1, 3) * _DAY)
        t0 = self._start(rng, duration, 9, 18)
        reserve = [f"F{platform.idx}", *(f"T{t}" for t in pol.terms)]
        if len(shops) < 20 or t0 is None or not self._free(reserve, t0, t0 + duration):
            return None
        people = rng.randint(40, 200)
        firsts = self._arrivals(rng, people, t0, duration, 0.25, min(duration, 8 * _HOUR))
        shop_cum = _cum([f.weight for f in shops])
        w = _Writer(self, rng)
        tickets, ts = [], []
        for t, person, nth in self._people_tickets(rng, firsts, t0 + duration):
            own = rng.random() < pol.own_share
            firm = platform if own else _pick(rng, shops, shop_cum)
            s = SECTORS[firm.sector]
            amount = round(math.exp(rng.gauss(math.log(s.amount_median), 0.8)), 1)
            lead = rng.choice(_PLATFORM_CONTEXTS[0] if own else _CONTEXTS[firm.sector][0])
            parts = w.story(lead, rng.choice(pol.problems), rng.choice(pol.demands), nth=nth)
            vals = {"platform": platform.platform or "", "product": rng.choice(firm.products),
                    "amount": _fmt_amount(amount)}  # fmt: skip
            title = rng.choice((f"{platform.platform}{pol.terms[0]}问题", f"投诉{pol.terms[0]}新规", pol.terms[0]))
            kind = _pick(rng, _KINDS, [0.85, 0.9, 1.0])
            tickets.append(w.compose(kind, firm, person, t, pol.issue, amount, parts, vals, title,
                                     platform=platform.platform))  # fmt: skip
            ts.append(t)
        platform_keys = _firm_keys_of(platform)
        return _Planned("platform_policy", tickets, ts, "term", lambda tk: set(pol.terms) | platform_keys(tk),
                        f"{platform.platform} {pol.terms[0]}新规", reserve)  # fmt: skip

    def _plan_repeat_person(self, rng: random.Random) -> _Planned | None:
        pool = self._small(tuple(SECTORS), min_rank=len(_BIG_FIRMS) + 20)
        firm = pool[rng.randrange(len(pool))]
        t0 = self._start(rng, 12 * _HOUR, 8, 11)
        reserve = [f"F{firm.idx}"]
        if t0 is None or not self._free(reserve, t0, t0 + 12 * _HOUR):
            return None
        n = rng.randint(3, 8)
        times = sorted(t0 + rng.randrange(0, 11 * _HOUR) for _ in range(n - 1))
        person = self._new_person()
        w = _Writer(self, rng)
        names, cum = w.issues[firm.sector]
        base = w.background_ticket(0, firm.idx, person, t0, issue=_pick(rng, names, cum))
        tickets, ts = [base], [t0]
        for k, t in enumerate(times, start=2):
            again = dict(base)
            again["content"] = rng.choice((f"第{k}次反映：", "再次投诉：", "补充：", "")) + base["content"]
            again["channel"] = w.channel(False)
            again["received_at"] = w.stamp(t)
            tickets.append(again)
            ts.append(t)
        return _Planned("decoy_repeat_person", tickets, ts, "firm", _firm_keys_of(firm),
                        f"{firm.short} 同一人{n}次", reserve)  # fmt: skip

    def _plan_small_firm(self, rng: random.Random) -> _Planned | None:
        pool = self._small(tuple(SECTORS), min_rank=len(self.firms) // 3)
        firm = pool[rng.randrange(len(pool))]
        t0 = self._start(rng, 12 * _HOUR, 8, 12)
        reserve = [f"F{firm.idx}"]
        if t0 is None or not self._free(reserve, t0, t0 + 12 * _HOUR):
            return None
        issues = [i for i, _ in SECTORS[firm.sector].issues]
        chosen = rng.sample(issues, min(rng.randint(2, 3), len(issues)))
        times = sorted([t0] + [t0 + rng.randrange(0, 10 * _HOUR) for _ in chosen[1:]])
        w = _Writer(self, rng)
        tickets = [w.background_ticket(0, firm.idx, self._new_person(), t, issue=i) for t, i in zip(times, chosen)]
        return _Planned("decoy_small_firm", tickets, times, "firm", _firm_keys_of(firm),
                        f"{firm.short} {len(tickets)}件无关投诉", reserve)  # fmt: skip

    def _label(self, i: int, p: _Planned) -> Incident:
        expected, _dim = _EXPECTED[p.family]
        return Incident(
            incident_id=f"s{self.cfg.seed}-{p.family}-{i + 1}",
            family=p.family,
            expected_type=expected,
            dimension=p.dimension,
            keys=tuple(sorted(p.keys_from(p.tickets))),
            start_ts=float(min(p.ts)),
            end_ts=float(max(p.ts)),
            people=len({t["complainant_id"] for t in p.tickets if t.get("complainant_id")}),
            ticket_ids=tuple(t["ticket_id"] for t in sorted(p.tickets, key=lambda t: t["ticket_id"])),
            ticket_ts=tuple(float(ts) for _, ts in sorted(zip((t["ticket_id"] for t in p.tickets), p.ts))),
            description=p.description,
        )

    # ---- output --------------------------------------------------------------------

    def tickets(self) -> Iterator[dict[str, Any]]:
        """Every ticket as a contract-v1 dict, in non-decreasing ``received_at`` order."""
        w = _Writer(self, self._rng("content"))
        background = w.background_ticket
        for (ts, _o, kind, firm, person, payload), tid in zip(self._plan, self._numbers(), strict=True):
            yield background(kind, firm, person, ts, tid) if payload is None else dict(payload)

    __iter__ = tickets


def _firm_keys_of(firm: _Firm) -> Callable[[list[dict[str, Any]]], set[str]]:
    """Keys of *firm* as its tickets spell them (its USCC, and its name key if any ticket lacks a valid id)."""

    def keys(tickets: list[dict[str, Any]]) -> set[str]:
        return {k for t in tickets if _names(t, firm) and (k := firm_key(t))}

    return keys


def _names(ticket: dict[str, Any], firm: _Firm) -> bool:
    return str(ticket.get("firm_name", "")).strip() == firm.name


def _firm_issue_keys_of(firm: _Firm) -> Callable[[list[dict[str, Any]]], set[str]]:
    def keys(tickets: list[dict[str, Any]]) -> set[str]:
        return {
            f"{firm_key(t)}|{text_key(t['issue_category'])}"
            for t in tickets
            if _names(t, firm) and t.get("issue_category")
        }

    return keys


def _fmt_amount(x: float) -> str:
    return f"{x:.0f}" if x == int(x) else f"{x:.2f}"


_SECONDS = tuple(f"{s:02d}+08:00" for s in range(60))
_BANK = 40  # precomposed narratives per (sector, issue, kind, ...) key
# 4096 fake names (surname + one or two given characters), indexed by a person's hash.
_NAMES = tuple(
    _SURNAMES[(i * 7919) % len(_SURNAMES)] + _GIVEN[(i * 31) % len(_GIVEN)] + (_GIVEN[(i * 17 + 3) % len(_GIVEN)] if i % 3 else "")
    for i in range(4096)
)
_NSTR = tuple(str(i) for i in range(2, 10))
# Background amounts come from a bank of this many per sector, drawn once per pass: one
# random() per ticket instead of a gauss(), an exp() and formatting.
_AMOUNTS = 1024


@dataclass(slots=True)
class _FirmCtx:
    firm: _Firm
    sector: Sector
    base: dict[str, str]  # firm_name, firm_id, district_code, product_category
    fill: dict[str, str]  # narrative placeholders fixed for the firm
    issue_names: tuple[str, ...]
    issue_cum: list[float]
    issue_top: float
    banks: dict[str, list[Any]]  # issue -> 6 slots (kind x with amount) of narrative banks
    amounts: list[tuple[float, str]]  # the sector's amounts, drawn ahead (value, as written)
    channels: list[str]  # 100 intake channels in their proportions


class _Writer:
    """Writes ticket dicts.

    The hot path, ``background_ticket``, picks one of a bank of narrative templates per
    (sector, issue, kind) — each bank drawn once from the fragment pools — and fills in the
    ticket's own firm, date, product and amount. That keeps a ticket to about a dozen
    random draws: composing each narrative from scratch took ~3x as long.
    """

    def __init__(self, sim: Simulation, rng: random.Random) -> None:
        self.sim = sim
        self.rng = rng
        self.r = rng.random
        self.firms = sim.firms
        self._stamp_minute = -1
        self._stamp_prefix = ""
        self._when_day = -(10**9)
        self._when_bank: list[str] = []
        self._chan = tuple(c for c, _ in _CHANNELS)
        self._chan_cum = _cum([w for _, w in _CHANNELS])
        self._pchan = tuple(c for c, _ in _PLATFORM_CHANNELS)
        self._pchan_cum = _cum([w for _, w in _PLATFORM_CHANNELS])
        # 100 channels in proportion: one random() picks a channel.
        self._channels = [self._chan[bisect.bisect(self._chan_cum, (k + 0.5) / 100 * self._chan_cum[-1])]
                          for k in range(100)]  # fmt: skip
        self._online_channels = [
            self._pchan[bisect.bisect(self._pchan_cum, (k + 0.5) / 100 * self._pchan_cum[-1])] for k in range(100)
        ]
        self._amounts: dict[str, list[tuple[float, str]]] = {}
        self.issues = {s.name: (tuple(i for i, _ in s.issues), _cum([w for _, w in s.issues])) for s in SECTORS.values()}
        self._banks: dict[tuple[str, bool], dict[str, list[Any]]] = {}
        self._ctxs: dict[int, _FirmCtx] = {}
        self._when_banks: dict[int, list[str]] = {}
        self._firm_fill: dict[int, dict[str, str]] = {}
        self._consult_bank: list[tuple[str, str | None, str]] = []
        self._bad_rate = sim.cfg.bad_firm_id_rate
        self._n_prof = sim.cfg.professionals
        self._perm_b = sim._perm_b

    # small helpers ---------------------------------------------------------------------

    def stamp(self, ts: int) -> str:
        """RFC 3339 in +08:00; the text up to the minute is reused (several tickets a minute)."""
        minute, sec = divmod(ts, 60)
        if minute != self._stamp_minute:
            self._new_minute(minute)
        return self._stamp_prefix + _SECONDS[sec]

    def _new_minute(self, minute: int) -> None:
        self._stamp_minute = minute
        day, rest = divmod(minute * 60 - self.sim._midnight0, _DAY)
        h, m = divmod(rest // 60, 60)
        self._stamp_prefix = f"{self.sim._date_of(day).isoformat()}T{h:02d}:{m:02d}:"
        if day != self._when_day:
            self._when_day = day
            self._when_bank = self._when_bank_of(day)

    def when(self, ts: int) -> str:
        """How a caller dates the purchase: days to weeks before the call, now and then today."""
        return self._when_bank_of((ts - self.sim._midnight0) // _DAY)[int(self.r() * 64)]

    def _when_bank_of(self, day: int) -> list[str]:
        bank = self._when_banks.get(day)
        if bank is None:
            r = self.rng.random
            bank = []
            for _ in range(64):
                u = r()
                if u < 0.12:
                    bank.append("今天" + _PERIOD[1 + int(r() * 4)])
                elif u < 0.25:
                    bank.append("昨天")
                else:
                    d = self.sim._date_of(day - 2 - int(r() ** 2 * 60))
                    bank.append(f"{d.month}月{d.day}日")
            self._when_banks[day] = bank
        return bank

    def channel(self, online: bool) -> str:
        r = self.r
        if online:
            return self._pchan[bisect.bisect(self._pchan_cum, r() * self._pchan_cum[-1])]
        return self._chan[bisect.bisect(self._chan_cum, r() * self._chan_cum[-1])]

    def person_fields(self, t: dict[str, Any], person: int, anonymous_ok: bool) -> None:
        # _scramble, inlined: this runs for every ticket.
        v = (((person + self._perm_b) & 0x1FFFFFFFF) * 0x9E3779B1) & 0x1FFFFFFFF
        v ^= v >> 16
        v = (v * 0x85EBCA77) & 0x1FFFFFFFF
        v ^= v >> 11
        if anonymous_ok and _anonymous(v):  # some people only ever report anonymously
            return
        t["complainant_id"] = f"P{v:010d}"
        # Phone and name are the person's own (the same on every call): derived from v.
        if v % 20:  # ~5 % leave no callback number
            t["complainant_phone"] = f"1{'3578935789'[v % 10]}{(v >> 3) % 10**9:09d}"
        if (v >> 5) % 7:  # ~15 % withhold their name
            t["complainant_name"] = _NAMES[(v >> 7) & 4095]

    def firm_fields(self, t: dict[str, Any], firm: _Firm, u: float | None = None) -> None:
        if u is None:
            u = self.r()
        # 1 % carry stray whitespace from manual entry (text_key removes it).
        t["firm_name"] = firm.name + " " if u > 0.99 else firm.name
        if u < self._bad_rate:
            bad = _malformed(self.rng, firm.firm_id, firm.district)
            if bad is not None:
                t["firm_id"] = bad
        else:
            t["firm_id"] = firm.firm_id

    def story(self, lead: str, core: str, demand: str, *, extra: str = "", nth: int = 0) -> list[str]:
        """Narrative parts of an incident ticket: its core story wrapped like any complaint."""
        r = self.r
        parts = [lead, core] if r() < 0.85 else [core]
        if extra and r() < 0.6:
            parts.append(extra)
        if r() < 0.9:
            parts.append(_CONTACTS[int(r() * len(_CONTACTS))])
        if r() < 0.9:
            parts.append(_REMARKS[int(r() * len(_REMARKS))])
        parts.append(demand)
        parts.append(_CLOSINGS[int(r() * len(_CLOSINGS))])
        if nth:  # a follow-up call about the same matter
            parts.insert(0, "本人此前已经反映过，至今没有结果，现再次投诉。")
        return parts

    def _problem(self, sector: str, issue: str) -> str:
        r = self.r
        special = _SECTOR_PROBLEMS.get((sector, issue))
        if special is not None and r() < 0.5:
            return special[int(r() * len(special))]
        pool = _SERVICE_PROBLEMS.get(issue) if sector in _SERVICE_SECTORS else None
        pool = pool or _PROBLEMS[issue]
        return pool[int(r() * len(pool))]

    # template banks --------------------------------------------------------------------

    def _bank(
        self, firm: _Firm, issue: str, kind: int, with_amount: bool, slots: list[Any], slot: int
    ) -> list[tuple[str, str, bool]]:
        """(content template, title template, needs an order number) for this kind of ticket;
        stored in ``slots[slot]`` (banks are shared by a sector's firms)."""
        s = SECTORS[firm.sector]
        r = self.r

        def pick(seq: Sequence[str]) -> str:
            return seq[int(r() * len(seq))]

        bank = []
        contexts = _PLATFORM_CONTEXTS if firm.is_platform else _CONTEXTS[firm.sector]
        for _ in range(_BANK):
            if kind == 1:  # a report: the violation first, then the story and the evidence
                violation = pick(_VIOLATIONS[issue])
                if firm.is_platform:
                    where = ""
                else:
                    where = "（{platform}店铺）" if s.online else "（经营地址：{district}{road}{no}号）"
                text = (
                    "举报{firm}" + where + violation + "。" + pick(contexts[1]) + self._problem(firm.sector, issue)
                    + pick(_REPORT_NOTES) + pick(_REMARKS) + pick(_EVIDENCE) + "请依法查处。"
                )  # fmt: skip
                title = "举报{firm}" + violation[:8]
            elif kind == 2:  # a consultation about a firm
                text = (
                    pick(_CALLERS) + "来电反映，" + pick(contexts[0 if with_amount else 1])
                    + self._problem(firm.sector, issue) + pick(_REMARKS) + "咨询该情况应如何处理，商家的做法是否合法。"
                    + pick(_ANSWERS) + pick(_CONSULT_TAILS)
                )  # fmt: skip
                title = "咨询" + issue + "问题"
            else:
                detail = pick(_DETAILS_ONLINE if s.online or firm.is_platform else _DETAILS_OFFLINE)
                text = (
                    pick(contexts[0 if with_amount else 1]) + self._problem(firm.sector, issue)
                    + (self._problem(firm.sector, issue) if r() < 0.5 else "")
                    + (detail if r() < 0.85 else "") + pick(_CONTACTS) + pick(_REMARKS)
                    + pick(_DEMANDS[issue]) + pick(_CLOSINGS)
                )  # fmt: skip
                title = pick(("{firm}" + issue + "问题投诉", "关于{firm}的" + issue + "纠纷",
                                    "{product}" + issue + "问题", "投诉{firm}"))  # fmt: skip
            bank.append((text, title, "{order}" in text))
        slots[slot] = bank
        return bank

    def _amount_bank(self, s: Sector) -> list[tuple[float, str]]:
        """A sector's amounts, log-normal around its median: most round, some to the fen."""
        out = []
        for k in range(_AMOUNTS):
            amount = s.amount_median * math.exp(s.amount_sigma * self.rng.gauss(0.0, 1.0))
            amount = float(round(amount)) if self.r() < 0.6 else round(amount, 2)
            out.append((amount, _fmt_amount(amount)))
        return out

    def _fill(self, firm: _Firm) -> dict[str, str]:
        """What every narrative about *firm* shares: its names and its address."""
        fill = self._firm_fill.get(firm.idx)
        if fill is None:
            r = random.Random(f"{self.sim._seed_text}:address:{firm.idx}")  # the same address every run
            fill = {
                "firm": firm.short, "short": firm.short, "platform": firm.platform or "",
                "district": SHANGHAI_DISTRICTS[firm.district], "road": r.choice(_ROADS), "no": str(r.randint(1, 999)),
            }  # fmt: skip
            self._firm_fill[firm.idx] = fill
        return fill

    def _general_consultation(self) -> tuple[str, str | None, str]:
        """(title, issue, text after the caller's name) — a bank of general consultations."""
        bank = self._consult_bank
        if not bank:
            rng = self.rng
            for question, topic, issue, situations, answers in _TOPICS:
                for _ in range(12):
                    text = (
                        "来电咨询" + question + "。" + rng.choice(situations) + rng.choice(answers)
                        + rng.choice(_GENERAL_NOTES) + (rng.choice(_GENERAL_NOTES) if rng.random() < 0.4 else "")
                        + rng.choice(_GENERAL_TAILS)
                    )  # fmt: skip
                    bank.append(("咨询" + topic, issue, text))
        return bank[int(self.r() * len(bank))]

    # tickets ---------------------------------------------------------------------------

    def compose(
        self,
        kind: str,
        firm: _Firm,
        person: int,
        ts: int,
        issue: str,
        amount: float | None,
        parts: list[str],
        vals: dict[str, str],
        title: str,
        *,
        platform: str | None = None,
        product: str | None = None,
        category: str | None = None,
        district: str | None = None,
    ) -> dict[str, Any]:
        """An incident ticket from chosen narrative parts (ticket_id filled in later)."""
        rng = self.rng
        s = SECTORS[firm.sector]
        fill = dict(self._fill(firm))
        fill.update({
            "when": self.when(ts), "platform": platform or firm.platform or "",
            "product": product or (firm.products[0] if firm.products else s.category), "amount": "",
            "n": str(rng.randint(2, 9)), "order": f"{rng.randrange(10**17, 10**18)}",
        })  # fmt: skip
        fill.update(vals)
        t: dict[str, Any] = {"ticket_id": "", "kind": kind, "received_at": self.stamp(ts)}
        self.firm_fields(t, firm)
        t["district_code"] = district or firm.district
        t["product_category"] = category or s.category
        t["product_name"] = product or fill["product"]
        t["issue_category"] = issue
        if amount is not None and rng.random() < 0.9:
            t["amount"] = amount
        self.person_fields(t, person, anonymous_ok=False)
        t["channel"] = self.channel(s.online)
        if platform or firm.platform:
            t["platform"] = platform or firm.platform
        t["title"] = title
        t["content"] = "".join(parts).format_map(fill)
        return t

    def _ctx(self, firm_idx: int) -> _FirmCtx:
        """What every ticket about a firm shares, built on first use."""
        ctx = self._ctxs.get(firm_idx)
        if ctx is None:
            firm = self.firms[firm_idx]
            s = SECTORS[firm.sector]
            base = {"firm_name": firm.name, "firm_id": firm.firm_id, "district_code": firm.district,
                    "product_category": s.category}  # fmt: skip
            names, cum = self.issues[firm.sector]
            banks = self._banks.setdefault((firm.sector, firm.is_platform), {})
            amounts = self._amounts.get(s.name)
            if amounts is None:
                amounts = self._amounts[s.name] = self._amount_bank(s)
            channels = self._online_channels if s.online else self._channels
            ctx = _FirmCtx(firm, s, base, self._fill(firm), names, cum, cum[-1], banks, amounts, channels)
            self._ctxs[firm_idx] = ctx
        return ctx

    def background_ticket(
        self, kind: int, firm_idx: int, person: int, ts: int, tid: str = "", *, issue: str | None = None
    ) -> dict[str, Any]:
        """One ordinary ticket: a sector- and issue-specific narrative about its firm."""
        r = self.r
        minute, sec = divmod(ts, 60)
        if minute != self._stamp_minute:
            self._new_minute(minute)
        t: dict[str, Any] = {"ticket_id": tid, "kind": _KINDS[kind], "received_at": self._stamp_prefix + _SECONDS[sec]}
        if firm_idx < 0:  # a general consultation, no firm
            title, topic_issue, text = self._general_consultation()
            sim = self.sim
            t["district_code"] = sim._district_codes[bisect.bisect(sim._district_cum, r() * sim._district_cum[-1])]
            if topic_issue:
                t["issue_category"] = topic_issue
            self.person_fields(t, person, anonymous_ok=False)
            t["channel"] = "12315热线" if r() < 0.7 else self.channel(False)
            t["title"] = title
            gender = "先生" if person & 1 else "女士"
            t["content"] = _CALLERS[person & 3] + _SURNAMES[person % len(_SURNAMES)] + gender + text
            return t
        ctx = self._ctxs.get(firm_idx) or self._ctx(firm_idx)
        firm = ctx.firm
        s = ctx.sector
        u = r()
        if u < self._bad_rate or u > 0.99:  # a malformed id, or a stray space in the name
            self.firm_fields(t, firm, u)
            t["district_code"] = firm.district
            t["product_category"] = s.category
        else:
            t.update(ctx.base)
        if issue is None:
            issue = ctx.issue_names[bisect.bisect(ctx.issue_cum, r() * ctx.issue_top)]
        product = firm.products[int(r() * len(firm.products))]
        t["product_name"] = product
        t["issue_category"] = issue
        amount_txt = ""
        if r() < (0.85 if kind < 2 else 0.4):  # most complaints name a sum; consultations less often
            t["amount"], amount_txt = ctx.amounts[int(r() * _AMOUNTS)]
        self.person_fields(t, person, anonymous_ok=kind == 1 and person >= self._n_prof)
        t["channel"] = ctx.channels[int(r() * 100)]
        if firm.platform:
            t["platform"] = firm.platform
        fill = ctx.fill.copy()
        fill["when"] = self._when_bank[int(r() * 64)]  # the bank of the ticket's day (set with the stamp)
        fill["product"] = product
        fill["amount"] = amount_txt
        fill["n"] = _NSTR[int(r() * 8)]
        if person < self._n_prof:
            return self._professional(t, firm, person, kind, fill)
        slots = ctx.banks.get(issue)
        if slots is None:
            slots = ctx.banks[issue] = [None] * 6
        slot = kind * 2 + (1 if amount_txt and kind != 1 else 0)  # reports quote no sum
        bank = slots[slot] or self._bank(firm, issue, kind, slot & 1 == 1, slots, slot)
        text, title, needs_order = bank[int(r() * _BANK)]
        if needs_order:
            fill["order"] = str(10**17 + int(r() * 9 * 10**17))
        t["title"] = title.format_map(fill)
        t["content"] = text.format_map(fill)
        return t

    def _professional(self, t: dict[str, Any], firm: _Firm, person: int, kind: int, fill: dict[str, str]) -> dict[str, Any]:
        """A professional claimant's ticket: the same template every time, food-law citations."""
        r = self.r
        if firm.sector not in ("食品", "保健品"):  # they buy food wherever it is sold
            fill["product"] = t["product_name"] = _PROF_PRODUCTS[(person + int(r() * 3)) % len(_PROF_PRODUCTS)]
        if not fill["amount"]:
            amount = float(round(20 + r() * 300))
            t["amount"] = amount
            fill["amount"] = _fmt_amount(amount)
        fill["finding"] = _PROF_FINDINGS[int(r() * len(_PROF_FINDINGS))]
        t["content"] = _PROF_TEMPLATES[person % len(_PROF_TEMPLATES)].format_map(fill)
        t["issue_category"] = "食品安全" if person % 2 else "虚假宣传"
        t["title"] = f"举报{firm.short}销售不合格商品" if kind == 1 else f"{fill['product']}标签问题"
        return t


def generate(cfg: SimConfig) -> tuple[Iterator[dict[str, Any]], list[Incident]]:
    """The tickets (an iterator, in time order) and the incident labels of one scenario."""
    sim = Simulation(cfg)
    return sim.tickets(), sim.incidents


def _bench() -> None:  # pragma: no cover - a measurement, run by hand
    import time

    cfg = SimConfig(seed=1)
    t0 = time.perf_counter()
    sim = Simulation(cfg)
    t1 = time.perf_counter()
    n = sum(1 for _ in sim.tickets())
    t2 = time.perf_counter()
    print(
        f"{n} tickets, {len(sim.incidents)} incidents: plan {t1 - t0:.2f} s, write {t2 - t1:.2f} s, "
        f"{n / (t2 - t0):,.0f} tickets/s overall ({n / (t2 - t1):,.0f}/s writing)"
    )


if __name__ == "__main__":  # pragma: no cover
    _bench()
