"""Writing tickets: the contract-v1 dicts, from a planned (time, kind, firm, person) or an incident's parts.

:class:`_Writer` fills in everything a ticket says: stamps, the caller's id, phone and name
(a pure function of the person), firm fields (now and then malformed), channel, and the
narrative, drawn from the fragment pools of :mod:`earlywarn.simulate.vocab`.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from earlywarn.simulate.draws import _anonymous, _cum
from earlywarn.simulate.population import _Firm, _malformed
from earlywarn.simulate.rhythm import _DAY, _KINDS
from earlywarn.simulate.state import _ScenarioState
from earlywarn.simulate.vocab import (
    _ANSWERS,
    _CALLERS,
    _CHANNELS,
    _CLOSINGS,
    _CONSULT_TAILS,
    _CONTACTS,
    _CONTEXTS,
    _DEMANDS,
    _DETAILS_OFFLINE,
    _DETAILS_ONLINE,
    _EVIDENCE,
    _GENERAL_NOTES,
    _GENERAL_TAILS,
    _GIVEN,
    _PERIOD,
    _PLATFORM_CHANNELS,
    _PLATFORM_CONTEXTS,
    _PROBLEMS,
    _PROF_FINDINGS,
    _PROF_PRODUCTS,
    _PROF_TEMPLATES,
    _REMARKS,
    _REPORT_NOTES,
    _ROADS,
    _SECTOR_PROBLEMS,
    _SERVICE_PROBLEMS,
    _SERVICE_SECTORS,
    _SURNAMES,
    _TOPICS,
    _VIOLATIONS,
    SECTORS,
    Sector,
)
from schemas.regions import SHANGHAI_DISTRICTS


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

    def __init__(self, sim: _ScenarioState, rng: random.Random) -> None:
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
