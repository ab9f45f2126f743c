"""Resolving systems against real FMUs: each rule's exact message and location, FMI 2.0 and 3.0."""

from __future__ import annotations

import re
import zipfile
from dataclasses import replace
from pathlib import Path

import fmpy
import pytest

from cosim.engine.plan import build_plan
from cosim.errors import ConfigError
from cosim.io.yaml import load_system, with_stop
from cosim.library.build import bundled_fmu
from cosim.model.spec import VariableInfo
from cosim.resolve.resolver import not_settable, resolve_system, validate

DATA = Path(__file__).parent / "data" / "validation"
VERSIONS = pytest.mark.parametrize("prefix", ["", "fmi3/"], ids=["fmi2", "fmi3"])
# the FMI type names each version declares for Gain's Real, Integer and Boolean variables
TYPES = {"": ("Real", "Integer", "Boolean"), "fmi3/": ("Float64", "Int32", "Boolean")}


def at(path: Path, needle: str, nth: int = 1) -> str:
    """`file:line:col` of the nth occurrence of `needle` in the file (1-based, as editors show)."""
    text = path.read_text()
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{path}:{line}:{col}"


def variant(name: str, prefix: str, tmp_path: Path) -> Path:
    """The fixture with its bundled FMU names switched to `prefix` (e.g. fmi3/)."""
    text = (DATA / name).read_text()
    path = tmp_path / name
    path.write_text(re.sub(r"fmu: (\w+)", rf"fmu: {prefix}\1", text))
    return path


def lines(problems, severity: str = "error") -> list[str]:
    return [str(p).splitlines()[0] for p in problems if p.severity == severity]


DUAL_MASS = """\
name: dual
simulation: {{start: 0.0, stop: 15.0, step: 1.0e-3}}
components:
  mass1:
    fmu: {p}Mass1
    parameters: {{m1: 2}}
    step: 2.0e-3
  mass2:
    fmu: {p}Mass2
connections:
  - {{from: mass1.x1, to: mass2.x1}}
  - {{from: mass1.v1, to: mass2.v1}}
  - {{from: mass2.F, to: mass1.F}}
{record}events:
  - {{at: 5.0, set: {{mass1.F_ext: 10}}}}
"""


# --------------------------------------------------------------------------- a valid system
@VERSIONS
def test_the_dual_mass_system_resolves(prefix, tmp_path):
    path = tmp_path / "dual.yaml"
    record = "record: {variables: [mass1.x1, mass2.x2], interval: 1.0e-2}\n"
    path.write_text(DUAL_MASS.format(p=prefix, record=record))
    system = resolve_system(load_system(path))
    mass1, mass2 = system.components
    assert [c.name for c in system.components] == ["mass1", "mass2"]
    assert (mass1.index, mass2.index) == (0, 1)
    assert mass1.fmi_version == ("3.0" if prefix else "2.0")
    assert (mass1.model_identifier, mass2.model_identifier) == ("Mass1", "Mass2")
    assert mass1.guid == mass1.model_description.guid != ""
    assert mass1.can_get_set_state
    assert (mass1.decimation, mass2.decimation) == (2, 1)  # 2 ms on a 1 ms grid
    ((m1, value),) = mass1.start_values
    assert (m1.name, m1.causality, value, type(value)) == ("m1", "parameter", 2.0, float)
    wires = [
        (c.source_component, c.source.name, c.target_component, c.target.name, c.gain, c.offset)
        for c in system.connections
    ]
    assert wires == [
        (0, "x1", 1, "x1", 1.0, 0.0),
        (0, "v1", 1, "v1", 1.0, 0.0),
        (1, "F", 0, "F", 1.0, 0.0),
    ]
    # Mass2's F reads x1 and v1 directly; Mass1 has no feedthrough
    assert [c.feedthrough for c in system.connections] == [True, True, False]
    assert system.order == (0, 1)
    assert [r.label for r in system.records] == ["mass1.x1", "mass2.x2"]
    assert [(r.component, r.variable.name) for r in system.records] == [(0, "x1"), (1, "x2")]
    assert system.record_decimation == 10
    ((event,),) = [system.events]
    assert (event.tick, event.component, event.variable.name, event.value) == (
        5_000_000_000,
        0,
        "F_ext",
        10.0,
    )
    assert (system.start_tick, system.stop_tick, system.step_ticks) == (0, 15 * 10**9, 10**6)
    assert system.warnings == ()
    assert system.algebraic_loops == ()


