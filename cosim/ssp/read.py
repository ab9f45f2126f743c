"""Read an SSP package (.ssp archive or bare .ssd) into a SystemSpec, with file:line problems.

The system hierarchy is flattened: every FMU component becomes one cosim component named by
its path below the root system (sanitized, joined with `_`), and every chain of connections
through system connectors becomes one direct component-to-component connection whose
transformations (and unit conversions) are composed into one gain/offset or value mapping.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cosim.errors import ConfigError, Location, Problem
from cosim.io.locate import did_you_mean, listing, sort_problems, unreadable
from cosim.io.yaml import apply_overrides
from cosim.model.spec import (
    ComponentSpec,
    ConnectionSpec,
    SimulationSpec,
    SystemSpec,
    Value,
    VarRef,
    to_ticks,
)
from cosim.ssp import names
from cosim.ssp.read_params import (
    INTEGER_TYPES,
    REAL_TYPES,
    TRANSFORMS,
    ParamValue,
    Transform,
    read_enumerations,
    read_mapping,
    read_parameter_set,
    read_transform,
)
from cosim.ssp.read_units import Unit, UnitError, conversion, fmu_units, read_units
from cosim.ssp.read_xml import (
    MAX_XML_BYTES,
    Report,
    XmlFile,
    boolean,
    children,
    kind_of,
    local,
    namespace,
    number,
    parse_xml,
    required,
    unknown_child,
)

SSP_SUFFIXES = (".ssp", ".ssd")
MAX_DEPTH = 16  # nested systems / referenced SSDs deeper than this are refused (cycles)

SOURCE_KINDS = ("output", "calculatedParameter", "local", "constant")
SINK_KINDS = ("input", "parameter", "structuralParameter")
KINDS = (*SOURCE_KINDS, *SINK_KINDS, "inout", "unspecified")
TYPE_KIND = {
    **{t: "real" for t in REAL_TYPES},
    **{t: "integer" for t in INTEGER_TYPES},
    "Boolean": "boolean",
    "String": "string",
    "Enumeration": "enumeration",
    "Binary": "binary",
    "Clock": "clock",
}
_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_ssp(path: str | Path) -> bool:
    """Whether `path` names an SSP package (.ssp) or a bare system structure description (.ssd)."""
    return Path(path).suffix.lower() in SSP_SUFFIXES


def sanitize(name: str) -> str:
    """An SSP element name as a cosim identifier: invalid characters -> `_`, no leading digit."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    return "_" + text if text[0].isdigit() else text


# --------------------------------------------------------------------------- the tree as read
@dataclass
class Connector:
    name: str
    kind: str
    type: str | None  # the SSP type element's name (Real, Float64, ..., Enumeration) or None
    unit: str | None
    enum: str | None
    loc: Location
    units: dict[str, Unit]  # the file's ssc:Units
    enums: dict[str, dict[str, int]]  # the file's ssc:Enumerations


@dataclass
class Connection:
    start: tuple[str | None, str]  # (element or None for the system itself, connector)
    end: tuple[str | None, str]
    transform: Transform | None
    suppress_units: bool
    loc: Location
    start_loc: Location
    end_loc: Location


@dataclass
class Binding:
    node: Element
    x: XmlFile
    el: Any
    base: Path  # the folder relative URIs start from
    order: int


@dataclass
class Element:
    """A system or an FMU component of the hierarchy (path: names below the root system)."""

    kind: str  # "system" | "component"
    name: str
    path: tuple[str, ...]
    x: XmlFile
    el: Any
    loc: Location
    connectors: dict[str, Connector] = field(default_factory=dict)
    children: dict[str, Element] = field(default_factory=dict)
    connections: list[Connection] = field(default_factory=list)
    # component
    fmu: Path | None = None
    fmu_loc: Location | None = None
    interface: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # step, solver, tolerance, ...
    setting_locs: dict[str, Location] = field(default_factory=dict)
    # system: a step (s) that a tool's annotation gives it, and where it came from
    step: float | None = None
    step_from: str = ""
    me: dict[str, Any] | None = None  # OMSimulator VariableStepSolver: components run as ME

    @property
    def dotted(self) -> str:
        return ".".join(self.path) or "(the root system)"


class _Variables(dict):
    """An FMU's variables by name; an element of an FMI 3.0 array (`y[2]`, `A[1,3]`, the
    names cosim gives elements) finds its array variable."""

    def _base(self, name: object) -> Any:
        if not isinstance(name, str) or not name.endswith("]") or "[" not in name:
            return None
        var = dict.get(self, name[: name.index("[")])
        return var if var is not None and getattr(var, "dimensions", None) else None

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or self._base(name) is not None

    def __getitem__(self, name: Any) -> Any:
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        base = self._base(name)
        if base is None:
            raise KeyError(name)
        return base

    def get(self, name: Any, default: Any = None) -> Any:
        return self[name] if name in self else default  # noqa: SIM401 (this is .get)


@dataclass
class FmuInfo:
    """What the reader needs from one FMU's model description."""

    variables: dict[str, Any]
    units: dict[str, Unit]
    step: float | None
    stop: float | None


