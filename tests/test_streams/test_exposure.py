"""Beyond its own host a worker's web server answers only /metrics and /health."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from streams.exposure import from_loopback, loopback_only


class _Peer:
    """The transport of a request from *host*: all the middleware reads is the peer's address."""

    def __init__(self, host: str) -> None:
        self.host = host

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.host, 40000) if name == "peername" else default


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@pytest.mark.parametrize(("host", "path", "status"), [
    ("10.1.2.3", "/metrics", 200), ("10.1.2.3", "/health", 200),
    ("10.1.2.3", "/stats/", 403), ("10.1.2.3", "/router/", 403), ("10.1.2.3", "/table/x/", 403),
    ("2001:db8::1", "/router/", 403),
    ("127.0.0.1", "/stats/", 200), ("127.8.9.1", "/router/", 200), ("::1", "/table/x/", 200),
])
def test_only_metrics_and_health_answer_beyond_this_host(host: str, path: str, status: int) -> None:
    request = make_mocked_request("GET", path, transport=_Peer(host))
    response = asyncio.run(loopback_only(request, _ok))
    assert response.status == status


def test_loopback_is_127_8_and_ipv6_one() -> None:
    assert [from_loopback(a) for a in ("127.0.0.1", "127.255.0.9", "::1", "10.0.0.1", "0.0.0.0", None)] == \
        [True, True, True, False, False, False]


@pytest.mark.broker
def test_a_worker_serves_health_and_still_shows_everything_on_loopback(stream_env: Any) -> None:
    w = stream_env.start_worker()
    base = f"http://127.0.0.1:{w.settings.web_port}"
    with urllib.request.urlopen(f"{base}/health/live", timeout=5) as r:
        assert r.status == 200
    deadline = time.monotonic() + 60
    while True:  # ready once its consumer group has given it its partitions
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                assert r.status == 200 and json.loads(r.read()) == {"ready": True, "problem": None, "broker_up": True,
                                                                    "redis_up": True}
                break
        except urllib.error.HTTPError as err:
            assert err.code == 503 and time.monotonic() < deadline
            time.sleep(0.5)
    with urllib.request.urlopen(f"{base}/router/", timeout=5) as r:  # Faust's own page, on loopback
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/no-such-page", timeout=5)
    assert err.value.code == 404