@VERSIONS
def test_by_default_every_output_is_recorded(prefix, tmp_path):
    path = tmp_path / "dual.yaml"
    path.write_text(DUAL_MASS.format(p=prefix, record=""))
    system = resolve_system(load_system(path))
    assert [r.label for r in system.records] == [
        "mass1.x1",
        "mass1.v1",
        "mass2.x2",
        "mass2.v2",
        "mass2.F",
    ]
    assert system.record_decimation == 1


def test_instances_of_one_fmu_share_one_model_description(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        + "".join(f"  g{i}: {{fmu: Gain}}\n" for i in range(5))
        + "connections:\n"
        + "".join(f"  - {{from: g{i}.y, to: g{i + 1}.u}}\n" for i in range(4))
    )
    system = resolve_system(load_system(path))
    assert len({id(c.model_description) for c in system.components}) == 1
    assert system.order == (0, 1, 2, 3, 4)


# --------------------------------------------------------------------------- the rules
@VERSIONS
def test_unknown_variables_and_wrong_causalities(prefix, tmp_path):
    path = variant("r_variables.yaml", prefix, tmp_path)
    problems = validate(path)
    assert lines(problems) == [
        f"{at(path, 'mass1.x3')}: error: unknown variable 'x3' in component 'mass1' (model Mass1)",
        f"{at(path, 'mass1.k1')}: error: mass1.k1 cannot be a connection target: it is a "
        "parameter, not an input",
        f"{at(path, 'mass2.x1', 2)}: error: mass2.x1 cannot be a connection source: it is an "
        "input, not an output",
        f"{at(path, 'mass1.F_ext')}: error: mass1.F_ext cannot be a connection source: it is "
        "an input, not an output",
        f"{at(path, 'mass2.F}')}: error: mass2.F cannot be a connection target: it is an "
        "output, not an input",
        f"{at(path, 'gain.yy')}: error: unknown variable 'yy' in component 'gain' (model Gain)",
    ]
    hints = [p.hint for p in problems if p.severity == "error"]
    assert hints[:5] == [
        "did you mean 'mass1.x1'? outputs of mass1: x1, v1",
        "set parameters under components.mass1.parameters (or change tunable ones with "
        "events); connections drive inputs",
        "outputs of mass2: x2, v2, F",
        "did you swap from and to?",
        "did you swap from and to?",
    ]
    assert hints[5].startswith("did you mean 'gain.y'? variables of gain: ")


@VERSIONS
def test_types_on_connections(prefix, tmp_path):
    real, integer, boolean = TYPES[prefix]
    mass_real = "Float64" if prefix else "Real"
    path = variant("r_types.yaml", prefix, tmp_path)
    problems = validate(path)
    assert lines(problems) == [
        f"{at(path, '{from: src.y, to: to_int.n_in}')}: error: connecting {real} src.y to "
        f"{integer} to_int.n_in needs an explicit conversion",
        f"{at(path, '{from: src.positive')}: error: cannot connect {boolean} src.positive to "
        f"{mass_real} mass.F",
        f"{at(path, '{from: to_int.n_out')}: error: connecting {integer} to_int.n_out to "
        f"{integer} half.n_in with gain 0.5 and offset 0 needs an explicit conversion",
    ]
    assert [p.hint for p in problems if p.severity == "error"][0] == (
        "add convert: round, floor, ceil or truncate to this connection"
    )
    # convert: on an Integer -> Integer connection with a whole gain changes nothing
    no_effect = (
        f"{at(path, '{from: int_to_real.n_out')}: warning: convert: round has no effect on "
        f"same.n_in ({integer})"
    )
    assert no_effect in lines(problems, "warning")


