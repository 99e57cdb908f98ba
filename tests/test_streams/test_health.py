"""A worker whose agent crashes says so and stops; it never spins while looking healthy."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.broker import start_broker
from streams.health import Health
from streams.kafka_io import produce
from streams.metrics import Metrics


@pytest.mark.broker
def test_a_crashed_agent_stops_the_worker_with_exit_code_1(stream_env: Any) -> None:
    w = stream_env.start_worker()
    assert w.stats()["messages"] == 0
    # A delta message no ingest could have written: the windows agent fails on it.
    produce(stream_env.settings, [b"\x00 not a delta message"], topic=stream_env.settings.topic_deltas)
    try:
        code = w.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker kept running after its agent crashed:\n{w.log.read_text()[-3000:]}")
    log = w.log.read_text()
    assert code == 1, log[-3000:]
    assert "agent windows crashed" in log


def test_health_goes_unready_counts_the_crash_and_stops_once() -> None:
    metrics = Metrics(CollectorRegistry())
    stopped: list[BaseException] = []
    health = Health(metrics, stop=stopped.append)
    assert not health.ready and metrics.registry.get_sample_value("earlywarn_worker_ready") == 0  # not in its group yet
    health.joined()
    assert health.report() == {"ready": True, "problem": None, "broker_up": True, "redis_up": True}
    assert metrics.registry.get_sample_value("earlywarn_worker_ready") == 1

    class Agent:
        name = "streams.app.windows"

    first, second = ValueError("bad input"), KeyError("x")
    asyncio.run(health.agent_failed(Agent(), first))
    asyncio.run(health.agent_failed(Agent(), second))
    assert health.report() == {"ready": False, "problem": "agent windows crashed: ValueError", "broker_up": True,
                               "redis_up": True}
    assert metrics.registry.get_sample_value("earlywarn_worker_ready") == 0
    assert metrics.registry.get_sample_value("earlywarn_agent_crashes_total", {"agent": "windows"}) == 2
    assert stopped == [first]


def test_redis_down_is_told_and_counted_but_the_worker_stays_ready() -> None:
    import redis

    metrics = Metrics(CollectorRegistry())
    health = Health(metrics)
    health.joined()
    for _ in range(3):
        health.redis.failed("write", redis.ConnectionError("refused"))
    assert health.ready and health.report()["redis_up"] is False
    assert metrics.registry.get_sample_value("earlywarn_redis_up") == 0
    assert metrics.registry.get_sample_value("earlywarn_redis_errors_total", {"operation": "write"}) == 3
    health.redis.answered()
    assert health.report()["redis_up"] is True and metrics.registry.get_sample_value("earlywarn_redis_up") == 1


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.broker
def test_a_broker_that_goes_away_makes_the_worker_unready_and_sigterm_still_stops_it(
        new_stream_env: Any, tmp_path: Any) -> None:
    own = start_broker(log_dir=str(tmp_path))  # a broker of this test's own, to kill
    env = new_stream_env()
    env.settings = env.settings.with_(broker=own.bootstrap)
    try:
        w = env.start_worker()
        deadline = time.monotonic() + 60
        while _health(w.settings.web_port)[0] != 200:  # ready once it has its partitions and the broker answers
            assert time.monotonic() < deadline, w.log.read_text()[-3000:]
            time.sleep(0.5)
        own.stop()
        gone = time.monotonic()
        while (status := _health(w.settings.web_port))[0] != 503:
            assert time.monotonic() - gone < 20, f"still {status} 20 s after the broker went away"
            time.sleep(0.5)
        assert status[1]["broker_up"] is False and status[1]["ready"] is False
        with urllib.request.urlopen(f"http://127.0.0.1:{w.settings.web_port}/metrics", timeout=3) as r:
            assert "earlywarn_broker_up 0.0" in r.read().decode()
        w.process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        w.process.wait(timeout=30)
        assert time.monotonic() - stopped < 15, "SIGTERM with the broker gone took too long"
    finally:
        own.stop()
