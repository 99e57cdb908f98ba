"""Offline detection: enrichment in worker processes changes nothing but the speed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from detectors.enrich import Enricher
from earlywarn.detect import DetectStats, detect
from earlywarn.settings import from_env
from earlywarn.simulate import SimConfig, generate


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    tickets, _ = generate(SimConfig(seed=5, days=9, tickets_per_day=700))
    out = [orjson.dumps(t) + b"\n" for t in tickets]
    # Blank lines, bad lines, and a bulk-feed batch (one line, several tickets, one of them bad).
    batch = orjson.dumps([orjson.loads(out[10]), {"ticket_id": "X"}, orjson.loads(out[11])]) + b"\n"
    return [b"\n", *out[:10], b"not json\n", batch, b"   \r\n", *out[12:]]


def run(lines: list[bytes], workers: int,
        batch: int) -> tuple[list[dict[str, Any]], DetectStats, list[tuple[int, str, bytes]]]:
    settings = from_env()
    stats = DetectStats()
    rejected: list[tuple[int, str, bytes]] = []
    alerts = list(detect(iter(lines), settings, batch=batch, stats=stats, workers=workers,
                         enricher=Enricher(settings.pseudonym_secret.encode()),
                         on_reject=lambda n, r, raw: rejected.append((n, r.reason.value, raw))))
    return alerts, stats, rejected


def test_workers_give_the_alerts_stats_and_rejections_one_process_gives(lines: list[bytes]) -> None:
    alone = run(lines, workers=0, batch=300)
    assert alone[0], "the input should raise alerts at all"
    assert alone[1].rejected == 2 and alone[1].lines == len(lines)
    assert [(n, reason) for n, reason, _ in alone[2]] == [(12, "not_json"), (13, "missing_field")]
    assert alone[2][0][2] == b"not json"
    assert run(lines, workers=2, batch=37) == alone  # many small chunks in flight

