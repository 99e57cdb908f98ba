"""Shared fixtures: the embedded broker, and stream workers run as real subprocesses."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams import deadletter
from streams.broker import EmbeddedBroker, free_port, start_broker, stop_process
from streams.settings import Settings, environment, from_env

_ids = itertools.count(1)
# Workers and detect refuse to run without a pseudonym secret; the tests' pseudonyms mean nothing.
os.environ.setdefault("EARLYWARN_PSEUDONYM_SECRET", "tests-only-secret-" + os.urandom(8).hex())


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    b = start_broker()
    yield b
    b.stop()


@dataclass
class Worker:
    settings: Settings
    process: subprocess.Popen[bytes]
    log: Path

    def stats(self) -> dict:
        url = f"http://127.0.0.1:{self.settings.web_port}/stats/"
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())

    def wait_stats(self, pred, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                last = self.stats()
                if pred(last):
                    return last
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"worker stats never matched; last {last}\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class StreamEnv:
    """A private set of topics and a consumer group on the shared broker, and its workers."""

    settings: Settings
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    def spawn_worker(self, argv: list[str] | None = None, data: str = "") -> Worker:
        """A worker process, started but perhaps not serving yet (*argv*: another command line
        that runs one, e.g. with a fault injected; *data*: its data directory's name, by
        default one of its own)."""
        s = self.settings.with_(web_port=free_port(), data_dir=str(self.tmp / (data or f"data-{len(self.workers)}")))
        log = self.tmp / f"worker-{len(self.workers)}.log"
        proc = subprocess.Popen(argv or [sys.executable, "-m", "earlywarn", "worker"], env=environment(s),
                                stdout=log.open("wb"), stderr=subprocess.STDOUT)
        w = Worker(s, proc, log)
        self.workers.append(w)
        return w

    def start_worker(self, data: str = "") -> Worker:
        w = self.spawn_worker(data=data)
        w.wait_stats(lambda st: True, timeout=60)
        return w

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


@pytest.fixture(scope="session")
def new_stream_env(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A factory of private stream environments (own topics and group) on the shared broker."""
    made: list[StreamEnv] = []

    def make() -> StreamEnv:
        n = next(_ids)
        prefix = f"t{os.getpid()}-{n}"
        settings = from_env({}, broker=broker.bootstrap).with_throwaway_secret().with_(
            app_id=f"ew-{prefix}",
            topic_tickets=f"{prefix}-tickets",
            topic_deadletter=f"{prefix}-tickets.deadletter",
            topic_alerts=f"{prefix}-alerts",
            topic_inspection=f"{prefix}-inspection.tasks",
            topic_deltas=f"{prefix}-deltas",
            topic_decisions=f"{prefix}-decisions",
            ticket_partitions=4,
            partitions=4,
            # Test-sized timing: quick group joins, quick idle detection and flushes.
            session_timeout=10.0,
            rebalance_timeout=10.0,
            idle_seconds=3.0,
            flush_seconds=1.0,
            deadletter_key=deadletter.new_key(),
            log_level="warn",
        )
        env = StreamEnv(settings, tmp_path_factory.mktemp(prefix))
        made.append(env)
        return env

    yield make
    for env in made:
        env.stop()


@pytest.fixture
def stream_env(new_stream_env) -> StreamEnv:  # type: ignore[no-untyped-def]
    return new_stream_env()
