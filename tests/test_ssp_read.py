"""Reading SSP packages (.ssp/.ssd) into a SystemSpec: structure, parameters, steps, safety.

Each test writes a small SSD around bundled FMUs (Gain y = k*u + b, n_out = n_in;
Driver/Vehicle with units m/s and km/h) and checks the spec, a run against the same system
written in YAML, or a closed form.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cosim.api import System
from cosim.errors import ConfigError
from cosim.library.build import bundled_fmu
from cosim.ssp.read import read_ssp, sanitize

NS = (
    'xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription" '
    'xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon" '
    'xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues" '
    'xmlns:ssm="http://ssp-standard.org/SSP1/SystemStructureParameterMapping"'
)
EXPERIMENT = '<ssd:DefaultExperiment startTime="0" stopTime="1"/>'


def ssd(system: str, experiment: str = EXPERIMENT, version: str = "1.0", top: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ssd:SystemStructureDescription {NS} name="test" version="{version}">\n'
        f"{system}\n{top}{experiment}\n</ssd:SystemStructureDescription>\n"
    )


def component(name: str, fmu: str, connectors: str = "", inner: str = "") -> str:
    return (
        f'<ssd:Component name="{name}" source="resources/{fmu}.fmu">\n'
        f"<ssd:Connectors>\n{connectors}</ssd:Connectors>\n{inner}</ssd:Component>\n"
    )


def conn(name: str, kind: str, type_: str = "<ssc:Real/>") -> str:
    return f'<ssd:Connector name="{name}" kind="{kind}">{type_}</ssd:Connector>\n'


def connection(a: str, b: str, inner: str = "", extra: str = "") -> str:
    ea, ca = a.split(".") if "." in a else (None, a)
    eb, cb = b.split(".") if "." in b else (None, b)
    sa = f'startElement="{ea}" ' if ea else ""
    sb = f'endElement="{eb}" ' if eb else ""
    return (
        f'<ssd:Connection {sa}startConnector="{ca}" {sb}endConnector="{cb}"{extra}>'
        f"{inner}</ssd:Connection>\n"
    )


def inline_params(*params: str) -> str:
    return (
        "<ssd:ParameterBindings><ssd:ParameterBinding><ssd:ParameterValues>"
        '<ssv:ParameterSet version="1.0" name="set"><ssv:Parameters>'
        + "".join(params)
        + "</ssv:Parameters></ssv:ParameterSet></ssd:ParameterValues>"
        "</ssd:ParameterBinding></ssd:ParameterBindings>\n"
    )


def real(name: str, value: float, unit: str = "") -> str:
    u = f' unit="{unit}"' if unit else ""
    return f'<ssv:Parameter name="{name}"><ssv:Real value="{value!r}"{u}/></ssv:Parameter>'


def system(elements: str, connections: str = "", inner: str = "", name: str = "root") -> str:
    return (
        f'<ssd:System name="{name}">\n{inner}<ssd:Elements>\n{elements}</ssd:Elements>\n'
        f"<ssd:Connections>\n{connections}</ssd:Connections>\n</ssd:System>"
    )


def package(tmp_path: Path, text: str, fmus=("Gain",), files: dict | None = None, name="s.ssp"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("SystemStructure.ssd", text)
        for fmu in fmus:
            z.write(bundled_fmu(fmu), f"resources/{fmu}.fmu")
        for member, data in (files or {}).items():
            z.writestr(member, data)
    return path


def ok(path, *args, **kwargs):
    spec, problems = read_ssp(path, *args, **kwargs)
    errors = [p for p in problems if p.severity == "error"]
    assert spec is not None and not errors, "\n".join(map(str, problems))
    return spec, problems


def run(path, **kwargs):
    return System.from_file(path, **kwargs).simulate()


def line_of(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


GAIN_IO = conn("u", "input") + conn("y", "output")


# --------------------------------------------------------------------------- structure
def test_linear_transformation_closed_form(tmp_path):
    """src(Gain, b=2, u=0) --y * 3 + 1--> dst(Gain k=1, b=0).u, so dst.y = 7."""
    text = ssd(
        system(
            component("src", "Gain", GAIN_IO, inline_params(real("b", 2.0)))
            + component("dst", "Gain", GAIN_IO),
            connection("src.y", "dst.u", '<ssc:LinearTransformation factor="3" offset="1"/>'),
        )
    )
    path = package(tmp_path, text)
    spec, _ = ok(path)
    assert spec.components["src"].parameters == {"b": 2.0}
    (c,) = spec.connections
    assert (str(c.source), str(c.target), c.gain, c.offset) == ("src.y", "dst.u", 3.0, 1.0)
    assert c.loc.file.endswith("s.ssp!/SystemStructure.ssd")
    assert c.loc.line == line_of(text, "<ssd:Connection ")
    results = run(path)
    assert np.all(results["dst.y"] == 7.0)
    assert spec.simulation.stop == 1.0


def test_units_and_linear_transformation_match_yaml(tmp_path):
    """Vehicle.v_kmh [km/h] -> Driver.v [m/s] converts (once); tau_cmd * 0.5 -> tau_motor.

    The SSP declares the connector units (as tools copy them from the FMUs) with ssc:Units;
    the same system in YAML relies on cosim's FMU unit conversion only: results identical.
    """
    units = (
        "<ssd:Units>"
        '<ssc:Unit name="m/s"><ssc:BaseUnit m="1" s="-1"/></ssc:Unit>'
        '<ssc:Unit name="km/h"><ssc:BaseUnit m="1" s="-1" factor="0.2777777777777778"/></ssc:Unit>'
        '<ssc:Unit name="N.m"><ssc:BaseUnit kg="1" m="2" s="-2"/></ssc:Unit>'
        "</ssd:Units>\n"
    )
    text = ssd(
        system(
            component(
                "driver",
                "Driver",
                conn("v", "input", '<ssc:Real unit="m/s"/>')
                + conn("tau_cmd", "output", '<ssc:Real unit="N.m"/>'),
                inline_params(
                    '<ssv:Parameter name="cycle"><ssv:Integer value="3"/></ssv:Parameter>'
                ),
            )
            + component(
                "vehicle",
                "Vehicle",
                conn("v_kmh", "output", '<ssc:Real unit="km/h"/>')
                + conn("tau_motor", "input", '<ssc:Real unit="N.m"/>'),
            ),
            connection("vehicle.v_kmh", "driver.v")
            + connection(
                "driver.tau_cmd", "vehicle.tau_motor", '<ssc:LinearTransformation factor="0.5"/>'
            ),
        ),
        '<ssd:DefaultExperiment startTime="0" stopTime="3"/>',
        top=units,
    )
    path = package(tmp_path, text, fmus=("Driver", "Vehicle"))
    spec, problems = ok(path, step=0.01)
    assert not [p for p in problems if "unit" in p.message]
    gains = {str(c.target): (c.gain, c.offset) for c in spec.connections}
    assert gains == {"driver.v": (1.0, 0.0), "vehicle.tau_motor": (0.5, 0.0)}  # no double
    yaml_file = tmp_path / "same.yaml"
    yaml_file.write_text(
        f"""
