"""``earlywarn detect`` with EARLYWARN_FIRMS=on: abnormal_firm alerts in contract v1 beside the engine's
alerts, which stay as they were; the same with worker processes; off by default."""

from __future__ import annotations

import orjson
import pytest

from earlywarn.detect import detect
from earlywarn.evalfirms import scenario
from earlywarn.simulate import Simulation
from schemas.alerts import alert_from_dict, check
from streams.settings import from_env

SECRET = "s" * 32


def test_detect_raises_abnormal_firm_alerts_beside_the_engines() -> None:
    sim = Simulation(scenario(7, days=30, per_day=300, n=1))
    lines = [orjson.dumps(t) for t in sim.tickets()]
    on = list(detect(lines, from_env({"EARLYWARN_PSEUDONYM_SECRET": SECRET, "EARLYWARN_FIRMS": "on"})))
    off = list(detect(lines, from_env({"EARLYWARN_PSEUDONYM_SECRET": SECRET})))
    firms = [a for a in on if a["type"] == "abnormal_firm"]
    assert [a for a in on if a["type"] != "abnormal_firm"] == off  # the engine's alerts are untouched
    assert not any(a["type"] == "abnormal_firm" for a in off)  # off by default
    positives = {c.firm_keys[0] for c in sim.firm_cases if c.abnormal}
    assert positives <= {a["subject"]["key"] for a in firms}
    raised = [a["raised_at"] for a in on]
    assert raised == sorted(raised)  # told in event-time order among the others
    for a in firms:
        assert check(alert_from_dict(a)) == [], a
        assert a["subject"]["dimension"] == "firm" and 0 < len(a["ticket_ids"]) <= 200 and a["firms"] == 1
        assert "异常涉诉企业提示" in a["summary"] and "件/" in a["top_terms"][0]
    opened = [a for a in firms if a["status"] == "open"]
    assert len({a["alert_id"] for a in opened}) == len(opened)  # one episode, one id
    forked = list(detect(lines, from_env({"EARLYWARN_PSEUDONYM_SECRET": SECRET, "EARLYWARN_FIRMS": "on"}), workers=2))
    assert forked == on

