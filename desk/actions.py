"""What staff do to an alert: acknowledge, assign, comment, judge, silence, send inspectors, clear a flag.

The one place the desk writes. Every method takes the acting :class:`~desk.auth.User`,
refuses alerts outside their districts, validates its input, writes, and records the
write in the audit log (before and after). Role checks are the routers' (a dependency on
every write route); district checks are here because they depend on the alert.

Storage: acknowledgements and silences are notify's own (:class:`Silences` under
notify's prefix), so notify honours what the desk sets. The desk's own per-alert state is
``P:state:<id>`` (hash: ``assignment``, ``verdict`` as JSON; verdicts indexed in ``P:verdicts``, see
:mod:`desk.feedback`), ``P:comments:<id>`` (list)
and ``P:tasks:<id>`` (hash task_id -> the task as published, who asked, when). Abnormal-complainant
flags are the engine's (:class:`alerts.complainants.FlagStore`, its own prefix): clearing one
from an ``abnormal_complainant`` alert is the command line's ``earlywarn complainant clear``,
with the desk user as who.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Protocol

import orjson
import redis

from alerts.complainants import FlagStore
from alerts.inspection import task_on_request
from alerts.notify.labels import parse_matcher
from alerts.notify.silences import Silence, Silences
from desk import feedback
from desk.audit import Audit
from desk.auth import User
from desk.results import Results
from desk.store import AlertStore
from desk.tickets import TicketStore

VERDICTS = {"true": "属实", "false": "误报", "duplicate": "重复"}
PSEUDONYM = re.compile(r"p_[0-9a-f]{16}")  # how alerts name people (schemas.normalise.pseudonym)
MAX_SILENCE_MINUTES = 30 * 24 * 60


class Refused(Exception):
    """An action that cannot be done; ``status`` is the HTTP status that says why."""

    status = 400


class NotFound(Refused):
    status = 404


class Forbidden(Refused):
    status = 403


class Invalid(Refused):
    status = 422


class Publisher(Protocol):
    def publish(self, task: dict[str, Any]) -> None: ...


class KafkaTaskPublisher:
    """Inspection tasks (contract v1) to their topic, key = task_id; waits for the broker's ack."""

    def __init__(self, broker: str, topic: str, timeout: float = 15.0) -> None:
        self.broker, self.topic, self.timeout = broker, topic, timeout
        self._producer: Any = None

    def publish(self, task: dict[str, Any]) -> None:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(bootstrap_servers=self.broker, client_id="earlywarn-desk", acks="all")
        self._producer.send(self.topic, key=task["task_id"].encode(), value=orjson.dumps(task)).get(self.timeout)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)


