"""``earlywarn desk-bench``: page load and API latency with N alerts in the store; with
``--tickets N``, what keeping ticket display fields costs.

Fills a private Redis prefix with N synthetic alerts (spread over the districts, types,
severities and a month), then times the requests staff make most, in process through
the desk served by uvicorn on a loopback port (auth, headers, metrics, templates, HTTP),
and deletes its keys. Prints the median and 95th percentile of each.

``--tickets N`` instead reads N simulated tickets (the simulator's background and
incidents) through the desk's ticket path (``desk.tickets``: validate, mask, sign, store),
measures the Redis memory they take (``MEMORY USAGE`` of every key), the desk process's
signature matrix, and similar-ticket queries, and scales them to Shanghai's volume
(``--per-day``, 20 000 tickets a day) over ``EARLYWARN_DESK_TICKET_DAYS``.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import resource
import threading
import urllib.parse
import urllib.request
import statistics
import time
import uuid
from typing import Any

import redis

from desk.settings import from_env
from schemas.alerts import rfc3339
from schemas.regions import SHANGHAI_DISTRICTS

TYPES = ("group_dispute", "concentrated_demand", "term_surge")
SEVERITIES = ("info", "warning", "critical")


def synthetic(i: int, start: float) -> dict[str, Any]:
    districts = list(SHANGHAI_DISTRICTS)
    d = districts[i % len(districts)]
    return {"alert_id": f"ew-{i:024x}", "schema_version": "1", "type": TYPES[i % 3], "status": "open",
            "severity": SEVERITIES[(i // 3) % 3], "subject": {"dimension": "firm", "key": f"firm-{i}",
                                                                "label": f"某{'健身教育餐饮美容'[i % 4 * 2:i % 4 * 2 + 2]}{i}号店"},
            "district_code": d, "window_start": rfc3339(start + i * 60), "window_end": rfc3339(start + i * 60 + 3600),
            "raised_at": rfc3339(start + i * 60 + 3600), "observed": 10 + i % 20, "expected": 1.5, "score": 0.99,
            "distinct_complainants": 9 + i % 20, "ticket_ids": [f"T{i}-{k}" for k in range(20)],
            "top_terms": ["退卡", "闭店", "预付卡"], "summary": f"【群体纠纷预警】某店{i}有多名消费者反映退费问题。" * 3}


def main(args: argparse.Namespace) -> int:
    import uvicorn

    from desk.app import create_app
    from streams.broker import free_port

    settings = from_env(consume=False).with_(prefix=f"earlywarn:deskbench:{uuid.uuid4().hex[:8]}",
                                             notify_prefix=f"earlywarn:deskbench:{uuid.uuid4().hex[:8]}")
    client = redis.Redis.from_url(settings.redis_url)
    app = create_app(settings, client)
    ctx = app.state.ctx
    try:
        t0 = time.perf_counter()
        start = time.time() - args.alerts * 60
        for lo in range(0, args.alerts, 500):
            ctx.store.apply([synthetic(i, start) for i in range(lo, min(args.alerts, lo + 500))])
        load = time.perf_counter() - t0
        admin = ctx.auth.add_user("bench", "bench-password", "admin")
        token = {"Authorization": f"Bearer {ctx.auth.issue_token(admin, 'bench')}"}
        ctx.auth.add_user("pudong", "bench-password", "officer", ("310115",))
        some = f"ew-{args.alerts // 2:024x}"
        rows: list[tuple[str, list[float]]] = []
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        try:
            page = browser.open(base + "/login").read().decode()
            nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            form = urllib.parse.urlencode({"username": "bench", "password": "bench-password", "nonce": nonce})
            browser.open(base + "/login", data=form.encode()).read()
            cases = [("API list, first page of 50", "/api/alerts", token),
                     ("API list, severity + district", "/api/alerts?severity=critical&district=310115", token),
                     ("API list, text search (scans)", "/api/alerts?q=" + urllib.parse.quote("健身"), token),
                     ("API list, page 100", "/api/alerts?offset=5000", token),
                     ("API alert with timeline", f"/api/alerts/{some}", token),
                     ("console list page", "/", {}),
                     ("console alert page", f"/alerts/{some}", {})]
            for name, path, headers in cases:
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    with browser.open(urllib.request.Request(base + path, headers=headers)) as r:
                        r.read()
                        assert r.status == 200 and not r.url.endswith("/login"), (path, r.status)
                    times.append(time.perf_counter() - t)
                rows.append((name, times))
        finally:
            server.should_exit = True
            thread.join(10)
        print(f"{args.alerts} alerts stored in {load:.1f} s ({args.alerts / load:,.0f}/s); {args.repeat} requests each:")
        for name, times in rows:
            q = statistics.quantiles(times, n=20)
            print(f"  {name:34s} median {statistics.median(times) * 1000:7.1f} ms   p95 {q[18] * 1000:7.1f} ms")
    finally:
        for prefix in (settings.prefix, settings.notify_prefix):
            for key in client.scan_iter(f"{prefix}:*", count=1000):
                client.delete(key)
    return 0


def tickets_main(args: argparse.Namespace) -> int:
    """``desk-bench --tickets N``: the memory and time ticket display fields cost (see the module's notes)."""
    import orjson

    from desk.similar import TicketSignatures
    from desk.tickets import TicketConsumer, TicketStore
    from earlywarn.simulate import SimConfig, Simulation

    settings = from_env(consume=False).with_(prefix=f"earlywarn:deskbench:{uuid.uuid4().hex[:8]}",
                                             pseudonym_secret="desk-bench")
    client = redis.Redis.from_url(settings.redis_url)
    store = TicketStore(client, settings.prefix, settings.ticket_days)
    try:
        sim = Simulation(SimConfig(seed=3, days=1.0 + args.tickets / 5000, tickets_per_day=6000))
        payloads = []
        for t in sim.tickets():
            payloads.append(orjson.dumps(t))
            if len(payloads) == args.tickets:
                break
        consumer = TicketConsumer(settings, store)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        consumer.handle(payloads[:1])  # builds the segmenter once (a desk process does it at its first ticket)
        t1 = time.perf_counter()
        segmenter_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # Linux: KiB
        for lo in range(1, len(payloads), 500):
            consumer.handle(payloads[lo:lo + 500])
        t2 = time.perf_counter()
        n = consumer.stored
        keys = [store.key(x.decode()) for x in client.zrange(store.by_time, 0, -1)]
        p = client.pipeline(transaction=False)
        for k in keys:
            p.memory_usage(k, samples=0)
        records = sum(x or 0 for x in p.execute())
        index = (client.memory_usage(store.by_time, samples=0) or 0) + (client.memory_usage(store.signatures, samples=0) or 0)
        per_ticket = (records + index) / n
        sigs = TicketSignatures(store, min_interval=3600)  # synced once, below: queries between syncs
        t3 = time.perf_counter()
        sigs.sync()
        load = time.perf_counter() - t3
        probe = [orjson.loads(client.get(k)) for k in keys[:: max(1, len(keys) // args.repeat)][: args.repeat]]
        times = []
        for rec in probe:
            t = time.perf_counter()
            sigs.similar(rec, 5, lambda _t: True)
            times.append(time.perf_counter() - t)
        kept = args.per_day * settings.ticket_days
        content = sum(len(orjson.loads(client.get(k))["content"]) for k in keys[:1000]) / min(1000, len(keys))
        print(f"{n:,} tickets stored ({consumer.skipped} rejected), narratives {content:.0f} characters on average; "
              f"segmenter built in {t1 - t0:.1f} s (+{segmenter_mib:,.0f} MiB of the process's peak RSS), then {(t2 - t1) / max(1, n - 1) * 1e6:,.0f} µs a ticket "
              f"(validate, mask, sign, store)")
        print(f"Redis: {records / n:,.0f} B a display record + {index / n:,.0f} B of search index and signature "
              f"= {per_ticket:,.0f} B a ticket")
        print(f"desk process: signatures {sigs.nbytes() / n:,.0f} B a ticket, loaded in {load * 1000:,.0f} ms; "
              f"similar tickets among {n:,}: median {statistics.median(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms")
        print(f"at {args.per_day:,.0f} tickets a day kept {settings.ticket_days:g} days ({kept:,.0f} tickets): "
              f"Redis {kept * per_ticket / 2**20:,.0f} MiB, desk process {kept * sigs.nbytes() / n / 2**20:,.0f} MiB "
              f"of signatures; each alert's pinned evidence (at most 200 tickets) keeps "
              f"{200 * records / n / 2**10:,.0f} KiB beyond that")
    finally:
        for key in client.scan_iter(f"{settings.prefix}:*", count=1000):
            client.delete(key)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sp = sub.add_parser("desk-bench", help="the desk's page load and API latency with N alerts stored; "
                                           "--tickets N: what keeping ticket display fields costs")
    sp.add_argument("--alerts", type=int, default=10000)
    sp.add_argument("--repeat", type=int, default=30)
    sp.add_argument("--tickets", type=int, default=0, help="measure ticket display fields with N simulated tickets")
    sp.add_argument("--per-day", type=float, default=20000.0, help="with --tickets: tickets a day to scale to")
    sp.set_defaults(func=lambda a: tickets_main(a) if a.tickets else main(a))
