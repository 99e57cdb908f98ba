"""The desk against the machine's Redis (a key prefix of each test's own, deleted after) and,
for inspection tasks and the consumer, the embedded broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from desk.actions import KafkaTaskPublisher
from desk.app import create_app
from desk.auth import Auth, User
from desk.settings import DeskSettings, from_env
from desk.store import AlertStore
from tests.test_alerts.conftest import REDIS_URL, redis_prefix  # noqa: F401 - the fixture, shared with notify's

PASSWORD = "correct horse battery"


def event(n: int = 1, **over: Any) -> dict[str, Any]:
    """An alert-contract-v1 event; *over* replaces fields."""
    ev: dict[str, Any] = {
        "alert_id": f"ew-{n:024x}", "schema_version": "1", "type": "group_dispute", "status": "open",
        "severity": "warning", "subject": {"dimension": "firm", "key": f"9131011{n:011d}", "label": f"某健身{n}号店"},
        "district_code": "310115", "window_start": "2025-03-04T09:00:00+08:00",
        "window_end": "2025-03-04T10:00:00+08:00", "raised_at": f"2025-03-04T10:{n % 60:02d}:00+08:00",
        "observed": 14, "expected": 1.5, "score": 0.99, "distinct_complainants": 13,
        "ticket_ids": [f"T{n}-{i}" for i in range(5)], "top_terms": ["退卡", "闭店"],
        "summary": f"【群体纠纷预警·较重】“某健身{n}号店”（浦东新区）有13名消费者反映问题。",
    }
    ev.update(over)
    return ev


@pytest.fixture
def rds(redis_prefix: str) -> Iterator[tuple[redis.Redis, str]]:
    """The machine's Redis and a prefix of this test's own (notify's fixture deletes its keys after)."""
    client = redis.Redis.from_url(REDIS_URL)
    yield client, redis_prefix
    client.close()


@pytest.fixture
def store(rds: tuple[redis.Redis, str]) -> AlertStore:
    client, prefix = rds
    return AlertStore(client, f"{prefix}:desk")


@dataclass
class DeskEnv:
    settings: DeskSettings
    client: redis.Redis
    app: Any
    store: AlertStore
    auth: Auth

    def user(self, name: str, role: str = "officer", districts: tuple[str, ...] = ()) -> tuple[User, str]:
        """A user and a bearer token of theirs."""
        u = self.auth.add_user(name, PASSWORD, role, districts, display=name)
        return u, self.auth.issue_token(u, "test")


def make_env(rds: tuple[redis.Redis, str], broker: str = "127.0.0.1:1", **over: Any) -> DeskEnv:
    client, prefix = rds
    settings = from_env({}, redis_url=REDIS_URL, prefix=f"{prefix}:desk", notify_prefix=f"{prefix}:notify",
                        consume=False, broker=broker, topic_inspection=f"{prefix.replace(':', '-')}-inspection",
                        topic_alerts=f"{prefix.replace(':', '-')}-alerts",
                        topic_inspection_results=f"{prefix.replace(':', '-')}-results",
                        topic_inspection_results_deadletter=f"{prefix.replace(':', '-')}-results-dl", login_attempts=3,
                        hash_time_cost=1, hash_memory_kib=8192, **over)  # real Argon2id, test-sized
    app = create_app(settings, client, KafkaTaskPublisher(settings.broker, settings.topic_inspection, timeout=20))
    return DeskEnv(settings, client, app, app.state.ctx.store, app.state.ctx.auth)


@pytest.fixture
def env(rds: tuple[redis.Redis, str]) -> DeskEnv:
    return make_env(rds)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LiveServer:
    """The desk served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from streams.broker import free_port

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the desk did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)
