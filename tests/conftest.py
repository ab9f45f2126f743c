"""Shared pytest setup: build every bundled FMU once, and keep fmpy's FMI 2 log proxy safe."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
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


# --------------------------------------------------------------------------- a real Dask cluster
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("dask")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "distributed.cli.dask_spec"]
    return subprocess.Popen(
        [*command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


@pytest.fixture
def dask_cluster():
    """A `dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays
    dead) on 127.0.0.1; yields (address, [worker processes]); stops them all."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    workers = []
    try:
        for _ in range(2):
            workers.append(
                _dask("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                      "--host", "127.0.0.1")
            )  # fmt: skip
        procs += workers
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
