"""The live feed over a real HTTP server: server-sent events of new alert events, per district."""

from __future__ import annotations

import threading
import time

import httpx
import orjson
import pytest

from tests.test_desk.conftest import DeskEnv, LiveServer, bearer, event

pytestmark = pytest.mark.redis


def read_events(url: str, token: str, want: int, got: list[dict], ready: threading.Event,
                headers: dict | None = None) -> None:
    with httpx.stream("GET", url + "/api/stream", headers={**bearer(token), **(headers or {})}, timeout=20) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        ready.set()
        for line in r.iter_lines():
            if line.startswith("id: "):
                last = line[4:]
            if line.startswith("data: "):
                got.append({"id": last, **orjson.loads(line[6:])})
                if len(got) >= want:
                    return


def test_new_events_stream_to_whoever_may_see_them(env: DeskEnv) -> None:
    env.store.apply([event(9)])  # already there: not sent again
    _, city = env.user("wang", "viewer")
    _, pudong = env.user("li", "viewer", ("310115",))
    with LiveServer(env.app) as server:
        got_city: list[dict] = []
        got_pudong: list[dict] = []
        threads = []
        for token, got in [(city, got_city), (pudong, got_pudong)]:
            ready = threading.Event()
            t = threading.Thread(target=read_events, args=(server.url, token, 2 if got is got_city else 1, got, ready))
            t.start()
            assert ready.wait(10)
            threads.append(t)
        time.sleep(0.3)
        env.store.apply([event(1, district_code="310101"), event(9)])  # event 9 again: a duplicate, silent
        env.store.apply([event(2)])
        for t in threads:
            t.join(15)
        assert [e["alert_id"] for e in got_city] == [event(1)["alert_id"], event(2)["alert_id"]]
        assert [e["alert_id"] for e in got_pudong] == [event(2)["alert_id"]]
        # Resuming after the first event (Last-Event-ID) gives the rest.
        resumed: list[dict] = []
        read_events(server.url, city, 1, resumed, threading.Event(), {"Last-Event-ID": got_city[0]["id"]})
        assert resumed[0]["alert_id"] == event(2)["alert_id"]
