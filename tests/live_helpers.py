"""Helpers shared by the tests that start real OPC UA servers: free ports and polling."""

from __future__ import annotations

import time
from collections.abc import Callable

from cosim.cli.demo import free_port

__all__ = ["free_port", "wait_for"]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `predicate` every 2 ms; return the seconds it took; fail after `timeout`."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.002)
    return time.monotonic() - t0
