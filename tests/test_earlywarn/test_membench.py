"""``earlywarn memory-bench``'s measurement of offline ``detect``: the child's own peak, not its parent's."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from earlywarn.membench import _detect_peak_kb, _status_kb
from earlywarn.simulate import SimConfig, generate
from streams.settings import from_env


def test_detect_peak_is_the_childs_not_the_bench_process_memory(tmp_path: Path) -> None:
    # The bench holds every simulated ticket while it runs detect. A child's ru_maxrss
    # starts from its parent's resident memory at the fork (Linux keeps it across exec),
    # so with a fat parent it reported the parent's size: 2.3 GB for a detect of 0.4 GB.
    tickets, _ = generate(SimConfig(seed=3, days=1.0, tickets_per_day=200))
    lines = tmp_path / "tickets.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in tickets))
    ballast = bytearray(600 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # resident, not just reserved
    here = _status_kb(os.getpid(), "VmRSS")
    assert here > 600 * 1024
    peak = _detect_peak_kb(lines, from_env().with_throwaway_secret())
    del ballast
    assert 50 * 1024 < peak < here - 300 * 1024