@VERSIONS
def test_units_convert_automatically_or_are_an_error(prefix, tmp_path):
    path = variant("r_units.yaml", prefix, tmp_path)
    assert lines(validate(path)) == [
        f"{at(path, '{from: mass.x1')}: error: mass.x1 -> battery.I: unit 'm' (m) cannot be "
        "converted to 'A' (A)"
    ]
    # without the bad connection the system resolves, with the conversions folded in
    path.write_text(path.read_text().replace("  - {from: mass.x1, to: battery.I}\n", ""))
    system = resolve_system(load_system(path))
    by_target = {str(c.spec.target): (c.gain, c.offset) for c in system.connections}
    # 1 km/h = 1000 m / 3600 s; 0 degC = 273.15 K; the user's gain/offset act after converting
    assert by_target["driver.v"] == (pytest.approx(1000 / 3600, rel=1e-12), 0.0)
    assert by_target["driver.v_ref_in"] == (
        pytest.approx(2.0 * 1000 / 3600, rel=1e-12),
        pytest.approx(1.0, rel=1e-12),
    )
    assert by_target["battery.T_amb"] == (
        pytest.approx(1.0, rel=1e-12),
        pytest.approx(273.15, rel=1e-12),
    )


@VERSIONS
def test_parameters(prefix, tmp_path):
    real, integer, _ = TYPES[prefix]
    path = variant("r_parameters.yaml", prefix, tmp_path)
    problems = validate(path)
    assert lines(problems) == [
        f"{at(path, 'mass:', 2)}: error: unknown variable 'mass' in component 'mass' (model Mass1)",
        f"{at(path, 'k1')}: error: mass.k1 must be a number, got the text 'heavy'",
        f"{at(path, 'c1')}: error: mass.c1 must be a number, got the boolean true",
        f"{at(path, 'y: 1.0')}: error: gain.y cannot be set: it is an output calculated by the "
        "FMU (initial=calculated)",
        f"{at(path, 'n_in')}: error: gain.n_in must be an integer, got the number 2.5",
    ]
    errors = [p for p in problems if p.severity == "error"]
    assert errors[0].hint == "settable variables of mass: m1, k1, c1, F, F_ext, x1, v1"
    assert errors[2].hint == f"mass.c1 is of type {real}"
    assert errors[4].hint == f"gain.n_in is of type {integer}"


@VERSIONS
def test_accepted_start_values_are_converted_to_the_variable_type(prefix, tmp_path):
    path = tmp_path / "starts.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        f"  mass: {{fmu: {prefix}Mass1, parameters: {{m1: 2, x1: 0.25, F_ext: 1}}}}\n"
        f"  battery: {{fmu: {prefix}Battery, parameters: {{n_series: 90.0}}}}\n"
    )
    system = resolve_system(load_system(path))
    starts = [(v.name, x, type(x)) for c in system.components for v, x in c.start_values]
    assert starts == [
        ("m1", 2.0, float),
        ("x1", 0.25, float),
        ("F_ext", 1.0, float),
        ("n_series", 90, int),
    ]


def test_constants_and_calculated_parameters_cannot_be_set():
    def var(causality, variability, initial):
        return VariableInfo("v", 1, "real", "Real", causality, variability, initial)

    assert not_settable(var("output", "constant", "exact")) == "it is a constant"
    assert not_settable(var("calculatedParameter", "fixed", "calculated")) == (
        "it is a calculated parameter"
    )
    assert not_settable(var("local", "continuous", "calculated")) == (
        "it is a local variable calculated by the FMU (initial=calculated)"
    )
    assert not_settable(var("output", "continuous", "exact")) is None  # a state's start
    assert not_settable(var("parameter", "fixed", "exact")) is None
    assert not_settable(var("input", "continuous", None)) is None


@VERSIONS
def test_events(prefix, tmp_path):
    path = variant("r_events.yaml", prefix, tmp_path)
    problems = validate(path)
    real = TYPES[prefix][0]
    assert lines(problems) == [
        f"{at(path, 'mass1.x1', 2)}: error: mass1.x1 cannot be changed by an event: it is an "
        "output",
        f"{at(path, 'battery.n_series')}: error: battery.n_series cannot be changed by an "
        "event: it is a fixed parameter",
        f"{at(path, 'mass2.x1', 2)}: error: mass2.x1 is driven by the connection at "
        f"{at(path, '{from: mass1.x1')}; the event's value would be overwritten at the next step",
        f"{at(path, 'mass1.F_ext: big')}: error: mass1.F_ext must be a number, got the text 'big'",
    ]
    assert [p.hint for p in problems if p.severity == "error"][3] == (
        f"mass1.F_ext is of type {real}"
    )
    # 0.255 s lies between the 10 ms grid points 0.25 and 0.26: the nearer (halves up) is 0.26
    assert lines(problems, "warning") == [
        f"{at(path, '{at: 0.255')}: warning: the event at t = 0.255 s is not on the "
        "communication grid; it is applied at t = 0.26 s"
    ]