simulation: {{start: 0, stop: 3, step: 0.01}}
components:
  driver: {{fmu: {bundled_fmu("Driver")}, parameters: {{cycle: 3}}}}
  vehicle: {{fmu: {bundled_fmu("Vehicle")}}}
connections:
  - {{from: vehicle.v_kmh, to: driver.v}}
  - {{from: driver.tau_cmd, to: vehicle.tau_motor, gain: 0.5}}
"""
    )
    a, b = run(path, step=0.01), run(yaml_file)
    assert a.names == b.names
    for name in a.names:
        assert np.array_equal(a[name], b[name]), name
    assert a["vehicle.v"][-1] > 0.5  # the driver accelerates the car (the loop is live)


def test_parameter_unit_converted_to_the_fmu_unit(tmp_path):
    """ssv:Real value="72" unit="km/h" for Driver.v_hold [m/s] arrives as 20 m/s."""
    units = (
        '<ssv:Units><ssc:Unit name="km/h"><ssc:BaseUnit m="1" s="-1" factor="0.2777777777777778"/>'
        '</ssc:Unit><ssc:Unit name="m/s"><ssc:BaseUnit m="1" s="-1"/></ssc:Unit></ssv:Units>'
    )
    ssv = (
        f'<?xml version="1.0"?>\n<ssv:ParameterSet {NS} version="1.0" name="p">'
        f"<ssv:Parameters>{real('v_hold', 72.0, 'km/h')}</ssv:Parameters>{units}"
        "</ssv:ParameterSet>"
    )
    binding = (
        '<ssd:ParameterBindings><ssd:ParameterBinding source="resources/p.ssv"/>'
        "</ssd:ParameterBindings>"
    )
    text = ssd(system(component("driver", "Driver", "", binding)))
    path = package(tmp_path, text, fmus=("Driver",), files={"resources/p.ssv": ssv})
    spec, _ = ok(path)
    assert spec.components["driver"].parameters["v_hold"] == pytest.approx(20.0, rel=1e-15)


def test_connector_unit_differing_from_the_fmu_unit_warns(tmp_path):
    text = ssd(
        system(
            component("src", "Gain", conn("y", "output", '<ssc:Real unit="km/h"/>'))
            + component("dst", "Gain", conn("u", "input")),
            connection("src.y", "dst.u"),
        ),
        top='<ssd:Units><ssc:Unit name="km/h"><ssc:BaseUnit m="1" s="-1"/></ssc:Unit></ssd:Units>',
    )
    spec, problems = ok(package(tmp_path, text))
    (w,) = [p for p in problems if "declares unit" in p.message]
    assert w.severity == "warning" and "'1'" in w.message
    assert w.loc.line == line_of(text, 'name="y"')
    assert (spec.connections[0].gain, spec.connections[0].offset) == (1.0, 0.0)


def test_nested_systems_flatten_into_direct_connections(tmp_path):
    """
    root: powertrain{ engine(Gain b=0.5).y --*2--> [out] } --*3+1--> load(Gain).u
    flattened: powertrain_engine.y --*6+1--> load.u, so load.y = 6*0.5 + 1 = 4.
    """
    inner = system(
        component("engine", "Gain", GAIN_IO, inline_params(real("b", 0.5))),
        connection("engine.y", "out", '<ssc:LinearTransformation factor="2"/>'),
        inner="<ssd:Connectors>" + conn("out", "output") + "</ssd:Connectors>\n",
        name="powertrain",
    )
    text = ssd(
        system(
            inner + "\n" + component("load", "Gain", GAIN_IO),
            connection(
                "powertrain.out", "load.u", '<ssc:LinearTransformation factor="3" offset="1"/>'
            ),
        )
    )
    spec, problems = ok(package(tmp_path, text))
    assert list(spec.components) == ["powertrain_engine", "load"]
    (c,) = spec.connections
    assert (str(c.source), str(c.target), c.gain, c.offset) == (
        "powertrain_engine.y",
        "load.u",
        6.0,
        1.0,
    )
    assert any("powertrain_engine is the SSP element powertrain.engine" in n for n in spec.notes)
    assert np.all(run(package(tmp_path, text, name="t.ssp"))["load.y"] == 4.0)


def test_sanitized_names_and_a_collision(tmp_path):
    assert sanitize("2nd stage") == "_2nd_stage" and sanitize("a.b-c") == "a_b_c"
    inner = system(component("b", "Gain"), name="a")
    text = ssd(system(inner + component("a_b", "Gain")))
    spec, problems = read_ssp(package(tmp_path, text))
    (e,) = [p for p in problems if p.severity == "error"]
    assert "'a.b' and 'a_b' both become the cosim component 'a_b'" in e.message


def test_referenced_ssd_is_a_nested_system(tmp_path):
    sub = ssd(
        system(
            component("g", "Gain", GAIN_IO, inline_params(real("b", 1.5))),
            connection("g.y", "y"),
            inner="<ssd:Connectors>" + conn("y", "output") + "</ssd:Connectors>\n",
            name="sub",
        )
    )
    text = ssd(
        system(
            '<ssd:Component name="part" type="application/x-ssp-definition" '
            'source="parts/sub.ssd"/>\n' + component("load", "Gain", GAIN_IO),
            connection("part.y", "load.u"),
        )
    )
    sub = sub.replace('source="resources/', 'source="../resources/')  # relative to parts/
    spec, _ = ok(package(tmp_path, text, files={"parts/sub.ssd": sub}))
    assert list(spec.components) == ["part_g", "load"]
    assert str(spec.connections[0].source) == "part_g.y"
    # the FMU of the referenced .ssd is found relative to *its* folder
    assert spec.components["part_g"].fmu_path.parent.name == "resources"


# --------------------------------------------------------------------------- parameters
def test_ssv_and_ssm_with_prefix_and_precedence(tmp_path):
    """A system-level binding (prefix src.) through a mapping with a transformation beats
    the component's own binding (higher levels win); unmapped values are not applied."""
    ssv = (
        f'<?xml version="1.0"?>\n<ssv:ParameterSet {NS} version="1.0" name="p"><ssv:Parameters>'
        + real("gain", 1.5)
        + real("bias", -1.0)
        + real("unused", 9.0)
        + "</ssv:Parameters></ssv:ParameterSet>"
    )
    ssm = (
        f'<?xml version="1.0"?>\n<ssm:ParameterMapping {NS} version="1.0">'
        '<ssm:MappingEntry source="src.gain" target="src.k">'
        '<ssc:LinearTransformation factor="2"/></ssm:MappingEntry>'
        '<ssm:MappingEntry source="src.bias" target="src.b"/>'
        "</ssm:ParameterMapping>"
    )
    binding = (
        '<ssd:ParameterBindings><ssd:ParameterBinding source="resources/p.ssv" prefix="src.">'
        '<ssd:ParameterMapping source="resources/m.ssm"/></ssd:ParameterBinding>'
        "</ssd:ParameterBindings>\n"
    )
    own = inline_params(real("k", 5.0), real("u", 0.25))
    text = ssd(system(component("src", "Gain", GAIN_IO, own), inner=binding))
    files = {"resources/p.ssv": ssv, "resources/m.ssm": ssm}
    path = package(tmp_path, text, files=files)
    spec, problems = ok(path)
    assert spec.components["src"].parameters == {"k": 3.0, "b": -1.0, "u": 0.25}
    assert spec.components["src"].parameter_locs["k"].file.endswith("!/resources/p.ssv")
    assert np.all(run(path)["src.y"] == 3.0 * 0.25 - 1.0)


