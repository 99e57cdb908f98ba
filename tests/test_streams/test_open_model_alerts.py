"""The open-alerts gauge of abnormal complainants and firms (raised by the claims partition's
owner) stays right when the alert stage's owner resets every series on recovering its stage."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from detectors.decisions import Decision
from streams.complainants import OpenModelAlerts
from streams.metrics import Metrics
from streams.release import OpenAlerts


def decision(alert_id: str, status: str, severity: str = "info") -> Decision:
    return Decision(alert_id=alert_id, type="abnormal_complainant", status=status, severity=severity,
                    dimension="complainant", key="p_0", label="p_0", district_code=None, window_start=0.0,
                    window_end=1.0, raised_at=1.0, observed=1, expected=0.0, score=1.0, distinct_complainants=1,
                    ticket_ids=(), top_terms=())


def test_a_reset_by_the_alert_stage_never_drives_the_count_wrong_for_long() -> None:
    metrics = Metrics(CollectorRegistry())
    mine, stage = OpenModelAlerts(metrics), OpenAlerts(metrics)

    def gauge(severity: str = "info") -> float | None:
        return metrics.registry.get_sample_value("earlywarn_open_alerts",
                                                 {"type": "abnormal_complainant", "severity": severity})

    mine.event(decision("a", "open"))
    mine.event(decision("b", "open"))
    assert gauge() == 2
    stage.reset({})  # the alert stage's owner recovers its stage: every series it knows set from it
    mine.event(decision("a", "resolved"))
    assert gauge() == 1  # counted down from the reset it would read -1
    mine.event(decision("b", "update", "warning"))  # more severe: moves between series
    assert gauge() == 0 and gauge("warning") == 1
