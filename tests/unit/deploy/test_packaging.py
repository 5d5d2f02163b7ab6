"""The Docker image installs LearnPulse with `pip install .` (not editable), so every
data file the code reads at run time must be declared as package data in pyproject.

A file left out works in the development venv (editable install) and breaks only
in the image: e.g. schemas/ids.json, without which no event can be decoded.
"""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# The packages pyproject installs (loadtests run from a checkout, not from the image).
PACKAGES = ("learnpulse", "streams", "services", "schemas")


def tracked_data_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [f for f in out if not f.endswith((".py", ".pyi", "py.typed"))]


def test_every_data_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"].get("package-data", {})
    files = tracked_data_files()
    assert "schemas/ids.json" in files
    missing = []
    for path in files:
        package, _, rest = path.partition("/")
        if not any(fnmatch.fnmatch(rest, p) for p in patterns.get(package, [])):
            missing.append(path)
    assert missing == [], "add these to [tool.setuptools.package-data] in pyproject.toml"


def test_dockerfile_installs_the_project_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install ." in text
    lines = [ln.split()[0] for ln in text.splitlines() if ln and not ln.startswith((" ", "#"))]
    assert "USER" in lines and lines.index("USER") > lines.index("RUN")
    for package in PACKAGES:
        assert f"COPY {package} ./{package}" in text, package
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and ".env" in ignored
