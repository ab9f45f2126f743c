"""cosim.ssp.write: systems exported as SSP 1.0 packages, checked against the published XSDs.

Every SystemStructure.ssd and .ssv written here is validated with lxml against the SSP 1.0
schemas that the package pyssp_standard ships (only its resources folder is used). The
expected contents come from the YAML text itself (read with yaml.safe_load, not cosim's
reader), from the FMU files' bytes and from physics (km/h = 1/3.6 m/s), never from the writer.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
import yaml
from lxml import etree

import cosim
from cosim.errors import ConfigError
from cosim.library import special
from cosim.ssp.write import build_package, write_ssp

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = sorted((REPO / "systems").glob("*.yaml"))
NS = {
    "ssd": "http://ssp-standard.org/SSP1/SystemStructureDescription",
    "ssc": "http://ssp-standard.org/SSP1/SystemStructureCommon",
    "ssv": "http://ssp-standard.org/SSP1/SystemStructureParameterValues",
    "cosim": "https://cosim.dev/ssp/1",
}
BASE = ("kg", "m", "s", "A", "K", "mol", "cd", "rad")
# the sections of a system file that SSP 1.0 holds (everything else must be warned about)
HELD = {"name", "description", "simulation", "components", "connections"}


@pytest.fixture(scope="session")
def schemas() -> dict[str, etree.XMLSchema]:
    import pyssp_standard

    folder = Path(os.path.dirname(pyssp_standard.__file__)) / "resources"
    return {
        kind: etree.XMLSchema(etree.parse(str(folder / name)))
        for kind, name in (
            ("ssd", "SystemStructureDescription.xsd"),
            ("ssv", "SystemStructureParameterValues.xsd"),
        )
    }


class Package:
    """An exported .ssp, opened: its SSD, its SSVs and its files."""

    def __init__(self, path: Path) -> None:
        with zipfile.ZipFile(path) as zf:
            self.infos = zf.infolist()
            self.files = {i.filename: zf.read(i) for i in self.infos}
        self.ssd = etree.fromstring(self.files["SystemStructure.ssd"])
        self.ssvs = {n: etree.fromstring(b) for n, b in self.files.items() if n.endswith(".ssv")}

    def validate(self, schemas: dict[str, etree.XMLSchema]) -> None:
        for name, data in self.files.items():
            kind = name.rsplit(".", 1)[-1]
            if kind in schemas:
                schema = schemas[kind]
                assert schema.validate(etree.fromstring(data)), f"{name}: {schema.error_log}"

    def components(self) -> dict[str, etree._Element]:
        return {c.get("name"): c for c in self.ssd.iterfind(".//ssd:Component", NS)}

    def connections(self) -> list[etree._Element]:
        return list(self.ssd.iterfind(".//ssd:Connection", NS))

    def connection(self, start: str, end: str) -> etree._Element:
        (found,) = [
            c
            for c in self.connections()
            if f"{c.get('startElement')}.{c.get('startConnector')}" == start
            and f"{c.get('endElement')}.{c.get('endConnector')}" == end
        ]
        return found

    def connector(self, component: str, name: str) -> etree._Element:
        (found,) = self.components()[component].xpath(
            "ssd:Connectors/ssd:Connector[@name=$n]", namespaces=NS, n=name
        )
        return found

    def parameters(self) -> dict[str, tuple[str, str]]:
        """Parameter name -> (type element, value text), from the SSV the system binds."""
        (binding,) = self.ssd.iterfind("ssd:System/ssd:ParameterBindings/ssd:ParameterBinding", NS)
        ssv = self.ssvs[binding.get("source")]
        out = {}
        for p in ssv.iterfind("ssv:Parameters/ssv:Parameter", NS):
            (typed,) = list(p)
            out[p.get("name")] = (etree.QName(typed).localname, typed.get("value"))
        return out

    def units(self) -> dict[str, tuple[dict[str, int], float, float]]:
        out = {}
        for u in self.ssd.iterfind("ssd:Units/ssc:Unit", NS):
            base = u.find("ssc:BaseUnit", NS)
            exps = {b: int(base.get(b, "0")) for b in BASE}
            out[u.get("name")] = (
                exps,
                float(base.get("factor", "1")),
                float(base.get("offset", "0")),
            )
        return out

    def cosim(self, element: etree._Element, tag: str) -> dict[str, str] | None:
        found = element.xpath(
            f"ssd:Annotations/ssc:Annotation[@type='org.cosim']/cosim:{tag}", namespaces=NS
        )
        return dict(found[0].attrib) if found else None


def export(system: cosim.System, tmp_path: Path, name: str = "out.ssp"):
    out = tmp_path / name
    warnings = write_ssp(system.resolved, out)
    return Package(out), warnings


def _ref(text: str) -> tuple[str, str]:
    component, variable = text.split(".", 1)
    return component, variable


# --------------------------------------------------------------------------- bundled examples
@pytest.mark.parametrize("path", SYSTEMS, ids=[p.stem for p in SYSTEMS])
def test_every_bundled_example_exports_a_schema_valid_package(path, tmp_path, schemas):
    data = yaml.safe_load(path.read_text())
    system = cosim.load(path)
    package, warnings = export(system, tmp_path)
    package.validate(schemas)

    # one component per YAML component, each FMU's bytes in the package
    components = package.components()
    assert list(components) == list(data["components"])
    for comp in system.resolved.components:
        source = components[comp.name].get("source")
        assert source.startswith("resources/") and source.endswith(".fmu")
        assert package.files[source] == Path(comp.fmu_path).read_bytes()
        assert components[comp.name].get("type") == "application/x-fmu-sharedlibrary"

    # the connections as written, gain/offset as LinearTransformation
    written = [(c["from"], c["to"]) for c in data.get("connections", [])]
    found = [
        (f"{c.get('startElement')}.{c.get('startConnector')}",
         f"{c.get('endElement')}.{c.get('endConnector')}")
        for c in package.connections()
    ]  # fmt: skip
    assert found == written
    for conn in data.get("connections", []):
        element = package.connection(conn["from"], conn["to"])
        gain, offset = float(conn.get("gain", 1.0)), float(conn.get("offset", 0.0))
        lt = element.find("ssc:LinearTransformation", NS)
        if (gain, offset) == (1.0, 0.0):
            assert lt is None
        else:
            assert (float(lt.get("factor")), float(lt.get("offset"))) == (gain, offset)
        # both ends are connectors of their components
        assert package.connector(*_ref(conn["from"])).get("kind") == "output"
        assert package.connector(*_ref(conn["to"])).get("kind") == "input"

    # every parameter value, named component.variable, with its YAML value
    expected = {
        f"{name}.{var}": value
        for name, comp in data["components"].items()
        for var, value in (comp.get("parameters") or {}).items()
    }
    parameters = package.parameters() if expected else {}
    assert set(parameters) == set(expected)
    for name, value in expected.items():
        kind, text = parameters[name]
        if isinstance(value, bool):
            assert (kind, text) == ("Boolean", "true" if value else "false")
        elif kind == "Real":
            assert float(text) == float(value)
        else:
            assert (kind, int(text)) == ("Integer", value)

    # start/stop in the DefaultExperiment, the step and algorithm in cosim's annotation
    sim = data["simulation"]
    de = package.ssd.find("ssd:DefaultExperiment", NS)
    assert float(de.get("startTime")) == float(sim.get("start", 0.0))
    assert float(de.get("stopTime")) == float(sim["stop"])
    annotation = package.cosim(package.ssd.find("ssd:System", NS), "Simulation")
    assert float(annotation["step"]) == float(sim["step"])
    assert annotation["algorithm"] == sim.get("algorithm", "gauss-seidel")

    # whatever SSP cannot hold is named in a warning, with the file it comes from
    left = sorted(set(data) - HELD)
    for key in left:
        assert any(key in w.message and "left out" in w.message for w in warnings), key
    if "realtime" in sim:
        assert any("simulation.realtime" in w.message for w in warnings)
    assert all(w.severity == "warning" and w.loc.file.endswith(path.name) for w in warnings)
    assert len(warnings) == len(left) + ("realtime" in sim)


# --------------------------------------------------------------------------- one small system
WIRING = """\
name: wiring
description: gain/offset, a unit conversion, an integer mapping, a shared FMU
simulation: {start: 0.0, stop: 0.2, step: 0.01, tolerance: 1.0e-7, extrapolation: linear}
components:
  g1: {fmu: Gain, parameters: {k: 2.0, b: 0.5, n_in: 3}}
  g2: {fmu: Gain}
  vehicle: {fmu: Vehicle, interface: me, solver: rk4, max_step: 0.005, parameters: {m: 1200}}
  driver: {fmu: Driver, step: 0.02, tolerance: 1.0e-5, parameters: {cycle: 3}}
