"""``earlywarn recovery-bench``: how long a worker takes to start over K keys of state, memory:// against rocksdb://.

A worker's window state is a table of key states (a firm, a firm's issue, a product, a
district, a term, ...) kept in a changelog topic. Started with ``memory://`` a worker
reads the whole changelog back on every start; with ``rocksdb://`` it keeps the table on
disk and reads back only what the changelog gained since it last wrote.

The bench runs one real worker over ``--tickets`` simulated tickets (real key states
of every kind), then adds copies of those states under new keys to the state changelog
until it holds ``--keys`` window keys, as a deployment holds after ``EARLYWARN_FORGET_DAYS``
(90) days. Then it times, from the process start to the moment the worker has recovered
every key (its ``earlywarn_engine_keys`` gauge appears once the tables are recovered):

* a worker with ``memory://`` (every start or restart reads the whole changelog);
* a worker with ``rocksdb://`` on an empty data directory (its first start: the same);
* the same ``rocksdb://`` worker restarted on its data directory (SIGTERM, then start).

and prints each time and how many changelog records each read (``/stats``). The times
include the process start (imports, the segmenter): the last line is a worker started
over an empty table, for reference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from earlywarn.membench import engine_keys
from streams.broker import CONNECT_TIMEOUT, broker_at, free_port, stop_process
from streams.checkpoint import stored
from streams.kafka_io import ensure_topics, produce, producer, read_topic
from streams.routing import router
from streams.settings import Settings, environment, from_env
from streams.windows import BOOKKEEPING_PREFIX


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return bytes(r.read())


class _Worker:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "earlywarn", "worker"], env=environment(settings),
                                     stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self.log = log

    def _url(self, page: str) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}/{page}"

    def wait(self, pred: Any, what: str, timeout: float = 3600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited; see {self.log}")
            try:
                st = dict(orjson.loads(_get(self._url("stats/"))))
                text = _get(self._url("metrics")).decode()
                st["keys"], st["recovered"] = engine_keys(text), "earlywarn_engine_keys{" in text
            except OSError:
                time.sleep(0.2)
                continue
            if pred(st):
                st["seconds"] = time.monotonic() - self.started
                return st
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not {what} within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        self.proc.terminate()
        if self.proc.wait(timeout=120) != 0:
            raise RuntimeError(f"the worker did not stop cleanly; see {self.log}")

    def kill(self) -> None:
        stop_process(self.proc, timeout=20)


def _state_changelog(settings: Settings) -> str:
    return f"{settings.app_id}-{settings.app_id}-state-changelog"


def _add_keys(settings: Settings, keys: int) -> tuple[int, int]:
    """Copy the state changelog's window key states under new keys until it holds *keys*;
    returns (window keys found, bytes of an average state)."""
    topic = _state_changelog(settings)
    latest: dict[bytes, bytes] = {}
    for k, v in read_topic(settings, topic, idle=3.0, timeout=600):
        if k is not None and not k.startswith(BOOKKEEPING_PREFIX):
            latest[k] = v
    # Not deleted since; copied untagged (streams.checkpoint): a copy is applied at once,
    # as if each were a commit of its own, not held for a marker that never comes.
    latest = {k: stored(v) for k, v in latest.items() if v is not None}
    found = len(latest)
    if not found:
        raise RuntimeError("the seeding worker left no key states")
    route = router(settings.partitions)
    states = list(latest.items())
    prod = producer(settings)
    try:
        last: dict[int, tuple[bytes, bytes]] = {}
        for i in range(max(0, keys - found)):
            k, v = states[i % found]
            key = f"{k.decode()}#copy{i}"
            p = route(key)
            prod.send(topic, key=key.encode(), value=v, partition=p)
            last[p] = (key.encode(), v)
        prod.flush()
        # Each partition's last record once more, alone: the embedded broker tells the end of
        # a partition as the start of its last record batch plus one (streams.checkpoint).
        for p, (key, v) in last.items():
            prod.send(topic, key=key, value=v, partition=p)
            prod.flush()
    finally:
        prod.close()
    return found, sum(map(len, latest.values())) // found


def run(tickets: int, keys: int, *, bootstrap: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT) -> dict[str, Any]:
    from earlywarn.simulate import SimConfig, generate

    tmp = Path(tempfile.mkdtemp(prefix="earlywarn-recoverybench-"))
    with broker_at(bootstrap, str(tmp)) as bootstrap:
        stamp = time.time_ns()
        base = from_env({}, broker=bootstrap).with_(
            app_id=f"recoverybench-{stamp}", topic_tickets=f"recoverybench-{stamp}-tickets",
            topic_deadletter=f"recoverybench-{stamp}-dead", topic_alerts=f"recoverybench-{stamp}-alerts",
            topic_inspection=f"recoverybench-{stamp}-inspection", topic_deltas=f"recoverybench-{stamp}-deltas",
            topic_decisions=f"recoverybench-{stamp}-decisions", session_timeout=10.0, rebalance_timeout=10.0,
            log_level="error").with_throwaway_secret()
        ensure_topics(base, connect_timeout)

        def worker(store: str, data: str, log: str) -> _Worker:
            s = base.with_(store=store, data_dir=str(tmp / data), web_port=free_port())
            return _Worker(s, tmp / f"{log}.log")

        sim, _ = generate(SimConfig(seed=11, days=max(1.0, tickets / 20000), tickets_per_day=20000))
        lines = [orjson.dumps(t) for _, t in zip(range(tickets), sim)]
        print(f"recovery-bench: seeding the state with {len(lines):,} tickets …", file=sys.stderr)
        produce(base, iter(lines))
        seed = worker("memory://", "seed", "seed")
        try:
            seed.wait(lambda st: st["tickets"] >= len(lines) and st["deltas_applied"] >= st["delta_messages"] > 0,
                      "take the tickets")
            seed.stop()
        finally:
            seed.kill()
        found, state_bytes = _add_keys(base, keys)
        print(f"recovery-bench: {found:,} key states from the tickets (~{state_bytes:,} bytes each), "
              f"copied to {max(keys, found):,} keys", file=sys.stderr)
        total = max(keys, found)
        out: dict[str, Any] = {"keys": total, "keys_from_tickets": found, "state_bytes": state_bytes, "runs": {}}

        def timed(name: str, w: _Worker, stop: bool = True) -> None:
            print(f"recovery-bench: {name} …", file=sys.stderr)
            try:
                # The gauge appears once the tables are recovered (streams.app, state_recovered).
                st = w.wait(lambda st: st["recovered"], "recover its tables")
                out["runs"][name] = {"seconds": st["seconds"], "records_read": st["changelog_records_read"],
                                     "keys": st["keys"]}
                if stop:
                    w.stop()
            finally:
                w.kill()

        timed("memory:// (every start)", worker("memory://", "memory", "memory"))
        timed("rocksdb://, first start", worker("rocksdb://", "rocksdb", "rocksdb-1"))
        timed("rocksdb://, restart", worker("rocksdb://", "rocksdb", "rocksdb-2"))
        w = _Worker(base.with_(app_id=f"recoverybench-empty-{stamp}", data_dir=str(tmp / "empty"),
                               web_port=free_port()), tmp / "empty.log")
        try:
            st = w.wait(lambda st: st["recovered"], "recover its (empty) tables")
            out["empty_start_seconds"] = st["seconds"]
        finally:
            w.kill()
        return out


def main(args: argparse.Namespace) -> int:
    res = run(args.tickets, args.keys, bootstrap=getattr(args, "broker", None),
              connect_timeout=getattr(args, "connect_timeout", CONNECT_TIMEOUT))
    if args.json:
        print(orjson.dumps(res).decode())
        return 0
    print(f"{res['keys']:,} window keys ({res['keys_from_tickets']:,} from the tickets, the rest copies; "
          f"~{res['state_bytes']:,} bytes a state)")
    print(f"{'start':<28}{'seconds to recover':>20}{'changelog records read':>26}{'keys':>10}")
    for name, r in res["runs"].items():
        print(f"{name:<28}{r['seconds']:>20.1f}{r['records_read']:>26,}{r['keys']:>10,}")
    print(f"{'a worker over no state':<28}{res['empty_start_seconds']:>20.1f}")
    return 0


def add_parser(sub: Any, with_broker: Any) -> None:
    sp = with_broker(sub.add_parser("recovery-bench", help="a worker's start over K keys of state: memory:// "
                                                          "against rocksdb://"))
    sp.add_argument("--keys", type=int, default=200000, help="window keys in the state table")
    sp.add_argument("--tickets", type=int, default=20000, help="simulated tickets whose key states are copied")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(func=main)
