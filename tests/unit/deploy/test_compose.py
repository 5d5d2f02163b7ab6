"""docker-compose.yml is a valid Compose file and wires LearnPulse's settings correctly.

The schema is the official Compose Specification schema (compose-spec/compose-spec,
``schema/compose-spec.json``, Apache-2.0), vendored under ``schemas/`` from the copy
the ``check-jsonschema`` 0.39.0 wheel ships (``builtin_schemas/vendor``). No Docker
engine runs here, so the file is validated, not started.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic_settings import BaseSettings

from services.delivery.settings import DeliverySettings
from services.ingest.settings import IngestSettings
from streams.settings import StreamsSettings

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

SETTINGS: dict[str, type[BaseSettings]] = {
    "LEARNPULSE_STREAMS_": StreamsSettings,
    "LEARNPULSE_INGEST_": IngestSettings,
    "LEARNPULSE_DELIVERY_": DeliverySettings,
}
APPS = {"streams": "streams", "ingest": "services.ingest", "delivery": "services.delivery"}


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((HERE / "schemas" / "compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(doc: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(doc)
    ]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def test_compose_file_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    assert errors(compose) == []


def test_schema_rejects_broken_files(compose: dict[str, Any]) -> None:
    """The vendored schema is strict enough to catch real mistakes."""
    bad = copy.deepcopy(compose)
    bad["services"]["streams"]["depends_on"]["redis"]["condition"] = "service_ready"
    assert errors(bad)
    bad = copy.deepcopy(compose)
    bad["services"]["redis"]["healthcheck"]["intervall"] = "10s"
    assert errors(bad)
    bad = copy.deepcopy(compose)
    bad["services"]["kafka"]["ports"] = "9094:9094"
    assert errors(bad)


def test_every_dependency_and_mount_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown {dep}"
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_the_whole_stack_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {n: s.get("image", "") for n, s in services.items()}
    assert images["kafka"].startswith("apache/kafka:")
    assert "controller" in env_of(services["kafka"])["KAFKA_PROCESS_ROLES"]  # KRaft
    assert images["schema-registry"].startswith("confluentinc/cp-schema-registry:")
    assert images["redis"].startswith("redis:")
    assert images["prometheus"].startswith("prom/prometheus:")
    assert images["grafana"].startswith("grafana/grafana:")
    for name, module in APPS.items():
        assert services[name]["command"] == ["python", "-m", module]
        assert "healthcheck" in services[name], name
    assert services["init-kafka"]["restart"] == "no"
    assert int(str(services["streams"]["deploy"]["replicas"]).split(":-")[-1].rstrip("}")) >= 2
    for name in ("kafka", "schema-registry", "redis", "prometheus", "grafana"):
        assert "healthcheck" in services[name], name


@pytest.mark.parametrize("service", list(APPS))
def test_learnpulse_env_names_are_real_settings(compose: dict[str, Any], service: str) -> None:
    """A misspelt variable is ignored by pydantic-settings (extra="ignore"): catch it here."""
    env = env_of(compose["services"][service])
    prefix = f"LEARNPULSE_{service.upper()}_"
    settings = SETTINGS[prefix]
    fields = {n.upper() for n in settings.model_fields}
    names = [k for k in env if k.startswith("LEARNPULSE_")]
    assert names and all(k.startswith(prefix) for k in names)
    unknown = [k for k in names if k.removeprefix(prefix) not in fields]
    assert unknown == []
    required = {n.upper() for n, f in settings.model_fields.items() if f.is_required()}
    assert required - {k.removeprefix(prefix) for k in names} == set()


def test_workers_use_the_kafka_profile_and_serve_metrics(compose: dict[str, Any]) -> None:
    env = env_of(compose["services"]["streams"])
    assert env["LEARNPULSE_STREAMS_BROKER_PROFILE"] == "kafka"
    assert env["LEARNPULSE_STREAMS_METRICS_HOST"] == "0.0.0.0"
    assert env["LEARNPULSE_STREAMS_METRICS_PORT"] == "9108"
    assert env["LEARNPULSE_STREAMS_KAFKA_BOOTSTRAP"] == "kafka:9092"


def test_each_component_uses_its_own_redis_user(compose: dict[str, Any]) -> None:
    users = {}
    for service, var in (
        ("streams", "LEARNPULSE_STREAMS_REDIS_URL"),
        ("ingest", "LEARNPULSE_INGEST_REDIS_URL"),
        ("delivery", "LEARNPULSE_DELIVERY_REDIS_URL"),
    ):
        m = re.fullmatch(
            r"redis://([\w-]+):\$\{(\w+):\?[^}]*\}@redis:6379/0",
            env_of(compose["services"][service])[var],
        )
        assert m, var
        users[service] = m.groups()
    assert users == {
        "streams": ("lp-worker", "LP_REDIS_WORKER_PASSWORD"),
        "ingest": ("lp-ingest", "LP_REDIS_INGEST_PASSWORD"),
        "delivery": ("lp-frontend", "LP_REDIS_FRONTEND_PASSWORD"),
    }
    redis_env = env_of(compose["services"]["redis"])
    assert {p for _u, p in users.values()} <= set(redis_env)


def test_no_secret_has_a_default(compose: dict[str, Any]) -> None:
    """Passwords must come from .env: `${VAR:?msg}` fails start-up, `${VAR:-x}` would not."""
    text = (ROOT / "docker-compose.yml").read_text()
    for var in re.findall(r"\$\{((?:LP_|GF_)\w*(?:PASSWORD|SECRET)\w*)([^}]*)\}", text):
        assert var[1].startswith(":?"), var
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    for var in set(re.findall(r"\$\{(\w+)", text)):
        assert re.search(rf"^{var}=", example, re.M), f"{var} missing in compose.env.example"


def test_prometheus_scrapes_the_ports_the_services_listen_on(compose: dict[str, Any]) -> None:
    import yaml

    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    ports = {
        "streams": env_of(compose["services"]["streams"])["LEARNPULSE_STREAMS_METRICS_PORT"],
        "ingest": env_of(compose["services"]["ingest"])["LEARNPULSE_INGEST_PORT"],
        "delivery": env_of(compose["services"]["delivery"])["LEARNPULSE_DELIVERY_PORT"],
    }
    for service, port in ports.items():
        (sd,) = jobs[f"learnpulse-{service}"]["dns_sd_configs"]
        assert sd["names"] == [service] and str(sd["port"]) == port
