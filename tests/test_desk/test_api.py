"""The API over real Redis: lists, an alert's page, every action, and every refusal."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from alerts.notify.labels import labels_of
from alerts.notify.silences import Silences
from tests.test_desk.conftest import DeskEnv, bearer, event

pytestmark = pytest.mark.redis

PUDONG, HUANGPU = "310115", "310101"


@pytest.fixture
def api(env: DeskEnv) -> TestClient:
    env.store.apply([event(1), event(2, district_code=HUANGPU, severity="critical"),
                     event(1, status="update", observed=20, raised_at="2025-03-04T11:00:00+08:00")])
    with TestClient(env.app) as client:
        yield client


def notify_silences(env: DeskEnv) -> Silences:
    """What notify reads: its own Silences over its own prefix."""
    return Silences(env.client, env.settings.notify_prefix)


A1, A2 = event(1)["alert_id"], event(2)["alert_id"]


def test_list_and_detail(env: DeskEnv, api: TestClient) -> None:
    _, token = env.user("wang", "viewer")
    r = api.get("/api/alerts", headers=bearer(token))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2 and [a["alert_id"] for a in body["items"]] == [A1, A2]
    assert api.get("/api/alerts?severity=critical", headers=bearer(token)).json()["total"] == 1
    assert api.get(f"/api/alerts?district={PUDONG}&q=某健身1", headers=bearer(token)).json()["total"] == 1
    assert api.get("/api/alerts?since=2025-03-04T10:30:00%2B08:00", headers=bearer(token)).json()["total"] == 1
    assert api.get("/api/alerts?since=yesterday", headers=bearer(token)).status_code == 422
    d = api.get(f"/api/alerts/{A1}", headers=bearer(token)).json()
    assert d["alert"]["status"] == "update" and [e["status"] for e in d["timeline"]] == ["open", "update"]
    assert d["ack"] is None and d["tasks"] == [] and d["activity"] == []
    assert api.get("/api/alerts/ew-000000000000000000000fff", headers=bearer(token)).status_code == 404
    spec = api.get("/openapi.json").json()
    assert {"list_alerts", "get_alert", "acknowledge_alert", "create_silence", "create_inspection_task",
            "judge_alert", "stream_alerts"} <= {op["operationId"] for p in spec["paths"].values() for op in p.values()}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ewd_not-a-token"}, {"Authorization": "Basic eDp5"}])
def test_no_valid_token_is_401(api: TestClient, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/api/alerts"), ("GET", f"/api/alerts/{A1}"), ("POST", f"/api/alerts/{A1}/ack"),
                         ("GET", "/api/stream"), ("POST", "/api/silences")]:
        r = api.request(method, path, headers=headers, json={"reason": "x"})
        assert r.status_code == 401, (method, path)
        assert r.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_refused(env: DeskEnv, api: TestClient) -> None:
    _, token = env.user("wang", "viewer")
    assert api.get("/api/alerts", headers=bearer(token)).status_code == 200
    env.auth.revoke_tokens("wang")
    assert api.get("/api/alerts", headers=bearer(token)).status_code == 401


def test_tokens_are_stored_hashed(env: DeskEnv) -> None:
    _, token = env.user("wang", "viewer")
    r = env.client
    values = {b"hash": r.hvals, b"set": r.smembers, b"string": lambda k: [r.get(k)]}
    stored = b"".join(k + b"".join(values[r.type(k)](k)) for k in r.scan_iter(f"{env.settings.prefix}:*"))
    assert token.encode() not in stored and b"correct horse" not in stored


@pytest.mark.parametrize(("path", "body"), [
    (f"/api/alerts/{A1}/ack", {"reason": "已派员核查"}),
    (f"/api/alerts/{A1}/assign", {"assignee": "浦东新区市场监管所"}),
    (f"/api/alerts/{A1}/comments", {"text": "已电话联系经营者"}),
    (f"/api/alerts/{A1}/verdict", {"verdict": "true", "reason": "属实"}),
    (f"/api/alerts/{A1}/tasks", {"note": ""}),
    ("/api/silences", {"matchers": ['firm="x"'], "minutes": 60, "reason": "已约谈"}),
])
def test_viewers_cannot_write(env: DeskEnv, api: TestClient, path: str, body: dict) -> None:
    _, token = env.user("wang", "viewer")
    r = api.post(path, headers=bearer(token), json=body)
    assert r.status_code == 403 and "权限" in r.json()["detail"]
    assert not list(env.client.scan_iter(f"{env.settings.prefix}:audit*"))


def test_district_officer_sees_and_acts_on_their_district_only(env: DeskEnv, api: TestClient) -> None:
    _, token = env.user("li", "officer", (PUDONG,))
    listed = api.get("/api/alerts", headers=bearer(token)).json()
    assert [a["alert_id"] for a in listed["items"]] == [A1]
    assert api.get(f"/api/alerts?district={HUANGPU}", headers=bearer(token)).json()["total"] == 0
    assert api.get(f"/api/alerts/{A2}", headers=bearer(token)).status_code == 403
    for path, body in [(f"/api/alerts/{A2}/ack", {"reason": "x"}), (f"/api/alerts/{A2}/assign", {"assignee": "x"}),
                       (f"/api/alerts/{A2}/comments", {"text": "x"}),
                       (f"/api/alerts/{A2}/verdict", {"verdict": "false", "reason": "x"}),
                       (f"/api/alerts/{A2}/tasks", {}), (f"/api/alerts/{A1}/verdict",
                                                         {"verdict": "duplicate", "reason": "x", "duplicate_of": A2})]:
        assert api.post(path, headers=bearer(token), json=body).status_code == 403, path
    assert notify_silences(env).acks([A2]) == {}
    # A silence must pin their district; a city-wide one is refused, a pinned one is fine.
    r = api.post("/api/silences", headers=bearer(token), json={"matchers": ['firm="x"'], "minutes": 60, "reason": "r"})
    assert r.status_code == 403
    r = api.post("/api/silences", headers=bearer(token),
                 json={"matchers": ['firm="x"', f'district_code="{HUANGPU}"'], "minutes": 60, "reason": "r"})
    assert r.status_code == 403
    r = api.post("/api/silences", headers=bearer(token),
                 json={"matchers": ['firm="x"', f'district_code="{PUDONG}"'], "minutes": 60, "reason": "r"})
    assert r.status_code == 201


def test_acknowledge_is_what_notify_reads(env: DeskEnv, api: TestClient) -> None:
    _, token = env.user("li", "officer")
    r = api.post(f"/api/alerts/{A1}/ack", headers=bearer(token), json={"reason": "已派员核查"})
    assert r.status_code == 200
    ack = notify_silences(env).acks([A1])[A1]
    assert (ack.who, ack.why, ack.severity) == ("li", "已派员核查", "warning")
    assert ack.holds("warning") and not ack.holds("critical")
    assert api.post(f"/api/alerts/{A1}/ack", headers=bearer(token), json={"reason": " "}).status_code == 422
    d = api.get(f"/api/alerts/{A1}", headers=bearer(token)).json()
    assert d["ack"]["who"] == "li" and d["activity"][0]["action"] == "ack"


def test_assign_comment_and_verdicts_are_audited(env: DeskEnv, api: TestClient) -> None:
    _, token = env.user("li", "officer")
    h = bearer(token)
    assert api.post(f"/api/alerts/{A1}/assign", headers=h, json={"assignee": "张三"}).status_code == 200
    assert api.post(f"/api/alerts/{A1}/assign", headers=h, json={"assignee": "浦东新区市场监管所"}).status_code == 200
    assert api.post(f"/api/alerts/{A1}/comments", headers=h, json={"text": "已电话联系"}).status_code == 200
    assert api.post(f"/api/alerts/{A1}/verdict", headers=h, json={"verdict": "maybe", "reason": "x"}).status_code == 422
    assert api.post(f"/api/alerts/{A1}/verdict", headers=h, json={"verdict": "false", "reason": ""}).status_code == 422
    assert api.post(f"/api/alerts/{A1}/verdict", headers=h,
                    json={"verdict": "duplicate", "reason": "同一事件", "duplicate_of": A1}).status_code == 422
    assert api.post(f"/api/alerts/{A1}/verdict", headers=h,
                    json={"verdict": "duplicate", "reason": "同一事件", "duplicate_of": "ew-nope"}).status_code == 404
    r = api.post(f"/api/alerts/{A1}/verdict", headers=h, json={"verdict": "duplicate", "reason": "同一事件",
                                                                "duplicate_of": A2})
    assert r.status_code == 200 and r.json()["duplicate_of"] == A2
    d = api.get(f"/api/alerts/{A1}", headers=h).json()
    assert d["assignment"]["assignee"] == "浦东新区市场监管所" and d["verdict"]["verdict"] == "duplicate"
    assert [c["text"] for c in d["comments"]] == ["已电话联系"]
    acts = d["activity"]
    assert [a["action"] for a in acts] == ["assignment", "assignment", "comment", "verdict"]
    assert acts[1]["before"]["assignee"] == "张三" and acts[1]["after"]["assignee"] == "浦东新区市场监管所"
    assert all(a["who"] == "li" and a["at"] > 0 for a in acts)
    # The whole log is for admins only.
    assert api.get("/api/audit", headers=h).status_code == 403
    _, admin = env.user("root", "admin")
    log = api.get("/api/audit", headers=bearer(admin)).json()
    assert [e["action"] for e in log][:4] == ["verdict", "comment", "assignment", "assignment"]


def test_silences_are_the_ones_notify_honours(env: DeskEnv, api: TestClient) -> None:
    _, token = env.user("li", "officer")
    h = bearer(token)
    firm = event(1)["subject"]["key"]
    assert api.post("/api/silences", headers=h, json={"matchers": ["nolabel=1"], "minutes": 60,
                                                       "reason": "x"}).status_code == 422
    assert api.post("/api/silences", headers=h, json={"matchers": [f'firm="{firm}"'], "minutes": 60,
                                                       "reason": ""}).status_code == 422
    r = api.post("/api/silences", headers=h, json={"matchers": [f'firm="{firm}"'], "minutes": 90,
                                                    "reason": "已约谈", "alert_id": A1})
    assert r.status_code == 201
    sid = r.json()["id"]
    ns = notify_silences(env)
    active = ns.active()
    assert ns.silencing(labels_of(event(1)), active).id == sid
    assert ns.silencing(labels_of(event(2)), active) is None
    assert [s["id"] for s in api.get("/api/silences", headers=h).json()] == [sid]
    assert api.get(f"/api/alerts/{A1}", headers=h).json()["activity"][0]["action"] == "silence"
    assert api.delete(f"/api/silences/{sid}", headers=h).status_code == 200
    assert ns.silencing(labels_of(event(1)), ns.active()) is None
    assert api.delete(f"/api/silences/{sid}", headers=h).status_code == 404


def test_a_token_for_myself(env: DeskEnv, api: TestClient) -> None:
    _, token = env.user("wang", "viewer")
    r = api.post("/api/tokens", headers=bearer(token), json={"label": "脚本"})
    assert r.status_code == 201
    me = api.get("/api/me", headers=bearer(r.json()["token"])).json()
    assert me == {"name": "wang", "role": "viewer", "districts": [], "display": "wang"}


def test_security_headers_and_metrics(env: DeskEnv, api: TestClient) -> None:
    r = api.get("/login")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert api.get("/api/alerts").headers["cache-control"] == "no-store"
    text = api.get("/metrics").text
    assert 'earlywarn_desk_requests_total{method="GET",route="/api/alerts",status="4xx"}' in text
