"""The routing file: receivers by name, a tree of routes, inhibition rules.

YAML, shaped like Alertmanager's ``route``/``receivers``/``inhibit_rules``. Every error
names the file and line it is about (from YAML's node marks), and nothing is half-loaded:
a file with an error is refused whole.

A route has ``matchers`` (see :mod:`alerts.notify.labels`), a ``receiver``, ``continue``
and child ``routes``; ``group_by``, ``group_wait``, ``group_interval``,
``repeat_interval`` and ``repeat_severity`` are inherited from the parent when unset.
The tree is matched top-down: an event goes down the first child that matches, and on to
its next siblings only when that child says ``continue: true``; a route none of whose
children match takes the event itself (so a parent whose child matched is not told too:
add a child without matchers for that). The root matches every event.

>>> tree = load_text('''
... receivers:
...   - {name: duty, console: {}}
...   - {name: pudong, webhook: {url: "http://127.0.0.1:9/hook"}}
... route:
...   receiver: duty
...   group_wait: 30s
...   routes:
...     - matchers: ['district_code="310115"']
...       receiver: pudong
...       continue: true
...     - matchers: ['severity="critical"']
...       receiver: duty
...       group_wait: 0s
... ''')
>>> [(r.receiver, r.group_wait) for r in tree.match({"district_code": "310115", "severity": "critical"})]
[('pudong', 30.0), ('duty', 0.0)]
>>> [r.receiver for r in tree.match({"district_code": "310115", "severity": "info"})]
['pudong']
>>> [r.receiver for r in tree.match({"district_code": "310104"})]
['duty']
>>> load_text("route: {receiver: nobody}\\nreceivers: []\\n")
Traceback (most recent call last):
...
alerts.notify.routing.RoutingError: <routes>:1: route: receiver 'nobody' is not defined under receivers
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts.notify.labels import LABELS, SEVERITY_RANK, Matcher, matches_all, parse_matcher


class RoutingError(ValueError):
    """The routing file is not usable; the message starts ``file:line:``."""


# Receiver kinds -> (required fields, optional fields). Every receiver may also say send_resolved.
RECEIVER_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "console": (frozenset(), frozenset()),
    "webhook": (frozenset({"url"}), frozenset({"headers", "timeout"})),
    "alertmanager": (frozenset({"url"}), frozenset({"headers", "timeout"})),
    "wecom": (frozenset({"url"}), frozenset({"rate_per_minute", "timeout"})),
    "dingtalk": (frozenset({"url"}), frozenset({"secret", "rate_per_minute", "timeout"})),
    "email": (frozenset({"to", "from", "host"}),
              frozenset({"port", "username", "password", "starttls", "ssl", "timeout"})),
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ROUTE_KEYS = {"matchers", "receiver", "continue", "routes", "group_by", "group_wait", "group_interval",
               "repeat_interval", "repeat_severity"}
# The root route's defaults (Alertmanager's: 30s, 5m, 4h), and the story as the group.
DEFAULTS = {"group_by": ("story",), "group_wait": 30.0, "group_interval": 300.0,
            "repeat_interval": 14400.0, "repeat_severity": "critical"}


@dataclass(frozen=True)
class ReceiverSpec:
    name: str
    kind: str
    options: Mapping[str, Any]
    send_resolved: bool = True


@dataclass(frozen=True)
class Route:
    """A node of the tree, with its inherited settings filled in."""

    path: str  # "0", "0.2", "0.2.1": stable ids for group keys while the file keeps its shape
    matchers: tuple[Matcher, ...]
    receiver: str
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    repeat_severity: str
    routes: tuple[Route, ...] = ()

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an event with *labels* goes to (Alertmanager's ``Route.Match``)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            got = child.match(labels)
            found.extend(got)
            if got and not child.continue_:
                break
        return found or [self]

    def repeats(self, severity: str) -> bool:
        return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK[self.repeat_severity]


@dataclass(frozen=True)
class InhibitRule:
    """Active alerts matching ``source`` mute alerts matching ``target`` that are about the same thing.

    The same thing: equal values of every label in ``equal`` (Alertmanager's rule) and, when
    ``shared_evidence`` is set, at least that share of the target's evidence tickets among
    the source's (earlywarn's: a term surge names no firm, its tickets do).
    """

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    shared_evidence: float | None = None

    def mutes(self, target: Mapping[str, Any], target_labels: Mapping[str, str],
              source: Mapping[str, Any], source_labels: Mapping[str, str]) -> bool:
        if target_labels["alert_id"] == source_labels["alert_id"]:
            return False
        if not (matches_all(self.target, target_labels) and matches_all(self.source, source_labels)):
            return False
        if any(target_labels.get(n, "") != source_labels.get(n, "") for n in self.equal):
            return False
        if self.shared_evidence is not None:
            mine = set(target.get("ticket_ids") or ())
            if not mine or len(mine & set(source.get("ticket_ids") or ())) < self.shared_evidence * len(mine):
                return False
        return True


@dataclass(frozen=True)
class RoutingTree:
    root: Route
    receivers: Mapping[str, ReceiverSpec]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    routes_by_path: Mapping[str, Route] = field(default_factory=dict)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        return self.root.match(labels)


def parse_duration(text: Any) -> float:
    """Seconds in ``500ms``, ``30s``, ``5m``, ``4h``, ``1d`` or a plain number of seconds.

    >>> parse_duration("5m"), parse_duration(1.5), parse_duration("250ms")
    (300.0, 1.5, 0.25)
    """
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return float(text)
    m = _DURATION.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 5m, 4h, 1d)")
    return float(m.group(1)) * _UNIT[m.group(2)]


class _Reader:
    """Walks composed YAML nodes, so every complaint can name its line."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self._constructor = yaml.SafeLoader("")
        try:
            self.root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            raise RoutingError(f"{source}:{line}: not valid YAML: {exc.problem or exc}") from None

    def error(self, node: yaml.Node | None, message: str) -> RoutingError:
        line = node.start_mark.line + 1 if node is not None else 1
        return RoutingError(f"{self.source}:{line}: {message}")

    def mapping(self, node: yaml.Node, what: str, allowed: set[str] | None = None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what}: expected a mapping")
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            name = self.scalar(k, what)
            if allowed is not None and name not in allowed:
                raise self.error(k, f"{what}: unknown key {name!r} (allowed: {', '.join(sorted(allowed))})")
            if name in out:
                raise self.error(k, f"{what}: {name!r} given twice")
            out[str(name)] = v
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what}: expected a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what}: expected a single value")
        return self._constructor.construct_object(node)

    def text(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node, what)
        if not isinstance(value, str) or not value:
            raise self.error(node, f"{what}: expected text")
        return value

    def plain(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)


