"""The Grafana boards in deploy/ query only metrics the workers and notify really export.

Checked statically here (test_prometheus.py evaluates every query with a real Prometheus):
every metric name in every PromQL expression must be exported by a worker
(``streams.metrics.Metrics``), by notify (``alerts.notify.metrics.NotifyMetrics``) or by the
desk (``desk.metrics.DeskMetrics``), read
from fresh registries' ``collect()``; ``rate``/``increase`` only ever see counters or
histogram series, and every panel uses the provisioned data source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from alerts.notify.metrics import NotifyMetrics
from desk.metrics import DeskMetrics
from streams import metrics as m
from streams.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
BOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')  # label values are not metric names
_NAME = re.compile(r"(?<![A-Za-z0-9_:])earlywarn_[A-Za-z0-9_:]*")
_RATE_OF = re.compile(r"\b(?:rate|irate|increase)\(\s*(earlywarn_[A-Za-z0-9_:]*)")


def collected() -> list[Any]:
    """The metric families a worker, notify and the desk export (fresh registries)."""
    return [*Metrics(CollectorRegistry()).registry.collect(), *NotifyMetrics(CollectorRegistry()).registry.collect(),
            *DeskMetrics(CollectorRegistry()).registry.collect()]


def families() -> dict[str, str]:
    """Metric family name -> type, as fresh registries' ``collect()`` report them."""
    return {fam.name: fam.type for fam in collected()}


def exported() -> dict[str, str]:
    """Every series name a worker exports -> the type of its family.

    Only names Prometheus will store: a counter family ``x`` is scraped as ``x_total``
    and a histogram ``h`` as ``h_bucket``/``h_count``/``h_sum``, never under the bare
    family name. Families with no series yet (a label set not used so far) count too.
    """
    names: dict[str, str] = {}
    for fam in collected():
        if fam.type == "counter":
            names[fam.name + "_total"] = "counter"
        elif fam.type == "histogram":
            names.update({fam.name + s: "histogram" for s in HISTOGRAM_SUFFIXES})
        else:
            names[fam.name] = fam.type
        for s in fam.samples:
            names.setdefault(s.name, fam.type)
    return names


def walk(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under *key*, anywhere in a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)


def exprs(board: dict[str, Any]) -> list[str]:
    out = [e for e in walk(board, "expr") if isinstance(e, str)]
    for var in board.get("templating", {}).get("list", []):  # query variables are PromQL too
        if var.get("type") == "query":
            q = var.get("query")
            out.append(q.get("query", "") if isinstance(q, dict) else str(q))
    return out


def metric_names(expr: str) -> set[str]:
    """The earlywarn metric names an expression uses (functions, labels and strings stripped)."""
    return set(_NAME.findall(_STRING.sub('""', expr)))


def base_name(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_three_boards_are_there() -> None:
    uids = {load(p)["uid"] for p in BOARDS}
    assert {"earlywarn-overview", "earlywarn-operations", "earlywarn-district"} <= uids
    assert len(uids) == len(BOARDS), "dashboard uids must be unique"


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_every_metric_a_board_queries_is_exported(path: Path) -> None:
    names, fams = exported(), families()
    board = load(path)
    used: set[str] = set()
    for expr in exprs(board):
        for name in metric_names(expr):
            used.add(name)
            assert name in names, f"{path.name}: {name} is exported by no worker, notify or desk (in {expr!r})"
            if name != base_name(name):  # a _bucket/_count/_sum series belongs to a histogram
                assert fams.get(base_name(name)) == "histogram", f"{path.name}: {name} is not a histogram's"
        for name in _RATE_OF.findall(_STRING.sub('""', expr)):
            kind = names.get(name)
            assert kind == "counter" or (kind == "histogram" and name != base_name(name)), (
                f"{path.name}: rate/increase of {name}, a {kind}: only counters and histogram series grow")
    assert used, f"{path.name} queries no earlywarn metric"


def test_the_extraction_sees_through_functions_and_labels() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, stage) (rate(earlywarn_processing_seconds_bucket'
            '{instance=~"$instance", topic="earlywarn_not_a_metric"}[5m]))) / earlywarn_engine_keys')
    assert metric_names(expr) == {"earlywarn_processing_seconds_bucket", "earlywarn_engine_keys"}
    assert base_name("earlywarn_processing_seconds_bucket") == "earlywarn_processing_seconds"
    names = exported()
    assert "earlywarn_tickets_total" in names and "earlywarn_delta_send_seconds_count" in names
    assert "earlywarn_tickets" not in names, "a counter is never stored under its bare family name"
    assert "earlywarn_engine_keys" in names  # a family with no series yet (no partition assigned) counts too


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_every_panel_uses_the_provisioned_prometheus(path: Path) -> None:
    prov = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in prov["datasources"] if d["type"] == "prometheus"}
    for ds in walk(load(path), "datasource"):
        if isinstance(ds, dict):
            assert ds.get("type") == "prometheus" and ds.get("uid") in uids, f"{path.name}: data source {ds}"


