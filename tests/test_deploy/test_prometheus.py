"""The boards tell the truth: every dashboard query, evaluated by a real Prometheus.

Debian's ``prometheus`` binary (``.ci/run`` installs it) runs on a free loopback port and
scrapes two real workers on the embedded broker every second. A replay of simulated
tickets (with a few bad messages) runs through them with two hand-overs: the second worker
joins mid-replay, and at the end the worker running the alert stage is stopped with
SIGTERM, so the other takes everything over. Then every query of every board in
``deploy/grafana/dashboards`` goes through Prometheus's HTTP API: each must parse, return
data when the run produced what it shows, and match the truth read from the topics
(open alerts are the alert topic's open episodes, lag is back to 0, tickets per second
integrate to the tickets sent, window keys are the state changelog's keys). The value of
every panel at the end of the run is printed (``-s`` or the captured log shows it).

A second test stalls a worker's broker (SIGSTOP), lets it go on, then kills it: the
operations board's health stats (broker up, workers ready, workers not ready), read
through Prometheus, turn red within seconds of each, and SIGTERM still stops the worker.

Open alerts are checked at every scrape of the run, hand-overs included, with no window
of tolerated error. The gauge can only be told by the worker that holds the alert stage,
and between a stopping owner's exit and the new owner's recovery of the stage (7-10 s
here) nobody holds it. So the owner sets it from the stage it recovers, together with
``earlywarn_alert_stage_recovered_timestamp_seconds``; a worker that loses the stage
removes both (not 0: Prometheus then keeps their last values), and the boards read
``last_over_time(earlywarn_open_alerts[1m])`` of the worker that recovered the stage last
(``topk(1, ...)`` of that timestamp). Until the new owner has recovered, that is the
departed owner's last values, which were true when it left (the stage changes nothing
without its owner); from then on, the new owner's, so a resolution or an escalation right
after a hand-over shows at once. (A max over workers of each one's last values would
bridge the gap too, but would show a stale higher count, or an escalated alert twice,
until the departed owner's values age out of the window.)
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from earlywarn.detect import detect
from earlywarn.simulate import SimConfig, generate
from streams.broker import free_port, stop_process
from streams.kafka_io import produce, read_topic

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
BOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS = "/usr/bin/prometheus"
SCRAPE = 1  # seconds
# Grafana's template variables, as Grafana would fill them for this run (a 1 s scrape):
# $__rate_interval is max(4 × scrape interval, $__interval + scrape interval).
RATE_INTERVAL = f"{4 * SCRAPE}s"
BAD_MESSAGES = [b"not json at all", b'{"ticket_id": "B1"}', b"[]"]  # not_json, missing_field, empty_batch
OVERVIEW = ROOT / "deploy" / "grafana" / "dashboards" / "earlywarn-overview.json"
# Queries that return nothing in this run, and why: nothing they show happened.
NOTHING_TO_SHOW = {
    "offset 1w": "no history a week before the run",
    'job="earlywarn-notify"': "notify is not run here (no push receivers)",
    'job="earlywarn-desk"': "the desk is not run here (staff verdicts: tests/test_desk/test_feedback.py)",
}


# ---------------------------------------------------------------- Prometheus


class Prometheus:
    """A Prometheus server scraping the workers listed in a file-SD target file."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        self.targets = tmp / "workers.json"
        self.targets.write_text("[]")
        config = tmp / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {SCRAPE}s\n  evaluation_interval: {SCRAPE}s\n"
            f"scrape_configs:\n  - job_name: earlywarn\n    scrape_timeout: {SCRAPE}s\n"
            f"    file_sd_configs:\n      - files: [{self.targets}]\n        refresh_interval: 1s\n")
        self.log = tmp / "prometheus.log"
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"prometheus did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def scrape(self, ports: list[int]) -> None:
        tmp = self.targets.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [f"127.0.0.1:{p}" for p in ports]}]))
        tmp.replace(self.targets)  # atomically: file SD never reads half a file

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # a query that does not parse answers 400 with the reason
            return json.loads(e.read())

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        answer = self.api("query", query=expr, **({"time": at} if at is not None else {}))
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        result = answer["data"]["result"]
        return result if answer["data"]["resultType"] == "vector" else [{"metric": {}, "value": result}]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The sum of an instant query's values (None: no data)."""
        result = self.query(expr, at)
        return sum(float(s["value"][1]) for s in result) if result else None

    def wait(self, expr: str, pred: Any, what: str, timeout: float = 60.0) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            v = self.value(expr)
            if pred(v):
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {expr} = {v}")
            time.sleep(0.5)

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def prometheus(tmp_path: Path) -> Any:
    if not Path(PROMETHEUS).exists():
        # Loud, never a quiet pass: the boards' truth is not checked without it.
        pytest.fail(f"{PROMETHEUS} is missing: install Debian's prometheus "
                    "(apt-get install -y --no-install-recommends prometheus; .ci/run does) to test the boards")
    p = Prometheus(tmp_path / "prometheus")
    yield p
    p.stop()


