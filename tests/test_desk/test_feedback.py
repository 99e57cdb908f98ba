"""Staff verdicts: exported by `earlywarn eval --feedback` as labelled outcomes, and precision as staff see it
on /metrics (by type, bounded labels), over real Redis."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.test_desk.conftest import REDIS_URL, DeskEnv, bearer, event

pytestmark = pytest.mark.redis


def scrape(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = api.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in text_string_to_metric_families(text)
            for s in fam.samples if s.name in {"earlywarn_desk_verdicts", "earlywarn_desk_staff_precision"}}


def test_verdicts_are_exported_and_make_precision_as_staff_see_it(env: DeskEnv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    events = [event(1), event(2), event(3), event(4), event(5, type="concentrated_demand"),
              event(6, type="a_type_from_a_later_version"), event(7)]
    env.store.apply(events)
    ids = [e["alert_id"] for e in events]
    _, token = env.user("li", "officer")
    marks = [(0, "true", ""), (1, "false", ""), (2, "true", ""), (3, "duplicate", ids[0]), (4, "true", ""),
             (5, "false", ""), (1, "true", "")]  # the last changes alert 2's verdict: false -> true
    with TestClient(env.app) as api:
        assert scrape(api) == {}  # nothing marked: no series at all
        for i, verdict, dup in marks:
            r = api.post(f"/api/alerts/{ids[i]}/verdict", headers=bearer(token),
                         json={"verdict": verdict, "reason": f"核实{i}", "duplicate_of": dup})
            assert r.status_code == 200, r.text
        got = scrape(api)
    assert got[("earlywarn_desk_staff_precision", (("type", "group_dispute"),))] == 1.0  # 3 true, 0 false
    assert got[("earlywarn_desk_staff_precision", (("type", "concentrated_demand"),))] == 1.0
    assert got[("earlywarn_desk_staff_precision", (("type", "other"),))] == 0.0  # an unknown type: bounded
    assert got[("earlywarn_desk_verdicts", (("type", "group_dispute"), ("verdict", "duplicate")))] == 1
    assert got[("earlywarn_desk_verdicts", (("type", "group_dispute"), ("verdict", "true")))] == 3
    assert got[("earlywarn_desk_verdicts", (("type", "group_dispute"), ("verdict", "false")))] == 0
    assert {labels for name, labels in got if name == "earlywarn_desk_staff_precision"} == {
        (("type", "group_dispute"),), (("type", "concentrated_demand"),), (("type", "other"),)}

    out = tmp_path / "feedback.jsonl"
    run = subprocess.run([sys.executable, "-m", "earlywarn", "eval", "--feedback", str(out)], capture_output=True,
                         text=True, timeout=120,
                         env={**os.environ, "EARLYWARN_REDIS_URL": REDIS_URL, "EARLYWARN_DESK_PREFIX": env.settings.prefix})
    assert run.returncode == 0, run.stderr
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(r["alert_id"], r["label"]) for r in rows] == [
        (ids[0], "true"), (ids[2], "true"), (ids[3], "duplicate"), (ids[4], "true"), (ids[5], "false"),
        (ids[1], "true")]  # in the order last marked
    assert rows[2]["duplicate_of"] == ids[0] and rows[0]["reason"] == "核实0" and rows[0]["by"] == "li"
    assert rows[0]["feedback_version"] == "1" and rows[0]["type"] == "group_dispute"
    assert rows[0]["first_raised_at"] == events[0]["raised_at"] and rows[0]["subject"] == events[0]["subject"]
    assert rows[0]["marked_at"].endswith("+08:00")
    assert "6 marked alerts" in run.stderr
    assert [line.split() for line in run.stderr.splitlines() if line.startswith("group_dispute")] == [
        ["group_dispute", "3", "0", "1", "1.000"]]