# --------------------------------------------------------------------------- the reader
class _Reader:
    def __init__(self, path: Path, shown: str, step: float | None) -> None:
        self.path = path
        self.shown = shown  # the path as the user gave it
        self.report = Report()
        self.cli_step = step
        self.notes: list[str] = []
        self.root_dir: Path | None = None  # the unpacked package (None for a bare .ssd)
        self.root_shown = shown  # how messages name the package being read
        self.order = 0
        self.bindings: list[Binding] = []
        self.fmus: dict[Path, FmuInfo | None] = {}
        self.sim: dict[str, Any] = {}  # cosim:Simulation attributes
        self.sim_locs: dict[str, Location] = {}
        self.start: float | None = None
        self.stop: float | None = None
        self.experiment_loc: Location | None = None
        self.osp_step: tuple[float, Location] | None = None
        self.ssd_text = ""
        self.sha = ""
        self.missing: set[str] = set()
        self.top_pending = True  # reading the top-level .ssd (not a referenced one)
        self.warned: set[tuple] = set()
        self.name = path.stem
        self.description = ""

    # -- files
    def display(self, real: Path) -> str:
        """The name messages give a file: `<package>.ssp!/<member>` inside an archive."""
        if self.root_dir is not None:
            try:
                rel = real.resolve().relative_to(self.root_dir.resolve())
                return f"{self.root_shown}!/{rel.as_posix()}"
            except ValueError:
                pass
        return str(real)

    def load_xml(self, real: Path, loc: Location | None = None) -> XmlFile | None:
        try:
            why = unreadable(real, MAX_XML_BYTES)
            if why is not None:
                self.report.error(
                    loc or Location(self.display(real)),
                    f"cannot read {self.display(real)}: {why}",
                    "name an .ssd, .ssv or .ssm file (limits: docs/limits.md)",
                )
                return None
            data = real.read_bytes()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.report.error(
                loc or Location(self.display(real)),
                f"cannot read {self.display(real)}: {reason}",
                "check the source attribute (relative to the .ssd's folder)",
            )
            return None
        return parse_xml(data, self.display(real), self.report)

    def resolve_uri(self, x: XmlFile, el: Any, attr: str, base: Path) -> Path | None:
        """The file a `source` URI names: relative to `base`, or a file: URI."""
        raw = el.get(attr) or ""
        loc = x.loc(el, attr)
        uri = urlparse(raw)
        if uri.scheme == "file":
            real = Path(unquote(uri.path))
            if uri.netloc not in ("", "localhost"):
                self.report.error(
                    loc, f"{attr}={raw!r}: file URIs on other hosts are not supported"
                )
                return None
        elif uri.scheme and len(uri.scheme) > 1:
            self.report.error(
                loc,
                f"{attr}={raw!r}: URI scheme '{uri.scheme}:' is not supported",
                "package the file inside the SSP (resources/...) and give a relative "
                "path, or use a file: URI",
            )
            return None
        else:
            rel = unquote(uri.path)
            if not rel:
                self.report.error(
                    loc, f"{attr} is empty", "give the file's path, e.g. resources/model.fmu"
                )
                return None
            real = Path(rel) if Path(rel).is_absolute() else base / rel
            if self.root_dir is not None and not Path(rel).is_absolute():
                inside = self.root_dir.resolve()
                resolved = real.resolve()
                if resolved != inside and inside not in resolved.parents:
                    self.report.error(
                        loc,
                        f"{attr}={raw!r} points outside the SSP package",
                        "an SSP references its files inside the archive (e.g. resources/model.fmu)",
                    )
                    return None
        return real

    # -- entry
    def read(self) -> SystemSpec | None:
        path = self.path
        if not path.exists():
            self.report.error(
                Location(self.shown),
                "no such file",
                f"check the path; a relative path starts from {Path.cwd()}",
            )
            return None
        if path.is_dir():
            self.report.error(Location(self.shown), "is a folder, not an .ssp or .ssd file")
            return None
        if path.suffix.lower() == ".ssp":
            from cosim.ssp.read_package import unpack

            try:
                self.root_dir, self.sha = unpack(path)
            except ConfigError as err:
                for p in err.problems:
                    self.report.error(Location(self.shown), p.message, p.hint)
                return None
            ssd = self.root_dir / names.DEFAULT_SSD
            if not ssd.is_file():
                found = sorted(p.name for p in self.root_dir.glob("*.ssd"))
                self.report.error(
                    Location(self.shown),
                    f"the package has no {names.DEFAULT_SSD} at its root",
                    f".ssd files at its root: {listing(found)}; an SSP holds its "
                    f"default system structure in {names.DEFAULT_SSD}",
                )
                return None
        else:
            ssd = path
        x = self.load_xml(ssd)
        if x is None:
            return None
        self.ssd_text = x.text
        if not self.sha:
            self.sha = hashlib.sha256(x.text.encode("utf-8")).hexdigest()
        root = self.read_ssd(x, ssd.parent, (), top=True)
        if root is None:
            return None
        return self.build(root)

    # -- ssd
    def check_root(self, x: XmlFile, expected: str, kind: str) -> bool:
        root = x.root
        if local(root.tag) != expected or kind_of(root) != kind:
            ns = namespace(root.tag)
            if local(root.tag) == expected:
                what = f"namespace '{ns}'" if ns else "no namespace"
                self.report.error(
                    x.loc(root),
                    f"<{expected}> is in {what}",
                    f"SSP {kind} elements are in the namespace "
                    f"'{_NS[kind]}' (xmlns:{kind}=\"{_NS[kind]}\")",
                )
            else:
                self.report.error(
                    x.loc(root),
                    f"the root element is <{local(root.tag)}>, not <{kind}:{expected}>",
                    f"an .{kind} file holds one <{kind}:{expected}> element",
                )
            return False
        version = root.get("version")
        if version is None:
            self.report.warn(
                x.loc(root),
                f"<{expected}> has no version",
                'read as SSP 2.0; write version="1.0" or "2.0"',
            )
        elif version not in names.VERSIONS:
            self.report.warn(
                x.loc(root, "version"),
                f"SSP version {version!r} is not one cosim knows (1.0, 2.0)",
                "read as SSP 2.0",
            )
        return True

    def read_ssd(
        self,
        x: XmlFile,
        base: Path,
        path: tuple[str, ...],
        top: bool = False,
        name: str | None = None,
        depth: int = 0,
    ) -> Element | None:
        if not self.check_root(x, "SystemStructureDescription", "ssd"):
            return None
        root = x.root
        units = read_units(x, _child(root, "Units"), self.report)
        enums = read_enumerations(x, _child(root, "Enumerations"), self.report)
        allowed = [
            "System",
            "Enumerations",
            "Units",
            "DefaultExperiment",
            "Annotations",
            "MetaData",
            "Signature",
        ]
        system_el = None
        for c in children(root):
            n = local(c.tag)
            if n not in allowed:
                unknown_child(x, root, c, allowed, self.report)
            elif n == "System":
                if system_el is not None:
                    self.report.error(
                        x.loc(c), "a second <ssd:System>", "an .ssd holds exactly one root system"
                    )
                    continue
                system_el = c
            elif n == "DefaultExperiment" and top:
                self.default_experiment(x, c)
            elif n == "DefaultExperiment":
                self.report.warn(
                    x.loc(c),
                    "the DefaultExperiment of a referenced system is not used",
                    "the top-level .ssd's DefaultExperiment applies",
                )
            elif n == "Annotations":
                self.annotations(x, c, "system", None if not top else "top")
        if top:
            self.name = root.get("name") or self.path.stem
        if system_el is None:
            self.report.error(
                x.loc(root),
                "<ssd:SystemStructureDescription> has no <ssd:System>",
                'add the root system: <ssd:System name="...">',
            )
            return None
        if top:
            self.description = system_el.get("description") or root.get("description") or ""
        return self.read_system(x, system_el, base, path, units, enums, name, depth)

    def default_experiment(self, x: XmlFile, el: Any) -> None:
        self.experiment_loc = x.loc(el)
        self.start = number(x, el, "startTime", self.report)
        self.stop = number(x, el, "stopTime", self.report)
        for c in children(el):
            if local(c.tag) == "Annotations":
                self.annotations(x, c, "experiment", "top")
            else:
                unknown_child(x, el, c, ["Annotations"], self.report)

    # -- annotations
    def annotations(self, x: XmlFile, el: Any, context: str, node: Element | str | None) -> None:
        """Read the annotations cosim understands; warn about every other one."""
        for ann in children(el):
            if local(ann.tag) != "Annotation":
                unknown_child(x, el, ann, ["Annotation"], self.report)
                continue
            kind = ann.get("type") or ""
            if kind == names.COSIM_ANNOTATION:
                self.cosim_annotation(x, ann, context, node)
            elif kind == names.OSP_ANNOTATION:
                self.osp_annotation(x, ann, context, node)
            elif kind == names.OMS_ANNOTATION:
                self.oms_annotation(x, ann, context, node)
            else:
                self.report.warn(
                    x.loc(ann, "type"),
                    f"annotation type {kind!r} is not one cosim "
                    "understands; its content is not used",
                    f"cosim reads the annotation types {names.COSIM_ANNOTATION}, "
                    f"{names.OSP_ANNOTATION} (step) and {names.OMS_ANNOTATION} "
                    "(step); check that the system means the same without it",
                )

    def cosim_annotation(self, x: XmlFile, ann: Any, context: str, node: Any) -> None:
        for c in children(ann):
            n = local(c.tag)
            top = node == "top" or (
                isinstance(node, Element)
                and node.kind == "system"
                and node.path == ()
                and self.top_pending
            )
            if n == "Simulation" and context in ("system", "experiment") and top:
                self.cosim_settings(x, c, _SIM_ATTRS, self.sim, self.sim_locs)
            elif n == "Component" and context == "component" and isinstance(node, Element):
                self.cosim_settings(x, c, _COMP_ATTRS, node.settings, node.setting_locs)
            else:
                self.report.warn(
                    x.loc(c),
                    f"<{n}> in a {names.COSIM_ANNOTATION} annotation of this {context} is not used",
                    "cosim:Simulation belongs to the root system, cosim:Component to a component",
                )

    def cosim_settings(
        self, x: XmlFile, el: Any, attrs: dict[str, Any], out: dict, locs: dict
    ) -> None:
        for key, raw in el.attrib.items():
            if key not in attrs:
                close = did_you_mean(key, attrs)
                self.report.warn(
                    x.loc(el, key),
                    f"unknown attribute {key!r} of <{local(el.tag)}>",
                    (f"did you mean '{close}'? " if close else "") + f"known: {', '.join(attrs)}",
                )
                continue
            choices = attrs[key]
            if choices is float:
                value = number(x, el, key, self.report)
                if value is None:
                    continue
                if value <= 0:
                    self.report.error(x.loc(el, key), f"{key}={raw!r} must be greater than 0")
                    continue
            elif raw not in choices:
                close = did_you_mean(raw, choices)
                self.report.error(
                    x.loc(el, key),
                    f"{key}={raw!r} is not one of {', '.join(choices)}",
                    f"did you mean '{close}'?" if close else "",
                )
                continue
            else:
                value = raw
            out[key] = value
            locs[key] = x.loc(el, key)

    def osp_annotation(self, x: XmlFile, ann: Any, context: str, node: Any) -> None:
        for c in children(ann):
            n = local(c.tag)
            if n == "Algorithm" and context in ("experiment", "system"):
                for algo in children(c):
                    if local(algo.tag) == "FixedStepAlgorithm":
                        step = number(x, algo, "baseStepSize", self.report)
                        if step is None and algo.get("baseStepSize") is None:
                            self.report.error(
                                x.loc(algo), "osp:FixedStepAlgorithm has no baseStepSize"
                            )
                        elif step is not None and step > 0:
                            self.osp_step = (step, x.loc(algo, "baseStepSize"))
                        elif step is not None:
                            self.report.error(
                                x.loc(algo, "baseStepSize"), "baseStepSize must be greater than 0"
                            )
                    else:
                        self.report.warn(
                            x.loc(algo),
                            f"OSP algorithm <{local(algo.tag)}> is not "
                            "supported; cosim runs a fixed communication step",
                            "use osp:FixedStepAlgorithm",
                        )
            elif n == "StepSizeHint" and isinstance(node, Element) and context == "component":
                value = number(x, c, "value", self.report)
                if value is not None and value > 0:
                    node.settings.setdefault("osp_step", value)
                    node.setting_locs["osp_step"] = x.loc(c, "value")
            else:
                self.report.warn(
                    x.loc(c),
                    f"OSP annotation element <{n}> is not used here",
                    "cosim reads osp:Algorithm/osp:FixedStepAlgorithm (default "
                    "experiment) and osp:StepSizeHint (components)",
                )

    def oms_annotation(self, x: XmlFile, ann: Any, context: str, node: Any) -> None:
        items = list(children(ann))
        if len(items) == 1 and local(items[0].tag) == "Annotations":  # oms:Annotations wrapper
            items = list(children(items[0]))
        for c in items:
            n = local(c.tag)
            if n == "SimulationInformation":
                self.oms_information(x, c, context, node)
            elif n in ("Bus", "Buses"):
                continue  # bus connectors group connections for display only
            else:
                self.report.warn(
                    x.loc(c),
                    f"OMSimulator annotation <{n}> is not used",
                    "cosim reads oms:SimulationInformation (step, solver)",
                )

    def oms_information(self, x: XmlFile, el: Any, context: str, node: Any) -> None:
        if context == "experiment":
            used = {"resultFile", "loggingInterval", "bufferSize", "signalFilter"}
            extra = [k for k in el.attrib if k not in used]
            if el.attrib:
                self.notes.append(
                    "OMSimulator result settings (resultFile, loggingInterval, ...) "
                    "are not used: cosim writes results.h5 every communication step"
                )
            for k in extra:
                self.report.warn(x.loc(el, k), f"OMSimulator setting {k!r} is not used")
            for c in children(el):
                self.report.warn(x.loc(c), f"OMSimulator setting <{local(c.tag)}> is not used")
            return
        for c in children(el):
            n = local(c.tag)
            if n == "FixedStepMaster" and isinstance(node, Element) and node.kind == "system":
                step = number(x, c, "stepSize", self.report)
                if step is not None and step > 0:
                    node.step = step
                    node.step_from = f"the OMSimulator annotation oms:FixedStepMaster at {x.loc(c)}"
                elif step is not None:
                    self.report.error(x.loc(c, "stepSize"), "stepSize must be greater than 0")
            elif n == "VariableStepSolver" and isinstance(node, Element) and node.kind == "system":
                solver = (c.get("description") or "cvode").lower()
                me: dict[str, Any] = {"solver": solver if solver in _SOLVERS else "cvode"}
                if solver not in _SOLVERS:
                    self.report.warn(
                        x.loc(c, "description"),
                        f"solver {solver!r} is not one cosim has; cvode is used",
                        f"cosim's solvers: {', '.join(_SOLVERS)}",
                    )
                tol = number(x, c, "relativeTolerance", self.report)
                top = number(x, c, "maximumStepSize", self.report)
                if tol is not None and tol > 0:
                    me["tolerance"] = tol
                if top is not None and top > 0:
                    me["max_step"] = top
                node.me = me
                self.notes.append(
                    f"system {node.dotted}: OMSimulator VariableStepSolver -> its "
                    f"components run as Model Exchange with {me['solver']}"
                )
            elif n == "VariableStepMaster" and isinstance(node, Element):
                self.report.warn(
                    x.loc(c),
                    "OMSimulator's VariableStepMaster is not supported: "
                    "cosim runs a fixed communication step",
                    "the step comes from --step, another annotation or the FMUs' "
                    "default experiments",
                )
            else:
                self.report.warn(
                    x.loc(c),
                    f"OMSimulator setting <{n}> is not used",
                    "cosim reads oms:FixedStepMaster and oms:VariableStepSolver",
                )

    # -- systems
    def read_system(
        self,
        x: XmlFile,
        el: Any,
        base: Path,
        path: tuple[str, ...],
        units: dict,
        enums: dict,
        name: str | None = None,
        depth: int = 0,
    ) -> Element:
        node = Element("system", name or el.get("name") or "", path, x, el, x.loc(el))
        if el.get("name") is None:
            self.report.error(x.loc(el), "<ssd:System> has no name", 'add name="..."')
        if depth > MAX_DEPTH:
            self.report.error(
                x.loc(el),
                f"systems nest deeper than {MAX_DEPTH} levels",
                "a referenced .ssd may reference itself",
            )
            return node
        allowed = [
            "Connectors",
            "ElementGeometry",
            "ParameterBindings",
            "Elements",
            "Connections",
            "SignalDictionaries",
            "SystemGeometry",
            "GraphicalElements",
            "Annotations",
            "MetaData",
            "Signature",
        ]
        later: list[Any] = []
        for c in children(el):
            n = local(c.tag)
            if n not in allowed:
                unknown_child(x, el, c, allowed, self.report, f"system {node.dotted}")
            elif n == "Connectors":
                node.connectors = self.read_connectors(x, c, units, enums)
            elif n == "Elements":
                later.append(c)
            elif n == "Connections":
                node.connections = self.read_connections(x, c)
            elif n == "ParameterBindings":
                self.read_bindings(x, c, node, base)
            elif n == "SignalDictionaries":
                self.report.error(
                    x.loc(c),
                    "signal dictionaries (ssd:SignalDictionaries) are not supported",
                    "connect the connectors directly",
                )
            elif n == "Annotations":
                self.annotations(x, c, "system", node)
        # the root system's own cosim annotation may also sit on the System
        for elements in later:
            for c in children(elements):
                self.read_element(x, c, node, base, units, enums, depth)
        return node

    def read_element(
        self, x: XmlFile, el: Any, parent: Element, base: Path, units: dict, enums: dict, depth: int
    ) -> None:
        n = local(el.tag)
        allowed = ["Component", "System", "SignalDictionaryReference"]
        if n not in allowed:
            unknown_child(x, el.getparent(), el, allowed, self.report, f"system {parent.dotted}")
            return
        name = required(x, el, "name", self.report, f"<ssd:{n}>")
        if name is None:
            return
        if name in parent.children:
            self.report.error(
                x.loc(el, "name"),
                f"element name '{name}' is used twice in system {parent.dotted}",
                f"the first is at {parent.children[name].loc}; names must be "
                "unique inside their system",
            )
            return
        path = (*parent.path, name)
        if n == "SignalDictionaryReference":
            self.report.error(
                x.loc(el),
                "signal dictionary references are not supported",
                "connect the connectors directly",
            )
            return
        if n == "System":
            parent.children[name] = self.read_system(
                x, el, base, path, units, enums, name, depth + 1
            )
            return
        ctype = (el.get("type") or names.FMU_TYPE).split(";")[0].strip()
        if ctype in (names.SSD_TYPE, names.SSP_TYPE):
            sub = self.referenced_system(x, el, base, path, ctype, depth)
            if sub is not None:
                sub.connectors = {
                    **self.read_component_connectors(x, el, units, enums),
                    **sub.connectors,
                }
                parent.children[name] = sub
                for c in children(el):
                    if local(c.tag) == "ParameterBindings":  # after the system's own bindings
                        self.read_bindings(x, c, sub, base)
            return
        if ctype != names.FMU_TYPE:
            self.report.error(
                x.loc(el, "type"),
                f"component type {ctype!r} is not supported",
                f"cosim runs FMUs ({names.FMU_TYPE}) and nested systems "
                f"({names.SSD_TYPE}, {names.SSP_TYPE})",
            )
            return
        node = Element("component", name, path, x, el, x.loc(el))
        source = el.get("source")
        if source is None:
            self.report.error(
                x.loc(el),
                f"component {node.dotted} has no source",
                'cosim needs the FMU: add source="resources/<name>.fmu"',
            )
        elif source.startswith("#"):
            self.report.error(
                x.loc(el, "source"),
                f"same-document references (source={source!r}) are not supported",
                "reference an .ssd or .fmu file",
            )
        else:
            node.fmu_loc = x.loc(el, "source")
            real = self.resolve_uri(x, el, "source", base)
            if real is not None:
                if not real.is_file():
                    self.report.error(
                        node.fmu_loc,
                        f"FMU not found: {source}",
                        f"looked for {self.display(real)}; a relative source "
                        "starts from the .ssd's folder",
                    )
                else:
                    node.fmu = real.resolve()
        impl = el.get("implementation", "any")
        if impl in ("CoSimulation", "ModelExchange"):
            node.interface = "cs" if impl == "CoSimulation" else "me"
        elif impl == "ScheduledExecution":
            self.report.error(
                x.loc(el, "implementation"),
                'implementation="ScheduledExecution" is not supported',
                "use CoSimulation or ModelExchange",
            )
        elif impl != "any":
            self.report.error(
                x.loc(el, "implementation"),
                f"implementation={impl!r} is not one "
                "of any, CoSimulation, ModelExchange, ScheduledExecution",
            )
        allowed = [
            "Connectors",
            "ElementGeometry",
            "ParameterBindings",
            "Annotations",
            "MetaData",
            "Signature",
        ]
        for c in children(el):
            cn = local(c.tag)
            if cn not in allowed:
                unknown_child(x, el, c, allowed, self.report, f"component {node.dotted}")
            elif cn == "Connectors":
                node.connectors = self.read_connectors(x, c, units, enums)
            elif cn == "ParameterBindings":
                self.read_bindings(x, c, node, base)
            elif cn == "Annotations":
                self.annotations(x, c, "component", node)
        parent.children[name] = node

    def read_component_connectors(
        self, x: XmlFile, el: Any, units: dict, enums: dict
    ) -> dict[str, Connector]:
        c = _child(el, "Connectors")
        return self.read_connectors(x, c, units, enums) if c is not None else {}

    def referenced_system(
        self, x: XmlFile, el: Any, base: Path, path: tuple[str, ...], ctype: str, depth: int
    ) -> Element | None:
        saved, self.top_pending = self.top_pending, False
        try:
            return self._referenced_system(x, el, base, path, ctype, depth)
        finally:
            self.top_pending = saved

    def _referenced_system(
        self, x: XmlFile, el: Any, base: Path, path: tuple[str, ...], ctype: str, depth: int
    ) -> Element | None:
        source = el.get("source")
        if not source:
            self.report.error(x.loc(el), f"the nested system {'.'.join(path)} has no source")
            return None
        if depth >= MAX_DEPTH:
            self.report.error(
                x.loc(el, "source"),
                f"systems nest deeper than {MAX_DEPTH} levels",
                "a referenced .ssd may reference itself",
            )
            return None
        raw, _, fragment = source.partition("#")
        probe = replace_attr(el, raw)
        real = self.resolve_uri(x, probe, "source", base)
        if real is None:
            return None
        if not real.is_file():
            self.report.error(
                x.loc(el, "source"),
                f"referenced system not found: {source}",
                f"looked for {self.display(real)}",
            )
            return None
        if ctype == names.SSP_TYPE:
            from cosim.ssp.read_package import unpack

            try:
                folder, _ = unpack(real)
            except ConfigError as err:
                for p in err.problems:
                    self.report.error(x.loc(el, "source"), f"{source}: {p.message}", p.hint)
                return None
            ssd = folder / (fragment or names.DEFAULT_SSD)
            if not ssd.is_file():
                self.report.error(
                    x.loc(el, "source"),
                    f"{source}: the package has no {fragment or names.DEFAULT_SSD}",
                )
                return None
            saved = self.root_dir, self.root_shown
            self.root_shown = self.display(real)
            self.root_dir = folder
            try:
                sub_x = self.load_xml(ssd, x.loc(el, "source"))
                if sub_x is None:
                    return None
                return self.read_ssd(sub_x, ssd.parent, path, name=path[-1], depth=depth + 1)
            finally:
                self.root_dir, self.root_shown = saved
        sub_x = self.load_xml(real, x.loc(el, "source"))
        if sub_x is None:
            return None
        return self.read_ssd(sub_x, real.parent, path, name=path[-1], depth=depth + 1)

    def read_connectors(self, x: XmlFile, el: Any, units: dict, enums: dict) -> dict:
        out: dict[str, Connector] = {}
        for c in children(el):
            if local(c.tag) != "Connector":
                unknown_child(x, el, c, ["Connector"], self.report)
                continue
            name = required(x, c, "name", self.report, "<ssd:Connector>")
            if name is None:
                continue
            if name in out:
                self.report.error(
                    x.loc(c, "name"),
                    f"connector '{name}' is declared twice",
                    f"the first is at {out[name].loc}",
                )
                continue
            kind = c.get("kind", "")
            if kind not in KINDS:
                close = did_you_mean(kind, KINDS)
                self.report.error(
                    x.loc(c, "kind") if kind else x.loc(c),
                    f"connector '{name}' has kind {kind!r}"
                    if kind
                    else f"connector '{name}' has no kind",
                    (f"did you mean '{close}'? " if close else "") + f"kinds: {', '.join(KINDS)}",
                )
                kind = "unspecified"
            ctype = unit = enum = None
            for t in children(c):
                tn = local(t.tag)
                if tn in TYPE_KIND:
                    if ctype is not None:
                        self.report.error(x.loc(t), f"connector '{name}' has a second type")
                        continue
                    ctype = tn
                    unit = t.get("unit")
                    enum = t.get("name")
                    if tn in ("Binary", "Clock"):
                        self.report.error(
                            x.loc(t),
                            f"connector '{name}': {tn} connectors are not supported by cosim",
                        )
                    if unit not in (None, "", "1") and unit not in units:  # "1": dimensionless
                        self.report.warn(
                            x.loc(t, "unit"),
                            f"unit '{unit}' of connector '{name}' "
                            "is not defined in this file's <ssc:Units>",
                            "the standard asks every unit used to be defined",
                        )
                    if tn == "Enumeration" and enum not in enums:
                        self.report.warn(
                            x.loc(t, "name"),
                            f"enumeration {enum!r} of connector "
                            f"'{name}' is not defined in <ssc:Enumerations>",
                        )
                elif tn == "Dimension":
                    self.report.error(
                        x.loc(t),
                        f"connector '{name}': array connectors (ssc:Dimension) are not supported",
                        "declare one connector per element, e.g. y[1]",
                    )
                elif tn not in ("ConnectorGeometry", "Annotations", "MetaData", "Signature"):
                    unknown_child(
                        x,
                        c,
                        t,
                        [*TYPE_KIND, "Dimension", "ConnectorGeometry", "Annotations"],
                        self.report,
                    )
            out[name] = Connector(name, kind, ctype, unit, enum, x.loc(c), units, enums)
        return out

    def read_connections(self, x: XmlFile, el: Any) -> list[Connection]:
        out = []
        for c in children(el):
            if local(c.tag) != "Connection":
                unknown_child(x, el, c, ["Connection"], self.report)
                continue
            start_c = required(x, c, "startConnector", self.report, "<ssd:Connection>")
            end_c = required(x, c, "endConnector", self.report, "<ssd:Connection>")
            for attr in ("startIndices", "endIndices"):
                if c.get(attr) is not None:
                    self.report.error(
                        x.loc(c, attr), f"{attr} (array connections) are not supported"
                    )
            transform = None
            for t in children(c):
                tn = local(t.tag)
                if tn in TRANSFORMS:
                    if transform is not None:
                        self.report.error(x.loc(t), "a connection takes at most one transformation")
                        continue
                    transform = read_transform(x, t, self.report)
                elif tn not in ("ConnectionGeometry", "Annotations"):
                    unknown_child(
                        x, c, t, [*TRANSFORMS, "ConnectionGeometry", "Annotations"], self.report
                    )
            suppress = boolean(x, c, "suppressUnitConversion", self.report, False)
            if start_c is None or end_c is None:
                continue
            out.append(
                Connection(  # an empty element name (some tools write one) = the system itself
                    (c.get("startElement") or None, start_c),
                    (c.get("endElement") or None, end_c),
                    transform,
                    bool(suppress),
                    x.loc(c),
                    x.loc(c, "startElement" if c.get("startElement") else "startConnector"),
                    x.loc(c, "endElement" if c.get("endElement") else "endConnector"),
                )
            )
        return out

    def read_bindings(self, x: XmlFile, el: Any, node: Element, base: Path) -> None:
        for b in children(el):
            if local(b.tag) != "ParameterBinding":
                unknown_child(x, el, b, ["ParameterBinding"], self.report)
                continue
            self.order += 1
            self.bindings.append(Binding(node, x, b, base, self.order))

    # -- FMUs
    def fmu(self, path: Path | None) -> FmuInfo | None:
        if path is None:
            return None
        if path not in self.fmus:
            from cosim.fmu.archive import read_model_description

            try:
                md = read_model_description(path)
            except ConfigError:  # the resolver reports it at the component's source
                self.fmus[path] = None
                return None
            de = getattr(md, "defaultExperiment", None)
            step = getattr(de, "stepSize", None) if de is not None else None
            stop = getattr(de, "stopTime", None) if de is not None else None
            self.fmus[path] = FmuInfo(
                _Variables({v.name: v for v in md.modelVariables}),
                fmu_units(md),
                float(step) if step not in (None, "") else None,
                float(stop) if stop not in (None, "") else None,
            )
        return self.fmus[path]

    # -- flattening
    def build(self, root: Element) -> SystemSpec | None:
        leaves: dict[tuple[str, ...], Element] = {}
        systems: dict[tuple[str, ...], Element] = {}
        self.collect(root, leaves, systems)
        comp_names = self.names(leaves)
        nets = _Nets(self, leaves, systems)
        nets.build()
        step = self.communication_step(root, leaves)
        components = self.components(leaves, comp_names, systems, step)
        params = _Params(self, leaves, systems, nets)
        params.apply()
        connections = self.connections(nets, comp_names)
        sim = self.simulation(step, leaves)
        for key, values in params.values.items():
            name = comp_names.get(key)
            if name not in components:  # a broken component (reported)
                continue
            comp = components[name]
            components[name] = replace(
                comp,
                parameters={**comp.parameters, **{k: v[0] for k, v in values.items()}},
                parameter_locs={**comp.parameter_locs, **{k: v[1] for k, v in values.items()}},
            )
        spec = SystemSpec(
            name=str(self.name),
            path=self.path.resolve(),
            text=self.ssd_text,
            sha256=self.sha,
            simulation=sim,
            components=components,
            connections=tuple(connections),
            description=self.description,
            orphans=tuple(nets.orphans),
        )
        return spec

    def collect(self, node: Element, leaves: dict, systems: dict) -> None:
        systems[node.path] = node
        for child in node.children.values():
            if child.kind == "component":
                leaves[child.path] = child
            else:
                self.collect(child, leaves, systems)

    def names(self, leaves: dict[tuple[str, ...], Element]) -> dict[tuple[str, ...], str]:
        out: dict[tuple[str, ...], str] = {}
        taken: dict[str, Element] = {}
        for path, node in leaves.items():
            name = "_".join(sanitize(p) for p in path)
            if name in taken:
                other = taken[name]
                self.report.error(
                    node.loc,
                    f"components {other.dotted!r} and {node.dotted!r} "
                    f"both become the cosim component '{name}'",
                    f"rename one of them (the first is at {other.loc}); names are "
                    "sanitized to identifiers and nested paths joined with _",
                )
                continue
            taken[name] = node
            out[path] = name
            if name != ".".join(path):
                self.notes.append(f"component {name} is the SSP element {'.'.join(path)}")
        return out

    def communication_step(self, root: Element, leaves: dict) -> float | None:
        sim_step = self.sim.get("step")
        if self.cli_step is not None:
            if self.cli_step <= 0 or not math.isfinite(self.cli_step):
                self.report.error(
                    Location("--step"),
                    f"--step {self.cli_step} must be a positive number of seconds",
                )
                return None
            self.notes.append(f"communication step {self.cli_step:g} s from --step")
            return self.cli_step
        if sim_step is not None:
            self.notes.append(
                f"communication step {sim_step:g} s from the cosim annotation "
                f"cosim:Simulation at {self.sim_locs['step']}"
            )
            return sim_step
        if self.osp_step is not None:
            self.notes.append(
                f"communication step {self.osp_step[0]:g} s from the OSP annotation "
                f"osp:FixedStepAlgorithm at {self.osp_step[1]}"
            )
            return self.osp_step[0]
        if root.step is not None:
            self.notes.append(f"communication step {root.step:g} s from {root.step_from}")
            return root.step
        nested = [s for s in self.systems_with_step(root) if s is not root]
        if nested:
            step = min(s.step for s in nested)
            first = next(s for s in nested if s.step == step)
            self.notes.append(
                f"communication step {step:g} s from {first.step_from} (system {first.dotted})"
            )
            return step
        steps = [
            (info.step, node)
            for node in leaves.values()
            if (info := self.fmu(node.fmu)) is not None and info.step
        ]
        if steps:
            step, node = min(steps, key=lambda s: s[0])
            self.notes.append(
                f"communication step {step:g} s: the smallest DefaultExperiment "
                f"stepSize of the FMUs (component {node.dotted})"
            )
            return step
        self.report.error(
            self.experiment_loc or root.loc,
            "no communication step: neither an annotation nor the FMUs give one",
            "pass --step H (seconds), e.g. cosim run system.ssp --step 0.001",
        )
        return None

    def systems_with_step(self, node: Element) -> list[Element]:
        out = [node] if node.step is not None else []
        for child in node.children.values():
            if child.kind == "system":
                out += self.systems_with_step(child)
        return out

    def components(
        self, leaves: dict, comp_names: dict, systems: dict, step: float | None
    ) -> dict[str, ComponentSpec]:
        out: dict[str, ComponentSpec] = {}
        for path, node in leaves.items():
            if path not in comp_names:
                continue
            name = comp_names[path]
            s = dict(node.settings)
            locs = dict(node.setting_locs)
            # what enclosing systems say (OMSimulator), nearest first
            for depth in range(len(path) - 1, -1, -1):
                parent = systems.get(path[:depth])
                if parent is None:
                    continue
                if parent.me is not None:
                    s.setdefault("interface", "me")
                    for k in ("solver", "tolerance", "max_step"):
                        if k in parent.me:
                            s.setdefault(k, parent.me[k])
                if parent.step is not None and depth > 0 and step and parent.step != step:
                    s.setdefault("step", parent.step)
                    locs.setdefault("step", parent.loc)
            hint = s.pop("osp_step", None)
            if hint is not None and "step" not in s and step:
                n = max(1, round(hint / step))
                s["step"] = n * step if n > 1 else None
                if abs(n * step - hint) > 1e-9 * hint:
                    self.notes.append(
                        f"component {name}: osp:StepSizeHint {hint:g} s rounded to "
                        f"{n * step:g} s ({n} communication steps)"
                    )
            if step and s.get("step") is not None:
                n = round(s["step"] / step)
                if n < 1 or abs(to_ticks(s["step"]) - n * to_ticks(step)) > n:
                    self.report.error(
                        locs.get("step", node.loc),
                        f"component {name}: step {s['step']:g} s is not a multiple "
                        f"of the communication step {step:g} s",
                        "give a multiple, or pass a smaller --step",
                    )
                    s["step"] = None
            interface = node.interface or s.get("interface")
            if node.interface and s.get("interface") and node.interface != s["interface"]:
                self.report.warn(
                    locs.get("interface"),
                    f"component {name}: the cosim annotation "
                    f"asks interface {s['interface']} but implementation= says "
                    f"{node.interface}; {node.interface} is used",
                )
            fmu = node.fmu
            out[name] = ComponentSpec(
                name=name,
                fmu=str(fmu) if fmu else (node.el.get("source") or ""),
                fmu_path=fmu if fmu else Path(node.el.get("source") or "missing.fmu"),
                step=s.get("step"),
                loc=node.loc,
                fmu_loc=node.fmu_loc or node.loc,
                base_dir=None,
                interface=interface,
                solver=s.get("solver"),
                tolerance=s.get("tolerance"),
                max_step=s.get("max_step"),
                key_locs={k: v for k, v in locs.items() if k in _COMP_ATTRS},
            )
            if fmu is None:
                out.pop(name)  # reported: a component without its FMU cannot be resolved
                self.missing.add(name)
        return out

    def connections(self, nets: _Nets, comp_names: dict) -> list[ConnectionSpec]:
        out = []
        for flat in nets.flat:
            src = comp_names.get(flat.source[0])
            dst = comp_names.get(flat.target[0])
            if src is None or dst is None or src in self.missing or dst in self.missing:
                continue
            out.append(
                ConnectionSpec(
                    source=VarRef(src, flat.source[1], flat.loc),
                    target=VarRef(dst, flat.target[1], flat.loc),
                    gain=flat.gain,
                    offset=flat.offset,
                    loc=flat.loc,
                    mapping=flat.mapping,
                    unit_conversion=flat.unit_conversion,
                )
            )
        return out

    def simulation(self, step: float | None, leaves: dict) -> SimulationSpec:
        defaults = SimulationSpec()
        start = self.start if self.start is not None else 0.0
        if self.start is None:
            self.notes.append("start time 0 s (the SSP's DefaultExperiment gives no startTime)")
        stop = self.stop
        if stop is None:
            stops = [
                info.stop
                for node in leaves.values()
                if (info := self.fmu(node.fmu)) is not None and info.stop
            ]
            stop = max(stops) if stops else start + 1.0
            self.notes.append(
                f"stop time {stop:g} s ("
                + ("the largest DefaultExperiment stopTime of the FMUs" if stops else "start + 1 s")
                + "; the SSP gives no stopTime)"
            )
        if stop <= start:
            self.report.error(
                self.experiment_loc,
                f"stopTime ({stop:g}) must be greater than startTime ({start:g})",
            )
            stop = start + 1.0
        return SimulationSpec(
            start=start,
            stop=stop,
            step=step if step else defaults.step,
            algorithm=self.sim.get("algorithm", defaults.algorithm),
            loc=self.experiment_loc,
            tolerance=self.sim.get("tolerance"),
            extrapolation=self.sim.get("extrapolation", defaults.extrapolation),
        )