# ---------------------------------------------------------------- the boards' queries


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in board["panels"]:
        out.extend(panels(p) if p.get("type") == "row" and p.get("panels") else [p])
    return [p for p in out if p.get("targets")]


def fill(expr: str, district: str) -> str:
    """A board's query with Grafana's variables as Grafana fills them here (every worker)."""
    for name, value in (("__rate_interval", RATE_INTERVAL), ("__interval", f"{SCRAPE}s"),
                        ("interval", f"{SCRAPE}s"), ("instance", ".*"), ("district", district)):
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in expr, f"a template variable is left in {expr}"
    return expr


def variable_query(var: dict[str, Any]) -> str | None:
    """A query variable's ``label_values(metric, label)`` as PromQL (None: not a query variable)."""
    if var.get("type") != "query":
        return None
    q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q.strip())
    assert m, f"unknown variable query {q}"
    return f"count by ({m.group(2)}) ({m.group(1)})"


def shown(result: list[dict[str, Any]]) -> str:
    """An instant query's answer as a short line: each series' labels and value."""
    if not result:
        return "no data"
    parts = []
    for s in sorted(result, key=lambda s: -abs(float(s["value"][1]))):
        labels = ",".join(f"{v}" for k, v in sorted(s["metric"].items()) if k not in ("job", "__name__"))
        v = float(s["value"][1])
        parts.append(f"{labels + '=' if labels else ''}{v:.4g}")
    more = f" (+{len(parts) - 8} more series)" if len(parts) > 8 else ""
    return " ".join(parts[:8]) + more


def board_expr(path: Path, title: str) -> str:
    """The one query of the panel titled *title* (its English part) on a board."""
    [expr] = [t["expr"] for t in panel_titled(path, title)["targets"]]
    return expr


def panel_titled(path: Path, title: str) -> dict[str, Any]:
    """The one panel titled *title* (or "中文 · *title*") on a board."""
    [panel] = [p for p in panels(json.loads(path.read_text(encoding="utf-8")))
               if p["title"] == title or p["title"].endswith(" " + title)]
    return panel


# ---------------------------------------------------------------- the truth, from the topics


