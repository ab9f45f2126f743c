"""Write a resolved system as a standard SSP 1.0 package (.ssp), warning about what SSP cannot hold.

The package holds, for a system with components c1, c2 ...::

    SystemStructure.ssd         ssd:SystemStructureDescription version="1.0": one ssd:System with
                                its components, connectors, connections (with transformations),
                                the parameter binding, units, enumerations, default experiment
                                and cosim's own annotations (type "org.cosim")
    resources/<system>.ssv      ssv:ParameterSet: every value of `components.<c>.parameters`,
                                named `<c>.<variable>` (bound once, at system level)
    resources/<fmu file>.fmu    each FMU's bytes, one file per distinct FMU

The same system gives the same bytes: zip entries in a fixed order with fixed timestamps and
permissions, XML attributes in a fixed order, nothing taken from the clock or the machine.
Whatever SSP 1.0 has no element for, and cosim's annotation does not carry, comes back as a
warning Problem naming it (nothing is dropped silently).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lxml import etree

from cosim.errors import ConfigError, Location, Problem
from cosim.io.locate import Locator, sort_problems
from cosim.model.spec import (
    LoopSolverSpec,
    ResolvedComponent,
    ResolvedConnection,
    ResolvedSystem,
    Value,
    VariableInfo,
)
from cosim.ssp.names import (
    COSIM,
    COSIM_ANNOTATION,
    DEFAULT_SSD,
    FMU_TYPE,
    SSC,
    SSD,
    SSV,
    SSV_TYPE,
)

SSP_VERSION = "1.0"
# a fixed time for every zip entry (the earliest a zip can hold), so equal input, equal bytes
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
BASE_UNITS = ("kg", "m", "s", "A", "K", "mol", "cd", "rad")  # ssc:BaseUnit attributes, in order
INT32 = (-(2**31), 2**31 - 1)  # xs:int, SSP 1.0's Integer value and enumeration item value

# FMI causality -> ssd:Connector kind (FMI 3.0 structural parameters are parameters in SSP 1.0)
_KIND = {
    "input": "input",
    "output": "output",
    "parameter": "parameter",
    "structuralParameter": "parameter",
    "calculatedParameter": "calculatedParameter",
}
# FMI type -> ssc type element
_REAL = ("Real", "Float64", "Float32")
_INTEGER = ("Integer", *(f"{u}Int{n}" for u in ("", "U") for n in (8, 16, 32, 64)))

_SSD = f"{{{SSD}}}"
_SSC = f"{{{SSC}}}"
_SSV = f"{{{SSV}}}"
_COSIM = f"{{{COSIM}}}"


# --------------------------------------------------------------------------- public
def write_ssp(system: ResolvedSystem, out: Path, *, overwrite: bool = False) -> list[Problem]:
    """Write `system` as the SSP 1.0 package `out`; returns warnings about what was left out.

    Raises ConfigError when `out` does not end in `.ssp`, exists (unless `overwrite`), or an
    FMU cannot be read. The file is written next to `out` and moved into place, so a failed
    export never leaves half a package.
    """
    out = Path(out)
    if out.suffix.lower() != ".ssp":
        raise ConfigError(
            Problem(
                Location(str(out)),
                f"the SSP package must be a file ending in .ssp, got {out.name!r}",
                f"write to {out.with_suffix('.ssp').name}",
            )
        )
    if out.is_dir():
        raise ConfigError(Problem(Location(str(out)), "is a folder", "name an .ssp file"))
    if out.exists() and not overwrite:
        raise ConfigError(
            Problem(
                Location(str(out)),
                "the output file exists already",
                "pass --force (overwrite=True) to replace it, or choose another name",
            )
        )
    package, warnings = build_package(system)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(package)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return warnings


def build_package(system: ResolvedSystem) -> tuple[bytes, list[Problem]]:
    """The .ssp archive's bytes and the export warnings (what SSP 1.0 cannot express)."""
    w = _Writer(system)
    ssd = w.ssd()
    entries: list[tuple[str, bytes]] = [(DEFAULT_SSD, _xml(ssd))]
    if w.ssv_root is not None:
        entries.append((w.ssv_name, _xml(w.ssv_root)))
    entries += sorted(w.fmu_files.items())
    return _zip(entries), sort_problems(w.warnings)


