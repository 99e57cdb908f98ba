"""``earlywarn desk-bench`` runs end to end (small) and leaves no keys behind."""

from __future__ import annotations

import pytest
import redis

from earlywarn.cli import main
from tests.test_alerts.conftest import REDIS_URL

pytestmark = pytest.mark.redis


def test_desk_bench_small(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARLYWARN_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("EARLYWARN_DESK_HASH_MEMORY_KIB", "8192")
    assert main(["desk-bench", "--alerts", "60", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert "60 alerts stored" in out and "console alert page" in out
    assert not list(redis.Redis.from_url(REDIS_URL).scan_iter("earlywarn:deskbench:*"))


def test_desk_bench_tickets_small(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARLYWARN_REDIS_URL", REDIS_URL)
    assert main(["desk-bench", "--tickets", "300", "--repeat", "3"]) == 0
    out = capsys.readouterr().out
    assert "300 tickets stored" in out and "B a ticket" in out and "at 20,000 tickets a day kept 7 days" in out
    assert not list(redis.Redis.from_url(REDIS_URL).scan_iter("earlywarn:deskbench:*"))
