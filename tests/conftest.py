"""Shared pytest setup: build every bundled FMU once, and keep fmpy's FMI 2 log proxy safe."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from fmpy.fmi2 import fmi2CallbackFunctions, fmi2CallbackLoggerTYPE, printLogMessage
from fmpy.logging import addLoggerProxy

from cosim.library import build as library

# fmpy's native proxy that formats FMI 2 log messages forwards to ONE process-global Python
# logger: the last one registered. `simulate_fmu(logger=<lambda>)` registers a temporary one
# that dies with the call, so a later log line from any FMU would jump to freed memory.
_PRINT_LOGGER = fmi2CallbackLoggerTYPE(printLogMessage)  # lives as long as the test session


@pytest.fixture(scope="session", autouse=True)
def bundled_fmus() -> list[Path]:
    """Every bundled FMU, built up front (the builder's file lock makes parallel workers wait)."""
    return library.build_all()


@pytest.fixture(autouse=True)
def _rearm_fmi2_log_proxy():
    """After each test, point fmpy's global log proxy back at a logger that stays alive."""
    yield
    callbacks = fmi2CallbackFunctions()
    callbacks.logger = _PRINT_LOGGER
    addLoggerProxy(ctypes.byref(callbacks))
