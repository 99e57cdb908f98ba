"""Receivers: how one notification (or a digest of several) reaches people or systems.

A notification is plain data (it is stored in the outbox as JSON)::

    {"id", "receiver", "group_key", "group_labels", "status": "firing" | "resolved",
     "alerts": [{"change": "new" | "update" | "escalated" | "repeat" | "resolved", "event": <alert v1>}],
     "keys": [idempotency keys], "created_at": unix seconds}

Each receiver renders it with a pure function (tested without a network) and sends it
with the standard library (``urllib``, ``smtplib``). ``send`` raises
:class:`DeliveryError`, ``temporary`` when a retry may succeed (no answer, HTTP 429 or
5xx, a robot's "too fast", SMTP 4xx) and not when it cannot (HTTP 4xx, a bad signature,
SMTP 5xx): the outbox retries the first and dead-letters the second.

Exceptions::

    DeliveryError
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from html import escape
from typing import Any, TextIO

from alerts.notify.labels import labels_of
from alerts.notify.routing import ReceiverSpec
from alerts.render import _SEVERITY_NAME, _TYPE_NAME  # the names the Chinese summaries use
from schemas.regions import district_name

Note = Mapping[str, Any]
ROBOT_RATE_PER_MINUTE = 20  # WeCom's and DingTalk's documented limit for one group robot
ROBOT_MAX_BYTES = 4000  # WeCom caps markdown at 4096 bytes; DingTalk's cap is larger
_CHANGE = {"new": "新预警", "update": "更新", "escalated": "升级", "repeat": "仍在持续", "resolved": "已解除"}


class DeliveryError(Exception):
    def __init__(self, message: str, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


# ---- rendering (pure) -------------------------------------------------------------------

def _type_name(t: str) -> str:
    return _TYPE_NAME.get(t, {"subscription_match": "订阅命中"}.get(t, t))


def _where(event: Mapping[str, Any]) -> str:
    code = event.get("district_code")
    return district_name(code) if code else "跨区"


def link(event: Mapping[str, Any], link_base: str) -> str:
    """The desk's page of the alert (for a subscription match: of the alert it matched; a ticket has none)."""
    if event.get("type") == "subscription_match":
        target = (event.get("match") or {}).get("alert_id")
        return f"{link_base}{target}" if link_base and target else ""
    return f"{link_base}{event['alert_id']}" if link_base else ""


def facts(change: str, event: Mapping[str, Any]) -> str:
    """The line under a headline: what changed, where, how many people (a subscription match:
    what it matched, where, which firm, the words).

    >>> facts("new", {"type": "subscription_match", "district_code": "310115", "top_terms": ["跑路"],
    ...               "match": {"source": "ticket", "ticket_id": "T1", "firm": "某健身"}})
    '订阅命中 · 工单T1 · 浦东新区 · 某健身 · 命中：跑路'
    """
    if event.get("type") == "subscription_match":
        m = event.get("match") or {}
        what = f"工单{m.get('ticket_id')}" if m.get("source") == "ticket" else "预警"
        firm = f" · {m['firm']}" if m.get("firm") else ""
        return f"订阅命中 · {what} · {_where(event)}{firm} · 命中：{'、'.join(event.get('top_terms') or ())}"
    # observed / expected: the judged window's figure and its baseline (people for a group
    # dispute; the episode's people are distinct_complainants), so no unit of their own here.
    return (f"{_CHANGE.get(change, change)} · {_where(event)} · {event.get('distinct_complainants', 0)}人 · "
            f"窗口内{event.get('observed', 0)}（通常约{event.get('expected', 0):g}）")


def headline(event: Mapping[str, Any]) -> str:
    """``【群体纠纷预警·严重】某健身·退费``"""
    sev = _SEVERITY_NAME.get(event["severity"], event["severity"])
    return f"【{_type_name(event['type'])}·{sev}】{event['subject']['label']}"


def robot_markdown(notes: Sequence[Note], link_base: str, max_bytes: int = ROBOT_MAX_BYTES) -> tuple[str, str]:
    """(title, markdown) for a WeCom or DingTalk group robot: one notification, or a digest.

    >>> ev = {"alert_id": "ew-1", "type": "group_dispute", "severity": "critical", "status": "open",
    ...       "subject": {"dimension": "firm", "key": "k", "label": "某健身"}, "district_code": "310115",
    ...       "distinct_complainants": 13, "observed": 14, "expected": 1.5, "summary": "摘要。"}
    >>> title, text = robot_markdown([{"alerts": [{"change": "new", "event": ev}]}], "https://desk/a/")
    >>> print(text)
    ### 【群体纠纷预警·严重】某健身
    > 新预警 · 浦东新区 · 13人 · 窗口内14（通常约1.5）
    <BLANKLINE>
    摘要。
    <BLANKLINE>
    [查看详情](https://desk/a/ew-1)
    """
    items = [a for n in notes for a in n["alerts"]]
    blocks = []
    for a in items:
        ev = a["event"]
        url = link(ev, link_base)
        blocks.append(
            f"### {headline(ev)}\n> {facts(a['change'], ev)}\n\n{ev.get('summary', '')}"
            + (f"\n\n[查看详情]({url})" if url else ""))
    if len(items) == 1:
        return headline(items[0]["event"]), blocks[0]
    title = (f"earlywarn 订阅命中汇总（{len(items)}条）" if all(a["event"].get("type") == "subscription_match" for a in items)
             else f"earlywarn 预警汇总（{len(items)}条）")
    text = f"## {title}\n" + "\n\n".join(blocks)
    if len(text.encode()) > max_bytes:  # too long for one robot message: one line each
        lines = [f"- {headline(a['event'])}（{_CHANGE.get(a['change'], a['change'])}，{_where(a['event'])}，"
                 f"{a['event'].get('distinct_complainants', 0)}人）" for a in items]
        text, shown = f"## {title}\n", 0
        for ln in lines:
            if len((text + ln + "\n").encode()) > max_bytes - 64:
                break
            text, shown = text + ln + "\n", shown + 1
        if shown < len(lines):
            text += f"- ……另有{len(lines) - shown}条，请到值班台查看"
    return title, text