def test_parameter_naming_nothing_warns_and_is_not_applied(tmp_path):
    text = ssd(system(component("src", "Gain", GAIN_IO, inline_params(real("kk", 2.0)))))
    spec, problems = ok(package(tmp_path, text))
    (w,) = [p for p in problems if "kk" in p.message]
    assert w.severity == "warning" and "did you mean 'k'" in w.hint
    assert spec.components["src"].parameters == {}


def test_set_override(tmp_path):
    text = ssd(system(component("src", "Gain", GAIN_IO, inline_params(real("b", 2.0)))))
    path = package(tmp_path, text)
    spec, _ = ok(path, ["src.b=4.5", "src.k=1e-3"])
    assert spec.components["src"].parameters == {"b": 4.5, "k": 0.001}
    spec, problems = read_ssp(path, ["scr.b=1"])
    (e,) = [p for p in problems if p.severity == "error"]
    assert "unknown component 'scr'" in e.message and "did you mean 'src.b'" in e.hint


def test_integer_mapping_transformation(tmp_path):
    """src.n_out (= n_in = 0) --{0 -> 5}--> dst.n_in, so dst.n_out = 5 (others unchanged)."""
    mapping = (
        '<ssc:IntegerMappingTransformation><ssc:MapEntry source="0" target="5"/>'
        '<ssc:MapEntry source="1" target="7"/></ssc:IntegerMappingTransformation>'
    )
    ints = conn("n_in", "input", "<ssc:Integer/>") + conn("n_out", "output", "<ssc:Integer/>")
    text = ssd(
        system(
            component("src", "Gain", ints) + component("dst", "Gain", ints),
            connection("src.n_out", "dst.n_in", mapping),
        )
    )
    path = package(tmp_path, text)
    spec, _ = ok(path)
    assert spec.connections[0].mapping == ((0, 5), (1, 7))
    assert np.all(run(path)["dst.n_out"] == 5)


