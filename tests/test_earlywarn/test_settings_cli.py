"""Settings from the environment, the configuration table (docs/configuration.md), and the detect command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.settings import Settings, SettingsError, declared, environment, from_env, markdown_table, variable

ROOT = Path(__file__).resolve().parents[2]


def readme_configuration_table() -> str:
    readme = (ROOT / "docs" / "configuration.md").read_text()
    start = readme.index("| variable | default | meaning |")
    return readme[start:readme.index("\n\n", start) + 1]


def test_the_readme_configuration_table_is_the_generated_one() -> None:
    assert readme_configuration_table() == markdown_table(), "run: python -m streams.settings --markdown"


def test_every_setting_has_a_readme_row_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(EARLYWARN_[A-Z_]+)` \| ([^|]+) \|", readme_configuration_table(), re.M))
    defaults = Settings()
    for f in declared():
        var = variable(f)
        assert var in rows, f"{var} missing from the README"
        if f.name != "pseudonym_secret":
            assert str(getattr(defaults, f.name)) in rows[var], f"{var}: README default {rows[var]!r}"
    assert set(rows) == {variable(f) for f in declared()}


def test_the_table_is_printed_by_the_settings_module() -> None:
    run = subprocess.run([sys.executable, "-m", "streams.settings", "--markdown"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout == markdown_table()


def test_detection_settings_reach_the_detect_config() -> None:
    s = from_env({"EARLYWARN_TICKET_PARTITIONS": "3", "EARLYWARN_FORGET_DAYS": "30", "EARLYWARN_MIN_PEOPLE": "7"})
    cfg = s.detect
    assert (cfg.sources, cfg.forget_days, cfg.min_people, cfg.partitions) == (3, 30.0, 7, 8)


def test_a_worker_environment_gives_back_the_settings() -> None:
    s = from_env({}).with_(partitions=3, lateness_seconds=60.0, calendar="none")
    env = environment(s, base={"PATH": "/bin", "EARLYWARN_STALE": "x"})
    assert env["PATH"] == "/bin" and "EARLYWARN_STALE" not in env
    assert from_env(env) == s


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"EARLYWARN_PARTITIONS": "12"}, "partitions", 12),
    ({"EARLYWARN_LATENESS_SECONDS": "60"}, "lateness_seconds", 60.0),
    ({"EARLYWARN_BROKER": "kafka://a:9092,b:9092"}, "bootstrap", "a:9092,b:9092"),
])
def test_settings_come_from_the_environment(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(from_env(env), field) == value


@pytest.mark.parametrize(("raw", "windows"), [("3,7,14,30", (3, 7, 14, 30)), (" 7, 14 ", (7, 14)), ("", ())])
def test_the_slow_windows_come_from_the_environment(raw: str, windows: tuple[int, ...]) -> None:
    assert from_env({"EARLYWARN_SLOW_DAYS": raw}).detect.long_days == windows


@pytest.mark.parametrize(("env", "variable_named"), [
    ({"EARLYWARN_PARTITIONS": "many"}, "EARLYWARN_PARTITIONS"),
    ({"EARLYWARN_PARTITIONS": "0"}, "EARLYWARN_PARTITIONS"),
    ({"EARLYWARN_TICKET_PARTITIONS": "0"}, "EARLYWARN_TICKET_PARTITIONS"),
    ({"EARLYWARN_FORGET_DAYS": "1"}, "EARLYWARN_FORGET_DAYS"),
    ({"EARLYWARN_SLOW_DAYS": "3,a week"}, "EARLYWARN_SLOW_DAYS"),
    ({"EARLYWARN_SLOW_DAYS": "7,45"}, "EARLYWARN_SLOW_DAYS"),
    ({"EARLYWARN_MAX_FUTURE_SECONDS": "-1"}, "EARLYWARN_MAX_FUTURE_SECONDS"),
    ({"EARLYWARN_CALENDAR": "/no/such/calendar.csv"}, "EARLYWARN_CALENDAR"),
    ({"EARLYWARN_DEADLETTER_KEY": "not-a-key"}, "EARLYWARN_DEADLETTER_KEY"),
    ({"EARLYWARN_KAFKA_SECURITY_PROTOCOL": "TLS"}, "EARLYWARN_KAFKA_SECURITY_PROTOCOL"),
    ({"EARLYWARN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "EARLYWARN_KAFKA_USERNAME": "u"}, "EARLYWARN_KAFKA_PASSWORD"),
    ({"EARLYWARN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "EARLYWARN_KAFKA_SASL_MECHANISM": "MD5",
      "EARLYWARN_KAFKA_USERNAME": "u", "EARLYWARN_KAFKA_PASSWORD": "p"}, "EARLYWARN_KAFKA_SASL_MECHANISM"),
    ({"EARLYWARN_KAFKA_SECURITY_PROTOCOL": "SSL", "EARLYWARN_KAFKA_SSL_CAFILE": "/no/ca.pem"}, "EARLYWARN_KAFKA_SSL_CAFILE"),
    ({"EARLYWARN_KAFKA_SSL_CERTFILE": __file__}, "EARLYWARN_KAFKA_SSL_KEYFILE"),
])
def test_bad_settings_say_which_variable(env: dict[str, str], variable_named: str) -> None:
    with pytest.raises(SettingsError, match=variable_named):
        from_env(env)


def test_kafka_security_settings_reach_every_kafka_client() -> None:
    from streams.app import kafka_credentials

    plain = from_env({"EARLYWARN_BROKER": "k1:9092,k2:9092"})
    assert plain.kafka_options() == {"bootstrap_servers": "k1:9092,k2:9092", "security_protocol": "PLAINTEXT"}
    assert kafka_credentials(plain) is None
    sasl = from_env({"EARLYWARN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "EARLYWARN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                     "EARLYWARN_KAFKA_USERNAME": "ew", "EARLYWARN_KAFKA_PASSWORD": "pw"})
    assert sasl.kafka_options() == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "SASL_SSL",
                                    "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "ew",
                                    "sasl_plain_password": "pw"}
    creds = kafka_credentials(sasl)
    assert (creds.username, creds.password, creds.mechanism.value) == ("ew", "pw", "SCRAM-SHA-512")
    assert creds.ssl_context is not None
    assert "pw" not in repr(sasl) and "pseudonym_secret" not in repr(sasl)  # secrets stay out of reprs and logs


def test_without_a_pseudonym_secret_there_is_none_but_a_throwaway_one() -> None:
    bare = from_env({})
    with pytest.raises(SettingsError, match="EARLYWARN_PSEUDONYM_SECRET is not set"):
        bare.secret()
    a, b = bare.with_throwaway_secret(), bare.with_throwaway_secret()
    assert len(a.secret()) >= 32 and a.secret() != b.secret()
    kept = from_env({"EARLYWARN_PSEUDONYM_SECRET": "s3cret"})
    assert kept.with_throwaway_secret() is kept and kept.secret() == b"s3cret"


@pytest.mark.parametrize("command", [["worker", "--broker", "127.0.0.1:1"], ["detect", "-"]])
def test_worker_and_detect_refuse_to_run_without_a_pseudonym_secret(command: list[str]) -> None:
    env = environment(from_env({}))  # every setting, the secret empty
    run = subprocess.run([sys.executable, "-m", "earlywarn", *command], capture_output=True, text=True,
                         timeout=60, env=env, input="")
    assert run.returncode == 2, run.stderr
    assert "EARLYWARN_PSEUDONYM_SECRET is not set" in run.stderr and "Traceback" not in run.stderr


def test_detect_reports_bad_lines_and_keeps_going(tmp_path: Path) -> None:
    good = {"ticket_id": "T1", "kind": "complaint", "received_at": "2025-03-03T10:00:00+08:00",
            "district_code": "310115", "firm_name": "上海某某有限公司", "content": "门店关闭要求退费"}
    lines = [orjson.dumps(good), b"not json", orjson.dumps({**good, "ticket_id": "T2", "amount": -1}),
             orjson.dumps({**good, "ticket_id": "T3"})]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    dead = tmp_path / "dead.jsonl"
    run = subprocess.run([sys.executable, "-m", "earlywarn", "detect", str(src), "--deadletter", str(dead)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"{src}:line 2: not_json" in run.stderr and f"{src}:line 3: negative_amount" in run.stderr
    assert "2 tickets, 2 rejected" in run.stderr
    recs = [orjson.loads(x) for x in dead.read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in recs] == [(2, "not_json"), (3, "negative_amount")]


def test_detect_on_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "earlywarn", "detect", str(tmp_path / "nope.jsonl")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no such file" in run.stderr


@pytest.mark.parametrize(("data", "lines"), [
    (b"", 0), (b"a", 1), (b"a\n", 1), (b"a\nb", 2), (b"\n\n", 2), (b"x" * (3 << 20) + b"\ny\n", 2),
])
def test_detect_counts_a_files_lines_for_its_progress_bar(tmp_path: Path, data: bytes, lines: int) -> None:
    from earlywarn.cli import _count_lines

    f = tmp_path / "t.jsonl"
    f.write_bytes(data)
    assert _count_lines(str(f)) == lines == len(data.splitlines())
    assert _count_lines("-") is None


def test_notify_and_the_desk_read_their_settings_through_the_one_settings_object() -> None:
    from alerts.notify.config import NotifyConfig
    from alerts.notify.config import from_env as notify_from_env
    from desk.settings import DeskSettings
    from desk.settings import from_env as desk_from_env

    assert notify_from_env({}) == NotifyConfig(), "a default declared in streams/settings.py differs from notify's"
    assert desk_from_env({}) == DeskSettings(), "a default declared in streams/settings.py differs from the desk's"
    env = {"EARLYWARN_NOTIFY_MAX_ATTEMPTS": "3", "EARLYWARN_DESK_CONSUME": "false", "EARLYWARN_DESK_PORT": "7000",
           "EARLYWARN_SUBSCRIPTION_INTERVAL_SECONDS": "60", "EARLYWARN_NOTIFY_REMEMBER_DAYS": "2"}
    n, d = notify_from_env(env), desk_from_env(env)
    assert (n.max_attempts, n.subscription_interval_seconds, n.remember_days) == (3, 60.0, 2.0)
    assert (d.consume, d.port, d.remember_days) == (False, 7000, 2.0)
    assert from_env(environment(from_env(env))) == from_env(env)  # booleans survive the way to a process


@pytest.mark.parametrize("raw", ["maybe", "2"])
def test_a_boolean_setting_says_what_it_wants(raw: str) -> None:
    with pytest.raises(SettingsError, match="EARLYWARN_DESK_SECURE_COOKIES"):
        from_env({"EARLYWARN_DESK_SECURE_COOKIES": raw})
