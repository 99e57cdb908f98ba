"""``earlywarn bench``: four rates on the same tickets, in one run, and their ratios to raw.

* raw: aiokafka ``getmany`` (500 records at a time) + ``orjson.loads`` and nothing else
  (the client's ceiling), timed from the first batch on;
* faust: a Faust agent that only counts messages (the framework's own ceiling here);
* engine: the real worker, every detector on, from the first ticket ingested to the last
  delta applied (consumer-group joins are excluded from every stream figure);
* detect: the offline ``earlywarn detect`` core on the same tickets, as the command runs it
  (by default in one forked process per core, each ingesting every Nth chunk and owning
  every Nth partition).

Tickets are sent one per message, as a live platform feed sends them. The machine is
shared and noisy, so compare the ratios of one run, and repeat: ``--repeat N`` measures
the four paths N times in turn on the same tickets and prints each path's median and
range, and the median of each round's engine / trivial ratio.

``--subscriptions N`` adds a fifth path: the engine again with N keyword subscriptions
in Redis (terms, firms and districts drawn from the tickets, so that many match), against
the engine with subscription matching off; their ratio is what matching at ingest costs.

The engine's time per ticket is also split by the worker's own timings
(``earlywarn_processing_seconds``): ingesting batches, folding delta messages in, and the
rest (Faust's per-message work, sending, waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from streams.broker import CONNECT_TIMEOUT, broker_at, free_port, stop_process
from streams.kafka_io import ensure_topics, produce
from streams.settings import Settings, environment, from_env

_TRIVIAL = r'''
import sys, time, faust
class Worker(faust.Worker):  # as streams.worker.Worker, without importing earlywarn into the baseline
    def on_setup_root_logger(self, logger, level):
        self.spinner = None  # its log handler would set the root logger to DEBUG
        super().on_setup_root_logger(logger, level)
bootstrap, topic, n, parts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
app = faust.App(f"bench-trivial-{time.time_ns()}", broker=f"kafka://{bootstrap}", store="memory://",
                web_enabled=False, topic_disable_leader=True, consumer_auto_offset_reset="earliest",
                broker_session_timeout=10, broker_rebalance_timeout=10, broker_heartbeat_interval=1,
                value_serializer="raw", key_serializer="raw")
src = app.topic(topic, value_type=bytes, partitions=parts)
seen = [0, 0.0]
@app.agent(src)
async def count(stream):
    async for _ in stream:
        if not seen[0]:
            seen[1] = time.perf_counter()
        seen[0] += 1
        if seen[0] >= n:
            print(f"RATE {n / (time.perf_counter() - seen[1])}", flush=True)
            import os; os._exit(0)
Worker(app, loglevel="error", quiet=True, redirect_stdouts=False).execute_from_commandline()
'''


async def _raw_rate(bootstrap: str, topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{time.time_ns()}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        # The clock starts after the first batch (the group join ends with it) and counts
        # what follows, in batches small enough that fetching is part of what is timed.
        got, start, first = 0, 0.0, 0
        while got < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            for msgs in batch.values():
                for m in msgs:
                    orjson.loads(m.value)
                got += len(msgs)
            if got and not start:
                start, first = time.perf_counter(), got
        return (n - first) / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def _trivial_rate(bootstrap: str, topic: str, n: int, parts: int) -> float:
    out = subprocess.run([sys.executable, "-c", _TRIVIAL, bootstrap, topic, str(n), str(parts)],
                         capture_output=True, text=True, timeout=600)
    found = re.search(r"RATE ([0-9.]+)", out.stdout)  # Faust decorates its stdout with terminal codes
    if found:
        return float(found.group(1))
    raise RuntimeError(f"trivial Faust agent gave no rate:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")


def _stage_seconds(metrics_text: str) -> dict[str, float]:
    """Seconds spent per stage, from a worker's /metrics page."""
    found = re.findall(r'^earlywarn_processing_seconds_sum\{stage="([^"]+)"\} (\S+)$', metrics_text, re.M)
    return {stage: float(v) for stage, v in found}


def _engine_rate(settings: Settings, n: int, tmp: Path) -> tuple[float, dict[str, Any]]:
    env = environment(settings)
    log = tmp / "engine.log"
    proc = subprocess.Popen([sys.executable, "-m", "earlywarn", "worker"], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"engine worker exited; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/stats/", timeout=2) as r:
                    st = orjson.loads(r.read())
            except OSError:
                time.sleep(0.5)
                continue
            if st["tickets"] >= n and st["deltas_applied"] >= st["delta_messages"] > 0:
                with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5) as r:
                    st["stage_seconds"] = _stage_seconds(r.read().decode())
                return n / (st["last_applied_at"] - st["first_ingest_at"]), st
            time.sleep(0.25)
        raise RuntimeError("engine did not finish in 15 minutes")
    finally:
        stop_process(proc, timeout=10)


