"""The console in real headless Chromium (Debian's ``chromium``, driven by playwright).

Logs in, sees an alert arrive live, opens it, reads its evidence (masked narratives) and
its similar cases, acknowledges it, creates
an inspection task, silences its firm, logs out. With ``EARLYWARN_DESK_SCREENSHOTS=DIR``
the list and the alert's page are saved there (the README's are from this test).
Without Chromium the test fails, saying how to install it: it never passes quietly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer

from alerts.inspection import task_id
from alerts.notify.labels import labels_of
from alerts.notify.silences import Silences
from desk.tickets import TicketConsumer
from schemas.alerts import rfc3339
from tests.test_desk.conftest import PASSWORD, LiveServer, event, make_env

pytestmark = [pytest.mark.broker, pytest.mark.redis]
CHROMIUM = os.environ.get("EARLYWARN_CHROMIUM", "/usr/bin/chromium")


def chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if path is None:
        pytest.fail(f"BROWSER TEST NOT RUN: no Chromium at {CHROMIUM}. Install it with "
                    "`apt-get install -y chromium fonts-wqy-microhei` (or point EARLYWARN_CHROMIUM at one); "
                    "playwright's own browser download is not reachable here.", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("BROWSER TEST NOT RUN: the playwright package is missing (pip install -e '.[test]')",
                    pytrace=False)
    return path


def history() -> list[dict]:
    gym = {"dimension": "firm", "key": "91310115MA1K3ABCD8", "label": "某健身（浦东店）"}
    return [
        event(11, subject={"dimension": "product", "key": "电动自行车", "label": "电动自行车"},
              type="concentrated_demand", district_code=None, severity="critical", observed=41, expected=6.2,
              distinct_complainants=37, raised_at="2025-03-04T08:15:00+08:00", top_terms=["电池", "鼓包", "起火"],
              summary="【集中诉求预警·严重】“电动自行车”相关诉求在3月3日08:15至3月4日08:15（24小时）内涉及9家经营主体、"
                      "37名消费者，同期通常约6.2名。高频词：电池、鼓包、起火。属跨主体集中诉求。"),
        event(12, type="term_surge", severity="info", subject={"dimension": "term", "key": "预付卡", "label": "预付卡"},
              observed=22, expected=7.5, distinct_complainants=19, raised_at="2025-03-04T09:00:00+08:00",
              top_terms=["预付卡", "跑路", "退款"],
              summary="【热词突增提示·一般】热词“预付卡”在3月4日06:00至3月4日09:00（3小时）内出现于19名消费者的诉求中。"),
        event(13, district_code="310104", subject={"dimension": "firm", "key": "name:某教育", "label": "某教育（徐汇校区）"},
              raised_at="2025-03-04T09:30:00+08:00", observed=9, expected=0.8, distinct_complainants=8,
              summary="【群体纠纷预警·较重】“某教育（徐汇校区）”（徐汇区）有8名消费者反映退费问题。"),
        event(1, subject=gym, observed=8, expected=1.5, distinct_complainants=7, raised_at="2025-03-04T09:45:00+08:00",
              summary="【群体纠纷预警·较重】“某健身（浦东店）”（浦东新区）在3月4日08:45至3月4日09:45（1小时）内有7名消费者反映问题，"
                      "而该主体同期通常约1.5名。"),
        event(1, subject=gym, status="update", observed=12, expected=1.5, distinct_complainants=11,
              raised_at="2025-03-04T10:00:00+08:00",
              summary="【群体纠纷预警·较重】预警升级：“某健身（浦东店）”（浦东新区）有11名消费者反映问题。"),
    ], event(1, subject=gym, status="update", severity="critical", observed=14, expected=1.5, distinct_complainants=13,
             raised_at="2025-03-04T10:15:00+08:00", ticket_ids=[f"SH20250304{i:04d}" for i in range(14)],
             top_terms=["退卡", "闭店", "私教课", "预付卡"],
             summary="【群体纠纷预警·严重】预警升级：“某健身（浦东店）”（浦东新区）在3月4日09:15至3月4日10:15（1小时）内有13名"
                     "消费者反映问题，而该主体同期通常约1.5名，涉及金额约4.2万元。主要诉求为“退费”，高频词：退卡、"
                     "闭店、私教课。疑似群体纠纷苗头，建议属地市场监管所当日核实经营状况、联系经营者负责人并视情生成现场检查任务。")


GYM_LAST_MONTH = event(14, subject={"dimension": "firm", "key": "91310115MA1K3ABCD8", "label": "某健身（浦东店）"},
                       status="resolved", observed=9, expected=1.2, distinct_complainants=8,
                       raised_at="2025-02-03T16:00:00+08:00", top_terms=["退卡", "私教课"],
                       summary="【群体纠纷预警·较重】“某健身（浦东店）”（浦东新区）有8名消费者反映私教课退卡难。")
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏"]


def evidence(live: dict) -> list[bytes]:
    """The live alert's tickets as the platform sent them: names, phones and id numbers in the narrative."""
    out = []
    for i, tid in enumerate(live["ticket_ids"]):
        name = NAMES[i % len(NAMES)]
        out.append(orjson.dumps({
            "ticket_id": tid, "kind": "complaint", "received_at": rfc3339(1741050900 + 240 * i),  # from 09:15, every 4 min
            "district_code": "310115", "firm_name": "某健身（浦东店）", "firm_id": "91310115MA1K3ABCD8",
            "product_category": "健身服务", "issue_category": "退费", "amount": 3000 + 100 * i,
            "complainant_name": name, "complainant_phone": f"1390000{i:04d}", "title": "健身卡退费",
            "content": f"本人{name}，电话1390000{i:04d}，{2024 - i % 3}年在该店办理年卡及私教课共{3000 + 100 * i}元，"
                       "门店上周起闭店，前台称“装修”，教练联系不上，要求退还剩余课时费用。"}))
    return out


