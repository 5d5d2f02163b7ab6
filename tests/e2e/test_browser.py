"""A learner's page in a real browser: an event in Kafka shows up live, feedback goes back.

Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, installed by
``tests/browser_setup.py`` when missing) opens the reference page served by the
delivery API. A canonical event produced to Kafka goes through a real stream
worker into Redis and onto the learner's live channel; the page must show the
new recommendations without a reload. Clicking "Open" must put a ``clicked``
event on the activity topic. Screenshots go to ``artifacts/browser/``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from confluent_kafka import Producer

import schemas
from learnpulse import keys
from learnpulse.stack.procs import Proc, free_port
from services.delivery.tokens import mint

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "browser"
SECRET = "browser-test-secret-0123456789"


def _browser_setup() -> Any:
    spec = importlib.util.spec_from_file_location(
        "lp_browser_setup", Path(__file__).resolve().parents[1] / "browser_setup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CARDS_JS = """
return Array.from(document.querySelectorAll('#recos li.reco')).map(li => ({
  id: li.dataset.contentId,
  title: li.querySelector('.reco-title').textContent,
  reasons: li.querySelector('.reasons').textContent}));
"""


def click_first(driver: Any, button: str = ".fb-click", attempts: int = 10) -> None:
    """Click a button of the first suggestion, even if the list re-renders meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(attempts):
        try:
            driver.find_element(By.CSS_SELECTOR, f"#recos li.reco {button}").click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError("the suggestion list kept changing; could not click")