@VERSIONS
def test_events_are_sorted_by_time_on_the_grid(prefix, tmp_path):
    path = variant("r_events.yaml", prefix, tmp_path)
    text = path.read_text().split("events:")[0]
    path.write_text(
        text + "events:\n"
        "  - {at: 0.5, set: {mass1.F_ext: 10, mass1.k1: 20.0}}\n"
        "  - {at: 0.255, set: {battery.T_amb: 310.0}}\n"
        "  - {at: 0.3, set: {battery.I: 1.0, battery.T_amb: 300}}\n"
    )
    system = resolve_system(load_system(path))
    events = [
        (e.tick, system.components[e.component].name, e.variable.name, e.value)
        for e in system.events
    ]
    assert events == [
        (260_000_000, "battery", "T_amb", 310.0),
        (300_000_000, "battery", "I", 1.0),
        (300_000_000, "battery", "T_amb", 300.0),
        (500_000_000, "mass1", "F_ext", 10.0),
        (500_000_000, "mass1", "k1", 20.0),
    ]


@VERSIONS
def test_unconnected_inputs_are_warnings(prefix, tmp_path):
    path = variant("r_unconnected.yaml", prefix, tmp_path)
    problems = validate(path)
    # mass1.F is given a value under parameters, so it is not reported
    assert lines(problems, "warning") == [
        f"{at(path, 'mass1:')}: warning: input mass1.F_ext is not connected; it keeps its start "
        "value 0.0",
        f"{at(path, 'mass2:')}: warning: input mass2.v1 is not connected; it keeps its start "
        "value 0.0",
    ]
    assert lines(problems) == []
    system = resolve_system(load_system(path))
    assert len(system.warnings) == 2


@VERSIONS
def test_algebraic_loops_are_named_with_their_path(prefix, tmp_path):
    path = variant("r_loop.yaml", prefix, tmp_path)
    problems = validate(path)
    assert lines(problems) == [
        f"{at(path, '{from: gain3.y')}: error: algebraic loop: gain1.u -> gain1.y -> gain2.u -> "
        "gain2.y -> gain3.u -> gain3.y -> gain1.u",
        f"{at(path, '{from: gain4.n_out')}: error: algebraic loop: gain4.n_in -> gain4.n_out -> "
        "gain4.n_in",
    ]
    assert [p.hint for p in problems if p.severity == "error"][0] == (
        "each output here depends directly on the input before it; remove algebraic_loops: "
        "error to solve it by iteration at each step, or break it with a component that has no "
        "direct feedthrough (e.g. FirstOrder)"
    )


# --------------------------------------------------------------------------- FMU files
def _model_exchange_only(path: Path) -> None:
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="Only" guid="{0000-0001}">
  <ModelExchange modelIdentifier="Only"/>
  <ModelVariables>
    <ScalarVariable name="x" valueReference="0" causality="output" variability="continuous"
        initial="exact"><Real start="0"/></ScalarVariable>
  </ModelVariables>
  <ModelStructure><Outputs><Unknown index="1"/></Outputs></ModelStructure>
