"""GET /api/boards/...: the top-10 boards in Redis served as JSON, equal to a brute-force recount."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alerts.boards import RedisBoards
from detectors.boards import CITY
from tests.test_desk.conftest import DeskEnv, bearer
from tests.test_detectors.test_boards import board_tickets, brute

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def month() -> list:
    return board_tickets(seed=12, days=20)


@pytest.fixture
def api(env: DeskEnv, month: list, redis_prefix: str) -> Iterator[TestClient]:
    RedisBoards(env.client, f"{redis_prefix}:boards").add(month)
    env.app.state.boards_prefix = f"{redis_prefix}:boards"
    with TestClient(env.app) as client:
        yield client


@pytest.mark.parametrize(("kind", "period", "scope", "dim"), [
    ("day", "2025-03-04", CITY, "firm"), ("week", "2025-W10", "310115", "product"),
    ("month", "2025-03", CITY, "term"), ("quarter", "2025-Q1", "310104", "issue"),
])
def test_a_board_is_the_recount(api: TestClient, env: DeskEnv, month: list, kind: str, period: str, scope: str,
                                dim: str) -> None:
    _, token = env.user("wang", "viewer")
    r = api.get(f"/api/boards/{kind}/{scope}/{dim}", params={"period": period}, headers=bearer(token))
    assert r.status_code == 200, r.text
    want = sorted(brute(month, kind, period, scope, dim).items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert want and [(x["key"], x["count"]) for x in r.json()["items"]] == want


def test_the_period_of_a_time_and_the_refusals(api: TestClient, env: DeskEnv) -> None:
    _, token = env.user("wang", "viewer")
    _, local = env.user("li", "viewer", districts=("310115",))
    h = bearer(token)
    by_at = api.get("/api/boards/week/city/firm", params={"at": "2025-03-05T09:00:00+08:00"}, headers=h).json()
    assert by_at == api.get("/api/boards/week/city/firm", params={"period": "2025-W10"}, headers=h).json()
    assert api.get("/api/boards/year/city/firm", headers=h).status_code == 404
    assert api.get("/api/boards/day/310999/firm", headers=h).status_code == 404
    assert api.get("/api/boards/day/city/phone", headers=h).status_code == 404
    assert api.get("/api/boards/week/city/firm", params={"period": "2025-W99"}, headers=h).status_code == 422
    assert api.get("/api/boards/day/city/firm").status_code == 401
    assert api.get("/api/boards/day/city/firm", headers=bearer(local)).status_code == 403
    assert api.get("/api/boards/day/310115/firm", params={"period": "2025-03-04"},
                   headers=bearer(local)).status_code == 200
