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

``--subscriptions N`` puts N keyword subscriptions in Redis of the kinds staff make
(:func:`realistic_subscriptions`: firms, products, harm words, places, domain terms; a few
per cent of the tickets match) and adds two paths. The engine again, right before or
after the engine without them: the workers match no subscriptions (notify does), so the
ratios round by round (engine rate, ingest time per ticket, the worker's CPU per ticket)
should hold 1.0 within the noise. And notify's ticket loop (:func:`_notify_matching`) on
the same tickets: its rate and CPU per ticket reading, decoding, matching, building every
match's event and queueing it in Redis, so an operator can see that one notify keeps up.

The engine's time per ticket is also split by the worker's own timings
(``earlywarn_processing_seconds``): ingesting batches, folding delta messages in, and the
rest (Faust's per-message work, sending, waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
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


def _cpu_seconds(pid: int) -> float:
    """CPU time a process has used, all its threads (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _engine_rate(settings: Settings, n: int, tmp: Path,
                 settled: Callable[[], bool] = lambda: True) -> tuple[float, dict[str, Any]]:
    """The worker's rate on the *n* tickets, and its /stats with its stage timings and the CPU
    it used from just before its first ticket until done and *settled* (its side work too)."""
    env = environment(settings)
    log = tmp / "engine.log"
    proc = subprocess.Popen([sys.executable, "-m", "earlywarn", "worker"], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900
        cpu_before = float("nan")
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"engine worker exited; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/stats/", timeout=2) as r:
                    st = orjson.loads(r.read())
            except OSError:
                time.sleep(0.5)
                continue
            if not st["tickets"]:
                cpu_before = _cpu_seconds(proc.pid)
            elif st["tickets"] >= n and st["deltas_applied"] >= st["delta_messages"] > 0:
                with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5) as r:
                    st["stage_seconds"] = _stage_seconds(r.read().decode())
                settle_by = time.monotonic() + 60
                while not settled() and time.monotonic() < settle_by:
                    time.sleep(0.1)
                st["cpu_seconds"] = _cpu_seconds(proc.pid) - cpu_before
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
        topic_decisions=f"bench-{stamp}-decisions", web_port=free_port(), data_dir=str(tmp / f"data-{k}-{stamp}"))
    ensure_topics(engine)
    return engine


# What each kind of subscription takes of N (firms take what the others leave), and how
# narrow a subscription is: one that alone matches more than this share of the tickets is
# a route (手机, a district), not a watch, and is not drawn.
SHARES = (("product", 0.15), ("harm", 0.15), ("place", 0.05), ("term", 0.20), ("firm", 1.0))
NARROW = 0.002
_ROAD = re.compile(r"(?<=[区镇])[\u4e00-\u9fff]{1,4}(?:路|大道)")


def realistic_subscriptions(tickets: list[dict[str, Any]], n: int, seed: int = 7) -> list[tuple[str, str]]:
    """*n* (kind, value) subscriptions of the kinds staff make, drawn from *tickets*.

    Staff subscribe to something specific: a firm they watch, a product or brand, a harm
    word (``detectors/data/harm_words.txt``), a place (a road named in the narratives), a
    domain term (``domain_dict.txt``). Each kind takes its share of *n* (``SHARES``), drawn
    at random (seeded) among its candidates no broader than ``NARROW``; many match nothing,
    as most real ones do on any given day.
    """
    from detectors.datafiles import words
    from detectors.watchlist import Sub, Watchlist

    pools = {
        "firm": [("firm", f) for f in sorted({(t.get("firm_name") or "").strip() for t in tickets} - {""})],
        "product": [("product", p) for p in sorted({(t.get("product_name") or "").strip() for t in tickets} - {""})],
        "harm": [("term", w) for w in words("harm_words.txt")],
        "place": [("term", w) for w in sorted({m for t in tickets for m in _ROAD.findall(t.get("content") or "")})],
        "term": [("term", w.split()[0]) for w in words("domain_dict.txt") if len(w.split()[0]) >= 2],
    }
    every = [Sub(f"{pool}|{i}", kind, value, "bench") for pool, cands in pools.items()
             for i, (kind, value) in enumerate(cands)]
    matcher = Watchlist(every)
    hits = Counter(s.id for t in tickets for s, _ in matcher.match_ticket(t))
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for pool, share in SHARES:
        narrow = [c for i, c in enumerate(pools[pool]) if hits[f"{pool}|{i}"] <= NARROW * len(tickets) and c not in out]
        want = min(len(narrow), n - len(out) if share >= 1.0 else round(n * share))
        out += rng.sample(narrow, want)
    return out


def subscribe_many(settings: Settings, lines: list[bytes], n: int) -> tuple[str, int, int]:
    """*n* realistic keyword subscriptions (:func:`realistic_subscriptions`) in Redis under a
    fresh prefix: the prefix, how many of the tickets match any, and how many matches in all."""
    import redis

    from alerts.notify.subscriptions import SubscriptionStore
    from detectors.watchlist import Watchlist

    tickets = [orjson.loads(x) for x in lines]
    prefix = f"earlywarn-bench-{time.time_ns()}"
    store = SubscriptionStore(redis.Redis.from_url(settings.redis_url), prefix)
    subs = [store.add(kind, value, "bench", "bench") for kind, value in realistic_subscriptions(tickets, n)]
    found = [len(Watchlist(subs).match_ticket(t)) for t in tickets]
    return prefix, sum(1 for x in found if x), sum(found)


def _forget(settings: Settings, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        client.delete(key)


def _engine_figures(settings: Settings, n: int, tmp: Path, key: str,
                    settled: Callable[[], bool] = lambda: True) -> dict[str, float]:
    """The engine's rate, its CPU and its time per ticket by stage, under *key* (``engine``, ``engine_subs``)."""
    rate, st = _engine_rate(settings, n, tmp, settled)
    wall = st["last_applied_at"] - st["first_ingest_at"]
    ingest, windows = st["stage_seconds"].get("ingest_batch", 0.0), st["stage_seconds"].get("windows_message", 0.0)
    return {f"{key}_per_s": rate, f"{key}_cpu_us": 1e6 * st["cpu_seconds"] / n,
            f"{key}_state_writes_per_ticket": st["state_writes"] / n,
            f"{key}_delta_messages_per_ticket": st["delta_messages"] / n, f"{key}_ingest_us": 1e6 * ingest / n,
            f"{key}_windows_us": 1e6 * windows / n, f"{key}_other_us": 1e6 * (wall - ingest - windows) / n}


BENCH_ROUTES = """\
receivers:
  - {name: bench, console: {}}
route:
  receiver: bench
"""


def _notify_matching(settings: Settings, n: int, prefix: str, matches: int) -> dict[str, float]:
    """Notify's ticket loop (``NotifyService``'s, in this process) over the *n* tickets with the
    subscriptions under *prefix*: its rate and the process's CPU per ticket, from the first
    batch read to the last batch's matches queued and committed.

    Live, notify builds events for at most ``subscription_digest_max`` matches a subscription
    per ``subscription_interval_seconds`` of the wall clock; the bench's tickets (days of
    event time) pass in seconds, so that cap would spare it nearly all the building live
    does for them. The budget is lifted so it builds every match: live work for these
    tickets, or more. The segmenter (jieba's dictionary, built once in a notify's life, on
    its first match) is built before the clock starts.
    """
    import redis

    from alerts.notify.config import from_env as notify_from_env
    from alerts.notify.routing import load_text
    from alerts.notify.service import NotifyService
    from detectors.text import Segmenter

    config = notify_from_env(environment(settings)).with_(
        prefix=prefix, group_id=f"bench-notify-{time.time_ns()}", subscription_digest_max=n,
        subscription_poll_seconds=1.0)
    client = redis.Redis.from_url(settings.redis_url)
    service = NotifyService(config, load_text(BENCH_ROUTES, "bench-routes.yml"), client)
    service.tickets.segmenter = Segmenter()
    step = service._tickets_loop()
    def checked() -> float:  # tickets the loop has read and checked so far
        return service.metrics.registry.get_sample_value("earlywarn_notify_tickets_total", {"outcome": "checked"}) or 0.0

    try:
        deadline = time.monotonic() + 600
        while not checked():  # the group join ends with the first batch: the clock starts after it
            step()
            if time.monotonic() > deadline:
                raise RuntimeError("notify read no tickets in 10 minutes")
        first, start, cpu = checked(), time.perf_counter(), time.process_time()
        while checked() < n:
            step()
            if time.monotonic() > deadline:
                raise RuntimeError("notify's ticket loop did not finish in 10 minutes")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        service.close()
    queued = sum(client.llen(x) for x in client.scan_iter(f"{prefix}:sub:pending:*"))
    return {"notify_per_s": (n - first) / wall, "notify_cpu_us": 1e6 * cpu / (n - first),
            "notify_events": float(queued), "subscription_matches": float(matches)}


def _subscribed(settings: Settings, lines: list[bytes], tmp: Path, k: int, subscriptions: int) -> dict[str, float]:
    """The engine with *subscriptions* realistic subscriptions in Redis (it reads none of them),
    and notify's ticket loop matching them (:func:`_notify_matching`)."""
    n = len(lines)
    prefix, matched, matches = subscribe_many(settings, lines, subscriptions)
    out: dict[str, float] = {}
    try:
        out.update(_engine_figures(_engine_settings(settings, tmp, k).with_(notify_prefix=prefix), n, tmp,
                                   "engine_subs"))
        print(f"bench: notify matching {subscriptions} keyword subscriptions …", file=sys.stderr)
        out.update(_notify_matching(settings, n, prefix, matches))
        out["subscription_tickets_matched"] = matched / n
    finally:
        _forget(settings, prefix)
    return out


def _round(settings: Settings, lines: list[bytes], tmp: Path, k: int, subscriptions: int = 0) -> dict[str, float]:
    """The four rates once (six with *subscriptions*), on the tickets already in ``settings.topic_tickets``.

    With *subscriptions*, the engine runs without and with them back to back, in turns
    (round 1 without first, round 2 with first, ...), so the machine's drift within a
    round does not favour either.
    """
    n = len(lines)
    out: dict[str, float] = {}
    print("bench: raw consume …", file=sys.stderr)
    out["raw_per_s"] = asyncio.run(_raw_rate(settings.bootstrap, settings.topic_tickets, n))
    print("bench: trivial Faust agent …", file=sys.stderr)
    out["faust_per_s"] = _trivial_rate(settings.bootstrap, settings.topic_tickets, n, settings.ticket_partitions)
    engines = ["plain", "subs"] if subscriptions else ["plain"]
    for which in engines if k % 2 == 0 else engines[::-1]:
        if which == "plain":
            print("bench: engine (every detector on) …", file=sys.stderr)
            out.update(_engine_figures(_engine_settings(settings, tmp, k), n, tmp, "engine"))
        else:
            print(f"bench: engine with {subscriptions} keyword subscriptions …", file=sys.stderr)
            out.update(_subscribed(settings, lines, tmp, k, subscriptions))
    print("bench: offline detect …", file=sys.stderr)
    out["detect_per_s"] = _detect_rate(lines, settings)
    out["engine_over_faust"] = out["engine_per_s"] / out["faust_per_s"]
    if subscriptions:
        out["engine_subs_over_engine"] = out["engine_subs_per_s"] / out["engine_per_s"]
        out["ingest_subs_over_ingest"] = out["engine_subs_ingest_us"] / out["engine_ingest_us"]
        out["cpu_subs_over_cpu"] = out["engine_subs_cpu_us"] / out["engine_cpu_us"]
    return out


def run(n: int, bootstrap: str | None = None, repeat: int = 1, connect_timeout: float = CONNECT_TIMEOUT,
        subscriptions: int = 0, redis_url: str | None = None) -> dict[str, Any]:
    """The four rates, *repeat* times in turn: each figure is the median of the rounds,
    ``rounds`` holds every round's own. Raises BrokerUnavailable when *bootstrap* does not
    answer within *connect_timeout* seconds. *subscriptions* live in *redis_url* (default:
    the setting's default)."""
    from earlywarn.simulate import SimConfig, generate

    tmp = Path(tempfile.mkdtemp(prefix="earlywarn-bench-"))
    with broker_at(bootstrap, str(tmp)) as bootstrap:
        stamp = time.time_ns()
        settings = from_env({}, broker=bootstrap).with_(
            topic_tickets=f"bench-{stamp}-tickets", session_timeout=10.0, rebalance_timeout=10.0,
            log_level="error", **({"redis_url": redis_url} if redis_url else {})).with_throwaway_secret()
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
              getattr(args, "connect_timeout", CONNECT_TIMEOUT), getattr(args, "subscriptions", 0),
              from_env().redis_url if getattr(args, "subscriptions", 0) else None)
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
        print(f"engine with {args.subscriptions} keyword subscriptions in Redis (the workers match none): "
              f"{res['engine_subs_per_s']:,.0f} tickets/s")
        for key, name in (("engine_subs_over_engine", "engine rate"), ("ingest_subs_over_ingest", "ingest µs per ticket"),
                          ("cpu_subs_over_cpu", "worker CPU per ticket")):
            xs = sorted(r[key] for r in rounds)
            print(f"  {name}, with / without: {res[key]:.3f}"
                  + (f" (rounds: {', '.join(f'{x:.3f}' for x in xs)}; range "
                     f"{'overlaps' if xs[0] <= 1.0 <= xs[-1] else 'does not overlap'} 1.0)" if spread else ""))
        print(f"  per ticket: ingest {res['engine_subs_ingest_us']:.0f} µs with, {res['engine_ingest_us']:.0f} µs without; "
              f"worker CPU {res['engine_subs_cpu_us']:.0f} µs with, {res['engine_cpu_us']:.0f} µs without")
        xs = sorted(r["notify_per_s"] for r in rounds)
        cpu = sorted(r["notify_cpu_us"] for r in rounds)
        print(f"notify's ticket loop, {args.subscriptions} subscriptions: {res['notify_per_s']:,.0f} tickets/s"
              + (f" ({xs[0]:,.0f} - {xs[-1]:,.0f})" if spread else "")
              + f", CPU {res['notify_cpu_us']:.1f} µs a ticket" + (f" ({cpu[0]:.1f} - {cpu[-1]:.1f})" if spread else "")
              + f"; {res['subscription_tickets_matched']:.1%} of the tickets match one, "
              f"{res['subscription_matches']:.0f} matches, {res['notify_events']:.0f} events built and queued")
    return 0
