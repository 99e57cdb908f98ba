"""Volumes, rhythm and calendar: how many tickets of which kind arrive when, and where.

The kind shares, the hourly and weekly intake rhythm, the districts' weights and the
calendar of special days (holidays, shopping festivals, 3·15, occasions). The tables come
from ``data/calendar.json``; the rules that turn them into :class:`CalendarDay` entries (a
holiday's volume, which sectors it lifts) are here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, timezone

from earlywarn.simulate.datafiles import load
from schemas.regions import SHANGHAI_DISTRICTS

_TABLES = load("calendar")
_TZ = timezone(timedelta(hours=8))
_DAY = 86400
_HOUR = 3600

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
HOURLY_PROFILE: tuple[float, ...] = _TABLES["hourly_profile"]
_HOUR_MAX = max(HOURLY_PROFILE)
# Monday..Sunday; a statutory holiday takes its CalendarDay.volume instead.
WEEKDAY_VOLUME: tuple[float, ...] = _TABLES["weekday_volume"]

# Population 2020 census (万): where firms are registered and callers live.
_DISTRICT_WEIGHTS: dict[str, float] = _TABLES["district_weights"]
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
    for first, last, name in _TABLES["holidays"]:
        # Spring Festival: the city empties, but 年夜饭 and travel complaints rise.
        volume = 0.55 if name == "春节" else 0.62
        days += [CalendarDay(d, name, "holiday", volume, holiday_mix) for d in _span(first, last)]
    for day, name, mult in _TABLES["shopping_festivals"]:
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
    days += [CalendarDay(date.fromisoformat(d), name, "occasion") for d, name in _TABLES["occasions"]]
    return tuple(sorted(days, key=lambda c: (c.day, c.kind, c.name)))


#: Every day the simulator treats specially (2025–2026). Several entries may share a day.
CALENDAR: tuple[CalendarDay, ...] = _build_calendar()
_CALENDAR_BY_DAY: dict[date, list[CalendarDay]] = {}
for _c in CALENDAR:
    _CALENDAR_BY_DAY.setdefault(_c.day, []).append(_c)