def test_duty_officer_in_a_real_browser(broker, rds) -> None:  # type: ignore[no-untyped-def]
    executable = chromium()
    from playwright.sync_api import expect, sync_playwright

    env = make_env(rds, broker=broker.bootstrap, pseudonym_secret="browser-test")
    before, live = history()
    env.store.apply([*before, GYM_LAST_MONTH])
    TicketConsumer(env.settings, env.app.state.ctx.desk.tickets).handle(evidence(live))
    staff, _ = env.user("li", "officer")
    desk = env.app.state.ctx.desk
    desk.judge(staff, GYM_LAST_MONTH["alert_id"], "true", "已核实：门店经营困难，拖欠课时")
    desk.results.attach({"result_id": "R-0201", "schema_version": "1", "alert_id": GYM_LAST_MONTH["alert_id"],
                         "task_id": task_id(GYM_LAST_MONTH["alert_id"], "warning"), "outcome": "rectification",
                         "inspected_at": "2025-02-04T15:00:00+08:00", "findings": "责令经营者公示退费方案"})
    shots = os.environ.get("EARLYWARN_DESK_SCREENSHOTS")
    alert_id = live["alert_id"]
    with LiveServer(env.app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        page.goto(server.url + "/")
        expect(page).to_have_url(server.url + "/login")
        page.fill("input[name=username]", "li")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#alerts")).to_be_visible()
        expect(page.locator("#live")).to_have_text("实时更新中")
        assert page.locator("#alerts tbody tr").count() == 5

        env.store.apply([live])  # the stream publishes an escalation: it moves to the top, live
        row = page.locator(f"#alerts tbody tr[data-id='{alert_id}']")
        expect(row).to_contain_text("严重")
        expect(row).to_contain_text("浦东新区")
        expect(page.locator("#alerts tbody tr").first).to_have_attribute("data-id", alert_id)
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / "desk-list.png"), full_page=True)

        row.locator("a").click()
        expect(page.locator("h1.headline")).to_contain_text("某健身（浦东店）")
        expect(page.locator("#evidence")).to_contain_text("SH202503040013")  # the evidence, in full, masked
        expect(page.locator("#evidence")).to_contain_text("要求退还剩余课时费用")
        expect(page.locator("#evidence")).to_contain_text("电话＊＊＊＊＊＊＊＊＊＊＊")
        assert "13900000001" not in page.content() and "王芳" not in page.content()
        expect(page.locator("#similar")).to_contain_text("同一经营者")  # 类案推送: last month's episode
        expect(page.locator("#similar")).to_contain_text("研判属实")
        expect(page.locator("#similar")).to_contain_text("责令整改")
        assert page.locator("svg.chart rect").count() == 3  # open, update, escalation

        page.fill("#form-ack input[name=reason]", "已派员核查")
        page.click("#form-ack button")
        expect(page.locator(".flash.ok")).to_contain_text("已确认")
        expect(page.locator("#ack-state")).to_contain_text("已派员核查")

        page.fill("#form-task input[name=note]", "请今日到场")
        page.click("#form-task button")
        expect(page.locator(".flash.ok")).to_contain_text("现场检查任务已生成")
        expect(page.locator("#tasks")).to_contain_text("it-")

        expect(page.locator("#form-silence textarea")).to_contain_text('firm="91310115MA1K3ABCD8"')
        page.fill("#form-silence input[name=reason]", "已约谈经营者")
        page.click("#form-silence button")
        expect(page.locator(".flash.ok")).to_contain_text("静默已生效")
        if shots:
            page.screenshot(path=str(Path(shots) / "desk-alert.png"), full_page=True)

        page.click("#logout")
        expect(page).to_have_url(server.url + "/login")
        page.goto(server.url + f"/alerts/{alert_id}")
        expect(page).to_have_url(server.url + "/login")
        browser.close()

    notify = Silences(env.client, env.settings.notify_prefix)
    assert notify.acks([alert_id])[alert_id].why == "已派员核查"
    assert notify.silencing(labels_of(live), notify.active()) is not None
    consumer = KafkaConsumer(env.settings.topic_inspection, bootstrap_servers=broker.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000, group_id=None)
    task = orjson.loads(next(iter(consumer)).value)
    consumer.close()
    assert task["alert_id"] == alert_id and task["severity"] == "critical"
