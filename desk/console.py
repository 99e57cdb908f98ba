"""The staff console (Chinese): server-rendered pages over the same desk actions as the API.

Pages: the login, the alert list (filters, paging, live rows over server-sent events),
an alert's page (summary, observed vs expected chart, timeline, people and firms, top
terms, evidence tickets (masked), what staff did, inspection results, similar cases, the
action forms), a ticket's page (masked, with similar past tickets) and the silences. Every form
that writes carries the session's CSRF token; a write answers with a redirect back
(post/redirect/get) carrying a short message.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from desk.actions import VERDICTS, Refused
from desk.auth import ROLE_NAMES, User
from desk.routers.alerts import query_of
from desk.store import epoch
from desk.web import COOKIE, context, identify, require
from schemas.inspection_results import OUTCOMES
from schemas.regions import SHANGHAI_DISTRICTS, district_name

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
LOGIN_COOKIE = "ewdesk_login"

TYPE_NAMES = {"group_dispute": "群体纠纷", "concentrated_demand": "集中诉求", "abnormal_complainant": "异常投诉人",
              "abnormal_firm": "异常经营者", "term_surge": "热词突增", "subscription_match": "订阅命中"}
SEVERITY_NAMES = {"info": "一般", "warning": "较重", "critical": "严重"}
KIND_NAMES = {"complaint": "投诉", "report": "举报", "consultation": "咨询"}
STATUS_NAMES = {"open": "新预警", "update": "升级/更新", "resolved": "已解除"}
DIMENSION_NAMES = {"firm": "经营者", "firm_issue": "经营者·问题", "product": "产品", "issue": "问题类别",
                   "term": "词语", "platform_term": "平台·做法", "district": "区", "complainant": "投诉人（化名）"}
SAME_NAMES = {"firm": "同一经营者", "product": "同一产品", "issue": "同一问题"}
ACTION_NAMES = {"ack": "确认", "assignment": "指派", "verdict": "研判", "comment": "备注", "inspection_task": "生成检查任务",
                "silence": "静默", "silence_expire": "解除静默", "clear_flag": "解除异常名录标记"}


def local(ts: float | str | None) -> str:
    if ts is None or ts == "":
        return ""
    t = time.gmtime((epoch(ts) if isinstance(ts, str) else float(ts)) + 8 * 3600)
    return f"{t.tm_year}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}"


templates.env.globals.update(TYPE_NAMES=TYPE_NAMES, KIND_NAMES=KIND_NAMES, SAME_NAMES=SAME_NAMES, SEVERITY_NAMES=SEVERITY_NAMES, STATUS_NAMES=STATUS_NAMES,
                             DIMENSION_NAMES=DIMENSION_NAMES, ACTION_NAMES=ACTION_NAMES, ROLE_NAMES=ROLE_NAMES,
                             VERDICTS=VERDICTS, OUTCOMES=OUTCOMES, DISTRICTS=SHANGHAI_DISTRICTS, district_name=district_name)
templates.env.filters["local"] = local


def chart(timeline: list[dict[str, Any]], width: int = 560, height: int = 160) -> dict[str, Any]:
    """Observed (bars) against expected (a line) for each event of the timeline, as SVG geometry."""
    points = [e for e in timeline if e.get("status") != "resolved"] or timeline
    top = max([1.0] + [float(e["observed"]) for e in points] + [float(e["expected"]) for e in points]) * 1.15
    n = max(1, len(points))
    slot = (width - 40) / n
    bars, line = [], []
    for i, e in enumerate(points):
        x = 30 + i * slot
        h = (height - 30) * float(e["observed"]) / top
        ey = height - 20 - (height - 30) * float(e["expected"]) / top
        bars.append({"x": round(x + slot * 0.2, 1), "y": round(height - 20 - h, 1), "w": round(slot * 0.6, 1),
                     "h": round(h, 1), "observed": e["observed"], "expected": e["expected"],
                     "label": local(e["raised_at"])[5:], "cx": round(x + slot / 2, 1)})
        line.append(f"{x + slot / 2:.1f},{ey:.1f}")
    return {"width": width, "height": height, "bars": bars, "line": " ".join(line), "top": round(top / 1.15, 1),
            "base": height - 20}


def page(request: Request, name: str, **values: Any) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    return templates.TemplateResponse(request, name, {
        "user": getattr(request.state, "user", None), "csrf": session.csrf if session else "",
        "msg": request.query_params.get("msg", ""), "err": request.query_params.get("err", ""), **values})


def back(path: str, msg: str = "", err: str = "") -> RedirectResponse:
    query = urlencode({k: v for k, v in (("msg", msg), ("err", err)) if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


# ---- login ---------------------------------------------------------------------------------

@router.get("/login")
def login_page(request: Request) -> Response:
    if identify(request):
        return RedirectResponse("/", status_code=303)
    nonce = secrets.token_urlsafe(16)
    response = page(request, "login.html", nonce=nonce)
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict",
                        secure=context(request).settings.secure_cookies, max_age=3600)
    return response


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
          nonce: Annotated[str, Form()] = "") -> Response:
    ctx = context(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, nonce):  # login CSRF: double-submit nonce
        r = page(request, "login.html", nonce=expected, error="页面已过期，请刷新后重新登录")
        r.status_code = 403
        return r
    address = request.client.host if request.client else "-"
    if ctx.auth.login_blocked(username, address):
        ctx.metrics.logins.labels("throttled").inc()
        r = page(request, "login.html", nonce=expected, error="登录失败次数过多，请稍后再试")
        r.status_code = 429
        return r
    user = ctx.auth.check_password(username, password)
    if user is None:
        ctx.auth.login_failed(username, address)
        ctx.metrics.logins.labels("bad").inc()
        r = page(request, "login.html", nonce=expected, error="用户名或密码错误")
        r.status_code = 401
        return r
    ctx.auth.login_succeeded(username)
    ctx.metrics.logins.labels("ok").inc()
    _, cookie = ctx.auth.start_session(user)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=ctx.settings.secure_cookies,
                        max_age=int(ctx.settings.session_minutes * 60))
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, user: Annotated[User, Depends(require("viewer"))]) -> Response:
    context(request).auth.end_session(request.state.session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


# ---- pages ---------------------------------------------------------------------------------

@router.get("/")
def alert_list(request: Request, user: Annotated[User, Depends(require("viewer"))],
               type: str = "", severity: str = "", status: str = "", district: str = "",  # noqa: A002
               q: str = "", subject: str = "", since: str = "", until: str = "", offset: int = 0) -> Response:
    ctx = context(request)
    size = ctx.settings.page_size

    def day(text: str, end: bool) -> str | None:
        return f"{text}T{'23:59:59' if end else '00:00:00'}+08:00" if text else None

    try:
        query = query_of(user, [type] if type else None, [severity] if severity else None,
                         [status] if status else None, [district] if district else None, None,
                         day(since, False), day(until, True), q, subject)
    except Exception:  # noqa: BLE001 - a bad date in the form: show everything, say so
        query, request.state.bad_filter = query_of(user), True
    found = ctx.store.query(query, max(0, offset), size)
    filters = {"type": type, "severity": severity, "status": status, "district": district, "q": q,
               "subject": subject, "since": since, "until": until}
    acks = ctx.desk.silences.acks([a["alert_id"] for a in found.items])
    return page(request, "list.html", page_=found, filters=filters, offset=offset, size=size, acks=acks,
                qs=lambda **kw: urlencode({**{k: v for k, v in filters.items() if v}, **kw}))


@router.get("/alerts/{alert_id}")
def alert_page(alert_id: str, request: Request, user: Annotated[User, Depends(require("viewer"))]) -> Response:
    try:
        detail = context(request).desk.detail(user, alert_id)
    except Refused as exc:
        r = page(request, "error.html", error=str(exc))
        r.status_code = exc.status
        return r
    a = detail["alert"]
    firm = {"key": a["subject"]["key"].rpartition("|")[0] or a["subject"]["key"],
            "label": a["subject"]["label"].split("·")[0]} if a["subject"]["dimension"] in {"firm", "firm_issue"} else None
    similar = context(request).similar.for_alert(user, alert_id, 5)
    return page(request, "alert.html", d=detail, a=a, chart=chart(detail["timeline"]), firm=firm, similar=similar)


@router.get("/tickets/{ticket_id}")
def ticket_page(ticket_id: str, request: Request, user: Annotated[User, Depends(require("viewer"))]) -> Response:
    cases = context(request).similar
    try:
        t = cases.ticket(user, ticket_id)
    except Refused as exc:
        r = page(request, "error.html", error=str(exc))
        r.status_code = exc.status
        return r
    return page(request, "ticket.html", t=t, similar=cases.for_ticket(user, ticket_id, 8))


@router.get("/silences")
def silences_page(request: Request, user: Annotated[User, Depends(require("viewer"))]) -> Response:
    return page(request, "silences.html", silences=context(request).desk.silences_for(user))


# ---- forms ---------------------------------------------------------------------------------

Officer = Annotated[User, Depends(require("officer"))]


def _act(request: Request, path: str, action: str, done: str, do: Any) -> RedirectResponse:
    try:
        do()
    except Refused as exc:
        return back(path, err=str(exc))
    context(request).metrics.actions.labels(action).inc()
    return back(path, msg=done)


@router.post("/alerts/{alert_id}/ack")
def ack_form(alert_id: str, request: Request, user: Officer, reason: Annotated[str, Form()] = "") -> Response:
    return _act(request, f"/alerts/{alert_id}", "ack", "已确认：在升级前不再重复推送",
                lambda: context(request).desk.acknowledge(user, alert_id, reason))


@router.post("/alerts/{alert_id}/assign")
def assign_form(alert_id: str, request: Request, user: Officer, assignee: Annotated[str, Form()] = "",
                note: Annotated[str, Form()] = "") -> Response:
    return _act(request, f"/alerts/{alert_id}", "assign", "已指派",
                lambda: context(request).desk.assign(user, alert_id, assignee, note))


@router.post("/alerts/{alert_id}/comment")
def comment_form(alert_id: str, request: Request, user: Officer, text: Annotated[str, Form()] = "") -> Response:
    return _act(request, f"/alerts/{alert_id}", "comment", "备注已保存",
                lambda: context(request).desk.comment(user, alert_id, text))


@router.post("/alerts/{alert_id}/verdict")
def verdict_form(alert_id: str, request: Request, user: Officer, verdict: Annotated[str, Form()] = "",
                 reason: Annotated[str, Form()] = "", duplicate_of: Annotated[str, Form()] = "") -> Response:
    return _act(request, f"/alerts/{alert_id}", "verdict", "研判结论已保存",
                lambda: context(request).desk.judge(user, alert_id, verdict, reason, duplicate_of))


@router.post("/alerts/{alert_id}/complainants/{person}/clear")
def clear_flag_form(alert_id: str, person: str, request: Request, user: Officer,
                    reason: Annotated[str, Form()] = "") -> Response:
    return _act(request, f"/alerts/{alert_id}", "clear_flag", "已解除标记：该投诉举报人将按新的诉求重新研判",
                lambda: context(request).desk.clear_flag(user, alert_id, person, reason))


@router.post("/alerts/{alert_id}/task")
def task_form(alert_id: str, request: Request, user: Officer, note: Annotated[str, Form()] = "") -> Response:
    return _act(request, f"/alerts/{alert_id}", "inspection_task", "现场检查任务已生成并推送",
                lambda: context(request).desk.create_task(user, alert_id, note))


@router.post("/alerts/{alert_id}/silence")
def silence_form(alert_id: str, request: Request, user: Officer, matchers: Annotated[str, Form()] = "",
                 hours: Annotated[float, Form()] = 4.0, reason: Annotated[str, Form()] = "") -> Response:
    return _act(request, f"/alerts/{alert_id}", "silence", "静默已生效",
                lambda: context(request).desk.silence(user, matchers.splitlines(), hours * 60, reason, alert_id))


@router.post("/silences/{silence_id}/expire")
def expire_form(silence_id: str, request: Request, user: Officer) -> Response:
    return _act(request, "/silences", "silence_expire", "静默已解除",
                lambda: context(request).desk.expire_silence(user, silence_id))
