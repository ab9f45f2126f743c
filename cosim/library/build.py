"""The bundled FMU library: find a bundled FMU by name; build it from fmus/ when missing or stale.

Each model lives in ``fmus/models/<Name>/`` as ``model.yaml`` (variables, units, defaults) and
``model.c`` (the equations). ``fmus/common/`` implements FMI 2.0 and 3.0 once over the per-model
interface in ``model.h``. This module generates ``modelDescription.xml`` and ``vars.h`` from
``model.yaml``, compiles with gcc against fmpy's FMI headers and zips the ``.fmu``:

    fmus/<Name>.fmu          FMI 2.0 (Co-Simulation, + Model Exchange for plant models)
    fmus/fmi3/<Name>.fmu     FMI 3.0

An FMU is rebuilt when the hash of everything it is made of changes (sources, this builder,
the FMI headers); builds take a file lock so parallel test workers never race.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import quoteattr

import yaml

from cosim import paths
from cosim.errors import ConfigError, Location, Problem


def _build_dir(sources: Path) -> Path:
    """Where FMUs built from `sources` go: in place in a checkout or a COSIM_FMUS_DIR copy, else
    (an installed wheel) the per-user cache, one folder per installation."""
    if "COSIM_FMUS_DIR" in os.environ or paths.checkout_root() is not None:
        return sources
    return paths.cache_dir() / "fmus" / hashlib.sha256(str(sources).encode()).hexdigest()[:12]


FMUS_DIR = Path(os.environ.get("COSIM_FMUS_DIR") or paths.data_dir() / "fmus")  # the sources
BUILD_DIR = _build_dir(FMUS_DIR)  # the built .fmu files and their stamps (.build/)
MODELS_DIR = FMUS_DIR / "models"
COMMON_DIR = FMUS_DIR / "common"
VR_INTEGER_BASE = 1000
VR_BOOLEAN_BASE = 2000
A_INIT, A_STEP, A_INPUT = 1, 2, 4  # access flags: settable before/after init; an input
CS_SOLVERS = ("rk4", "adaptive")  # model.yaml cs_solver: fixed-step RK4, Dormand-Prince 5(4)

# name -> (BaseUnit exponents, factor, offset); SI unless stated
UNITS: dict[str, tuple[dict[str, int], float, float]] = {
    "1": ({}, 1.0, 0.0),
    "s": ({"s": 1}, 1.0, 0.0),
    "m": ({"m": 1}, 1.0, 0.0),
    "m/s": ({"m": 1, "s": -1}, 1.0, 0.0),
    "m/s2": ({"m": 1, "s": -2}, 1.0, 0.0),
    "km/h": ({"m": 1, "s": -1}, 1 / 3.6, 0.0),
    "kg": ({"kg": 1}, 1.0, 0.0),
    "N": ({"kg": 1, "m": 1, "s": -2}, 1.0, 0.0),
    "N/m": ({"kg": 1, "s": -2}, 1.0, 0.0),
    "N.s/m": ({"kg": 1, "s": -1}, 1.0, 0.0),
    "N.m": ({"kg": 1, "m": 2, "s": -2}, 1.0, 0.0),
    "N.m/rad": ({"kg": 1, "m": 2, "s": -2, "rad": -1}, 1.0, 0.0),
    "N.m.s/rad": ({"kg": 1, "m": 2, "s": -1, "rad": -1}, 1.0, 0.0),
    "N.m/A": ({"kg": 1, "m": 2, "s": -2, "A": -1}, 1.0, 0.0),
    "V.s/rad": ({"kg": 1, "m": 2, "s": -2, "A": -1, "rad": -1}, 1.0, 0.0),
    "kg.m2": ({"kg": 1, "m": 2}, 1.0, 0.0),
    "rad": ({"rad": 1}, 1.0, 0.0),
    "deg": ({"rad": 1}, 0.017453292519943295, 0.0),
    "rad/s": ({"rad": 1, "s": -1}, 1.0, 0.0),
    "rpm": ({"rad": 1, "s": -1}, 0.10471975511965977, 0.0),
    "A": ({"A": 1}, 1.0, 0.0),
    "A.h": ({"A": 1, "s": 1}, 3600.0, 0.0),
    "V": ({"kg": 1, "m": 2, "s": -3, "A": -1}, 1.0, 0.0),
    "Ohm": ({"kg": 1, "m": 2, "s": -3, "A": -2}, 1.0, 0.0),
    "F": ({"kg": -1, "m": -2, "s": 4, "A": 2}, 1.0, 0.0),
    "H": ({"kg": 1, "m": 2, "s": -2, "A": -2}, 1.0, 0.0),
    "W": ({"kg": 1, "m": 2, "s": -3}, 1.0, 0.0),
    "kW": ({"kg": 1, "m": 2, "s": -3}, 1000.0, 0.0),
    "J": ({"kg": 1, "m": 2, "s": -2}, 1.0, 0.0),
    "J/K": ({"kg": 1, "m": 2, "s": -2, "K": -1}, 1.0, 0.0),
    "W/K": ({"kg": 1, "m": 2, "s": -3, "K": -1}, 1.0, 0.0),
    "1/K": ({"K": -1}, 1.0, 0.0),
    "K": ({"K": 1}, 1.0, 0.0),
    "degC": ({"K": 1}, 1.0, 273.15),
    "Pa": ({"kg": 1, "m": -1, "s": -2}, 1.0, 0.0),
    "kg/m3": ({"kg": 1, "m": -3}, 1.0, 0.0),
    "m2": ({"m": 2}, 1.0, 0.0),
    "%": ({}, 0.01, 0.0),
    # EV drivetrain (Driver PI gains, brake mapping, Larminie & Lowry motor loss coefficients)
    "N.s": ({"kg": 1, "m": 1, "s": -1}, 1.0, 0.0),
    "1/m": ({"m": -1}, 1.0, 0.0),
    "W/(N.m)2": ({"kg": -1, "m": -2, "s": 1}, 1.0, 0.0),
    "W.s/rad": ({"kg": 1, "m": 2, "s": -2, "rad": -1}, 1.0, 0.0),
    "W.s3/rad3": ({"kg": 1, "m": 2, "rad": -3}, 1.0, 0.0),
    # EMA flight-control actuator (position PID gains, hinge-moment coefficient derivative)
    "V/rad": ({"kg": 1, "m": 2, "s": -3, "A": -1, "rad": -1}, 1.0, 0.0),
    "V/(rad.s)": ({"kg": 1, "m": 2, "s": -4, "A": -1, "rad": -1}, 1.0, 0.0),
    "1/rad": ({"rad": -1}, 1.0, 0.0),
}

# names the generated accessors or the C layer use themselves
_RESERVED = {"M", "s", "time", "time_", "real_", "int_", "bool_", "initialized", "terminate"}
_INDICATOR_PREFIX = "event_indicator_"  # generated Float64 locals z_1..z_N (FMI 3 EventIndicator)

_TYPES = {
    "Real": ("Float64", "real_"),
    "Integer": ("Int32", "int_"),
    "Boolean": ("Boolean", "bool_"),
}


@dataclass(frozen=True)
class Var:
    name: str
    type: str  # Real | Integer | Boolean
    causality: str
    variability: str
    initial: str | None
    start: float | int | bool | None
    unit: str | None
    description: str
    state: bool
    depends: tuple[str, ...] | None  # outputs: inputs/states they depend on directly
    min: float | None
    max: float | None
    index: int = 0  # slot in the C array (r/i/b); also the value reference offset
    derivative_of: str | None = None

    @property
    def vr(self) -> int:
        base = {"Real": 0, "Integer": VR_INTEGER_BASE, "Boolean": VR_BOOLEAN_BASE}[self.type]
        return base + self.index

    @property
    def c_name(self) -> str:
        return self.name.replace("der(", "der_").replace(")", "").replace(".", "_")

    @property
    def access(self) -> int:
        if self.causality == "parameter":
            return A_INIT | (A_STEP if self.variability == "tunable" else 0)
        if self.causality == "input":
            return A_INIT | A_STEP | A_INPUT
        if self.initial in ("exact", "approx"):
            return A_INIT
        return 0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    directory: Path
    model_exchange: bool
    max_step: float
    default_experiment: dict
    variables: tuple[Var, ...]
    event_indicators: int = 0  # model_event_indicators() fills z[0..N-1]
    time_events: bool = False  # model_next_event_time() may return a finite time
    cs_solver: str = "rk4"  # Co-Simulation integrator (CS_SOLVERS)
    cs_tolerance: float = 1e-3  # adaptive solver: relative tolerance if the importer gives none
    directional_derivatives: bool = False  # model_directional() implements them

    @property
    def states(self) -> list[Var]:
        return [v for v in self.variables if v.state]

    @property
    def has_events(self) -> bool:
        return self.event_indicators > 0 or self.time_events

    @property
    def indicators(self) -> list[Var]:
        return [v for v in self.variables if v.name.startswith(_INDICATOR_PREFIX)]

    def by_type(self, type_: str) -> list[Var]:
        return [v for v in self.variables if v.type == type_]


# --------------------------------------------------------------------------- model.yaml
def _load_spec(directory: Path) -> ModelSpec:
    data = yaml.safe_load((directory / "model.yaml").read_text())
    counters = {"Real": 1, "Integer": 0, "Boolean": 0}  # Real slot 0 is time
    variables: list[Var] = []
    states: list[Var] = []
    for name, d in data["variables"].items():
        if name in _RESERVED or name.startswith(_INDICATOR_PREFIX):
            raise ValueError(f"{directory.name}: variable name {name!r} is reserved in model.c")
        type_ = d.get("type", "Real")
        causality = d["causality"]
        state = bool(d.get("state", False))
        default_var = {
            "parameter": "fixed",
            "input": "continuous",
            "output": "continuous",
            "local": "continuous",
        }[causality]
        if type_ != "Real" and default_var == "continuous":
            default_var = "discrete"
        variability = d.get("variability", default_var)
        if causality == "parameter" or causality == "input":
            initial = "exact" if causality == "parameter" else None
        elif state:
            initial = d.get("initial", "exact")  # calculated: model_initialize() sets it
            if initial not in ("exact", "calculated"):
                raise ValueError(f"{directory.name}: state {name} initial must be exact/calculated")
        else:
            initial = "calculated"
        unit = d.get("unit")
        if unit is not None and unit not in UNITS:
            raise ValueError(f"{directory.name}: unknown unit {unit!r} of {name}")
        depends = d.get("depends")
        if causality == "output" and not state and depends is None:
            raise ValueError(f"{directory.name}: output {name} needs `depends:` (inputs/states)")
        var = Var(
            name=name,
            type=type_,
            causality=causality,
            variability=variability,
            initial=initial,
            start=d.get("start", 0 if type_ != "Boolean" else False)
            if initial != "calculated"
            else None,
            unit=unit,
            description=d.get("description", ""),
            state=state,
            depends=tuple(depends) if depends is not None else ((name,) if state else None),
            min=d.get("min"),
            max=d.get("max"),
            index=counters[type_],
        )
        counters[type_] += 1
        variables.append(var)
        if state:
            states.append(var)
    for s in states:  # der(x) locals after all declared variables
        variables.append(
            Var(
                name=f"der({s.name})",
                type="Real",
                causality="local",
                variability="continuous",
                initial="calculated",
                start=None,
                unit=_der_unit(s.unit),
                description=f"d/dt {s.name}",
                state=False,
                depends=None,
                min=None,
                max=None,
                index=counters["Real"],
                derivative_of=s.name,
            )
        )
        counters["Real"] += 1
    n_z = data.get("event_indicators", 0)
    if not isinstance(n_z, int) or isinstance(n_z, bool) or n_z < 0:
        raise ValueError(f"{directory.name}: event_indicators must be an integer >= 0, got {n_z!r}")
    for k in range(1, n_z + 1):  # after der(x): one contiguous block of Real slots
        variables.append(
            Var(
                name=f"{_INDICATOR_PREFIX}{k}",
                type="Real",
                causality="local",
                variability="continuous",
                initial="calculated",
                start=None,
                unit=None,
                description=f"event indicator {k} (z[{k - 1}] of model_event_indicators)",
                state=False,
                depends=None,
                min=None,
                max=None,
                index=counters["Real"],
            )
        )
        counters["Real"] += 1
    cs_solver = data.get("cs_solver", "rk4")
    if cs_solver not in CS_SOLVERS:
        raise ValueError(f"{directory.name}: cs_solver must be one of {CS_SOLVERS}: {cs_solver!r}")
    return ModelSpec(
        name=data["name"],
        description=data.get("description", ""),
        directory=directory,
        model_exchange=bool(data.get("model_exchange", True)),
        max_step=float(data.get("max_step", 1e-3)),
        default_experiment=data.get(
            "default_experiment", {"startTime": 0, "stopTime": 10, "stepSize": 1e-3}
        ),
        variables=tuple(variables),
        event_indicators=n_z,
        time_events=bool(data.get("time_events", False)),
        cs_solver=cs_solver,
        cs_tolerance=float(data.get("cs_tolerance", 1e-3)),
        directional_derivatives=bool(data.get("directional_derivatives", False)),
    )


def _der_unit(unit: str | None) -> str | None:
    return {
        "m": "m/s",
        "m/s": "m/s2",
        "rad": "rad/s",
        "1": None,
        "K": None,
        "V": None,
        "A": None,
        "rad/s": None,
        "N.m": None,
    }.get(unit or "")


# --------------------------------------------------------------------------- generators
def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _unit_definitions(spec: ModelSpec) -> str:
    used = sorted({v.unit for v in spec.variables if v.unit})
    if not used:
        return ""
    rows = []
    for name in used:
        exps, factor, offset = UNITS[name]
        attrs = "".join(f' {k}="{e}"' for k, e in exps.items())
        if factor != 1.0:
            attrs += f' factor="{factor!r}"'
        if offset:
            attrs += f' offset="{offset!r}"'
        rows.append(f"    <Unit name={quoteattr(name)}>\n      <BaseUnit{attrs}/>\n    </Unit>")
    return "  <UnitDefinitions>\n" + "\n".join(rows) + "\n  </UnitDefinitions>\n"


def _common_attrs(v: Var) -> str:
    a = f'name={quoteattr(v.name)} valueReference="{v.vr}"'
    if v.description:
        a += f" description={quoteattr(v.description)}"
    a += f' causality="{v.causality}" variability="{v.variability}"'
    if v.initial and v.causality not in ("input",):
        a += f' initial="{v.initial}"'
    return a


def _type_attrs(v: Var, derivative_ref: str | None) -> str:
    a = ""
    if v.unit:
        a += f" unit={quoteattr(v.unit)}"
    if v.min is not None:
        a += f' min="{_fmt(v.min)}"'
    if v.max is not None:
        a += f' max="{_fmt(v.max)}"'
    if v.start is not None:
        a += f' start="{_fmt(v.start)}"'
    if derivative_ref is not None:
        a += f' derivative="{derivative_ref}"'
    return a


def model_description(spec: ModelSpec, version: int, guid: str) -> str:
    """The modelDescription.xml text for FMI `version` (2 or 3)."""
    de = spec.default_experiment
    experiment = "".join(f' {k}="{_fmt(v)}"' for k, v in de.items())
    outputs = [v for v in spec.variables if v.causality == "output"]
    ders = [v for v in spec.variables if v.derivative_of]
    by_name = {v.name: v for v in spec.variables}
    if version == 2:
        order = list(spec.variables)
        index = {v.name: i + 1 for i, v in enumerate(order)}
        rows = []
        for v in order:
            deriv = str(index[v.derivative_of]) if v.derivative_of else None
            tag = v.type
            rows.append(
                f"    <ScalarVariable {_common_attrs(v)}>\n"
                f"      <{tag}{_type_attrs(v, deriv)}/>\n    </ScalarVariable>"
            )

        def deps(v: Var) -> str:
            if v.depends is None:
                return ""
            return ' dependencies="' + " ".join(str(index[d]) for d in v.depends) + '"'

        initial_unknowns = [v for v in outputs if v.initial in ("approx", "calculated")]
        initial_unknowns += [v for v in ders]
        initial_unknowns.sort(key=lambda v: index[v.name])
        structure = "  <ModelStructure>\n"
        if outputs:
            structure += (
                "    <Outputs>\n"
                + "".join(f'      <Unknown index="{index[v.name]}"{deps(v)}/>\n' for v in outputs)
                + "    </Outputs>\n"
            )
        if ders:
            structure += (
                "    <Derivatives>\n"
                + "".join(f'      <Unknown index="{index[v.name]}"/>\n' for v in ders)
                + "    </Derivatives>\n"
            )
        if initial_unknowns:
            structure += (
                "    <InitialUnknowns>\n"
                + "".join(f'      <Unknown index="{index[v.name]}"/>\n' for v in initial_unknowns)
                + "    </InitialUnknowns>\n"
            )
        structure += "  </ModelStructure>\n"
        dd = ' providesDirectionalDerivative="true"' if spec.directional_derivatives else ""
        me = (
            f'  <ModelExchange modelIdentifier="{spec.name}" canGetAndSetFMUstate="true" '
            f'canSerializeFMUstate="true" completedIntegratorStepNotNeeded="true"{dd}/>\n'
            if spec.model_exchange
            else ""
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<fmiModelDescription fmiVersion="2.0" modelName="{spec.name}" guid="{guid}"'
            f' description={quoteattr(spec.description)} generationTool="cosim fmus"'
            ' variableNamingConvention="structured"'
            f' numberOfEventIndicators="{spec.event_indicators}">\n'
            f'  <CoSimulation modelIdentifier="{spec.name}"'
            ' canHandleVariableCommunicationStepSize="true" canInterpolateInputs="true"'
            ' maxOutputDerivativeOrder="0"'
            f' canGetAndSetFMUstate="true" canSerializeFMUstate="true"{dd}/>\n'
            + me
            + _unit_definitions(spec)
            + '  <LogCategories>\n    <Category name="logEvents"/>\n'
            '    <Category name="logStatusError"/>\n  </LogCategories>\n'
            f"  <DefaultExperiment{experiment}/>\n"
            "  <ModelVariables>\n"
            + "\n".join(rows)
            + "\n  </ModelVariables>\n"
            + structure
            + "</fmiModelDescription>\n"
        )
    # FMI 3.0
    rows = [
        '    <Float64 name="time" valueReference="0" causality="independent"'
        ' variability="continuous" description="Simulation time" unit="s"/>'
    ]
    for v in spec.variables:
        tag = _TYPES[v.type][0]
        deriv = str(by_name[v.derivative_of].vr) if v.derivative_of else None
        rows.append(f"    <{tag} {_common_attrs(v)}{_type_attrs(v, deriv)}/>")

    def deps3(v: Var) -> str:
        if v.depends is None:
            return ""
        return ' dependencies="' + " ".join(str(by_name[d].vr) for d in v.depends) + '"'

    structure = "  <ModelStructure>\n"
    structure += "".join(f'    <Output valueReference="{v.vr}"{deps3(v)}/>\n' for v in outputs)
    structure += "".join(
        f'    <ContinuousStateDerivative valueReference="{v.vr}"/>\n' for v in ders
    )
    initial_unknowns = [v for v in outputs if v.initial in ("approx", "calculated")] + ders
    structure += "".join(
        f'    <InitialUnknown valueReference="{v.vr}"/>\n'
        for v in sorted(initial_unknowns, key=lambda v: v.vr)
    )
    structure += "".join(
        f'    <EventIndicator valueReference="{v.vr}"/>\n' for v in spec.indicators
    )
    structure += "  </ModelStructure>\n"
    dd3 = ' providesDirectionalDerivatives="true"' if spec.directional_derivatives else ""
    me = (
        f'  <ModelExchange modelIdentifier="{spec.name}" canGetAndSetFMUState="true"'
        f' canSerializeFMUState="true"{dd3}/>\n'
        if spec.model_exchange
        else ""
    )
    event_mode = "true" if spec.has_events else "false"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<fmiModelDescription fmiVersion="3.0" modelName="{spec.name}" instantiationToken="{guid}"'
        f' description={quoteattr(spec.description)} generationTool="cosim fmus"'
        f' variableNamingConvention="structured">\n'
        + me
        + f'  <CoSimulation modelIdentifier="{spec.name}"'
        ' canHandleVariableCommunicationStepSize="true"'
        f' canGetAndSetFMUState="true" canSerializeFMUState="true"{dd3}'
        ' providesIntermediateUpdate="true" mightReturnEarlyFromDoStep="true"'
        f' canReturnEarlyAfterIntermediateUpdate="true" hasEventMode="{event_mode}"/>\n'
        + _unit_definitions_with_seconds(spec)
        + '  <LogCategories>\n    <Category name="logEvents"/>\n'
        '    <Category name="logStatusError"/>\n  </LogCategories>\n'
        f"  <DefaultExperiment{experiment}/>\n"
        "  <ModelVariables>\n"
        + "\n".join(rows)
        + "\n  </ModelVariables>\n"
        + structure
        + "</fmiModelDescription>\n"
    )


def _unit_definitions_with_seconds(spec: ModelSpec) -> str:
    """FMI 3 declares `time` with unit s, so s must be defined even if no variable uses it."""
    extra = Var(
        "time", "Real", "independent", "continuous", None, None, "s", "", False, None, None, None
    )
    return _unit_definitions(replace(spec, variables=spec.variables + (extra,)))


def accessors_header(spec: ModelSpec) -> str:
    """Named accessors (`#define m1 (M->s.r[1])`) for the model's own C file only."""
    lines = [
        "/* generated by cosim.library.build from model.yaml - do not edit */",
        "#ifndef COSIM_ACCESSORS_H",
        "#define COSIM_ACCESSORS_H",
        "#include <math.h>",
    ]
    for v in spec.variables:
        slot = _TYPES[v.type][1]
        lines.append(f"#define {v.c_name} (M->s.{slot}[{v.index}])")
    for v in spec.variables:  # value references, e.g. for model_directional()
        lines.append(f"#define VR_{v.c_name} {v.vr}u")
    lines += ["#define time_ (M->s.time)", "#endif", ""]
    return "\n".join(lines)


