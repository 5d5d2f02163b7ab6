"""Prometheus metrics of the delivery API. No learner or content ids as labels."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUEST_SECONDS = Histogram(
    "learnpulse_delivery_request_seconds",
    "Time to answer an HTTP request (SSE streams: time to open the stream)",
    ["route", "method", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SSE_CLIENTS = Gauge("learnpulse_delivery_sse_clients", "Open server-sent-event streams")
LIVE_MESSAGES = Counter(
    "learnpulse_delivery_live_messages_total",
    "Messages received on learners' live channels, by type (invalid = dropped)",
    ["type"],
)
FEEDBACK_PRODUCED = Counter(
    "learnpulse_delivery_feedback_produced_total",
    "Feedback events acknowledged by Kafka, by feedback type",
    ["type"],
)
FEEDBACK_REJECTED = Counter(
    "learnpulse_delivery_feedback_rejected_total",
    "Feedback requests refused, by reason",
    ["reason"],
)
AUTH_FAILURES = Counter(
    "learnpulse_delivery_auth_failures_total",
    "Requests refused for their credentials, by reason",
    ["reason"],
)