# --------------------------------------------------------------------------- steps
OSP = "http://opensimulationplatform.com/SSP/OSPAnnotations"


def test_osp_step_annotation_and_step_hint(tmp_path):
    experiment = (
        '<ssd:DefaultExperiment startTime="0" stopTime="1"><ssd:Annotations>'
        f'<ssc:Annotation type="com.opensimulationplatform"><osp:Algorithm xmlns:osp="{OSP}">'
        '<osp:FixedStepAlgorithm baseStepSize="0.005"/></osp:Algorithm></ssc:Annotation>'
        "</ssd:Annotations></ssd:DefaultExperiment>"
    )
    hint = (
        '<ssd:Annotations><ssc:Annotation type="com.opensimulationplatform">'
        f'<osp:StepSizeHint xmlns:osp="{OSP}" value="0.02"/></ssc:Annotation></ssd:Annotations>'
    )
    text = ssd(system(component("a", "Gain", GAIN_IO, hint)), experiment)
    path = package(tmp_path, text)
    spec, problems = ok(path)
    assert not [p for p in problems if p.severity == "warning" and "annotation" in p.message]
    assert spec.simulation.step == 0.005 and spec.components["a"].step == pytest.approx(0.02)
    assert any("from the OSP annotation osp:FixedStepAlgorithm" in n for n in spec.notes)
    spec, _ = ok(path, step=0.001)  # --step wins over the annotation
    assert spec.simulation.step == 0.001
    assert spec.notes[0].startswith("communication step 0.001 s from --step")


