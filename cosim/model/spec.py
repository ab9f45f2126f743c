"""Data types of a system: as written in YAML (SystemSpec) and as resolved (ResolvedSystem).

Both are frozen and hold no open resources. cosim.io builds a SystemSpec without touching any
FMU; cosim.resolve turns it into a ResolvedSystem using the FMUs' model descriptions; the engine
only ever reads a ResolvedSystem. The live sections' types are in model/live.py.

Time is kept in integer ticks of 1 ns (TICKS_PER_SECOND) so multirate schedules never drift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cosim.errors import Location, Problem
from cosim.model.analytics import AnalyticsSpec
from cosim.model.inputs import InputTableSpec, ResolvedInputTable
from cosim.model.live import OpcuaSpec, PlantSpec
from cosim.model.refs import VarRef
from cosim.model.sweep import SweepSpec

TICKS_PER_SECOND = 1_000_000_000

Value = float | int | bool | str
Kind = Literal["real", "integer", "boolean", "string"]


def to_ticks(seconds: float) -> int:
    """Seconds to integer nanosecond ticks (rounded to the nearest tick)."""
    return round(seconds * TICKS_PER_SECOND)


def to_seconds(ticks: int) -> float:
    return ticks / TICKS_PER_SECOND


# Ticks are stored as signed 64-bit integers (the plan's arrays, a compiled kernel), so a time
# must satisfy |seconds * TICKS_PER_SECOND| < 2**63: about 9.22e9 s, or 292 years either side of 0.
MAX_TICKS = 2**63 - 1
MAX_SECONDS = 9223372036.854774  # the largest float whose tick count fits in an int64


def fits_in_ticks(seconds: float) -> bool:
    """True if `seconds` is finite and its tick count fits in a signed 64-bit integer."""
    return math.isfinite(seconds) and abs(seconds * TICKS_PER_SECOND) < 2.0**63


# --------------------------------------------------------------------------- as written
Algorithm = Literal["gauss-seidel", "jacobi", "iterative-gauss-seidel"]
Extrapolation = Literal["zoh", "linear", "quadratic"]
EXTRAPOLATION_ORDER = {"zoh": 0, "linear": 1, "quadratic": 2}


@dataclass(frozen=True)
class LoopSolverSpec:
    """`simulation.loop_solver`: how algebraic loops (and iterative Gauss-Seidel) iterate."""

    method: Literal["newton", "fixed-point"] = "newton"
    tolerance: float = 1e-10  # on the loop's coupling residual, relative + absolute
    max_iterations: int = 50
    relaxation: float | Literal["adaptive"] = "adaptive"  # fixed-point only


@dataclass(frozen=True)
class StepControlSpec:
    """`simulation.step_control`: a variable communication step with error control."""

    tolerance: float = 1e-6
    min: float | None = None  # seconds (default: step / 1000)
    max: float | None = None  # seconds (default: 100 * step)
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SimulationSpec:
    start: float = 0.0
    stop: float = 1.0
    step: float = 1e-3  # communication step, seconds (the first step under step_control)
    algorithm: Algorithm = "gauss-seidel"
    realtime: float | None = None  # factor to wall clock; None = as fast as possible
    loc: Location | None = field(default=None, compare=False)
    tolerance: float | None = None  # relative tolerance for every FMU (None: each default)
    extrapolation: Extrapolation = "zoh"  # how inputs are held over a communication step
    # None: solve where every member can roll back, else break the loop (with a warning)
    algebraic_loops: Literal["solve", "error", "break"] | None = None
    loop_solver: LoopSolverSpec = field(default_factory=LoopSolverSpec)
    step_control: StepControlSpec | None = None
    # the step loop: "native" (the compiled kernel where the plan allows) | "python";
    # None: native where available
    engine: Literal["native", "python"] | None = None
    timeout: float | None = None  # wall-time bound of each FMI call, s; None: unbounded
    isolation: Literal["none", "process"] = "none"  # process: each FMU in a worker process


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    fmu: str  # as written in YAML
    fmu_path: Path  # `fmu` as a path relative to base_dir (no lookup; see resolve.fmus)
    parameters: Mapping[str, Value] = field(default_factory=dict)
    parameter_locs: Mapping[str, Location] = field(default_factory=dict, compare=False)
    step: float | None = None  # own step in seconds; None = simulation.step
    loc: Location | None = field(default=None, compare=False)
    fmu_loc: Location | None = field(default=None, compare=False)  # of the `fmu:` value
    # the YAML file's folder: `fmu` may be a bundled name or path, looked up (and built) when
    # the system is resolved (cosim.resolve.fmus.find_fmu); None = use fmu_path as it is
    base_dir: Path | None = field(default=None, compare=False)
    interface: Literal["cs", "me"] | None = None  # None: Co-Simulation if the FMU has it
    solver: Literal["cvode", "euler", "rk4"] | None = None  # Model Exchange only (cvode)
    tolerance: float | None = None  # relative tolerance (default: simulation.tolerance)
    max_step: float | None = None  # largest solver step, seconds (Model Exchange)
    timeout: float | None = None  # wall-time bound of each FMI call, s (default: simulation's)
    isolation: Literal["none", "process"] | None = None  # None: simulation.isolation
    # where each of these keys is written (for messages)
    key_locs: Mapping[str, Location] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ConnectionSpec:
    source: VarRef  # YAML key `from`
    target: VarRef  # YAML key `to`
    gain: float = 1.0
    offset: float = 0.0
    loc: Location | None = field(default=None, compare=False)
    # Real -> Integer: "round" (half away from zero) | "floor" | "ceil" | "truncate"; else None
    convert: str | None = None
    extrapolation: Extrapolation | None = None  # None: simulation.extrapolation
    # value mapping (SSP Boolean/Integer/EnumerationMappingTransformation): source value ->
    # target value, applied instead of gain/offset; values not listed pass unchanged
    mapping: tuple[tuple[Value, Value], ...] = ()
    # False: gain/offset already hold any unit conversion (SSP suppressUnitConversion, or an
    # SSP chain whose conversions the reader composed): the resolver adds none of its own
    unit_conversion: bool = True


@dataclass(frozen=True)
class RecordSpec:
    variables: tuple[VarRef, ...] | None = None  # None = every output of every component
    interval: float | None = None  # None = every communication step
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EventSpec:
    at: float
    set: Mapping[VarRef, Value]
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SystemSpec:
    name: str
    path: Path  # the YAML file (absolute)
    text: str  # the YAML text as read
    sha256: str  # of text
    simulation: SimulationSpec
    components: Mapping[str, ComponentSpec]  # in YAML order
    connections: tuple[ConnectionSpec, ...] = ()
    record: RecordSpec = field(default_factory=RecordSpec)
    events: tuple[EventSpec, ...] = ()
    description: str = ""
    # the sections of the live wing and of `cosim test` (opcua, plant, regression) as plain data
    extra: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()
    # facts worth a line when the system is run or validated, e.g. where an SSP's step came from
    notes: tuple[str, ...] = field(default=(), compare=False)
    opcua: OpcuaSpec | None = None  # the `opcua:` section, typed (None: absent or broken)
    plant: PlantSpec | None = None  # the `plant:` section, typed (None: absent or broken)
    analytics: AnalyticsSpec | None = None  # monitors/estimate/forecast, typed (None: none)
    sweep: SweepSpec | None = None  # the `sweep:` section, typed (None: none)
    inputs: tuple[InputTableSpec, ...] = ()  # the `inputs:` section: tables driving inputs
    # the usable ends of connections dropped for a problem at their other end, as
    # (ref, "output" | "input"): resolving still checks them, and counts the inputs as driven
    orphans: tuple[tuple[VarRef, str], ...] = field(default=(), compare=False)


# --------------------------------------------------------------------------- as resolved
@dataclass(frozen=True)
class VariableInfo:
    """One FMU variable, version-neutral."""

    name: str
    value_reference: int
    kind: Kind  # what the engine moves: real | integer | boolean | string
    fmi_type: str  # as declared: Real, Integer, Boolean, String, Enumeration, Float64, Int32, ...
    causality: str  # parameter, calculatedParameter, input, output, local, independent, ...
    variability: str  # constant, fixed, tunable, discrete, continuous
    initial: str | None = None
    unit: str | None = None
    start: Value | None = None
    description: str = ""
    # FMI 3.0 arrays: each element is a variable `y[i]` / `A[i,j]` sharing the array's value
    # reference; the engine gets and sets all `size` values at once (cosim.resolve.arrays)
    array: str = ""  # the array's name ("" for a scalar variable)
    shape: tuple[int, ...] = ()  # the array's shape (() for a scalar)
    element: int = 0  # this element's row-major position in the array
    size: int = 1  # the number of values one get/set of the value reference moves


@dataclass(frozen=True)
class ResolvedComponent:
    index: int
    name: str
    spec: ComponentSpec
    fmu_path: Path
    fmi_version: Literal["2.0", "3.0"]
    guid: str  # FMI 2 guid / FMI 3 instantiationToken
    model_identifier: str  # of the Co-Simulation interface
    model_description: Any  # fmpy.model_description.ModelDescription
    variables: Mapping[str, VariableInfo]
    decimation: int  # own step = decimation * base step
    start_values: tuple[tuple[VariableInfo, Value], ...] = ()  # applied before initialization
    can_get_set_state: bool = False
    interface: Literal["cs", "me"] = "cs"  # the FMI interface this instance runs
    solver: str = ""  # Model Exchange: cvode | euler | rk4 ("" for Co-Simulation)
    tolerance: float | None = None  # passed to the FMU (setup experiment) and ME solvers
    max_step: float | None = None  # Model Exchange solver's largest step, seconds
    stop_time: float | None = None  # passed to the FMU as the stop time
    # FMI 2.0 canInterpolateInputs / FMI 3.0 providesIntermediateUpdate (input derivatives)
    can_interpolate_inputs: bool = False
    provides_directional_derivatives: bool = False
    # FMI 3.0 Co-Simulation in Event Mode: (value reference, interval s, shift s) of each
    # periodic input clock, activated at its ticks (cosim.fmu.fmi3); () without clocks
    input_clocks: tuple[tuple[int, float, float], ...] = ()


@dataclass(frozen=True)
class ResolvedConnection:
    """target := gain * source + offset (unit conversion already folded into gain/offset)."""

    source_component: int
    source: VariableInfo
    target_component: int
    target: VariableInfo
    gain: float = 1.0
    offset: float = 0.0
    feedthrough: bool = False  # target's component has an output depending directly on target
    spec: ConnectionSpec | None = None
    extrapolation: int = 0  # order of the polynomial the input follows: 0 hold, 1, 2


@dataclass(frozen=True)
class ResolvedRecord:
    component: int
    variable: VariableInfo
    label: str  # "<component>.<variable>"


@dataclass(frozen=True)
class ResolvedEvent:
    tick: int  # absolute time in ticks, on the communication grid
    component: int
    variable: VariableInfo
    value: Value
    spec: EventSpec | None = None


@dataclass(frozen=True)
class ResolvedSystem:
    spec: SystemSpec
    components: tuple[ResolvedComponent, ...]
    connections: tuple[ResolvedConnection, ...]
    order: tuple[int, ...]  # Gauss-Seidel order of component indices (topological)
    records: tuple[ResolvedRecord, ...]
    events: tuple[ResolvedEvent, ...]  # sorted by tick
    start_tick: int
    stop_tick: int
    step_ticks: int  # communication step
    record_decimation: int  # record every n-th communication step
    algebraic_loops: tuple[tuple[str, ...], ...] = ()  # each a path "comp.var -> ..."
    warnings: tuple[Problem, ...] = ()
    # direct-feedthrough cycles solved by iteration at each communication step
    loops: tuple[LoopInfo, ...] = ()
    # connections (indices) whose target uses the source's previous-step value inside a cycle
    lagging: tuple[int, ...] = ()
    inputs: tuple[ResolvedInputTable, ...] = ()  # tables driving inputs (see model.inputs)


@dataclass(frozen=True)
class LoopInfo:
    """One algebraic loop (a strongly connected group of direct-feedthrough connections)."""

    components: tuple[int, ...]  # member component indices, in stepping order
    connections: tuple[int, ...]  # indices (into ResolvedSystem.connections) inside the loop
    path: tuple[str, ...]  # one cycle, "comp.var -> ...", for messages
    algebraic: bool = True  # a direct-feedthrough cycle (else iterated for accuracy only)


__all__ = [
    "MAX_SECONDS",
    "MAX_TICKS",
    "TICKS_PER_SECOND",
    "EXTRAPOLATION_ORDER",
    "Algorithm",
    "ComponentSpec",
    "ConnectionSpec",
    "Extrapolation",
    "LoopInfo",
    "LoopSolverSpec",
    "StepControlSpec",
    "EventSpec",
    "Kind",
    "RecordSpec",
    "ResolvedComponent",
    "ResolvedConnection",
    "ResolvedEvent",
    "ResolvedRecord",
    "ResolvedSystem",
    "SimulationSpec",
    "SystemSpec",
    "Value",
    "VarRef",
    "VariableInfo",
    "fits_in_ticks",
    "to_seconds",
    "to_ticks",
]