def _receivers(r: _Reader, node: yaml.Node) -> dict[str, ReceiverSpec]:
    specs: dict[str, ReceiverSpec] = {}
    for item in r.sequence(node, "receivers"):
        fields = r.mapping(item, "receiver", {"name", "send_resolved", *RECEIVER_FIELDS})
        if "name" not in fields:
            raise r.error(item, "receiver: needs a name")
        name = r.text(fields["name"], "receiver name")
        if name in specs:
            raise r.error(fields["name"], f"receiver {name!r} is defined twice")
        kinds = [k for k in fields if k in RECEIVER_FIELDS]
        if len(kinds) != 1:
            raise r.error(item, f"receiver {name!r}: give exactly one of {', '.join(RECEIVER_FIELDS)}")
        kind = kinds[0]
        required, optional = RECEIVER_FIELDS[kind]
        body_node = fields[kind]
        body = {} if isinstance(body_node, yaml.ScalarNode) and body_node.value in ("", "~", "null") \
            else r.mapping(body_node, f"receiver {name!r} ({kind})", set(required | optional))
        missing = required - set(body)
        if missing:
            raise r.error(body_node, f"receiver {name!r} ({kind}): missing {', '.join(sorted(missing))}")
        options = {k: r.plain(v) for k, v in body.items()}
        for k in ("url",):
            if k in options and not re.match(r"^https?://", str(options[k])):
                raise r.error(body[k], f"receiver {name!r}: url must start with http:// or https://")
        if "rate_per_minute" in options and not (isinstance(options["rate_per_minute"], int)
                                                 and options["rate_per_minute"] >= 1):
            raise r.error(body["rate_per_minute"], f"receiver {name!r}: rate_per_minute must be a whole number ≥ 1")
        if kind == "email" and isinstance(options["to"], str):
            options["to"] = [options["to"]]
        resolved = True
        if "send_resolved" in fields:
            resolved = r.scalar(fields["send_resolved"], "send_resolved")
            if not isinstance(resolved, bool):
                raise r.error(fields["send_resolved"], "send_resolved: expected true or false")
        specs[name] = ReceiverSpec(name, kind, options, resolved)
    return specs


