"""Receivers against real loopback servers: what each one sends, and how failures are told apart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import urllib.parse
from typing import Any

import pytest

from alerts.notify import receivers as rc
from alerts.notify.routing import ReceiverSpec
from tests.test_alerts.conftest import Hook, event


def note(*events: dict[str, Any], change: str = "new") -> dict[str, Any]:
    return {"id": "n-1", "receiver": "r", "group_key": "0:{story=firm:firm-1}",
            "group_labels": {"story": "firm:firm-1"},
            "status": "resolved" if all(e["status"] == "resolved" for e in events) else "firing",
            "alerts": [{"change": change, "event": e} for e in events], "keys": ["k"], "created_at": 0.0}


def receiver(kind: str, **options: Any) -> rc.Receiver:
    return rc.build(ReceiverSpec("r", kind, options), link_base="https://desk.example/alerts/")


def test_webhook_posts_the_events_with_an_idempotency_key(hook: Hook) -> None:
    receiver("webhook", url=hook.url).send([note(event(1))])
    (req,) = hook.requests
    assert req["headers"]["Idempotency-Key"] == "n-1"
    assert req["json"]["alerts"][0]["alert_id"] == event(1)["alert_id"]
    assert req["json"]["alerts"][0]["change"] == "new"


def test_alertmanager_payload_is_version_4(hook: Hook) -> None:
    resolved = event(2, status="resolved")
    receiver("alertmanager", url=hook.url).send([note(event(1), resolved)])
    body = hook.bodies()[0]
    assert body["version"] == "4" and body["status"] == "firing" and body["groupKey"].startswith("0:")
    firing, done = body["alerts"]
    assert firing["status"] == "firing" and firing["endsAt"] == "0001-01-01T00:00:00Z"
    assert done["status"] == "resolved" and done["endsAt"] == resolved["raised_at"]
    assert firing["labels"]["alertname"] == "group_dispute" and firing["labels"]["district_code"] == "310115"
    assert firing["annotations"]["summary"].startswith("【群体纠纷预警")
    assert len(firing["fingerprint"]) == 16 and firing["startsAt"] == event(1)["window_start"]
    assert body["commonLabels"]["type"] == "group_dispute" and "firm" not in body["commonLabels"]


def test_wecom_markdown_carries_the_summary_severity_firm_district_people_and_link(hook: Hook) -> None:
    receiver("wecom", url=hook.url).send([note(event(1, severity="critical"))])
    body = hook.bodies()[0]
    assert body["msgtype"] == "markdown"
    text = body["markdown"]["content"]
    for part in ("【群体纠纷预警·严重】某健身1号店", "浦东新区", "13人", "有13名消费者反映问题",
                 "(https://desk.example/alerts/ew-"):
        assert part in text


def test_dingtalk_signs_per_its_documented_scheme(hook: Hook) -> None:
    receiver("dingtalk", url=hook.url + "?access_token=T", secret="SECabc").send([note(event(1))])
    req = hook.requests[0]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(req["path"]).query)
    ts, sign = q["timestamp"][0], q["sign"][0]
    want = base64.b64encode(hmac.new(b"SECabc", f"{ts}\nSECabc".encode(), hashlib.sha256).digest()).decode()
    assert sign == want and q["access_token"] == ["T"]
    assert req["json"]["markdown"]["title"].startswith("【群体纠纷预警")


def test_a_robot_digest_fits_one_message_and_says_how_many() -> None:
    notes = [note(event(i)) for i in range(60)]
    title, text = rc.robot_markdown(notes, "https://desk/", max_bytes=4000)
    assert title == "earlywarn 预警汇总（60条）"
    assert len(text.encode()) <= 4000 and "另有" in text


@pytest.mark.parametrize(("status", "temporary"), [(503, True), (429, True), (400, False), (404, False)])
def test_http_failures_are_temporary_or_permanent(status: int, temporary: bool) -> None:
    hook = Hook(fail_first=1, fail_status=status).start()
    try:
        with pytest.raises(rc.DeliveryError) as err:
            receiver("webhook", url=hook.url).send([note(event(1))])
        assert err.value.temporary is temporary
    finally:
        hook.stop()


def test_a_robot_errcode_is_a_failure() -> None:
    hook = Hook(answer=b'{"errcode": 310000, "errmsg": "sign not match"}').start()
    try:
        with pytest.raises(rc.DeliveryError) as err:
            receiver("dingtalk", url=hook.url, secret="x").send([note(event(1))])
        assert not err.value.temporary and "310000" in str(err.value)
    finally:
        hook.stop()


def test_no_answer_is_temporary() -> None:
    from streams.broker import free_port

    with pytest.raises(rc.DeliveryError) as err:
        receiver("webhook", url=f"http://127.0.0.1:{free_port()}/x", timeout=1).send([note(event(1))])
    assert err.value.temporary


def test_email_has_text_and_html(smtp: Any) -> None:
    receiver("email", host="127.0.0.1", port=smtp.port, to="duty@example.cn", **{"from": "ew@example.cn"}).send(
        [note(event(1)), note(event(2))])
    (msg,) = smtp.messages
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(msg["Subject"]))) == "[earlywarn] 【群体纠纷预警·较重】某健身1号店（另有1条）"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in msg.walk() if not p.is_multipart()}
    assert "某健身2号店" in parts["text/plain"] and "<h3>" in parts["text/html"]


def test_console_prints_a_line_an_alert() -> None:
    out = io.StringIO()
    rc.ConsoleReceiver(ReceiverSpec("c", "console", {}), out=out).send([note(event(1), event(2))])
    assert out.getvalue().count("\n") == 2 and "某健身2号店" in out.getvalue()