</fmiModelDescription>
"""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("modelDescription.xml", xml)


def test_model_exchange_only_fmus_are_checked_for_their_binary(tmp_path):
    _model_exchange_only(tmp_path / "only_me.fmu")
    (tmp_path / "broken.fmu").write_text("not a zip")
    path = tmp_path / "me.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        "  plant: {fmu: only_me.fmu}\n  other: {fmu: broken.fmu}\n  ok: {fmu: Gain}\n"
        "connections:\n  - {from: plant.x, to: ok.u}\n"
    )
    problems = validate(path)
    assert lines(problems) == [
        f"{at(path, 'only_me.fmu')}: error: only_me.fmu: the FMU has no Model Exchange binary "
        "for this platform (linux64)",
        f"{at(path, 'broken.fmu')}: error: broken.fmu: not an FMU: not a valid zip archive "
        "(File is not a zip file)",
    ]
    assert problems[0].hint.startswith("looked for binaries/linux64/Only.so in ")


# --------------------------------------------------------------------------- all at once
def test_validate_reports_problems_of_both_stages_at_once(tmp_path):
    path = tmp_path / "both.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1, algoritm: jacobi}\n"
        "components:\n  mass1: {fmu: Mass1}\n  mass2: {fmu: Mass2}\n"
        "connections:\n  - {from: mass1.x9, to: mass2.x1}\n"
    )
    problems = validate(path)
    assert lines(problems) == [
        f"{at(path, 'algoritm')}: error: unknown key 'algoritm' in simulation",
        f"{at(path, 'mass1.x9')}: error: unknown variable 'x9' in component 'mass1' (model Mass1)",
    ]
    # warnings come too, even while the file has errors (mass2.x1 is the target of the
    # broken connection: driven, so no warning for it)
    assert lines(problems, "warning") == [
        f"{at(path, 'mass1:')}: warning: input mass1.F is not connected; it keeps its start "
        "value 0.0",
        f"{at(path, 'mass1:')}: warning: input mass1.F_ext is not connected; it keeps its start "
        "value 0.0",
        f"{at(path, 'mass2:')}: warning: input mass2.v1 is not connected; it keeps its start "
        "value 0.0",
    ]
    with pytest.raises(ConfigError) as caught:
        resolve_system(_without_structural_error(path))
    assert [p.message for p in caught.value.errors] == [
        "unknown variable 'x9' in component 'mass1' (model Mass1)"
    ]


def _without_structural_error(path: Path):
    """The system without its structural error, so resolve_system sees only the FMU problem."""
    path.write_text(path.read_text().replace(", algoritm: jacobi", ""))
    return load_system(path)


# --------------------------------------------------------------------------- FMU capabilities
def _repack(src: Path, dst: Path, xml=lambda text: text, member=lambda name: name) -> Path:
    """A copy of the FMU at `src` with its model description edited and its members renamed
    (`member` returns None to leave a member out)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            name = member(info.filename)
            if name is None:
                continue
            data = zin.read(info.filename)
            if info.filename == "modelDescription.xml":
                data = xml(data.decode("utf-8")).encode("utf-8")
            zout.writestr(name, data)
    return dst


def _cs_flag(flag: str):
    """Edits a model description: set `flag="true"` on its CoSimulation element."""
    return lambda text: text.replace("<CoSimulation ", f'<CoSimulation {flag}="true" ', 1)


@VERSIONS
def test_an_fmu_without_a_binary_for_this_platform_is_an_error(prefix, tmp_path):
    # where an FMU keeps its shared library (FMI 2.0 / 3.0 standards, section "FMU distribution")
    folder = fmpy.platform_tuple if prefix else fmpy.platform
    binary = f"binaries/{folder}/Gain{fmpy.sharedLibraryExtension}"
    gain = bundled_fmu(f"{prefix}Gain")
    other = _repack(
        gain,
        tmp_path / "other.fmu",
        member=lambda n: "binaries/win64/Gain.dll" if n == binary else n,
    )
    bare = _repack(gain, tmp_path / "bare.fmu", member=lambda n: None if "/" in n else n)
    path = tmp_path / "nobin.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        "  other: {fmu: other.fmu}\n  bare: {fmu: bare.fmu}\n"
        "connections:\n  - {from: other.y, to: bare.uu}\n"
    )
    problems = validate(path)
    missing = f"the FMU has no Co-Simulation binary for this platform ({folder})"
    assert lines(problems) == [
        f"{at(path, 'other.fmu')}: error: other.fmu: {missing}",
        f"{at(path, 'bare.fmu')}: error: bare.fmu: {missing}",
        # the variables of an FMU without a binary are still checked
        f"{at(path, 'bare.uu')}: error: unknown variable 'uu' in component 'bare' (model Gain)",
    ]
    assert [p.hint for p in problems if p.severity == "error"][:2] == [
        f"looked for {binary} in {other.resolve()}; the FMU has binaries for: win64; it ships C "
        f"sources, so `fmpy compile {other.resolve()}` can add the binary",
        f"looked for {binary} in {bare.resolve()}; the FMU has binaries for: (none); export the "
        "FMU for this platform",
    ]


