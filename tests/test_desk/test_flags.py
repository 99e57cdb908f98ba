"""Clearing an abnormal-complainant flag from the desk (due process), over real Redis: who may, and what it records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alerts.complainants import FlagStore
from tests.test_desk.conftest import DeskEnv, bearer, event
from tests.test_desk.test_console import csrf_of, login

pytestmark = pytest.mark.redis

P1, P2, P3 = "p_00000000000000a1", "p_00000000000000a2", "p_00000000000000a3"  # a ring of three
RING = event(7, type="abnormal_complainant", severity="info",
             subject={"dimension": "complainant", "key": P1, "label": f"{P1}等3人"},
             summary=f"【异常投诉举报人提示·一般】疑似职业索赔团伙（3人，化名：{P1}、{P2}、{P3}）在……期间提出12件投诉举报。")
GROUP = event(1)


def flag(last_seen: float = 1.0) -> dict:
    return {"reasons": ["template_ring", "statutory_multiple"], "finding": "ring", "first_seen": 0.0,
            "last_seen": last_seen, "expires": 4e9, "ticket_ids": ["T1", "T2"]}


@pytest.fixture
def flags(env: DeskEnv) -> FlagStore:
    """The engine's flag store, under this test's prefix (the desk reads and clears it there)."""
    store = FlagStore(env.client, env.settings.prefix.rsplit(":", 1)[0] + ":complainants")
    env.app.state.ctx.desk.flags = store
    store.publish({P1: flag(), P2: flag()})  # P3: named by the alert, no flag held
    return store


@pytest.fixture
def api(env: DeskEnv, flags: FlagStore) -> Iterator[TestClient]:
    env.store.apply([RING, GROUP])
    with TestClient(env.app) as client:
        yield client


def clear(api: TestClient, token: str, person: str, alert_id: str = RING["alert_id"], reason: str = "核实为正常消费者"):
    return api.post(f"/api/alerts/{alert_id}/complainants/{person}/clear", headers=bearer(token), json={"reason": reason})


def test_an_officer_clears_a_flag_the_alert_names_and_it_is_recorded(env: DeskEnv, api: TestClient,
                                                                     flags: FlagStore) -> None:
    _, token = env.user("li", "officer")
    d = api.get(f"/api/alerts/{RING['alert_id']}", headers=bearer(token)).json()
    assert [(c["person"], c["flag"] is not None) for c in d["complainants"]] == [(P1, True), (P2, True), (P3, False)]
    r = clear(api, token, P2)
    assert r.status_code == 200, r.text
    assert r.json()["clearing"]["who"] == "li" and r.json()["clearing"]["why"] == "核实为正常消费者"
    assert flags.flag(P2) is None and flags.flag(P1) is not None
    assert flags.clearings()[P2]["who"] == "li"  # what the engine reads: P2 is judged afresh on later claims
    assert flags.publish({P1: flag(), P2: flag()}) == 1  # a flag on evidence before the clearing is not published again
    d = api.get(f"/api/alerts/{RING['alert_id']}", headers=bearer(token)).json()
    [entry] = [e for e in d["activity"] if e["action"] == "clear_flag"]
    assert entry["who"] == "li" and entry["before"]["reasons"] == flag()["reasons"] and entry["after"]["person"] == P2
    assert [c["clearing"] is not None for c in d["complainants"]] == [False, True, False]
    assert d["alert"]["subject"]["key"] == P1  # the alert itself is unchanged


def test_refusals(env: DeskEnv, api: TestClient, flags: FlagStore) -> None:
    _, viewer = env.user("wang", "viewer")
    _, elsewhere = env.user("zhao", "officer", ("310101",))  # the ring's alert is Pudong's (310115)
    _, officer = env.user("li", "officer")
    assert clear(api, viewer, P1).status_code == 403
    assert clear(api, elsewhere, P1).status_code == 403
    assert clear(api, officer, "p_00000000000000ff").status_code == 404  # not named by this alert
    assert clear(api, officer, P1, alert_id=GROUP["alert_id"]).status_code == 422  # not a complainant alert
    assert clear(api, officer, P1, reason=" ").status_code == 422  # a reason is required
    assert api.post(f"/api/alerts/{RING['alert_id']}/complainants/{P1}/clear", json={"reason": "x"}).status_code == 401
    assert flags.flag(P1) is not None and flags.clearings() == {}


def test_the_console_shows_the_flags_and_clears_one_with_its_form(env: DeskEnv, api: TestClient,
                                                                  flags: FlagStore) -> None:
    env.user("li", "officer")
    assert login(api, "li")[0] == 303
    page = api.get(f"/alerts/{RING['alert_id']}").text
    assert "异常投诉举报人名录" in page and P3 in page and page.count("解除标记</button>") == 2  # P1, P2 flagged
    r = api.post(f"/alerts/{RING['alert_id']}/complainants/{P1}/clear", follow_redirects=False,
                 data={"reason": "核实为正常消费者", "csrf": csrf_of(api, f"/alerts/{RING['alert_id']}")})
    assert r.status_code == 303 and flags.flag(P1) is None
    page = api.get(f"/alerts/{RING['alert_id']}").text
    assert "li 于" in page and page.count("解除标记</button>") == 1
    assert "异常投诉举报人名录" not in api.get(f"/alerts/{GROUP['alert_id']}").text
