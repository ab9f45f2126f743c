"""Shared pytest setup: build every bundled FMU once, before any test runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosim import library


@pytest.fixture(scope="session", autouse=True)
def bundled_fmus() -> list[Path]:
    """Every bundled FMU, built up front (the builder's file lock makes parallel workers wait)."""
    return library.build_all()