def safe_name(name: str, default: str = "system") -> str:
    """A file name made of letters, digits, `_`, `-` and `.` only (never empty or hidden)."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or default
    return text[:100]


# --------------------------------------------------------------------------- the writer
class _Writer:
    def __init__(self, system: ResolvedSystem) -> None:
        self.system = system
        self.spec = system.spec
        # name the file as the system's own problems do (as given on the command line)
        sim_loc = self.spec.simulation.loc
        self.file = sim_loc.file if sim_loc is not None else str(self.spec.path)
        self.warnings: list[Problem] = []
        self._locator: Locator | None = None
        self.fmu_files: dict[str, bytes] = {}  # archive name -> bytes
        self.fmu_names: dict[str, str] = {}  # sha256 of the bytes -> archive name
        self.units: dict[str, tuple[tuple[int, ...], float, float]] = {}  # name -> definition
        self.unit_owner: dict[str, str] = {}  # unit name -> the component that defined it
        self.undefined_units: dict[str, str] = {}  # unit name -> first user (for the warning)
        self.enumerations: dict[str, list[tuple[str, int]]] = {}  # type name -> items
        self.ssv_root: Any = None
        self.ssv_name = f"resources/{safe_name(self.spec.name)}.ssv"

    # -- warnings
    def warn(self, loc: Location | None, message: str, hint: str = "") -> None:
        self.warnings.append(Problem(loc or Location(self.file), message, hint, "warning"))

    def where(self, *path: str | int) -> Location:
        """file:line:col of a YAML key (the file itself when the system is not from YAML)."""
        if self._locator is None:
            self._locator = Locator(self.spec.text if _is_yaml(self.spec.path) else None, self.file)
        return self._locator.key(*path)

    def left_out(self, loc: Location | None, what: str, hint: str = "") -> None:
        self.warn(loc, f"{what}: not expressible in SSP 1.0; left out", hint)

    # -- the whole description
    def ssd(self) -> Any:
        spec = self.spec
        connectors = self.collect_connectors()
        root = etree.Element(_SSD + "SystemStructureDescription", nsmap={"ssd": SSD, "ssc": SSC})
        root.set("version", SSP_VERSION)
        root.set("name", spec.name)
        if spec.description:
            root.set("description", spec.description)
        root.set("generationTool", "cosim")
        sys_el = etree.SubElement(root, _SSD + "System", name=spec.name)
        if spec.description:
            sys_el.set("description", spec.description)
        elements = etree.SubElement(sys_el, _SSD + "Elements")
        for comp in self.system.components:
            self.component(elements, comp, connectors[comp.name])
        if self.system.connections:
            conns = etree.SubElement(sys_el, _SSD + "Connections")
            for conn in self.system.connections:  # as written: one per input
                self.connection(conns, conn)
        parameters = self.parameters()
        if parameters:  # TElement's ParameterBindings come before TSystem's Elements
            bindings = etree.Element(_SSD + "ParameterBindings")
            etree.SubElement(
                bindings, _SSD + "ParameterBinding", type=SSV_TYPE, source=self.ssv_name
            )
            sys_el.insert(0, bindings)
            self.ssv_root = self.ssv(parameters)
        self.arrays(connectors, parameters)
        self.simulation_annotation(sys_el)
        if self.enumerations:
            root.append(_enumerations(_SSD, self.enumerations))
        if self.units:
            root.append(self.units_element(_SSD, self.units))
        for name in sorted(self.undefined_units):
            self.warn(
                None,
                f"unit '{name}' (of {self.undefined_units[name]}) has no BaseUnit definition in "
                "the FMUs: ssd:Units leaves it out",
                "an SSP tool may then refuse or not convert connections with this unit; "
                "declare it in the FMU's UnitDefinitions",
            )
        sim = spec.simulation
        etree.SubElement(
            root,
            _SSD + "DefaultExperiment",
            startTime=_double(sim.start),
            stopTime=_double(sim.stop),
        )
        self.unsupported()
        return root

    # -- connectors
    def collect_connectors(self) -> dict[str, dict[str, VariableInfo]]:
        """Per component: every input and output, every parameter the system sets, and every
        variable a connection, record or event names (when SSP has a kind for it)."""
        named: dict[str, set[str]] = {c.name: set() for c in self.system.components}
        for comp in self.system.components:
            for var, _ in comp.start_values:
                named[comp.name].update(_elements(comp, var))
        by_index = {c.index: c for c in self.system.components}
        for conn in self.system.connections:
            named[by_index[conn.source_component].name].add(conn.source.name)
            named[by_index[conn.target_component].name].add(conn.target.name)
        for rec in self.system.records:
            named[by_index[rec.component].name].add(rec.variable.name)
        for ev in self.system.events:
            named[by_index[ev.component].name].add(ev.variable.name)
        out: dict[str, dict[str, VariableInfo]] = {}
        for comp in self.system.components:
            out[comp.name] = {
                name: var
                for name, var in comp.variables.items()
                if var.causality in _KIND
                and (var.causality in ("input", "output") or name in named[comp.name])
            }
        return out

    def component(
        self, parent: Any, comp: ResolvedComponent, connectors: Mapping[str, VariableInfo]
    ) -> None:
        source = self.fmu_file(comp)
        el = etree.SubElement(parent, _SSD + "Component", name=comp.name)
        el.set("type", FMU_TYPE)
        el.set("source", source)
        if comp.spec.interface is not None:
            el.set("implementation", "ModelExchange" if comp.interface == "me" else "CoSimulation")
        if connectors:
            cons = etree.SubElement(el, _SSD + "Connectors")
            for name, var in connectors.items():
                con = etree.SubElement(
                    cons, _SSD + "Connector", name=name, kind=_KIND[var.causality]
                )
                if var.description:
                    con.set("description", var.description)
                self.type_element(con, comp, var)
        self.component_annotation(el, comp)

    def type_element(self, parent: Any, comp: ResolvedComponent, var: VariableInfo) -> None:
        """A connector's ssc type: Real (with its unit), Integer, Boolean, String, Enumeration."""
        if var.fmi_type in _REAL:
            el = etree.SubElement(parent, _SSC + "Real")
            if var.unit:
                el.set("unit", var.unit)
                self.use_unit(comp, var.unit, f"{comp.name}.{var.name}")
        elif var.fmi_type == "Enumeration":
            name = self.enumeration(comp, var)
            if name is None:
                etree.SubElement(parent, _SSC + "Integer")
            else:
                etree.SubElement(parent, _SSC + "Enumeration", name=name)
        elif var.fmi_type in _INTEGER:
            etree.SubElement(parent, _SSC + "Integer")
        elif var.fmi_type == "Boolean":
            etree.SubElement(parent, _SSC + "Boolean")
        elif var.fmi_type == "String":
            etree.SubElement(parent, _SSC + "String")

    # -- FMUs
    def fmu_file(self, comp: ResolvedComponent) -> str:
        """`resources/<file>.fmu` holding the component's FMU (one file per distinct FMU)."""
        data = _fmu_bytes(comp.fmu_path)
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.fmu_names:
            return self.fmu_names[digest]
        stem = safe_name(Path(comp.fmu_path).stem, default=comp.name)
        name, k = f"resources/{stem}.fmu", 1
        while name in self.fmu_files:
            k += 1
            name = f"resources/{stem}_{k}.fmu"
        self.fmu_files[name] = data
        self.fmu_names[digest] = name
        return name

    # -- units and enumerations
    def use_unit(self, comp: ResolvedComponent, unit: str, user: str) -> None:
        definitions = _unit_definitions(comp.model_description)
        if unit not in definitions:
            if unit not in self.units:
                self.undefined_units.setdefault(unit, user)
            return
        self.undefined_units.pop(unit, None)
        if unit not in self.units:
            self.units[unit] = definitions[unit]
            self.unit_owner[unit] = comp.name
        elif self.units[unit] != definitions[unit]:
            self.warn(
                comp.spec.fmu_loc or comp.spec.loc,
                f"unit '{unit}' is defined differently by {self.unit_owner[unit]} and "
                f"{comp.name}: ssd:Units keeps the definition of {self.unit_owner[unit]}",
                "SSP has one unit table per file; give the differing units different names",
            )

    def units_element(self, ns: str, units: Mapping[str, tuple[tuple[int, ...], float, float]]):
        el = etree.Element(ns + "Units")
        for name in sorted(units):
            exps, factor, offset = units[name]
            unit = etree.SubElement(el, _SSC + "Unit", name=name)
            base = etree.SubElement(unit, _SSC + "BaseUnit")
            for b, e in zip(BASE_UNITS, exps, strict=True):
                if e:
                    base.set(b, str(e))
            if factor != 1.0:
                base.set("factor", _double(factor))
            if offset != 0.0:
                base.set("offset", _double(offset))
        return el

    def enumeration(self, comp: ResolvedComponent, var: VariableInfo) -> str | None:
        """The name of the variable's enumeration type (registered for ssd:Enumerations)."""
        declared = _declared_type(comp, var)
        items = _items(declared)
        if declared is None or not declared.name or not items:
            self.warn(
                comp.spec.fmu_loc or comp.spec.loc,
                f"{comp.name}.{var.name} is an Enumeration without readable items: written as "
                "an ssc:Integer connector",
            )
            return None
        name = str(declared.name)
        if name in self.enumerations and self.enumerations[name] != items:
            name = f"{comp.name}.{name}"  # another FMU's enumeration of the same name
        self.enumerations[name] = items
        return name

    # -- connections
    def connection(self, parent: Any, conn: ResolvedConnection) -> None:
        comps = self.system.components
        src, dst = comps[conn.source_component], comps[conn.target_component]
        el = etree.SubElement(parent, _SSD + "Connection")
        el.set("startElement", src.name)
        el.set("startConnector", conn.source.name)
        el.set("endElement", dst.name)
        el.set("endConnector", conn.target.name)
        spec = conn.spec
        label = f"connection {src.name}.{conn.source.name} -> {dst.name}.{conn.target.name}"
        loc = spec.loc if spec is not None else None
        gain, offset = (spec.gain, spec.offset) if spec is not None else (conn.gain, conn.offset)
        units = conn.source.unit, conn.target.unit
        if (
            units[0]
            and units[1]
            and units[0] != units[1]
            and (conn.gain, conn.offset)
            == (
                gain,
                offset,
            )
        ):
            # cosim passes this value unconverted (same scale, or a unit it cannot convert)
            el.set("suppressUnitConversion", "true")
        if spec is not None and spec.mapping:
            self.mapping(el, src, dst, conn, label, loc)
            if (gain, offset) != (1.0, 0.0):
                self.left_out(loc, f"{label}: gain and offset beside a mapping")
        elif (gain, offset) != (1.0, 0.0):
            lt = etree.SubElement(el, _SSC + "LinearTransformation")
            lt.set("factor", _double(gain))
            lt.set("offset", _double(offset))
        if spec is not None and spec.convert:
            self.left_out(
                loc,
                f"{label}: convert: {spec.convert} (Real to Integer)",
                "an SSP tool converts by its own rule; cosim reading this package back refuses "
                "the connection until convert is added again",
            )
        if spec is not None and spec.extrapolation is not None:
            self.left_out(
                loc,
                f"{label}: extrapolation: {spec.extrapolation}",
                "the package keeps simulation.extrapolation (cosim annotation) for every "
                "connection",
            )

    def mapping(
        self,
        el: Any,
        src: ResolvedComponent,
        dst: ResolvedComponent,
        conn: ResolvedConnection,
        label: str,
        loc: Location | None,
    ) -> None:
        pairs = conn.spec.mapping if conn.spec is not None else ()
        target = conn.target
        if target.fmi_type == "Boolean":
            tag, convert = "BooleanMappingTransformation", _boolean_text
        elif target.fmi_type == "Enumeration":
            tag = "EnumerationMappingTransformation"
            src_items = {v: n for n, v in _items(_declared_type(src, conn.source))}
            dst_items = {v: n for n, v in _items(_declared_type(dst, target))}
            entries = []
            for a, b in pairs:
                names = _item_name(a, src_items), _item_name(b, dst_items)
                if None in names:
                    self.left_out(
                        loc, f"{label}: mapping {a!r} -> {b!r} (no such enumeration item)"
                    )
                    continue
                entries.append(names)
            _map_entries(el, tag, entries)
            return
        elif target.fmi_type in _INTEGER:
            tag, convert = "IntegerMappingTransformation", _int32_text
        else:
            self.left_out(loc, f"{label}: mapping of {target.fmi_type} values")
            return
        entries = []
        for a, b in pairs:
            texts = convert(a), convert(b)
            if None in texts:
                self.left_out(loc, f"{label}: mapping {a!r} -> {b!r} (not a {target.fmi_type})")
                continue
            entries.append(texts)
        _map_entries(el, tag, entries)

    # -- parameters
    def parameters(self) -> list[tuple[ResolvedComponent, VariableInfo, Value]]:
        """Every value of `parameters:`, element by element for arrays, in system order."""
        out = []
        for comp in self.system.components:
            for var, value in comp.start_values:
                elements = _elements(comp, var)
                values = value if isinstance(value, tuple) else (value,)
                for name, item in zip(elements, values, strict=False):
                    out.append((comp, comp.variables[name], item))
        return out

    def arrays(
        self,
        connectors: Mapping[str, Mapping[str, VariableInfo]],
        parameters: Iterable[tuple[ResolvedComponent, VariableInfo, Value]],
    ) -> None:
        """One warning per FMI 3.0 array the package names element by element."""
        found: dict[tuple[str, str], str] = {}  # (component, array) -> its first element
        for comp in self.system.components:
            for var in connectors[comp.name].values():
                if var.array:
                    found.setdefault((comp.name, var.array), var.name)
        for comp, var, _ in parameters:
            if var.array:
                found.setdefault((comp.name, var.array), var.name)
        by_name = {c.name: c for c in self.system.components}
        for (name, array), first in found.items():
            spec = by_name[name].spec
            self.warn(
                spec.parameter_locs.get(array) or spec.fmu_loc or spec.loc,
                f"{name}.{array}: an FMI 3.0 array, written element by element as cosim names "
                f"them ({first}, ...)",
                "SSP 1.0 has no arrays: another SSP tool finds no FMU variable of these names",
            )

    def ssv(self, parameters: Iterable[tuple[ResolvedComponent, VariableInfo, Value]]) -> Any:
        root = etree.Element(_SSV + "ParameterSet", nsmap={"ssv": SSV, "ssc": SSC})
        root.set("version", SSP_VERSION)
        root.set("name", self.spec.name)
        root.set("generationTool", "cosim")
        params = etree.SubElement(root, _SSV + "Parameters")
        units: dict[str, tuple[tuple[int, ...], float, float]] = {}
        enums: dict[str, list[tuple[str, int]]] = {}
        for comp, var, value in parameters:
            name = f"{comp.name}.{var.name}"
            loc = comp.spec.parameter_locs.get(var.name) or comp.spec.parameter_locs.get(
                var.array, comp.spec.loc
            )
            typed = self.parameter_value(comp, var, value, name, loc)
            if typed is None:
                continue
            tag, attrs = typed
            p = etree.SubElement(params, _SSV + "Parameter", name=name)
            etree.SubElement(p, _SSV + tag, attrs)
            unit = attrs.get("unit")
            if unit and unit in self.units:
                units[unit] = self.units[unit]
            enum = attrs.get("name") if tag == "Enumeration" else None
            if enum and enum in self.enumerations:
                enums[enum] = self.enumerations[enum]
        if enums:
            root.append(_enumerations(_SSV, enums))
        if units:
            root.append(self.units_element(_SSV, units))
        return root

    def parameter_value(
        self, comp: ResolvedComponent, var: VariableInfo, value: Value, name: str, loc: Any
    ) -> tuple[str, dict[str, str]] | None:
        """(ssv type element, its attributes) for one value (None: left out, warned)."""
        if var.fmi_type in _REAL:
            attrs = {"value": _double(float(value))}
            if var.unit:
                attrs["unit"] = var.unit
                self.use_unit(comp, var.unit, name)
            return "Real", attrs
        if var.fmi_type == "Enumeration":
            enum = self.enumeration(comp, var)
            items = {v: n for n, v in self.enumerations.get(enum or "", [])}
            if enum is not None and isinstance(value, int) and value in items:
                return "Enumeration", {"value": items[value], "name": enum}
            self.left_out(loc, f"{name} = {value!r}: no item of its enumeration has this value")
            return None
        if var.fmi_type in _INTEGER:
            text = _int32_text(value)
            if text is None:
                self.left_out(
                    loc,
                    f"{name} = {value!r}: beyond the 32-bit Integer of SSP 1.0",
                    f"{var.fmi_type} values outside -2147483648..2147483647 need SSP 2.0",
                )
                return None
            return "Integer", {"value": text}
        if var.fmi_type == "Boolean":
            return "Boolean", {"value": "true" if value else "false"}
        if var.fmi_type == "String":
            return "String", {"value": str(value)}
        self.left_out(loc, f"{name}: a {var.fmi_type} value")
        return None

    # -- cosim's annotations
    def simulation_annotation(self, sys_el: Any) -> None:
        sim = self.spec.simulation
        attrs = {"step": _double(sim.step), "algorithm": sim.algorithm}
        attrs["extrapolation"] = sim.extrapolation
        if sim.tolerance is not None:
            attrs["tolerance"] = _double(sim.tolerance)
        _annotation(sys_el, "Simulation", attrs)

    def component_annotation(self, el: Any, comp: ResolvedComponent) -> None:
        spec = comp.spec
        attrs: dict[str, str] = {}
        if spec.step is not None:
            attrs["step"] = _double(spec.step)
        if spec.interface is not None:
            attrs["interface"] = spec.interface
        if spec.solver is not None:
            attrs["solver"] = spec.solver
        if spec.tolerance is not None:
            attrs["tolerance"] = _double(spec.tolerance)
        if spec.max_step is not None:
            attrs["max_step"] = _double(spec.max_step)
        if attrs:
            _annotation(el, "Component", attrs)

    # -- what SSP 1.0 and the annotation cannot hold
    def unsupported(self) -> None:
        spec = self.spec
        sim = spec.simulation
        if spec.events:
            n = len(spec.events)
            self.left_out(
                spec.events[0].loc or self.where("events"),
                f"events ({n} timed change{'s' if n != 1 else ''})",
                "SSP 1.0 has no scenarios; keep the events in the YAML or apply them with "
                "the SSP tool's own scenario format",
            )
        record = spec.record
        if record.variables is not None or record.interval is not None:
            what = []
            if record.variables is not None:
                what.append(f"the list of {len(record.variables)} recorded variables")
            if record.interval is not None:
                what.append(f"interval {record.interval:g} s")
            self.left_out(
                record.loc or self.where("record"),
                "record (" + ", ".join(what) + ")",
                "cosim records every output at every step of a system read from SSP",
            )
        if sim.realtime is not None:
            self.left_out(
                self.where("simulation", "realtime"), f"simulation.realtime ({sim.realtime:g})"
            )
        if sim.step_control is not None:
            self.left_out(
                sim.step_control.loc or self.where("simulation", "step_control"),
                "simulation.step_control",
                "the package runs with the fixed communication step of the cosim annotation",
            )
        if sim.algebraic_loops is not None:
            self.left_out(
                self.where("simulation", "algebraic_loops"),
                f"simulation.algebraic_loops ({sim.algebraic_loops})",
            )
        if sim.loop_solver != LoopSolverSpec():
            self.left_out(self.where("simulation", "loop_solver"), "simulation.loop_solver")
        tables = getattr(spec, "inputs", ())
        if tables and "inputs" not in spec.extra:
            n = len(tables)
            self.left_out(
                tables[0].loc or self.where("inputs"),
                f"inputs ({n} table{'s' if n != 1 else ''} driving inputs)",
                "SSP 1.0 has no input tables; keep them in the YAML",
            )
        for key in sorted(spec.extra):
            self.left_out(self.where(key), f"the {key} section", _SECTION_HINTS.get(key, ""))


