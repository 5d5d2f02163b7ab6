"""A real Prometheus scrapes a real stream worker while events flow.

Starts ``python -m streams`` on the session's Tansu broker and Redis, and
Prometheus (Debian's package, installed by tests/prometheus_setup.py when
missing) on loopback scraping it every second with the shipped alert rules
loaded. Asserts through Prometheus' HTTP API that the key series exist and move
by exactly the number of events produced, that every shipped rule evaluates
without error, and that the consumer-lag sampler (streams/lag.py) sees the
backlog and then sees it cleared.

It also measures what the capacity plan in docs/operations.md is built on: Redis
``MEMORY USAGE`` of the values the worker wrote, the learner state size from the
faust changelog, and the worker's resident memory; written to
``artifacts/capacity_measurements.json``.
"""

from __future__ import annotations

import importlib.util
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from confluent_kafka import Producer

import schemas
from learnpulse import keys
from learnpulse.stack.procs import Proc, free_port
from learnpulse.topics import Topics
from streams.lag import LagSampler

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def prometheus() -> str:
    """The prometheus binary, installed by tests/prometheus_setup.py when missing."""
    spec = importlib.util.spec_from_file_location(
        "lp_prometheus_setup", ROOT / "tests" / "prometheus_setup.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.prometheus())


pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEARNERS = 24
ITEMS = 40
SKILLS = [f"skill-{i}" for i in range(12)]
ROLES = {"data_analyst": SKILLS[:5], "engineer": SKILLS[4:10], "manager": SKILLS[8:]}
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


# -- producing realistic input ---------------------------------------------------------
def _producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})


def _send_one_by_one(p: Producer, topic: str, records: list[tuple[str, bytes]]) -> None:
    """One record per produce request: Tansu's end offsets are exact only then (DESIGN.md)."""
    for key, value in records:
        p.produce(topic, key=key.encode(), value=value)
        p.flush(10)


def reference_and_profiles(topics: Topics, bootstrap: str, learners: list[str]) -> None:
    now = int(time.time() * 1000)
    rng = random.Random(7)
    p = _producer(bootstrap)
    for i in range(ITEMS):
        cid = f"c{i:03d}"
        item = {
            "content_id": cid,
            "updated_at_ms": now,
            "title": f"Course {i}: {' '.join(rng.sample(SKILLS, 2))} in practice",
            "skills": rng.sample(SKILLS, 2),
            "topics": ["data"],
            "level": 1 + i % 3,
            "format": "course",
            "duration_min": 20.0,
            "prerequisites": [],
            "published_at_ms": now - 86_400_000,
            "active": True,
        }
        p.produce(
            topics.catalog,
            key=cid.encode(),
            value=schemas.encode(schemas.CONTENT, item),
        )
    for role, skills in ROLES.items():
        p.produce(
            topics.role_skills,
            key=role.encode(),
            value=schemas.encode(
                schemas.ROLE_SKILLS,
                {"role": role, "updated_at_ms": now, "required_skills": {s: 0.7 for s in skills}},
            ),
        )
    p.flush(10)
    profiles = []
    for n, learner in enumerate(learners):
        role = list(ROLES)[n % len(ROLES)]
        profiles.append(
            (
                learner,
                schemas.encode(
                    schemas.PROFILE,
                    {
                        "learner_id": learner,
                        "updated_at_ms": now,
                        "role": role,
                        "department": "ops",
                        "team_id": f"team-{n % 4}",
                        "level": 1 + n % 3,
                        "goals": ROLES[role][:2],
                        "interests": ["data"],
                        "time_zone": "Europe/Berlin",
                    },
                ),
            )
        )
    _send_one_by_one(p, topics.profiles, profiles)


