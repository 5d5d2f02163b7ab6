"""deploy/scripts/init_kafka.py registers the released schemas with their fixed ids.

The registry here is a fake speaking the Confluent Schema Registry REST API as
documented (GET /schemas/ids/{id}, PUT /mode/{subject}, POST
/subjects/{subject}/versions with an explicit id in IMPORT mode); no real registry
runs on the development machine. Topic creation runs against the real broker in
tests/integration/test_prometheus.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from learnpulse.topics import Topics

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


def _load_init() -> Any:
    spec = importlib.util.spec_from_file_location("lp_init_kafka", DEPLOY / "scripts/init_kafka.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


init = _load_init()


class FakeRegistry:
    def __init__(self) -> None:
        self.by_id: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.mode: dict[str, str] = {}
        self.writes: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and (m := re.fullmatch(r"/schemas/ids/(\d+)", path)):
            schema = self.by_id.get(int(m.group(1)))
            if schema is None:
                return httpx.Response(404, json={"error_code": 40403, "message": "not found"})
            return httpx.Response(200, json={"schema": schema})
        self.writes.append(f"{request.method} {path}")
        if request.method == "PUT" and (m := re.fullmatch(r"/mode/(.+)", path)):
            self.mode[m.group(1)] = json.loads(request.content)["mode"]
            return httpx.Response(200, json=json.loads(request.content))
        if request.method == "POST" and (m := re.fullmatch(r"/subjects/(.+)/versions", path)):
            body: dict[str, Any] = json.loads(request.content)
            subject = m.group(1)
            if "id" in body and self.mode.get(subject) != "IMPORT":
                return httpx.Response(422, json={"error_code": 42205, "message": "not IMPORT"})
            self.by_id[body["id"]] = body["schema"]
            self.subjects.setdefault(subject, []).append(body["id"])
            return httpx.Response(200, json={"id": body["id"]})
        return httpx.Response(404, json={"error_code": 404, "message": path})


def client(fake: FakeRegistry) -> httpx.Client:
    return httpx.Client(base_url="http://registry", transport=httpx.MockTransport(fake))


def test_registers_every_released_schema_with_its_fixed_id() -> None:
    fake = FakeRegistry()
    ids = json.loads((DEPLOY.parent / "schemas" / "ids.json").read_text())
    released = [k for k in ids if not k.startswith("_")]
    assert init.register_schemas(client(fake), "lp.") == len(released)
    for key, path in ids.items():
        if key.startswith("_"):
            continue
        name = path.rsplit("/", 1)[-1].removesuffix(".avsc")
        versions = fake.subjects[f"lp.{name}-value"]
        assert int(key) in versions
        assert versions == sorted(versions), "a subject's versions are registered oldest first"
        assert json.loads(fake.by_id[int(key)]) == json.loads(
            (DEPLOY.parent / "schemas" / path).read_text()
        )
    assert set(fake.mode.values()) == {"READWRITE"}  # IMPORT only while importing


def test_second_run_writes_nothing() -> None:
    fake = FakeRegistry()
    init.register_schemas(client(fake), "lp.")
    fake.writes.clear()
    assert init.register_schemas(client(fake), "lp.") == 0
    assert fake.writes == []


def test_refuses_a_registry_whose_ids_mean_other_schemas() -> None:
    fake = FakeRegistry()
    fake.by_id[1] = json.dumps({"type": "string"})
    with pytest.raises(SystemExit, match="id 1 holds another schema"):
        init.register_schemas(client(fake), "lp.")


def test_subjects_are_the_topics_value_subjects() -> None:
    topics = set(Topics(prefix="acme.").all())
    for _id, subject, _text in init.released_schemas("acme."):
        assert subject.removesuffix("-value") in topics