connections:
  - {from: g1.y, to: g2.u, gain: 2.5, offset: -1.0}
  - {from: g1.n_out, to: g2.n_in, mapping: [{from: 3, to: 30}, {from: 4, to: 40}]}
  - {from: vehicle.v_kmh, to: driver.v}
  - {from: driver.tau_cmd, to: vehicle.tau_motor}
  - {from: driver.F_brake, to: vehicle.F_brake}
"""


@pytest.fixture
def wiring(tmp_path) -> cosim.System:
    path = tmp_path / "wiring.yaml"
    path.write_text(WIRING)
    return cosim.load(path)


def test_gain_offset_becomes_a_linear_transformation(wiring, tmp_path, schemas):
    package, _ = export(wiring, tmp_path)
    package.validate(schemas)
    lt = package.connection("g1.y", "g2.u").find("ssc:LinearTransformation", NS)
    assert (lt.get("factor"), lt.get("offset")) == ("2.5", "-1.0")
    for plain in (("vehicle.v_kmh", "driver.v"), ("driver.tau_cmd", "vehicle.tau_motor")):
        assert len(package.connection(*plain)) == 0  # no transformation at all
        assert package.connection(*plain).get("suppressUnitConversion") is None


def test_a_mapping_becomes_an_integer_mapping_transformation(wiring, tmp_path, schemas):
    package, _ = export(wiring, tmp_path)
    element = package.connection("g1.n_out", "g2.n_in")
    (mt,) = list(element)
    assert etree.QName(mt).localname == "IntegerMappingTransformation"
    entries = [(e.get("source"), e.get("target")) for e in mt.iterfind("ssc:MapEntry", NS)]
    assert entries == [("3", "30"), ("4", "40")]
    assert package.connector("g1", "n_out").find("ssc:Integer", NS) is not None
    assert package.connector("g2", "n_in").find("ssc:Integer", NS) is not None


def test_units_come_from_the_fmus_and_convert_km_h_to_m_s(wiring, tmp_path, schemas):
    package, _ = export(wiring, tmp_path)
    source = package.connector("vehicle", "v_kmh").find("ssc:Real", NS).get("unit")
    target = package.connector("driver", "v").find("ssc:Real", NS).get("unit")
    assert (source, target) == ("km/h", "m/s")
    units = package.units()
    (e1, f1, o1), (e2, f2, o2) = units[source], units[target]
    assert e1 == e2 == {**dict.fromkeys(BASE, 0), "m": 1, "s": -1}
    # SSP: value in base units = factor * value + offset; 1 km/h = 1000 m / 3600 s
    gain = f1 / f2
    assert gain == pytest.approx(1 / 3.6, rel=1e-15)
    assert (o1 - o2) / f2 == 0.0
    # every unit a connector names is defined
    named = {r.get("unit") for r in package.ssd.iterfind(".//ssc:Real", NS) if r.get("unit")}
    assert named <= set(units)
    # N.m (the torque) is kg.m2.s-2
    assert units["N.m"][0] == {**dict.fromkeys(BASE, 0), "kg": 1, "m": 2, "s": -2}


def test_components_of_one_fmu_share_one_file(wiring, tmp_path):
    package, _ = export(wiring, tmp_path)
    components = package.components()
    assert components["g1"].get("source") == components["g2"].get("source")
    fmus = sorted(n for n in package.files if n.endswith(".fmu"))
    assert len(fmus) == 3  # Gain, Vehicle, Driver
    assert package.files[components["g1"].get("source")] == (REPO / "fmus/Gain.fmu").read_bytes()


def test_cosim_annotations_carry_what_ssp_has_no_element_for(wiring, tmp_path):
    package, warnings = export(wiring, tmp_path)
    system = package.ssd.find("ssd:System", NS)
    assert package.cosim(system, "Simulation") == {
        "step": "0.01",
        "algorithm": "gauss-seidel",
        "extrapolation": "linear",
        "tolerance": "1e-07",
    }
    components = package.components()
    assert package.cosim(components["vehicle"], "Component") == {
        "interface": "me",
        "solver": "rk4",
        "max_step": "0.005",
    }
    assert components["vehicle"].get("implementation") == "ModelExchange"
    assert package.cosim(components["driver"], "Component") == {
        "step": "0.02",
        "tolerance": "1e-05",
    }
    assert package.cosim(components["g1"], "Component") is None  # nothing set, no annotation
    assert components["g1"].get("implementation") is None
    assert warnings == []  # everything in this system has a place in SSP or the annotation


def test_parameters_are_typed_and_named_component_dot_variable(wiring, tmp_path):
    package, _ = export(wiring, tmp_path)
    assert package.parameters() == {
        "g1.k": ("Real", "2.0"),
        "g1.b": ("Real", "0.5"),
        "g1.n_in": ("Integer", "3"),
        "vehicle.m": ("Real", "1200.0"),  # written 1200: a Real variable's value is a Real
        "driver.cycle": ("Integer", "3"),
    }
    (binding,) = package.ssd.iterfind(".//ssd:ParameterBinding", NS)
    assert binding.getparent().getparent().tag == f"{{{NS['ssd']}}}System"  # system level
    assert binding.get("type") == "application/x-ssp-parameter-set"
    ssv = package.ssvs[binding.get("source")]
    real = ssv.find("ssv:Parameters/ssv:Parameter[@name='vehicle.m']/ssv:Real", NS)
    assert real.get("unit") == "kg"
    assert "kg" in {u.get("name") for u in ssv.iterfind("ssv:Units/ssc:Unit", NS)}


def test_connectors_list_inputs_outputs_and_the_parameters_set(wiring, tmp_path):
    package, _ = export(wiring, tmp_path)
    names = {c.get("name"): c.get("kind") for c in package.components()["g1"].iter(
        f"{{{NS['ssd']}}}Connector")}  # fmt: skip
    # Gain: inputs u, n_in; outputs y, n_out, positive; parameters k, b (set by the system)
    assert names == {
        "k": "parameter", "b": "parameter", "u": "input", "n_in": "input",
        "y": "output", "n_out": "output", "positive": "output",
    }  # fmt: skip
    names = {c.get("name") for c in package.components()["g2"].iter(f"{{{NS['ssd']}}}Connector")}
    assert "k" not in names  # g2 sets no parameter
    assert package.connector("g1", "positive").find("ssc:Boolean", NS) is not None


def test_the_same_system_gives_the_same_bytes(wiring, tmp_path):
    first, _ = build_package(wiring.resolved)
    second, _ = build_package(cosim.load(wiring.spec.path).resolved)
    assert first == second
    out = tmp_path / "a.ssp"
    write_ssp(wiring.resolved, out)
    assert out.read_bytes() == first
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
    assert infos[0].filename == "SystemStructure.ssd"
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_an_existing_file_is_kept_unless_overwrite(wiring, tmp_path):
    out = tmp_path / "x.ssp"
    out.write_bytes(b"keep me")
    with pytest.raises(ConfigError) as err:
        write_ssp(wiring.resolved, out)
    assert "exists" in err.value.problems[0].message and "--force" in err.value.problems[0].hint
    assert out.read_bytes() == b"keep me"
    write_ssp(wiring.resolved, out, overwrite=True)
    assert zipfile.is_zipfile(out)
    with pytest.raises(ConfigError, match="ending in .ssp"):
        write_ssp(wiring.resolved, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- what SSP cannot hold
def test_what_ssp_cannot_hold_is_warned_at_its_place(tmp_path, schemas):
    (tmp_path / "table.csv").write_text("time,u\n0,0\n1,1\n")
    path = tmp_path / "left.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1, realtime: 2.0, algebraic_loops: solve,\n"
        "             loop_solver: {method: fixed-point}}\n"
        "components:\n"
        "  g1: {fmu: Gain}\n"
        "  g2: {fmu: Gain}\n"
        "  g3: {fmu: Gain}\n"
        "connections:\n"
        "  - {from: g1.y, to: g2.n_in, convert: round}\n"
        "  - {from: g1.y, to: g3.u, extrapolation: linear}\n"
        "record: {variables: [g2.y], interval: 0.2}\n"
        "events:\n"
        "  - {at: 0.5, set: {g1.u: 1.0}}\n"
        "inputs:\n"
        "  - {file: table.csv, map: {u: g2.u}}\n"
    )
    system = cosim.load(path)
    package, warnings = export(system, tmp_path)
    package.validate(schemas)
    text = path.read_text().splitlines()
    for w in warnings:
        assert w.severity == "warning" and "left out" in w.message
        assert w.loc.file == str(path)
    messages = " | ".join(w.message for w in warnings)
    for what in (
        "events (1 timed change)",
        "record (the list of 1 recorded variables, interval 0.2 s)",
        "inputs (1 table driving inputs)",
        "simulation.realtime (2)",
        "simulation.algebraic_loops (solve)",
        "simulation.loop_solver",
        "connection g1.y -> g2.n_in: convert: round",
        "connection g1.y -> g3.u: extrapolation: linear",
    ):
        assert what in messages
    # each points at its line of the YAML
    for w in warnings:
        line = text[w.loc.line - 1]
        key = (
            "events" if w.message.startswith("events") else
            "record" if w.message.startswith("record") else
            "inputs" if w.message.startswith("inputs") else
            "convert" if "convert" in w.message else
            "extrapolation" if "extrapolation" in w.message else
            w.message.split(" ")[0].split(".")[-1]
        )  # fmt: skip
        assert key in line or (key in ("events", "inputs") and line.lstrip().startswith("-")), (
            w,
            line,
        )


def test_fmi3_types_arrays_and_64_bit_values(tmp_path, schemas):
    types3 = special.build("special/Types3")
    path = tmp_path / "types.yaml"
    path.write_text(
        "simulation: {stop: 0.3, step: 0.1}\n"
        "components:\n"
        f"  a: {{fmu: {types3}, parameters: {{u: [1, 2, 3], p_i64: {2**40}, p_u8: 200,\n"
        "      p_str: hello, p_bool: true, p_f32: 0.25, k: 3}}\n"
    )
    package, warnings = export(cosim.load(path), tmp_path)
    package.validate(schemas)
    parameters = package.parameters()
    assert parameters == {
        "a.u[1]": ("Real", "1.0"),
        "a.u[2]": ("Real", "2.0"),
        "a.u[3]": ("Real", "3.0"),
        "a.p_u8": ("Integer", "200"),
        "a.p_str": ("String", "hello"),
        "a.p_bool": ("Boolean", "true"),
        "a.p_f32": ("Real", "0.25"),
        "a.k": ("Real", "3.0"),
    }
    messages = [w.message for w in warnings]
    assert any("a.p_i64" in m and "32-bit" in m and "left out" in m for m in messages)
    # every array the package names element by element: the input u, the outputs y_arr, y_n
    arrays = {m.split(":")[0] for m in messages if "an FMI 3.0 array" in m}
    assert arrays == {"a.u", "a.y_arr", "a.y_n"}
    # the connectors: FMI 3.0 types as SSP 1.0's
    assert package.connector("a", "y_i64").find("ssc:Integer", NS) is not None
    assert package.connector("a", "y_f32").find("ssc:Real", NS) is not None
    assert package.connector("a", "y_str").find("ssc:String", NS) is not None


def test_a_system_without_parameters_writes_no_parameter_set(tmp_path, schemas):
    path = tmp_path / "bare.yaml"
    path.write_text("simulation: {stop: 0.1, step: 0.1}\ncomponents:\n  g: {fmu: Gain}\n")
    package, warnings = export(cosim.load(path), tmp_path)
    package.validate(schemas)
    assert package.ssvs == {}
    assert package.ssd.find(".//ssd:ParameterBindings", NS) is None
    assert warnings == []


def test_a_boolean_mapping_becomes_a_boolean_mapping_transformation(wiring, tmp_path, schemas):
    # no bundled FMU has a Boolean input: the Integer connection g1.n_out -> g2.n_in is
    # re-typed as Boolean in the resolved system, to check how the writer renders it
    from dataclasses import replace

    resolved = wiring.resolved
    k = next(i for i, c in enumerate(resolved.connections) if c.target.name == "n_in")
    conn = resolved.connections[k]
    boolean = replace(
        conn,
        source=replace(conn.source, fmi_type="Boolean", kind="boolean"),
        target=replace(conn.target, fmi_type="Boolean", kind="boolean"),
        spec=replace(conn.spec, mapping=((True, False), (False, True), (2, True))),
    )
    connections = (*resolved.connections[:k], boolean, *resolved.connections[k + 1 :])
    out = tmp_path / "b.ssp"
    warnings = write_ssp(replace(resolved, connections=connections), out)
    package = Package(out)
    package.validate(schemas)
    (mt,) = list(package.connection("g1.n_out", "g2.n_in"))
    assert etree.QName(mt).localname == "BooleanMappingTransformation"
    entries = [(e.get("source"), e.get("target")) for e in mt.iterfind("ssc:MapEntry", NS)]
    assert entries == [("true", "false"), ("false", "true")]
    (w,) = warnings  # the pair 2 -> true is no Boolean pair
    assert "mapping 2 -> True" in w.message and "left out" in w.message


def test_different_fmus_of_one_file_name_get_different_files(tmp_path, schemas):
    path = tmp_path / "two.yaml"
    path.write_text(
        "simulation: {stop: 0.1, step: 0.1}\n"
        "components:\n  a: {fmu: Mass1}\n  b: {fmu: fmi3/Mass1}\n  c: {fmu: Mass1}\n"
    )
    package, _ = export(cosim.load(path), tmp_path)
    package.validate(schemas)
    sources = {name: c.get("source") for name, c in package.components().items()}
    assert sources == {
        "a": "resources/Mass1.fmu",
        "b": "resources/Mass1_2.fmu",
        "c": "resources/Mass1.fmu",
    }
    assert package.files["resources/Mass1.fmu"] == (REPO / "fmus/Mass1.fmu").read_bytes()
    assert package.files["resources/Mass1_2.fmu"] == (REPO / "fmus/fmi3/Mass1.fmu").read_bytes()


def test_enumerations_are_declared_and_mapped_by_item_name(wiring, tmp_path, schemas):
    # no bundled FMU has an Enumeration: Gain's n_in / n_out are re-declared as the enumeration
    # Level (idle=3, slow=4, fast=30, top=40) in the resolved system, to check the rendering
    from dataclasses import replace
    from types import SimpleNamespace

    level = SimpleNamespace(
        name="Level",
        items=[SimpleNamespace(name=n, value=str(v)) for n, v in
               (("idle", 3), ("slow", 4), ("fast", 30), ("top", 40))],
    )  # fmt: skip
    resolved = wiring.resolved
    retyped = ("n_in", "n_out")

    def enum(var):
        return replace(var, fmi_type="Enumeration") if var.name in retyped else var

    components = []
    for comp in resolved.components:
        if comp.name not in ("g1", "g2"):
            components.append(comp)
            continue
        md = comp.model_description
        fake = SimpleNamespace(
            modelVariables=[
                SimpleNamespace(name=v.name, declaredType=level if v.name in retyped else None)
                for v in md.modelVariables
            ],
            unitDefinitions=md.unitDefinitions,
        )
        components.append(
            replace(
                comp,
                model_description=fake,
                variables={n: enum(v) for n, v in comp.variables.items()},
                start_values=tuple((enum(v), x) for v, x in comp.start_values),
            )
        )
    connections = tuple(
        replace(c, source=enum(c.source), target=enum(c.target)) for c in resolved.connections
    )
    out = tmp_path / "e.ssp"
    warnings = write_ssp(
        replace(resolved, components=tuple(components), connections=connections), out
    )
    assert warnings == []
    package = Package(out)
    package.validate(schemas)
    (declared,) = package.ssd.iterfind("ssd:Enumerations/ssc:Enumeration", NS)
    assert declared.get("name") == "Level"
    items = [(i.get("name"), i.get("value")) for i in declared.iterfind("ssc:Item", NS)]
    assert items == [("idle", "3"), ("slow", "4"), ("fast", "30"), ("top", "40")]
    for comp, name in (("g1", "n_out"), ("g2", "n_in")):
        typed = package.connector(comp, name).find("ssc:Enumeration", NS)
        assert typed.get("name") == "Level"
    (mt,) = list(package.connection("g1.n_out", "g2.n_in"))
    assert etree.QName(mt).localname == "EnumerationMappingTransformation"
    entries = [(e.get("source"), e.get("target")) for e in mt.iterfind("ssc:MapEntry", NS)]
    assert entries == [("idle", "fast"), ("slow", "top")]  # 3 -> 30, 4 -> 40
    assert package.parameters()["g1.n_in"] == ("Enumeration", "idle")  # 3
    (ssv,) = package.ssvs.values()
    assert ssv.find("ssv:Enumerations/ssc:Enumeration", NS).get("name") == "Level"


def test_unit_conversion_false_is_suppress_unit_conversion(tmp_path, schemas):
    path = tmp_path / "raw.yaml"
    path.write_text(
        "simulation: {stop: 0.1, step: 0.1}\n"
        "components:\n  vehicle: {fmu: Vehicle}\n  driver: {fmu: Driver}\n"
        "connections:\n"
        "  - {from: vehicle.v_kmh, to: driver.v, unit_conversion: false}\n"
        "  - {from: vehicle.v_kmh, to: driver.v_ref_in}\n"
    )
    system = cosim.load(path)
    package, warnings = export(system, tmp_path)
    package.validate(schemas)
    assert warnings == []
    assert package.connection("vehicle.v_kmh", "driver.v").get("suppressUnitConversion") == "true"
    assert (
        package.connection("vehicle.v_kmh", "driver.v_ref_in").get("suppressUnitConversion") is None
    )
    # read back: the first passes km/h values unconverted, the second converts to m/s
    back = {
        c.target.name: (c.gain, c.offset)
        for c in cosim.load(tmp_path / "out.ssp").resolved.connections
    }
    assert back["v"] == (1.0, 0.0)
    assert back["v_ref_in"][0] == pytest.approx(1 / 3.6, rel=1e-15)
