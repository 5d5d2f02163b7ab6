"""Build ``deploy/grafana/dashboards/learnpulse.json`` (run from the repo root).

The dashboard is generated so its ~35 panels stay consistent (units, layout,
datasource); ``tests/unit/deploy/test_dashboard.py`` checks the committed JSON
equals this script's output and every metric in it is one the code exports.

    .venv/bin/python deploy/grafana/build_dashboard.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "learnpulse.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
WORKERS = 'job="learnpulse-streams"'
LAG = "max by (topic, partition) (learnpulse_consumer_lag)"


def q(expr: str, legend: str = "") -> dict[str, str]:
    return {"expr": expr, "legendFormat": legend}


def quantiles(metric: str, by: str = "", window: str = "5m") -> list[dict[str, str]]:
    """p50 and p99 of a histogram, optionally per label."""
    group = f"le, {by}" if by else "le"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [
        q(
            f"histogram_quantile({p}, sum by ({group}) (rate({metric}_bucket[{window}])))",
            f"{prefix}p{int(p * 100)}",
        )
        for p in (0.5, 0.99)
    ]


class Layout:
    """Places panels left to right, top to bottom, on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def _place(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self._place({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0

    def stat(
        self,
        title: str,
        target: dict[str, str],
        unit: str = "short",
        description: str = "",
        thresholds: list[tuple[float | None, str]] | None = None,
    ) -> None:
        steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
        self._place(
            {
                "type": "stat",
                "title": title,
                "description": description,
                "datasource": DS,
                "targets": _refs([target]),
                "fieldConfig": {
                    "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                    "overrides": [],
                },
                "options": {
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background",
                    "graphMode": "area",
                    "textMode": "auto",
                },
            },
            3,
            4,
        )

    def series(
        self,
        title: str,
        targets: list[dict[str, str]],
        unit: str = "short",
        description: str = "",
        w: int = 8,
        line: float | None = None,
    ) -> None:
        defaults: dict[str, Any] = {"unit": unit, "custom": {"fillOpacity": 10, "lineWidth": 1}}
        if line is not None:
            # A dashed threshold line (SLO target, alert floor) drawn on the graph.
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": line}],
            }
            defaults["custom"]["thresholdsStyle"] = {"mode": "dashed"}
        self._place(
            {
                "type": "timeseries",
                "title": title,
                "description": description,
                "datasource": DS,
                "targets": _refs(targets),
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "options": {
                    "legend": {"displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
            },
            w,
            8,
        )


def _refs(targets: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [{**t, "datasource": DS, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)]


def panels() -> list[dict[str, Any]]:
    g = Layout()
    g.row("Pipeline health")
    g.stat(
        "Stream workers up", q(f"sum(up{{{WORKERS}}})"), thresholds=[(None, "red"), (1, "green")]
    )
    g.stat(
        "Gateway + delivery up",
        q('sum(up{job=~"learnpulse-ingest|learnpulse-delivery"})'),
        thresholds=[(None, "red"), (2, "green")],
    )
    g.stat(
        "Events processed /s",
        q('sum(rate(learnpulse_stream_events_processed_total{outcome="applied"}[5m]))'),
        unit="ops",
    )
    g.stat(
        "Consumer lag",
        q(f"sum({LAG})"),
        unit="short",
        thresholds=[(None, "green"), (1000, "orange"), (100000, "red")],
    )
    g.stat(
        "Dead letters /s",
        q("sum(rate(learnpulse_stream_deadlettered_total[5m]))"),
        unit="ops",
        thresholds=[(None, "green"), (0.1, "orange")],
    )
    g.stat(
        "Slower than 1 s (5m)",
        q("learnpulse:e2e_over_1s:ratio_rate5m"),
        unit="percentunit",
        description="SLO: 99% of events in Redis within 1 s of append",
        thresholds=[(None, "green"), (0.01, "orange"), (0.1, "red")],
    )
    g.stat("Learners at risk", q("sum(learnpulse_learners_at_risk)"))
    g.stat(
        "Workers on plain-Python models",
        q(f"count(learnpulse_compiled_models{{{WORKERS}}} == 0) or vector(0)"),
        description="Workers whose compiled models are missing or stale: 1.2-1.4x the CPU "
        "per event (docs/decisions/0016); the worker's start-up log says why",
        thresholds=[(None, "green"), (1, "orange")],
    )
    g.stat(
        "Workers on a slow Python build",
        q(f'count(learnpulse_interpreter_build{{{WORKERS}, optimized="no"}}) or vector(0)'),
        description="Workers on a CPython built without PGO/LTO: an optimized build drained "
        "12-19% more events per core on the development machine (docs/decisions/0028)",
        thresholds=[(None, "green"), (1, "orange")],
    )
    g.stat(
        "Firing alerts",
        q('count(ALERTS{alertstate="firing", alertname=~"LearnPulse.*"}) or vector(0)'),
        thresholds=[(None, "green"), (1, "red")],
    )

    g.row("Throughput")
    g.series(
        "Gateway: events /s by format and outcome",
        [
            q(
                "sum by (source_format, outcome) (rate(learnpulse_ingest_events_total[5m]))",
                "{{source_format}} {{outcome}}",
            )
        ],
        unit="ops",
    )
    g.series(
        "Gateway: rejected /s by reason",
        [
            q(
                "sum by (source_format, reason) (rate(learnpulse_ingest_rejected_total[5m]))",
                "{{source_format}} {{reason}}",
            )
        ],
        unit="ops",
    )
    g.series(
        "Streams: events /s by agent and outcome",
        [
            q(
                "sum by (agent, outcome) (rate(learnpulse_stream_events_processed_total[5m]))",
                "{{agent}} {{outcome}}",
            )
        ],
        unit="ops",
    )
    g.series(
        "Streams: events /s per worker",
        [
            q(
                "sum by (instance) (rate(learnpulse_stream_events_processed_total[5m]))",
                "{{instance}}",
            )
        ],
        unit="ops",
    )
    g.series("Batch size (events)", quantiles("learnpulse_stream_batch_size", "agent"))
    g.series(
        "Recommendations written /s",
        [
            q("sum(rate(learnpulse_recommendations_written_total[5m]))", "lists/s"),
            q(
                "sum by (how) (rate(learnpulse_recommendation_lists_total[5m]))",
                "{{how}}",
            ),
        ],
        unit="ops",
        description="Lists written; ranked = a full ranking, patched = progress re-rendered "
        "on the cached list (decision 0015)",
    )
    g.series(
        "Learner states loaded /s",
        [q("sum by (how) (rate(learnpulse_learner_states_loaded_total[5m]))", "{{how}}")],
        unit="ops",
        description="kept = still decoded from a recent batch; decoded = read from the "
        "table. Few kept: LEARNPULSE_STREAMS_DECODED_STATES is small for this traffic "
        "(decision 0024)",
    )

    g.row("Latency")
    g.series(
        "End to end: Kafka append → Redis",
        quantiles("learnpulse_e2e_append_to_redis_seconds"),
        unit="s",
        line=1.0,
        description="The SLO histogram: from the event's Kafka append to its effects in Redis",
    )
    g.series(
        "End to end: event time → Redis",
        quantiles("learnpulse_e2e_event_to_redis_seconds"),
        unit="s",
        description="Includes the producer's own delay (offline tools send late)",
    )
    g.series(
        "SLO: share of events slower than 1 s",
        [q(f"learnpulse:e2e_over_1s:ratio_rate{w}", w) for w in ("5m", "1h", "1d")],
        unit="percentunit",
        line=0.01,
        description="Error budget: 1% over 30 days",
    )
    g.series(
        "Batch processing time", quantiles("learnpulse_stream_batch_seconds", "agent"), unit="s"
    )
    g.series("Gateway request time", quantiles("learnpulse_ingest_request_seconds"), unit="s")
    g.series("Redis batch write", quantiles("learnpulse_redis_write_seconds"), unit="s", line=0.05)

    g.row("Consumer lag")
    g.series("Lag by topic (records)", [q(f"sum by (topic) ({LAG})", "{{topic}}")])
    g.series("Lag by partition (records)", [q(LAG, "{{topic}} [{{partition}}]")])
    g.series(
        "Time to catch up at the current rate",
        [q(f"sum({LAG}) / sum(rate(learnpulse_stream_events_processed_total[5m]))", "catch-up")],
        unit="s",
    )

    g.row("Dead letters")
    g.series(
        "Dead-lettered /s by reason",
        [
            q(
                "sum by (agent, reason) (rate(learnpulse_stream_deadlettered_total[5m]))",
                "{{agent}} {{reason}}",
            )
        ],
        unit="ops",
        w=12,
    )
    g.series(
        "Dead letters, share of input",
        [
            q(
                "sum(rate(learnpulse_stream_deadlettered_total[5m])) / ("
                "sum(rate(learnpulse_stream_events_processed_total[5m])) + "
                "sum(rate(learnpulse_stream_deadlettered_total[5m])))",
                "share",
            )
        ],
        unit="percentunit",
        line=0.01,
        w=12,
    )

    g.row("Redis")
    g.series(
        "Redis write errors /s (retried)",
        [q("sum by (instance) (rate(learnpulse_redis_errors_total[5m]))", "{{instance}}")],
        unit="ops",
        w=12,
    )
    g.series(
        "Redis pipelines /s",
        [q("sum by (instance) (rate(learnpulse_redis_write_seconds_count[5m]))", "{{instance}}")],
        unit="ops",
        w=12,
    )

    g.row("Model quality")
    g.series(
        "Rolling AUC by model",
        [q("avg by (model) (learnpulse_model_rolling_auc)", "{{model}}")],
        unit="none",
        line=0.6,
        w=12,
    )
    g.series(
        "Rolling log-loss by model",
        [q("avg by (model) (learnpulse_model_rolling_logloss)", "{{model}}")],
        unit="none",
        w=12,
    )

    g.row("Delivery API")
    g.series(
        "Delivery request time by route",
        quantiles("learnpulse_delivery_request_seconds", "route"),
        unit="s",
        description="SSE routes: time to open the stream",
    )
    g.series(
        "Requests /s by status",
        [q("sum by (status) (rate(learnpulse_delivery_request_seconds_count[5m]))", "{{status}}")],
        unit="reqps",
    )
    g.series("Open live streams (SSE)", [q("sum(learnpulse_delivery_sse_clients)", "clients")])
    g.series(
        "Feedback /s: produced and rejected",
        [
            q(
                "sum by (type) (rate(learnpulse_delivery_feedback_produced_total[5m]))",
                "produced {{type}}",
            ),
            q(
                "sum by (reason) (rate(learnpulse_delivery_feedback_rejected_total[5m]))",
                "rejected {{reason}}",
            ),
        ],
        unit="ops",
    )
    g.series(
        "Auth failures /s by reason",
        [q("sum by (reason) (rate(learnpulse_delivery_auth_failures_total[5m]))", "{{reason}}")],
        unit="ops",
    )
    g.series(
        "Live messages /s by type",
        [q("sum by (type) (rate(learnpulse_delivery_live_messages_total[5m]))", "{{type}}")],
        unit="ops",
    )

    g.row("Nudges")
    g.series(
        "Nudge decisions /s by outcome and reason",
        [
            q(
                "sum by (outcome, reason) (rate(learnpulse_nudges_total[5m]))",
                "{{outcome}} {{reason}}",
            )
        ],
        unit="ops",
        w=12,
    )
    g.series(
        "Nudge decisions in the last 24 h by outcome",
        [q("sum by (outcome) (increase(learnpulse_nudges_total[1d]))", "{{outcome}}")],
        w=12,
    )
    g.series(
        "Nudge return rate (returned within the window / sent, 7 d)",
        [
            q(
                'sum(increase(learnpulse_nudge_outcomes_total{outcome="returned"}[7d]))'
                ' / sum(increase(learnpulse_nudges_total{outcome="sent"}[7d]))',
                "return rate",
            )
        ],
        unit="percentunit",
        w=12,
    )

    g.row("Learners and state")
    g.series("Learners at risk", [q("sum(learnpulse_learners_at_risk)", "at risk")])
    g.series("Learners held per worker", [q("learnpulse_learners_in_state", "{{instance}}")])
    g.series(
        "Table recovery: changelog records left to replay",
        [
            q(
                "sum by (instance, kind) (learnpulse_table_recovery_remaining)",
                "{{instance}} {{kind}}",
            )
        ],
    )
    g.series(
        "Learner state size",
        quantiles("learnpulse_learner_state_bytes", window="15m"),
        unit="bytes",
    )
    g.series("Reference records", [q("max by (kind) (learnpulse_reference_records)", "{{kind}}")])
    g.series(
        "Memory (RSS) per process",
        [q('process_resident_memory_bytes{job=~"learnpulse-.*"}', "{{job}} {{instance}}")],
        unit="bytes",
    )
    g.series(
        "CPU per process",
        [q('rate(process_cpu_seconds_total{job=~"learnpulse-.*"}[5m])', "{{job}} {{instance}}")],
        unit="percentunit",
    )
    return g.panels


def dashboard() -> dict[str, Any]:
    return {
        "uid": "learnpulse",
        "title": "LearnPulse",
        "description": "Pipeline health, throughput, latency, lag, dead letters, Redis, "
        "model quality, nudges and learners. Runbooks: docs/operations.md",
        "tags": ["learnpulse"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                    "refresh": 1,
                    "options": [],
                    "regex": "",
                }
            ]
        },
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