_SECTION_HINTS = {
    "opcua": "the live twin's OPC UA links stay in the YAML",
    "plant": "the plant simulator's section stays in the YAML",
    "regression": "the reference comparison of `cosim test` stays in the YAML",
    "sweep": "run the parameter study from the YAML",
}


# --------------------------------------------------------------------------- helpers
def _is_yaml(path: Path) -> bool:
    return Path(path).suffix.lower() in (".yaml", ".yml")


def _annotation(parent: Any, tag: str, attrs: Mapping[str, str]) -> None:
    """<ssd:Annotations><ssc:Annotation type="org.cosim"><cosim:TAG .../></...></...>."""
    annotations = etree.SubElement(parent, _SSD + "Annotations")
    annotation = etree.SubElement(annotations, _SSC + "Annotation", type=COSIM_ANNOTATION)
    etree.SubElement(annotation, _COSIM + tag, dict(attrs), nsmap={"cosim": COSIM})


def _map_entries(el: Any, tag: str, entries: list[tuple[str, str]]) -> None:
    """<ssc:TAG><ssc:MapEntry source target/>...</ssc:TAG> (nothing for no entries)."""
    if entries:
        mt = etree.SubElement(el, _SSC + tag)
        for a, b in entries:
            etree.SubElement(mt, _SSC + "MapEntry", source=a, target=b)


