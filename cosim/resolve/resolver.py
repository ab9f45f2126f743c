"""Resolve a SystemSpec against its FMUs' model descriptions into a ResolvedSystem."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cosim.errors import ConfigError, Location, Problem
from cosim.fmu.archive import (
    MAX_VARIABLES,
    check_archive,
    clock_attributes,
    interface_attributes,
    read_model_description,
    verify_zip,
)
from cosim.io.locate import Problems
from cosim.io.locate import listing as _listing
from cosim.io.yaml import (
    check_stop_override,
    describe,
    did_you_mean,
    read_system,
    sort_problems,
    stopped_or_raise,
    time_problems,
    with_stop,
)
from cosim.model.spec import (
    EXTRAPOLATION_ORDER,
    ComponentSpec,
    LoopInfo,
    ResolvedComponent,
    ResolvedConnection,
    ResolvedEvent,
    ResolvedRecord,
    ResolvedSystem,
    SystemSpec,
    Value,
    VariableInfo,
    VarRef,
    to_seconds,
    to_ticks,
)
from cosim.resolve import arrays as arrays_mod
from cosim.resolve.fmus import locate_fmu
from cosim.resolve.graph import algebraic_loops, cyclic_groups, direct_feedthrough, step_order
from cosim.resolve.inputs import resolve_inputs
from cosim.resolve.live import check_plant_links, resolve_links
from cosim.resolve.units import Unit, conversion, find_unit, unit_definitions
from cosim.ssp.read import is_ssp, read_ssp

_INTEGERS = ("Integer", "Enumeration", *(f"{u}Int{n}" for u in ("", "U") for n in (8, 16, 32, 64)))
_KINDS = {
    **dict.fromkeys(("Real", "Float64", "Float32"), "real"),
    **dict.fromkeys(_INTEGERS, "integer"),
    "Boolean": "boolean",
    "String": "string",
}
_CAUSALITY = {
    "parameter": "a parameter",
    "calculatedParameter": "a calculated parameter",
    "structuralParameter": "a structural parameter",
    "input": "an input",
    "output": "an output",
    "local": "a local variable",
    "independent": "the independent variable (time)",
}
_EXPECTED = {
    "real": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "text",
}


@dataclass(frozen=True)
class FmuInfo:
    """What resolution needs from one FMU file (cached: N instances of one FMU read it once)."""

    path: Path
    model_description: Any
    model_name: str
    fmi_version: str
    guid: str
    model_identifier: str | None  # of the Co-Simulation interface; None if there is none
    has_model_exchange: bool
    can_get_set_state: bool
    variables: Mapping[str, VariableInfo]  # scalar variables of supported types, in XML order
    unsupported: Mapping[str, str]  # name -> why cosim cannot use it
    feedthrough: Mapping[str, tuple[str, ...]]  # output -> inputs it depends on directly
    units: Mapping[str, Unit]
    binary: str | None = None  # archive path of the Co-Simulation binary for this platform
    has_binary: bool = False  # whether the archive holds `binary`
    platforms: tuple[str, ...] = ()  # the binaries/<platform> folders the FMU ships
    has_sources: bool = False  # whether the FMU ships C sources (sources/)
    once_per_process: bool = False  # canBeInstantiatedOnlyOncePerProcess (Co-Simulation)
    needs_execution_tool: bool = False  # needsExecutionTool (Co-Simulation)
    me_identifier: str | None = None  # of the Model Exchange interface; None if there is none
    me_can_get_set_state: bool = False
    scheduled_execution: bool = False  # the FMU has a Scheduled Execution interface (FMI 3.0)
    default_tolerance: float | None = None  # DefaultExperiment tolerance
    can_interpolate_inputs: bool = False  # CS: canInterpolateInputs / providesIntermediateUpdate
    directional: tuple[bool, bool] = (False, False)  # (CS, ME) provide directional derivatives
    clocks: tuple[str, ...] = ()  # Clock variables (FMI 3.0)
    structural: tuple[str, ...] = ()  # structural parameters (FMI 3.0)
    arrays: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # name -> shape
    dimension_parameters: Mapping[str, int] = field(default_factory=dict)  # name -> value ref


_CACHE: dict[tuple[str, int, int], FmuInfo] = {}
_MEMBERS: dict[tuple[str, int, int], list[str]] = {}  # checked archive member names


_VR_MAX = 2**32 - 1  # value references are fmi2ValueReference / fmi3ValueReference: uint32


def _int_range(fmi_type: str, major: str) -> tuple[int, int]:
    """The values an integer type holds: Integer and FMI 2.0's Enumeration are 32-bit, FMI 3.0's
    Enumeration is Int64, IntN / UIntN as named."""
    if fmi_type == "Integer" or (fmi_type == "Enumeration" and major == "2"):
        return -(2**31), 2**31 - 1
    if fmi_type == "Enumeration":
        return -(2**63), 2**63 - 1
    bits = int(fmi_type.rsplit("Int", 1)[1])
    return (
        (0, 2**bits - 1) if fmi_type.startswith("U") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )


def _invalid(v: Any, kind: str, major: str) -> str | None:
    """Why variable `v` of the model description breaks the standard (None if it does not):
    a value reference outside uint32, a start value outside its type."""
    vr = v.valueReference
    if not isinstance(vr, int) or not 0 <= vr <= _VR_MAX:
        return f"valueReference {vr} is out of range (0 to {_VR_MAX}, an unsigned 32-bit integer)"
    text = v.start if isinstance(v.start, str) else None
    if text is None or v.dimensions:
        return None
    if kind == "real":
        try:
            value = float(text)
        except ValueError:
            return f"start={text!r} is not a number"
        if not math.isfinite(value) and text.strip().lower() not in ("inf", "-inf", "+inf", "nan"):
            return f"start={text!r} is out of range of a 64-bit float"
    elif kind == "integer":
        value = _start(text, kind)
        low, high = _int_range(v.type, major)
        if not isinstance(value, int) or not low <= value <= high:
            return f"start={text!r} is not an integer in the range of {v.type} ({low} to {high})"
    return None


def _start(text: str | None, kind: str) -> Value | None:
    if text is None:
        return None
    try:
        if kind == "real":
            return float(text)
        if kind == "integer":
            return int(float(text)) if "." in text or "e" in text.lower() else int(text)
        if kind == "boolean":
            return text.strip() in ("true", "1")
        return text
    except (ValueError, OverflowError):  # OverflowError: an Integer start of 1.5e400
        return None


def _version(path: Path) -> tuple[str, int, int]:
    """(resolved path, mtime, size): a key that changes when the file does."""
    stat = path.stat() if path.exists() else None
    return (str(path.resolve()), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


def archive_members(path: str | Path) -> list[str]:
    """The checked member names of the FMU at `path` (check_archive, once per file version):
    every member is decompressed once, so a corrupt one is bad input here, before any run."""
    key = _version(Path(path))
    members = _MEMBERS.get(key)
    if members is None:
        members = [name.replace("\\", "/") for name in check_archive(path)]
        if not Path(path).is_dir():
            verify_zip(path)
        _MEMBERS[key] = members
    return members


def fmu_info(path: str | Path) -> FmuInfo:
    """Read (once per file version) the model description of the FMU at `path`."""
    path = Path(path)
    key = _version(path)
    if key in _CACHE:
        return _CACHE[key]
    md = read_model_description(path)  # ConfigError for a missing or broken FMU
    members = archive_members(path)
    major = str(md.fmiVersion or "").split(".")[0]
    _check_variables(path, md, major)
    variables, unsupported, arrays = _variables(md, arrays_mod.default_sizes(md))
    cs, me = md.coSimulation, md.modelExchange
    experiment = md.defaultExperiment
    binary = _binary_path(major, cs.modelIdentifier) if cs is not None else None
    info = FmuInfo(
        path=path,
        model_description=md,
        model_name=md.modelName or path.stem,
        fmi_version={"2": "2.0", "3": "3.0"}.get(major, str(md.fmiVersion)),
        guid=md.guid or "",
        model_identifier=cs.modelIdentifier if cs is not None else None,
        has_model_exchange=md.modelExchange is not None,
        can_get_set_state=bool(cs.canGetAndSetFMUstate) if cs is not None else False,
        variables=variables,
        unsupported=unsupported,
        feedthrough=_feedthrough(md, variables, arrays),
        units=unit_definitions(md),
        binary=binary,
        has_binary=binary in members,
        platforms=_platforms(members),
        has_sources=any(m.startswith("sources/") and m[8:] for m in members),
        once_per_process=bool(cs.canBeInstantiatedOnlyOncePerProcess) if cs is not None else False,
        needs_execution_tool=bool(cs.needsExecutionTool) if cs is not None else False,
        me_identifier=me.modelIdentifier if me is not None else None,
        me_can_get_set_state=bool(me.canGetAndSetFMUstate) if me is not None else False,
        scheduled_execution=getattr(md, "scheduledExecution", None) is not None,
        default_tolerance=_positive(getattr(experiment, "tolerance", None)),
        can_interpolate_inputs=cs is not None
        and bool(cs.canInterpolateInputs if major == "2" else cs.providesIntermediateUpdate),
        directional=_directional(path, cs, me, major),
        clocks=tuple(v.name for v in md.modelVariables if v.type == "Clock"),
        structural=tuple(v.name for v in md.modelVariables if v.causality == "structuralParameter"),
        arrays=arrays,
        dimension_parameters={n: vr for vr, n in arrays_mod.dimension_parameters(md).items()},
    )
    _CACHE[key] = info
    return info


def _check_variables(path: Path, md: Any, major: str) -> None:
    """ConfigError listing (the first 10) variables that break the standard: a name used
    twice, a value reference or start value out of range (_invalid)."""
    bad = []
    names: set[str] = set()
    for v in md.modelVariables:
        if v.name in names:  # FMI: names are unique (ModelStructure indices would be ambiguous)
            bad.append(f"variable {v.name!r}: the name is used twice")
        names.add(v.name)
        kind = _KINDS.get(v.type)
        why = _invalid(v, kind, major) if kind is not None else None
        if why is not None:
            bad.append(f"variable {v.name!r}: {why}")
    if bad:
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        raise ConfigError(
            Problem(
                Location(str(path)),
                "invalid modelDescription.xml: " + "; ".join(bad[:10]) + more,
                "the FMU breaks the FMI standard; ask its exporter for a fixed one",
            )
        )


def _variables(
    md: Any, sizes: Mapping[int, int]
) -> tuple[dict[str, VariableInfo], dict[str, str], dict[str, tuple[int, ...]]]:
    """Usable variables (array elements included), unusable ones with the reason, and the
    arrays' shapes, for dimension sizes `sizes` (value reference of a structural parameter ->
    its value)."""
    variables: dict[str, VariableInfo] = {}
    unsupported: dict[str, str] = {}
    arrays: dict[str, tuple[int, ...]] = {}
    for v in md.modelVariables:
        kind = _KINDS.get(v.type)
        if kind is None:
            unsupported[v.name] = f"it is a {v.type} variable, which cosim does not support yet"
            continue
        declared = v.declaredType
        common = dict(
            value_reference=int(v.valueReference),
            kind=kind,
            fmi_type=v.type,
            causality=v.causality,
            variability=v.variability,
            initial=v.initial,
            unit=v.unit or (declared.unit if declared is not None else None),
            description=v.description or "",
        )
        if not v.dimensions:
            variables[v.name] = VariableInfo(name=v.name, start=_start(v.start, kind), **common)
            continue
        shape = arrays_mod.shape_of(v, sizes)
        if kind == "string" or shape is None:
            why = "a String array" if kind == "string" else "an array of unknown size"
            unsupported[v.name] = f"it is {why}, which cosim does not support yet"
            continue
        size = math.prod(shape)
        if len(variables) + size > MAX_VARIABLES:  # a Dimension start of 1e9: never expanded
            unsupported[v.name] = (
                f"it is an array of {size:,} elements, beyond cosim's limit of {MAX_VARIABLES:,} "
                "variables per FMU (docs/limits.md)"
            )
            continue
        arrays[v.name] = shape
        starts = arrays_mod.flat_starts(v.start, size, lambda t, k=kind: _start(t, k))
        for element, name in enumerate(arrays_mod.element_names(v.name, shape)):
            variables[name] = VariableInfo(
                name=name,
                start=starts[element],
                array=v.name,
                shape=shape,
                element=element,
                size=size,
                **common,
            )
    return variables, unsupported, arrays


def _feedthrough(
    md: Any, variables: Mapping[str, VariableInfo], arrays: Mapping[str, tuple[int, ...]]
) -> dict[str, tuple[str, ...]]:
    """Output -> the inputs it depends on directly, element by element for arrays."""
    elements: dict[str, list[str]] = {name: [] for name in arrays}
    for var in variables.values():
        if var.array:
            elements[var.array].append(var.name)
    return arrays_mod.expand_feedthrough(direct_feedthrough(md), elements)


def with_sizes(info: FmuInfo, sizes: Mapping[int, int]) -> FmuInfo:
    """`info` with its arrays re-shaped for other structural-parameter values."""
    md = info.model_description
    variables, unsupported, arrays = _variables(md, {**arrays_mod.default_sizes(md), **sizes})
    return replace(
        info,
        variables=variables,
        unsupported=unsupported,
        arrays=arrays,
        feedthrough=_feedthrough(md, variables, arrays),
    )


def _seconds(attrs: Mapping[str, str], what: str) -> float | None:
    """A clock's interval or shift in seconds: <what>Decimal, else <what>Counter * resolution."""
    try:
        if f"{what}Decimal" in attrs:
            return float(attrs[f"{what}Decimal"])
        if f"{what}Counter" in attrs:
            return int(attrs[f"{what}Counter"]) * float(attrs.get("resolution", "1"))
    except ValueError:
        return None
    return None


