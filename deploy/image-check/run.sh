#!/usr/bin/env bash
# The Dockerfile's build steps without Docker (no engine on the development
# machine), then its worker against a real Tansu and Redis.
#
#   bash deploy/image-check/run.sh [WORKDIR]      # ~5 min; run from the repo root
#
# What it checks: `pip install .` from the files the Dockerfile copies (no dev
# extras, the newest versions the lower bounds allow), the mypyc build of the
# stream models with the newest mypy, mypy removed again, then `python -m
# streams` from that tree processing 5,000 events with the compiled models
# (smoke.py, driven from the repo's .venv). What it does not: the
# python:3.11-slim base, apt, the non-root user, the image's size.
set -euo pipefail
repo=$(pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work/app"
# COPY lines of the Dockerfile, from the committed tree (no local builds)
git archive HEAD pyproject.toml README.md learnpulse streams services schemas deploy/scripts |
  tar -x -C "$work/app"
python3 -m venv "$work/venv"
cd "$work/app"
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# The Dockerfile's RUN line, less apt-get (gcc and libc6-dev must be here already)
"$work/venv/bin/pip" install -q . "mypy>=1.13"
"$work/venv/bin/python" -m learnpulse.native build
"$work/venv/bin/pip" uninstall -q -y mypy
rm -rf build ./*.egg-info
"$work/venv/bin/python" -m learnpulse.native status
"$work/venv/bin/pip" list 2>/dev/null | grep -i -E "^(faust-streaming|confluent-kafka|redis|river|starlette|mypy) "
cd "$repo"
PYTHONPATH="$repo" "$repo/.venv/bin/python" deploy/image-check/smoke.py "$work"