def dingtalk_signed_url(url: str, secret: str, now_ms: int | None = None) -> str:
    """*url* with DingTalk's ``timestamp`` and ``sign`` (HMAC-SHA256 of "timestamp\\nsecret", base64).

    >>> dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=T", "SEC1", 1700000000000)
    'https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000&sign=ukR4%2BWoOOBTGaOauYqugxVrMSFyr92q4hPxJxuOkiio%3D'
    """
    ts = str(int(time.time() * 1000) if now_ms is None else now_ms)
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}"


def fingerprint(alert_id: str) -> str:
    return hashlib.sha256(alert_id.encode()).hexdigest()[:16]


def alertmanager_payload(note: Note, receiver: str, link_base: str) -> dict[str, Any]:
    """Alertmanager's webhook payload, version 4, for one notification."""
    alerts = []
    for a in note["alerts"]:
        ev = a["event"]
        labels = {k: v for k, v in labels_of(ev).items() if v and k != "status"}
        labels["alertname"] = ev["type"]
        resolved = ev["status"] == "resolved"
        annotations = {"summary": ev.get("summary", ""), "subject": ev["subject"]["label"],
                       "observed": str(ev.get("observed", "")), "expected": str(ev.get("expected", "")),
                       "score": str(ev.get("score", "")),
                       "distinct_complainants": str(ev.get("distinct_complainants", "")),
                       "top_terms": "、".join(ev.get("top_terms") or ()), "change": a["change"]}
        alerts.append({
            "status": "resolved" if resolved else "firing", "labels": labels, "annotations": annotations,
            "startsAt": ev.get("window_start", ""),
            "endsAt": ev.get("raised_at", "") if resolved else "0001-01-01T00:00:00Z",
            "generatorURL": link(ev, link_base), "fingerprint": fingerprint(ev["alert_id"]),
        })
    common = dict(alerts[0]["labels"]) if alerts else {}
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    return {"version": "4", "groupKey": note["group_key"], "truncatedAlerts": 0, "status": note["status"],
            "receiver": receiver, "groupLabels": dict(note.get("group_labels") or {}), "commonLabels": common,
            "commonAnnotations": {}, "externalURL": link_base, "alerts": alerts}


def webhook_payload(note: Note, receiver: str) -> dict[str, Any]:
    """earlywarn's own JSON: the notification with the full alert events."""
    return {"version": "1", "notification_id": note["id"], "receiver": receiver, "group_key": note["group_key"],
            "group_labels": dict(note.get("group_labels") or {}), "status": note["status"],
            "alerts": [{"change": a["change"], **a["event"]} for a in note["alerts"]]}


def email_message(notes: Sequence[Note], sender: str, to: Sequence[str], link_base: str) -> EmailMessage:
    """A text and HTML message for one notification (or a digest)."""
    items = [a for n in notes for a in n["alerts"]]
    first = items[0]["event"]
    more = f"（另有{len(items) - 1}条）" if len(items) > 1 else ""
    msg = EmailMessage()
    msg["Subject"] = f"[earlywarn] {headline(first)}{more}"
    msg["From"], msg["To"] = sender, ", ".join(to)
    msg["X-Earlywarn-Notification"] = ",".join(n["id"] for n in notes)
    text, html = [], []
    for a in items:
        ev, url = a["event"], link(a["event"], link_base)
        line = facts(a["change"], ev)
        text.append(f"{headline(ev)}\n{line}\n{ev.get('summary', '')}" + (f"\n{url}" if url else ""))
        html.append(f"<h3>{escape(headline(ev))}</h3><p><b>{escape(line)}</b></p><p>{escape(ev.get('summary', ''))}</p>"
                    + (f'<p><a href="{escape(url)}">查看详情</a></p>' if url else ""))
    msg.set_content("\n\n".join(text))
    msg.add_alternative("<html><body>" + "<hr>".join(html) + "</body></html>", subtype="html")
    return msg


# ---- sending ----------------------------------------------------------------------------

