"""Shared reading of the deployment files for tests/unit/deploy."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
HERE = Path(__file__).resolve().parent


def _load_module(path: Path, name: str) -> Any:
    """Import a file that is not on the package path (deploy scripts, test helpers)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def promql() -> Any:
    return _load_module(HERE / "promql.py", "lp_test_promql")


@pytest.fixture(scope="session", name="load_module")
def load_module_fixture() -> Any:
    """``load_module(path, name)``: import a file outside the package path."""
    return _load_module


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="session")
def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@pytest.fixture(scope="session")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "dashboards" / "learnpulse.json").read_text()
    )
    return data


@pytest.fixture(scope="session")
def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    """(file name, resource) for every manifest under deploy/k8s."""
    out = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out