def alert_events(settings: Any) -> list[tuple[float, dict[str, Any]]]:
    """Every alert event with the time it was published (its Kafka timestamp, seconds)."""
    consumer = KafkaConsumer(**settings.kafka_options(), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        consumer.assign([TopicPartition(settings.topic_alerts, 0)])
        consumer.seek_to_beginning()
        return [(m.timestamp / 1000.0, orjson.loads(m.value)) for m in consumer]
    finally:
        consumer.close()


def open_episodes(events: list[tuple[float, dict[str, Any]]], at: float = float("inf")) -> Counter[tuple[str, str]]:
    """(type, severity) -> alerts whose last event published by *at* is not a resolution."""
    last: dict[str, dict[str, Any]] = {}
    for ts, a in events:
        if ts <= at:
            last[a["alert_id"]] = a
    return Counter((a["type"], a["severity"]) for a in last.values() if a["status"] != "resolved")


def state_keys(settings: Any) -> int:
    """Window keys in the state table's changelog (a partition's bookkeeping excluded)."""
    topic = f"{settings.app_id}-{settings.app_id}-state-changelog"
    return len({k for k, _ in read_topic(settings, topic, idle=2.0) if k is not None and not k.startswith(b"~")})


def simulated() -> list[bytes]:
    """Ten simulated days with a group dispute and a concentrated demand (~7,200 tickets)."""
    tickets, _ = generate(SimConfig(seed=23, days=10, tickets_per_day=700, firms=800, warmup_days=7.5,
                                    incidents=(("prepaid_closure", 1), ("product_defect", 1)), decoys=()))
    return [orjson.dumps(t) for t in tickets]


# ---------------------------------------------------------------- the test


def test_every_board_query_tells_the_truth_through_hand_overs(new_stream_env: Any, prometheus: Prometheus) -> None:
    # What the overview shows of open alerts: the total, critical, and by type and severity.
    open_total, open_critical, open_by = (board_expr(OVERVIEW, title) for title in (
        "open alerts", "open critical alerts", "open alerts by type and severity"))
    env = new_stream_env()
    # The feed runs on while the second worker joins: it must never pause for idle_seconds.
    env.settings = env.settings.with_(idle_seconds=8.0)
    s = env.settings
    lines = simulated()
    third = len(lines) // 3

    first = env.start_worker()
    prometheus.scrape([first.settings.web_port])
    prometheus.wait('up{job="earlywarn"}', lambda v: v == 1, "the first worker to be scraped")
    started = time.time()
    feed = threading.Thread(target=produce, args=(s, [*lines[:third], *BAD_MESSAGES, *lines[third:]]),
                            kwargs={"rate": 400.0})
    feed.start()
    try:
        first.wait_stats(lambda st: st["tickets"] >= third // 2, timeout=60)
        second = env.spawn_worker()  # joins mid-replay: the group rebalances
        prometheus.scrape([first.settings.web_port, second.settings.web_port])
        second.wait_stats(lambda st: st["tickets"] > 0, timeout=90)
    finally:
        feed.join()
    workers = {f"127.0.0.1:{w.settings.web_port}": w for w in (first, second)}
    assert feed.is_alive() is False
    total = sum(w.wait_stats(lambda st: True)["tickets"] for w in workers.values())
    deadline = time.monotonic() + 90
    while total < len(lines) and time.monotonic() < deadline:
        time.sleep(0.5)
        total = sum(w.stats()["tickets"] for w in workers.values())
    assert total == len(lines), f"{total} of {len(lines)} tickets counted"
    # The alerts are all out once the topic holds what `detect` gives for the same tickets
    # (the last ones come when every partition has been quiet for idle_seconds: a quiet spell
    # of the topic alone says nothing on a busy machine).
    expected = sorted((a["alert_id"], a["status"], a["severity"]) for a in detect(lines, s))
    read_topic(s, s.topic_alerts, until=lambda got: len(got) >= len(expected), timeout=120)
    assert sorted((a["alert_id"], a["status"], a["severity"]) for _, a in alert_events(s)) == expected

    # The worker running the alert stage leaves (SIGTERM); the other takes everything over.
    owner = prometheus.wait(f'earlywarn_partitions_owned{{topic="{s.topic_decisions}"}} == 1', lambda v: v == 1,
                            "the alert stage to have an owner")
    [stage] = prometheus.query(f'earlywarn_partitions_owned{{topic="{s.topic_decisions}"}} == 1')
    leaving = workers[stage["metric"]["instance"]]
    staying = next(w for w in workers.values() if w is not leaving)
    events_before = alert_events(s)
    assert open_episodes(events_before), "the run should leave alerts open (the test's point)"
    assert prometheus.value(open_total) == sum(open_episodes(events_before).values())
    # Only the owner tells open alerts: the worker still running without the stage has no series.
    for name in ("earlywarn_open_alerts", "earlywarn_alert_stage_recovered_timestamp_seconds"):
        assert {r["metric"]["instance"] for r in prometheus.query(f"count by (instance) ({name})")} == {
            stage["metric"]["instance"]}, name
    handed_over = time.time()
    leaving.process.terminate()
    assert leaving.process.wait(timeout=60) == 0, leaving.log.read_text()[-3000:]
    assert owner == 1
    prometheus.wait(f'sum(earlywarn_partitions_owned{{topic="{s.topic_decisions}"}})', lambda v: v == 1,
                    "the other worker to own the alert stage")
    prometheus.wait('sum(up{job="earlywarn"})', lambda v: v == 1, "the stopped worker to be down")
    truth_now = sum(open_episodes(events_before).values())
    prometheus.wait("sum(earlywarn_open_alerts)", lambda v: v == truth_now, "the new owner's open alerts", timeout=30)
    settled = time.time()
    prometheus.wait("sum(earlywarn_consumer_lag_messages)", lambda v: v == 0, "lag back to 0")
    time.sleep(3 * SCRAPE)
    end = time.time()

    # ---- the truth, from the topics and the workers
    events = alert_events(s)
    assert events == events_before, "the hand-over must publish nothing again"
    truth_open = open_episodes(events)
    opened = sum(a["status"] == "open" for _, a in events)
    tasks = len(read_topic(s, s.topic_inspection, idle=2.0))
    deadletters = len(read_topic(s, s.topic_deadletter, idle=2.0))
    keys = state_keys(s)
    district = Counter(orjson.loads(x)["district_code"] for x in lines).most_common(1)[0][0]

    # ---- every query of every board: parses, has data when the run made some; values printed
    report: list[str] = [f"\n=== every panel at the end of the run ({time.time() - started:.0f} s; "
                         f"{len(lines)} tickets, {len(BAD_MESSAGES)} bad messages, {len(events)} alert events, "
                         f"open {dict(truth_open)}; $district={district}) ==="]
    empty: list[str] = []
    for path in BOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        report.append(f"--- {path.name}")
        for var in board.get("templating", {}).get("list", []):
            q = variable_query(var)
            if q is not None:
                result = prometheus.query(q, end)
                report.append(f"  variable ${var['name']}: {q} -> {shown(result)}")
                assert result, f"{path.name}: variable {var['name']} lists nothing"
        for panel in panels(board):
            for t in panel["targets"]:
                expr = fill(t["expr"], district)
                result = prometheus.query(expr, end)  # fails on a query that does not parse
                report.append(f"  [{panel['type']}] {panel['title']} ({t['refId']}): {shown(result)}")
                if not result and not any(k in expr for k in NOTHING_TO_SHOW):
                    empty.append(f"{path.name}: {panel['title']}: {expr}")
    print("\n".join(report))
    assert not empty, "queries with no data though the run produced what they show:\n" + "\n".join(empty)

    # ---- what the boards show equals the truth
    q = prometheus.value
    sent = len(lines)
    assert q('sum(up{job="earlywarn"})', end) == 1  # workers up: the one left
    assert q("min(earlywarn_broker_up)", end) == 1 and q("min(earlywarn_worker_ready)", end) == 1
    # Lag is back to 0: the tickets all read; the internal topics at most a flush's sawtooth
    # (idle heartbeats still send progress, acknowledged at each flush), 0 within seconds.
    assert q(f'sum(earlywarn_consumer_lag_messages{{topic="{s.topic_tickets}"}})', end) == 0
    assert q("min_over_time(sum(earlywarn_consumer_lag_messages)[10s:1s])", end) == 0
    assert q(open_total, end) == sum(truth_open.values())
    assert q(open_critical, end) == sum(n for (_, sev), n in truth_open.items() if sev == "critical")
    by_type_severity = {(r["metric"]["type"], r["metric"]["severity"]): float(r["value"][1])
                        for r in prometheus.query(open_by, end)}
    assert by_type_severity == {k: float(v) for k, v in truth_open.items()}
    # The one worker left holds every partition, and every window key of the state table.
    assert q("sum(earlywarn_partitions_owned)", end) == s.ticket_partitions + s.partitions + 1
    assert q("sum(earlywarn_engine_keys)", end) == keys > 0
    # Counters, integrated by Prometheus over the run, give what was sent and published
    # (increase() extrapolates a little at a series' ends: a tolerance).
    assert q("sum(increase(earlywarn_tickets_total[24h]))", end) == pytest.approx(sent, rel=0.03)
    assert q('sum(increase(earlywarn_alerts_total{status="open"}[24h]))', end) == pytest.approx(opened, abs=1.5)
    assert q("sum(increase(earlywarn_alerts_raised_total[24h]))", end) == pytest.approx(opened, abs=1.5)
    assert q("sum(increase(earlywarn_inspection_tasks_total[24h]))", end) == pytest.approx(tasks, abs=1.5)
    assert q("sum(increase(earlywarn_deadletters_total[24h]))", end) == pytest.approx(deadletters, abs=1.5)
    assert deadletters == len(BAD_MESSAGES)
    # tickets / s (the operations board's stat), integrated over the run, is the tickets sent.
    rate = fill('sum(rate(earlywarn_tickets_total{instance=~"$instance"}[$__rate_interval]))', district)
    answer = prometheus.api("query_range", query=rate, start=started - 10, end=end, step=SCRAPE)
    [series] = answer["data"]["result"]
    integral = sum(float(v) for _, v in series["values"]) * SCRAPE
    print(f"tickets/s integrated over the run: {integral:.0f} of {sent} sent")
    assert integral == pytest.approx(sent, rel=0.1)
    # Open alerts at every scrape against the topic's open episodes then, by type and
    # severity, right through both hand-overs (a scrape lags the truth by up to three scrape
    # intervals): never off, not even while no worker holds the alert stage.
    def steps(expr: str) -> list[dict[str, Any]]:
        answer = prometheus.api("query_range", query=expr, start=started, end=end, step=SCRAPE)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        return answer["data"]["result"]

    [series] = steps(open_total)  # "or vector(0)": a value at every step
    total = {float(t): float(v) for t, v in series["values"]}
    seen: dict[float, Counter[tuple[str, str]]] = {t: Counter() for t in total}
    for by in steps(open_by):
        for t, v in by["values"]:
            seen[float(t)][(by["metric"]["type"], by["metric"]["severity"])] = int(float(v))

    # The gauge may also lead the topic by a moment: a sample carries its scrape's start time,
    # and an alert's record is timestamped when the producer sends it from its buffer, after
    # the gauge has counted it. So a sample is right when it equals any state the topic went
    # through from 3 scrapes before it to LEAD after (every event between is a state).
    lead = 1.0

    def truth_at(t: float) -> list[Counter[tuple[str, str]]]:
        moments = [t - 3 * SCRAPE, *(ts for ts, _ in events if t - 3 * SCRAPE < ts <= t + lead)]
        return [open_episodes(events, m) for m in moments]

    wrong = [t for t in total if all(seen[t] != c or total[t] != c.total() for c in truth_at(t))]
    print(f"open alerts: {len(total)} steps, {len(wrong)} off the truth (s from the hand-over, shown, true): "
          f"{[(round(t - handed_over), total[t], sum(open_episodes(events, t).values())) for t in wrong][:20]}; "
          f"the new owner recovered the stage {settled - handed_over:.1f} s after the hand-over began")
    # What the bare gauge summed over workers (the boards' former query) shows, for the record.
    [bare] = steps("sum(earlywarn_open_alerts) or vector(0)")
    bare_wrong = [float(t) for t, v in bare["values"] if all(float(v) != c.total() for c in truth_at(float(t)))]
    print(f"the bare sum(earlywarn_open_alerts) would be off at {len(bare_wrong)} steps "
          f"(s from the hand-over: {[round(t - handed_over) for t in bare_wrong][:20]})")
    assert not wrong, "open alerts off the truth"
    # The boards bridge the hand-over with the departed owner's values of the past minute.
    assert settled - handed_over < 40


# ---------------------------------------------------------------- a broker that stalls, then dies

OPERATIONS = ROOT / "deploy" / "grafana" / "dashboards" / "earlywarn-operations.json"


def red(path: Path, title: str, value: float | None) -> bool:
    """Whether a stat panel shows *value* in red (its thresholds: the last step at or below it)."""
    steps = panel_titled(path, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
    if value is None:
        return False  # "No data" is grey, not red
    color = steps[0]["color"]
    for step in steps[1:]:
        if value >= step["value"]:
            color = step["color"]
    return color == "red"


@pytest.mark.broker
def test_the_operations_board_turns_red_within_seconds_of_a_broker_stall_and_a_broker_kill(
        new_stream_env: Any, prometheus: Prometheus, tmp_path: Path) -> None:
    import signal

    from streams.broker import start_broker

    own = start_broker(log_dir=str(tmp_path))  # a broker of this test's own, to stall and kill
    env = new_stream_env()
    env.settings = env.settings.with_(broker=own.bootstrap)
    board = {title: fill(board_expr(OPERATIONS, title), "310115")
             for title in ("broker up", "workers ready", "workers not ready", "errors / min (broker + Redis)")}

    def shown() -> dict[str, float | None]:
        return {title: prometheus.value(expr) for title, expr in board.items()}

    def wait_red(what: str, since: float, titles: tuple[str, ...]) -> float:
        while True:
            values = shown()
            if all(red(OPERATIONS, t, values[t]) for t in titles):
                return time.monotonic() - since
            assert time.monotonic() - since < 45, f"{what}: the board still shows {values}"
            time.sleep(0.5)

    try:
        w = env.start_worker()
        prometheus.scrape([w.settings.web_port])
        prometheus.wait("min(earlywarn_worker_ready)", lambda v: v == 1, "the worker to be ready")
        produce(env.settings, simulated()[:200])
        w.wait_stats(lambda st: st["tickets"] >= 200, timeout=60)
        values = shown()
        assert not any(red(OPERATIONS, t, v) for t, v in values.items()), values
        # A stall: the broker's process stopped, its sockets open and silent.
        own.process.send_signal(signal.SIGSTOP)
        stall = wait_red("a stalled broker", time.monotonic(), ("broker up", "workers ready", "workers not ready"))
        own.process.send_signal(signal.SIGCONT)
        back = time.monotonic()
        prometheus.wait("min(earlywarn_broker_up) * min(earlywarn_worker_ready)", lambda v: v == 1,
                        "the worker to recover from the stall")
        recovered = time.monotonic() - back
        # A kill: the broker gone for good.
        own.stop()
        kill = wait_red("a killed broker", time.monotonic(), ("broker up", "workers ready", "workers not ready"))
        print(f"operations board red {stall:.1f} s into a broker stall (green {recovered:.1f} s after it ended), "
              f"{kill:.1f} s after a broker kill: {shown()}")
        w.process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert w.process.wait(timeout=30) is not None
        print(f"SIGTERM with the broker gone: exited in {time.monotonic() - stopped:.1f} s")
    finally:
        own.stop()
