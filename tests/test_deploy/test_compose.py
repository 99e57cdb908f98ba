"""docker-compose.yml and deploy/Dockerfile, checked statically (no Docker engine here).

What is checked is what breaks a deployment quietly: a worker pinned to one name or host
port (so it cannot scale), an EARLYWARN_* variable the settings do not know (ignored), a
topic created with the wrong partition count, a missing health check, Grafana or
Prometheus looking in the wrong place.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.kafka_io import topic_plan
from streams.settings import declared, from_env, variable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
KNOWN_VARS = {variable(f) for f in declared()}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def resolve(value: Any) -> str:
    """A compose value with ``${VAR:-default}`` / ``${VAR:?message}`` resolved as if VAR were unset
    (a required variable gets a stand-in)."""
    def sub(mt: re.Match[str]) -> str:
        return "stand-in-for-" + mt.group(1) if "?" in mt.group(0) else (mt.group(2) or "")
    return _INTERPOLATION.sub(sub, str(value))


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: resolve(v) for k, v in env.items()}


def test_the_services_are_there() -> None:
    assert {"kafka", "redis", "worker", "prometheus", "grafana", "topics"} <= set(SERVICES)


def test_kafka_runs_in_kraft_mode_with_a_listener_for_the_workers() -> None:
    env = environment("kafka")
    assert "apache/kafka" in SERVICES["kafka"]["image"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.startswith(f"{env['KAFKA_NODE_ID']}@")
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in env["KAFKA_LISTENERS"]
    advertised = {u.split("://", 1)[1] for u in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert from_env(environment("worker")).bootstrap in advertised
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"  # one node


def test_the_worker_can_be_scaled() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker, "a fixed name allows only one replica"
    assert "ports" not in worker, "a host port allows only one replica"
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile" and (ROOT / "deploy" / "Dockerfile").is_file()
    deps = worker["depends_on"]
    assert deps["topics"]["condition"] == "service_completed_successfully"
    assert deps["kafka"]["condition"] == "service_healthy"
    assert deps["redis"]["condition"] == "service_healthy"


def test_every_earlywarn_variable_is_a_setting() -> None:
    in_compose = set(re.findall(r"\bEARLYWARN_[A-Z0-9_]+", COMPOSE_TEXT))
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    in_dockerfile = set(re.findall(r"\bEARLYWARN_[A-Z0-9_]+", dockerfile))
    assert in_compose and in_dockerfile
    assert in_compose - KNOWN_VARS == set(), "not a setting (streams/settings.py): silently ignored"
    assert in_dockerfile - KNOWN_VARS == set()
    settings = from_env(environment("worker"))  # and every value parses
    assert settings.web_host == "0.0.0.0" and settings.web_port == 6066


def test_the_pseudonym_secret_is_required_not_defaulted() -> None:
    raw = SERVICES["worker"]["environment"]["EARLYWARN_PSEUDONYM_SECRET"]
    assert raw.startswith("${EARLYWARN_PSEUDONYM_SECRET:?")


@pytest.mark.parametrize("service", ["kafka", "redis", "worker"])
def test_health_checks(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["test"] and check["test"][0] in {"CMD", "CMD-SHELL"}
    if service == "worker":
        probe = " ".join(check["test"])
        assert "6066" in probe and ("/health" in probe or "/metrics" in probe)


def test_the_topics_job_creates_every_topic_with_its_partitions_before_workers_start() -> None:
    job = SERVICES["topics"]
    script = "\n".join(job["command"]) if isinstance(job["command"], list) else job["command"]
    created = {name: int(n) for name, n in re.findall(r"^\s*create\s+(\S+)\s+(\d+)\s*$", script, re.M)}
    assert created == topic_plan(from_env(environment("worker")))
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert job.get("restart", "no") == "no"
    assert "--if-not-exists" in script  # a re-run of `compose up` must not fail
    assert "$1" not in script.replace("$$1", ""), "compose would interpolate $1: write $$1"


def test_grafana_is_provisioned_with_an_admin_password_from_the_environment() -> None:
    grafana = SERVICES["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"] if v.startswith("./")}
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert "./deploy/grafana/dashboards" in mounts
    for host in mounts:
        assert (ROOT / host).is_dir(), host
    password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{\w+:-[^}]+\}", password), "from the environment, with a default"
    assert (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").is_file()
    assert (ROOT / "deploy/grafana/provisioning/dashboards/earlywarn.yml").is_file()


def test_prometheus_finds_every_worker_replica_on_port_6066() -> None:
    prom = SERVICES["prometheus"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in prom["volumes"] if v.startswith("./")}
    assert mounts["./deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "earlywarn"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    [sd] = job["dns_sd_configs"]
    assert "worker" in sd["names"] and sd["port"] == 6066 and sd.get("type", "A") == "A"
    assert SERVICES["worker"]["expose"] == ["6066"]


def test_the_image_is_slim_non_root_and_runs_a_worker() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r'^CMD \["earlywarn", "worker"\]\s*$', dockerfile, re.M)
    assert re.search(r"EARLYWARN_WEB_HOST=0\.0\.0\.0", dockerfile)
    # Every package the project ships is copied into the image.
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    copied = set(re.findall(r"^COPY\s+(\w+)\s", dockerfile, re.M))
    assert {p.split(".")[0] for p in packages} <= copied  # a subpackage comes with its parent


def test_notify_and_the_desk_run_with_their_settings_from_the_one_settings_object() -> None:
    from alerts.notify.config import from_env as notify_settings
    from desk.settings import from_env as desk_settings

    assert SERVICES["notify"]["command"] == ["earlywarn", "notify"]
    assert SERVICES["desk"]["command"] == ["earlywarn", "desk"]
    notify = notify_settings(environment("notify"))
    assert notify.redis_url == "redis://redis:6379/0" and notify.broker == "kafka:9092"
    assert notify.metrics_host == "0.0.0.0" and notify.routes == "/etc/earlywarn/notify-routes.yml"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["notify"]["volumes"]}
    assert (ROOT / mounts[notify.routes]).is_file()
    desk = desk_settings(environment("desk"))  # binding 0.0.0.0 is refused with the development secret
    assert desk.host == "0.0.0.0" and not desk.dev_secret and desk.redis_url == notify.redis_url
    assert desk.notify_prefix == notify.prefix, "the desk sets the silences and acks notify honours"
    assert SERVICES["desk"]["environment"]["EARLYWARN_DESK_SECRET"].startswith("${EARLYWARN_DESK_SECRET:?")
    assert SERVICES["desk"]["ports"] == [f"127.0.0.1:{desk.port}:{desk.port}"]