def _on_grid(value: float, step: float, zero: bool = False) -> bool:
    """Whether `value` is a positive (or, with `zero`, a non-negative) multiple of `step`,
    to the tick."""
    ticks, step_ticks = to_ticks(value), max(1, to_ticks(step))
    return (ticks > 0 or (zero and ticks == 0)) and ticks % step_ticks == 0


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _directional(path: Path, cs: Any, me: Any, major: str) -> tuple[bool, bool]:
    """Whether the (CS, ME) interfaces provide directional derivatives (FMI 2.0
    providesDirectionalDerivative, read by fmpy; FMI 3.0 providesDirectionalDerivatives)."""
    if major == "3":
        written = interface_attributes(path)
        return tuple(  # type: ignore[return-value]
            written.get(tag, {}).get("providesDirectionalDerivatives") in ("true", "1")
            for tag in ("CoSimulation", "ModelExchange")
        )
    return tuple(  # type: ignore[return-value]
        i is not None and bool(getattr(i, "providesDirectionalDerivative", False)) for i in (cs, me)
    )


def _platforms(members: Sequence[str]) -> tuple[str, ...]:
    """The binaries/<platform> folders of an FMU that hold at least one file."""
    parts = [m.split("/") for m in members]
    return tuple(sorted({p[1] for p in parts if len(p) >= 3 and p[0] == "binaries" and p[2]}))


def _binary_path(major: str, model_identifier: str) -> str:
    """Where an FMU keeps its shared library for this platform (FMI 2 and FMI 3 names)."""
    import fmpy

    folder = fmpy.platform_tuple if major == "3" else fmpy.platform
    return f"binaries/{folder}/{model_identifier}{fmpy.sharedLibraryExtension}"


def not_settable(var: VariableInfo) -> str | None:
    """Why `var` cannot be given a start value (None if it can)."""
    if var.variability == "constant":
        return "it is a constant"
    if var.causality in ("calculatedParameter", "independent"):
        return f"it is {_CAUSALITY[var.causality]}"
    if var.causality in ("output", "local") and var.initial not in ("exact", "approx"):
        return f"it is {_CAUSALITY[var.causality]} calculated by the FMU (initial={var.initial})"
    return None


