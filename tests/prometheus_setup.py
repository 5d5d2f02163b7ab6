"""Find the ``prometheus`` and ``promtool`` binaries; install Debian's package when missing.

Tests run as root on a Debian machine (the CI machine too), so a missing
Prometheus is installed with apt-get rather than skipped: the tests that need it
are part of "done" for the operations issue. ``apt-get update`` is run only when
a first install attempt fails (a fresh machine may have no package lists yet).
The package's service is not started: Debian's ``policy-rc.d`` on this image
denies it, and we run our own server on loopback with our own config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

_LOCK = threading.Lock()
_SEARCH = ("/usr/bin", "/usr/local/bin", "/bin")


class PrometheusUnavailable(RuntimeError):
    """Prometheus could not be found nor installed; the message says what to do."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _SEARCH:
        path = Path(folder) / name
        if path.exists() and os.access(path, os.X_OK):
            return str(path)
    return None


def _apt_install() -> None:
    if os.geteuid() != 0:
        raise PrometheusUnavailable(
            "prometheus/promtool not found and not root: run "
            "`apt-get install --no-install-recommends prometheus` as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
    first = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if first.returncode == 0:
        return
    update = subprocess.run(
        ["apt-get", "update", "-q"], env=env, capture_output=True, text=True, timeout=600
    )
    second = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if second.returncode != 0:
        raise PrometheusUnavailable(
            "apt-get install prometheus failed:\n"
            f"update: {update.stderr[-800:]}\ninstall: {second.stderr[-1500:]}"
        )


def binaries() -> tuple[str, str]:
    """Paths of ``(prometheus, promtool)``, installing the Debian package if needed."""
    with _LOCK:
        prom, tool = _which("prometheus"), _which("promtool")
        if prom and tool:
            return prom, tool
        _apt_install()
        prom, tool = _which("prometheus"), _which("promtool")
        if not (prom and tool):
            raise PrometheusUnavailable(
                "the prometheus package installed but prometheus/promtool are not on PATH"
            )
        return prom, tool


def promtool() -> str:
    return binaries()[1]


def prometheus() -> str:
    return binaries()[0]


if __name__ == "__main__":  # `python tests/prometheus_setup.py` prepares a machine by hand
    print(*binaries())
