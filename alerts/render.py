"""Decisions -> alert contract v1: the fields, and the one-paragraph Chinese summary.

The summary is written for a duty officer who will not open the raw tickets: who is
affected, how many people, against what was expected, over which hours, the main demand
and words, the money at stake, and what to do next. Every count it states is an alert
field: people in the window (``distinct_complainants``, which is ``observed``) against
``expected`` people; a resolved event's peak (``observed``) and everyone in the episode
(``distinct_complainants``) over the episode's span.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from detectors.decisions import (
    ABNORMAL_COMPLAINANT,
    CONCENTRATED_DEMAND,
    DISTRICT,
    FIRM,
    FIRM_ISSUE,
    GROUP_DISPUTE,
    RESOLVED,
    TERM_SURGE,
    UPDATE,
    Decision,
)
from schemas.alerts import SHANGHAI, AlertType, rfc3339
from schemas.regions import district_name

_TYPE_NAME = {
    GROUP_DISPUTE: "群体纠纷预警",
    CONCENTRATED_DEMAND: "集中诉求预警",
    TERM_SURGE: "热词突增提示",
    ABNORMAL_COMPLAINANT: "异常投诉举报人提示",
    AlertType.ABNORMAL_FIRM: "异常涉诉企业提示",
}
_SEVERITY_NAME = {"info": "一般", "warning": "较重", "critical": "严重"}


def _local(ts: float) -> str:
    t = datetime.fromtimestamp(ts, SHANGHAI)
    return f"{t.month}月{t.day}日{t.hour:02d}:{t.minute:02d}"


def _span(d: Decision) -> str:
    hours = (d.window_end - d.window_start) / 3600
    length = f"{hours:g}小时" if hours < 48 else f"{hours / 24:g}天"
    return f"{_local(d.window_start)}至{_local(d.window_end)}（{length}）"


def _money(amount: float) -> str:
    if amount >= 10_000:
        return f"约{amount / 10_000:.1f}万元"
    return f"约{amount:.0f}元"


def summary(d: Decision) -> str:
    """One paragraph in Chinese that says what happened and what to do."""
    where = f"（{district_name(d.district_code)}）" if d.district_code else ""
    terms = "、".join(d.top_terms[:5]) or "无"
    severity = _SEVERITY_NAME.get(d.severity, d.severity)
    head = f"【{_TYPE_NAME.get(d.type, d.type)}·{severity}】"
    if d.type == ABNORMAL_COMPLAINANT:
        return _complainant_summary(d, head)
    if d.type == AlertType.ABNORMAL_FIRM:
        return _firm_summary(d, head, where)
    if d.status == RESOLVED:
        return (
            f"{head}“{d.label}”{where}在{_span(d)}的预警期间高峰时{d.observed}名消费者、"
            f"累计{d.distinct_complainants}名消费者反映问题；自{_local(d.window_end)}起已连续24小时未见异常，"
            f"本次预警自动解除。请在处置记录中登记结果。"
        )
    grew = "预警升级：" if d.status == UPDATE else ""
    money = f"，涉及金额{_money(d.amount)}" if d.amount > 0 else ""
    issue = f"主要诉求为“{d.top_issue}”，" if d.top_issue else ""
    if d.type == GROUP_DISPUTE:
        return (
            f"{head}{grew}“{d.label}”{where}在{_span(d)}内有{d.distinct_complainants}名消费者"
            f"反映问题，而该主体同期通常约{d.expected:g}名{money}。"
            f"{issue}高频词：{terms}。疑似群体纠纷苗头，建议属地市场监管所当日核实经营状况、"
            f"联系经营者负责人并视情生成现场检查任务，做好消费者解释和引导。"
        )
    if d.type == CONCENTRATED_DEMAND and d.dimension == DISTRICT:
        return (
            f"{head}{grew}{d.label}在{_span(d)}内有{d.distinct_complainants}名消费者投诉举报，涉及{d.firms}家经营主体，"
            f"该区同期通常约{d.expected:g}名{money}。{issue}高频词：{terms}。属区域性诉求集中上升、并非单一经营者所致，"
            f"建议该区市场监管局研判共性原因（突发事件、商圈或行业性问题），必要时统筹属地市场监管所排查并发布消费提示。"
        )
    if d.type == CONCENTRATED_DEMAND:
        return (
            f"{head}{grew}“{d.label}”相关诉求在{_span(d)}内涉及{d.firms}家经营主体、"
            f"{d.distinct_complainants}名消费者{where}，同期通常约{d.expected:g}名{money}。"
            f"{issue}高频词：{terms}。属跨主体集中诉求，建议相关业务处室研判共性原因"
            f"（产品缺陷、行业做法或平台规则），必要时统一部署排查并发布消费提示。"
        )
    return (
        f"{head}{grew}热词“{d.label}”在{_span(d)}内出现于{d.distinct_complainants}名消费者的诉求中，"
        f"同期通常约{d.expected:g}名{where}。相关词：{terms}。请关注舆情走向并跟踪是否形成集中诉求。"
    )


def firms_of(d: Decision) -> int:
    """Distinct firms behind a decision: a firm's own alert is about one firm (its buckets
    count no firms of their own), anything else counts the firms its tickets named."""
    return max(d.firms, 1) if d.dimension in (FIRM, FIRM_ISSUE) else d.firms


def _complainant_summary(d: Decision, head: str) -> str:
    # People by keyed pseudonym only (化名): never a name, phone or platform id.
    members = "、".join(d.members or (d.key,))
    who = (f"疑似职业索赔团伙（{len(d.members)}人，化名：{members}）" if len(d.members) > 1
           else f"投诉举报人（化名：{members}）")
    if d.status == RESOLVED:
        return (f"{head}{who}的异常名录标记已到期或已被解除，自{_local(d.window_end)}起不再从群体纠纷人数中剔除。"
                f"本次提示结束。")
    grew = "提示更新：" if d.status == UPDATE else ""
    reasons = "、".join(d.top_terms) or "多项异常"
    return (
        f"{head}{grew}{who}在{_local(d.window_start)}至{_local(d.window_end)}期间提出{d.observed}件投诉举报，"
        f"涉及{d.firms}家经营主体，触发：{reasons}。已列入投诉举报异常名录观察：其诉求照常登记办理、计入总量，"
        f"但不计入群体纠纷人数和证据。请核实后确认；如属正常消费者，可解除标记"
        f"（earlywarn complainant clear {d.key} --who 姓名 --why 理由），解除后重新研判。"
    )


def _firm_summary(d: Decision, head: str, where: str) -> str:
    # What departs and by how much is in the top terms (detectors.firm_stage.departure).
    if d.status == RESOLVED:
        return (f"{head}“{d.label}”{where}自{_local(d.window_end)}起连续多日未见持续异常，本次提示解除。"
                f"请在处置记录中登记约谈、指导或检查结果。")
    grew = "提示更新：" if d.status == UPDATE else ""
    money = f"，涉及金额{_money(d.amount)}" if d.amount > 0 else ""
    issue = f"主要问题为“{d.top_issue}”。" if d.top_issue else ""
    return (
        f"{head}{grew}“{d.label}”{where}在{_span(d)}内被{d.distinct_complainants}名消费者投诉举报{d.observed}件"
        f"{money}，按其自身以往（已计同类行业同期变化）通常约{d.expected:g}件。持续数周偏离："
        f"{'；'.join(d.top_terms) or '多项指标'}。{issue}属持续性异常而非单日突发，建议属地市场监管所约谈经营者、"
        f"开展行政指导，必要时列为重点监管对象并生成现场检查任务。"
    )


def render(d: Decision) -> dict[str, Any]:
    """The alert-contract-v1 object for a decision, with v1's optional ``amount_total``,
    ``firms`` and ``top_issue`` (left out when no ticket named an issue)."""
    return {
        "alert_id": d.alert_id,
        "schema_version": "1",
        "type": d.type,
        "status": d.status,
        "severity": d.severity,
        "subject": {"dimension": d.dimension, "key": d.key, "label": d.label},
        "district_code": d.district_code,
        "window_start": rfc3339(d.window_start),
        "window_end": rfc3339(d.window_end),
        "raised_at": rfc3339(d.raised_at),
        "observed": d.observed,
        "expected": d.expected,
        "score": d.score,
        "distinct_complainants": d.distinct_complainants,
        "ticket_ids": list(d.ticket_ids),
        "top_terms": list(d.top_terms),
        "summary": summary(d),
        # Rounded to the fen: a sum of floats folded in another order (batches, workers)
        # may differ in its last bits, and the stream and ``detect`` must agree byte for byte.
        "amount_total": round(d.amount, 2),
        "firms": firms_of(d),
        **({"top_issue": d.top_issue} if d.top_issue is not None else {}),
    }