def activity(learners: list[str], per_learner: int, seed: int) -> list[tuple[str, bytes]]:
    """Canonical activity events, keyed by learner id, as the gateway would write them."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    out = []
    for learner in learners:
        for k in range(per_learner):
            item = f"c{rng.randrange(ITEMS):03d}"
            verb = rng.choice(["started", "progressed", "progressed", "completed", "answered"])
            result = None
            if verb == "progressed":
                result = {"progress": round(rng.uniform(0.1, 0.9), 2)}
            elif verb == "answered":
                result = {"success": rng.random() < 0.6, "score_scaled": rng.random()}
            out.append(
                (
                    learner,
                    schemas.encode(
                        schemas.ACTIVITY,
                        {
                            "event_id": str(uuid.uuid4()),
                            "learner_id": learner,
                            "occurred_at_ms": now - (per_learner - k) * 60_000,
                            "received_at_ms": now,
                            "source": "lms",
                            "source_format": "native",
                            "verb": verb,
                            "object_id": item,
                            "object_type": "course",
                            "result": result,
                            "context": {
                                "course_id": None,
                                "session_id": None,
                                "platform": "lms",
                                "skill_ids": [],
                            },
                            "extensions": {},
                        },
                    ),
                )
            )
    rng.shuffle(out)  # interleave learners like real traffic; order per key is kept
    return out


# -- Prometheus --------------------------------------------------------------------------
class PromAPI:
    def __init__(self, port: int) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = self.http.get("/api/v1/query", params={"query": expr})
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_value(
        self, expr: str, ok: Callable[[float], bool], timeout: float, worker: Proc
    ) -> float:
        deadline = time.monotonic() + timeout
        last: float | None = None
        while time.monotonic() < deadline:
            assert worker.alive(), f"worker died:\n{worker.log_tail(40)}"
            last = self.value(expr)
            if last is not None and ok(last):
                return last
            time.sleep(0.5)
        pytest.fail(f"{expr} = {last} after {timeout:.0f}s\nworker log:\n{worker.log_tail(30)}")


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[tuple[PromAPI, Callable[[int], None]]]:
    """A Prometheus on loopback; call the second item with the worker's metrics port."""
    binary = prometheus()
    port = free_port()
    procs: list[Proc] = []

    def start(target_port: int) -> None:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {
                    "job_name": "learnpulse-streams",
                    "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                }
            ],
        }
        (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        proc = Proc(
            "prometheus",
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            tmp_path / "prometheus.log",
        ).start()
        procs.append(proc)
        proc.wait_ready(
            lambda: httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200,
            60,
            "ready",
        )

    yield PromAPI(port), start
    for proc in procs:
        proc.stop()


def start_worker(
    tmp_path: Path, bootstrap: str, redis_url: str, topics: Topics, app_id: str, metrics_port: int
) -> Proc:
    env = {
        "LEARNPULSE_STREAMS_KAFKA_BOOTSTRAP": bootstrap,
        "LEARNPULSE_STREAMS_REDIS_URL": redis_url,
        "LEARNPULSE_STREAMS_TOPIC_PREFIX": topics.prefix,
        "LEARNPULSE_STREAMS_PARTITIONS": str(topics.partitions),
        "LEARNPULSE_STREAMS_APP_ID": app_id,
        "LEARNPULSE_STREAMS_DATA_DIR": str(tmp_path / "data"),
        "LEARNPULSE_STREAMS_METRICS_PORT": str(metrics_port),
    }
    import sys

    proc = Proc(
        "streams", [sys.executable, "-m", "streams"], tmp_path / "worker.log", env=env
    ).start()

    def serving() -> bool:
        return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1).is_success

    proc.wait_ready(serving, 90, "serving /metrics")
    return proc


def wait_lag(
    sampler: LagSampler, ok: Callable[[int], bool], timeout: float, worker: Proc | None = None
) -> dict[tuple[str, int], int]:
    deadline = time.monotonic() + timeout
    lag: dict[tuple[str, int], int] | None = None
    while time.monotonic() < deadline:
        lag = sampler.sample_blocking()
        if lag is not None and ok(sum(lag.values())):
            return lag
        if worker is not None:
            assert worker.alive(), worker.log_tail(40)
        time.sleep(0.5)
    pytest.fail(f"lag {lag} after {timeout:.0f}s")