def _text(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(f"请填写{what}")
    if len(value) > limit:
        raise Invalid(f"{what}过长（最多{limit}字）")
    return value


class Desk:
    def __init__(self, store: AlertStore, silences: Silences, audit: Audit, publisher: Publisher,
                 tickets: TicketStore | None = None, flags: FlagStore | None = None) -> None:
        self.store = store
        self.flags = flags or FlagStore(store.r)
        self.silences = silences
        self.audit = audit
        self.publisher = publisher
        self.r = store.r
        self.results = Results(store.r, store.p)
        self.tickets = tickets or TicketStore(store.r, store.p)

    def key(self, *parts: str) -> str:
        return self.store.key(*parts)

    # ---- reading -------------------------------------------------------------------------

    def alert_for(self, user: User, alert_id: str) -> dict[str, Any]:
        alert = self.store.get(alert_id)
        if alert is None:
            raise NotFound(f"没有预警 {alert_id}")
        if not user.sees(alert.get("district_code")):
            raise Forbidden("该预警不在您的辖区")
        return alert

    def state(self, alert_id: str) -> dict[str, Any]:
        raw = self.r.hgetall(self.key("state", alert_id))
        return {k.decode(): orjson.loads(v) for k, v in raw.items()}

    def detail(self, user: User, alert_id: str) -> dict[str, Any]:
        alert = self.alert_for(user, alert_id)
        ack = self.silences.acks([alert_id]).get(alert_id)
        state = self.state(alert_id)
        return {
            "alert": alert,
            "timeline": self.store.timeline(alert_id),
            "ack": asdict(ack) if ack else None,
            "assignment": state.get("assignment"),
            "verdict": state.get("verdict"),
            "comments": [orjson.loads(c) for c in self.r.lrange(self.key("comments", alert_id), 0, -1)],
            "tasks": self.tasks(user, alert_id),
            "results": self.results.of_alert(alert_id),
            "evidence": self.evidence(alert),
            "activity": self.audit.of_alert(alert_id),
            "complainants": self.complainants(alert),
        }

    def complainants(self, alert: dict[str, Any]) -> list[dict[str, Any]]:
        """An abnormal-complainant alert's people (a ring names every member), each with the
        flag the engine holds on them and staff's clearing, if any; [] for other alerts."""
        if alert.get("type") != "abnormal_complainant":
            return []
        cleared = self.flags.clearings()
        return [{"person": p, "flag": self.flags.flag(p), "clearing": cleared.get(p)} for p in named(alert)]

    def evidence(self, alert: dict[str, Any]) -> list[dict[str, Any]]:
        """The alert's evidence tickets, masked (``desk.tickets``); ``{"ticket_id": …}`` alone where none is kept."""
        ids = list(alert.get("ticket_ids") or ())
        return [rec or {"ticket_id": t} for t, rec in zip(ids, self.tickets.many(ids), strict=True)]

    def tasks(self, user: User, alert_id: str) -> list[dict[str, Any]]:
        self.alert_for(user, alert_id)
        return sorted((orjson.loads(v) for v in self.r.hvals(self.key("tasks", alert_id))), key=lambda t: t["at"])

    # ---- acting on one alert -------------------------------------------------------------

    def acknowledge(self, user: User, alert_id: str, reason: str) -> dict[str, Any]:
        alert = self.alert_for(user, alert_id)
        reason = _text(reason, "确认说明", 500)
        before = self.silences.acks([alert_id]).get(alert_id)
        ack = self.silences.ack(alert_id, user.name, reason, alert["severity"])
        self.audit.record(user.name, "ack", alert_id, asdict(before) if before else None, asdict(ack), alert_id)
        return asdict(ack)

    def _set_state(self, user: User, alert_id: str, field: str, value: dict[str, Any],
                   also: Callable[[redis.client.Pipeline], None] | None = None) -> dict[str, Any]:
        self.alert_for(user, alert_id)
        before = self.state(alert_id).get(field)
        p = self.r.pipeline()
        p.hset(self.key("state", alert_id), field, orjson.dumps(value))
        if also is not None:
            also(p)
        self.audit.record(user.name, field, alert_id, before, value, alert_id, pipe=p)
        p.execute()
        return value

    def assign(self, user: User, alert_id: str, assignee: str, note: str = "") -> dict[str, Any]:
        value = {"assignee": _text(assignee, "承办人或承办单位", 100), "note": (note or "").strip()[:500],
                 "by": user.name, "at": time.time()}
        return self._set_state(user, alert_id, "assignment", value)

    def judge(self, user: User, alert_id: str, verdict: str, reason: str, duplicate_of: str = "") -> dict[str, Any]:
        if verdict not in VERDICTS:
            raise Invalid(f"研判结论 {verdict!r}：应为 true、false 或 duplicate")
        value: dict[str, Any] = {"verdict": verdict, "reason": _text(reason, "研判理由", 1000), "by": user.name,
                                 "at": time.time(), "duplicate_of": None}
        if verdict == "duplicate":
            other = _text(duplicate_of, "重复的预警编号", 40)
            if other == alert_id:
                raise Invalid("预警不能与自身重复")
            self.alert_for(user, other)
            value["duplicate_of"] = other
        return self._set_state(user, alert_id, "verdict", value,
                               also=lambda p: feedback.index(p, self.store, alert_id, value["at"]))

    def comment(self, user: User, alert_id: str, text: str) -> dict[str, Any]:
        self.alert_for(user, alert_id)
        value = {"text": _text(text, "备注内容", 2000), "by": user.name, "at": time.time()}
        p = self.r.pipeline()
        p.rpush(self.key("comments", alert_id), orjson.dumps(value))
        self.audit.record(user.name, "comment", alert_id, None, value, alert_id, pipe=p)
        p.execute()
        return value

    def create_task(self, user: User, alert_id: str, note: str = "") -> dict[str, Any]:
        """Draft an inspection task (contract v1) from the alert's current state and publish it."""
        alert = self.alert_for(user, alert_id)
        task = task_on_request(alert)
        before = self.r.hget(self.key("tasks", alert_id), task["task_id"])
        self.publisher.publish(task)  # the task exists once the broker has it
        value = {"task": task, "by": user.name, "at": time.time(), "note": (note or "").strip()[:500]}
        p = self.r.pipeline()
        p.hset(self.key("tasks", alert_id), task["task_id"], orjson.dumps(value))
        self.audit.record(user.name, "inspection_task", alert_id, orjson.loads(before) if before else None,
                          {"task_id": task["task_id"], "severity": task["severity"], "note": value["note"]},
                          alert_id, pipe=p)
        p.execute()
        return value

    def clear_flag(self, user: User, alert_id: str, person: str, reason: str) -> dict[str, Any]:
        """Clear the abnormal-complainant flag of *person*, named by the alert (due process): the
        flag goes, the clearing is kept and the engine judges the person afresh on later claims."""
        alert = self.alert_for(user, alert_id)
        if alert.get("type") != "abnormal_complainant":
            raise Invalid("只有异常投诉举报人提示可以解除标记")
        if person not in named(alert):
            raise NotFound(f"该提示未涉及 {person}")
        reason = _text(reason, "解除理由", 500)
        before = self.flags.flag(person)
        self.flags.clear(person, who=user.name, why=reason)
        after = self.flags.clearings()[person]
        self.audit.record(user.name, "clear_flag", alert_id, before, {"person": person, **after}, alert_id)
        return {"person": person, "flag": None, "clearing": after}

    # ---- silences --------------------------------------------------------------------------

    def _pinned(self, matchers: Sequence[str]) -> set[str]:
        """The districts a silence's matchers confine it to (equality on district_code)."""
        return {m.value for m in map(parse_matcher, matchers) if m.name == "district_code" and m.op == "="}

    def silences_for(self, user: User) -> list[dict[str, Any]]:
        out = []
        for s in self.silences.active():
            if not user.districts or self._pinned(s.matchers) & set(user.districts):
                out.append({**asdict(s), "matchers": list(s.matchers)})
        return out

    def silence(self, user: User, matchers: Sequence[str], minutes: float, reason: str,
                alert_id: str | None = None) -> dict[str, Any]:
        """A silence notify honours. A district officer's must pin one of their districts."""
        reason = _text(reason, "静默原因", 500)
        matchers = [m.strip() for m in matchers if m and m.strip()]
        if not 0 < minutes <= MAX_SILENCE_MINUTES:
            raise Invalid(f"静默时长应在 1 分钟到 {MAX_SILENCE_MINUTES // 1440} 天之间")
        try:
            pinned = self._pinned(matchers)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if user.districts and not (pinned and pinned <= set(user.districts)):
            raise Forbidden("辖区处置员的静默须限定本辖区（district_code=…）")
        if alert_id is not None:
            self.alert_for(user, alert_id)
        try:
            s = self.silences.add(matchers, user.name, reason, until=time.time() + minutes * 60)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        after = {**asdict(s), "matchers": list(s.matchers)}
        self.audit.record(user.name, "silence", f"silence:{s.id}", None, after, alert_id)
        return after

    def expire_silence(self, user: User, silence_id: str) -> dict[str, Any]:
        active = {s.id: s for s in self.silences.active()}
        s: Silence | None = active.get(silence_id)
        if s is None:
            raise NotFound(f"没有生效中的静默 {silence_id}")
        if user.districts and not (self._pinned(s.matchers) and self._pinned(s.matchers) <= set(user.districts)):
            raise Forbidden("该静默不限于您的辖区")
        self.silences.expire(silence_id)
        before = {**asdict(s), "matchers": list(s.matchers)}
        self.audit.record(user.name, "silence_expire", f"silence:{silence_id}", before, {**before, "until": time.time()})
        return before


def named(alert: dict[str, Any]) -> list[str]:
    """The pseudonyms an abnormal-complainant alert names: its subject, and a ring's members
    as its summary lists them (the contract carries no member list), in order, once each."""
    found = PSEUDONYM.findall(" ".join((alert.get("subject") or {}).get(k) or "" for k in ("key", "label")))
    found += PSEUDONYM.findall(alert.get("summary") or "")
    return list(dict.fromkeys(found))