def _detect_rate(lines: list[bytes], settings: Settings) -> float:
    from detectors.enrich import Enricher
    from earlywarn.detect import default_workers, detect

    enricher = Enricher(settings.secret())  # built once, as a worker does
    start = time.perf_counter()
    # As ``earlywarn detect`` runs: by default in one forked process per core.
    for _ in detect(lines, settings, enricher=enricher, workers=default_workers()):
        pass
    return len(lines) / (time.perf_counter() - start)


PATHS = (("raw_per_s", "raw consume (aiokafka + orjson)"), ("faust_per_s", "trivial Faust agent"),
         ("engine_per_s", "engine, every detector on"), ("detect_per_s", "offline detect"))


def _engine_settings(settings: Settings, tmp: Path, k: int) -> Settings:
    stamp = time.time_ns()
    engine = settings.with_(
        app_id=f"bench-engine-{stamp}", topic_deadletter=f"bench-{stamp}-dead", topic_alerts=f"bench-{stamp}-alerts",
        topic_inspection=f"bench-{stamp}-inspection", topic_deltas=f"bench-{stamp}-deltas",
        topic_decisions=f"bench-{stamp}-decisions", web_port=free_port(), data_dir=str(tmp / f"data-{k}-{stamp}"),
        subscription_poll_seconds=0.0)
    ensure_topics(engine)
    return engine


