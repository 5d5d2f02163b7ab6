"""Helpers shared by tests, benchmarks and the demo (no test framework imports)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from services.ingest import canonical


def activity(
    learner_id: str,
    verb: str,
    obj: str,
    t: int,
    source: str = "lms",
    object_type: str = "course",
    **result: Any,
) -> dict[str, Any]:
    """A canonical activity record (schemas/activity.avsc) happening and received at ``t``."""
    return canonical.record(
        event_id=str(uuid.uuid4()),
        learner_id=learner_id,
        occurred_at_ms=t,
        received_at_ms=t,
        source=source,
        source_format="native",
        verb=verb,
        object_id=obj,
        object_type=object_type,
        result=canonical.result(**result),
    )


def auth_headers(learner_id: str, secret: str = "test-secret-" + "x" * 20) -> dict[str, str]:
    """Authorization headers for the delivery API, if it checks tokens."""
    try:
        from services.delivery.tokens import mint  # type: ignore[import-not-found]
    except ImportError:
        return {}
    return {"Authorization": f"Bearer {mint(secret.encode(), learner_id)}"}


def random_text(rng: random.Random, max_len: int) -> str:
    """Up to ``max_len - 1`` characters of 1-, 2-, 3- and 4-byte UTF-8, for codec tests."""
    pick = (
        lambda: rng.randrange(32, 127),
        lambda: rng.randrange(0x80, 0x800),
        lambda: rng.randrange(0x1000, 0xD000),
        lambda: 0x1F600,
    )
    return "".join(chr(rng.choice(pick)()) for _ in range(rng.randrange(0, max_len)))
