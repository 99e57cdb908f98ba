"""A worker whose agent crashes says so and stops; it never spins while looking healthy."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

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
    assert health.report() == {"ready": True, "problem": None}
    assert metrics.registry.get_sample_value("earlywarn_worker_ready") == 1

    class Agent:
        name = "streams.app.windows"

    first, second = ValueError("bad input"), KeyError("x")
    asyncio.run(health.agent_failed(Agent(), first))
    asyncio.run(health.agent_failed(Agent(), second))
    assert health.report() == {"ready": False, "problem": "agent windows crashed: ValueError"}
    assert metrics.registry.get_sample_value("earlywarn_worker_ready") == 0
    assert metrics.registry.get_sample_value("earlywarn_agent_crashes_total", {"agent": "windows"}) == 2
    assert stopped == [first]
