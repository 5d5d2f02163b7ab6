"""The compiled-models guard (learnpulse/native.py): a stale build never runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from learnpulse import native


def _copy_sources(dest: Path) -> None:
    for m in native.MODULES:
        src = native.source_path(m)
        out = native.source_path(m, dest)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)


def test_a_build_is_current_until_one_source_changes(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    assert native.stale_reason(tmp_path) == "not built"
    stamp = tmp_path / "streams" / ".native-stamp.json"
    stamp.write_bytes(orjson.dumps(native.fingerprint(tmp_path)))
    assert native.stale_reason(tmp_path) is None

    src = native.source_path("streams.models.ranker", tmp_path)
    src.write_text(src.read_text() + "\n# edited after the build\n")
    assert native.stale_reason(tmp_path) == "streams.models.ranker changed since the build"


def test_a_build_for_another_interpreter_is_stale(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    built = native.fingerprint(tmp_path) | {"python": "3.12.0 (elsewhere)"}
    (tmp_path / "streams" / ".native-stamp.json").write_bytes(orjson.dumps(built))
    assert native.stale_reason(tmp_path) == "python differs"


def _imported_from(env: dict[str, str]) -> list[str]:
    code = (
        "import streams.models.ranker as r, streams.models.recommend as c, streams.skills as s\n"
        "print(r.__file__); print(c.__file__); print(s.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=native.ROOT,
    )
    return out.stdout.split()


def test_switched_off_every_listed_module_comes_from_its_source() -> None:
    files = _imported_from(dict(os.environ, LEARNPULSE_NATIVE="0"))
    assert files and all(f.endswith(".py") for f in files), files


def test_a_current_build_is_what_the_worker_imports() -> None:
    # ./lp builds before the tests run, so the suite exercises the compiled models.
    reason = native.stale_reason()
    assert reason is None, f"compiled models: {reason}; run ./lp test (it builds them)"
    files = _imported_from(dict(os.environ, LEARNPULSE_NATIVE="1"))
    assert files and all(f.endswith(".so") for f in files), files
