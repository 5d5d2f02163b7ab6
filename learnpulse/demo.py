"""The demo: the embedded stack, a synthetic organisation streaming events, a live view."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from learnpulse.publish import producer, publish_reference
from learnpulse.stack.runner import EmbeddedStack
from learnpulse.synth import Organisation, throttled


@dataclass
class Feed:
    """Recommendations and nudges as they are published, from Redis pub/sub."""

    recos: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=6))
    nudges: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=6))
    reco_count: int = 0
    nudge_count: int = 0

    def run(self, url: str, stop: threading.Event) -> None:
        client = redis.Redis.from_url(url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe("lp:*:live")
        while not stop.is_set():
            msg = pubsub.get_message(timeout=0.2)
            if not msg:
                continue
            data = orjson.loads(msg["data"])
            if data.get("type") == "reco":
                self.reco_count += 1
                self.recos.appendleft(data["value"])
            elif data.get("type") == "nudge":
                self.nudge_count += 1
                self.nudges.appendleft(data["value"])
        pubsub.close()


def _view(produced: int, started: float, feed: Feed, stack: EmbeddedStack) -> Group:
    elapsed = max(time.monotonic() - started, 1e-6)
    stats = Table.grid(padding=(0, 3))
    stats.add_row(
        f"[b]{produced:,}[/] events produced",
        f"[b]{produced / elapsed:,.0f}[/] events/s",
        f"[b]{feed.reco_count:,}[/] recommendation updates",
        f"[b]{feed.nudge_count:,}[/] nudges",
        f"{elapsed:,.0f} s",
    )
    recos = Table(expand=True, show_lines=False)
    recos.add_column("learner", style="cyan", no_wrap=True)
    recos.add_column("top recommendations (why)")
    for r in list(feed.recos)[:5]:
        lines = [
            f"[b]{it['title']}[/] [dim]({it['source']})[/] — {'; '.join(it['reasons'])}"
            for it in r["items"][:3]
        ]
        recos.add_row(r["learner_id"], "\n".join(lines) or "[dim](nothing yet)[/]")
    nudges = Table(expand=True)
    nudges.add_column("learner", style="magenta", no_wrap=True)
    nudges.add_column("channel")
    nudges.add_column("nudge")
    for n in list(feed.nudges)[:4]:
        nudges.add_row(n["learner_id"], n.get("channel", ""), n.get("message", ""))
    links = "  ".join(
        f"{k}: {v}" for k, v in stack.endpoints.items() if k in ("delivery", "ingest")
    )
    return Group(
        Panel(stats, title="LearnPulse live"),
        Panel(recos, title="Recommendations being written to Redis"),
        Panel(nudges, title="Nudges"),
        f"[dim]{links}[/]\n",
    )


def run_demo(
    stack: EmbeddedStack, learners: int, rate: float, duration: float | None, seed: int = 7
) -> dict[str, Any]:
    """Stream the synthetic organisation through a started stack; returns a summary."""
    now_ms = int(time.time() * 1000)
    # Simulated history ends now, so risk and nudges read like today.
    org = Organisation.generate(learners, seed=seed, start_ms=now_ms - 30 * 86_400_000)
    p = producer(stack.kafka_bootstrap)
    n_ref = publish_reference(p, stack.topics, org.reference_records())
    p.flush(30)
    stack.say(f"published {n_ref:,} reference records (catalog, paths, role skills, profiles)")
    feed = Feed()
    stop = threading.Event()
    threading.Thread(target=feed.run, args=(stack.redis("lp-admin"), stop), daemon=True).start()
    produced = 0
    started = time.monotonic()
    deadline = None if duration is None else started + duration
    import schemas
    from learnpulse.publish import produce

    topic = stack.topics.activity
    try:
        with Live(_view(0, started, feed, stack), refresh_per_second=4) as live:
            last = 0.0
            for ev in throttled(org.events(), rate):
                produce(p, topic, ev["learner_id"], schemas.encode(schemas.ACTIVITY, ev))
                produced += 1
                now = time.monotonic()
                if now - last > 0.25:
                    p.poll(0)
                    live.update(_view(produced, started, feed, stack))
                    last = now
                if deadline and now > deadline:
                    break
            p.flush(30)
            time.sleep(1.5)  # let the last batch land before the summary
            live.update(_view(produced, started, feed, stack))
    finally:
        stop.set()
    return {
        "events_produced": produced,
        "seconds": round(time.monotonic() - started, 1),
        "recommendation_updates": feed.reco_count,
        "nudges": feed.nudge_count,
        "logs": str(Path(stack.config.workdir)),
    }