# -- the test ----------------------------------------------------------------------------
def test_prometheus_sees_worker_series_move(
    tmp_path: Path,
    kafka_bootstrap: str,
    redis_server: Any,
    topics: Topics,
    unique_id: str,
    prom: tuple[PromAPI, Callable[[int], None]],
    consume_all: Callable[..., Any],
) -> None:
    api, start_prometheus = prom
    app_id = f"lp-prom-{unique_id}"
    learners = [f"learner-{unique_id}-{n:02d}" for n in range(LEARNERS)]
    reference_and_profiles(topics, kafka_bootstrap, learners)
    wave1 = activity(learners, per_learner=6, seed=1)
    _send_one_by_one(_producer(kafka_bootstrap), topics.activity, wave1)

    # Before any worker: the whole backlog is lag, per partition, as the gauge.
    sampler = LagSampler(kafka_bootstrap, app_id, [topics.activity, topics.profiles])
    lag = wait_lag(sampler, lambda n: n == len(wave1) + LEARNERS, 20)
    assert {t for t, _p in lag} == {topics.activity, topics.profiles}
    assert sum(n for (t, _p), n in lag.items() if t == topics.activity) == len(wave1)
    from prometheus_client import REGISTRY

    gauge_total = sum(
        REGISTRY.get_sample_value("learnpulse_consumer_lag", {"topic": t, "partition": str(p)}) or 0
        for t, p in lag
    )
    assert gauge_total == len(wave1) + LEARNERS

    metrics_port = free_port()
    worker = start_worker(
        tmp_path, kafka_bootstrap, redis_server.worker_url, topics, app_id, metrics_port
    )
    try:
        start_prometheus(metrics_port)
        applied = 'sum(learnpulse_stream_events_processed_total{agent="learn",outcome="applied"})'
        api.wait_value('up{job="learnpulse-streams"}', lambda v: v == 1, 30, worker)
        api.wait_value(applied, lambda v: v == len(wave1), 120, worker)
        e2e_count = "sum(learnpulse_e2e_append_to_redis_seconds_count)"
        api.wait_value(e2e_count, lambda v: v == len(wave1), 10, worker)
        recos_1 = api.wait_value(
            "sum(learnpulse_recommendations_written_total)", lambda v: v > 0, 10, worker
        )
        wait_lag(sampler, lambda n: n == 0, 30, worker)  # committed after the effects

        wave2 = activity(learners, per_learner=4, seed=2)
        _send_one_by_one(_producer(kafka_bootstrap), topics.activity, wave2)
        total = len(wave1) + len(wave2)
        api.wait_value(applied, lambda v: v == total, 120, worker)
        api.wait_value(e2e_count, lambda v: v == total, 10, worker)
        api.wait_value(
            "sum(learnpulse_recommendations_written_total)", lambda v: v > recos_1, 10, worker
        )
        api.wait_value("sum(learnpulse_learner_state_bytes_count)", lambda v: v > 0, 10, worker)
        # Each learner's state was created once; later batches found it still decoded
        # (decision 0024: the table hands back the very bytes the batch packed).
        loaded = "sum(learnpulse_learner_states_loaded_total{how=%r})"
        api.wait_value(loaded % "new", lambda v: v == LEARNERS, 10, worker)
        api.wait_value(loaded % "kept", lambda v: v >= len(wave2) // 4, 10, worker)
        api.wait_value(
            'sum(learnpulse_stream_batch_size_count{agent="learn"})', lambda v: v > 0, 10, worker
        )
        # The SLO recording rules evaluate to a number on live data.
        api.wait_value("learnpulse:e2e_over_1s:ratio_rate5m", lambda v: 0 <= v <= 1, 30, worker)

        rules = api.http.get("/api/v1/rules").json()["data"]["groups"]
        evaluated = [r for g in rules for r in g["rules"]]
        assert len(evaluated) >= 18
        assert [(r["name"], r.get("lastError")) for r in evaluated if r["health"] != "ok"] == []
        firing = {a["metric"]["alertname"] for a in api.query('ALERTS{alertstate="firing"}')}
        assert "LearnPulseWorkerDown" not in firing and "LearnPulseAllWorkersDown" not in firing

        measure_capacity(api, redis_server, learners, topics, app_id, consume_all, total)
    finally:
        worker.stop(20)


def measure_capacity(
    api: PromAPI,
    redis_server: Any,
    learners: list[str],
    topics: Topics,
    app_id: str,
    consume_all: Callable[..., Any],
    events: int,
) -> None:
    """Per-learner sizes for the capacity plan (docs/operations.md), from the real run."""
    r = redis.Redis.from_url(redis_server.url)
    per_key: dict[str, list[int]] = {"reco": [], "state": []}
    value_len: dict[str, list[int]] = {"reco": [], "state": []}
    for learner in learners:
        for kind, key in (("reco", keys.reco(learner)), ("state", keys.state(learner))):
            usage = r.memory_usage(key, samples=0)
            assert usage is not None, f"{key} missing: the worker wrote no {kind} for {learner}"
            per_key[kind].append(int(usage))
            value_len[kind].append(int(r.strlen(key)))
    reco_items = [
        len(json.loads(r.get(keys.reco(learner)) or b"{}").get("items", [])) for learner in learners
    ]
    due_bytes = sum(
        int(r.memory_usage(keys.due_index(p), samples=0) or 0) for p in range(topics.partitions)
    )
    # The learner state as faust stores it: last changelog value per learner.
    changelog = f"{app_id}-learner-state-changelog"
    latest: dict[bytes, int] = {}
    for key, value, _h in consume_all(changelog, 10**6, timeout=10):
        if key is not None and value is not None:
            latest[key] = len(value)
    nudge_stream = nudge_stream_bytes(r)
    rss = api.value('process_resident_memory_bytes{job="learnpulse-streams"}')
    batch_s = api.value('sum(learnpulse_stream_batch_seconds_sum{agent="learn"})')
    hist_sum = api.value("sum(learnpulse_learner_state_bytes_sum)")
    hist_count = api.value("sum(learnpulse_learner_state_bytes_count)")
    out = {
        "learners": len(learners),
        "events_applied": events,
        "events_per_learner": events / len(learners),
        "reco_items_mean": statistics.mean(reco_items),
        "redis_memory_usage_bytes": {
            k: {"mean": statistics.mean(v), "max": max(v)} for k, v in per_key.items()
        },
        "redis_value_bytes": {
            k: {"mean": statistics.mean(v), "max": max(v)} for k, v in value_len.items()
        },
        "redis_due_index_bytes_per_learner": due_bytes / len(learners),
        "state_bytes_changelog": {
            "learners": len(latest),
            "mean": statistics.mean(latest.values()) if latest else None,
            "max": max(latest.values()) if latest else None,
        },
        "state_bytes_histogram_mean": (hist_sum / hist_count) if hist_sum and hist_count else None,
        "redis_nudge_stream_bytes_by_entries": nudge_stream,
        "batch_wall_us_per_event": (batch_s / events * 1e6) if batch_s else None,
        "worker_rss_bytes": rss,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "capacity_measurements.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    assert min(reco_items) > 0, "recommendations were empty: the sizes would not be realistic"


def nudge_stream_bytes(r: redis.Redis) -> dict[int, int]:
    """MEMORY USAGE of a learner's nudge stream holding n nudges shaped like the sink writes.

    The nudge policy allows at most 3 a week and values live 30 days, so ~13 entries
    is the most a learner holds in practice.
    """
    key = keys.nudges("capacity-probe")
    r.delete(key)
    out = {}
    now = int(time.time() * 1000)
    for n in range(1, 14):
        nudge = {
            "nudge_id": uuid.uuid4().hex,
            "learner_id": "learner-capacity-probe-00",
            "created_at_ms": now + n,
            "channel": "in_app",
            "template": "silence.resume",
            "message": 'You were 40% through "SQL for analysts"; 15 minutes today '
            "would finish the next module.",
            "content_id": "c017",
            "reason": "silence",
            "risk": 0.62,
            "escalate_to": None,
        }
        r.xadd(
            key,
            {"v": str(keys.VALUE_VERSION), "nudge": json.dumps(nudge)},
            maxlen=100,
            approximate=True,
        )
        if n in (1, 4, 13):
            out[n] = int(r.memory_usage(key, samples=0) or 0)
    r.delete(key)
    return out


def test_init_kafka_creates_topics_on_a_real_broker(kafka_bootstrap: str, unique_id: str) -> None:
    """deploy/scripts/init_kafka.py creates every topic with its partitions, and reruns."""
    from confluent_kafka.admin import AdminClient

    spec = importlib.util.spec_from_file_location(
        "lp_init_kafka_it", ROOT / "deploy" / "scripts" / "init_kafka.py"
    )
    assert spec and spec.loader
    init = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(init)
    t = Topics(prefix=f"init{unique_id}.", partitions=3)
    args = [
        "--bootstrap",
        kafka_bootstrap,
        "--prefix",
        t.prefix,
        "--partitions",
        "3",
        "--timeout",
        "30",
    ]
    assert init.main(args) == 0
    md = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    for name, n in t.all().items():
        assert name in md.topics, name
        assert len(md.topics[name].partitions) == n, name
    assert init.main(args) == 0  # idempotent