def test_omsimulator_step_annotation(tmp_path):
    oms = (
        '<ssd:Annotations><ssc:Annotation type="org.openmodelica">'
        '<oms:Annotations xmlns:oms="https://raw.githubusercontent.com/OpenModelica/OMSimulator/'
        'master/schema/oms.xsd"><oms:SimulationInformation>'
        '<oms:FixedStepMaster description="oms-ma" stepSize="0.020000" absoluteTolerance="1e-4"'
        ' relativeTolerance="1e-4"/></oms:SimulationInformation></oms:Annotations>'
        "</ssc:Annotation></ssd:Annotations>\n"
    )
    text = ssd(system(component("a", "Gain", GAIN_IO), inner=oms))
    spec, problems = ok(package(tmp_path, text))
    assert spec.simulation.step == 0.02
    assert any("OMSimulator annotation oms:FixedStepMaster" in n for n in spec.notes)
    assert not [p for p in problems if p.severity == "warning" and "annotation" in p.message]


def test_step_falls_back_to_the_fmus_default_experiment(tmp_path):
    text = ssd(system(component("a", "Gain") + component("b", "FirstOrder")))
    spec, _ = ok(package(tmp_path, text, fmus=("Gain", "FirstOrder")))
    assert spec.simulation.step == 0.01  # both FMUs say 1e-2
    assert "smallest DefaultExperiment stepSize" in spec.notes[0]


