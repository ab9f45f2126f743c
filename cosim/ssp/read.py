"""Read an SSP package (.ssp archive or bare .ssd) into a SystemSpec, with file:line problems."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cosim.errors import Location, Problem
from cosim.model.spec import SystemSpec

SSP_SUFFIXES = (".ssp", ".ssd")


def is_ssp(path: str | Path) -> bool:
    """Whether `path` names an SSP package (.ssp) or a bare system structure description (.ssd)."""
    return Path(path).suffix.lower() in SSP_SUFFIXES


def read_ssp(
    path: str | Path, overrides: Sequence[str] = (), *, step: float | None = None
) -> tuple[SystemSpec | None, list[Problem]]:
    """Best-effort SystemSpec and every problem found in the SSP (as io.yaml.read_system)."""
    return None, [Problem(Location(str(path)), "reading SSP packages is not implemented yet")]


__all__ = ["SSP_SUFFIXES", "is_ssp", "read_ssp"]
