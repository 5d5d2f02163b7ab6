"""Helpers shared by tests, benchmarks and the demo (no test framework imports)."""

from __future__ import annotations


def auth_headers(learner_id: str, secret: str = "test-secret-" + "x" * 20) -> dict[str, str]:
    """Authorization headers for the delivery API, if it checks tokens."""
    try:
        from services.delivery.tokens import mint  # type: ignore[import-not-found]
    except ImportError:
        return {}
    return {"Authorization": f"Bearer {mint(secret.encode(), learner_id)}"}
