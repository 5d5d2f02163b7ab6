"""The examples in the ingest modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["fields", "learners", "vocab", "native", "xapi", "limits"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"services.ingest.{name}")
    failed, attempted = doctest.testmod(module)
    assert attempted > 0 and failed == 0