def replace_attr(el: Any, source: str) -> Any:
    """A stand-in for `el` whose `source` is `source` (for URI resolution with a fragment cut)."""

    class _Probe:
        sourceline = el.sourceline
        prefix = el.prefix
        tag = el.tag

        @staticmethod
        def get(key: str, default: Any = None) -> Any:
            return source if key == "source" else el.get(key, default)

    return _Probe()


_SIM_ATTRS: dict[str, Any] = {
    "step": float,
    "algorithm": ("gauss-seidel", "jacobi", "iterative-gauss-seidel"),
    "extrapolation": ("zoh", "linear", "quadratic"),
    "tolerance": float,
}
_COMP_ATTRS: dict[str, Any] = {
    "step": float,
    "interface": ("cs", "me"),
    "solver": ("cvode", "euler", "rk4"),
    "tolerance": float,
    "max_step": float,
}
_SOLVERS = ("cvode", "euler", "rk4")
_NS = {"ssd": names.SSD, "ssv": names.SSV, "ssm": names.SSM, "ssc": names.SSC}


def _child(el: Any, name: str) -> Any:
    return next((c for c in children(el) if local(c.tag) == name), None)


# --------------------------------------------------------------------------- connection nets
Endpoint = tuple[tuple[str, ...], str]  # (element path, connector name)