def vars_header(spec: ModelSpec, guid: str) -> str:
    """The generated C header: sizes, value references, access flags, start values, accessors."""
    reals = spec.by_type("Real")
    ints = spec.by_type("Integer")
    bools = spec.by_type("Boolean")
    n_real = 1 + len(reals)
    lines = [
        "/* generated by cosim.library.build from model.yaml - do not edit */",
        "#ifndef COSIM_VARS_H",
        "#define COSIM_VARS_H",
        "",
        f'#define MODEL_NAME "{spec.name}"',
        f'#define MODEL_GUID "{guid}"',
        f"#define N_REAL {n_real}",
        f"#define N_INTEGER {len(ints)}",
        f"#define N_BOOLEAN {len(bools)}",
        f"#define N_STATES {len(spec.states)}",
        f"#define MAX_STEP {spec.max_step!r}",
        f"#define VR_INTEGER_BASE {VR_INTEGER_BASE}u",
        f"#define VR_BOOLEAN_BASE {VR_BOOLEAN_BASE}u",
        f"#define A_INIT {A_INIT}",
        f"#define A_STEP {A_STEP}",
        f"#define A_INPUT {A_INPUT}",
        f"#define N_EVENT_INDICATORS {spec.event_indicators}",
        f"#define Z_INDEX {spec.indicators[0].index if spec.indicators else 0}",
        f"#define HAS_EVENTS {int(spec.has_events)}",
        f"#define CS_ADAPTIVE {int(spec.cs_solver == 'adaptive')}",
        f"#define CS_DEFAULT_TOLERANCE {spec.cs_tolerance!r}",
        f"#define DIRECTIONAL_DERIVATIVES {int(spec.directional_derivatives)}",
        f"#define N_RIN {len([v for v in reals if v.causality == 'input'])}",
    ]
    if spec.model_exchange:
        lines.append("#define MODEL_EXCHANGE 1")
    u = "__attribute__((unused)) static const"

    def arr(ctype: str, name: str, items: Iterable[str]) -> str:
        items = list(items) or ["0"]
        return f"{u} {ctype} {name}[] = {{{', '.join(items)}}};"

    by_name = {v.name: v for v in spec.variables}
    lines.append(arr("unsigned", "STATE_INDEX", [str(v.index) for v in spec.states]))
    lines.append(
        arr("unsigned", "DER_INDEX", [str(by_name[f"der({v.name})"].index) for v in spec.states])
    )
    lines.append(
        arr("unsigned", "RIN_INDEX", [str(v.index) for v in reals if v.causality == "input"])
    )
    lines.append(arr("unsigned char", "REAL_ACCESS", ["0"] + [str(v.access) for v in reals]))
    lines.append(arr("unsigned char", "INTEGER_ACCESS", [str(v.access) for v in ints]))
    lines.append(arr("unsigned char", "BOOLEAN_ACCESS", [str(v.access) for v in bools]))
    lines.append(arr("char *", "REAL_NAMES", ['"time"'] + [f'"{v.name}"' for v in reals]))
    lines.append(arr("char *", "INTEGER_NAMES", [f'"{v.name}"' for v in ints]))
    lines.append(arr("char *", "BOOLEAN_NAMES", [f'"{v.name}"' for v in bools]))
    lines.append("struct ModelState;")
    lines.append(
        "__attribute__((unused)) static void set_start_values_impl(double *real_,"
        " int *int_, _Bool *bool_) {"
    )
    lines.append("    (void)real_; (void)int_; (void)bool_;")
    for v in spec.variables:
        if v.start is None:
            continue
        slot = _TYPES[v.type][1]
        value = ("1" if v.start else "0") if v.type == "Boolean" else _fmt(v.start)
        lines.append(f"    {slot}[{v.index}] = {value};")
    lines.append("}")
    lines.append(
        "#define set_start_values(S) set_start_values_impl((S)->real_, (S)->int_, (S)->bool_)"
    )
    lines.append("")
    lines.append("#endif")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- building
