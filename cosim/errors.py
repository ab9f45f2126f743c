"""The one exception tree of cosim; every failure a user can see is one of these.

    CosimError
    ├── ConfigError        bad input: YAML, CLI values, FMU files (holds every Problem found)
    ├── FmuError           an FMI call returned error/discard/fatal (instance, function, time, log)
    ├── SimulationError    the run could not go on for a reason outside any one FMU
    └── BridgeError        OPC UA connection, security or node problems

The CLI maps ConfigError to exit code 2 and every other CosimError to exit code 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """A place in an input file; line and column are 1-based (0 = unknown)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what, and how to fix it."""

    loc: Location | None
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        text = f"{where}{self.severity}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class CosimError(Exception):
    """Base of every error cosim raises on purpose."""


class ConfigError(CosimError):
    """Bad input; holds every problem found, not only the first."""

    def __init__(self, problems: Iterable[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


@dataclass
class FmuError(CosimError):
    """An FMI function returned error, discard or fatal."""

    instance: str
    function: str
    status: str
    time: float | None = None
    log: Sequence[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        at = f" at t={self.time:.9g} s" if self.time is not None else ""
        text = f"{self.instance}: {self.function} returned {self.status}{at}"
        if self.log:
            text += "\n  FMU log:\n" + "\n".join(f"    {line}" for line in self.log)
        return text


class SimulationError(CosimError):
    """The run could not continue for a reason outside any single FMU."""


class BridgeError(CosimError):
    """An OPC UA connection, security or node problem."""


__all__ = [
    "BridgeError",
    "ConfigError",
    "CosimError",
    "FmuError",
    "Location",
    "Problem",
    "SimulationError",
]
