"""Input out of time order is counted and reported, and detect warns when most of it came late
(issue 16, item 5)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from earlywarn.cli import main
from earlywarn.detect import DetectStats, detect
from earlywarn.evalrun import reorder
from earlywarn.simulate import SimConfig, generate
from streams.settings import from_env


@pytest.fixture(scope="module")
def tickets() -> list[dict]:
    t, _ = generate(SimConfig(seed=6, days=8, tickets_per_day=400))
    return list(t)


def stats_of(tickets: list[dict], workers: int = 0) -> DetectStats:
    stats = DetectStats()
    list(detect([orjson.dumps(t) for t in tickets], from_env().with_throwaway_secret(), stats=stats,
                workers=workers, batch=200))
    return stats


def test_in_order_input_has_nothing_late(tickets: list[dict]) -> None:
    s = stats_of(tickets)
    assert (s.out_of_order, s.late) == (0, 0) and not s.mostly_late()


def test_a_file_in_source_order_is_counted_late_and_the_same_with_workers(tickets: list[dict]) -> None:
    grouped = reorder(tickets)  # per-district files concatenated
    s = stats_of(grouped)
    assert s.late > len(tickets) / 2 and s.out_of_order >= s.late and s.mostly_late()
    two = stats_of(grouped, workers=2)
    assert (two.out_of_order, two.late, two.nobody) == (s.out_of_order, s.late, s.nobody)


def test_detect_warns_loudly_and_says_what_to_do(tickets: list[dict], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EARLYWARN_PSEUDONYM_SECRET", "x")
    src = tmp_path / "source-order.jsonl"
    src.write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in reorder(tickets)))
    assert main(["detect", str(src), "--workers", "0"]) == 0
    err = capsys.readouterr().err
    assert "WARNING" in err and "late" in err
    assert "Sort the input by received_at" in err and "EARLYWARN_LATENESS_SECONDS" in err
    assert "tickets with no identity" in err
