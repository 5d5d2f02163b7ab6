"""Prometheus metrics of the ingest gateway. No learner, content or key ids as labels.

``source_format`` is one of xapi, caliper, native; ``outcome`` one of accepted,
duplicate (an identical xAPI re-send, no effect), rejected, failed (Kafka did
not acknowledge); ``reason`` one of the small fixed set in :data:`REASONS`.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REASONS = (
    "unauthenticated",
    "forbidden",
    "unsupported_version",
    "unsupported_media_type",
    "too_large",
    "malformed",
    "invalid",
    "conflict",
    "rate_limited",
    "unavailable",
)

EVENTS = Counter(
    "learnpulse_ingest_events_total",
    "Events (statements) handled by the gateway, by source format and outcome",
    ["source_format", "outcome"],
)
REJECTED = Counter(
    "learnpulse_ingest_rejected_total",
    "Requests refused, by source format and reason (one per refused request)",
    ["source_format", "reason"],
)
REQUEST_SECONDS = Histogram(
    "learnpulse_ingest_request_seconds",
    "Time to answer an ingest request, including Kafka's acknowledgement",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
