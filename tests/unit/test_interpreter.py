"""learnpulse.interpreter: which CPython builds are reported slow, and the worker says so."""

from __future__ import annotations

import doctest

from learnpulse import interpreter

PYENV = {
    "CONFIG_ARGS": "'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared' "
    "'LDFLAGS=-L/root/.pyenv/versions/3.11.7/lib'",
    "Py_ENABLE_SHARED": 1,
    "prefix": "/root/.pyenv/versions/3.11.7",
}
DOCKER = {  # docker-library/python's configure line
    "CONFIG_ARGS": "'--build=x86_64-linux-gnu' '--enable-loadable-sqlite-extensions' "
    "'--enable-optimizations' '--enable-option-checking=fatal' '--enable-shared' "
    "'--with-lto' '--with-system-expat' '--without-ensurepip'",
    "Py_ENABLE_SHARED": 1,
    "prefix": "/usr/local",
}
DEBIAN = {
    "CONFIG_ARGS": "'--enable-shared' '--prefix=/usr' '--libdir=/usr/lib/x86_64-linux-gnu' "
    "'--with-computed-gotos'",
    "Py_ENABLE_SHARED": 1,
    "prefix": "/usr",
}


def test_a_pyenv_default_build_is_reported_unoptimized() -> None:
    build = interpreter.describe(PYENV)
    assert build.optimized is False
    assert build.label == "no PGO/LTO, shared libpython"


def test_the_docker_images_build_is_optimized_and_a_distributions_is_unknown() -> None:
    assert interpreter.describe(DOCKER).optimized is True
    assert interpreter.describe(DOCKER).label.startswith("PGO+LTO")
    # Debian leaves its PGO/LTO flags out of sysconfig: not called slow.
    assert interpreter.describe(DEBIAN).optimized is None


def test_the_hint_names_the_fix_and_appears_only_for_a_slow_build(monkeypatch) -> None:
    real = interpreter.describe
    monkeypatch.setattr(interpreter, "describe", lambda config=None: real(PYENV))
    hint = interpreter.warning()
    assert hint is not None and "--enable-optimizations" in hint and "PYTHON=" in hint
    monkeypatch.setattr(interpreter, "describe", lambda config=None: real(DOCKER))
    assert interpreter.warning() is None
    # A build already described is not described again.
    assert interpreter.warning(real(PYENV)) == interpreter.HINT
    assert interpreter.warning(real(DEBIAN)) is None


def test_this_process_is_described_with_its_version() -> None:
    import platform

    assert platform.python_version() in str(interpreter.describe())


def test_doctests() -> None:
    assert doctest.testmod(interpreter).failed == 0
