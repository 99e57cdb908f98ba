"""Inspection results (contract v1) from a real inspection.results topic: attached to their alert and shown,
or dead-lettered with the reason; offsets committed only after, so nothing is lost or read twice."""

from __future__ import annotations

import time

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer

from alerts.inspection import task_id
from desk.metrics import DeskMetrics
from desk.results import ResultConsumer
from tests.test_desk.conftest import bearer, event, make_env
from tests.test_desk.test_console import login

pytestmark = [pytest.mark.broker, pytest.mark.redis]


def result(alert_id: str, n: int = 1, **over: object) -> dict:
    r = {"result_id": f"R-{n}", "schema_version": "1", "task_id": task_id(alert_id, "warning"), "alert_id": alert_id,
         "outcome": "rectification", "inspected_at": "2025-03-05T15:00:00+08:00",
         "findings": "现场检查发现该店已停业，已责令经营者三日内公布退费方案。", "office": "浦东新区市场监管局花木所",
         "case_id": "沪市监浦案〔2025〕001号", "penalty_amount": 5000}
    r.update(over)
    return r


def read_all(broker: str, topic: str, n: int) -> list[dict]:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000, group_id=None)
    out = []
    for rec in consumer:
        out.append(orjson.loads(rec.value))
        if len(out) == n:
            break
    consumer.close()
    return out


def drain(c: ResultConsumer, want: int, timeout: float = 40.0) -> int:
    consumer, producer = c._clients()  # noqa: SLF001 - stepped by hand, to count
    got, deadline = 0, time.monotonic() + timeout
    try:
        while got < want and time.monotonic() < deadline:
            got += c.step(consumer, producer)
        if want == 0:  # nothing should come: poll a few times to be sure
            for _ in range(6):
                got += c.step(consumer, producer)
    finally:
        consumer.close(autocommit=False)
        producer.close(timeout=5)
    return got


def test_results_are_attached_shown_and_the_bad_ones_dead_lettered(broker, rds) -> None:  # type: ignore[no-untyped-def]
    env = make_env(rds, broker=broker.bootstrap, session_timeout=6.0)
    s = env.settings
    alert, elsewhere = event(1), event(2, district_code="310104")
    env.store.apply([alert, elsewhere])
    aid = alert["alert_id"]
    unknown = "ew-" + "f" * 24
    sent = [
        (b"R-1", orjson.dumps(result(aid))),
        (b"R-2", orjson.dumps(result(aid, 2, outcome="no_violation", inspected_at="2025-03-04T15:00:00+08:00",
                                     case_id=None, penalty_amount=None, findings="未发现问题。"))),
        (b"R-3", orjson.dumps(result(unknown, 3))),  # a well-formed result for an alert the desk does not hold
        (b"R-4", orjson.dumps(result(aid, 4, task_id=task_id(elsewhere["alert_id"], "warning")))),  # another's task
        (b"R-5", orjson.dumps(result(aid, 5, outcome="fined"))),  # not an outcome of contract v1
        (b"R-6", b'{"result_id": "R-6", '),  # not JSON
        (b"R-7", b"\xff\xfe not utf-8"),
        (b"R-8", orjson.dumps(result(aid, 8, task_id=task_id(aid, "critical")))),  # never made: it stayed at warning
        (b"R-1", orjson.dumps(result(aid, findings="更正：已责令整改，经营者已公布退费方案。"))),  # a correction
    ]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for key, value in sent:
        producer.send(s.topic_inspection_results, key=key, value=value)
    producer.flush()
    producer.close()

    metrics = DeskMetrics()
    assert drain(ResultConsumer(s, env.store, env.app.state.ctx.desk.results, metrics), len(sent)) == len(sent)
    counts = {k: metrics.results.labels(k)._value.get()
              for k in ("attached", "unknown_alert", "unknown_task", "task_mismatch", "bad_field", "not_json")}
    assert counts == {"attached": 3, "unknown_alert": 1, "unknown_task": 1, "task_mismatch": 1, "bad_field": 1,
                      "not_json": 2}

    # Auto-created topics have partitions: no order across keys.
    dead = sorted(read_all(broker.bootstrap, s.topic_inspection_results_deadletter, 6), key=lambda d: d["key"])
    assert [(d["key"], d["reason"]) for d in dead] == [("R-3", "unknown_alert"), ("R-4", "task_mismatch"),
                                                       ("R-5", "bad_field"), ("R-6", "not_json"), ("R-7", "not_json"),
                                                       ("R-8", "unknown_task")]
    assert orjson.loads(dead[0]["value"]) == result(unknown, 3)  # the original, to re-send once it can be attached
    assert dead[2]["detail"].startswith("outcome 'fined'") and dead[4]["value_b64"]
    assert all(d["source"]["topic"] == s.topic_inspection_results for d in dead)

    # Committed: the group reads nothing again.
    assert drain(ResultConsumer(s, env.store, env.app.state.ctx.desk.results, DeskMetrics()), 0) == 0

    _, officer = env.user("li", "officer", ("310115",))
    _, other = env.user("zhao", "viewer", ("310104",))
    with TestClient(env.app) as api:
        got = api.get(f"/api/alerts/{aid}/results", headers=bearer(officer))
        assert got.status_code == 200
        assert [(x["result"]["result_id"], x["result"]["outcome"]) for x in got.json()] == [
            ("R-2", "no_violation"), ("R-1", "rectification")]  # by visit time; R-1 as corrected
        assert got.json()[1]["result"]["findings"].startswith("更正")  # same key: same partition, in order
        detail = api.get(f"/api/alerts/{aid}", headers=bearer(officer)).json()
        assert [x["result"]["result_id"] for x in detail["results"]] == ["R-2", "R-1"]
        assert api.get(f"/api/alerts/{aid}/results", headers=bearer(other)).status_code == 403
        assert api.get(f"/api/alerts/{unknown}/results", headers=bearer(officer)).status_code == 404
        assert api.get(f"/api/alerts/{aid}/results").status_code == 401
        assert login(api, "li")[0] == 303
        html = api.get(f"/alerts/{aid}").text
        section = html[html.index('id="results"'):]
        assert "责令整改" in section and "更正：已责令整改" in section and "沪市监浦案〔2025〕001号" in section
        assert "未发现问题" in section and "5,000 元" in section