def test_cosim_annotation_round_trip_settings(tmp_path):
    ns = 'xmlns:cosim="https://cosim.dev/ssp/1"'
    sim = (
        f'<ssd:Annotations><ssc:Annotation type="org.cosim"><cosim:Simulation {ns} step="0.002" '
        'algorithm="jacobi" extrapolation="linear" tolerance="1e-6"/></ssc:Annotation>'
        "</ssd:Annotations>\n"
    )
    comp = (
        f'<ssd:Annotations><ssc:Annotation type="org.cosim"><cosim:Component {ns} step="0.004" '
        'tolerance="1e-5"/></ssc:Annotation></ssd:Annotations>'
    )
    text = ssd(system(component("a", "Gain", GAIN_IO, comp), inner=sim))
    spec, problems = ok(package(tmp_path, text))
    s = spec.simulation
    assert (s.step, s.algorithm, s.extrapolation, s.tolerance) == (0.002, "jacobi", "linear", 1e-6)
    assert (spec.components["a"].step, spec.components["a"].tolerance) == (0.004, 1e-5)
    assert not [p for p in problems if p.severity == "warning" and "annotation" in p.message]


def test_unknown_annotation_warns(tmp_path):
    ann = (
        '<ssd:Annotations><ssc:Annotation type="com.example.solver"><x:Q xmlns:x="urn:x"/>'
        "</ssc:Annotation></ssd:Annotations>\n"
    )
    text = ssd(system(component("a", "Gain", GAIN_IO), inner=ann))
    _, problems = ok(package(tmp_path, text))
    (w,) = [p for p in problems if "com.example.solver" in p.message]
    assert w.severity == "warning" and w.loc.line == line_of(text, "com.example.solver")


def test_ssp2_types_and_version(tmp_path):
    params = inline_params(
        '<ssv:Parameter name="b"><ssv:Float64 value="0.75"/></ssv:Parameter>',
        '<ssv:Parameter name="n_in"><ssv:Int32 value="3"/></ssv:Parameter>',
    )
    io = conn("u", "input", "<ssc:Float64/>") + conn("y", "output", "<ssc:Float64/>")
    text = ssd(
        system(
            component("a", "Gain", io, params) + component("b", "Gain", io),
            connection("a.y", "b.u"),
        ),
        version="2.0",
    )
    path = package(tmp_path, text)
    spec, problems = ok(path)
    assert not problems or all("version" not in p.message for p in problems)
    assert spec.components["a"].parameters == {"b": 0.75, "n_in": 3}
    assert np.all(run(path)["b.y"] == 0.75)


def test_bare_ssd_next_to_its_fmus(tmp_path):
    (tmp_path / "resources").mkdir()
    for name in ("Gain",):
        (tmp_path / "resources" / f"{name}.fmu").write_bytes(bundled_fmu(name).read_bytes())
    text = ssd(system(component("a", "Gain", GAIN_IO, inline_params(real("b", 1.0)))))
    path = tmp_path / "plain.ssd"
    path.write_text(text)
    spec, _ = ok(path)
    assert spec.components["a"].fmu_path == (tmp_path / "resources" / "Gain.fmu").resolve()
    assert np.all(run(path)["a.y"] == 1.0)


# --------------------------------------------------------------------------- errors at file:line
def test_mistakes_reported_at_their_lines(tmp_path):
    text = ssd(
        system(
            component("a", "Gain", GAIN_IO)
            + component("a", "Gain", GAIN_IO)  # duplicate name
            + '<ssd:Component name="gone" source="resources/Missing.fmu"/>\n'
            + component("b", "Gain", GAIN_IO),
            connection("a.yy", "b.u")  # unknown connector
            + connection("a.y", "c.u")  # unknown element
            + connection("a.y", "b.u", '<ssc:LinearTransformation factor="abc"/>'),  # bad number
        ).replace("<ssd:Connections>", "<ssd:Conections/><ssd:Connections>")  # misspelt element
    )
    spec, problems = read_ssp(package(tmp_path, text))
    errors = {p.message: p for p in problems if p.severity == "error"}

    def find(fragment):
        (p,) = [p for m, p in errors.items() if fragment in m]
        return p

    dup = find("element name 'a' is used twice")
    rows = [i for i, row in enumerate(text.splitlines(), 1) if 'name="a"' in row]
    assert dup.loc.line == rows[1]
    missing = find("FMU not found: resources/Missing.fmu")
    assert missing.loc.line == line_of(text, "Missing.fmu")
    assert missing.loc.col == text.splitlines()[missing.loc.line - 1].index("source=") + 1
    typo = find("has no connector 'yy'")
    assert typo.loc.line == line_of(text, 'startConnector="yy"') and "did you mean 'y'" in typo.hint
    unknown = find("unknown element 'c'")
    assert (
        unknown.loc.line == line_of(text, 'endElement="c"')
        and "elements: a, gone, b" in unknown.hint
    )
    bad = find("factor='abc' is not a number")
    assert bad.loc.line == line_of(text, 'factor="abc"')
    spelt = find("unknown element <ssd:Conections>")
    assert "did you mean <Connections>" in spelt.hint
    assert all(p.loc.file.endswith("s.ssp!/SystemStructure.ssd") for p in errors.values())


