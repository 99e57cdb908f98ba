"""Boards in real Redis equal the brute-force recount, across a restart (redelivery) and with two workers."""

from __future__ import annotations

import redis

import pytest

from alerts.boards import RedisBoards
from detectors.boards import CITY, Boards
from tests.test_alerts.conftest import REDIS_URL
from tests.test_detectors.test_boards import board_tickets, brute

pytestmark = pytest.mark.redis

BOARDS = [(k, p, s, d) for k, p in (("day", "2025-03-04"), ("week", "2025-W10"), ("month", "2025-03"), ("quarter", "2025-Q1"))
          for s in (CITY, "310115", "310104") for d in ("firm", "product", "issue", "term")]


@pytest.fixture(scope="module")
def month() -> list:
    return board_tickets(seed=12)


def test_two_workers_and_a_restart_equal_the_recount(month: list, redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    # Two workers share the tickets; the first restarts and replays its last 2 000.
    w1, w2 = RedisBoards(client, redis_prefix), RedisBoards(client, redis_prefix)
    mine = [t for i, t in enumerate(month) if i % 2 == 0]
    theirs = [t for i, t in enumerate(month) if i % 2 == 1]
    assert w1.add(mine) == len([t for t in mine if t.kind != "consultation"])
    w2.add(theirs)
    restarted = RedisBoards(client, redis_prefix)
    assert restarted.add(mine[-2000:]) == 0
    memory = Boards()
    memory.add_many(month)
    for kind, period, scope, dim in BOARDS:
        got = restarted.board(kind, period, scope, dim)
        want = brute(month, kind, period, scope, dim)
        assert [(x["key"], x["count"]) for x in got["items"]] == sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        assert got == memory.board(kind, period, scope, dim)
    assert client.ttl(f"{redis_prefix}:board:day:2025-03-04:{CITY}:firm") > 0


def test_board_json_is_served(month: list, redis_prefix: str) -> None:
    import orjson

    b = RedisBoards(redis.Redis.from_url(REDIS_URL), redis_prefix)
    b.add(month[:3000])
    doc = orjson.loads(b.board_json("week", "2025-W09", "310115", "firm"))
    assert doc["scope_name"] == "浦东新区" and doc["previous_period"] == "2025-W08" and 0 < len(doc["items"]) <= 10
    assert {"rank", "key", "label", "count", "previous_count", "change", "change_ratio", "previous_rank"} <= set(doc["items"][0])
