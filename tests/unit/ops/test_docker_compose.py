"""The deployment files agree with the package: services, queues, settings, image layout.

There is no Docker engine here, so these tests read ``docker-compose.yml``, the
``Dockerfile`` and ``ops/prometheus.yml`` and check them against the code they deploy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import cj_worker
from cj_worker import task_names
from cj_worker.celery_app import app
from cj_worker.config import Settings
from cj_worker.db.migrate import MIGRATIONS_DIR

ROOT = Path(__file__).resolve().parents[3]
WORKERS = ("worker-control", "worker-judge")
CJ_SERVICES = ("migrate", *WORKERS, "beat", "flower")
"""Services that run the cj-worker image."""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    return {str(key): str(value) for key, value in env.items()}


def resolved(value: str) -> str:
    """A compose value with ``${VAR:-default}`` replaced by its default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def settings_of(service: dict[str, Any]) -> Settings:
    cj = {k.removeprefix("CJ_").lower(): resolved(v) for k, v in env_of(service).items()}
    return Settings.model_validate({k: v for k, v in cj.items() if k in Settings.model_fields})


def queues_of(service: dict[str, Any]) -> set[str]:
    command = service["command"]
    assert command[0] == "worker", command
    for flag in ("--queues", "-Q"):
        if flag in command:
            return set(command[command.index(flag) + 1].split(","))
    raise AssertionError(f"a worker service must name its queues: {command}")


def seconds(duration: str) -> float:
    """A compose duration such as ``330s``, ``5m`` or ``1m30s``."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration)
    assert parts, duration
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def test_every_service_of_the_deployment_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"postgres", "rabbitmq", "prometheus", *CJ_SERVICES}


def test_the_cj_services_run_one_image_in_different_roles(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {(services[name]["image"], str(services[name]["build"])) for name in CJ_SERVICES}
    assert len(images) == 1
    assert all(services[name]["build"]["dockerfile"] == "Dockerfile" for name in CJ_SERVICES)
    roles = {name: services[name]["command"][0] for name in CJ_SERVICES}
    assert roles == {
        "migrate": "migrate",
        "worker-control": "worker",
        "worker-judge": "worker",
        "beat": "beat",
        "flower": "flower",
    }


def test_every_cj_queue_is_consumed_and_no_producer_queue_is(
    services: dict[str, dict[str, Any]],
) -> None:
    consumed = [queues_of(services[name]) for name in WORKERS]
    assert set().union(*consumed) == set(task_names.QUEUES)
    assert all(queue in task_names.QUEUES for queues in consumed for queue in queues), (
        "a cj worker discards the task names of producer queues"
    )
    assert queues_of(services["worker-judge"]) == {task_names.JUDGE_QUEUE}
    for queues in consumed:
        assert task_names.RESULTS_QUEUE not in queues
        assert task_names.EXTERNAL_JUDGE_QUEUE not in queues


def test_every_cj_variable_is_a_setting_and_the_settings_are_valid(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in CJ_SERVICES:
        env = env_of(services[name])
        unknown = [key for key in env if key.startswith("CJ_")]
        unknown = [k for k in unknown if k.removeprefix("CJ_").lower() not in Settings.model_fields]
        assert not unknown, f"{name}: no such setting {unknown}"
        settings = settings_of(services[name])
        assert settings.database_url.startswith("postgresql+psycopg2://")
        assert settings.broker_url.startswith("amqp://cj:")
        assert "@rabbitmq:5672" in settings.broker_url


def test_servers_and_workers_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "rabbitmq-diagnostics" in str(services["rabbitmq"]["healthcheck"]["test"])
    for name in WORKERS:
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "celery -A cj_worker.celery_app inspect ping" in test
        # $$ is compose's escape: the shell in the container expands $HOSTNAME, which is the
        # worker's default node name celery@<hostname>.
        assert "-d celery@$$HOSTNAME" in test


def test_the_broker_is_rabbitmq_and_keeps_its_queues_on_a_volume(
    services: dict[str, dict[str, Any]],
) -> None:
    """Recommended for production (see the compose file's header and the README): real
    acknowledgements, quorum queues, publisher confirms."""
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    assert any(mount.endswith(":/var/lib/rabbitmq") for mount in services["rabbitmq"]["volumes"])
    assert services["rabbitmq"]["restart"] == "unless-stopped"


def test_the_deployed_time_settings_fit_together_and_recover_in_seconds(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in WORKERS:
        settings = settings_of(services[name])
        assert settings.sweep_interval_seconds + settings.resend_simulated_after_seconds <= 30


def test_there_is_exactly_one_beat(services: dict[str, dict[str, Any]]) -> None:
    beats = [
        name for name, service in services.items() if service.get("command", [""])[0] == "beat"
    ]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_workers_get_longer_to_stop_than_a_task_may_run(
    services: dict[str, dict[str, Any]],
) -> None:
    # On SIGTERM a worker finishes its running tasks; each ends within the hard time limit
    # (and within Celery's soft shutdown, if one is configured).
    for name in WORKERS:
        settings = settings_of(services[name])
        bound = max(settings.task_time_limit_seconds, app.conf.worker_soft_shutdown_timeout)
        assert seconds(services[name]["stop_grace_period"]) > bound


def test_migrations_run_before_anything_uses_the_database(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in (*WORKERS, "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["rabbitmq"]["condition"] == "service_healthy"


def test_prometheus_scrapes_every_worker_on_its_metrics_port(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = services["prometheus"]["volumes"]
    assert "./ops/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    config = yaml.safe_load((ROOT / "ops" / "prometheus.yml").read_text())
    targets: set[tuple[str, int]] = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            targets |= {(host, int(dns["port"])) for host in dns["names"]}
    for name in WORKERS:
        port = settings_of(services[name]).metrics_port
        assert port > 0
        assert (name, port) in targets
        assert str(port) in services[name]["expose"]


def test_flower_requires_a_login(services: dict[str, dict[str, Any]]) -> None:
    assert env_of(services["flower"])["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")


def test_the_image_runs_the_package_beside_its_migrations_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1)
        for line in dockerfile.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and not line.startswith(" ")
    ]
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    workdir = Path(next(arg for op, arg in instructions if op == "WORKDIR"))
    copied = {(workdir / arg.split()[-1]).resolve() for op, arg in instructions if op == "COPY"}
    # migrate.py finds alembic/ relative to the package; in the image the package must sit
    # where it was copied (an editable install), with the migrations beside it.
    package = Path(cj_worker.__file__).resolve().parent
    in_image = workdir / package.name
    assert in_image in copied
    assert workdir / MIGRATIONS_DIR.relative_to(package.parent) in copied
    assert "pip install --no-compile -e ." in dockerfile
    users = [arg for op, arg in instructions if op == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    assert (ROOT / ".dockerignore").is_file()