def test_missing_step_asks_for_step(tmp_path):
    # a component without an FMU gives no default experiment, and nothing else gives a step
    text = ssd(system('<ssd:Component name="x" source="resources/None.fmu"/>'))
    _, problems = read_ssp(package(tmp_path, text, fmus=()))
    assert any("pass --step H" in p.hint for p in problems)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"this is not xml", "not well-formed XML"),
        (b"<?xml version='1.0'?><ssd:Sys", "not well-formed XML"),
        (b"<?xml version='1.0'?><root/>", "the root element is <root>"),
        (
            b"<?xml version='1.0'?><SystemStructureDescription xmlns='urn:other' version='1.0'/>",
            "is in namespace 'urn:other'",
        ),
    ],
)
def test_malformed_ssd_gives_problems(tmp_path, content, expected):
    path = tmp_path / "bad.ssd"
    path.write_bytes(content)
    spec, problems = read_ssp(path)
    assert spec is None and any(expected in p.message for p in problems), problems
    assert all(p.loc.file == str(path) for p in problems)


def test_truncated_and_non_zip_packages(tmp_path):
    good = package(tmp_path, ssd(system(component("a", "Gain"))))
    cut = tmp_path / "cut.ssp"
    cut.write_bytes(good.read_bytes()[:200])
    for path in (cut, tmp_path / "missing.ssp"):
        spec, problems = read_ssp(path)
        assert spec is None and problems and problems[0].severity == "error"
    (tmp_path / "text.ssp").write_text("hello")
    _, problems = read_ssp(tmp_path / "text.ssp")
    assert "not an SSP: not a valid zip archive" in problems[0].message