def test_the_district_board_has_a_district_variable_over_the_closed_set() -> None:
    board = load(GRAFANA / "dashboards" / "earlywarn-district.json")
    [var] = [v for v in board["templating"]["list"] if v["name"] == "district"]
    values = {o["value"] for o in var["options"]}
    assert values == set(m.DISTRICTS)
    # Grafana rebuilds a custom variable's options from "text : value" pairs in its query.
    assert {pair.rsplit(" : ", 1)[1] for pair in var["query"].split(",")} == set(m.DISTRICTS)
    assert all('district="$district"' in e for e in exprs(board) if "$district" in e)
    assert sum('district="$district"' in e for e in exprs(board)) >= 3


def test_the_operations_board_is_per_worker_and_the_cockpit_shows_open_critical_alerts() -> None:
    ops = load(GRAFANA / "dashboards" / "earlywarn-operations.json")
    assert "instance" in {v["name"] for v in ops["templating"]["list"]}
    ops_exprs = exprs(ops)
    assert any("histogram_quantile" in e for e in ops_exprs)
    assert any("earlywarn_consumer_lag_messages" in e for e in ops_exprs)
    assert any("by (instance" in e for e in ops_exprs)
    overview = exprs(load(GRAFANA / "dashboards" / "earlywarn-overview.json"))
    assert any('earlywarn_open_alerts{severity="critical"}' in e for e in overview)
    assert any("by (district)" in e for e in overview) and any("by (kind)" in e for e in overview)
    assert any("earlywarn_deadletters_total" in e for e in overview)


def test_grafana_loads_the_boards_from_where_compose_mounts_them() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "earlywarn.yml").read_text())
    [p] = provider["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in compose["services"]["grafana"]["volumes"]
                  if v.startswith("./"))
    assert mounts["./deploy/grafana/dashboards"] == p["options"]["path"]


def test_the_boards_show_health_in_red_leaders_views_and_notify_delivery() -> None:
    ops = load(GRAFANA / "dashboards" / "earlywarn-operations.json")
    red = {p["title"]: p for p in ops["panels"] if p["type"] == "stat"
           and p["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["color"] == "red"}
    assert any("earlywarn_broker_up" in t["expr"] for p in red.values() for t in p["targets"])
    assert any("earlywarn_worker_ready" in t["expr"] for p in red.values() for t in p["targets"])
    overview = exprs(load(GRAFANA / "dashboards" / "earlywarn-overview.json"))
    assert any("by (type, district)" in e and "earlywarn_alerts_raised_total" in e for e in overview)
    assert any("earlywarn_inspection_tasks_total" in e for e in overview)
    assert any("by (reason)" in e and "earlywarn_deadletters_total" in e for e in overview)
    # Pushes are notify's: never filtered by the worker variable, which lists workers only.
    pushes = [e for b in BOARDS for e in exprs(load(b)) if "earlywarn_pushes_total" in e]
    assert pushes and all('job="earlywarn-notify"' in e for e in pushes)
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert "earlywarn-notify" in {j["job_name"] for j in scrape["scrape_configs"]}
