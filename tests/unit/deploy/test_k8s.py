"""The Kubernetes manifests validate against the Kubernetes OpenAPI schemas.

Schemas come from the ``kubernetes-validate`` package (strict mode: unknown fields
are errors), checked against the oldest and newest Kubernetes versions we claim.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from services.delivery.settings import DeliverySettings
from services.ingest.settings import IngestSettings
from streams.settings import StreamsSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"

VERSIONS = ("1.28", "1.33")
NOT_K8S_KINDS = {"Kustomization"}  # kustomize's own file, no API schema


def by_kind(docs: list[tuple[str, dict[str, Any]]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for _f, d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate(k8s_docs: list[tuple[str, dict[str, Any]]], version: str) -> None:
    checked = 0
    for filename, doc in k8s_docs:
        if doc["kind"] in NOT_K8S_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{filename} {doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}"
            )
        checked += 1
    assert checked >= 10


def test_validation_catches_mistakes(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    dep = copy.deepcopy(by_kind(k8s_docs, "Deployment", "learnpulse-streams"))
    dep["spec"]["replicas"] = "four"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, VERSIONS[-1], strict=True)
    dep = copy.deepcopy(by_kind(k8s_docs, "Deployment", "learnpulse-streams"))
    dep["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kust = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")}
    assert set(kust["resources"]) == files - {"kustomization.yaml", "secret.template.yaml"}


def test_workers_fit_the_partitions_and_have_resources(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    config = by_kind(k8s_docs, "ConfigMap", "learnpulse-config")["data"]
    workers = by_kind(k8s_docs, "Deployment", "learnpulse-streams")
    partitions = int(config["LEARNPULSE_STREAMS_PARTITIONS"])
    assert 1 < workers["spec"]["replicas"] <= partitions
    assert config["LEARNPULSE_STREAMS_BROKER_PROFILE"] == "kafka"
    (container,) = workers["spec"]["template"]["spec"]["containers"]
    assert (
        container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    )
    assert "partition" in (DEPLOY / "k8s" / "streams-worker.yaml").read_text().lower()


def test_gateway_has_an_autoscaler_and_services_exist(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    hpa = by_kind(k8s_docs, "HorizontalPodAutoscaler", "learnpulse-ingest")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "learnpulse-ingest"
    assert hpa["spec"]["minReplicas"] >= 2
    for name in ("learnpulse-ingest", "learnpulse-delivery"):
        svc = by_kind(k8s_docs, "Service", name)
        assert svc["spec"]["selector"] == {"app.kubernetes.io/name": name}


def test_scrape_annotations_point_at_the_metrics_port(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    deployments = [d for _f, d in k8s_docs if d["kind"] == "Deployment"]
    assert len(deployments) == 3
    for dep in deployments:
        pod = dep["spec"]["template"]
        ann = pod["metadata"]["annotations"]
        ports = {p["containerPort"] for c in pod["spec"]["containers"] for p in c["ports"]}
        assert ann["prometheus.io/scrape"] == "true"
        assert int(ann["prometheus.io/port"]) in ports, dep["metadata"]["name"]


def test_env_names_are_real_settings(k8s_docs: list[tuple[str, dict[str, Any]]]) -> None:
    names = set(by_kind(k8s_docs, "ConfigMap", "learnpulse-config")["data"])
    secret = yaml.safe_load((DEPLOY / "k8s" / "secret.template.yaml").read_text())
    names |= set(secret["stringData"])
    settings: dict[str, type[BaseSettings]] = {
        "LEARNPULSE_STREAMS_": StreamsSettings,
        "LEARNPULSE_INGEST_": IngestSettings,
        "LEARNPULSE_DELIVERY_": DeliverySettings,
    }
    for prefix, cls in settings.items():
        given = {n.removeprefix(prefix) for n in names if n.startswith(prefix)}
        fields = {f.upper() for f in cls.model_fields}
        assert given - fields == set(), prefix
        required = {n.upper() for n, f in cls.model_fields.items() if f.is_required()}
        assert required - given == set(), prefix
    refs = [
        ref
        for _f, doc in k8s_docs
        for ref in re.findall(
            r"secretKeyRef:\s*\n\s*name: [\w-]+\s*\n\s*key: (\w+)",
            yaml.safe_dump(doc, sort_keys=False),
        )
    ]
    assert len(refs) >= 4
    assert set(refs) <= set(secret["stringData"])


def test_k8s_prometheus_jobs_match_the_alert_rules(
    k8s_docs: list[tuple[str, dict[str, Any]]],
) -> None:
    """Alerts select on job names; the Kubernetes scrape config must produce the same ones."""
    config = yaml.safe_load(
        by_kind(k8s_docs, "ConfigMap", "learnpulse-prometheus")["data"]["prometheus.yml"]
    )
    compose_prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    k8s_jobs = {j["job_name"] for j in config["scrape_configs"]}
    compose_jobs = {j["job_name"] for j in compose_prom["scrape_configs"]} - {"prometheus"}
    assert k8s_jobs == compose_jobs
    for job in config["scrape_configs"]:
        keep = job["relabel_configs"][0]
        assert keep["action"] == "keep" and keep["regex"] == job["job_name"]
        for relabel in job["relabel_configs"]:
            re.compile(relabel.get("regex", "(.*)"))