def _enumerations(ns: str, enums: Mapping[str, list[tuple[str, int]]]) -> Any:
    el = etree.Element(ns + "Enumerations")
    for name in sorted(enums):
        enum = etree.SubElement(el, _SSC + "Enumeration", name=name)
        for item, value in enums[name]:
            etree.SubElement(enum, _SSC + "Item", name=item, value=str(value))
    return el


def _elements(comp: ResolvedComponent, var: VariableInfo) -> list[str]:
    """The variable's name, or for an array's first element every element's name in order."""
    if not var.array:
        return [var.name]
    siblings = [v for v in comp.variables.values() if v.array == var.array]
    return [v.name for v in sorted(siblings, key=lambda v: v.element)]


def _declared_type(comp: ResolvedComponent, var: VariableInfo) -> Any:
    name = var.array or var.name
    for v in getattr(comp.model_description, "modelVariables", None) or ():
        if v.name == name:
            return v.declaredType
    return None


def _items(declared: Any) -> list[tuple[str, int]]:
    """An enumeration type's (item name, value) pairs, in declared order."""
    out = []
    for item in getattr(declared, "items", None) or ():
        try:
            out.append((str(item.name), int(str(item.value))))
        except (TypeError, ValueError):
            continue
    return out


def _unit_definitions(md: Any) -> dict[str, tuple[tuple[int, ...], float, float]]:
    """Unit name -> (BaseUnit exponents, factor, offset), for the units the FMU defines."""
    out = {}
    for unit in getattr(md, "unitDefinitions", None) or ():
        base = getattr(unit, "baseUnit", None)
        if unit.name and base is not None:
            exps = tuple(int(getattr(base, b, 0) or 0) for b in BASE_UNITS)
            out[str(unit.name)] = (exps, float(base.factor), float(base.offset))
    return out