def test_cli_validate_reports_ssp_errors_at_file_line(tmp_path):
    import subprocess
    import sys

    text = ssd(system(component("a", "Gain", GAIN_IO), connection("a.y", "nowhere.u")))
    path = package(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = line_of(text, "nowhere")
    assert f"s.ssp!/SystemStructure.ssd:{line}:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- safety
def _zip_with(tmp_path: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    path = tmp_path / "evil.ssp"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("SystemStructure.ssd", ssd(system(component("a", "Gain"))))
        z.writestr(info, data)
    return path


def test_zip_slip_refused(tmp_path):
    path = _zip_with(tmp_path, zipfile.ZipInfo("../../escaped.txt"), b"x")
    spec, problems = read_ssp(path)
    assert spec is None and "would unpack outside the target folder" in problems[0].message
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_symlink_entry_refused(tmp_path):
    info = zipfile.ZipInfo("resources/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    spec, problems = read_ssp(_zip_with(tmp_path, info, b"/etc/passwd"))
    assert spec is None and "is a symbolic link" in problems[0].message


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<ssd:SystemStructureDescription xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
 name="&lol3;" version="1.0"><ssd:System name="r"/></ssd:SystemStructureDescription>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<ssd:SystemStructureDescription xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
 name="x" version="1.0"><ssd:System name="r">&secret;</ssd:System></ssd:SystemStructureDescription>
"""


@pytest.mark.parametrize("content", [BOMB, EXTERNAL], ids=["entity-bomb", "external-entity"])
def test_entities_refused(tmp_path, content):
    path = tmp_path / "s.ssp"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("SystemStructure.ssd", content)
    spec, problems = read_ssp(path)
    assert spec is None
    (p,) = problems
    assert "DOCTYPE" in p.message and p.loc.file.endswith("!/SystemStructure.ssd")
    assert "root:" not in str(p) and "lol" not in str(p)  # nothing expanded, nothing read


def test_unpacked_once_into_a_content_addressed_cache(tmp_path):
    from cosim.ssp.read_package import cache_root, sha256_file

    path = package(tmp_path, ssd(system(component("a", "Gain", GAIN_IO))))
    spec1, _ = ok(path)
    spec2, _ = ok(path)
    folder = cache_root() / sha256_file(path)
    assert spec1.components["a"].fmu_path == spec2.components["a"].fmu_path
    assert spec1.components["a"].fmu_path.is_relative_to(folder)
    assert spec1.sha256 == sha256_file(path)


def test_load_raises_one_config_error(tmp_path):
    from cosim.ssp.read import load_ssp

    text = ssd(system(component("a", "Gain", GAIN_IO), connection("a.y", "a.zz")))
    with pytest.raises(ConfigError) as err:
        load_ssp(package(tmp_path, text))
    assert any("has no connector 'zz'" in p.message for p in err.value.problems)


def test_suppress_unit_conversion_passes_the_number_unchanged(tmp_path):
    """km/h -> m/s with suppressUnitConversion: the resolved connection is the identity."""
    from cosim.resolve.resolver import resolve_problems

    text = ssd(
        system(
            component("vehicle", "Vehicle", conn("v_kmh", "output"))
            + component("driver", "Driver", conn("v", "input")),
            connection("vehicle.v_kmh", "driver.v", "", ' suppressUnitConversion="true"'),
        )
    )
    spec, _ = ok(package(tmp_path, text, fmus=("Driver", "Vehicle")))
    resolved, problems = resolve_problems(spec)
    assert resolved is not None, problems
    (c,) = resolved.connections
    assert (c.gain, c.offset) == (1.0, 0.0)  # exactly: no conversion added, none undone
    assert spec.connections[0].unit_conversion is False


def test_system_parameter_connector_feeds_the_parameters_it_is_connected_to(tmp_path):
    """sub has a parameter connector p = 1.25, connected with factor 2 to g.b: g.b = 2.5."""
    inner = system(
        component("g", "Gain", GAIN_IO + conn("b", "parameter")),
        connection("p", "g.b", '<ssc:LinearTransformation factor="2"/>'),
        inner="<ssd:Connectors>"
        + conn("p", "parameter")
        + "</ssd:Connectors>\n"
        + inline_params(real("p", 1.25)),
        name="sub",
    )
    spec, _ = ok(package(tmp_path, ssd(system(inner))))
    assert spec.components["sub_g"].parameters == {"b": 2.5}
    assert spec.connections == ()


def test_nested_ssp_package(tmp_path):
    subtext = ssd(
        system(
            component("g", "Gain", GAIN_IO, inline_params(real("b", 1.5))),
            connection("g.y", "y"),
            inner="<ssd:Connectors>" + conn("y", "output") + "</ssd:Connectors>\n",
            name="sub",
        )
    )
    sub = package(tmp_path, subtext, name="sub.ssp")
    text = ssd(
        system(
            '<ssd:Component name="part" type="application/x-ssp-package" '
            'source="resources/sub.ssp"/>\n' + component("load", "Gain", GAIN_IO),
            connection("part.y", "load.u"),
        )
    )
    path = package(tmp_path, text, files={"resources/sub.ssp": sub.read_bytes()}, name="o.ssp")
    spec, problems = ok(path)
    assert list(spec.components) == ["part_g", "load"]
    assert spec.components["part_g"].parameters == {"b": 1.5}
    assert all("o.ssp!/resources/sub.ssp!/SystemStructure.ssd" in p.loc.file for p in problems)
    assert np.all(run(path)["load.y"] == 1.5)