def produce(bootstrap: str, items: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    """Produce ``(topic, key, schema, record)`` in the Confluent wire format, acks=all."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for topic, key, schema, rec in items:
        p.produce(topic, key=key.encode(), value=schemas.encode(schema, rec))
    assert p.flush(15) == 0


def reference_data(topics: Any, learner: str, now: int) -> list[tuple[str, str, str, Any]]:
    """A small catalog, a role, a manager's path and the learner's profile."""
    catalog = [
        ("sql-101", "SQL for analysts: joins and window functions", ["sql"]),
        ("viz-201", "Telling stories with dashboards", ["data_viz"]),
        ("py-110", "Python for data cleaning", ["python"]),
        ("stats-150", "Statistics you will actually use", ["statistics"]),
    ]
    out: list[tuple[str, str, str, Any]] = [
        (
            topics.catalog,
            cid,
            schemas.CONTENT,
            {"content_id": cid, "updated_at_ms": now, "title": title, "skills": skills, "level": 2},
        )
        for cid, title, skills in catalog
    ]
    out.append(
        (
            topics.role_skills,
            "data_analyst",
            schemas.ROLE_SKILLS,
            {
                "role": "data_analyst",
                "updated_at_ms": now,
                "required_skills": {"python": 0.8, "sql": 0.7, "statistics": 0.6},
            },
        )
    )
    out.append(
        (
            topics.paths,
            "path-onboarding",
            schemas.PATH,
            {
                "path_id": "path-onboarding",
                "updated_at_ms": now,
                "title": "Analyst onboarding",
                "assigned_by": "mgr-7",
                "learner_ids": [learner],
                "items": [{"content_id": "viz-201", "due_at_ms": now + 7 * 86_400_000}],
            },
        )
    )
    out.append(
        (
            topics.profiles,
            learner,
            schemas.PROFILE,
            {
                "learner_id": learner,
                "updated_at_ms": now,
                "role": "data_analyst",
                "team_id": "team-analytics",
                "level": 2,
            },
        )
    )
    return out


def activity(learner: str, verb: str, obj: str, progress: float) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "event_id": str(uuid.uuid4()),
        "learner_id": learner,
        "occurred_at_ms": now,
        "received_at_ms": now,
        "source": "lms",
        "verb": verb,
        "object_id": obj,
        "object_type": "course",
        "result": {
            "score_scaled": None,
            "success": None,
            "completion": None,
            "progress": progress,
            "duration_s": None,
            "rating": None,
        },
    }


@pytest.fixture
def delivery(kafka_bootstrap: str, redis_server: Any, topics: Any, tmp_path: Path) -> Any:
    port = free_port()
    api = Proc(
        "delivery",
        [sys.executable, "-m", "services.delivery"],
        tmp_path / "delivery.log",
        env={
            "LEARNPULSE_DELIVERY_REDIS_URL": redis_server.frontend_url,
            "LEARNPULSE_DELIVERY_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "LEARNPULSE_DELIVERY_TOPIC_PREFIX": topics.prefix,
            "LEARNPULSE_DELIVERY_TOKEN_SECRET": SECRET,
            "LEARNPULSE_DELIVERY_PORT": str(port),
            "LEARNPULSE_DELIVERY_HEARTBEAT_S": "2",
        },
    ).start()
    base = f"http://127.0.0.1:{port}"
    api.wait_ready(lambda: httpx.get(base + "/healthz").status_code == 200, 30, "serving")
    yield base
    # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean stop, -9 is not.
    assert api.stop() in (0, -15), f"delivery API did not stop cleanly:\n{api.log_tail()}"


def test_learner_sees_live_recommendations_and_sends_feedback(
    kafka_bootstrap, redis_server, topics, start_worker, consume_all, delivery, unique_id
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    learner = f"lrn-{unique_id[:6]}"
    now = int(time.time() * 1000)
    produce(kafka_bootstrap, reference_data(topics, learner, now))
    start_worker(topics)
    SHOTS.mkdir(parents=True, exist_ok=True)

    with _browser_setup().chromium(width=1280, height=860) as driver:
        driver.get(f"{delivery}/#token={mint(SECRET.encode(), learner, 3600)}")
        wait = WebDriverWait(driver, 20, poll_frequency=0.1)
        wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "live")
        # The worker may already have ranked a list for the profile (the page then
        # shows it); none can show progress, which only the event below brings.
        assert not any("40%" in c["reasons"] for c in driver.execute_script(CARDS_JS))
        assert "#token" not in driver.current_url, "the token must leave the address bar"

        # An event in Kafka -> stream worker -> Redis + live channel -> this page, no reload.
        produce(
            kafka_bootstrap,
            [
                (
                    topics.activity,
                    learner,
                    schemas.ACTIVITY,
                    activity(learner, "progressed", "sql-101", 0.4),
                )
            ],
        )
        WebDriverWait(driver, 90, poll_frequency=0.2).until(
            lambda d: any("40%" in c["reasons"] for c in d.execute_script(CARDS_JS))
        )
        # The list re-renders whenever a new one arrives: read it in one go.
        cards = driver.execute_script(CARDS_JS)
        assert cards[0]["id"] == "sql-101"
        assert "SQL for analysts" in cards[0]["title"]
        assert "40%" in cards[0]["reasons"]
        # The manager's path, with its reason.
        assert "Telling stories with dashboards" in [c["title"] for c in cards]
        wait.until(lambda d: d.find_element(By.ID, "streak").text == "1")

        # A nudge, written the way the stream worker writes nudges (stream + live channel).
        nudge = {
            "nudge_id": f"nudge-{unique_id}",
            "learner_id": learner,
            "created_at_ms": now,
            "channel": "in_app",
            "template": "resume",
            "message": "You are 40% through SQL for analysts. Ten minutes today?",
            "content_id": "sql-101",
            "reason": "silence",
            "risk": 0.62,
            "escalate_to": None,
        }
        w = redis.Redis.from_url(redis_server.worker_url)
        w.xadd(keys.nudges(learner), {"v": "1", "nudge": orjson.dumps(nudge)})
        w.publish(keys.live_channel(learner), orjson.dumps({"type": "nudge", "value": nudge}))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#nudges li.nudge"))
        time.sleep(1.5)  # let the "just arrived" highlight fade before the picture
        driver.save_screenshot(str(SHOTS / "learner-view.png"))

        # Feedback: "Open" on the first suggestion reaches Kafka as a clicked event.
        click_first(driver)
        wait.until(lambda d: "Opened" in d.find_element(By.ID, "log").text)
        click_first(driver, ".stars .star:nth-child(4)")  # four stars of five
        wait.until(lambda d: "4/5" in d.find_element(By.ID, "log").text)
        expected = 1 + len(cards) + 2  # the event, one impression per card, click, rating
        records = [
            schemas.decode(schemas.ACTIVITY, v)
            for _k, v, _h in consume_all(topics.activity, expected, timeout=30)
        ]
        clicks = [r for r in records if r["verb"] == "clicked"]
        assert clicks, f"no clicked event on {topics.activity}: {[r['verb'] for r in records]}"
        assert clicks[0]["learner_id"] == learner
        assert clicks[0]["object_id"] == "sql-101"
        assert clicks[0]["source"] == "delivery"
        ratings = [r for r in records if r["verb"] == "rated"]
        assert [(r["object_id"], r["result"]["rating"]) for r in ratings] == [("sql-101", 0.75)]
        assert sorted(r["object_id"] for r in records if r["verb"] == "impression") == sorted(
            c["id"] for c in cards
        )
        driver.save_screenshot(str(SHOTS / "learner-view-after-click.png"))

        # Script errors fail the test; a 404 for the state of a learner the pipeline had
        # not seen yet (before the first event) is the API's documented answer.
        errors = [
            e
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE"
            and not (
                e["source"] == "network"
                and "/v1/me/state" in e["message"]
                and "404" in e["message"]
            )
        ]
        assert errors == [], errors

        driver.get(f"{delivery}/ops")
        wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "live")
        driver.save_screenshot(str(SHOTS / "ops-view.png"))
