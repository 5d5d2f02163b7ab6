"""The Grafana dashboard is the generator's output, lays out cleanly and is provisioned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


def test_committed_json_is_the_generators_output(load_module: Any) -> None:
    build = load_module(DEPLOY / "grafana" / "build_dashboard.py", "lp_build_dashboard")
    committed = (DEPLOY / "grafana" / "dashboards" / "learnpulse.json").read_text()
    assert committed == build.render(), "run: .venv/bin/python deploy/grafana/build_dashboard.py"


def test_panels_do_not_overlap_and_have_unique_ids(dashboard: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells


def test_every_query_panel_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for p in dashboard["panels"]:
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], p["title"]
        assert all(t["expr"].strip() for t in p["targets"]), p["title"]


def test_covers_the_issue_sections(dashboard: dict[str, Any]) -> None:
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert {
        "Pipeline health",
        "Throughput",
        "Latency",
        "Consumer lag",
        "Dead letters",
        "Redis",
        "Model quality",
        "Nudges",
        "Learners and state",
    } <= rows
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    assert "histogram_quantile(0.5," in exprs and "histogram_quantile(0.99," in exprs


def test_provisioning_matches_compose(compose: dict[str, Any]) -> None:
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    prov = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/learnpulse.yml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == "prometheus" and source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    mounts = {
        v.split(":")[1]: v.split(":")[0]
        for v in compose["services"]["grafana"]["volumes"]
        if v.startswith("./")
    }
    (provider,) = prov["providers"]
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    for host_path in mounts.values():
        assert (ROOT / host_path).exists(), host_path