def bundled_names() -> list[str]:
    """Every bundled FMU name: `<Name>` (FMI 2.0) and `fmi3/<Name>` (FMI 3.0)."""
    if not MODELS_DIR.is_dir():
        return []
    models = sorted(p.name for p in MODELS_DIR.iterdir() if (p / "model.yaml").is_file())
    return models + [f"fmi3/{m}" for m in models]


def _split(name: str) -> tuple[str, int]:
    if name.startswith("fmi3/"):
        return name[5:], 3
    if name.startswith("fmi2/"):
        return name[5:], 2
    return name, 2


def output_path(name: str) -> Path:
    model, version = _split(name)
    return BUILD_DIR / (f"fmi3/{model}.fmu" if version == 3 else f"{model}.fmu")


def fmi_headers() -> Path:
    """fmpy's FMI C headers (fmi2*.h, fmi3*.h)."""
    import fmpy

    return Path(fmpy.__file__).parent / "c-code"


def files_hash(files: Sequence[Path], salt: str = "") -> str:
    """The SHA-256 of `salt` and the names and contents of `files` (those that exist)."""
    h = hashlib.sha256()
    h.update(salt.encode())
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _source_hash(model_dir: Path, version: int) -> str:
    files = sorted(COMMON_DIR.glob("*")) + sorted(model_dir.glob("*")) + [Path(__file__)]
    files += sorted(fmi_headers().glob(f"fmi{version}*.h"))
    return files_hash(files, f"fmi{version}")