@dataclass
class Flat:
    """One flattened connection: source leaf -> target leaf, transformations composed."""

    source: Endpoint
    target: Endpoint
    loc: Location
    gain: float = 1.0
    offset: float = 0.0
    mapping: tuple[tuple[Value, Value], ...] = ()
    unit_conversion: bool = True  # False: gain/offset hold the conversions (the resolver adds none)


class _Nets:
    """The connections of every system joined into nets; one Flat per (driver, driven input)."""

    def __init__(self, reader: _Reader, leaves: dict, systems: dict) -> None:
        self.r = reader
        self.leaves = leaves
        self.systems = systems
        self.edges: dict[Endpoint, list[tuple[Endpoint, Connection, Element]]] = {}
        self.flat: list[Flat] = []
        self.orphans: list[tuple[VarRef, str]] = []
        self.driven: dict[Endpoint, Location] = {}

    def owner(self, system: Element, element: str | None) -> Element | None:
        return system if element is None else system.children.get(element)

    def build(self) -> None:
        for system in self.systems.values():
            for conn in system.connections:
                ends = []
                for (element, connector), loc in (
                    (conn.start, conn.start_loc),
                    (conn.end, conn.end_loc),
                ):
                    ends.append(self.endpoint(system, element, connector, loc))
                if None in ends:
                    continue
                a, b = ends
                self.edges.setdefault(a, []).append((b, conn, system))
                self.edges.setdefault(b, []).append((a, conn, system))
        for start in list(self.edges):
            if self.is_leaf(start) and self.role(start) == "source":
                self.trace(start)
        self.undriven()

    def endpoint(
        self, system: Element, element: str | None, connector: str, loc: Location
    ) -> Endpoint | None:
        node = self.owner(system, element)
        if node is None:
            close = did_you_mean(element or "", list(system.children))
            self.r.report.error(
                loc,
                f"connection to unknown element '{element}' in system {system.dotted}",
                (f"did you mean '{close}'? " if close else "")
                + f"elements: {listing(system.children)}",
            )
            return None
        if connector not in node.connectors:
            info = self.r.fmu(node.fmu) if node.kind == "component" else None
            if info is not None and connector in info.variables:
                self.r.report.warn(
                    loc,
                    f"connector '{connector}' is not declared on "
                    f"{node.dotted}; the FMU's variable of that name is used",
                    f"declare it under {node.dotted}'s <ssd:Connectors>",
                )
                var = info.variables[connector]
                node.connectors[connector] = Connector(
                    connector, _causality_kind(var.causality), None, None, None, loc, {}, {}
                )
            else:
                close = did_you_mean(connector, list(node.connectors))
                what = "the system" if element is None else f"element '{element}'"
                self.r.report.error(
                    loc,
                    f"{what} has no connector '{connector}'",
                    (f"did you mean '{close}'? " if close else "")
                    + f"connectors of {node.dotted}: "
                    f"{listing(node.connectors)}",
                )
                return None
        if node.kind == "component":
            self.check_variable(node, connector)
        return (node.path, connector)

    def check_variable(self, node: Element, connector: str) -> None:
        info = self.r.fmu(node.fmu)
        if info is None or connector in info.variables:
            return
        c = node.connectors[connector]
        close = did_you_mean(connector, list(info.variables))
        self.r.report.error(
            c.loc,
            f"connector '{connector}' of {node.dotted} matches no variable of its FMU",
            (f"did you mean '{close}'? " if close else "")
            + f"variables: {listing(info.variables)}",
        )

    def is_leaf(self, end: Endpoint) -> bool:
        return end[0] in self.leaves

    def role(self, end: Endpoint) -> str:
        node = self.leaves[end[0]]
        kind = node.connectors[end[1]].kind
        if kind in ("unspecified", "inout"):
            info = self.r.fmu(node.fmu)
            var = info.variables.get(end[1]) if info else None
            kind = _causality_kind(var.causality) if var is not None else kind
        if kind in SOURCE_KINDS:
            return "source"
        return "sink" if kind in SINK_KINDS else "unknown"

    def trace(self, start: Endpoint) -> None:
        """Breadth first from a driving leaf through system connectors to the driven leaves."""
        seen = {start}
        queue: deque[tuple[Endpoint, list[tuple[Connection, Endpoint, Endpoint]]]] = deque()
        queue.append((start, []))
        while queue:
            end, path = queue.popleft()
            for other, conn, _system in self.edges.get(end, []):
                if other in seen:
                    continue
                seen.add(other)
                steps = [*path, (conn, end, other)]
                if self.is_leaf(other):
                    role = self.role(other)
                    if role == "source":
                        a, b = self.name(start), self.name(other)
                        self.r.report.error(
                            conn.loc,
                            f"{a} and {b} are both outputs; a connection joins an output to inputs",
                            "connect each output to inputs only",
                        )
                    else:
                        self.sink(start, other, steps)
                else:
                    queue.append((other, steps))

    def name(self, end: Endpoint) -> str:
        return ".".join((*end[0], end[1])) if end[0] else end[1]

    def sink(self, start: Endpoint, target: Endpoint, steps: list) -> None:
        loc = steps[-1][0].loc
        if target in self.driven:
            self.r.report.error(
                loc,
                f"input {self.name(target)} is driven twice",
                f"it is already driven by the connection at "
                f"{self.driven[target]}; an input takes one connection",
            )
            return
        self.driven[target] = loc
        composed = self.compose(start, target, steps)
        if composed is None:
            return
        gain, offset, mapping, convert_units = composed
        self.flat.append(Flat(start, target, loc, gain, offset, mapping, convert_units))

    # -- composing transformations and unit conversions along a chain
    def unit_of(self, end: Endpoint) -> tuple[str | None, list, bool]:
        """(unit, unit tables, from the FMU) of an endpoint: a leaf's FMU unit wins."""
        node = self.leaves.get(end[0]) or self.systems.get(end[0])
        c = node.connectors[end[1]]
        tables: list = [c.units]
        if node.kind == "component":
            info = self.r.fmu(node.fmu)
            var = info.variables.get(end[1]) if info else None
            fmu_unit = _var_unit(var) if var is not None else None
            if info is not None:
                tables = [info.units, c.units]
            if fmu_unit:
                if c.unit and c.unit != fmu_unit and end not in self.r.warned:
                    self.r.warned.add(end)
                    self.r.report.warn(
                        c.loc,
                        f"connector '{c.name}' of {node.dotted} declares "
                        f"unit '{c.unit}' but the FMU variable's unit is "
                        f"'{fmu_unit}'; the FMU's unit is used",
                        "the FMU computes the value in its own unit; write the "
                        "FMU's unit on the connector (or none)",
                    )
                return fmu_unit, tables, True
        return c.unit, tables, False

    def compose(self, start: Endpoint, target: Endpoint, steps: list) -> tuple | None:
        unit, tables, _ = self.unit_of(start)
        src_fmu_unit = unit if self.unit_of(start)[2] else None
        gain, offset = 1.0, 0.0
        stages: list[tuple[str, Any]] = []  # ("conv", (from, to)) | ("t", Transform)
        for conn, _a, b in steps:
            b_unit, b_tables, _ = self.unit_of(b)
            if b_unit and unit and b_unit != unit and not conn.suppress_units:
                stages.append(("conv", (unit, b_unit, tables + b_tables, conn.loc)))
            if b_unit:
                unit, tables = b_unit, b_tables
            if conn.transform is not None:
                stages.append(("t", conn.transform))
        dst_unit, _, dst_from_fmu = self.unit_of(target)
        dst_fmu_unit = dst_unit if dst_from_fmu else None
        # the resolver converts between the two FMU variables' units itself
        resolver = bool(src_fmu_unit and dst_fmu_unit and src_fmu_unit != dst_fmu_unit)
        maps = [s for s in stages if s[0] == "t" and s[1].kind != "linear"]
        linear = [s for s in stages if s[0] == "conv" or s[1].kind == "linear"]
        if maps and any(s[0] == "t" for s in linear):
            self.r.report.error(
                steps[-1][0].loc,
                f"{self.name(start)} -> {self.name(target)}: "
                "a value mapping and a linear transformation on one chain "
                "cannot be combined",
            )
            return None
        if maps:
            return 1.0, 0.0, self.mapping(start, target, [s[1] for s in maps]), True
        convert_units = True
        if (
            resolver
            and stages
            and stages[0][0] == "conv"
            and stages[0][1][:2] == (src_fmu_unit, dst_fmu_unit)
            and all(s[0] == "t" for s in stages[1:])
        ):
            stages = stages[1:]  # exactly the resolver's conversion: leave it to the resolver
            resolver = False
        elif resolver:  # the composed chain holds every conversion: the resolver adds none
            convert_units = False
        for kind, data in stages:
            if kind == "conv":
                a, b, tabs, loc = data
                try:
                    g, o = conversion(a, b, tabs)
                except UnitError as exc:
                    self.r.report.warn(
                        loc,
                        f"cannot convert '{a}' to '{b}' on "
                        f"{self.name(start)} -> {self.name(target)}: {exc}; "
                        "the value is passed without conversion",
                        "define both units in <ssc:Units>",
                    )
                    continue
            else:
                g, o = data.factor, data.offset
            gain, offset = g * gain, g * offset + o
        return gain, offset, (), convert_units

    def mapping(self, start: Endpoint, target: Endpoint, transforms: list[Transform]) -> tuple:
        composed: dict[Any, Any] = {}
        for t in transforms:
            entries = list(t.entries)
            if t.kind == "enumeration":
                entries = self.enum_entries(start, target, t)
                if entries is None:
                    return ()
            step = dict(entries)
            out: dict[Any, Any] = {}
            for s in {*composed, *step}:
                v = composed.get(s, s)
                v2 = step.get(v, v)
                if v2 != s:
                    out[s] = v2
            composed = out
        return tuple(sorted(composed.items(), key=lambda kv: (str(type(kv[0])), kv[0])))

    def enum_items(self, end: Endpoint) -> dict[str, int] | None:
        node = self.leaves.get(end[0]) or self.systems.get(end[0])
        c = node.connectors[end[1]]
        if c.enum and c.enum in c.enums:
            return c.enums[c.enum]
        if node.kind == "component":
            info = self.r.fmu(node.fmu)
            var = info.variables.get(end[1]) if info else None
            items = getattr(getattr(var, "declaredType", None), "items", None)
            if items:
                return {i.name: int(i.value) for i in items}
        return None

    def enum_entries(self, start: Endpoint, target: Endpoint, t: Transform) -> list | None:
        src, dst = self.enum_items(start), self.enum_items(target)
        if src is None or dst is None:
            which = self.name(start) if src is None else self.name(target)
            self.r.report.error(
                t.loc,
                f"EnumerationMappingTransformation: the enumeration items of {which} are unknown",
                "declare <ssc:Enumeration name=...> on the connector and define "
                "it in <ssc:Enumerations>",
            )
            return None
        out = []
        for s, d in t.entries:
            bad = [
                (n, items, w)
                for n, items, w in ((s, src, "source"), (d, dst, "target"))
                if n not in items
            ]
            if bad:
                n, items, w = bad[0]
                close = did_you_mean(str(n), list(items))
                self.r.report.error(
                    t.loc,
                    f"EnumerationMappingTransformation: {w} item {n!r} is not in its enumeration",
                    (f"did you mean '{close}'? " if close else "") + f"items: {listing(items)}",
                )
                return None
            out.append((src[s], dst[d]))
        return out

    def undriven(self) -> None:
        """Nets without a driving leaf: inputs joined only to inputs or to system inputs."""
        seen: set[Endpoint] = set()
        for end in self.edges:
            if end in seen or not self.is_leaf(end) or end in self.driven:
                continue
            if self.role(end) == "source":
                continue
            net = self.net(end)
            seen |= net
            if any(self.is_leaf(e) and self.role(e) == "source" for e in net):
                continue
            systems = [e for e in net if not self.is_leaf(e)]
            loc = self.edges[end][0][1].loc
            if not systems:
                names_ = sorted(self.name(e) for e in net)
                self.r.report.error(
                    loc,
                    f"the connection joins {' and '.join(names_)}, none of which is an output",
                    "connect an output to inputs",
                )
            # else: driven through a system connector: a parameter binding may set it

    def net(self, end: Endpoint) -> set[Endpoint]:
        out, stack = {end}, [end]
        while stack:
            e = stack.pop()
            for other, _c, _s in self.edges.get(e, []):
                if other not in out:
                    out.add(other)
                    if not self.is_leaf(other):
                        stack.append(other)
        return out

    def sinks_of(self, end: Endpoint) -> list[tuple[Endpoint, list[Transform]]]:
        """The leaf inputs a system connector feeds, with the transformations on the way."""
        out = []
        seen = {end}
        queue: deque[tuple[Endpoint, list[Transform]]] = deque([(end, [])])
        while queue:
            e, ts = queue.popleft()
            for other, conn, _s in self.edges.get(e, []):
                if other in seen:
                    continue
                seen.add(other)
                now = [*ts, conn.transform] if conn.transform is not None else ts
                if self.is_leaf(other):
                    if self.role(other) == "sink":
                        out.append((other, now))
                else:
                    queue.append((other, now))
        return out


