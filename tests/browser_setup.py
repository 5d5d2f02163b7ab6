"""Headless Chromium for browser tests: install Debian's packages when missing, start it.

Tests run as root on Debian, so ``apt-get install chromium chromium-driver`` works;
``apt-get update`` runs first only when the package lists cannot find them. No
browser build is downloaded from anywhere else (Selenium Manager is bypassed by
giving the driver path explicitly).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")

# Quiet, reproducible, no network but the page under test.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


class BrowserSetupError(RuntimeError):
    """Chromium or its driver could not be installed or started."""


def _apt(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def ensure_chromium() -> None:
    """Install ``chromium`` and ``chromium-driver`` with apt-get when they are missing."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if shutil.which("apt-get") is None:
        raise BrowserSetupError("chromium is missing and apt-get is not available to install it")
    install = ("install", "-y", "--no-install-recommends", *PACKAGES)
    done = _apt(*install, timeout=900)
    if done.returncode != 0:
        # Most often the package lists are empty or stale: refresh once, then retry.
        upd = _apt("update", timeout=600)
        if upd.returncode != 0:
            raise BrowserSetupError(f"apt-get update failed:\n{upd.stderr[-2000:]}")
        done = _apt(*install, timeout=900)
    if done.returncode != 0 or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        raise BrowserSetupError(
            f"apt-get install {' '.join(PACKAGES)} failed:\n{done.stderr[-2000:]}"
        )


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile; quits (by its own PID) on exit."""
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="lp-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))
    try:
        driver = webdriver.Chrome(service=service, options=opts)
    except Exception as exc:
        shutil.rmtree(profile, ignore_errors=True)
        raise BrowserSetupError(f"chromium did not start: {exc}") from exc
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
