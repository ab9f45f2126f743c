"""The live sections of a system, typed: `plant:` (served signals, commands, faults)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cosim.errors import Location
from cosim.model.spec import VarRef

if TYPE_CHECKING:
    from cosim.opcua.config import SecuritySpec


@dataclass(frozen=True)
class ServedSignal:
    source: VarRef  # YAML key `from`
    node: str
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Command:
    node: str
    target: VarRef  # YAML key `to`
    start: float | None = None  # None: the variable's own start value
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: set a value, ramp it linearly, or freeze a served signal."""

    at: float
    action: str  # "set" | "ramp" | "freeze"
    target: VarRef
    value: float = math.nan  # set: the value; ramp: the end value
    over: float = 0.0  # ramp: duration, s
    loc: Location | None = field(default=None, compare=False)
    where: str = field(default="plant.faults", compare=False)  # e.g. plant.faults[0].set


@dataclass(frozen=True)
class PlantSpec:
    endpoint: str
    serve: tuple[ServedSignal, ...]
    commands: tuple[Command, ...] = ()
    noise_seed: int | None = None
    noise: tuple[tuple[VarRef, float], ...] = ()
    faults: tuple[Fault, ...] = ()
    security: SecuritySpec | None = None
    namespace: str = "urn:cosim:plant"
    # where `endpoint`, `commands` and `faults` are written, for errors while the plant runs
    locs: dict[str, Location] = field(default_factory=dict, compare=False)
