"""The faust app of the stream worker: settings → app, topics, table, agents.

Topics, tables and agents live in their own modules and are registered here.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import drain
from streams.settings import StreamsSettings

log = logging.getLogger(__name__)

_FETCH_WAIT_MS = 1500


def _patch_fetch_wait(wait_ms: int) -> None:
    """faust hard-codes ``fetch_max_wait_ms=1500`` for its consumer.

    On Tansu a waiting fetch is answered only when that wait expires, so every
    hop would cost ~1.5 s. We set the wait on the consumer object faust creates,
    before it starts (aiokafka reads the attribute when its fetcher starts).
    """
    global _FETCH_WAIT_MS
    _FETCH_WAIT_MS = wait_ms
    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread_cls, "_lp_patched", False):
        return
    original = thread_cls._create_worker_consumer

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = _FETCH_WAIT_MS
        return consumer

    thread_cls._create_worker_consumer = create  # type: ignore[method-assign]
    thread_cls._lp_patched = True  # type: ignore[attr-defined]


def faust_settings(s: StreamsSettings) -> dict[str, Any]:
    """faust settings for the broker profile."""
    conf: dict[str, Any] = {
        "broker": f"kafka://{s.kafka_bootstrap.split(',')[0]}",
        "store": "memory://",
        "datadir": s.data_dir,
        "topic_partitions": s.partitions,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": False,  # metrics are served by prometheus_client on loopback
        "web_bind": "127.0.0.1",
        "stream_buffer_maxsize": max(4096, s.batch_size * 4),
        "broker_max_poll_records": max(500, s.batch_size),
        "broker_commit_interval": 1.0,
        "table_cleanup_interval": 60.0,
    }
    if s.broker_profile == "kafka":
        conf["topic_replication_factor"] = s.replication_factor
    if s.broker_profile == "tansu":
        # DESIGN.md: Tansu's ListOffsets answers the last batch's base offset + 1.
        # The learner changelog ends each flush with a marker so recovery reaches
        # every committed state (streams/store.py, decision 0018); faust's own
        # producer keeps one-record batches. A standby or a recovery may still
        # read records past that too-low high watermark, which faust's
        # consistency check would take for a truncated changelog and crash on.
        # Short session timeouts because joins wait half of it.
        conf.update(
            {
                "producer_max_batch_size": 1,
                "recovery_consistency_check": False,
                "broker_session_timeout": s.session_timeout_s,
                "broker_heartbeat_interval": s.heartbeat_s,
                "broker_rebalance_timeout": s.session_timeout_s,
                "broker_request_timeout": max(30.0, s.session_timeout_s * 3),
            }
        )
    return conf


def create_app(s: StreamsSettings) -> faust.App:
    if s.broker_profile == "tansu":
        _patch_fetch_wait(s.fetch_max_wait_ms)
    if s.lean_drain and not drain.install():
        log.warning("faust %s: keeping its own drain loop (streams/drain.py)", faust.__version__)
    app = faust.App(s.app_id, **faust_settings(s))
    if s.faust_metrics:
        # faust's own sensor: rebalance, commit and producer latencies, messages
        # per topic/partition. Served by our /metrics (faust's web server is off).
        from faust.sensors.prometheus import FaustMetrics
        from prometheus_client import REGISTRY

        from streams.monitor import LeanPrometheusMonitor

        app.monitor = LeanPrometheusMonitor(
            metrics=FaustMetrics.create(REGISTRY, "learnpulse_faust")
        )
    return app
