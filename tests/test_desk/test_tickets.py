"""Ticket display fields from a real tickets topic: masked, kept for the days set, and an alert's evidence
pinned for as long as the alert (whichever of ticket and alert the desk reads first)."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from desk.consumer import AlertConsumer
from desk.metrics import DeskMetrics
from desk.tickets import TicketConsumer, TicketStore, pin_evidence
from schemas.normalise import pseudonym
from tests.test_desk.conftest import bearer, event, make_env
from tests.test_desk.test_consumer import run_until

pytestmark = [pytest.mark.broker, pytest.mark.redis]


def ticket(n: int, **over: object) -> dict:
    t = {"ticket_id": f"SH{n:06d}", "kind": "complaint", "received_at": f"2025-03-04T09:{n % 60:02d}:00+08:00",
         "district_code": "310115", "firm_name": "上海某某健身有限公司", "product_category": "健身服务",
         "issue_category": "退费", "amount": 4800, "complainant_name": "张三丰", "complainant_phone": "13800138000",
         "title": "健身卡退费", "content": f"我叫张三丰，电话13800138000，身份证310110199001011234，在该店办卡{n}，现闭店无法退费。"}
    t.update(over)
    return t


def test_tickets_are_kept_masked_and_evidence_is_pinned(broker, rds) -> None:  # type: ignore[no-untyped-def]
    env = make_env(rds, broker=broker.bootstrap, session_timeout=6.0, pseudonym_secret="k", ticket_days=2.0)
    s = env.settings
    tickets = TicketStore(env.client, s.prefix, s.ticket_days)
    alert = event(1, ticket_ids=["SH000001", "SH000002", "SH000009"])  # SH000009: read after the alert
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(s.topic_tickets, orjson.dumps([ticket(1), ticket(2), {"ticket_id": "bad"}]))  # a bulk batch
    producer.send(s.topic_tickets, orjson.dumps(ticket(3, complainant_name=None, complainant_phone=None,
                                                        complainant_id=None)))
    producer.send(s.topic_tickets, b"not json")
    producer.flush()
    consumer = TicketConsumer(s, tickets)
    run_until(consumer, lambda: consumer.stored == 3)
    assert consumer.skipped == 2

    rec = tickets.get("SH000001")
    assert rec["content"].startswith("我叫＊＊＊，电话＊＊＊＊＊＊＊＊＊＊＊，身份证＊＊＊＊") and "13800138000" not in orjson.dumps(rec).decode()
    assert rec["complainant"] == pseudonym(b"k", None, "13800138000") and tickets.get("SH000003")["complainant"] is None
    assert (rec["firm_name"], rec["issue_category"], rec["amount"], rec["kind"]) == ("上海某某健身有限公司", "退费", 4800, "complaint")
    assert rec["firm_key"] == "name:" + rec["firm_key"][5:] and "complainant_name" not in rec
    assert 0 < env.client.ttl(tickets.key("SH000001")) <= 2 * 86400

    # The alert arrives through the alert consumer: its evidence is pinned.
    producer.send(s.topic_alerts, key=alert["alert_id"].encode(), value=orjson.dumps(alert))
    producer.flush()
    alerts = AlertConsumer(s, env.store, DeskMetrics(), lambda evs: pin_evidence(tickets, evs))
    run_until(alerts, lambda: env.store.get(alert["alert_id"]) is not None and
              env.client.sismember(tickets.pinned, "SH000009"))
    assert env.client.ttl(tickets.key("SH000001")) == -1 and env.client.ttl(tickets.key("SH000002")) == -1
    assert env.client.ttl(tickets.key("SH000003")) > 0  # no alert names it
    # A pinned ticket read after its alert is stored without expiry.
    producer.send(s.topic_tickets, orjson.dumps(ticket(9)))
    producer.flush()
    late = TicketConsumer(s, tickets)
    run_until(late, lambda: late.stored == 1)
    assert env.client.ttl(tickets.key("SH000009")) == -1
    producer.close()

    _, token = env.user("li", "viewer")
    with TestClient(env.app) as api:
        evidence = api.get(f"/api/alerts/{alert['alert_id']}", headers=bearer(token)).json()["evidence"]
    assert [e["ticket_id"] for e in evidence] == ["SH000001", "SH000002", "SH000009"]
    assert evidence[2]["content"].endswith("在该店办卡9，现闭店无法退费。") and "张三丰" not in str(evidence)


def test_search_keeps_the_days_set_before_the_newest_ticket(rds) -> None:  # type: ignore[no-untyped-def]
    client, prefix = rds
    tickets = TicketStore(client, f"{prefix}:desk", days=1.0)
    rec = {"ticket_id": "A"}
    tickets.put([(rec, 1000.0, b"a"), ({"ticket_id": "B"}, 1000.0 + 86400 - 1, b"b")])
    assert client.zcard(tickets.by_time) == 2
    tickets.put([({"ticket_id": "C"}, 1000.0 + 86400 + 1, b"c")])
    assert [x.decode() for x in client.zrange(tickets.by_time, 0, -1)] == ["B", "C"]
    assert sorted(client.hkeys(tickets.signatures)) == [b"B", b"C"]