@VERSIONS
def test_an_fmu_instantiable_once_per_process_serves_one_component(prefix, tmp_path):
    _repack(
        bundled_fmu(f"{prefix}Gain"),
        tmp_path / "once.fmu",
        xml=_cs_flag("canBeInstantiatedOnlyOncePerProcess"),
    )
    path = tmp_path / "once.yaml"
    text = (
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        "  a: {fmu: once.fmu, parameters: {u: 1, n_in: 0}}\n"
        "  other: {fmu: Gain, parameters: {u: 1, n_in: 0}}\n"
        "  b: {fmu: once.fmu, parameters: {u: 1, n_in: 0}}\n"
    )
    path.write_text(text)
    once = "which can be instantiated only once per process (canBeInstantiatedOnlyOncePerProcess)"
    problems = validate(path)
    assert lines(problems) == [
        f"{at(path, 'once.fmu', 2)}: error: components a and b both use Gain, {once}"
    ]
    assert problems[0].hint == (
        "its binary keeps global state, so one process runs one instance of it; use this FMU "
        "in one component only"
    )
    path.write_text(text + "  c: {fmu: once.fmu, parameters: {u: 1, n_in: 0}}\n")
    assert lines(validate(path)) == [
        f"{at(path, 'once.fmu', 2)}: error: components a, b and c all use Gain, {once}"
    ]
    # one instance is fine (the bundled Gain, without the flag, is a different FMU)
    path.write_text(text.replace("  b: {fmu: once.fmu", "  b: {fmu: Gain"))
    assert validate(path) == []


@VERSIONS
def test_an_fmu_that_needs_an_execution_tool_is_a_warning(prefix, tmp_path):
    _repack(bundled_fmu(f"{prefix}Gain"), tmp_path / "tool.fmu", xml=_cs_flag("needsExecutionTool"))
    path = tmp_path / "tool.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        "  a: {fmu: tool.fmu, parameters: {u: 1, n_in: 0}}\n"
        "  b: {fmu: tool.fmu, parameters: {u: 1, n_in: 0}}\n"
    )
    problems = validate(path)
    # one warning per FMU file, at its first use
    assert [str(p) for p in problems] == [
        f"{at(path, 'tool.fmu')}: warning: tool.fmu: the FMU needs an external tool to run "
        "(needsExecutionTool)\n    hint: it runs only where its simulation tool is installed "
        "(and licensed); if the run fails to instantiate it, install the tool or export a "
        "standalone FMU"
    ]
    assert len(resolve_system(load_system(path)).components) == 2


# variables cosim cannot exchange: an array and a Binary (FMI 3.0), a String output (both)
_EXTRA_VARIABLES = {
    "": '<ScalarVariable name="label" valueReference="5" causality="output" '
    'variability="discrete" initial="exact"><String start="gain"/></ScalarVariable>',
    "fmi3/": '<String name="label" valueReference="5" causality="output" variability="discrete" '
    'initial="exact"><Start value="gain"/></String>'
    '<Float64 name="arr" valueReference="6" causality="output" variability="continuous" '
    'initial="calculated"><Dimension start="3"/></Float64>'
    '<Binary name="blob" valueReference="7" causality="input" variability="discrete"/>',
}


@VERSIONS
def test_variables_cosim_cannot_exchange_or_record(prefix, tmp_path):
    extra = _EXTRA_VARIABLES[prefix]
    _repack(
        bundled_fmu(f"{prefix}Gain"),
        tmp_path / "odd.fmu",
        xml=lambda text: text.replace("</ModelVariables>", extra + "</ModelVariables>"),
    )
    path = tmp_path / "odd.yaml"
    links = ["{from: g.y, to: h.u}"]
    if prefix:
        links += ["{from: g.arr, to: k.u}", "{from: h.y, to: g.blob}"]
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        "  g: {fmu: odd.fmu, parameters: {u: 1, n_in: 0}}\n"
        "  h: {fmu: Gain, parameters: {n_in: 0}}\n"
        "  k: {fmu: Gain, parameters: {n_in: 0}}\n"
        "record: {variables: [g.y, g.label]}\n"
        "connections:\n" + "".join(f"  - {link}\n" for link in links)
    )
    problems = validate(path)
    errors = [p for p in problems if p.severity == "error"]
    expected = [
        (
            f"{at(path, 'g.label')}: error: cannot record g.label: it is a String variable",
            "results.h5 holds numeric signals only (Real, Integer, Boolean); remove g.label from "
            "record.variables",
        )
    ]
    if prefix:
        usable = "cosim exchanges Real, Integer, Enumeration, Boolean and String variables "
        usable += "(FMI 3: Float32/64, Int8-64, UInt8-64, and arrays of numbers); usable "
        expected += [
            (
                f"{at(path, '{from: g.arr')}: error: connection g.arr -> k.u: shapes differ: "
                "g.arr is [3], k.u is a scalar",
                "connect arrays of the same shape, or elements one by one, e.g. g.arr[1]",
            ),
            (
                f"{at(path, 'g.blob')}: error: cannot use g.blob: it is a Binary variable, which "
                "cosim does not support yet",
                usable + "inputs of g: u, n_in",
            ),
        ]
    assert [(str(p).splitlines()[0], p.hint) for p in errors] == expected


