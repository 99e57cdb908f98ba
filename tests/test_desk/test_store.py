"""The alert store folds events idempotently and in any order, and answers filtered lists."""

from __future__ import annotations

import pytest

from desk.store import AlertQuery, AlertStore, NotAnAlert, epoch, parse_event
from tests.test_desk.conftest import event

pytestmark = pytest.mark.redis


def episode(n: int = 1) -> list[dict]:
    return [event(n, raised_at="2025-03-04T10:00:00+08:00"),
            event(n, status="update", severity="critical", observed=30, raised_at="2025-03-04T11:00:00+08:00"),
            event(n, status="resolved", severity="critical", observed=30, raised_at="2025-03-05T11:00:00+08:00")]


def snapshot(store: AlertStore, alert_id: str) -> tuple:
    return (store.get(alert_id), store.timeline(alert_id), store.first_raised(alert_id),
            store.query(AlertQuery(status=["resolved"])).total, store.query(AlertQuery(status=["open"])).total)


def test_replay_changes_nothing_and_announces_nothing(store: AlertStore) -> None:
    first = store.apply(episode())
    assert (first.new, first.duplicate) == (3, 0)
    before, feed = snapshot(store, event(1)["alert_id"]), store.r.xlen(store.feed)
    again = store.apply(episode())
    assert (again.new, again.duplicate, again.changed) == (0, 3, 0)
    assert snapshot(store, event(1)["alert_id"]) == before
    assert store.r.xlen(store.feed) == feed == 3


def test_order_of_delivery_does_not_matter(rds, store: AlertStore) -> None:  # type: ignore[no-untyped-def]
    client, prefix = rds
    other = AlertStore(client, f"{prefix}:other")
    for ev in reversed(episode()):  # one at a time, newest first
        other.apply([ev])
    store.apply(episode())
    aid = event(1)["alert_id"]
    assert snapshot(other, aid) == snapshot(store, aid)
    current = store.get(aid)
    assert current["status"] == "resolved" and current["severity"] == "critical"
    assert [e["status"] for e in store.timeline(aid)] == ["open", "update", "resolved"]
    assert store.first_raised(aid) == epoch("2025-03-04T10:00:00+08:00")


def test_indexes_follow_the_current_state(store: AlertStore) -> None:
    evs = episode()
    store.apply(evs[:1])
    assert store.query(AlertQuery(status=["open"], severity=["warning"])).total == 1
    store.apply(evs[1:])
    assert store.query(AlertQuery(status=["open"])).total == 0
    assert store.query(AlertQuery(severity=["warning"])).total == 0
    assert store.query(AlertQuery(status=["resolved"], severity=["critical"])).total == 1


def test_filters_paging_and_newest_first(store: AlertStore) -> None:
    store.apply([
        event(1, raised_at="2025-03-04T10:00:00+08:00"),
        event(2, raised_at="2025-03-04T12:00:00+08:00", district_code="310104", severity="critical"),
        event(3, raised_at="2025-03-04T11:00:00+08:00", type="term_surge", severity="info",
              subject={"dimension": "term", "key": "预付卡", "label": "预付卡"}, summary="热词“预付卡”突增",
              top_terms=["跑路"]),
        event(4, raised_at="2025-03-03T11:00:00+08:00", district_code=None, type="concentrated_demand",
              subject={"dimension": "product", "key": "电动自行车", "label": "电动自行车"}, summary="电池鼓包"),
    ])

    def ids(**kw) -> list[int]:  # type: ignore[no-untyped-def]
        offset, limit = kw.pop("offset", 0), kw.pop("limit", 50)
        return [int(a["alert_id"][3:], 16) for a in store.query(AlertQuery(**kw), offset, limit).items]

    assert ids() == [2, 3, 1, 4]
    assert ids(offset=1, limit=2) == [3, 1]
    assert store.query(AlertQuery(), 1, 2).total == 4
    assert ids(type=["group_dispute"]) == [2, 1]
    assert ids(type=["group_dispute", "term_surge"], severity=["info", "critical"]) == [2, 3]
    assert ids(district=["310115"]) == [3, 1]
    assert ids(district=["-"]) == [4]
    assert ids(dimension=["product"]) == [4]
    assert ids(visible=["310104"]) == [2]
    assert ids(visible=["310104"], district=["310115"]) == []
    assert ids(since=epoch("2025-03-04T10:30:00+08:00")) == [2, 3]
    assert ids(until=epoch("2025-03-04T10:59:00+08:00")) == [1, 4]
    assert ids(q="跑路") == [3]  # a top term
    assert ids(q="鼓包") == [4]  # the summary
    assert ids(q="某健身") == [2, 1]
    assert ids(subject="2号") == [2]
    assert ids(subject="鼓包") == []  # subject text is the label and key only
    assert ids(subject="某健身", offset=1, limit=1) == [1]
    assert store.query(AlertQuery(q="某健身"), 0, 1).total == 2
    assert not list(store.r.scan_iter(store.key("tmp", "*")))  # temporary sets are removed


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1]", b'{"alert_id": "ew-1"}',
                                 b'{"alert_id": "ew-1", "type": "x", "status": "open", "severity": "info", '
                                 b'"subject": {}, "raised_at": "yesterday"}'])
def test_what_is_not_an_alert_event(raw: bytes) -> None:
    with pytest.raises(NotAnAlert):
        parse_event(raw)