def post_json(url: str, body: Mapping[str, Any], timeout: float, headers: Mapping[str, str] | None = None) -> bytes:
    """POST *body* as JSON; the answer's body, or DeliveryError (temporary for 429, 5xx, no answer)."""
    req = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode(), method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {_host(url)}", exc.code == 429 or exc.code >= 500) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"no answer from {_host(url)}: {reason}", True) from None


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc  # never the query: robots' tokens live there


class Receiver:
    """One configured receiver. ``rate_per_minute`` set: the outbox folds into digests beyond it."""

    kind = "console"
    rate_per_minute: int | None = None

    def __init__(self, spec: ReceiverSpec, link_base: str = "", timeout: float = 10.0) -> None:
        self.name = spec.name
        self.options = spec.options
        self.link_base = link_base
        self.timeout = float(spec.options.get("timeout", timeout))

    def send(self, notes: Sequence[Note]) -> None:
        raise NotImplementedError


class ConsoleReceiver(Receiver):
    kind = "console"

    def __init__(self, spec: ReceiverSpec, link_base: str = "", timeout: float = 10.0,
                 out: TextIO | None = None) -> None:
        super().__init__(spec, link_base, timeout)
        self.out = out

    def send(self, notes: Sequence[Note]) -> None:
        out = self.out or sys.stdout
        for n in notes:
            for a in n["alerts"]:
                ev = a["event"]
                if ev.get("type") == "subscription_match":
                    out.write(f"[{self.name}] {headline(ev)} {facts(a['change'], ev)}\n")
                else:
                    out.write(f"[{self.name}] {_CHANGE.get(a['change'], a['change'])} {headline(ev)} "
                              f"{_where(ev)} {ev.get('distinct_complainants', 0)}人 {ev['alert_id']}\n")
        out.flush()


class WebhookReceiver(Receiver):
    kind = "webhook"

    def send(self, notes: Sequence[Note]) -> None:
        for n in notes:
            post_json(self.options["url"], webhook_payload(n, self.name), self.timeout,
                      {**dict(self.options.get("headers") or {}), "Idempotency-Key": n["id"]})


class AlertmanagerReceiver(Receiver):
    kind = "alertmanager"

    def send(self, notes: Sequence[Note]) -> None:
        for n in notes:
            post_json(self.options["url"], alertmanager_payload(n, self.name, self.link_base), self.timeout,
                      {**dict(self.options.get("headers") or {}), "Idempotency-Key": n["id"]})


class _Robot(Receiver):
    # errcodes that mean "slow down" (WeCom 45009, DingTalk 130101) are worth a retry.
    _TOO_FAST: frozenset[int] = frozenset({45009, 130101})

    def __init__(self, spec: ReceiverSpec, link_base: str = "", timeout: float = 10.0) -> None:
        super().__init__(spec, link_base, timeout)
        self.rate_per_minute = int(spec.options.get("rate_per_minute", ROBOT_RATE_PER_MINUTE))

    def _body(self, title: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def _url(self) -> str:
        return str(self.options["url"])

    def send(self, notes: Sequence[Note]) -> None:
        title, text = robot_markdown(notes, self.link_base)
        answer = post_json(self._url(), self._body(title, text), self.timeout)
        try:
            code = int(json.loads(answer or b"{}").get("errcode", 0))
        except (ValueError, AttributeError):
            code = 0
        if code:
            raise DeliveryError(f"{self.kind} robot answered errcode {code}", code in self._TOO_FAST)


class WeComReceiver(_Robot):
    kind = "wecom"

    def _body(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}


class DingTalkReceiver(_Robot):
    kind = "dingtalk"

    def _body(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}

    def _url(self) -> str:
        secret = self.options.get("secret")
        return dingtalk_signed_url(self.options["url"], str(secret)) if secret else str(self.options["url"])


class EmailReceiver(Receiver):
    kind = "email"

    def send(self, notes: Sequence[Note]) -> None:
        o = self.options
        to = [o["to"]] if isinstance(o["to"], str) else [str(t) for t in o["to"]]
        msg = email_message(notes, str(o["from"]), to, self.link_base)
        port = int(o.get("port", 465 if o.get("ssl") else 25))
        smtp_class = smtplib.SMTP_SSL if o.get("ssl") else smtplib.SMTP
        try:
            with smtp_class(str(o["host"]), port, timeout=self.timeout) as smtp:
                if o.get("starttls"):
                    smtp.starttls()
                if o.get("username"):
                    smtp.login(str(o["username"]), str(o.get("password", "")))
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code} from {o['host']}", exc.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            raise DeliveryError(f"SMTP refused the recipients {codes}", all(c < 500 for c in codes)) from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            raise DeliveryError(f"SMTP {o['host']}:{port}: {exc}", True) from None


KINDS: dict[str, Callable[..., Receiver]] = {
    "console": ConsoleReceiver, "webhook": WebhookReceiver, "alertmanager": AlertmanagerReceiver,
    "wecom": WeComReceiver, "dingtalk": DingTalkReceiver, "email": EmailReceiver,
}


def build(spec: ReceiverSpec, link_base: str = "", timeout: float = 10.0) -> Receiver:
    return KINDS[spec.kind](spec, link_base, timeout)
