"""One-shot set-up of a Kafka deployment: LearnPulse topics, then Avro schemas.

    python deploy/scripts/init_kafka.py --bootstrap kafka:9092 --prefix lp. \\
        --partitions 12 --replication-factor 3 --schema-registry http://schema-registry:8081

Idempotent: existing topics and schemas are left as they are (a partition count
that differs is reported, never changed: repartitioning moves learners between
workers and must be planned, see docs/operations.md). Run by the ``init-kafka``
service of docker-compose.yml and the ``learnpulse-init-kafka`` Job in deploy/k8s.

Schemas are registered under ``<topic>-value`` (TopicNameStrategy) with the fixed
ids of ``schemas/ids.json``, in the registry's IMPORT mode, so the ids in the
Confluent wire format that LearnPulse writes resolve to the same schemas for any
other consumer (Kafka Connect, ksqlDB). Only the request sequence is tested here
(no registry runs on the development machine); see docs/operations.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import schemas
from learnpulse.topics import Topics

SR_JSON = "application/vnd.schemaregistry.v1+json"


def create_topics(bootstrap: str, topics: Topics, replication: int, timeout: float) -> list[str]:
    """Create missing topics; return warnings about existing ones that differ."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:  # the broker may still be electing its controller
        try:
            md = admin.list_topics(timeout=5)
            if md.brokers:
                break
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"init-kafka: no Kafka broker answered at {bootstrap}")
        time.sleep(1)
    warnings = []
    new = []
    for name, n in topics.all().items():
        existing = md.topics.get(name)
        if existing is not None and existing.error is None:
            if len(existing.partitions) != n:
                warnings.append(
                    f"{name} has {len(existing.partitions)} partitions, "
                    f"settings say {n}: left unchanged"
                )
            continue
        config = {"min.insync.replicas": str(min(2, replication))}
        if name in topics.compacted():
            config["cleanup.policy"] = "compact"
        new.append(NewTopic(name, num_partitions=n, replication_factor=replication, config=config))
    if not new:
        return warnings
    for name, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout)
            print(f"init-kafka: created {name}")
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise SystemExit(f"init-kafka: cannot create {name}: {exc}") from exc
    return warnings


def released_schemas(prefix: str) -> list[tuple[int, str, str]]:
    """(id, subject, schema JSON) for every released schema, in id order."""
    ids = json.loads((Path(schemas.__file__).parent / "ids.json").read_text())
    out = []
    for key in sorted((k for k in ids if not k.startswith("_")), key=int):
        path = Path(schemas.__file__).parent / ids[key]
        name = path.name.removesuffix(".avsc")
        # Every LearnPulse topic is named <prefix><event type> (learnpulse/topics.py).
        out.append(
            (
                int(key),
                f"{prefix}{name}-value",
                json.dumps(json.loads(path.read_text()), separators=(",", ":")),
            )
        )
    return out


def register_schemas(client: httpx.Client, prefix: str) -> int:
    """Register the released schemas with their fixed ids; return how many were new."""
    added = 0
    versions: dict[str, int] = {}
    for schema_id, subject, text in released_schemas(prefix):
        versions[subject] = versions.get(subject, 0) + 1
        got = client.get(f"/schemas/ids/{schema_id}")
        if got.status_code == 200:
            if json.loads(got.json()["schema"]) != json.loads(text):
                raise SystemExit(
                    f"init-kafka: registry id {schema_id} holds another schema; "
                    "this registry belongs to something else"
                )
            continue
        if got.status_code != 404:
            got.raise_for_status()
        _ok(client.put(f"/mode/{subject}", params={"force": "true"}, json={"mode": "IMPORT"}))
        body: dict[str, Any] = {
            "schema": text,
            "schemaType": "AVRO",
            "id": schema_id,
            "version": versions[subject],
        }
        _ok(client.post(f"/subjects/{subject}/versions", json=body))
        _ok(client.put(f"/mode/{subject}", json={"mode": "READWRITE"}))
        print(f"init-kafka: registered schema id {schema_id} as {subject}")
        added += 1
    return added


def _ok(response: httpx.Response) -> None:
    if response.status_code >= 300:
        raise SystemExit(
            f"init-kafka: schema registry said {response.status_code} to "
            f"{response.request.method} {response.request.url}: {response.text}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--prefix", default="lp.")
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--replication-factor", type=int, default=1)
    p.add_argument("--schema-registry", default="", help="URL; empty to skip schemas")
    p.add_argument("--timeout", type=float, default=60.0)
    a = p.parse_args(argv)
    topics = Topics(prefix=a.prefix, partitions=a.partitions)
    for warning in create_topics(a.bootstrap, topics, a.replication_factor, a.timeout):
        print(f"init-kafka: WARNING {warning}", file=sys.stderr)
    if a.schema_registry:
        with httpx.Client(
            base_url=a.schema_registry,
            timeout=10,
            headers={"Content-Type": SR_JSON, "Accept": SR_JSON},
        ) as client:
            register_schemas(client, a.prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
