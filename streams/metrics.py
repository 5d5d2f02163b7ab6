"""Prometheus metrics of the stream worker. No learner or content ids as labels."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PROCESSED = Counter(
    "learnpulse_stream_events_processed_total",
    "Events processed by agent and outcome",
    ["agent", "outcome"],
)
DEADLETTERED = Counter(
    "learnpulse_stream_deadlettered_total",
    "Records sent to the dead-letter topic",
    ["agent", "reason"],
)
BATCH_SIZE = Histogram(
    "learnpulse_stream_batch_size",
    "Events per processing batch",
    ["agent"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000),
)
BATCH_SECONDS = Histogram(
    "learnpulse_stream_batch_seconds",
    "Processing time of one batch",
    ["agent"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
E2E_FROM_APPEND = Histogram(
    "learnpulse_e2e_append_to_redis_seconds",
    "From the Kafka append timestamp of an event to its effects written to Redis",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
E2E_FROM_EVENT = Histogram(
    "learnpulse_e2e_event_to_redis_seconds",
    "From the time an event happened (event time) to its effects written to Redis",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
REDIS_WRITE_SECONDS = Histogram(
    "learnpulse_redis_write_seconds",
    "A batch's Redis writes, from sending them until Redis made them visible (its clock)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)
REDIS_ERRORS = Counter("learnpulse_redis_errors_total", "Failed Redis writes (retried)")
RECOMMENDATIONS_WRITTEN = Counter(
    "learnpulse_recommendations_written_total", "Recommendation lists written to Redis"
)
LISTS_RENDERED = Counter(
    "learnpulse_recommendation_lists_total",
    "Lists rendered: ranked (full ranking) or patched (progress re-rendered on the cached "
    "list, streams/listcache.py)",
    ["how"],
)
# Bound once: .labels() takes a lock and builds a key on every call (~1 µs), and
# the learn loop counts one list per changed learner.
LISTS_RANKED = LISTS_RENDERED.labels("ranked")
LISTS_PATCHED = LISTS_RENDERED.labels("patched")
STATES_LOADED = Counter(
    "learnpulse_learner_states_loaded_total",
    "Learner states a batch started from: kept decoded since a recent batch (kept), "
    "decoded from the table (decoded), or new",
    ["how"],
)
STATES_KEPT = STATES_LOADED.labels("kept")
STATES_DECODED = STATES_LOADED.labels("decoded")
STATES_NEW = STATES_LOADED.labels("new")
NUDGES = Counter(
    "learnpulse_nudges_total", "Nudge decisions by outcome and reason", ["outcome", "reason"]
)
LEARNERS_AT_RISK = Gauge("learnpulse_learners_at_risk", "Learners of this worker with risk >= 0.5")
LEARNERS_IN_STATE = Gauge("learnpulse_learners_in_state", "Learners held by this worker")
COMPILED_MODELS = Gauge(
    "learnpulse_compiled_models",
    "1 when this worker runs the mypyc-compiled models, 0 when plain Python (slower)",
)
INTERPRETER_BUILD = Gauge(
    "learnpulse_interpreter_build",
    "1 for this worker's CPython build: optimized yes (PGO), no (no PGO/LTO: more CPU "
    "per event, decision 0028), unknown (a distribution's build, flags not recorded)",
    ["optimized"],
)
STATE_BYTES = Histogram(
    "learnpulse_learner_state_bytes",
    "Size of a learner's stream state",
    buckets=(256, 512, 1024, 2048, 4096, 8192, 16384),
)
REFERENCE_RECORDS = Gauge("learnpulse_reference_records", "Reference records held", ["kind"])
CONSUMER_LAG = Gauge(
    "learnpulse_consumer_lag", "Records behind the end of a partition", ["topic", "partition"]
)
MODEL_AUC = Gauge("learnpulse_model_rolling_auc", "Rolling ROC AUC of live predictions", ["model"])
MODEL_LOGLOSS = Gauge(
    "learnpulse_model_rolling_logloss", "Rolling log-loss of live predictions", ["model"]
)
NUDGE_OUTCOMES = Counter(
    "learnpulse_nudge_outcomes_total",
    "Outcomes of sent nudges: returned (active again within the return window), opened, "
    "dismissed; returned / sent is the nudge return rate",
    ["outcome"],
)
TABLE_RECOVERY_REMAINING = Gauge(
    "learnpulse_table_recovery_remaining",
    "Changelog records still to replay before the learner table is recovered",
    ["kind"],
)


def observe_many(hist: Histogram, values: Iterable[float]) -> None:
    """``hist.observe(v)`` for every value, with one increment per bucket hit.

    Observing one value takes the histogram's locks twice (~0.6 µs); the
    per-event latency histograms see thousands of values a second. Uses
    prometheus_client's bucket counters directly, so
    ``tests/unit/test_metrics.py`` checks it exports what ``observe`` would;
    a client without them gets plain ``observe`` calls.
    """
    bounds: Any = getattr(hist, "_upper_bounds", None)
    buckets: Any = getattr(hist, "_buckets", None)
    total: Any = getattr(hist, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for v in values:
            hist.observe(v)
        return
    counts = [0] * len(bounds)
    acc = 0.0
    for v in values:
        # observe() counts v in the first bucket whose upper bound is >= v.
        counts[bisect_left(bounds, v)] += 1
        acc += v
    for i, n in enumerate(counts):
        if n:
            buckets[i].inc(n)
    total.inc(acc)