def _element_hint(array: VarRef, shape: tuple[int, ...]) -> str:
    names = arrays_mod.element_names(array.variable, shape)
    hint = "connect arrays of the same shape"
    return f"{hint}, or elements one by one, e.g. {array.component}.{names[0]}" if names else hint


def _fallback(var: VariableInfo) -> Value:
    """An array element's value where `parameters:` sets none: its start, else zero."""
    if var.start is not None:
        return var.start
    return {"real": 0.0, "integer": 0, "boolean": False}.get(var.kind, "")


def _coerce(value: Value, var: VariableInfo) -> Value | None:
    """`value` as the engine passes it to `var`, or None when the type does not fit."""
    if isinstance(value, bool):
        return value if var.kind == "boolean" else None
    if var.kind == "real" and isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float (10**400)
            return None
    if var.kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if var.kind == "integer" and isinstance(value, int):
        low, high = _int_range(var.fmi_type, "3" if var.fmi_type != "Integer" else "2")
        return value if low <= value <= high else None
    if var.kind == "string" and isinstance(value, str):
        return value
    return None


class _Resolver:
    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec
        self.report = Problems()  # io.locate's collector, with Locations
        self.problems: list[Problem] = self.report.items
        self.infos: dict[str, FmuInfo] = {}
        self.located: dict[tuple, tuple[Path | None, list[Problem]]] = {}  # see load()
        self.file_infos: dict[Path, FmuInfo] = {}  # each FMU file read once per resolution
        self.once_per_process: dict[str, list[ComponentSpec]] = {}  # by FMU guid: its users
        self.tool_warned: set[str] = set()  # FMUs already warned about needsExecutionTool
        self.interfaces: dict[str, str] = {}  # component -> "cs" | "me"

    def error(self, loc: Location | None, message: str, hint: str = "") -> None:
        self.report.error(loc, message, hint)

    def warn(self, loc: Location | None, message: str, hint: str = "") -> None:
        self.report.warn(loc, message, hint)

    # -- components
    def load(self, comp: ComponentSpec) -> None:
        loc = comp.fmu_loc or comp.loc
        where = (comp.fmu, comp.base_dir, comp.fmu_path if comp.base_dir is None else None)
        if where not in self.located:  # N components of one FMU look it up (and build it) once
            self.located[where] = locate_fmu(comp)
        path, found = self.located[where]
        if path is None:
            self.problems += found
            return
        try:
            info = self.file_infos.get(path) or self.file_infos.setdefault(path, fmu_info(path))
        except ConfigError as exc:
            for p in exc.problems:
                self.error(loc, f"{comp.fmu}: {p.message}", p.hint)
            return
        if info.fmi_version not in ("2.0", "3.0"):
            self.error(
                loc,
                f"{comp.fmu}: FMI {info.fmi_version} is not supported",
                "cosim runs FMI 2.0 and FMI 3.0 Co-Simulation and Model Exchange FMUs",
            )
            return
        interface = self.interface(comp, info)
        if interface is None:
            return
        info = self.sized(comp, info)
        self.infos[comp.name] = info  # kept even without a binary, to check its variables
        self.interfaces[comp.name] = interface
        self.capabilities(comp, info, loc, interface)

    def sized(self, comp: ComponentSpec, info: FmuInfo) -> FmuInfo:
        """`info` with its arrays shaped by the structural parameters `comp` sets."""
        sizes = {}
        for name, vr in info.dimension_parameters.items():
            if name in comp.parameters:
                value = comp.parameters[name]
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    sizes[vr] = value
        return with_sizes(info, sizes) if sizes else info

    def interface(self, comp: ComponentSpec, info: FmuInfo) -> str | None:
        """The interface `comp` runs ("cs" | "me"), or None (reported)."""
        loc = comp.fmu_loc or comp.loc
        has = {"cs": info.model_identifier is not None, "me": info.me_identifier is not None}
        offered = [k for k in ("cs", "me") if has[k]]
        names = {"cs": "Co-Simulation", "me": "Model Exchange"}
        if not offered:
            if info.scheduled_execution:
                self.error(
                    loc,
                    f"{comp.fmu}: the FMU has only a Scheduled Execution interface (FMI 3.0): "
                    "its model partitions run when the importer activates their clocks, under "
                    "a real-time scheduler; cosim does not run Scheduled Execution FMUs",
                    "cosim runs Co-Simulation and Model Exchange FMUs; export the model with "
                    "one of those interfaces",
                )
            else:
                self.error(
                    loc,
                    f"{comp.fmu}: the FMU declares no Co-Simulation or Model Exchange interface",
                    "check its modelDescription.xml; cosim runs Co-Simulation and Model "
                    "Exchange FMUs",
                )
            return None
        wanted = comp.interface
        if wanted is None:
            wanted = offered[0]
        elif not has[wanted]:
            where = comp.key_locs.get("interface", loc)
            self.error(
                where,
                f"component {comp.name!r}: interface: {wanted} but {comp.fmu} has no "
                f"{names[wanted]} interface",
                f"it offers: {', '.join(f'{k} ({names[k]})' for k in offered)}",
            )
            return None
        if wanted == "cs":
            for key in ("solver", "max_step"):
                if getattr(comp, key) is not None:
                    self.warn(
                        comp.key_locs.get(key, comp.loc),
                        f"component {comp.name!r}: {key} applies to Model Exchange components; "
                        "this one runs as Co-Simulation, so it is ignored",
                        "add interface: me to integrate the FMU's Model Exchange interface"
                        if has["me"]
                        else f"remove {key}",
                    )
        if info.clocks and self.input_clocks(comp, info, wanted) is None:
            return None
        return wanted

    def input_clocks(
        self, comp: ComponentSpec, info: FmuInfo, interface: str
    ) -> tuple[tuple[int, float, float], ...] | None:
        """(value reference, interval, shift) of each clock of a Co-Simulation FMU run in
        Event Mode; None (reported) for clocks cosim does not schedule.

        cosim schedules time-based periodic input clocks (intervalVariability constant, a
        fixed interval and shift): it activates them with fmi3SetClock in Event Mode at their
        ticks, which must lie on the component's communication grid."""
        loc = comp.fmu_loc or comp.loc
        sim = self.spec.simulation
        step = comp.step or sim.step
        table = []
        written = clock_attributes(info.path)
        cs_attrs = interface_attributes(info.path).get("CoSimulation", {})
        event_mode = cs_attrs.get("hasEventMode") in ("true", "1")
        for name in info.clocks:
            attrs = written.get(name, {})
            why = ""
            interval = _seconds(attrs, "interval")
            shift = _seconds(attrs, "shift") or 0.0
            if interface != "cs":
                why = "cosim schedules clocks of Co-Simulation FMUs only"
            elif not event_mode:
                why = (
                    "clocks need Event Mode, and the FMU does not declare hasEventMode (it "
                    "cannot be instantiated with eventModeUsed)"
                )
            elif attrs.get("causality") != "input":
                role = attrs.get("causality", "output")
                why = f"it is an {role} clock; cosim activates input clocks only"
            elif attrs.get("intervalVariability") != "constant" or interval is None:
                why = (
                    f"its interval is {attrs.get('intervalVariability', 'not given')}; cosim "
                    "schedules periodic clocks (intervalVariability constant with a fixed "
                    "interval)"
                )
            elif not _on_grid(interval, step) or not _on_grid(shift, step, zero=True):
                why = (
                    f"it ticks every {interval:g} s (shift {shift:g} s), off the component's "
                    f"communication grid of {step:g} s"
                )
            if why:
                self.error(
                    loc,
                    f"{comp.fmu}: clock {name!r} cannot be scheduled: {why}",
                    "use a communication step that divides the clock's interval and shift"
                    if "grid" in why
                    else "export the model without clocks, or with a periodic input clock",
                )
                return None
            table.append((int(attrs.get("valueReference", -1)), interval, shift))
        return tuple(table)

    def capabilities(
        self, comp: ComponentSpec, info: FmuInfo, loc: Location | None, interface: str
    ) -> None:
        """The FMU can run here: a binary for this platform; capability flags cosim cares about."""
        major = info.fmi_version.split(".")[0]
        identifier = info.model_identifier if interface == "cs" else info.me_identifier
        binary = _binary_path(major, identifier or "")
        members = archive_members(info.path)
        if binary not in members:
            folder = binary.rsplit("/", 1)[0]
            platform = folder.split("/")[1]
            what = "Co-Simulation" if interface == "cs" else "Model Exchange"
            there = sorted(m.rsplit("/", 1)[1] for m in members if m.startswith(folder + "/"))
            there = [m for m in there if m]
            if there:
                self.error(
                    loc,
                    f"{comp.fmu}: {binary} is missing: the {what} modelIdentifier is "
                    f"{identifier!r}, but {folder}/ holds {_listing(there)}",
                    "the shared library must be named after the modelIdentifier in "
                    "modelDescription.xml; re-export the FMU (or fix one of the two names)",
                )
            else:
                self.error(
                    loc,
                    f"{comp.fmu}: the FMU has no {what} binary for this platform ({platform})",
                    f"looked for {binary} in {info.path}; the FMU has binaries for: "
                    + _listing(info.platforms)
                    + (
                        f"; it ships C sources, so `fmpy compile {info.path}` can add the binary"
                        if info.has_sources
                        else "; export the FMU for this platform"
                    ),
                )
        if info.once_per_process:
            self.once_per_process.setdefault(info.guid or str(info.path), []).append(comp)
        if info.needs_execution_tool and str(info.path) not in self.tool_warned:
            self.tool_warned.add(str(info.path))
            self.warn(
                loc,
                f"{comp.fmu}: the FMU needs an external tool to run (needsExecutionTool)",
                "it runs only where its simulation tool is installed (and licensed); if the "
                "run fails to instantiate it, install the tool or export a standalone FMU",
            )

    def single_instances(self) -> None:
        """An FMU that can be instantiated only once per process is used by one component."""
        for users in self.once_per_process.values():
            if len(users) < 2:
                continue
            names = ", ".join(c.name for c in users[:-1]) + f" and {users[-1].name}"
            model = self.infos[users[0].name].model_name
            self.error(
                users[1].fmu_loc or users[1].loc,
                f"components {names} {'both' if len(users) == 2 else 'all'} use {model}, which "
                "can be instantiated only once per process (canBeInstantiatedOnlyOncePerProcess)",
                "its binary keeps global state, so one process runs one instance of it; use "
                "this FMU in one component only",
            )

    def lookup(self, ref: VarRef, role: str | None = None) -> VariableInfo | None:
        """The variable `ref` names, or None (reported) if it does not exist."""
        info = self.infos.get(ref.component)
        if info is None:  # the component itself is broken and already reported
            return None
        var = info.variables.get(ref.variable)
        if var is not None:
            return var
        if role == "settable":
            same_role = [n for n, v in info.variables.items() if not not_settable(v)]
            listed = "settable variables"
        else:
            same_role = [n for n, v in info.variables.items() if role in (None, v.causality)]
            listed = f"{role}s" if role else "variables"
        if ref.variable in info.arrays:
            shape = info.arrays[ref.variable]
            names = arrays_mod.element_names(ref.variable, shape)
            self.error(
                ref.loc,
                f"{ref} is an array ({arrays_mod.shape_text(shape)}): name one element here",
                f"its elements: {_listing(names)}" if names else "it has no elements",
            )
            return None
        if ref.variable in info.unsupported:
            self.error(
                ref.loc,
                f"cannot use {ref}: {info.unsupported[ref.variable]}",
                "cosim exchanges Real, Integer, Enumeration, Boolean and String variables "
                "(FMI 3: Float32/64, Int8-64, UInt8-64, and arrays of numbers); usable "
                f"{listed} of {ref.component}: {_listing(same_role)}",
            )
            return None
        close = did_you_mean(ref.variable, same_role) or did_you_mean(ref.variable, info.variables)
        self.error(
            ref.loc,
            f"unknown variable '{ref.variable}' in component '{ref.component}' "
            f"(model {info.model_name})",
            (f"did you mean '{ref.component}.{close}'? " if close else "")
            + f"{listed} of {ref.component}: {_listing(same_role)}",
        )
        return None

    # -- arrays (FMI 3.0): whole-array references become element references
    def elements(self, ref: VarRef) -> list[VarRef] | None:
        """The element references of `ref` when it names a whole array, else None."""
        info = self.infos.get(ref.component)
        if info is None or ref.variable not in info.arrays:
            return None
        names = arrays_mod.element_names(ref.variable, info.arrays[ref.variable])
        return [VarRef(ref.component, name, ref.loc) for name in names]

    def expand_arrays(self, spec: SystemSpec) -> SystemSpec:
        """`spec` with connections and records of whole arrays written element by element
        (shapes checked: a mismatch is reported and the connection left out)."""
        connections = []
        for conn in spec.connections:
            src, dst = self.elements(conn.source), self.elements(conn.target)
            if src is None and dst is None:
                connections.append(conn)
                continue
            shapes = [
                self.infos[r.component].arrays[r.variable] if e is not None else ()
                for r, e in ((conn.source, src), (conn.target, dst))
            ]
            if src is None or dst is None or shapes[0] != shapes[1]:
                array = conn.source if src is not None else conn.target
                self.error(
                    conn.loc,
                    f"connection {conn.source} -> {conn.target}: shapes differ: "
                    f"{conn.source} is {arrays_mod.shape_text(shapes[0])}, {conn.target} is "
                    f"{arrays_mod.shape_text(shapes[1])}",
                    _element_hint(array, shapes[0] or shapes[1]),
                )
                continue
            pairs = [replace(conn, source=a, target=b) for a, b in zip(src, dst, strict=True)]
            roles = (
                self.infos[src[0].component].variables[src[0].variable].causality,
                self.infos[dst[0].component].variables[dst[0].variable].causality,
            )
            # a wrong causality is the array's: report it once, on its first element
            connections += pairs if roles == ("output", "input") else pairs[:1]
        record = spec.record
        if record.variables is not None:
            refs: list[VarRef] = []
            for ref in record.variables:
                refs += self.elements(ref) or [ref]
            record = replace(record, variables=tuple(refs))
        return replace(spec, connections=tuple(connections), record=record)

    def names_with(self, component: str, causality: str) -> list[str]:
        info = self.infos[component]
        return [n for n, v in info.variables.items() if v.causality == causality]

    def start_values(self, comp: ComponentSpec) -> tuple[tuple[VariableInfo, Any], ...]:
        """(variable, value) per `parameters:` entry; an array's entry is its first element
        and a tuple of every element's value (start values where `parameters:` sets none)."""
        out: list[tuple[VariableInfo, Any]] = []
        info = self.infos[comp.name]
        arrays: dict[str, list[Any]] = {}  # array -> its element values, as set so far
        for name, value in comp.parameters.items():
            loc = comp.parameter_locs.get(name, comp.loc)
            items = self.array_items(comp, name, value, loc)
            for var, item in items if items is not None else [(None, value)]:
                checked = self.start_value(comp, var, item, name if var is None else var.name, loc)
                if checked is None:
                    continue
                var, coerced = checked
                if not var.array:
                    out.append((var, coerced))
                    continue
                if var.array not in arrays:
                    siblings = [v for v in info.variables.values() if v.array == var.array]
                    arrays[var.array] = [_fallback(v) for v in siblings]
                    out.append((siblings[0], arrays[var.array]))
                arrays[var.array][var.element] = coerced
        return tuple((var, tuple(v) if isinstance(v, list) else v) for var, v in out)

    def array_items(
        self, comp: ComponentSpec, name: str, value: Any, loc: Location | None
    ) -> list[tuple[VariableInfo | None, Any]] | None:
        """A whole array's `parameters:` value as (element, value) pairs ([] when its shape is
        wrong, reported); None when `name` is no array."""
        info = self.infos[comp.name]
        if name not in info.arrays:
            return None
        shape = info.arrays[name]
        flat = arrays_mod.flatten(value) if isinstance(value, list) else None
        written = arrays_mod.nested_shape(value)
        fits = flat is not None and (written == shape or len(flat) == math.prod(shape))
        if not fits or not isinstance(value, list):
            self.error(
                loc,
                f"{comp.name}.{name} is an array of shape {arrays_mod.shape_text(shape)}; got "
                + (f"a list of shape {arrays_mod.shape_text(written)}" if flat is not None
                   else "a ragged list" if isinstance(value, list) else describe(value)),
                f"write {math.prod(shape)} values as a list (row-major), e.g. "
                f"{name}: [{', '.join(['0'] * min(3, math.prod(shape)))}"
                + (", ...]" if math.prod(shape) > 3 else "]")
                + f", or set one element, e.g. {arrays_mod.element_names(name, shape)[0]}: 0"
                if math.prod(shape)
                else "the array has no elements",
            )  # fmt: skip
            return []
        names = arrays_mod.element_names(name, shape)
        return [(info.variables[n], v) for n, v in zip(names, flat or [], strict=True)]

    def start_value(
        self, comp: ComponentSpec, var: VariableInfo | None, value: Any, name: str, loc: Any
    ) -> tuple[VariableInfo, Value] | None:
        """One start value checked against its variable (None: reported)."""
        if var is None:
            var = self.lookup(VarRef(comp.name, name, loc), "settable")
        if var is None:
            return None
        why = not_settable(var)
        if why:
            self.error(
                loc,
                f"{comp.name}.{name} cannot be set: {why}",
                "parameters can set parameters, inputs and variables with initial "
                "exact or approx (e.g. states)",
            )
            return None
        coerced = _coerce(value, var)
        if coerced is None:
            self.error(
                loc,
                f"{comp.name}.{name} must be {_EXPECTED[var.kind]}, got {describe(value)}",
                f"{comp.name}.{name} is of type {var.fmi_type}",
            )
            return None
        return var, coerced

    # -- connections
    def connection(self, conn) -> tuple[float, float] | None:
        """Check one connection; (gain, offset) with unit conversion folded in, or None."""
        src, dst = self.lookup(conn.source, "output"), self.lookup(conn.target, "input")
        ok = src is not None and dst is not None
        if src is not None and src.causality != "output":
            ok = False
            swapped = src.causality == "input" and dst is not None and dst.causality == "output"
            self.error(
                conn.source.loc,
                f"{conn.source} cannot be a connection source: it is "
                f"{_CAUSALITY.get(src.causality, src.causality)}, not an output",
                "did you swap from and to?"
                if swapped
                else f"outputs of {conn.source.component}: "
                + _listing(self.names_with(conn.source.component, "output")),
            )
        if dst is not None and dst.causality != "input":
            ok = False
            if dst.causality == "parameter":
                hint = (
                    f"set parameters under components.{conn.target.component}.parameters "
                    "(or change tunable ones with events); connections drive inputs"
                )
            elif dst.causality == "output" and src is not None and src.causality == "input":
                hint = "did you swap from and to?"
            else:
                hint = f"inputs of {conn.target.component}: " + _listing(
                    self.names_with(conn.target.component, "input")
                )
            self.error(
                conn.target.loc,
                f"{conn.target} cannot be a connection target: it is "
                f"{_CAUSALITY.get(dst.causality, dst.causality)}, not an input",
                hint,
            )
        if not ok:
            return None
        return self.link(conn, src, dst)

    def link(self, conn, src: VariableInfo, dst: VariableInfo) -> tuple[float, float] | None:
        gain, offset = conn.gain, conn.offset
        if conn.mapping:
            return self.mapped(conn, src, dst)
        numbers = ("real", "integer")
        if "string" in (src.kind, dst.kind):
            self.error(
                conn.loc,
                f"cannot connect {src.fmi_type} {conn.source} to {dst.fmi_type} {conn.target}: "
                "String (and Binary) values are not passed between FMUs by cosim yet",
                "remove the connection; set the String input under components.<name>."
                "parameters or with an event",
            )
            return None
        if src.kind not in numbers or dst.kind not in numbers:
            if src.kind != dst.kind:
                self.error(
                    conn.loc,
                    f"cannot connect {src.fmi_type} {conn.source} to {dst.fmi_type} {conn.target}",
                    "Boolean and String variables connect only to their own type",
                )
                return None
            if gain != 1.0 or offset != 0.0:
                self.error(
                    conn.loc,
                    f"gain and offset apply to numbers, not to {dst.fmi_type} {conn.target}",
                    "remove gain and offset from this connection",
                )
                return None
            if conn.convert:
                self.no_effect(conn, dst)
            return 1.0, 0.0
        if src.kind == "real" and dst.kind == "real":
            gain, offset = self.units(conn, src, dst)
        whole = float(gain).is_integer() and float(offset).is_integer()
        needs_convert = dst.kind == "integer" and (src.kind == "real" or not whole)
        if needs_convert and not conn.convert:
            how = "" if src.kind == "real" else f" with gain {gain:g} and offset {offset:g}"
            self.error(
                conn.loc,
                f"connecting {src.fmi_type} {conn.source} to {dst.fmi_type} {conn.target}"
                f"{how} needs an explicit conversion",
                "add convert: round, floor, ceil or truncate to this connection",
            )
            return None
        if conn.convert and not needs_convert:
            self.no_effect(conn, dst)
        return gain, offset

    def mapped(self, conn, src: VariableInfo, dst: VariableInfo) -> tuple[float, float] | None:
        """Check a connection with a value mapping: discrete kinds, values that fit both ends."""
        discrete = ("integer", "boolean")
        if src.kind not in discrete or dst.kind not in discrete:
            self.error(
                conn.loc,
                f"a mapping connects Booleans, Integers and enumerations, not {src.fmi_type} "
                f"{conn.source} to {dst.fmi_type} {conn.target}",
                "use gain and offset for Real connections",
            )
            return None
        if conn.gain != 1.0 or conn.offset != 0.0 or conn.convert:
            self.error(
                conn.loc,
                "a connection with a mapping takes no gain, offset or convert",
                "the mapping gives each target value; remove gain, offset and convert",
            )
            return None
        ok = True
        for source, target in conn.mapping:
            for value, var, ref in ((source, src, conn.source), (target, dst, conn.target)):
                if _coerce(value, var) is None:
                    self.error(
                        conn.loc,
                        f"the mapping value {value!r} does not fit {ref}, "
                        f"{_EXPECTED[var.kind]} ({var.fmi_type})",
                        "map values of the two variables' types",
                    )
                    ok = False
        return (1.0, 0.0) if ok else None

    def no_effect(self, conn, dst: VariableInfo) -> None:
        self.warn(
            conn.loc,
            f"convert: {conn.convert} has no effect on {conn.target} ({dst.fmi_type})",
            "convert applies when a Real value (or a fractional gain) feeds an Integer input; "
            "remove it",
        )

    def units(self, conn, src: VariableInfo, dst: VariableInfo) -> tuple[float, float]:
        """Fold the unit conversion into the connection: gain*(g*x + o) + offset."""
        from_defs = self.infos[conn.source.component].units
        to_defs = self.infos[conn.target.component].units
        if not conn.unit_conversion:  # gain and offset hold the conversion (or none is wanted)
            return conn.gain, conn.offset
        if src.unit and dst.unit and src.unit != dst.unit:
            unknown = [
                u for u, d in ((src.unit, from_defs), (dst.unit, to_defs)) if not find_unit(u, d)
            ]
            if unknown:
                self.warn(
                    conn.loc,
                    f"cannot check the units of {conn.source} [{src.unit}] -> {conn.target} "
                    f"[{dst.unit}]: unit '{unknown[0]}' has no definition",
                    "the value is passed without conversion; declare the unit with a BaseUnit "
                    "in the FMU",
                )
                return conn.gain, conn.offset
        try:
            g, o = conversion(src.unit, dst.unit, from_defs, to_defs)
        except ConfigError as exc:
            self.error(
                conn.loc,
                f"{conn.source} -> {conn.target}: {exc.problems[0].message}",
                "connect variables that measure the same quantity (units convert "
                "automatically, e.g. km/h to m/s or degC to K)",
            )
            return conn.gain, conn.offset
        return conn.gain * g, conn.gain * o + conn.offset

    # -- the whole system
    def run(self) -> ResolvedSystem | None:
        spec = self.spec
        for comp in spec.components.values():
            self.load(comp)
        self.single_instances()
        spec = self.spec = self.expand_arrays(spec)
        bad_times = time_problems(spec)  # a spec built in code; YAML is checked by config
        if bad_times:
            self.problems += bad_times
            return None
        sim = spec.simulation
        start_tick, step_ticks = to_ticks(sim.start), max(1, to_ticks(sim.step))
        # a stop off the step grid: the last communication step is shorter (as fmpy and
        # other importers do); within a tick per step of a multiple, it is that multiple
        n_steps = (to_ticks(sim.stop) - start_tick) / step_ticks
        stop_tick = to_ticks(sim.stop)
        if abs(n_steps - round(n_steps)) * step_ticks <= max(1, round(n_steps)):
            stop_tick = start_tick + max(1, round(n_steps)) * step_ticks

        components = []
        index: dict[str, int] = {}
        for comp in spec.components.values():
            if comp.name not in self.infos:
                continue
            info = self.infos[comp.name]
            index[comp.name] = len(components)
            decimation = 1 if comp.step is None else max(1, round(to_ticks(comp.step) / step_ticks))
            interface = self.interfaces[comp.name]
            cs = interface == "cs"
            tolerance = comp.tolerance or sim.tolerance or info.default_tolerance
            if not cs and tolerance is None:
                tolerance = 1e-6  # the Model Exchange solvers' default (as fmpy's is 1e-5)
            components.append(
                ResolvedComponent(
                    index=index[comp.name],
                    name=comp.name,
                    spec=comp,
                    fmu_path=info.path,
                    fmi_version=info.fmi_version,  # type: ignore[arg-type]
                    guid=info.guid,
                    model_identifier=(info.model_identifier if cs else info.me_identifier) or "",
                    model_description=info.model_description,
                    variables=info.variables,
                    decimation=decimation,
                    start_values=self.start_values(comp),
                    can_get_set_state=info.can_get_set_state if cs else info.me_can_get_set_state,
                    interface=interface,  # type: ignore[arg-type]
                    solver="" if cs else (comp.solver or "cvode"),
                    tolerance=tolerance,
                    max_step=None if cs else comp.max_step,
                    stop_time=to_seconds(stop_tick),
                    can_interpolate_inputs=cs and info.can_interpolate_inputs,
                    provides_directional_derivatives=info.directional[0 if cs else 1],
                    input_clocks=(self.input_clocks(comp, info, interface) or ())
                    if info.clocks
                    else (),
                )
            )

        connections = []
        driven: dict[str, Any] = {}
        for conn in spec.connections:
            linked = self.connection(conn)
            if linked is None:
                continue
            src_info = self.infos[conn.source.component]
            dst_info = self.infos[conn.target.component]
            driven[str(conn.target)] = conn
            connections.append(
                ResolvedConnection(
                    source_component=index[conn.source.component],
                    source=src_info.variables[conn.source.variable],
                    target_component=index[conn.target.component],
                    target=dst_info.variables[conn.target.variable],
                    gain=linked[0],
                    offset=linked[1],
                    feedthrough=any(
                        conn.target.variable in deps for deps in dst_info.feedthrough.values()
                    ),
                    spec=conn,
                    extrapolation=self.extrapolation(conn, src_info, dst_info),
                )
            )

        # every written target counts as driven, even where its connection has a problem
        written = {str(c.target): c for c in spec.connections}
        for ref, role in spec.orphans:  # the other end of the connection is broken
            if self.lookup(ref, role) is not None and role == "input":
                written.setdefault(str(ref), ref)
        events = self.events(index, start_tick, stop_tick, step_ticks, written)
        sources: dict[str, Any] = {str(c.target): c for c in spec.connections}
        if spec.opcua is not None:
            sources.update({str(x.to): "opcua.inputs" for x in spec.opcua.inputs})
        if spec.plant is not None:
            sources.update({str(c.target): "plant.commands" for c in spec.plant.commands})
        tables = resolve_inputs(self, start_tick, stop_tick, step_ticks, sources)
        self.unconnected_inputs({**written, **{x: t for t in tables for x in t.labels}})
        loops = algebraic_loops(
            [c.name for c in components],
            [(str(c.spec.source), str(c.spec.target)) for c in connections],
            {c.name: self.infos[c.name].feedthrough for c in components},
        )
        names = [c.name for c in components]
        order = step_order(
            names,
            [(c.spec.source.component, c.spec.target.component) for c in connections],
        )
        position = {name: k for k, name in enumerate(order)}
        self.connections_resolved = connections
        loop_infos, lagging = self.loops(components, connections, loops, driven, position)
        self.step_control(components, loop_infos)
        records = self.records(index)
        record_decimation = 1
        if spec.record.interval is not None and sim.step_control is None:
            record_decimation = max(1, round(to_ticks(spec.record.interval) / step_ticks))
        return ResolvedSystem(
            spec=spec,
            components=tuple(components),
            connections=tuple(connections),
            order=tuple(index[n] for n in order),
            records=records,
            events=events,
            start_tick=start_tick,
            stop_tick=stop_tick,
            step_ticks=step_ticks,
            record_decimation=record_decimation,
            algebraic_loops=tuple(loops),
            warnings=tuple(spec.warnings)
            + tuple(p for p in self.problems if p.severity == "warning"),
            loops=tuple(loop_infos),
            lagging=tuple(lagging),
            inputs=tables,
        )

    def extrapolation(self, conn: Any, src: FmuInfo, dst: FmuInfo) -> int:
        """The order of the polynomial the connection's input follows (0: hold)."""
        written = conn.extrapolation
        order = EXTRAPOLATION_ORDER.get(written or self.spec.simulation.extrapolation, 0)
        if order == 0:
            return 0
        kinds = (src.variables[conn.source.variable].kind, dst.variables[conn.target.variable].kind)
        if kinds != ("real", "real"):
            if written:
                self.warn(
                    conn.loc,
                    f"extrapolation: {written} applies to Real connections; {conn.target} is "
                    "held (zero-order hold)",
                    "Integer and Boolean values change only at communication points",
                )
            return 0
        return order

    def loops(
        self,
        components: Sequence[ResolvedComponent],
        connections: Sequence[ResolvedConnection],
        paths: Sequence[tuple[str, ...]],
        driven: Mapping[str, Any],
        position: Mapping[str, int],
    ) -> tuple[list[LoopInfo], list[int]]:
        """Cycles of connections: loops to iterate at each step, and connections that lag.

        Jacobi: every input takes the previous step's outputs, so a direct-feedthrough cycle
        needs nothing (its connections are reported as lagging). Gauss-Seidel: a
        direct-feedthrough cycle is solved by iteration (the whole strongly connected group of
        components is iterated, with rollback of their FMU states), refused
        (`algebraic_loops: error`), or broken at the connections into its first member in
        stepping order, which then lag by a step (`break`, and the default when a member cannot
        roll back). Iterative Gauss-Seidel iterates every cycle, with or without feedthrough.
        """
        sim = self.spec.simulation
        names = [c.name for c in components]
        edges = [(c.spec.source.component, c.spec.target.component) for c in connections]
        groups = cyclic_groups(names, edges)
        loop_vars = {n for path in paths for n in path}
        algebraic = {
            k
            for k, c in enumerate(connections)
            if str(c.spec.source) in loop_vars and str(c.spec.target) in loop_vars
        }
        out: list[LoopInfo] = []
        lagging: list[int] = []
        for group in groups:
            members = set(group)
            inside = [
                k
                for k, c in enumerate(connections)
                if c.spec.source.component in members and c.spec.target.component in members
            ]
            feedthrough = [k for k in inside if k in algebraic]
            path = next(
                (p for p in paths if p[0].partition(".")[0] in members),
                tuple(str(connections[k].spec.source) for k in inside[:1]),
            )
            ordered = sorted(group, key=position.__getitem__)
            index = tuple(names.index(n) for n in ordered)
            first = driven.get(path[0]) if path else None
            loc = first.loc if first is not None else None
            text = " -> ".join(path)
            if sim.algorithm == "jacobi":
                lagging += feedthrough
                continue
            if sim.algorithm != "iterative-gauss-seidel" and not feedthrough:
                continue
            policy = sim.algebraic_loops
            if feedthrough and policy == "error":
                self.error(
                    loc,
                    "algebraic loop: " + text,
                    "each output here depends directly on the input before it; remove "
                    "algebraic_loops: error to solve it by iteration at each step, or break "
                    "it with a component that has no direct feedthrough (e.g. FirstOrder)",
                )
                continue
            stateless = [components[i].name for i in index if not components[i].can_get_set_state]
            back = [k for k in inside if connections[k].spec.target.component == ordered[0]]
            if policy == "break" or (stateless and feedthrough and policy is None):
                lagging += back
                edge = ", ".join(
                    f"{connections[k].spec.source} -> {connections[k].spec.target}" for k in back
                )
                its = "its" if len(stateless) == 1 else "their"
                why = (
                    f"{_listing(stateless)} cannot get and set {its} FMU state, so the loop "
                    "cannot be iterated"
                    if policy is None
                    else "algebraic_loops: break"
                )
                self.warn(
                    loc,
                    f"algebraic loop {text} is broken at {edge}: {why}; that input uses the "
                    "previous step's value (lags by one communication step)",
                    "a smaller step reduces the lag's error; FMUs with canGetAndSetFMUstate "
                    "can be solved by iteration instead",
                )
                continue
            if stateless:
                kind = "algebraic loop" if feedthrough else "cycle"
                self.error(
                    loc,
                    f"{kind} {text} cannot be iterated: {_listing(stateless)} cannot get and set "
                    "FMU state (canGetAndSetFMUstate is false), which iteration needs to repeat "
                    "a communication step",
                    "use algebraic_loops: break (the loop then lags by a step), or FMUs that "
                    "support FMU state"
                    if feedthrough
                    else "use algorithm: gauss-seidel for this system",
                )
                continue
            out.append(LoopInfo(index, tuple(inside), tuple(path), bool(feedthrough)))
        return out, sorted(lagging)

    def step_control(
        self, components: Sequence[ResolvedComponent], loops: Sequence[LoopInfo]
    ) -> None:
        """A variable communication step needs rollback, one rate and no pacing."""
        sim = self.spec.simulation
        control = sim.step_control
        if control is None:
            return
        loc = control.loc or sim.loc
        if sim.realtime is not None:
            self.error(
                loc,
                "simulation.step_control and simulation.realtime cannot be combined",
                "a real-time run keeps a fixed communication step; remove one of them",
            )
        multirate = [c.name for c in components if c.decimation != 1]
        if multirate:
            self.error(
                loc,
                "simulation.step_control cannot be combined with a component's own step "
                f"(multirate): {_listing(multirate)}",
                "remove step: from those components, or step_control",
            )
        stateless = [c.name for c in components if not c.can_get_set_state]
        if stateless:
            self.error(
                loc,
                f"simulation.step_control needs to roll steps back, but {_listing(stateless)} "
                "cannot get and set FMU state (canGetAndSetFMUstate is false)",
                "remove step_control (and use a fixed step), or use FMUs that support state",
            )
        fixed = [
            c.name
            for c in components
            if c.interface == "cs"
            and c.model_description is not None
            and not getattr(
                c.model_description.coSimulation, "canHandleVariableCommunicationStepSize", True
            )
        ]
        if fixed:
            self.error(
                loc,
                f"simulation.step_control varies the step, but {_listing(fixed)} cannot "
                "handle a variable communication step (canHandleVariableCommunicationStepSize "
                "is false)",
                "remove step_control",
            )
        if any(c.extrapolation for c in self.connections_resolved):
            self.error(
                loc,
                "simulation.step_control cannot be combined with input extrapolation yet",
                "extrapolation weights assume a fixed step; use extrapolation: zoh (the default) "
                "with step_control, or a fixed step",
            )
        if self.spec.record.interval is not None:
            self.warn(
                self.spec.record.loc,
                "record.interval is ignored with simulation.step_control: every accepted step "
                "is recorded (the rows lie on the controller's non-uniform grid)",
                "remove record.interval",
            )
        if control.min is not None and control.min > sim.step:
            self.warn(
                loc,
                f"step_control.min = {control.min:g} s is larger than simulation.step = "
                f"{sim.step:g} s; the first step is min",
                "simulation.step is the first step the controller tries",
            )

    def events(
        self,
        index: Mapping[str, int],
        start_tick: int,
        stop_tick: int,
        step_ticks: int,
        driven: Mapping[str, Any],
    ) -> tuple[ResolvedEvent, ...]:
        out = []
        for event in self.spec.events:
            at = to_ticks(event.at)
            if at > stop_tick + 1:  # a file's events lie within its time span: --stop cut it
                self.warn(
                    event.loc,
                    f"the event at t = {event.at:g} s is after the stop time "
                    f"t = {to_seconds(stop_tick):g} s; it is not applied",
                    "the stop time given on the command line (--stop) ends the run first",
                )
                continue
            # nearest communication point (halves go up)
            tick = start_tick + (at - start_tick + step_ticks // 2) // step_ticks * step_ticks
            if self.spec.simulation.step_control is not None:
                tick = at  # a variable step lands on the event's own time
            tick = min(max(tick, start_tick), stop_tick)
            if tick == stop_tick:
                where = (
                    "it is at the stop time"
                    if abs(tick - at) <= 1
                    else f"it rounds to the communication point at the stop time "
                    f"t = {to_seconds(tick):g} s"
                )
                self.warn(
                    event.loc,
                    f"the event at t = {event.at:g} s has no effect: {where}, where the run ends",
                    "an event acts on the communication step that starts at its time, and no "
                    "step starts at simulation.stop; move the event earlier or remove it",
                )
            elif abs(tick - at) > 1:
                self.warn(
                    event.loc,
                    f"the event at t = {event.at:g} s is not on the communication grid; it is "
                    f"applied at t = {to_seconds(tick):g} s",
                    "use a time that is a multiple of simulation.step after simulation.start",
                )
            for ref, value in event.set.items():
                var = self.lookup(ref, "input")
                if var is None:
                    continue
                if var.array:
                    self.error(
                        ref.loc,
                        f"{ref} cannot be changed by an event: it is an element of the array "
                        f"{ref.component}.{var.array}, and events set scalar variables",
                        "drive the array from a connection, or set its start value under "
                        f"components.{ref.component}.parameters",
                    )
                    continue
                tunable = var.causality == "parameter" and var.variability == "tunable"
                if var.causality != "input" and not tunable:
                    what = _CAUSALITY.get(var.causality, var.causality)
                    if var.causality == "parameter":
                        what = f"a {var.variability} parameter"
                    self.error(
                        ref.loc,
                        f"{ref} cannot be changed by an event: it is {what}",
                        "events set inputs and tunable parameters; give other start values "
                        f"under components.{ref.component}.parameters",
                    )
                    continue
                if str(ref) in driven:
                    self.error(
                        ref.loc,
                        f"{ref} is driven by the connection at {driven[str(ref)].loc}; the "
                        "event's value would be overwritten at the next step",
                        "remove the connection or the event",
                    )
                    continue
                coerced = _coerce(value, var)
                if coerced is None:
                    self.error(
                        ref.loc,
                        f"{ref} must be {_EXPECTED[var.kind]}, got {describe(value)}",
                        f"{ref} is of type {var.fmi_type}",
                    )
                    continue
                out.append(ResolvedEvent(tick, index[ref.component], var, coerced, event))
        return tuple(sorted(out, key=lambda e: e.tick))

    def unconnected_inputs(self, driven: Mapping[str, Any]) -> None:
        set_by_event = {str(ref) for event in self.spec.events for ref in event.set}
        set_by_event |= _live_driven(self.spec)  # the plant or a command node sets them
        for comp in self.spec.components.values():
            info = self.infos.get(comp.name)
            if info is None:
                continue
            loose: dict[str, list[VariableInfo]] = {}  # by array (or scalar) name
            for name, var in info.variables.items():
                label = f"{comp.name}.{name}"
                if var.causality != "input" or label in driven or label in set_by_event:
                    continue
                if name in comp.parameters or var.array in comp.parameters:
                    continue
                loose.setdefault(var.array or name, []).append(var)
            for name, elements in loose.items():
                var = elements[0]
                if var.array:  # one warning per array
                    starts = [v.start for v in elements]
                    start = f" {starts}" if None not in starts else ""
                    if len(elements) == var.size:
                        what = f"input array {comp.name}.{name} is not connected"
                    else:
                        names = _listing([v.name for v in elements])
                        what = f"elements {names} of input array {comp.name}.{name} are not"
                        what += " connected"
                    keeps = "it keeps its" if var.size == len(elements) else "they keep their"
                    plural = "" if len(elements) == 1 else "s"
                    message = f"{what}; {keeps} start value{plural}{start}"
                else:
                    start = f" {var.start}" if var.start is not None else ""
                    message = (
                        f"input {comp.name}.{name} is not connected; it keeps its start "
                        f"value{start}"
                    )
                self.warn(
                    comp.loc,
                    message,
                    f"connect it, give it a value under components.{comp.name}.parameters, or "
                    "set it with an event",
                )

    def records(self, index: Mapping[str, int]) -> tuple[ResolvedRecord, ...]:
        refs = self.spec.record.variables
        out = []
        if refs is None:
            for name, info in self.infos.items():
                for var in info.variables.values():
                    if var.causality == "output" and var.kind != "string":
                        out.append(ResolvedRecord(index[name], var, f"{name}.{var.name}"))
            return tuple(out)
        for ref in refs:
            var = self.lookup(ref)
            if var is None:
                continue
            if var.kind == "string":
                self.error(
                    ref.loc,
                    f"cannot record {ref}: it is a String variable",
                    "results.h5 holds numeric signals only (Real, Integer, Boolean); remove "
                    f"{ref} from record.variables",
                )
                continue
            out.append(ResolvedRecord(index[ref.component], var, str(ref)))
        return tuple(out)


def _resolve(spec: SystemSpec) -> tuple[ResolvedSystem | None, list[Problem]]:
    """The system as far as it resolves (broken parts left out) and every problem found."""
    resolver = _Resolver(spec)
    system = resolver.run()
    return system, sort_problems(resolver.problems)


def resolve_problems(spec: SystemSpec) -> tuple[ResolvedSystem | None, list[Problem]]:
    """The ResolvedSystem (None if any error) and every problem found while resolving."""
    system, problems = _resolve(spec)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return system, problems


def resolve_system(spec: SystemSpec) -> ResolvedSystem:
    """Resolve `spec` against its FMUs; raise one ConfigError holding every problem found."""
    system, problems = resolve_problems(spec)
    if system is None:
        raise ConfigError(problems)
    return system


def read_spec(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    text: str | None = None,
    step: float | None = None,
) -> tuple[SystemSpec | None, list[Problem]]:
    """The SystemSpec of a system file and every problem found reading it: a YAML file (which
    may start from an SSP with `ssp:`), or an SSP package (.ssp, .ssd). No FMU is resolved."""
    if text is None and is_ssp(path):
        return read_ssp(path, overrides, step=step)
    return read_system(
        path, overrides, text=text, step=step, base_reader=lambda p, h: read_ssp(p, step=h)
    )


def load_spec(
    path: str | Path,
    overrides: Sequence[str] = (),
    stop: float | None = None,
    *,
    step: float | None = None,
) -> SystemSpec:
    """read_spec with `stop` (`--stop`) applied; one ConfigError holding every problem if any
    is an error (the live commands and regression suites read their systems so)."""
    spec, problems = read_spec(path, overrides, step=step)
    return stopped_or_raise(spec, problems, stop)


def check(
    path: str | Path,
    overrides: Sequence[str] = (),
    stop: float | None = None,
    *,
    text: str | None = None,
    step: float | None = None,
) -> tuple[ResolvedSystem | None, list[Problem]]:
    """Read, check and resolve a system file: (system or None, every problem found).

    The one complete check behind `cosim validate` and `cosim run`: the YAML's structure,
    `--set` overrides and `--stop` (if given), the FMUs, and the live sections' links, with
    every error AND every warning, in file order. A broken part (an unknown component, a
    missing FMU) leaves out only what depends on it. The system is None if any is an error.
    With `text`, that text is read as the file `path` (see io.yaml.read_system).
    """
    spec, problems = read_spec(path, overrides, text=text, step=step)
    if spec is None:
        return None, problems
    if stop is not None:
        stopped = check_stop_override(spec, stop)
        problems = problems + stopped
        if not stopped:
            stopped_spec = with_stop(spec, stop)  # drops events after the stop, with a warning
            problems += stopped_spec.warnings[len(spec.warnings) :]
            spec = stopped_spec
    system, more = _resolve(spec)  # partial if broken: the live links are checked anyway
    if system is not None:
        more += live_problems(spec, system)
    problems = sort_problems(problems + more)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return system, problems


def live_problems(spec: SystemSpec, system: ResolvedSystem) -> list[Problem]:
    """The live sections' links to the FMUs' variables, each at its file:line:col.

    opcua.inputs[].to, opcua.outputs[].from, plant.serve[].from, plant.commands[].to and the
    fault targets, as `cosim run` and `cosim plant` check them before they start. Components
    of `spec` missing from a partly resolved `system` are broken (reported): not checked.
    """
    broken = set(spec.components) - {c.name for c in system.components}
    links: list[Problem] = []
    if spec.opcua is not None:
        links += resolve_links(system, spec.opcua, broken)[1]
    if spec.plant is not None:
        links += check_plant_links(spec.plant, system, broken)
    offline = (  # a study's verdicts run signal monitors over its runs, with no plant
        spec.analytics is not None
        and spec.sweep is not None
        and not (spec.analytics.estimate or spec.analytics.forecast)
        and all(m.kind == "signal" for m in spec.analytics.monitors)
    )
    if spec.analytics and spec.opcua is None and not offline:
        first = spec.analytics.monitors[0].loc if spec.analytics.monitors else None
        loc = first or (spec.analytics.estimate or spec.analytics.forecast).loc  # type: ignore[union-attr]
        links.append(
            Problem(
                loc,
                "monitors, estimate and forecast need live measurements: this system has no "
                "opcua: section",
                "add opcua.inputs from the plant's nodes to the outputs to watch",
            )
        )
    elif spec.analytics and not offline:
        from cosim.resolve.analytics import check_analytics

        live = resolve_links(system, spec.opcua, broken)[0] if spec.opcua is not None else ()
        links += check_analytics(spec.analytics, system, live, broken)
    return links


def _live_driven(spec: SystemSpec) -> set[str]:
    """Variables ("comp.var") a live source sets: opcua.inputs, plant.commands, plant faults."""
    driven: set[str] = set()
    if spec.opcua is not None:
        driven.update(str(item.to) for item in spec.opcua.inputs)
    if spec.plant is not None:
        driven.update(str(c.target) for c in spec.plant.commands)
        driven.update(str(f.target) for f in spec.plant.faults if f.action != "freeze")
    return driven


def validate(
    path: str | Path,
    overrides: Sequence[str] = (),
    stop: float | None = None,
    *,
    text: str | None = None,
) -> list[Problem]:
    """Every problem (errors and warnings) in a system file, from the YAML and from its FMUs."""
    return check(path, overrides, stop, text=text)[1]


def load(
    path: str | Path,
    overrides: Sequence[str] = (),
    stop: float | None = None,
    *,
    text: str | None = None,
    step: float | None = None,
) -> ResolvedSystem:
    """Read and resolve a system file; raise one ConfigError holding every problem found.

    The ConfigError holds the same complete list as `check` (errors and warnings); on success
    the warnings are in the ResolvedSystem's `warnings`.
    """
    system, problems = check(path, overrides, stop, text=text, step=step)
    if system is None:
        raise ConfigError(problems)
    return system


__all__ = [
    "FmuInfo",
    "check",
    "fmu_info",
    "live_problems",
    "load",
    "load_spec",
    "read_spec",
    "resolve_problems",
    "resolve_system",
    "validate",
]