def _causality_kind(causality: str | None) -> str:
    return {
        "output": "output",
        "input": "input",
        "parameter": "parameter",
        "calculatedParameter": "calculatedParameter",
        "local": "local",
        "structuralParameter": "structuralParameter",
    }.get(causality or "", "unspecified")


def _var_unit(var: Any) -> str | None:
    unit = getattr(var, "unit", None)
    if not unit:
        unit = getattr(getattr(var, "declaredType", None), "unit", None)
    return unit or None


def _var_kind(var: Any) -> str:
    return TYPE_KIND.get(getattr(var, "type", "") or "", "real")


# --------------------------------------------------------------------------- parameters
class _Params:
    """Every parameter binding applied: per leaf, variable -> (value, location)."""

    def __init__(self, reader: _Reader, leaves: dict, systems: dict, nets: _Nets) -> None:
        self.r = reader
        self.leaves = leaves
        self.systems = systems
        self.nets = nets
        # leaf path -> variable -> (value, loc, (depth, order))
        self.best: dict[tuple[str, ...], dict[str, tuple[Value, Location, tuple]]] = {}

    @property
    def values(self) -> dict[tuple[str, ...], dict[str, tuple[Value, Location]]]:
        return {k: {n: (v[0], v[1]) for n, v in d.items()} for k, d in self.best.items()}

    def apply(self) -> None:
        for b in self.r.bindings:
            for param, target in self.binding_values(b):
                hits = self.resolve(b.node, target)
                if not hits:
                    self.no_match(b, param, target)
                for leaf, var, transforms in hits:
                    self.assign(leaf, var, param, transforms, (len(b.node.path), b.order))

    def binding_values(self, b: Binding) -> list[tuple[ParamValue, str]]:
        x, el, r = b.x, b.el, self.r.report
        btype = el.get("type") or names.SSV_TYPE
        if btype != names.SSV_TYPE:
            r.error(
                x.loc(el, "type"),
                f"parameter binding type {btype!r} is not supported",
                f"cosim reads SSP parameter sets ({names.SSV_TYPE})",
            )
            return []
        if el.get("sourceBase", "SSD") not in ("SSD", "ssd", "file"):
            r.error(
                x.loc(el, "sourceBase"),
                f"sourceBase={el.get('sourceBase')!r} is not supported",
                "give the source relative to the .ssd",
            )
            return []
        inline = _child(el, "ParameterValues")
        values: list[ParamValue] = []
        if el.get("source") is not None:
            if inline is not None:
                r.error(
                    x.loc(inline),
                    "a ParameterBinding has both a source and inline ParameterValues",
                    "keep one of them",
                )
            real = self.r.resolve_uri(x, el, "source", b.base)
            if real is None:
                return []
            sx = self.r.load_xml(real, x.loc(el, "source"))
            if sx is None or not self.r.check_root(sx, "ParameterSet", "ssv"):
                return []
            values = read_parameter_set(sx, sx.root, r)
        elif inline is not None:
            sets = [c for c in children(inline) if local(c.tag) == "ParameterSet"]
            if len(sets) != 1 or kind_of(sets[0]) != "ssv":
                r.error(x.loc(inline), "<ssd:ParameterValues> must hold one <ssv:ParameterSet>")
                return []
            values = read_parameter_set(x, sets[0], r)
        else:
            r.error(x.loc(el), "a ParameterBinding needs a source or inline ParameterValues")
            return []
        for c in children(el):
            if local(c.tag) not in (
                "ParameterValues",
                "ParameterMapping",
                "Annotations",
                "MetaData",
                "Signature",
            ):
                unknown_child(x, el, c, ["ParameterValues", "ParameterMapping"], r)
        prefix = el.get("prefix") or ""
        named = [(p, prefix + p.name) for p in values]
        mapping_el = _child(el, "ParameterMapping")
        if mapping_el is None:
            return named
        entries = self.mapping_entries(b, mapping_el)
        if entries is None:
            return []
        by_name = {n: p for p, n in named}
        out = []
        for e in entries:
            p = by_name.get(e.source)
            if p is None:
                close = did_you_mean(e.source, list(by_name))
                r.warn(
                    e.loc,
                    f"mapping source '{e.source}' is not in the parameter set; "
                    "the entry maps nothing",
                    f"did you mean '{close}'?" if close else f"parameters: {listing(by_name)}",
                )
                continue
            mapped = self.transform_value(p, e.transform, e.loc)
            if mapped is not None:
                out.append((mapped, e.target))
        return out

    def mapping_entries(self, b: Binding, el: Any) -> list | None:
        x, r = b.x, self.r.report
        mtype = el.get("type") or names.SSM_TYPE
        if mtype != names.SSM_TYPE:
            r.error(x.loc(el, "type"), f"parameter mapping type {mtype!r} is not supported")
            return None
        if el.get("source") is not None:
            real = self.r.resolve_uri(x, el, "source", b.base)
            if real is None:
                return None
            mx = self.r.load_xml(real, x.loc(el, "source"))
            if mx is None or not self.r.check_root(mx, "ParameterMapping", "ssm"):
                return None
            return read_mapping(mx, mx.root, r)
        inner = [c for c in children(el) if local(c.tag) == "ParameterMapping"]
        if len(inner) != 1:
            r.error(
                x.loc(el),
                "<ssd:ParameterMapping> needs a source or one inline <ssm:ParameterMapping>",
            )
            return None
        return read_mapping(x, inner[0], r)

    def transform_value(self, p: ParamValue, t: Transform | None, loc: Location) -> Any:
        if t is None:
            return p
        if t.kind == "linear":
            if p.type not in REAL_TYPES:
                self.r.report.error(
                    loc,
                    f"a LinearTransformation applies to Real values, not to {p.type} '{p.name}'",
                )
                return None

            def f(v: float) -> float:
                return t.factor * v + t.offset

            value = [f(v) for v in p.value] if isinstance(p.value, list) else f(p.value)
            return replace(p, value=value)
        table = dict(t.entries)
        fits = {
            "boolean": ("Boolean",),
            "integer": ("Enumeration", *INTEGER_TYPES),
            "enumeration": ("Enumeration",),
        }
        if p.type not in fits.get(t.kind, ()):
            self.r.report.error(loc, f"a {t.kind} mapping does not apply to {p.type} '{p.name}'")
            return None
        value = (
            [table.get(v, v) for v in p.value]
            if isinstance(p.value, list)
            else table.get(p.value, p.value)
        )
        return replace(p, value=value)

    def resolve(self, node: Element, name: str) -> list[tuple[Element, str, list[Transform]]]:
        """The (leaf, variable, transformations) a hierarchical name reaches from `node`."""
        if node.kind == "component":
            return [(node, name, [])]
        out = []
        if name in node.connectors:
            for end, ts in self.nets.sinks_of((node.path, name)):
                out.append((self.leaves[end[0]], end[1], ts))
        for child_name, child in node.children.items():
            if name.startswith(child_name + "."):
                out += self.resolve(child, name[len(child_name) + 1 :])
        return out

    def no_match(self, b: Binding, p: ParamValue, name: str) -> None:
        candidates = [*b.node.connectors, *(f"{c}." for c in b.node.children)]
        close = did_you_mean(name, candidates)
        self.r.report.warn(
            p.loc,
            f"parameter '{name}' names nothing in {b.node.kind} "
            f"{b.node.dotted}; it is not applied (as the SSP standard says)",
            (f"did you mean '{close}'? " if close else "")
            + "inside a system, name parameters <element>.<variable> (or give "
            'the binding prefix="<element>.")',
        )

    def assign(
        self, leaf: Element, var: str, p: ParamValue, transforms: list[Transform], priority: tuple
    ) -> None:
        info = self.r.fmu(leaf.fmu)
        fvar = info.variables.get(var) if info is not None else None
        if info is not None and fvar is None:
            close = did_you_mean(var, list(info.variables))
            self.r.report.warn(
                p.loc,
                f"parameter '{p.name}': the FMU of {leaf.dotted} has no "
                f"variable '{var}'; it is not applied (as the SSP standard says)",
                (f"did you mean '{close}'? " if close else "")
                + f"variables: {listing(info.variables)}",
            )
            return
        for t in transforms:
            mapped = self.transform_value(p, t, p.loc)
            if mapped is None:
                return
            p = mapped
        value = self.typed(p, leaf, var, fvar, info)
        if value is None:
            return
        depth, order = priority
        key = (-depth, order)
        current = self.best.setdefault(leaf.path, {}).get(var)
        if current is None or key >= current[2]:
            self.best[leaf.path][var] = (value, p.loc, key)

    def typed(self, p: ParamValue, leaf: Element, var: str, fvar: Any, info: Any) -> Any:
        """The SSV value as the FMU variable takes it (Real units converted, enums by name)."""
        value = p.value
        if p.type in REAL_TYPES and p.unit and fvar is not None:
            target = _var_unit(fvar)
            if target and target != p.unit:
                try:
                    g, o = conversion(p.unit, target, [p.units, info.units])
                except UnitError as exc:
                    self.r.report.error(
                        p.loc,
                        f"parameter '{p.name}' [{p.unit}] for "
                        f"{leaf.dotted}.{var} [{target}]: {exc}",
                        "define both units in the <ssc:Units> of the .ssv "
                        "(the FMU's own definitions are used too)",
                    )
                    return None
                if (g, o) != (1.0, 0.0):
                    value = [g * v + o for v in value] if isinstance(value, list) else g * value + o
        if p.type == "Enumeration":
            items = p.enums.get(p.enum or "") if p.enum else None
            if items is None and fvar is not None:
                declared = getattr(getattr(fvar, "declaredType", None), "items", None) or ()
                items = {i.name: int(i.value) for i in declared} or None
            names_ = value if isinstance(value, list) else [value]
            if items is None:
                numeric = all(re.fullmatch(r"[-+]?\d+", str(n)) for n in names_)
                if not numeric:
                    self.r.report.error(
                        p.loc,
                        f"parameter '{p.name}': the items of its enumeration are unknown",
                        "define the enumeration in the .ssv's <ssc:Enumerations>",
                    )
                    return None
                ints = [int(n) for n in names_]
            else:
                bad = [n for n in names_ if n not in items]
                if bad:
                    close = did_you_mean(str(bad[0]), list(items))
                    self.r.report.error(
                        p.loc,
                        f"parameter '{p.name}': {bad[0]!r} is not an item of its enumeration",
                        (f"did you mean '{close}'? " if close else "") + f"items: {listing(items)}",
                    )
                    return None
                ints = [items[n] for n in names_]
            value = ints if isinstance(value, list) else ints[0]
        if (
            fvar is not None
            and _var_kind(fvar) == "real"
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            value = float(value)
        return value


# --------------------------------------------------------------------------- entry point
def read_ssp(
    path: str | Path, overrides: Sequence[str] = (), *, step: float | None = None
) -> tuple[SystemSpec | None, list[Problem]]:
    """Best-effort SystemSpec and every problem found in the SSP (as io.yaml.read_system).

    `path` is an .ssp archive (unpacked once into a cache folder that outlives the spec) or a
    bare .ssd. `step` (from `--step`) is the communication step; it overrides any annotation.
    """
    reader = _Reader(Path(path), str(path), step)
    try:
        spec = reader.read()
    except RecursionError:
        reader.report.error(Location(str(path)), "the system nests too deeply")
        spec = None
    if spec is not None:
        spec, found = apply_overrides(spec, overrides)
        reader.report.extend(found)
        warnings = tuple(p for p in reader.report.items if p.severity == "warning")
        spec = replace(spec, warnings=warnings, notes=tuple(dict.fromkeys(reader.notes)))
    return spec, sort_problems(reader.report.items)


def load_ssp(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    step: float | None = None,
) -> SystemSpec:
    """read_ssp, raising one ConfigError (every problem) if any is an error."""
    spec, problems = read_ssp(path, overrides, step=step)
    if spec is None or any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    return spec


__all__ = ["SSP_SUFFIXES", "is_ssp", "load_ssp", "read_ssp", "sanitize"]
