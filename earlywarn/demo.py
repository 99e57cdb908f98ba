"""``earlywarn demo``: everything embedded — broker, one worker, a simulated firehose — and
the alerts shown live as they fire. No Redis, Docker or network needed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from earlywarn.simulate import SimConfig, generate
from streams.broker import free_port, start_broker, stop_process
from streams.kafka_io import ensure_topics, follow, produce
from streams.settings import Settings, environment, from_env

# Malformed messages mixed into the firehose, to show that nothing is lost: they are dead-lettered.
_BAD = [b"not json at all", b"\xff\xfe\x00garbage", b'{"ticket_id": "X1"}', b"[]", b"42",
        b'{"ticket_id":"X2","kind":"complaint","received_at":"yesterday","district_code":"310115",'
        b'"firm_name":"x","content":"y"}']
DAYS = 12  # event time simulated
PER_DAY = 3000.0  # background tickets per day
BACKFILL_DAYS = 7.0  # sent unpaced first: the baselines' warm-up
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
_TYPE_NAME = {"group_dispute": "群体纠纷", "concentrated_demand": "集中诉求", "term_surge": "热词突增"}
WIDE = 120  # terminal columns from which the alert table also shows the summary


def alert_table(alerts: Iterable[Mapping[str, Any]], width: int) -> Table:
    """The alerts as a table that reads in *width* terminal columns, from 80 up.

    A row is two lines (date over time, type over status) so the subject, which may be a
    long Chinese name (two cells a character), keeps the room and wraps rather than being
    cut; the summary, a paragraph, is only shown when there is room left for it.
    """
    wide = width >= WIDE
    table = Table(expand=True, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1), collapse_padding=True)
    table.add_column("raised", no_wrap=True)
    table.add_column("alert", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("subject", ratio=1, overflow="fold")
    table.add_column("people", justify="right", no_wrap=True)
    table.add_column("obs/exp", justify="right", no_wrap=True)
    if wide:
        table.add_column("summary", ratio=2, no_wrap=True, overflow="ellipsis")
    for a in alerts:
        raised = a["raised_at"]  # RFC 3339 in Beijing time: 2025-03-04T10:15:00+08:00
        row = [f"{raised[5:10]}\n{raised[11:16]}", f"{_TYPE_NAME.get(a['type'], a['type'])}\n{a['status']}",
               Text(a["severity"], style=_SEVERITY_STYLE.get(a["severity"], "")), a["subject"]["label"],
               str(a["distinct_complainants"]), f"{a['observed']}/{a['expected']:.3g}"]
        table.add_row(*row, *([a["summary"]] if wide else []))
    return table


def live_view(alerts: Iterable[Mapping[str, Any]], *, sent: int, stats: Mapping[str, Any],
              alert_events: int, took: float, width: int) -> Group:
    """The demo's live screen: the counters, then the alerts, newest first."""
    done = stats.get("tickets", 0)
    counters = [Text.assemble(name, (value, "bold")) for name, value in (
        ("sent ", f"{sent:,}"), ("processed ", f"{done:,}"), ("dead-lettered ", f"{stats.get('deadlettered', 0):,}"),
        ("alert events ", f"{alert_events:,}"), ("rate ", f"{done / max(took, 1e-9):,.0f}/s"), ("", f"{took:,.0f}s"))]
    head = Text()  # the counters on a line, the next line begun between them, never inside one
    column = 0
    for c in counters:
        if column and column + 3 + c.cell_len > width:
            head.append("\n")
            column = 0
        elif column:
            head.append(" · ")
            column += 3
        head.append_text(c)
        column += c.cell_len
    return Group(head, Panel(alert_table(alerts, width), title="alerts, newest first"))


def _ts(ticket: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ticket["received_at"]).timestamp()


def _stats(settings: Settings) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/stats/", timeout=1) as r:
            return orjson.loads(r.read())
    except OSError:
        return {}


