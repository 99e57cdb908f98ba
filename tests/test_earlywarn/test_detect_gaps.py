"""A feed outage in detect's input is recognised, named at the end, and the same with workers
(issue 16, item 4)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from earlywarn.cli import main
from earlywarn.detect import DetectStats, detect
from earlywarn.evalrun import drop_gap
from earlywarn.simulate import SimConfig, generate
from streams.settings import from_env

START = datetime.fromisoformat(SimConfig().start).timestamp()
LOST = (START + 3.4 * 86400, START + 6.4 * 86400)  # Thursday 09:36 to Sunday 09:36


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    tickets, _ = generate(SimConfig(seed=8, days=8, tickets_per_day=500))
    return [orjson.dumps(t) for t in drop_gap(tickets, *LOST)]


def run(lines: list[bytes], workers: int) -> tuple[list[dict], DetectStats]:
    stats = DetectStats()
    alerts = list(detect(lines, from_env().with_throwaway_secret(), stats=stats, workers=workers, batch=500))
    return alerts, stats


def test_the_outage_is_one_gap_whatever_the_workers(lines: list[bytes]) -> None:
    alerts, stats = run(lines, 0)
    [(lo, hi)] = stats.gaps
    assert LOST[0] <= lo < LOST[0] + 3600 and LOST[1] - 900 <= hi < LOST[1] + 0.5 * 86400  # to the bucket
    two, stats2 = run(lines, 2)
    assert two == alerts and stats2.gaps == stats.gaps


def test_detect_names_the_gap_at_its_end(lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EARLYWARN_PSEUDONYM_SECRET", "x")
    src = tmp_path / "outage.jsonl"
    src.write_bytes(b"".join(line + b"\n" for line in lines))
    assert main(["detect", str(src), "--workers", "0"]) == 0
    err = capsys.readouterr().err
    assert "detect: 1 feed gap(s), 3." in err and "2025-03-06 09:" in err, err
