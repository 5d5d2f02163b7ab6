"""Every metric the dashboard and the alert rules read is one the code exports.

Names come from prometheus_client's REGISTRY after importing every component's
``metrics.py`` (sample names, so ``_total``/``_bucket``/``_sum``/``_count`` count);
label names and histogram bucket bounds come from the metric objects themselves.
A dashboard panel or alert on a misspelt or removed metric shows "no data" and
never fires: this test is where that is caught.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.utils import floatToGoString

ROOT = Path(__file__).resolve().parents[3]
METRICS_MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for pkg in ("streams", "services", "learnpulse")
    for p in (ROOT / pkg).rglob("metrics.py")
)
# Series Prometheus makes itself, and labels it adds to every scraped series.
PROMETHEUS_SERIES = {
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
}
TARGET_LABELS = {"job", "instance", "pod"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}


def metric_objects() -> dict[str, Any]:
    """Family name -> the prometheus_client metric object defined in a metrics module."""
    out: dict[str, Any] = {}
    for name in METRICS_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                out[value._name] = value
    return out


def exported_samples() -> dict[str, str]:
    """Sample name -> family name, for every metric in the default registry."""
    metric_objects()  # importing the modules registers their metrics
    out = {}
    for family in REGISTRY.collect():
        for suffix in SUFFIXES[family.type]:
            out[family.name + suffix] = family.name
    return out


def recorded_names(alert_rules: list[dict[str, Any]]) -> set[str]:
    return {r["record"] for r in alert_rules if "record" in r}


def problems(
    expr: str, promql: Any, samples: dict[str, str], objects: dict[str, Any], recorded: set[str]
) -> list[str]:
    """What is wrong with one expression: unknown metrics, labels or bucket bounds."""
    usage = promql.read(expr)
    found = []
    labels_in_expr: set[str] = set(TARGET_LABELS) | {"le"}
    for name in sorted(usage.names):
        if name in recorded or name in PROMETHEUS_SERIES:
            continue
        family = samples.get(name)
        if family is None:
            found.append(f"unknown metric {name}")
            continue
        obj = objects.get(family)
        labelnames = set(obj._labelnames) if obj is not None else set()
        labels_in_expr |= labelnames
        for label, _op, value in usage.matchers.get(name, []):
            if label == "le" and name.endswith("_bucket") and obj is not None:
                bounds = {floatToGoString(b) for b in obj._upper_bounds}
                if value not in bounds:
                    found.append(f"{name}: no bucket le={value!r} (has {sorted(bounds)})")
            elif label not in labelnames | TARGET_LABELS:
                found.append(f"{name}: no label {label!r} (has {sorted(labelnames)})")
    for clause in promql._GROUPING.finditer(expr):
        text = clause.group(0)
        inner = text[text.index("(") + 1 : -1]
        for label in filter(None, (x.strip() for x in inner.split(","))):
            if label not in labels_in_expr:
                found.append(f"grouping label {label!r} is on none of the metrics used")
    return found


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


@pytest.fixture(scope="module")
def exported() -> tuple[dict[str, str], dict[str, Any]]:
    return exported_samples(), metric_objects()


def test_metrics_modules_found() -> None:
    assert {"streams.metrics", "services.ingest.metrics", "services.delivery.metrics"} <= set(
        METRICS_MODULES
    )


def test_promql_reader_on_known_expressions(promql: Any) -> None:
    cases = {
        "sum by (topic) (max by (topic, partition) (learnpulse_consumer_lag))": {
            "learnpulse_consumer_lag"
        },
        '(sum(rate(a_total[15m])) or vector(0)) == 0 and on () sum(up{job="x"}) > 0': {
            "a_total",
            "up",
        },
        "avg by (m) (g) < avg by (m) (avg_over_time(g[1h] offset 1d)) - 0.05": {"g"},
        'count(ALERTS{alertstate="firing", alertname=~"LearnPulse.*"}) or vector(0)': {"ALERTS"},
        "learnpulse:e2e_over_1s:ratio_rate5m > (14.4 * 0.01)": {
            "learnpulse:e2e_over_1s:ratio_rate5m"
        },
        'histogram_quantile(0.99, sum by (le) (rate(h_bucket{le="1.0"}[5m]))) > 5e-2': {"h_bucket"},
    }
    for expr, names in cases.items():
        assert promql.read(expr).names == names, expr


def test_checker_reports_what_is_wrong(
    promql: Any, exported: Any, alert_rules: list[dict[str, Any]]
) -> None:
    samples, objects = exported
    rec = recorded_names(alert_rules)
    assert problems("rate(learnpulse_nope_total[5m])", promql, samples, objects, rec) == [
        "unknown metric learnpulse_nope_total"
    ]
    assert problems('learnpulse_nudges_total{learner_id="x"}', promql, samples, objects, rec)
    assert problems(
        'learnpulse_e2e_append_to_redis_seconds_bucket{le="1"}', promql, samples, objects, rec
    )  # prometheus_client writes le="1.0"
    assert problems("sum by (tenant) (learnpulse_consumer_lag)", promql, samples, objects, rec)
    assert not problems(
        'sum by (topic) (learnpulse_consumer_lag{partition="0"})', promql, samples, objects, rec
    )


def test_alert_rules_use_exported_metrics(
    promql: Any, exported: Any, alert_rules: list[dict[str, Any]]
) -> None:
    samples, objects = exported
    rec = recorded_names(alert_rules)
    bad = {}
    for rule in alert_rules:
        found = problems(rule["expr"], promql, samples, objects, rec)
        if found:
            bad[rule.get("alert") or rule["record"]] = found
    assert not bad


def test_dashboard_uses_exported_metrics(
    promql: Any, exported: Any, dashboard: dict[str, Any], alert_rules: list[dict[str, Any]]
) -> None:
    samples, objects = exported
    rec = recorded_names(alert_rules)
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) > 30
    bad = {
        title: found
        for title, expr in exprs
        if (found := problems(expr, promql, samples, objects, rec))
    }
    assert not bad


def test_key_metrics_are_on_the_dashboard(
    promql: Any, exported: Any, dashboard: dict[str, Any]
) -> None:
    """Every learnpulse_ metric the code defines has at least one panel."""
    samples, _objects = exported
    used = {samples.get(n) for _t, e in dashboard_exprs(dashboard) for n in promql.read(e).names}
    defined = {f for f in samples.values() if f.startswith("learnpulse_")}
    assert defined - used == set()
