"""The routing file: a malformed one is refused naming its line; the tree routes like Alertmanager's."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.notify.labels import labels_of
from alerts.notify.routing import RoutingError, load, load_text
from tests.test_alerts.conftest import event

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
receivers:
  - name: duty
    console: {}
  - name: pudong
    dingtalk: {url: "https://oapi.dingtalk.com/robot/send?access_token=x", secret: SEC}
  - name: mail
    email: {host: 127.0.0.1, from: ew@example.cn, to: duty@example.cn}
route:
  receiver: duty
  group_by: [story]
  group_wait: 10s
  routes:
    - matchers: ['district_code="310115"']
      receiver: pudong
      continue: true
    - matchers: ['severity=~"warning|critical"', 'type!="term_surge"']
      receiver: mail
      group_wait: 1s
"""


@pytest.mark.parametrize(("text", "line", "words"), [
    (GOOD.replace("receiver: mail", "receiver: nobody"), 17, "receiver 'nobody' is not defined"),
    (GOOD.replace("group_wait: 1s", "group_wait: soon"), 18, "'soon' is not a duration"),
    (GOOD.replace('type!="term_surge"', 'kind!="term_surge"'), 16, "unknown label 'kind'"),
    (GOOD.replace("severity=~", "severity=~(").replace('"warning', "warning"), 16, "bad regular expression"),
    (GOOD.replace("secret: SEC", "secret: SEC, colour: red"), 5, "unknown key 'colour'"),
    (GOOD.replace("email: {host: 127.0.0.1, ", "email: {"), 7, "missing host"),
    (GOOD.replace("  group_by: [story]", "  group_by: [story"), 11, "not valid YAML"),
    (GOOD.replace("      continue: true", "      continue: maybe"), 15, "continue: expected true or false"),
    (GOOD.replace("    console: {}", "    console: {}\n    webhook: {url: http://x}"), 2, "exactly one of"),
    (GOOD + "inhibit_rules:\n  - source_matchers: ['type=group_dispute']\n", 20, "needs target_matchers"),
])
def test_a_malformed_routing_file_is_refused_naming_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "routes.yml"
    path.write_text(text)
    with pytest.raises(RoutingError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and words in str(err.value), str(err.value)


def test_routes_match_top_down_with_continue_and_inherit_settings() -> None:
    tree = load_text(GOOD)
    pudong_critical = labels_of(event(1, severity="critical"))
    got = tree.match(pudong_critical)
    assert [(r.receiver, r.group_wait, r.group_by) for r in got] == [("pudong", 10.0, ("story",)),
                                                                      ("mail", 1.0, ("story",))]
    elsewhere_info = labels_of(event(2, severity="info", district_code="310104"))
    assert [r.receiver for r in tree.match(elsewhere_info)] == ["duty"]
    assert tree.receivers["mail"].options["to"] == ["duty@example.cn"]


def test_the_sample_routing_file_loads() -> None:
    tree = load(ROOT / "deploy" / "notify-routes.yml")
    assert tree.inhibit_rules and tree.root.routes
