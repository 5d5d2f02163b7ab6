"""Server-sent events: what the worker publishes reaches the learner's browser, and only theirs."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import orjson
import pytest
import redis

from learnpulse import keys

pytestmark = pytest.mark.integration

Event = tuple[str, str]


@contextmanager
def sse(url: str, token: str) -> Iterator[queue.Queue[Event]]:
    """Read an event stream in a thread; events arrive as (name, data) in a queue."""
    events: queue.Queue[Event] = queue.Queue()
    stop = threading.Event()
    opened = threading.Event()

    def read() -> None:
        try:
            with httpx.stream(
                "GET", url, params={"token": token}, timeout=httpx.Timeout(10, read=10)
            ) as r:
                events.put(("status", str(r.status_code)))
                opened.set()
                name = "message"
                for line in r.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        events.put((name, line[6:]))
                        name = "message"
                events.put(("eof", ""))
        except httpx.HTTPError as exc:
            events.put(("error", repr(exc)))
        finally:
            opened.set()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    opened.wait(10)
    try:
        yield events
    finally:
        stop.set()
        t.join(15)


def next_event(events: queue.Queue[Event], name: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            got, data = events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if got == name:
            return data
        seen.append(got)
    raise AssertionError(f"no {name!r} event within {timeout}s; saw {seen}")


def reco(learner: str, generated: int, cid: str) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "learner_id": learner,
            "generated_at_ms": generated,
            "model_version": "m",
            "trigger_event_id": None,
            "items": [
                {
                    "content_id": cid,
                    "title": cid,
                    "score": 1.0,
                    "source": "continue",
                    "reasons": ["because"],
                }
            ],
        }
    )


def publish_reco(w: redis.Redis, learner: str, value: bytes) -> None:
    """What the stream worker does: SET the value, then PUBLISH it on the live channel."""
    w.set(keys.reco(learner), value)
    w.publish(keys.live_channel(learner), b'{"type":"reco","value":' + value + b"}")


def sse_clients(api) -> int:
    return int(httpx.get(api.url + "/v1/ops/stats").json()["delivery"]["sse_clients"])


def test_current_value_first_then_each_update(start_api, topics, redis_server) -> None:
    w = redis.Redis.from_url(redis_server.worker_url)
    api = start_api(topics, heartbeat_s=0.3)
    w.set(keys.reco("sse-a"), reco("sse-a", 1, "old-course"))
    with sse(api.url + "/v1/me/events", api.token("sse-a")) as events:
        assert next_event(events, "status") == "200"
        assert orjson.loads(next_event(events, "reco"))["items"][0]["content_id"] == "old-course"
        publish_reco(w, "sse-a", reco("sse-a", 2, "new-course"))
        value = orjson.loads(next_event(events, "reco"))
        assert value["items"][0]["content_id"] == "new-course"
        assert value["generated_at_ms"] == 2
        nudge = {"nudge_id": "n-1", "learner_id": "sse-a", "message": "Ten minutes today?"}
        w.publish(keys.live_channel("sse-a"), orjson.dumps({"type": "nudge", "value": nudge}))
        assert orjson.loads(next_event(events, "nudge")) == nudge
        assert "t" in orjson.loads(next_event(events, "heartbeat", timeout=2))
        assert sse_clients(api) == 1
    deadline = time.monotonic() + 5
    while sse_clients(api) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sse_clients(api) == 0, "a closed stream must release its subscription"


def test_updates_go_only_to_their_learner(start_api, topics, redis_server) -> None:
    w = redis.Redis.from_url(redis_server.worker_url)
    api = start_api(topics, heartbeat_s=0.3)
    with (
        sse(api.url + "/v1/me/events", api.token("sse-b")) as b1,
        sse(api.url + "/v1/me/events", api.token("sse-b")) as b2,
        sse(api.url + "/v1/me/events", api.token("sse-c")) as c,
    ):
        for stream in (b1, b2, c):
            assert next_event(stream, "status") == "200"
        publish_reco(w, "sse-b", reco("sse-b", 5, "for-b"))
        for stream in (b1, b2):
            assert orjson.loads(next_event(stream, "reco"))["learner_id"] == "sse-b"
        publish_reco(w, "sse-c", reco("sse-c", 6, "for-c"))
        assert orjson.loads(next_event(c, "reco"))["learner_id"] == "sse-c"  # not sse-b's


def test_bad_messages_are_dropped_and_the_stream_goes_on(start_api, topics, redis_server) -> None:
    w = redis.Redis.from_url(redis_server.worker_url)
    api = start_api(topics, heartbeat_s=0.3)
    with sse(api.url + "/v1/me/events", api.token("sse-d")) as events:
        assert next_event(events, "status") == "200"
        w.publish(keys.live_channel("sse-d"), b"not json")
        w.publish(keys.live_channel("sse-d"), b'{"type":"reco","value":{"v":99}}')
        publish_reco(w, "sse-d", reco("sse-d", 7, "good"))
        assert orjson.loads(next_event(events, "reco"))["generated_at_ms"] == 7


def test_stream_ends_when_the_token_expires(start_api, topics) -> None:
    api = start_api(topics, heartbeat_s=0.3)
    with sse(api.url + "/v1/me/events", api.token("sse-e", ttl_s=2)) as events:
        assert next_event(events, "status") == "200"
        assert "expired" in next_event(events, "expired", timeout=5)
        next_event(events, "eof", timeout=3)


def test_refused_streams_are_not_opened(start_api, topics) -> None:
    api = start_api(topics)
    r = httpx.get(
        api.url + "/v1/learners/someone-else/events", params={"token": api.token("sse-f")}
    )
    assert r.status_code == 403
    assert httpx.get(api.url + "/v1/me/events").status_code == 401
    assert sse_clients(api) == 0


def test_shutdown_closes_open_streams_cleanly(
    redis_server, kafka_bootstrap, topics, tmp_path
) -> None:
    import os
    import signal
    import sys

    from learnpulse.stack.procs import Proc, free_port
    from services.delivery.tokens import mint

    port = free_port()
    secret = "shutdown-test-secret-0123456789"
    proc = Proc(
        "delivery",
        [sys.executable, "-m", "services.delivery"],
        tmp_path / "api.log",
        env={
            "LEARNPULSE_DELIVERY_REDIS_URL": redis_server.frontend_url,
            "LEARNPULSE_DELIVERY_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "LEARNPULSE_DELIVERY_TOPIC_PREFIX": topics.prefix,
            "LEARNPULSE_DELIVERY_TOKEN_SECRET": secret,
            "LEARNPULSE_DELIVERY_PORT": str(port),
            "LEARNPULSE_DELIVERY_HEARTBEAT_S": "30",
        },
    ).start()
    try:
        base = f"http://127.0.0.1:{port}"
        proc.wait_ready(lambda: httpx.get(base + "/healthz").status_code == 200, 30, "serving")
        with sse(base + "/v1/me/events", mint(secret.encode(), "sse-g")) as events:
            assert next_event(events, "status") == "200"
            t0 = time.monotonic()
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGTERM)
            assert "reason" in next_event(events, "close", timeout=5)
            next_event(events, "eof", timeout=5)
            assert proc.popen is not None
            proc.popen.wait(10)
            # Not held open until the heartbeat or the graceful-shutdown timeout.
            assert time.monotonic() - t0 < 3
            assert "Traceback" not in proc.log_tail(200)
    finally:
        proc.stop()
