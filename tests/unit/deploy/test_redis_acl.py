"""deploy/redis renders the same Redis users as the embedded stack, from env passwords."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from learnpulse.stack.services import RedisUsers, acl_lines

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"

SCRIPT = DEPLOY / "redis" / "render-acl.sh"
TEMPLATE = DEPLOY / "redis" / "users.acl.template"
VARS = (
    "LP_REDIS_ADMIN_PASSWORD",
    "LP_REDIS_WORKER_PASSWORD",
    "LP_REDIS_FRONTEND_PASSWORD",
    "LP_REDIS_INGEST_PASSWORD",
)

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def render(out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in VARS}
    return subprocess.run(
        ["bash", str(SCRIPT), str(TEMPLATE), str(out)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_rendered_acl_equals_the_stacks_acl(tmp_path: Path) -> None:
    # Characters a naive sed or shell substitution would mangle.
    users = RedisUsers(
        admin_password="adm&in\\1/x$HOME'q\"0123",
        worker_password=RedisUsers.generate().worker_password,
        frontend_password="front-end-password-%s-1",
        ingest_password="ingest_password_${x}_2",
    )
    env = dict(
        zip(
            VARS,
            (
                users.admin_password,
                users.worker_password,
                users.frontend_password,
                users.ingest_password,
            ),
            strict=True,
        )
    )
    r = render(tmp_path / "users.acl", env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "users.acl").read_text().splitlines() == acl_lines(users)
    assert (tmp_path / "users.acl").stat().st_mode & 0o077 == 0  # not world/group readable


@pytest.mark.parametrize("problem", ["missing", "short", "space"])
def test_refuses_unusable_passwords(tmp_path: Path, problem: str) -> None:
    env = {v: f"password-{i}-long-enough" for i, v in enumerate(VARS)}
    if problem == "missing":
        del env["LP_REDIS_WORKER_PASSWORD"]
    elif problem == "short":
        env["LP_REDIS_WORKER_PASSWORD"] = "short"
    else:
        env["LP_REDIS_WORKER_PASSWORD"] = "has a space in it, bad"
    r = render(tmp_path / "users.acl", env)
    assert r.returncode != 0
    assert "LP_REDIS_WORKER_PASSWORD" in r.stderr
    assert not (tmp_path / "users.acl").exists()
