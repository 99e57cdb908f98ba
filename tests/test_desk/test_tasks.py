"""Inspection tasks on request: contract v1 on the real inspection topic, from any alert."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from alerts.inspection import task_id
from tests.test_desk.conftest import bearer, event, make_env

pytestmark = [pytest.mark.broker, pytest.mark.redis]
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "inspection_task.v1.schema.json").read_text())


def published(broker: str, topic: str, n: int) -> list[tuple[bytes, dict]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000, group_id=None)
    out = []
    for rec in consumer:
        out.append((rec.key, orjson.loads(rec.value)))
        if len(out) == n:
            break
    consumer.close()
    return out


def test_tasks_from_any_alert_are_published_and_recorded(broker, rds) -> None:  # type: ignore[no-untyped-def]
    env = make_env(rds, broker=broker.bootstrap)
    dispute = event(1, subject={"dimension": "firm_issue", "key": "91310115MA1K3ABCD8|退费", "label": "某健身·退费"})
    surge = event(2, type="term_surge", severity="info", subject={"dimension": "term", "key": "预付卡", "label": "预付卡"})
    env.store.apply([dispute, surge])
    _, token = env.user("li", "officer")
    _, viewer = env.user("wang", "viewer")
    with TestClient(env.app) as api:
        assert api.post(f"/api/alerts/{dispute['alert_id']}/tasks", headers=bearer(viewer), json={}).status_code == 403
        r = api.post(f"/api/alerts/{dispute['alert_id']}/tasks", headers=bearer(token), json={"note": "请于今日核查"})
        assert r.status_code == 201
        task = r.json()["task"]
        assert task["firm"] == {"key": "91310115MA1K3ABCD8", "label": "某健身"} and task["issue"] == "退费"
        assert task["task_id"] == task_id(dispute["alert_id"], "warning")  # the automatic task's id: an upsert
        r = api.post(f"/api/alerts/{surge['alert_id']}/tasks", headers=bearer(token), json={})
        assert r.status_code == 201 and r.json()["task"]["severity"] == "warning"
        listed = api.get(f"/api/alerts/{dispute['alert_id']}/tasks", headers=bearer(viewer)).json()
        assert [t["task"]["task_id"] for t in listed] == [task["task_id"]] and listed[0]["note"] == "请于今日核查"
        detail = api.get(f"/api/alerts/{dispute['alert_id']}", headers=bearer(token)).json()
        assert detail["activity"][-1]["action"] == "inspection_task"
    got = published(broker.bootstrap, env.settings.topic_inspection, 2)
    assert [k.decode() for k, _ in got] == [v["task_id"] for _, v in got]
    by_alert = {v["alert_id"]: v for _, v in got}  # auto-created topic: partitions, so no order across keys
    assert by_alert.keys() == {dispute["alert_id"], surge["alert_id"]}
    for v in by_alert.values():
        jsonschema.validate(v, SCHEMA)
    assert by_alert[dispute["alert_id"]] == task