# --------------------------------------------------------------------------- times
STOP_EVENTS = """\
simulation: {{stop: 1.0, step: 0.1}}
components:
  mass: {{fmu: {p}Mass1, parameters: {{F: 0.0}}}}
events:
  - {{at: 0.5, set: {{mass.F_ext: 1.0}}}}
  - {{at: 1.0, set: {{mass.F_ext: 2.0}}}}
  - {{at: 0.97, set: {{mass.F_ext: 3.0}}}}
"""


@VERSIONS
def test_an_event_at_the_stop_time_is_a_warning(prefix, tmp_path):
    path = tmp_path / "stop_events.yaml"
    path.write_text(STOP_EVENTS.format(p=prefix))
    problems = validate(path)
    # no communication step starts at the stop time; 0.97 s rounds to the grid point 1.0 s
    assert lines(problems, "warning") == [
        f"{at(path, '{at: 1.0')}: warning: the event at t = 1 s has no effect: it is at the stop "
        "time, where the run ends",
        f"{at(path, '{at: 0.97')}: warning: the event at t = 0.97 s has no effect: it rounds to "
        "the communication point at the stop time t = 1 s, where the run ends",
    ]
    assert problems[0].hint == (
        "an event acts on the communication step that starts at its time, and no step starts at "
        "simulation.stop; move the event earlier or remove it"
    )
    assert lines(problems) == []


@VERSIONS
def test_events_after_a_stop_time_from_the_command_line_are_left_out(prefix, tmp_path):
    path = tmp_path / "stop_events.yaml"
    path.write_text(STOP_EVENTS.format(p=prefix))
    system = resolve_system(with_stop(load_system(path), 0.6))
    assert system.stop_tick == 600_000_000
    assert [(e.tick, e.value) for e in system.events] == [(500_000_000, 1.0)]
    assert [str(w).splitlines()[0] for w in system.warnings] == [
        f"{at(path, '{at: 1.0')}: warning: the event at t = 1 s is after the stop time "
        "t = 0.6 s; it is not applied",
        f"{at(path, '{at: 0.97')}: warning: the event at t = 0.97 s is after the stop time "
        "t = 0.6 s; it is not applied",
    ]


def test_times_near_the_64_bit_limit_resolve_and_plan_without_overflow(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(
        "simulation: {stop: 9.2e9, step: 1.0e6}\ncomponents:\n"
        "  mass: {fmu: Mass1, parameters: {F: 0.0}}\n"
        "events:\n  - {at: 9.1e9, set: {mass.F_ext: 1.0}}\n"
    )
    system = resolve_system(load_system(path))
    # exact integer nanoseconds, computed without floats
    assert (system.stop_tick, system.step_ticks) == (9_200_000_000 * 10**9, 10**15)
    plan = build_plan(system)
    assert plan.ev_tick.tolist() == [9_100_000_000 * 10**9]
    assert plan.stop_tick == 9_200_000_000 * 10**9


def test_a_spec_changed_in_code_with_times_beyond_64_bit_ticks_is_a_config_error(tmp_path):
    path = tmp_path / "dual.yaml"
    path.write_text(DUAL_MASS.format(p="", record=""))
    spec = load_system(path)
    huge = replace(spec, simulation=replace(spec.simulation, stop=1e300))
    with pytest.raises(ConfigError) as caught:
        resolve_system(huge)
    assert [p.message for p in caught.value.errors] == [
        "simulation.stop = 1e+300 s is beyond the largest time cosim can represent (9.22e+09 s)"
    ]
    long = replace(spec, simulation=replace(spec.simulation, start=-5e9, stop=5e9))
    with pytest.raises(ConfigError) as caught:
        resolve_system(long)
    assert [p.message for p in caught.value.errors] == [
        "simulation.stop - simulation.start = 1e+10 s is longer than the longest run cosim can "
        "represent (9.22e+09 s)"
    ]