def subscribe_many(settings: Settings, lines: list[bytes], n: int) -> str:
    """*n* keyword subscriptions drawn from the tickets under a fresh Redis prefix: mostly
    their commonest terms, some firms, two districts. Returns the prefix."""
    from collections import Counter

    import redis

    from alerts.notify.subscriptions import SubscriptionStore
    from detectors.text import Segmenter

    seg = Segmenter()
    tickets = [orjson.loads(x) for x in lines[:2000]]
    terms = Counter(w for t in tickets for w in seg.terms(t["content"]))
    firms = Counter(t["firm_name"] for t in tickets if t.get("firm_name"))
    districts = [d for d, _ in Counter(t["district_code"] for t in tickets).most_common(2)]
    n_firms = max(1, n * 15 // 100)
    prefix = f"earlywarn-bench-{time.time_ns()}"
    store = SubscriptionStore(redis.Redis.from_url(settings.redis_url), prefix)
    for w, _ in terms.most_common(max(1, n - n_firms - len(districts))):
        store.add("term", w, "bench", "bench")
    for f, _ in firms.most_common(n_firms):
        store.add("firm", f, "bench", "bench")
    for d in districts:
        store.add("district", d, "bench", "bench")
    return prefix


def _forget(settings: Settings, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        client.delete(key)


def _round(settings: Settings, lines: list[bytes], tmp: Path, k: int, subscriptions: int = 0) -> dict[str, float]:
    """The four rates once (five with *subscriptions*), on the tickets already in ``settings.topic_tickets``."""
    n = len(lines)
    engine = _engine_settings(settings, tmp, k)
    out: dict[str, float] = {}
    print("bench: raw consume …", file=sys.stderr)
    out["raw_per_s"] = asyncio.run(_raw_rate(settings.bootstrap, settings.topic_tickets, n))
    print("bench: trivial Faust agent …", file=sys.stderr)
    out["faust_per_s"] = _trivial_rate(settings.bootstrap, settings.topic_tickets, n, settings.ticket_partitions)
    print("bench: engine (every detector on) …", file=sys.stderr)
    out["engine_per_s"], st = _engine_rate(engine, n, tmp)
    out["engine_state_writes_per_ticket"] = st["state_writes"] / n
    out["engine_delta_messages_per_ticket"] = st["delta_messages"] / n
    wall = st["last_applied_at"] - st["first_ingest_at"]
    ingest, windows = st["stage_seconds"].get("ingest_batch", 0.0), st["stage_seconds"].get("windows_message", 0.0)
    out["engine_ingest_us"] = 1e6 * ingest / n
    out["engine_windows_us"] = 1e6 * windows / n
    out["engine_other_us"] = 1e6 * (wall - ingest - windows) / n
    print("bench: offline detect …", file=sys.stderr)
    out["detect_per_s"] = _detect_rate(lines, settings)
    out["engine_over_faust"] = out["engine_per_s"] / out["faust_per_s"]
    if subscriptions:
        print(f"bench: engine with {subscriptions} keyword subscriptions …", file=sys.stderr)
        prefix = subscribe_many(settings, lines, subscriptions)
        try:
            subs = _engine_settings(settings, tmp, k).with_(notify_prefix=prefix, subscription_poll_seconds=1.0)
            out["engine_subs_per_s"], st = _engine_rate(subs, n, tmp)
            out["engine_subs_ingest_us"] = 1e6 * st["stage_seconds"].get("ingest_batch", 0.0) / n
            import redis

            client = redis.Redis.from_url(settings.redis_url)
            out["subscription_matches"] = float(sum(client.llen(k) for k in client.scan_iter(f"{prefix}:sub:pending:*")))
        finally:
            _forget(settings, prefix)
        out["engine_subs_over_engine"] = out["engine_subs_per_s"] / out["engine_per_s"]
    return out


def run(n: int, bootstrap: str | None = None, repeat: int = 1,
        connect_timeout: float = CONNECT_TIMEOUT, subscriptions: int = 0) -> dict[str, Any]:
    """The four rates, *repeat* times in turn: each figure is the median of the rounds,
    ``rounds`` holds every round's own. Raises BrokerUnavailable when *bootstrap* does not
    answer within *connect_timeout* seconds."""
    from earlywarn.simulate import SimConfig, generate

    tmp = Path(tempfile.mkdtemp(prefix="earlywarn-bench-"))
    with broker_at(bootstrap, str(tmp)) as bootstrap:
        stamp = time.time_ns()
        settings = from_env({}, broker=bootstrap).with_(
            topic_tickets=f"bench-{stamp}-tickets", session_timeout=10.0, rebalance_timeout=10.0,
            log_level="error").with_throwaway_secret()
        ensure_topics(settings, connect_timeout)  # before the simulation: an absent broker is told at once
        tickets, _ = generate(SimConfig(seed=11, days=max(1.0, n / 20000 * 4)))
        lines = [orjson.dumps(t) for _, t in zip(range(n), tickets)]
        n = len(lines)
        print(f"bench: {n} tickets (~{sum(map(len, lines)) // n} bytes each) to {settings.topic_tickets}",
              file=sys.stderr)
        produce(settings, iter(lines))
        rounds = []
        for k in range(repeat):
            if repeat > 1:
                print(f"bench: round {k + 1} of {repeat}", file=sys.stderr)
            rounds.append(_round(settings, lines, tmp, k, subscriptions))
        out: dict[str, Any] = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        out["tickets"] = float(n)
        out["rounds"] = rounds
        return out


def main(args: argparse.Namespace) -> int:
    if args.repeat < 1 or args.tickets < 1:
        print("bench: --tickets and --repeat must be at least 1", file=sys.stderr)
        return 2
    res = run(args.tickets, getattr(args, "broker", None), args.repeat,
              getattr(args, "connect_timeout", CONNECT_TIMEOUT), getattr(args, "subscriptions", 0))
    if args.json:
        print(orjson.dumps(res).decode())
        return 0
    rounds = res["rounds"]
    raw = res["raw_per_s"]
    spread = len(rounds) > 1
    print(f"{'path':<34}{'tickets/s':>12}{'× raw':>9}" + (f"{'range (' + str(len(rounds)) + ' rounds)':>26}" if spread else ""))
    for key, name in PATHS:
        line = f"{name:<34}{res[key]:>12,.0f}{res[key] / raw:>9.2f}"
        if spread:
            lo, hi = min(r[key] for r in rounds), max(r[key] for r in rounds)
            line += f"{lo:>14,.0f} - {hi:<9,.0f}"
        print(line)
    ratios = sorted(r["engine_over_faust"] for r in rounds)
    print(f"engine / trivial Faust: {res['engine_over_faust']:.2f}"
          + (f" (rounds: {', '.join(f'{x:.2f}' for x in ratios)})" if spread else "")
          + f"  (delta messages per ticket {res['engine_delta_messages_per_ticket']:.3f}, "
          f"state writes per ticket {res['engine_state_writes_per_ticket']:.3f})")
    print(f"engine per ticket: ingest {res['engine_ingest_us']:.0f} µs, folding deltas in "
          f"{res['engine_windows_us']:.0f} µs, the rest (Faust, sending, waiting) {res['engine_other_us']:.0f} µs")
    if "engine_subs_per_s" in res:
        print(f"engine with {args.subscriptions} keyword subscriptions: {res['engine_subs_per_s']:,.0f} tickets/s, "
              f"{res['engine_subs_per_s'] / raw:.2f} × raw, {res['engine_subs_over_engine']:.2f} × the engine without "
              f"(ingest {res['engine_subs_ingest_us']:.0f} µs per ticket against {res['engine_ingest_us']:.0f}; "
              f"{res['subscription_matches']:.0f} matches queued)")
    return 0