def stamp_is_current(stamp: Path, digest: str) -> bool:
    """Whether the build stamp says: built from sources `digest` with the compiler there is now
    (a build with another compiler stays usable when no compiler is found at all)."""
    lines = stamp.read_text().splitlines()
    if not lines or lines[0].strip() != digest:
        return False
    built_with = "\n".join(lines[1:])
    return built_with == paths.compiler_id() or paths.compiler_id() == ""


def stamp_text(digest: str) -> str:
    """What a build stamp holds: the sources' hash, then the compiler it was built with."""
    return f"{digest}\n{paths.compiler_id()}\n"


@contextmanager
def build_lock() -> Iterator[None]:
    """One FMU build at a time across processes (test workers, parallel runs)."""
    BUILD_DIR.joinpath(".build").mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / ".build" / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stamp_path(name: str) -> Path:
    model, version = _split(name)
    return BUILD_DIR / ".build" / f"{model}.fmi{version}.sha256"


def is_stale(name: str) -> bool:
    model, version = _split(name)
    out, stamp = output_path(name), _stamp_path(name)
    if not out.is_file() or not stamp.is_file():
        return True
    return not stamp_is_current(stamp, _source_hash(MODELS_DIR / model, version))


def build(name: str, force: bool = False) -> Path:
    """Build one bundled FMU if missing or stale; return its path."""
    model, version = _split(name)
    model_dir = MODELS_DIR / model
    if not (model_dir / "model.yaml").is_file():
        raise unknown_name(name)
    out = output_path(name)
    with build_lock():
        if not force and not is_stale(name):
            return out
        digest = _source_hash(model_dir, version)
        spec = _load_spec(model_dir)
        guid = "{" + str(uuid.UUID(digest[:32])) + "}"
        with tempfile.TemporaryDirectory(prefix=f"cosim_build_{model}_") as tmp:
            tmpdir = Path(tmp)
            (tmpdir / "vars.h").write_text(vars_header(spec, guid))
            (tmpdir / "accessors.h").write_text(accessors_header(spec))
            platform = "x86_64-linux" if version == 3 else "linux64"
            binary = tmpdir / "binaries" / platform / f"{spec.name}.so"
            binary.parent.mkdir(parents=True)
            cmd = [
                os.environ.get("CC", "gcc"),
                "-shared",
                "-fPIC",
                "-O2",
                "-std=gnu11",
                "-Wall",
                "-fvisibility=default",
                f"-I{tmpdir}",
                f"-I{COMMON_DIR}",
                f"-I{fmi_headers()}",
                str(model_dir / "model.c"),
                str(COMMON_DIR / "core.c"),
                str(COMMON_DIR / f"fmi{version}.c"),
                "-o",
                str(binary),
                "-lm",
            ]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as exc:  # no compiler at all
                raise ConfigError(
                    Problem(
                        Location(str(model_dir / "model.c")),
                        f"cannot build {name}: cannot run the C compiler {cmd[0]}: "
                        f"{exc.strerror or exc}",
                        "install gcc, or name the compiler in the CC environment variable",
                    )
                ) from None
            if proc.returncode != 0:
                raise ConfigError(
                    Problem(
                        Location(str(model_dir / "model.c")),
                        f"building bundled FMU {name} failed:\n{proc.stderr}",
                        "is gcc installed?",
                    )
                )
            xml = model_description(spec, version, guid)
            out.parent.mkdir(parents=True, exist_ok=True)
            partial = out.with_suffix(".fmu.partial")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("modelDescription.xml", xml)
                zf.write(binary, f"binaries/{platform}/{spec.name}.so")
                for src in sorted(model_dir.glob("*")) + sorted(COMMON_DIR.glob("*")):
                    zf.write(src, f"sources/{src.name}")
                zf.writestr("sources/vars.h", vars_header(spec, guid))
                zf.writestr("sources/accessors.h", accessors_header(spec))
            os.replace(partial, out)
            _stamp_path(name).write_text(stamp_text(digest))
    return out


