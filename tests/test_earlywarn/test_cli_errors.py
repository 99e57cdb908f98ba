"""The command line's failures a user can fix: a line or two saying what and how, no traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

NO_BROKER = ["--broker", "127.0.0.1:1", "--connect-timeout", "1"]  # nothing listens on port 1


def earlywarn(*args: str) -> tuple[int, str, float]:
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "earlywarn", *args], capture_output=True, text=True,
                         timeout=30, stdin=subprocess.DEVNULL)
    return run.returncode, run.stderr, time.monotonic() - start


def told(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, stderr
    assert lines[0].startswith("earlywarn: "), stderr
    return stderr


@pytest.mark.parametrize("command", [
    ["replay", "TICKETS"],
    ["simulate", "--kafka", "--days", "1", "--per-day", "10"],
    ["worker"],
    ["bench", "--tickets", "10"],
], ids=lambda c: c[0] + ("-kafka" if "--kafka" in c else ""))
def test_a_broker_that_does_not_answer_is_named_with_the_fix(command: list[str], tmp_path: Path) -> None:
    tickets = tmp_path / "t.jsonl"
    tickets.write_text("{}\n")
    code, stderr, took = earlywarn(*[str(tickets) if a == "TICKETS" else a for a in command], *NO_BROKER)
    assert code == 1
    assert "no Kafka broker answered at 127.0.0.1:1 within 1s (Connection refused)" in told(stderr)
    assert "--broker or EARLYWARN_BROKER" in stderr
    assert took < 15  # the timeout given, not the Kafka client's 30 s bootstraps


def test_replay_of_a_missing_file_says_so_before_waiting_for_a_broker(tmp_path: Path) -> None:
    code, stderr, _ = earlywarn("replay", str(tmp_path / "nope.jsonl"), "--broker", "127.0.0.1:1",
                                "--connect-timeout", "20")
    assert code == 2
    assert f"{tmp_path / 'nope.jsonl'}: no such file (give a JSONL file of tickets" in told(stderr)


@pytest.mark.parametrize(("args", "option"), [
    (["simulate", "--days", "1", "--per-day", "10", "--out", "DIR/x.jsonl"], "--out"),
    (["simulate", "--days", "1", "--per-day", "10", "--out", "-", "--labels", "DIR/labels.jsonl"], "--labels"),
    (["detect", "-", "--deadletter", "DIR/dead.jsonl"], "--deadletter"),
], ids=["simulate-out", "simulate-labels", "detect-deadletter"])
def test_an_output_file_that_cannot_be_written_is_named(args: list[str], option: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    code, stderr, _ = earlywarn(*[a.replace("DIR", str(missing)) for a in args])
    assert code == 2
    assert f"{missing}/" in told(stderr) and f"({option})" in stderr and "No such file or directory" in stderr


def test_bad_eval_seeds_are_a_usage_error() -> None:
    code, stderr, _ = earlywarn("eval", "--seeds", "one,two")
    assert code == 2 and "Traceback" not in stderr
    assert "argument --seeds: seeds: 'holdout', 'tuning' or a comma list" in stderr