def _route(r: _Reader, node: yaml.Node, parent: Mapping[str, Any], path: str,
           receivers: Mapping[str, ReceiverSpec], out: dict[str, Route]) -> Route:
    where = "route" if path == "0" else f"route {path}"
    fields = r.mapping(node, where, _ROUTE_KEYS)
    matchers: list[Matcher] = []
    if "matchers" in fields:
        for m in r.sequence(fields["matchers"], f"{where} matchers"):
            try:
                matchers.append(parse_matcher(r.text(m, "matcher")))
            except ValueError as exc:
                raise r.error(m, f"{where}: {exc}") from None
    own = dict(parent)
    if "receiver" in fields:
        own["receiver"] = r.text(fields["receiver"], f"{where} receiver")
        if own["receiver"] not in receivers:
            raise r.error(fields["receiver"], f"{where}: receiver {own['receiver']!r} is not defined under receivers")
    elif path == "0":
        raise r.error(node, "route: the root route needs a receiver (the default)")
    if "group_by" in fields:
        group_by = tuple(r.text(g, "group_by") for g in r.sequence(fields["group_by"], f"{where} group_by"))
        unknown = [g for g in group_by if g not in LABELS and g != "..."]
        if unknown:
            raise r.error(fields["group_by"], f"{where}: group_by: unknown label {unknown[0]!r} "
                                              f"(labels: {', '.join(LABELS)}, or ... for every label)")
        own["group_by"] = group_by
    for k in ("group_wait", "group_interval", "repeat_interval"):
        if k in fields:
            try:
                own[k] = parse_duration(r.scalar(fields[k], k))
            except ValueError as exc:
                raise r.error(fields[k], f"{where}: {k}: {exc}") from None
    if "repeat_severity" in fields:
        own["repeat_severity"] = r.text(fields["repeat_severity"], "repeat_severity")
        if own["repeat_severity"] not in SEVERITY_RANK:
            raise r.error(fields["repeat_severity"], f"{where}: repeat_severity must be info, warning or critical")
    cont = False
    if "continue" in fields:
        cont = r.scalar(fields["continue"], "continue")
        if not isinstance(cont, bool):
            raise r.error(fields["continue"], f"{where}: continue: expected true or false")
    children = r.sequence(fields["routes"], f"{where} routes") if "routes" in fields else []
    kids = tuple(_route(r, c, own, f"{path}.{i}", receivers, out) for i, c in enumerate(children))
    route = Route(path, tuple(matchers), own["receiver"], cont, tuple(own["group_by"]), own["group_wait"],
                  own["group_interval"], own["repeat_interval"], own["repeat_severity"], kids)
    out[path] = route
    return route


def _inhibit(r: _Reader, node: yaml.Node) -> tuple[InhibitRule, ...]:
    rules = []
    for item in r.sequence(node, "inhibit_rules"):
        f = r.mapping(item, "inhibit rule", {"source_matchers", "target_matchers", "equal", "shared_evidence"})
        parsed: dict[str, tuple[Matcher, ...]] = {}
        for k in ("source_matchers", "target_matchers"):
            if k not in f:
                raise r.error(item, f"inhibit rule: needs {k}")
            try:
                parsed[k] = tuple(parse_matcher(r.text(m, "matcher")) for m in r.sequence(f[k], k))
            except ValueError as exc:
                raise r.error(f[k], f"inhibit rule: {exc}") from None
        equal = tuple(r.text(e, "equal") for e in r.sequence(f["equal"], "equal")) if "equal" in f else ()
        bad = [e for e in equal if e not in LABELS]
        if bad:
            raise r.error(f["equal"], f"inhibit rule: equal: unknown label {bad[0]!r}")
        share = None
        if "shared_evidence" in f:
            share = r.scalar(f["shared_evidence"], "shared_evidence")
            if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
                raise r.error(f["shared_evidence"], "inhibit rule: shared_evidence must be a share in (0, 1]")
        rules.append(InhibitRule(parsed["source_matchers"], parsed["target_matchers"], equal, share))
    return tuple(rules)


def load_text(text: str, source: str = "<routes>") -> RoutingTree:
    """The routing tree in YAML *text*; RoutingError naming the line when it is not usable."""
    r = _Reader(text, source)
    if r.root is None:
        raise RoutingError(f"{source}:1: the routing file is empty (it needs route and receivers)")
    top = r.mapping(r.root, "routing file", {"route", "receivers", "inhibit_rules"})
    for k in ("route", "receivers"):
        if k not in top:
            raise r.error(r.root, f"routing file: needs {k}")
    receivers = _receivers(r, top["receivers"])
    by_path: dict[str, Route] = {}
    root = _route(r, top["route"], DEFAULTS, "0", receivers, by_path)
    if root.matchers:
        raise r.error(top["route"], "route: the root route matches every event; put matchers on its routes")
    rules = _inhibit(r, top["inhibit_rules"]) if "inhibit_rules" in top else ()
    return RoutingTree(root, receivers, rules, by_path)


def load(path: str | Path) -> RoutingTree:
    """The routing tree in the file at *path*."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingError(f"{path}: cannot read the routing file: {exc.strerror or exc}") from None
    return load_text(text, str(path))