def run_demo(*, duration: float | None, per_second: float = 400.0, seed: int = 7) -> int:
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="earlywarn-demo-"))
    console.print("[bold]earlywarn demo[/] — starting the embedded broker …")
    broker = start_broker(log_dir=str(tmp))
    settings = from_env(broker=broker.bootstrap).with_(
        app_id="earlywarn-demo", web_port=free_port(), data_dir=str(tmp / "data"),
        session_timeout=10.0, rebalance_timeout=10.0, idle_seconds=3.0, flush_seconds=2.0).with_throwaway_secret()
    worker = None
    stop = threading.Event()
    sent = [0]
    try:
        ensure_topics(settings)
        console.print(f"broker at {broker.bootstrap}; starting a worker (metrics and stats on :{settings.web_port}) …")
        worker = subprocess.Popen([sys.executable, "-m", "earlywarn", "worker"], env=environment(settings),
                                  stdout=(tmp / "worker.log").open("wb"), stderr=subprocess.STDOUT)
        sim = SimConfig(seed=seed, days=DAYS, tickets_per_day=PER_DAY, warmup_days=BACKFILL_DAYS + 0.5)
        tickets, incidents = generate(sim)
        backfill_until = _ts({"received_at": sim.start}) + BACKFILL_DAYS * 86400
        history: list[bytes] = []
        live_msgs: list[bytes] = []
        for i, t in enumerate(tickets):
            if i % 2500 == 1:
                (history if not live_msgs else live_msgs).append(_BAD[(i // 2500) % len(_BAD)])
            (history if not live_msgs and _ts(t) < backfill_until else live_msgs).append(orjson.dumps(t))

        def feed() -> None:
            # A fresh deployment first backfills history (baselines need a week), then goes live.
            done = produce(settings, iter(history), on_sent=lambda n: sent.__setitem__(0, n))
            produce(settings, (m for m in live_msgs if not stop.is_set()), rate=per_second,
                    on_sent=lambda n: sent.__setitem__(0, done + n))

        feeder = threading.Thread(target=feed, daemon=True)
        alerts: deque[dict[str, Any]] = deque(maxlen=14)
        by_type: Counter[tuple[str, str]] = Counter()

        def watch() -> None:
            for raw in follow(settings, settings.topic_alerts, stop=stop.is_set):
                a = orjson.loads(raw)
                alerts.appendleft(a)
                by_type[(a["type"], a["status"])] += 1

        watcher = threading.Thread(target=watch, daemon=True)
        started = time.monotonic()
        feeder.start()
        watcher.start()
        console.print(f"simulating {len(incidents)} labelled incidents over {DAYS} days of event time: "
                      f"{len(history):,} messages of history first (baselines learn a week), then "
                      f"{per_second:.0f}/s live; Ctrl-C stops" + (f", or after {duration:.0f}s" if duration else ""))

        def view() -> Group:
            rows = max(3, (console.height - 8) // 2)  # two lines an alert: what fits under the counters
            return live_view(list(alerts)[:rows], sent=sent[0], stats=_stats(settings),
                             alert_events=sum(by_type.values()), took=time.monotonic() - started, width=console.width)

        with Live(view(), console=console, refresh_per_second=2) as live:
            while True:
                time.sleep(0.5)
                live.update(view())
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker stopped; see {tmp / 'worker.log'}")
                if duration is not None and time.monotonic() - started >= duration:
                    break
                if not feeder.is_alive() and time.monotonic() - started > 5:
                    st = _stats(settings)
                    if st.get("tickets", 0) + st.get("deadlettered", 0) >= sent[0] and st.get("flushes", 0):
                        time.sleep(settings.idle_seconds + 2 * settings.flush_seconds)
                        live.update(view())
                        break
        stop.set()
        st = _stats(settings)
        took = time.monotonic() - started
        summary = Table(title="demo summary", show_header=False)
        summary.add_row("tickets sent", f"{sent[0]:,}")
        summary.add_row("tickets processed", f"{st.get('tickets', 0):,}")
        summary.add_row("dead-lettered", f"{st.get('deadlettered', 0):,} {st.get('deadletter_reasons', {})}")
        for (t, s), n in sorted(by_type.items()):
            summary.add_row(f"alerts {t} {s}", str(n))
        summary.add_row("inspection tasks", f"{st.get('inspection_tasks', 0):,} (on {settings.topic_inspection})")
        summary.add_row("throughput", f"{st.get('tickets', 0) / max(took, 1e-9):,.0f} tickets/s over {took:,.0f}s")
        console.print(summary)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        stop.set()
        if worker is not None:
            stop_process(worker, timeout=15)
        broker.stop()
