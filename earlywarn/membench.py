"""``earlywarn memory-bench``: how much memory one real worker takes for N tickets, and where it goes.

It simulates N tickets (``--per-day`` a day, seed 11), sends them to the embedded broker
one per message (as ``earlywarn bench`` does), runs one real ``earlywarn worker`` with the
table store of ``--store`` over them and, sampling the worker's ``/proc`` status every
half second, prints its resident memory when it had joined and before the first ticket
(the baseline: code, libraries, the segmenter), its peak (the kernel's ``VmHWM``) and at
the end, the window keys it holds (``earlywarn_engine_keys``), the peak above the
baseline per key and per thousand tickets, its resident memory as the tickets it took
passed each simulated day (does it level off?), and the peak of offline ``earlywarn detect
--workers 0`` on the same tickets (its own ``VmHWM``). ``--paced R`` sends the tickets at R a second while
the worker runs instead of all before it starts.

``--census N`` prints, at the end, the N types of Python object that hold the most memory in
the worker (every object the garbage collector tracks and what those refer to, sized with
``sys.getsizeof``), after a full collection (the cyclic garbage it freed is counted): where
the memory goes. Memory outside Python objects (RocksDB, the allocator's free lists) is the
peak less their total; untracked dicts' contents and the tables' bytes are not found.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from streams.broker import CONNECT_TIMEOUT, broker_at, free_port, stop_process
from streams.kafka_io import ensure_topics, produce
from streams.settings import Settings, environment, from_env

# The worker with a census of its heap: once a trigger file appears, every object the
# garbage collector tracks and every object those refer to, counted and sized by type,
# goes to a file (Faust's worker takes SIGUSR1 and SIGUSR2 for itself).
_CENSUS = r'''
import collections, gc, os, sys, threading, time
out, n = sys.argv[1], int(sys.argv[2])
def census():
    while not os.path.exists(out + ".go"):
        time.sleep(0.5)
    def rss():
        with open("/proc/self/status") as f:
            return int(next(l.split()[1] for l in f if l.startswith("VmRSS:")))
    before, garbage = rss(), gc.collect()  # cyclic garbage the collector had not yet found
    size, count, seen = collections.Counter(), collections.Counter(), set()
    for o in gc.get_objects():
        for x in [o, *gc.get_referents(o)]:
            if id(x) in seen or (x is not o and gc.is_tracked(x)):
                continue
            seen.add(id(x))
            t = type(x)
            name = f"{t.__module__}.{t.__qualname__}"
            size[name] += sys.getsizeof(x)
            count[name] += 1
    with open(out + ".tmp", "w") as f:
        f.write(f"{sum(size.values())} {sum(count.values())} (every object found)\n")
        f.write(f"0 {garbage} (unreachable objects a full collection freed; resident {before} KiB before, {rss()} after)\n")
        for name, b in size.most_common(n):
            f.write(f"{b} {count[name]} {name}\n")
    sys._debugmallocstats()  # to the worker's log: pymalloc's arenas, blocks in use and free
    os.rename(out + ".tmp", out)
threading.Thread(target=census, daemon=True).start()
from earlywarn.cli import main
sys.exit(main(["worker"]))
'''


def _status_kb(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else 0


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


def engine_keys(metrics_text: str) -> int:
    """The window keys a worker holds, from its ``/metrics`` page (every owned partition's)."""
    return int(sum(float(v) for v in re.findall(r"^earlywarn_engine_keys\{[^}]*\} (\S+)$", metrics_text, re.M)))


def _worker(settings: Settings, tmp: Path, census: int) -> subprocess.Popen[bytes]:
    env = environment(settings)
    log = (tmp / "worker.log").open("wb")
    if census:
        cmd = [sys.executable, "-c", _CENSUS, str(tmp / "census.txt"), str(census)]
    else:
        cmd = [sys.executable, "-m", "earlywarn", "worker"]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stats(settings: Settings) -> dict[str, Any] | None:
    try:
        return dict(orjson.loads(_get(f"http://127.0.0.1:{settings.web_port}/stats/")))
    except OSError:
        return None


def _run_worker(settings: Settings, n: int, tmp: Path, census: int,
                send: threading.Thread | None) -> dict[str, Any]:
    proc = _worker(settings, tmp, census)
    out: dict[str, Any] = {"baseline_kb": 0, "samples": []}
    try:
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited; see {tmp / 'worker.log'}")
            st = _stats(settings)
            rss = _status_kb(proc.pid, "VmRSS")
            if st is not None:
                if not st["tickets"]:
                    out["baseline_kb"] = rss  # the last sample before the first ticket
                    if send is not None:
                        send.start()
                        send = None
                out["samples"].append((st["tickets"], rss))
                if st["tickets"] >= n and st["deltas_applied"] >= st["delta_messages"] > 0:
                    time.sleep(2 * settings.flush_seconds + 1)  # a flush or two after the last ticket
                    out["final_kb"] = _status_kb(proc.pid, "VmRSS")
                    out["peak_kb"] = _status_kb(proc.pid, "VmHWM")
                    out["keys"] = engine_keys(_get(f"http://127.0.0.1:{settings.web_port}/metrics").decode())
                    out["stats"] = _stats(settings)
                    if census:
                        (tmp / "census.txt.go").touch()
                        out["census"] = _read_census(tmp / "census.txt")
                    return out
            time.sleep(0.5)
        raise RuntimeError("the worker did not finish within an hour")
    finally:
        stop_process(proc, timeout=20)


def _read_census(path: Path) -> list[str]:
    for _ in range(600):  # a snapshot of a big heap takes a while
        time.sleep(1)
        if path.exists():
            return path.read_text().splitlines()
    raise RuntimeError("the worker wrote no census")


# ``earlywarn detect`` writing its own peak (``VmHWM``) to a file as it exits. Not the
# child's ``ru_maxrss``: a child started from this process reports at least this process's
# resident memory as it was at the fork (Linux keeps the larger of the memory given up at
# ``exec`` and the new program's), and this one holds every simulated ticket: 2.3 GB for
# 270,000 were reported as detect's, which itself peaked at a fifth of that.
_DETECT = r'''
import atexit, re, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as f:
        kb = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1)
    with open(out, "w") as f:
        f.write(kb)
atexit.register(peak)
from earlywarn.cli import main
sys.exit(main(sys.argv[1:]))
'''


def _detect_peak_kb(lines_file: Path, settings: Settings) -> int:
    """Peak RSS of ``earlywarn detect --workers 0`` over the file, in KiB."""
    peak = lines_file.with_suffix(".detect-peak")
    proc = subprocess.run([sys.executable, "-c", _DETECT, str(peak), "detect", str(lines_file), "--workers", "0"],
                          env=environment(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proc.returncode:
        raise RuntimeError(f"detect exited with {proc.returncode}")
    return int(peak.read_text())


def run(n: int, *, per_day: float = 20000.0, store: str = "memory://", paced: float = 0.0, census: int = 0,
        detect: bool = True, bootstrap: str | None = None, connect_timeout: float = CONNECT_TIMEOUT) -> dict[str, Any]:
    """Peak and final resident memory of one worker over *n* simulated tickets (KiB), its keys,
    and offline detect's peak."""
    from earlywarn.simulate import SimConfig, generate

    tmp = Path(tempfile.mkdtemp(prefix="earlywarn-membench-"))
    with broker_at(bootstrap, str(tmp)) as bootstrap:
        stamp = time.time_ns()
        # EARLYWARN_* variables apply (EARLYWARN_FLUSH_SECONDS, ...), but not the broker or topics.
        settings = from_env(broker=bootstrap).with_(
            app_id=f"membench-{stamp}", topic_tickets=f"membench-{stamp}-tickets",
            topic_deadletter=f"membench-{stamp}-dead", topic_alerts=f"membench-{stamp}-alerts",
            topic_inspection=f"membench-{stamp}-inspection", topic_deltas=f"membench-{stamp}-deltas",
            topic_decisions=f"membench-{stamp}-decisions", web_port=free_port(), data_dir=str(tmp / "data"),
            store=store, ticket_partitions=4, partitions=8, session_timeout=10.0, rebalance_timeout=10.0,
            log_level="error").with_throwaway_secret()
        ensure_topics(settings, connect_timeout)
        tickets, _ = generate(SimConfig(seed=11, days=max(1.0, n / per_day), tickets_per_day=per_day))
        lines = [orjson.dumps(t) for _, t in zip(range(n), tickets)]
        n = len(lines)
        lines_file = tmp / "tickets.jsonl"
        lines_file.write_bytes(b"\n".join(lines) + b"\n")
        print(f"memory-bench: {n:,} tickets ({per_day:,.0f} a day, ~{n / per_day:.0f} days), store {store}",
              file=sys.stderr)
        send = threading.Thread(target=produce, args=(settings, iter(lines)), kwargs={"rate": paced or None},
                                daemon=True)
        if not paced:
            send.run()
            send = None
        print("memory-bench: the worker …", file=sys.stderr)
        out = _run_worker(settings, n, tmp, census, send)
        out["tickets"] = n
        out["store"] = store
        if detect:
            print("memory-bench: offline detect …", file=sys.stderr)
            out["detect_peak_kb"] = _detect_peak_kb(lines_file, settings)
        return out


def resident_by_day(samples: list[tuple[int, int]], per_day: float) -> list[tuple[int, int]]:
    """The worker's resident memory (KiB) as its tickets taken passed each simulated day:
    [(day, KiB)] from (tickets, KiB) samples in time order; whether it levels off.

    >>> resident_by_day([(0, 10), (5, 11), (10, 12), (19, 13), (21, 14)], 10)
    [(1, 12), (2, 14)]
    """
    out: list[tuple[int, int]] = []
    for tickets, kb in samples:
        day = int(tickets // per_day)
        if day > (out[-1][0] if out else 0):
            out.append((day, kb))
    return out


def _mb(kb: float) -> str:
    return f"{kb / 1024:,.0f} MB"


def main(args: argparse.Namespace) -> int:
    if args.tickets < 1:
        print("memory-bench: --tickets must be at least 1", file=sys.stderr)
        return 2
    res = run(args.tickets, per_day=args.per_day, store=args.store, paced=args.paced, census=args.census,
              detect=not args.no_detect, bootstrap=getattr(args, "broker", None),
              connect_timeout=getattr(args, "connect_timeout", CONNECT_TIMEOUT))
    by_day = res["by_day_kb"] = resident_by_day(res.pop("samples", []), args.per_day)
    if args.json:
        print(orjson.dumps(res).decode())
        return 0
    n, keys = res["tickets"], max(1, res["keys"])
    above = res["peak_kb"] - res["baseline_kb"]
    print(f"worker ({res['store']}, {n:,} tickets, {res['keys']:,} window keys): "
          f"baseline {_mb(res['baseline_kb'])}, peak {_mb(res['peak_kb'])}, at the end {_mb(res['final_kb'])}")
    print(f"peak above the baseline: {_mb(above)}, {above / keys:.1f} KB a key, {above / n * 1000 / 1024:.1f} MB "
          f"per 1,000 tickets")
    print("resident by day of tickets taken: " + ", ".join(f"{d}: {_mb(kb)}" for d, kb in by_day))
    if "detect_peak_kb" in res:
        print(f"offline detect --workers 0: peak {_mb(res['detect_peak_kb'])}")
    for line in res.get("census", []):
        size, _, rest = line.partition(" ")
        print(f"{int(size) / 1024**2:>9.1f} MB  {rest}")  # bytes, objects, type
    return 0


def add_parser(sub: Any, with_broker: Any) -> None:
    sp = with_broker(sub.add_parser("memory-bench", help="one worker's memory over N tickets, and where it goes"))
    sp.add_argument("--tickets", type=int, default=100000)
    sp.add_argument("--per-day", type=float, default=20000.0, help="simulated tickets a day (Shanghai: ~20,000)")
    sp.add_argument("--store", default="memory://", help="the worker's table store (EARLYWARN_STORE)")
    sp.add_argument("--paced", type=float, default=0.0, metavar="R",
                    help="send R tickets a second while the worker runs (default: all before it starts)")
    sp.add_argument("--census", type=int, default=0, metavar="N",
                    help="print the N types of Python object holding the most memory in the worker at the end")
    sp.add_argument("--no-detect", action="store_true", help="skip offline detect's peak")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(func=main)
