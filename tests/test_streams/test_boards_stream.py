"""The top-10 boards the stream keeps in Redis equal a brute-force recount of the same tickets,
with two workers and across a restart (one stopped with SIGTERM mid-stream, a fresh one started)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis

from alerts.boards import RedisBoards
from detectors.aggregate import Aggregator
from detectors.boards import CITY, entries, period_of
from detectors.enrich import Enricher, take
from streams.kafka_io import produce
from streams.routing import router
from tests.test_alerts.conftest import REDIS_URL
from tests.test_detectors.test_boards import brute
from tests.test_streams.test_scaleout import owns_tickets, simulated, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.redis]


def counted(client: redis.Redis, prefix: str) -> int:
    return sum(client.scard(k) for k in client.scan_iter(f"{prefix}:counted:*"))


def test_two_workers_and_a_restart_keep_boards_equal_to_the_recount(stream_env: Any) -> None:
    env = stream_env
    prefix = f"earlywarn-test:{uuid.uuid4().hex}"
    env.settings = env.settings.with_(idle_seconds=8.0, boards="on", redis_url=REDIS_URL, boards_prefix=prefix)
    client = redis.Redis.from_url(REDIS_URL)
    lines = simulated()
    # The recount: the same keys ingest derives, counted by brute force.
    mine = take(lines, Enricher(env.settings.secret()), Aggregator(env.settings.detect, router(env.settings.partitions)),
                env.settings.max_message_bytes, boards=True).board_tickets
    expected = sum(1 for t in mine if entries(t))
    try:
        head = len(lines) // 4
        produce(env.settings, lines[:head])
        leaving, staying = env.start_worker(), env.start_worker()
        # Owning, not having read: the first worker may read all of the head before the second joins.
        wait_for(lambda: owns_tickets(leaving, env) and owns_tickets(staying, env),
                 "both workers to own ticket partitions")
        feed = threading.Thread(target=produce, args=(env.settings, lines[head:]), kwargs={"rate": 400.0})
        feed.start()
        try:
            before = leaving.stats()["tickets"]
            leaving.wait_stats(lambda st: st["tickets"] > before, timeout=120)
            leaving.process.terminate()  # SIGTERM mid-stream
            assert leaving.process.wait(timeout=60) == 0, leaving.log.read_text()[-3000:]
            env.start_worker()  # the restart: a fresh worker joins and takes partitions back
        finally:
            feed.join()
        wait_for(lambda: counted(client, prefix) >= expected, "every ticket counted on the boards", timeout=240)
        time.sleep(3.0)
        assert counted(client, prefix) == expected
        boards = RedisBoards(client, prefix)
        last = max(t.ts for t in mine)
        checked = 0
        for kind in ("day", "week", "month", "quarter"):
            period = period_of(last - 86400.0, kind)
            for scope in (CITY, "310115", "310104"):
                for dim in ("firm", "product", "issue", "term"):
                    want = sorted(brute(mine, kind, period, scope, dim).items(), key=lambda kv: (-kv[1], kv[0]))[:10]
                    got = boards.board(kind, period, scope, dim)
                    assert [(x["key"], x["count"]) for x in got["items"]] == want, (kind, period, scope, dim)
                    checked += len(want)
        assert checked > 200
    finally:
        for k in client.scan_iter(f"{prefix}:*"):
            client.delete(k)
