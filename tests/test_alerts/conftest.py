"""Real loopback receivers (an HTTP server that fails its first N requests, an SMTP
server) and a private Redis key space per test."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

REDIS_URL = os.environ.get("EARLYWARN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Hook:
    """An HTTP receiver on a free loopback port: answers *fail_status* to the first *fail_first* POSTs."""

    fail_first: int = 0
    fail_status: int = 503
    answer: bytes = b"{}"
    delay: float = 0.0  # seconds each answer takes
    requests: list[dict[str, Any]] = field(default_factory=list)
    seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Hook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.seen += 1
                    failing = hook.seen <= hook.fail_first
                    if not failing:
                        hook.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "json": json.loads(body)})
                time.sleep(hook.delay)
                self.send_response(hook.fail_status if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}" if failing else hook.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["json"] for r in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook().start()
    yield h
    h.stop()


@pytest.fixture
def smtp() -> Iterator[Any]:
    """An aiosmtpd server on a free loopback port; ``.messages`` holds what it received."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Keep(Message):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.messages.append(message)

    from streams.broker import free_port

    handler = Keep()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    ctl.messages = handler.messages  # type: ignore[attr-defined]
    yield ctl
    ctl.stop()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis; its keys are deleted after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {REDIS_URL}: start one with "
                    "`redis-server --daemonize yes --port 6379 --save '' --appendonly no`")
    prefix = f"ewtest:{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


def event(n: int = 1, **over: Any) -> dict[str, Any]:
    """An alert-contract-v1 event; *over* replaces fields (``subject`` may be a label for a firm)."""
    ev: dict[str, Any] = {
        "alert_id": f"ew-{n:024x}", "schema_version": "1", "type": "group_dispute", "status": "open",
        "severity": "warning", "subject": {"dimension": "firm", "key": f"firm-{n}", "label": f"某健身{n}号店"},
        "district_code": "310115", "window_start": "2025-03-04T09:00:00+08:00",
        "window_end": "2025-03-04T10:00:00+08:00", "raised_at": "2025-03-04T10:00:00+08:00",
        "observed": 14, "expected": 1.5, "score": 0.99, "distinct_complainants": 13,
        "ticket_ids": [f"T{n}-{i}" for i in range(5)], "top_terms": ["退卡", "闭店"],
        "summary": f"【群体纠纷预警·较重】“某健身{n}号店”（浦东新区）有13名消费者反映问题。",
    }
    ev.update(over)
    return ev


@dataclass
class RedisServer:
    """A redis-server of a test's own on a free loopback port, to stop and start again on the same port.

    *appendonly*: keep the data across a restart in an append-only file, as production runs
    it (compose: ``--appendonly yes``); Redis writes a command to the file before it answers,
    so a SIGKILL loses nothing it acknowledged. Without it a restarted server is empty.
    """

    dir: Any
    appendonly: bool = True
    port: int = 0
    process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import shutil
        import subprocess

        import redis

        from streams.broker import free_port

        self.port = self.port or free_port()
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not on PATH (Debian: apt-get install redis-server)")
        log = open(f"{self.dir}/redis-{self.port}.log", "ab")  # noqa: SIM115 - the server's, kept open
        self.process = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec"],
            stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:  # not listening yet, or still loading its data
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server on {self.port} did not start") from None
                time.sleep(0.05)
        client.close()
        return self

    def kill(self) -> None:
        """The outage: SIGKILL, no shutdown of any kind."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def own_redis(tmp_path: Any) -> Iterator[RedisServer]:
    """A redis-server of this test's own, append-only (see :class:`RedisServer`)."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()
