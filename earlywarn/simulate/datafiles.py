"""Reads the simulator's data tables (``earlywarn/simulate/data/*.json``), every array a tuple.

Names, vocabularies, narrative templates, the calendar and the incident families' variants
are data, kept out of the code that draws from them. Each file opens with an ``about`` entry
saying what it holds. Arrays become tuples (the simulator indexes them and never changes
them); objects stay dicts in file order, the order the simulator draws from. JSON keeps a
float's digits exactly (``2.0`` stays a float, ``300`` an int), so the tables are the same
values the code held before they moved here.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any


def load(name: str) -> dict[str, Any]:
    """The table ``data/<name>.json``, arrays as tuples.

    >>> load("calendar")["weekday_volume"]
    (1.06, 1.04, 1.03, 1.02, 1.0, 0.66, 0.62)
    """
    text = (files("earlywarn.simulate") / "data" / f"{name}.json").read_text(encoding="utf-8")
    table: dict[str, Any] = _frozen(json.loads(text))
    return table


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value
