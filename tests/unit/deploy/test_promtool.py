"""The shipped Prometheus files pass Prometheus' own checks (promtool).

``promtool`` comes from Debian's ``prometheus`` package, installed by
tests/prometheus_setup.py when missing (tests run as root).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"

ALERTS = DEPLOY / "prometheus" / "alerts.yml"


def promtool() -> str:
    spec = importlib.util.spec_from_file_location(
        "lp_prometheus_setup", ROOT / "tests" / "prometheus_setup.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.promtool())


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120)


def test_check_rules() -> None:
    r = run("check", "rules", str(ALERTS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_alert_unit_tests() -> None:
    """deploy/prometheus/alerts_test.yml: each alert fires when it should, and only then."""
    r = run("test", "rules", str(DEPLOY / "prometheus" / "alerts_test.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_rules_fails_on_a_broken_rule(tmp_path: Path) -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    doc["groups"][0]["rules"][0]["expr"] = "sum(rate(learnpulse_x_total[5m]) by"
    broken = tmp_path / "alerts.yml"
    broken.write_text(yaml.safe_dump(doc))
    assert run("check", "rules", str(broken)).returncode != 0


def test_check_config(tmp_path: Path) -> None:
    """prometheus.yml as shipped, with the rule file path pointed at the repo's copy."""
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/alerts.yml", str(ALERTS))
    )
    r = run("check", "config", str(tmp_path / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout


@pytest.mark.parametrize("name", ["runbook", "summary", "description"])
def test_every_alert_has_annotation(name: str) -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    alerts = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 10
    assert [a["alert"] for a in alerts if not a.get("annotations", {}).get(name)] == []