def unknown_name(name: str) -> ConfigError:
    names = bundled_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"bundled FMUs: {', '.join(names)}"
    return ConfigError(Problem(None, f"unknown bundled FMU {name!r}", hint))


def bundled_fmu(name: str) -> Path:
    """The path of bundled FMU `name` (`Mass1`, `fmi3/Mass1`), built first if missing or stale."""
    return build(name)


def build_all(force: bool = False) -> list[Path]:
    return [build(n, force=force) for n in bundled_names()]


def is_bundled_name(text: str) -> bool:
    return not text.endswith(".fmu") and text in bundled_names()


def resolve_fmu(text: str, base_dir: Path) -> Path:
    """Map a YAML `fmu:` value to a path: a bundled name, or a path relative to `base_dir`.

    A path that points at a bundled FMU's output location (e.g. ``../fmus/Mass1.fmu``) is
    built on first use, so systems can name bundled FMUs by path on a fresh clone; in an
    installed wheel the same path (next to the sources) maps to the build in the cache.
    """
    if not text.endswith(".fmu") and text in bundled_names():
        return bundled_fmu(text)
    path = (Path(base_dir) / text).resolve()
    for name in bundled_names():
        out = output_path(name)
        if path in (out.resolve(), (FMUS_DIR / out.relative_to(BUILD_DIR)).resolve()):
            return bundled_fmu(name)
    return path


def clean() -> None:
    """Remove every built FMU (used by tests of the builder)."""
    for name in bundled_names():
        output_path(name).unlink(missing_ok=True)
    shutil.rmtree(BUILD_DIR / ".build", ignore_errors=True)


__all__ = ["build", "build_all", "bundled_fmu", "bundled_names", "is_stale", "resolve_fmu"]
