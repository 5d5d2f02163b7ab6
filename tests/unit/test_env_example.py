"""`.env.example` lists every setting of every deployable (it is generated)."""

from __future__ import annotations

from pathlib import Path

from learnpulse.envdoc import render

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_is_current() -> None:
    assert (ROOT / ".env.example").read_text() == render(), (
        "regenerate with: .venv/bin/python -m learnpulse.envdoc > .env.example"
    )
