"""The simulator's data tables (earlywarn/simulate/data/*.json): complete, shipped, and the same values."""

from __future__ import annotations

import hashlib
import tomllib
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

from earlywarn.simulate import INCIDENT_TERMS, SimConfig, Simulation
from earlywarn.simulate.datafiles import load

ROOT = Path(__file__).resolve().parents[2]
TABLES = sorted(p.name for p in (files("earlywarn.simulate") / "data").iterdir() if p.name.endswith(".json"))


def lists_in(value: Any) -> int:
    if isinstance(value, list):
        return 1 + sum(lists_in(v) for v in value)
    if isinstance(value, tuple):
        return sum(lists_in(v) for v in value)
    if isinstance(value, dict):
        return sum(lists_in(v) for v in value.values())
    return 0


def test_every_table_says_what_it_holds_and_loads_as_tuples() -> None:
    assert TABLES == ["calendar.json", "consultations.json", "incidents.json", "names.json", "narratives.json",
                      "sectors.json"]  # fmt: skip
    for name in TABLES:
        table = load(name.removesuffix(".json"))
        assert isinstance(table["about"], str) and len(table["about"]) > 40, name
        assert lists_in(table) == 0, name


def test_the_package_data_setting_ships_every_table() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "earlywarn.simulate" in setuptools["packages"]
    globs = setuptools["package-data"]["earlywarn.simulate"]
    assert all(any(fnmatch(f"data/{name}", g) for g in globs) for name in TABLES)


def test_signature_terms_come_from_the_family_tables() -> None:
    incidents = load("incidents")
    assert INCIDENT_TERMS["platform_issue_surge"] == tuple(s["term"] for s in incidents["surges"])
    assert INCIDENT_TERMS["platform_policy"] == tuple(t for p in incidents["policies"] for t in p["terms"])


def test_a_small_scenario_is_byte_for_byte_what_it_was_before_the_tables_moved() -> None:
    # Digests of the single-module simulator's output (before the data went to JSON files): an
    # edit to a table that changes what is generated shows here. Update them when that is meant.
    sim = Simulation(SimConfig(seed=3, days=6, tickets_per_day=1500, incidents=0.8, decoys=0.5))
    tickets = hashlib.sha256(b"".join(orjson.dumps(t) + b"\n" for t in sim.tickets())).hexdigest()
    labels = b"".join(orjson.dumps(i, option=orjson.OPT_SERIALIZE_DATACLASS) + b"\n" for i in sim.incidents)
    assert tickets == "6e9e991425737677281c91e5275d0287d5c18f012b7327968303757b55eb1e4f"
    assert hashlib.sha256(labels).hexdigest() == "6e437eff4c1dd6c6b69734dd4ee8b8ac6866ab008e1cc343e24403745789cfa3"