def _item_name(value: Any, items: Mapping[int, str]) -> str | None:
    if isinstance(value, str):
        return value if value in items.values() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return items.get(value)
    return None


def _boolean_text(value: Any) -> str | None:
    return ("true" if value else "false") if isinstance(value, bool) else None


def _int32_text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    n = int(value)
    return str(n) if INT32[0] <= n <= INT32[1] else None


def _double(x: float) -> str:
    """xs:double text that reads back to the same float (shortest repr; INF, -INF, NaN)."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "INF" if x > 0 else "-INF"
    return repr(x)


def _xml(root: Any) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _fmu_bytes(path: Path) -> bytes:
    """The FMU file's bytes; an unpacked FMU folder zipped (sorted entries, fixed times)."""
    path = Path(path)
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            return _zip([(p.relative_to(path).as_posix(), p.read_bytes()) for p in files])
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            Problem(Location(str(path)), f"cannot read the FMU: {exc.strerror or exc}")
        ) from None


def _zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of (name, bytes) in the order given, byte-identical for identical entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system = 3  # unix, everywhere: the permissions below are unix ones
            info.external_attr = 0o644 << 16
            stored = name.lower().endswith(".fmu")  # already compressed
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=None if stored else 9)
    return buffer.getvalue()


__all__ = ["SSP_VERSION", "build_package", "safe_name", "write_ssp"]
