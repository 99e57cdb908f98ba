"""Similar cases (类案推送) over real Redis: past alerts like an alert with how they were handled, past tickets
like a ticket; text, firm, product and issue count; only the past; only the reader's districts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from desk.similar import signature, ticket_tokens
from desk.tickets import TicketStore
from tests.test_desk.conftest import DeskEnv, bearer, event
from tests.test_desk.test_console import login

pytestmark = pytest.mark.redis
FIRM = "91310115MA1K3ABCD8"


def alert(n: int, minute: int, **over: object) -> dict:
    return event(n, raised_at=f"2025-03-04T10:{minute:02d}:00+08:00", **over)


def firm_issue(key: str, label: str, issue: str) -> dict:
    return {"dimension": "firm_issue", "key": f"{key}|{issue}", "label": f"{label}·{issue}"}


def test_similar_alerts_and_how_they_were_handled(env: DeskEnv) -> None:
    target = alert(1, 50, subject=firm_issue(FIRM, "某健身", "退费"), top_terms=["闭店", "退费", "预付卡"],
                   summary="【群体纠纷预警】某健身闭店，13名消费者反映预付卡无法退费。")
    same_firm = alert(2, 10, subject=firm_issue(FIRM, "某健身", "退费"), top_terms=["闭店", "退费"],
                      summary="【群体纠纷预警】某健身门店闭店，9名消费者反映无法退费。")
    same_issue = alert(3, 20, subject=firm_issue("91310104MA1XYZ0001", "某瑜伽", "退费"), top_terms=["退费", "预付卡"],
                       summary="【群体纠纷预警】某瑜伽闭店，消费者反映预付卡无法退费。")
    unrelated = alert(4, 30, type="term_surge", subject={"dimension": "product", "key": "婴幼儿奶粉", "label": "婴幼儿奶粉"},
                      top_terms=["异物", "腹泻"], summary="【热词突增】婴幼儿奶粉异物、腹泻的反映增多。")
    elsewhere = alert(5, 15, subject=firm_issue(FIRM, "某健身", "退费"), district_code="310104",
                      top_terms=["闭店", "退费"], summary="【群体纠纷预警】某健身闭店，消费者反映无法退费。")
    later = alert(6, 55, subject=firm_issue(FIRM, "某健身", "退费"), top_terms=["闭店", "退费", "预付卡"],
                  summary="【群体纠纷预警】某健身闭店，13名消费者反映预付卡无法退费。")
    env.store.apply([target, same_firm, same_issue, unrelated, elsewhere, later])
    _, city = env.user("chen", "officer")
    _, pudong = env.user("li", "viewer", ("310115",))
    with TestClient(env.app) as api:
        r = api.post(f"/api/alerts/{same_firm['alert_id']}/verdict", headers=bearer(city),
                     json={"verdict": "true", "reason": "已核实，责令退费"})
        assert r.status_code == 200
        api.post(f"/api/alerts/{same_firm['alert_id']}/assign", headers=bearer(city), json={"assignee": "花木所"})
        got = api.get(f"/api/alerts/{target['alert_id']}/similar?k=10", headers=bearer(city)).json()
        ids = [c["alert"]["alert_id"] for c in got]
        assert later["alert_id"] not in ids and target["alert_id"] not in ids  # the past only, not itself
        assert ids[:3] == [same_firm["alert_id"], elsewhere["alert_id"], same_issue["alert_id"]]
        assert unrelated["alert_id"] not in ids  # shares only wording every alert has: below MIN_SIMILARITY
        assert got[0]["same"] == ["firm", "issue"] and got[2]["same"] == ["issue"]
        assert got[0]["handled"] == {"verdict": "true", "verdict_reason": "已核实，责令退费", "acknowledged_by": None,
                                     "assignee": "花木所", "tasks": 0, "results": []}
        assert got[0]["similarity"] > got[2]["similarity"] > 0
        mine = api.get(f"/api/alerts/{target['alert_id']}/similar", headers=bearer(pudong)).json()
        assert elsewhere["alert_id"] not in [c["alert"]["alert_id"] for c in mine]  # another district's
        assert api.get(f"/api/alerts/{elsewhere['alert_id']}/similar", headers=bearer(pudong)).status_code == 403
        assert api.get(f"/api/alerts/{target['alert_id']}/similar").status_code == 401

        assert login(api, "chen")[0] == 303
        html = api.get(f"/alerts/{target['alert_id']}").text
        section = html[html.index('id="similar"'):]
        assert "类案推送" in html and "同一经营者" in section and "研判属实：已核实，责令退费" in section


def put_tickets(env: DeskEnv, rows: list[tuple[dict, float]]) -> None:
    store = TicketStore(env.client, env.settings.prefix, 7.0)
    store.put([(rec, ts, signature(ticket_tokens(rec)).tobytes()) for rec, ts in rows])


def rec(tid: str, content: str, firm: str | None = "name:某健身", issue: str | None = "退费",
        district: str = "310115") -> dict:
    return {"ticket_id": tid, "kind": "complaint", "received_at": "2025-03-04T09:00:00+08:00", "district_code": district,
            "firm_name": "某健身", "firm_key": firm, "product_category": "健身服务", "product_name": None,
            "issue_category": issue, "amount": None, "channel": None, "platform": None, "title": None,
            "content": content, "complainant": None}


def test_similar_past_tickets(env: DeskEnv) -> None:
    base = 1741050000.0
    put_tickets(env, [
        (rec("T-now", "我在某健身办了预付卡，现在门店闭店了，无法退费，请求协调退还余额。"), base),
        (rec("T-same", "在某健身办理的预付卡因闭店无法退费，要求退还余额。"), base - 3600),
        (rec("T-other-firm", "在某游泳馆办理的预付卡因闭店无法退费，要求退还余额。", firm="name:某游泳馆"), base - 7200),
        (rec("T-unrelated", "网购的手机屏幕有划痕，商家拒绝换货。", firm="name:某网店", issue="质量"), base - 100),
        (rec("T-elsewhere", "在某健身办理的预付卡因闭店无法退费，要求退还余额。", district="310104"), base - 50),
        (rec("T-later", "我在某健身办了预付卡，现在门店闭店了，无法退费，请求协调退还余额。"), base + 60),
    ])
    _, city = env.user("chen", "viewer")
    _, pudong = env.user("li", "viewer", ("310115",))
    with TestClient(env.app) as api:
        got = api.get("/api/tickets/T-now/similar?k=10", headers=bearer(city)).json()
        ids = [c["ticket"]["ticket_id"] for c in got]
        assert "T-later" not in ids and "T-now" not in ids
        assert ids[:3] in (["T-elsewhere", "T-same", "T-other-firm"], ["T-same", "T-elsewhere", "T-other-firm"])
        assert "T-unrelated" not in ids
        assert dict((c["ticket"]["ticket_id"], c["same"]) for c in got)["T-other-firm"] == ["product", "issue"]
        mine = [c["ticket"]["ticket_id"] for c in api.get("/api/tickets/T-now/similar", headers=bearer(pudong)).json()]
        assert "T-elsewhere" not in mine and mine[0] == "T-same"
        assert api.get("/api/tickets/T-elsewhere", headers=bearer(pudong)).status_code == 403
        assert api.get("/api/tickets/T-none", headers=bearer(city)).status_code == 404
        assert api.get("/api/tickets/T-now", headers=bearer(city)).json()["content"].startswith("我在某健身")
        assert login(api, "chen")[0] == 303
        html = api.get("/tickets/T-now").text
        assert "相似的既往工单" in html and "T-same" in html and "同一经营者" in html
