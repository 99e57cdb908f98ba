"""The console's login, sessions, CSRF and pages over real Redis."""

from __future__ import annotations

import base64
import re
import time

import orjson
import pytest
from fastapi.testclient import TestClient

from alerts.notify.silences import Silences
from tests.test_desk.conftest import PASSWORD, DeskEnv, event, make_env

pytestmark = pytest.mark.redis
A1, A2 = event(1)["alert_id"], event(2)["alert_id"]


def login(client: TestClient, name: str, password: str = PASSWORD) -> tuple[int, str]:
    page = client.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": name, "password": password, "nonce": nonce}, follow_redirects=False)
    return r.status_code, r.text


def csrf_of(client: TestClient, path: str = "/") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


@pytest.fixture
def console(env: DeskEnv) -> TestClient:
    env.store.apply([event(1), event(2, district_code="310101")])
    with TestClient(env.app) as client:
        yield client


def test_pages_need_a_login(env: DeskEnv, console: TestClient) -> None:
    for path in ["/", f"/alerts/{A1}", "/silences"]:
        r = console.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path


def test_login_list_alert_page_and_logout(env: DeskEnv, console: TestClient) -> None:
    env.user("li", "officer", ("310115",))
    assert login(console, "li")[0] == 303
    cookie = console.cookies.get("ewdesk")
    # The cookie carries an opaque session id (signed), not who is logged in. (Not `"li" not in
    # cookie`: a random signature contains "li" about one time in fifty.)
    payload = cookie.split(".")[0]
    token = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(token, str) and len(token) >= 20 and "li" != token
    listing = console.get("/").text
    assert "某健身1号店" in listing and "某健身2号店" not in listing  # 310101 is not li's district
    page = console.get(f"/alerts/{A1}").text
    assert "T1-0" in page and "<svg" in page and "一键生成现场检查任务" in page
    assert console.get(f"/alerts/{A2}").status_code == 403
    csrf = csrf_of(console)
    r = console.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert console.get("/", follow_redirects=False).status_code == 303
    # The old cookie names a session that no longer exists.
    console.cookies.set("ewdesk", cookie)
    assert console.get("/", follow_redirects=False).status_code == 303
    assert console.get("/api/alerts").status_code == 401


def test_wrong_password_and_rate_limit(env: DeskEnv, console: TestClient) -> None:
    env.user("li", "officer")
    for _ in range(3):  # login_attempts=3 in these tests
        status, text = login(console, "li", "wrong password")
        assert status == 401 and "用户名或密码错误" in text
    status, text = login(console, "li")  # even the right password waits out the window
    assert status == 429 and "过多" in text
    assert login(console, "nobody", "x" * 9)[0] == 401  # other names are not blocked by li's failures


def test_login_needs_the_page_nonce(env: DeskEnv, console: TestClient) -> None:
    env.user("li", "officer")
    console.get("/login")
    r = console.post("/login", data={"username": "li", "password": PASSWORD, "nonce": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and not console.cookies.get("ewdesk")


def test_forms_need_the_csrf_token(env: DeskEnv, console: TestClient) -> None:
    env.user("li", "officer")
    login(console, "li")
    acks = Silences(env.client, env.settings.notify_prefix)
    for data in [{"reason": "核查"}, {"reason": "核查", "csrf": "forged"}]:
        assert console.post(f"/alerts/{A1}/ack", data=data, follow_redirects=False).status_code == 403
    assert acks.acks([A1]) == {}
    # The API with a session cookie (the console's own scripts) needs the header instead.
    assert console.post(f"/api/alerts/{A1}/ack", json={"reason": "核查"}).status_code == 403
    assert console.post("/logout", data={}, follow_redirects=False).status_code == 403
    csrf = csrf_of(console, f"/alerts/{A1}")
    r = console.post(f"/alerts/{A1}/ack", data={"reason": "核查", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    assert acks.acks([A1])[A1].who == "li"
    r = console.post(f"/api/alerts/{A1}/comments", json={"text": "好"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200


def test_forms_act_and_refusals_are_shown(env: DeskEnv, console: TestClient) -> None:
    env.user("li", "officer")
    login(console, "li")
    csrf = csrf_of(console, f"/alerts/{A1}")
    firm = event(1)["subject"]["key"]
    for path, data in [("assign", {"assignee": "浦东新区市场监管所"}), ("comment", {"text": "已联系"}),
                       ("verdict", {"verdict": "true", "reason": "属实"}),
                       ("silence", {"matchers": f'firm="{firm}"\ndistrict_code="310115"', "hours": "2",
                                    "reason": "已约谈"})]:
        r = console.post(f"/alerts/{A1}/{path}", data={**data, "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303 and "msg=" in r.headers["location"], path
    page = console.get(f"/alerts/{A1}").text
    assert "浦东新区市场监管所" in page and "已联系" in page and "属实" in page
    r = console.post(f"/alerts/{A1}/verdict", data={"verdict": "false", "reason": "", "csrf": csrf},
                     follow_redirects=False)
    assert "err=" in r.headers["location"]
    silences = console.get("/silences").text
    assert firm in silences
    sid = Silences(env.client, env.settings.notify_prefix).active()[0].id
    r = console.post(f"/silences/{sid}/expire", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and Silences(env.client, env.settings.notify_prefix).active() == []


def test_viewer_gets_no_forms_and_cannot_post(env: DeskEnv, console: TestClient) -> None:
    env.user("wang", "viewer")
    login(console, "wang")
    page = console.get(f"/alerts/{A1}").text
    assert "form-ack" not in page
    csrf = csrf_of(console)
    assert console.post(f"/alerts/{A1}/ack", data={"reason": "x", "csrf": csrf}).status_code == 403


def test_an_expired_session_is_refused(rds) -> None:  # type: ignore[no-untyped-def]
    env = make_env(rds, session_minutes=1 / 60)  # one second
    env.store.apply([event(1)])
    env.user("li", "officer")
    with TestClient(env.app) as client:
        assert login(client, "li")[0] == 303
        cookie = {"Cookie": f"ewdesk={client.cookies.get('ewdesk')}"}  # a browser that ignores the cookie's max-age
        client.cookies.clear()
        assert client.get("/", headers=cookie, follow_redirects=False).status_code == 200
        # Even a session key that lost its TTL (a Redis restored from a snapshot) ends on time.
        for key in env.client.scan_iter(f"{env.settings.prefix}:session:*"):
            env.client.persist(key)
        time.sleep(2.2)
        assert client.get("/", headers=cookie, follow_redirects=False).status_code == 303
        assert client.get("/api/alerts", headers=cookie).status_code == 401
