"""Read a system YAML file into a SystemSpec, reporting every problem with its file:line:col."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from cosim.errors import ConfigError, Location, Problem
from cosim.io.locate import (
    Problems,
    did_you_mean,
    listing,
    locator,
    sort_problems,
    unreadable,
    where,
)
from cosim.io.schema import (
    EXTRA_SECTIONS,
    SSP_STRUCTURE_SCHEMA,
    STRUCTURE_SCHEMA,
    STUDY_SECTIONS,
    TWIN_SECTIONS,
)
from cosim.model.inputs import InputTableSpec
from cosim.model.spec import (
    MAX_SECONDS,
    ComponentSpec,
    ConnectionSpec,
    EventSpec,
    LoopSolverSpec,
    RecordSpec,
    SimulationSpec,
    StepControlSpec,
    SystemSpec,
    Value,
    VarRef,
    fits_in_ticks,
    to_seconds,
    to_ticks,
)

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null")}
_MAX_NODES = 200_000  # guards against alias bombs ("billion laughs")
MAX_SYSTEM_BYTES = 64 * 1024**2  # a system file larger than this is refused (docs/limits.md)


class _Loader(yaml.SafeLoader):
    """The safe loader, plus YAML 1.2 floats without a dot or exponent sign (1e-3, 2.5E3)."""


_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver(_STD + "float", _FLOAT, list("-+0123456789."))

if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.CSafeLoader):
        """_Loader's rules on libyaml's parser (about 10x faster on large files)."""

    _FastLoader.add_implicit_resolver(_STD + "float", _FLOAT, list("-+0123456789."))
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = None  # type: ignore[assignment,misc]


class Generated(str):
    """YAML text cosim wrote itself (System.from_dict dumps a dict): parsed with libyaml.

    Only such text: libyaml's composer recurses in C without a depth limit, so a hostile file
    nesting 100,000 levels would crash the process, where PyYAML's parser stops at Python's
    recursion limit. Text cosim dumped is as deep as the dict PyYAML's representer walked."""


def _compose(text: str) -> Any:
    """The YAML's node tree: libyaml's parser for Generated ASCII text (the same marks as
    PyYAML's), PyYAML's own for everything else and for any text libyaml refuses, so that
    every problem is reported in PyYAML's words, as before."""
    if _FastLoader is not None and isinstance(text, Generated) and text.isascii():
        try:
            return yaml.compose(str(text), Loader=_FastLoader)
        except yaml.YAMLError:
            pass  # PyYAML's parser says what is wrong, at the same place
    return yaml.compose(text, Loader=_Loader)


_BAD = object()  # value of a node that could not be read (its problem is already reported)


@dataclass
class _Node:
    """A YAML value with the place it starts at (and, inside a mapping, where its key is)."""

    value: Any  # dict[str, _Node] | list[_Node] | scalar | _BAD
    loc: Location
    key_loc: Location | None = None

    @property
    def where(self) -> Location:
        return self.key_loc or self.loc


_where = where
_listing = listing


class _Report(Problems):
    """Collects problems; remembers which parts of the document are broken."""

    def __init__(self) -> None:
        super().__init__()
        self.bad: set[tuple] = set()

    @property
    def problems(self) -> list[Problem]:
        return self.items

    def error(self, loc: Location | None, message: str, hint: str = "", path=None) -> None:
        super().error(loc, message, hint)
        if path is not None:
            self.bad.add(tuple(path))

    def is_bad(self, *path) -> bool:
        """True if the part at `path`, anything inside it, or anything around it is broken."""
        n = len(path)
        return any(p[:n] == path or path[: len(p)] == p for p in self.bad)


# --------------------------------------------------------------------------- YAML -> _Node
class _Reader:
    """Turns composed YAML nodes into _Node trees; rejects non-standard tags, never runs them."""

    def __init__(self, file: str, report: _Report) -> None:
        self.file = file
        self.report = report
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def loc(self, mark: yaml.Mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def read(self, node: yaml.Node, path: tuple = ()) -> _Node:
        self.count += 1
        if self.count > _MAX_NODES:
            raise _TooLarge
        loc = self.loc(node.start_mark)
        if isinstance(node, yaml.MappingNode) and node.tag == _STD + "map":
            return _Node(self._mapping(node, path), loc)
        if isinstance(node, yaml.SequenceNode) and node.tag == _STD + "seq":
            return _Node([self.read(n, (*path, i)) for i, n in enumerate(node.value)], loc)
        if isinstance(node, yaml.ScalarNode) and node.tag == _STD + "timestamp":
            return _Node(node.value, loc)  # dates stay text
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
            try:
                return _Node(self.constructor.construct_object(node), loc)
            except (ValueError, KeyError, yaml.YAMLError):  # KeyError: `!!bool maybe`
                tag = node.tag.replace(_STD, "!!")
                self.report.error(loc, f"cannot read {node.value!r} as {tag}", path=path)
                return _Node(_BAD, loc)
        tag = node.tag.replace(_STD, "!!")
        self.report.error(
            loc,
            f"YAML tag '{tag}' is not allowed",
            "system files hold plain data (mappings, lists, text, numbers, true/false); "
            "remove the tag",
            path=path,
        )
        return _Node(_BAD, loc)

    def _mapping(self, node: yaml.MappingNode, path: tuple) -> dict[str, _Node]:
        out: dict[str, _Node] = {}
        merges = []
        for key_node, value_node in node.value:
            key_loc = self.loc(key_node.start_mark)
            if key_node.tag == _STD + "merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                self.report.error(
                    key_loc,
                    "a key must be plain text",
                    "write the key as a plain name such as mass1: or m1:; a list, a mapping "
                    "or a tagged value cannot be a key",
                    path=path,
                )
                continue
            key = str(key_node.value)
            if key in out:
                self.report.error(
                    key_loc,
                    f"duplicate key '{key}'" + (f" in {_where(path)}" if path else ""),
                    f"'{key}' is already given at {out[key].where}; keep one of them",
                    path=(*path, key),
                )
                continue
            child = self.read(value_node, (*path, key))
            child.key_loc = key_loc
            out[key] = child
        for merge in merges:  # `<<: *defaults` fills keys not given explicitly
            for source in merge.value if isinstance(merge, yaml.SequenceNode) else [merge]:
                if not isinstance(source, yaml.MappingNode):
                    self.report.error(
                        self.loc(source.start_mark),
                        "'<<' must merge a mapping",
                        "give a mapping or an alias of one, e.g. <<: *defaults with "
                        "defaults: &defaults {fmu: Gain}, or a list of such aliases",
                        path=path,
                    )
                    continue
                for key, child in self._mapping(source, path).items():
                    out.setdefault(key, child)
        return out


class _TooLarge(Exception):
    pass


def _parse(text: str, file: str, report: _Report, index: bool = False) -> _Node | None:
    """Compose (never construct) the YAML, then read it into _Nodes."""
    try:
        root = _compose(text)
    except RecursionError:
        report.error(
            Location(file, 1, 1),
            "the document nests too deeply to read",
            "a system file needs a few levels of nesting; look for runs of [ { or -",
        )
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        what = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.problem:
            ctx = exc.context_mark
            where = f" at {ctx.line + 1}:{ctx.column + 1}" if ctx and ctx is not mark else ""
            what += f" ({exc.context}{where})"
        hint = "check indentation, colons, brackets and quotes"
        if "flow mapping" in what and "'['" in what:
            hint = (
                'inside { } an array element needs quotes: write {from: "a.y[1]", ...} '
                "or use one key per line"
            )
        report.error(loc, f"invalid YAML: {what}", hint)
        return None
    except yaml.YAMLError as exc:
        report.error(Location(file), f"invalid YAML: {exc}")
        return None
    if root is None:
        report.error(Location(file, 1, 1), "the file is empty", "start from docs/systems.md")
        return None
    try:
        node = _Reader(file, report).read(root)
    except RecursionError:  # e.g. `name: &a [*a]`: an alias inside itself
        report.error(
            Location(file, 1, 1),
            "the document nests too deeply to read (an alias inside itself?)",
            "do not refer to an anchor (&name) from inside it (*name)",
        )
        return None
    except _TooLarge:
        report.error(
            Location(file, 1, 1),
            "the document is too large once its aliases are expanded",
            "do not nest aliases (*name) this deeply",
        )
        return None
    if index:
        locator(text, file, root)  # the one node-path index of this file, for section parsers
    return node


def plain(node: _Node) -> Any:
    """The plain Python data of a _Node tree."""
    if isinstance(node.value, dict):
        return {k: plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [plain(v) for v in node.value]
    return None if node.value is _BAD else node.value


# --------------------------------------------------------------------------- schema checks
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true/false",
    "null": "empty",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    return isinstance(
        value, {"object": dict, "array": list, "string": str, "boolean": bool}.get(name, type(None))
    )


def describe(value: Any) -> str:
    """A value as a message shows it: `the text 'abc'`, `the number 3`, `a list`."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    return "a mapping" if isinstance(value, dict) else "a list"


def _check(node: _Node, schema: dict, path: tuple, report: _Report) -> None:
    """Check one _Node against its schema (the subset of JSON Schema that SCHEMA uses)."""
    value = node.value
    if value is _BAD:
        return
    where = _where(path) or "the file"
    hint = schema.get("description", "")
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_is_type(value, t) for t in types):
            names = [_TYPE_NAMES[t] for t in types if t != "null"]
            expected = " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
            report.error(node.loc, f"{where} must be {expected}, got {describe(value)}", hint, path)
            return
    if isinstance(value, float) and not math.isfinite(value):
        report.error(node.loc, f"{where} must be a finite number, got {value}", hint, path)
        return
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(schema["enum"])
        close = did_you_mean(str(value), schema["enum"])
        report.error(
            node.loc,
            f"{where} must be one of {choices}, got {describe(value)}",
            f"did you mean '{close}'?" if close else hint,
            path,
        )
        return
    if _is_type(value, "number"):
        low = schema.get("exclusiveMinimum")
        if low is not None and not value > low:
            report.error(node.loc, f"{where} must be greater than {low}, got {value}", hint, path)
            return
        if value > schema.get("maximum", math.inf) or value < schema.get("minimum", -math.inf):
            _out_of_time_range(node.loc, where, value, report, path)  # only times have these
            return
    if isinstance(value, str) and "pattern" in schema and not re.match(schema["pattern"], value):
        report.error(
            node.loc, f"{where} {schema['patternErrorMessage']}, got '{value}'", hint, path
        )
    if isinstance(value, dict):
        _check_mapping(node, schema, path, report)
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), (*path, i), report)


_TIME_RANGE_HINT = (
    f"time is counted in integer nanoseconds (64-bit), which spans about 292 years either "
    f"side of 0; use a time between -{MAX_SECONDS:.3g} and {MAX_SECONDS:.3g} s"
)

_SPAN_HINT = (
    f"time is counted in integer nanoseconds (64-bit), so a run lasts at most "
    f"{MAX_SECONDS:.3g} s (about 292 years); move start and stop closer together"
)


def _time_range_problem(loc: Location | None, what: str, value: float) -> Problem:
    try:
        value = float(value)
    except OverflowError:  # an integer beyond any float: 10**400
        value = math.inf if value > 0 else -math.inf
    if not math.isfinite(value):
        return Problem(loc, f"{what} must be a finite number of seconds, got {value}")
    side = "largest" if value > 0 else "smallest"
    limit = MAX_SECONDS if value > 0 else -MAX_SECONDS
    return Problem(
        loc,
        f"{what} = {value:g} s is beyond the {side} time cosim can represent ({limit:.3g} s)",
        _TIME_RANGE_HINT,
    )


def _out_of_time_range(
    loc: Location | None, what: str, value: float, report: _Report, path=None
) -> None:
    problem = _time_range_problem(loc, what, value)
    report.error(problem.loc, problem.message, problem.hint, path)


def time_problems(spec: SystemSpec) -> list[Problem]:
    """Times of `spec` that do not fit in 64-bit ticks (or are not finite).

    A spec read from YAML never has any (the schema rejects them); this guards specs built or
    changed in code before anything converts their times to ticks.
    """
    sim = spec.simulation
    times: list[tuple[Location | None, str, float]] = [
        (sim.loc, "simulation.start", sim.start),
        (sim.loc, "simulation.stop", sim.stop),
        (sim.loc, "simulation.step", sim.step),
    ]
    times += [
        (c.loc, f"components.{c.name}.step", c.step)
        for c in spec.components.values()
        if c.step is not None
    ]
    if spec.record.interval is not None:
        times.append((spec.record.loc, "record.interval", spec.record.interval))
    times += [(e.loc, f"events[{i}].at", e.at) for i, e in enumerate(spec.events)]
    problems = [_time_range_problem(loc, what, t) for loc, what, t in times if not fits_in_ticks(t)]
    span = sim.stop - sim.start
    if not problems and not fits_in_ticks(span):
        problems.append(
            Problem(
                sim.loc,
                f"simulation.stop - simulation.start = {span:g} s is longer than the longest run "
                f"cosim can represent ({MAX_SECONDS:.3g} s)",
                _SPAN_HINT,
            )
        )
    return problems


def _check_mapping(node: _Node, schema: dict, path: tuple, report: _Report) -> None:
    where = _where(path)
    props: dict = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for key, child in node.value.items():
        if names and not re.match(names["pattern"], key):
            report.error(
                child.where, f"{where}: '{key}' {names['patternErrorMessage']}", "", (*path, key)
            )
        elif key in props:
            _check(child, props[key], (*path, key), report)
        elif isinstance(extra, dict):
            _check(child, extra, (*path, key), report)
        elif extra is False:
            close = did_you_mean(key, props)
            report.error(
                child.where,
                f"unknown key '{key}'" + (f" in {where}" if path else " at the top level"),
                (f"did you mean '{close}'? " if close else "")
                + f"allowed keys: {', '.join(props)}",
            )
    for key in schema.get("required", []):
        if key not in node.value:
            report.error(
                node.where,
                (f"{where} is missing" if path else "the file is missing") + f" the key '{key}'",
                props.get(key, {}).get("description", ""),
                (*path, key),
            )
    if len(node.value) < schema.get("minProperties", 0):
        report.error(node.where, f"{where} must not be empty", schema.get("description", ""), path)


# --------------------------------------------------------------------------- semantic checks
def _multiple(value: float, base: float) -> int | None:
    """n if `value` is n (>= 1) times `base`, else None.

    Both are rounded to ticks first, so each of the n steps may be off by one tick (a step of
    1/3 s is 333333333 ns, and 1 s is 3 of them to within a tick).
    """
    value_ticks, base_ticks = to_ticks(value), to_ticks(base)
    if base_ticks <= 0:
        return None
    n = round(value_ticks / base_ticks)
    return n if n >= 1 and abs(value_ticks - n * base_ticks) <= n else None


def _near_multiples(key: str, value: float, base: float, origin: float = 0.0) -> str:
    """`use key: a or key: b` with a, b the multiples of `base` (from `origin`) around `value`."""
    origin_ticks, base_ticks = to_ticks(origin), to_ticks(base)
    n = max(1, (to_ticks(value) - origin_ticks) // max(1, base_ticks))
    a, b = (_seconds_text(origin_ticks + k * base_ticks) for k in (n, n + 1))
    return f"use {key}: {a} or {key}: {b}"


def seconds_text(ticks: int) -> str:
    """The shortest decimal text of a time that reads back as exactly `ticks`."""
    for digits in (6, 9, 12, 15, 17):
        text = f"{to_seconds(ticks):.{digits}g}"
        if to_ticks(float(text)) == ticks:
            return text
    return repr(to_seconds(ticks))


_seconds_text = seconds_text


def parse_ref(text: str, loc: Location | None = None) -> VarRef:
    """`component.variable` split at the first dot (the variable may hold dots and brackets)."""
    component, _, variable = text.partition(".")
    return VarRef(component, variable, loc)


class _Builder:
    """Builds a SystemSpec from a checked _Node tree, skipping the parts found broken."""

    def __init__(
        self,
        path: Path,
        root: _Node,
        report: _Report,
        step: float | None = None,
        base: SystemSpec | None = None,
    ) -> None:
        self.step = step  # `--step` from the command line: replaces simulation.step
        self.base = base  # the system of the `ssp:` key, which this file adds to
        self.path = path
        self.file = root.loc.file
        self.root = root.value
        self.report = report
        self.names: list[str] = []  # every component name written (usable or not)
        self.usable: set[str] = set()
        self.orphans: list[tuple[VarRef, str]] = []  # see SystemSpec.orphans
        self._fmu_paths: dict[str, Path] = {}  # fmu: text -> resolved path

    def get(self, *path: str | int, default: Any = None) -> Any:
        """The plain value at `path` from the root, or `default` when absent, empty or broken."""
        node = _Node(self.root, Location(self.file))
        for part in path:
            if not isinstance(node.value, dict | list):
                return default
            try:
                node = node.value[part]
            except (KeyError, IndexError, TypeError):
                return default
        if node.value is _BAD or node.value is None or self.report.is_bad(*path):
            return default
        return plain(node)

    def ref(self, node: _Node, path: tuple, where: str = "") -> VarRef | None:
        """The VarRef written at `node` if its component exists and is usable, else None."""
        if self.report.is_bad(*path) or not isinstance(node.value, str):
            return None
        ref = parse_ref(node.value, node.loc)
        return ref if self.check_component(ref, where or _where(path)) else None

    def check_component(self, ref: VarRef, where: str) -> bool:
        if ref.component in self.usable:
            return True
        if ref.component not in self.names:
            close = did_you_mean(ref.component, self.names)
            wanted = f"{close}.{ref.variable}" if ref.variable else close
            self.report.error(
                ref.loc,
                f"unknown component '{ref.component}'" + (f" in {where}" if where else ""),
                (f"did you mean '{wanted}'? " if close else "")
                + f"components: {_listing(self.names)}",
            )
        return False  # a component that is written but broken was reported already

    # -- sections
    def simulation(self) -> SimulationSpec:
        node = self.root.get("simulation")
        defaults = SimulationSpec()
        tolerance = self.get("simulation", "tolerance")
        sim = SimulationSpec(
            start=float(self.get("simulation", "start", default=defaults.start)),
            stop=float(self.get("simulation", "stop", default=defaults.stop)),
            step=float(self.get("simulation", "step", default=defaults.step))
            if self.step is None
            else float(self.step),
            algorithm=self.get("simulation", "algorithm", default=defaults.algorithm),
            realtime=self.get("simulation", "realtime"),
            loc=node.where if node else None,
            tolerance=float(tolerance) if tolerance is not None else None,
            extrapolation=self.get("simulation", "extrapolation", default="zoh"),
            algebraic_loops=self.get("simulation", "algebraic_loops"),
            loop_solver=self.loop_solver(),
            step_control=self.step_control(node),
            engine=self.get("simulation", "engine"),
            timeout=self.get("simulation", "timeout"),
            isolation=self.get("simulation", "isolation", default="none"),
        )
        if self.base is not None:  # keys this file does not give come from the SSP
            written = set(node.value) if node is not None and isinstance(node.value, dict) else ()
            keys = ("start", "stop", "algorithm", "realtime", "tolerance", "extrapolation")
            keys += ("algebraic_loops", "loop_solver", "step_control", "engine", "timeout")
            keys += ("isolation",)
            kept = {k: getattr(self.base.simulation, k) for k in keys if k not in written}
            if "step" not in written and self.step is None:
                kept["step"] = self.base.simulation.step
            sim = replace(sim, **kept)
        if self.step is not None and not (math.isfinite(sim.step) and to_ticks(sim.step) >= 1):
            self.report.error(
                Location("--step"),
                f"--step must be at least 1e-9 s (the time resolution), got {sim.step:g}",
                "--step is the communication step in seconds",
                ("simulation", "step"),
            )
        if node is None or not isinstance(node.value, dict):
            return sim
        values = node.value
        bad = self.report.is_bad
        if (
            self.step is None
            and "step" in values
            and not bad("simulation", "step")
            and to_ticks(sim.step) < 1
        ):
            self.report.error(
                values["step"].loc,
                f"simulation.step = {sim.step:g} s is below the time resolution of 1 ns",
                "use a step of at least 1e-9 s",
                ("simulation", "step"),
            )
        good = not any(bad("simulation", k) for k in ("start", "stop", "step"))
        if good and "stop" in values and sim.stop <= sim.start:
            self.report.error(
                values["stop"].loc,
                f"simulation.stop ({sim.stop:g}) must be greater than simulation.start "
                f"({sim.start:g})",
                "stop is the end time of the run in seconds",
                ("simulation", "stop"),
            )
        elif good and "stop" in values and not fits_in_ticks(sim.stop - sim.start):
            self.report.error(
                values["stop"].loc,
                f"simulation.stop - simulation.start = {sim.stop - sim.start:g} s is longer than "
                f"the longest run cosim can represent ({MAX_SECONDS:.3g} s)",
                _SPAN_HINT,
                ("simulation", "stop"),
            )
        return sim

    def loop_solver(self) -> LoopSolverSpec:
        d = LoopSolverSpec()
        path = ("simulation", "loop_solver")
        relaxation = self.get(*path, "relaxation", default=d.relaxation)
        if isinstance(relaxation, str) and relaxation != "adaptive":
            self.report.error(
                self.where(*path, "relaxation"),
                f"simulation.loop_solver.relaxation must be a number in (0, 1] or 'adaptive', "
                f"got {relaxation!r}",
                "did you mean 'adaptive'?",
            )
            relaxation = d.relaxation
        elif isinstance(relaxation, int | float) and not 0 < relaxation <= 1:
            self.report.error(
                self.where(*path, "relaxation"),
                f"simulation.loop_solver.relaxation = {relaxation:g} is outside (0, 1]",
                "1 is the plain fixed-point iteration; smaller values damp it",
            )
            relaxation = d.relaxation
        return LoopSolverSpec(
            method=self.get(*path, "method", default=d.method),
            tolerance=float(self.get(*path, "tolerance", default=d.tolerance)),
            max_iterations=int(self.get(*path, "max_iterations", default=d.max_iterations)),
            relaxation=relaxation if isinstance(relaxation, str) else float(relaxation),
        )

    def step_control(self, sim_node: _Node | None) -> StepControlSpec | None:
        path = ("simulation", "step_control")
        if sim_node is None or not isinstance(sim_node.value, dict):
            return None
        node = sim_node.value.get("step_control")
        if node is None or not isinstance(node.value, dict) or self.report.is_bad(*path):
            return None
        d = StepControlSpec()
        low, high = self.get(*path, "min"), self.get(*path, "max")
        spec = StepControlSpec(
            tolerance=float(self.get(*path, "tolerance", default=d.tolerance)),
            min=float(low) if low is not None else None,
            max=float(high) if high is not None else None,
            loc=node.where,
        )
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            self.report.error(
                self.where(*path, "min"),
                f"simulation.step_control.min = {spec.min:g} s is larger than max = {spec.max:g} s",
                "min is the smallest step the controller may take, max the largest",
            )
        return spec

    def where(self, *path: str | int) -> Location | None:
        """The location of the node at `path` (the nearest existing parent's if absent)."""
        node = _Node(self.root, Location(self.file))
        for part in path:
            value = node.value
            in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
            if not (in_list or (isinstance(value, dict) and part in value)):
                break
            node = value[part]
        return node.where

    def step_multiple(self, node: _Node, base: float, path: tuple) -> None:
        if self.report.is_bad(*path) or self.report.is_bad("simulation", "step"):
            return
        if _multiple(node.value, base) is None:
            self.report.error(
                node.loc,
                f"{_where(path)} = {node.value:g} s is not an integer multiple of "
                f"simulation.step = {base:g} s",
                _near_multiples(str(path[-1]), node.value, base),
                path,
            )

    def components(self, sim: SimulationSpec) -> dict[str, ComponentSpec]:
        node = self.root.get("components")
        base = dict(self.base.components) if self.base is not None else {}
        self.names = list(base)
        self.usable = set(base)
        if node is None or not isinstance(node.value, dict):
            return base
        self.names += [n for n in node.value if n not in base]
        out: dict[str, ComponentSpec] = base
        for name, comp in node.value.items():
            path = ("components", name)
            if name in base:
                self.report.error(
                    comp.where,
                    f"component '{name}' is already in the SSP (at {base[name].loc})",
                    "components: here adds components to the SSP's; change a parameter with "
                    "--set or a sweep design instead, or choose another name",
                )
                continue
            if not isinstance(comp.value, dict) or self.report.is_bad(*path, "fmu"):
                continue
            fmu_node = comp.value["fmu"]
            fmu_path = self.fmu_path(fmu_node)
            if "step" in comp.value:
                step_path = (*path, "step")
                self.step_multiple(comp.value["step"], sim.step, step_path)
            params_node = comp.value.get("parameters")
            params: dict[str, Value] = {}
            locs: dict[str, Location] = {}
            if params_node is not None and isinstance(params_node.value, dict):
                for key, child in params_node.value.items():
                    if not self.report.is_bad(*path, "parameters", key):
                        params[key] = plain(child)  # a list for a whole array
                        locs[key] = child.where
            step = self.get(*path, "step")
            tolerance, max_step = self.get(*path, "tolerance"), self.get(*path, "max_step")
            timeout = self.get(*path, "timeout")
            keys = ("interface", "solver", "tolerance", "max_step", "timeout", "isolation")
            key_locs = {k: comp.value[k].loc for k in keys if k in comp.value}
            out[name] = ComponentSpec(
                name=name,
                fmu=fmu_node.value,
                fmu_path=fmu_path,
                base_dir=self.path.parent,
                parameters=params,
                parameter_locs=locs,
                step=float(step) if step is not None else None,
                loc=comp.where,
                fmu_loc=fmu_node.loc,
                interface=self.get(*path, "interface"),
                solver=self.get(*path, "solver"),
                tolerance=float(tolerance) if tolerance is not None else None,
                max_step=float(max_step) if max_step is not None else None,
                timeout=float(timeout) if timeout is not None else None,
                isolation=self.get(*path, "isolation"),
                key_locs=key_locs,
            )
        self.usable = set(out)
        return out

    def fmu_path(self, node: _Node) -> Path:
        """The `fmu:` text as a path relative to the file's folder (no lookup: see resolve.fmus)."""
        text = str(node.value)
        resolved = self._fmu_paths.get(text)
        if resolved is None:  # a thousand components of one FMU resolve its path once
            path = Path(text)
            path = path if path.is_absolute() else self.path.parent / path
            try:
                resolved = path.resolve()
            except (OSError, ValueError):  # a NUL byte, a name too long: resolve.fmus says so
                resolved = path
            self._fmu_paths[text] = resolved
        return resolved

    def connections(self) -> tuple[ConnectionSpec, ...]:
        node = self.root.get("connections")
        out = list(self.base.connections) if self.base is not None else []
        if node is None or not isinstance(node.value, list):
            return tuple(out)
        targets: dict[str, Location | None] = {str(c.target): c.loc for c in out}
        for i, item in enumerate(node.value):
            path = ("connections", i)
            if not isinstance(item.value, dict) or self.report.is_bad(*path):
                continue
            source = self.ref(item.value["from"], (*path, "from"))
            target = self.ref(item.value["to"], (*path, "to"))
            if target is not None and str(target) in targets:
                self.report.error(
                    target.loc,
                    f"input {target} is driven twice",
                    f"it is already the target of the connection at {targets[str(target)]}; "
                    "an input takes one connection",
                )
                continue
            if target is not None:
                targets[str(target)] = target.loc
            if source is None or target is None:
                self.orphans += [(r, role) for r, role in ((source, "output"), (target, "input"))
                                 if r is not None]  # fmt: skip
                continue
            out.append(
                ConnectionSpec(
                    source=source,
                    target=target,
                    gain=float(self.get(*path, "gain", default=1.0)),
                    offset=float(self.get(*path, "offset", default=0.0)),
                    loc=item.loc,
                    convert=self.get(*path, "convert"),
                    extrapolation=self.get(*path, "extrapolation"),
                    mapping=self.mapping(path),
                    unit_conversion=bool(self.get(*path, "unit_conversion", default=True)),
                )
            )
        return tuple(out)

    def mapping(self, path: tuple) -> tuple[tuple[Value, Value], ...]:
        """A connection's `mapping:` as (from, to) pairs (a source value listed twice: error)."""
        items = self.get(*path, "mapping", default=[])
        pairs: dict[Any, Value] = {}
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or "from" not in item or "to" not in item:
                continue
            key = (type(item["from"]) is bool, item["from"])
            if key in pairs:
                self.report.error(
                    self.where(*path, "mapping", i),
                    f"the mapping lists the source value {item['from']!r} twice",
                    "give each source value one target value",
                )
                continue
            pairs[key] = item["to"]
        return tuple((k[1], v) for k, v in pairs.items())

    def inputs(self) -> tuple[InputTableSpec, ...]:
        """The `inputs:` tables: file, map (column -> component.variable) or component."""
        node = self.root.get("inputs")
        if node is None or not isinstance(node.value, list):
            return ()
        out = []
        for i, item in enumerate(node.value):
            path = ("inputs", i)
            if not isinstance(item.value, dict) or self.report.is_bad(*path):
                continue
            fields = item.value
            has_map, component = "map" in fields, self.get(*path, "component")
            if has_map == (component is not None):
                self.report.error(
                    item.loc,
                    f"inputs[{i}] needs exactly one of map: or component:",
                    "map: {column: component.variable, ...} names the inputs one by one; "
                    "component: NAME drives NAME's inputs from the columns named after them",
                )
                continue
            targets: dict[str, VarRef] = {}
            if has_map and isinstance(fields["map"].value, dict):
                for column, ref_node in fields["map"].value.items():
                    ref = self.ref(ref_node, (*path, "map", column))
                    if ref is not None:
                        targets[column] = ref
            if component is not None and not self.check_component(
                VarRef(component, "", fields["component"].loc), f"inputs[{i}].component"
            ):
                continue
            file = str(self.get(*path, "file"))
            locs = {k: v.loc for k, v in fields.items()}
            locs.update({f"map.{k}": v.loc for k, v in targets.items()})
            out.append(
                InputTableSpec(
                    file=file,
                    path=(self.path.parent / file).resolve(),
                    map=targets,
                    component=component,
                    interpolation=self.get(*path, "interpolation", default="auto"),
                    outside=self.get(*path, "outside", default="error"),
                    time=self.get(*path, "time"),
                    loc=item.loc,
                    key_locs=locs,
                )
            )
        return tuple(out)

    def record(self, sim: SimulationSpec) -> RecordSpec:
        node = self.root.get("record")
        if node is None or not isinstance(node.value, dict):
            return self.base.record if self.base is not None else RecordSpec()
        variables = None
        var_node = node.value.get("variables")
        if var_node is not None and isinstance(var_node.value, list):
            refs, seen = [], {}
            for i, item in enumerate(var_node.value):
                ref = self.ref(item, ("record", "variables", i))
                if ref is None:
                    continue
                if str(ref) in seen:
                    self.report.error(
                        ref.loc,
                        f"{ref} is listed twice in record.variables",
                        f"it is already listed at {seen[str(ref)]}; remove one",
                    )
                    continue
                seen[str(ref)] = ref.loc
                refs.append(ref)
            variables = tuple(refs)
        interval = self.get("record", "interval")
        if interval is not None:
            path = ("record", "interval")
            self.step_multiple(node.value["interval"], sim.step, path)
        return RecordSpec(
            variables=variables,
            interval=float(interval) if interval is not None else None,
            loc=node.where,
        )

    def events(self, sim: SimulationSpec) -> tuple[EventSpec, ...]:
        node = self.root.get("events")
        if node is None or not isinstance(node.value, list):
            return ()
        out = []
        time_ok = not any(self.report.is_bad("simulation", k) for k in ("start", "stop"))
        for i, item in enumerate(node.value):
            path = ("events", i)
            if not isinstance(item.value, dict) or self.report.is_bad(*path):
                continue
            at_node = item.value["at"]
            at = float(at_node.value)
            if time_ok and not sim.start <= at <= sim.stop:
                self.report.error(
                    at_node.loc,
                    f"events[{i}].at = {at:g} s is outside the simulation time "
                    f"[{sim.start:g}, {sim.stop:g}] s",
                    "an event time must lie between simulation.start and simulation.stop",
                )
                continue
            values: dict[VarRef, Value] = {}
            for key, child in item.value["set"].value.items():
                ref = self.ref(_Node(key, child.where), (*path, "set", key), f"events[{i}].set")
                if ref is not None and not self.report.is_bad(*path, "set", key):
                    values[ref] = child.value
            if values:
                out.append(EventSpec(at=at, set=values, loc=item.loc))
        return tuple(out)

    def overrides(self, components: dict[str, ComponentSpec], overrides: Sequence[str]) -> None:
        """Apply `--set comp.var=value` into the components' parameters (in place)."""
        _override(components, overrides, self.report, lambda ref: self.check_component(ref, ""))


def _override(
    components: dict[str, ComponentSpec],
    overrides: Sequence[str],
    report: _Report,
    known: Callable[[VarRef], bool],
) -> None:
    """`--set comp.var=value` texts into `components` (in place); `known` reports a bad name."""
    for text in overrides:
        loc = Location(f"--set {text}")
        name, eq, raw = text.partition("=")
        if not eq or "." not in name.strip(".") or not raw.strip():
            report.error(
                loc,
                "a parameter override must look like component.variable=value",
                "for example: --set mass1.m1=2.0",
            )
            continue
        ref = parse_ref(name.strip(), loc)
        value = _scalar(raw, loc, report)
        if value is _BAD or not known(ref):
            continue
        comp = components[ref.component]
        components[ref.component] = replace(
            comp,
            parameters={**comp.parameters, ref.variable: value},
            parameter_locs={**comp.parameter_locs, ref.variable: loc},
        )


def apply_overrides(spec: SystemSpec, overrides: Sequence[str]) -> tuple[SystemSpec, list[Problem]]:
    """`spec` with `--set comp.var=value` texts in its components' parameters, and the problems
    (the same rules as a YAML file's overrides; other readers, like SSP's, use it)."""
    report = _Report()
    components = dict(spec.components)
    names = list(components)

    def known(ref: VarRef) -> bool:
        if ref.component in components:
            return True
        close = did_you_mean(ref.component, names)
        report.error(
            ref.loc,
            f"unknown component '{ref.component}'",
            (f"did you mean '{close}.{ref.variable}'? " if close else "")
            + f"components: {_listing(names)}",
        )
        return False

    _override(components, overrides, report, known)
    return replace(spec, components=components), report.problems


def _scalar(text: str, loc: Location, report: _Report) -> Any:
    """A `--set` value read as one safe YAML scalar (2.0 -> float, true -> bool, abc -> str)."""
    sub = _Report()
    node = _parse(text, loc.file, sub)
    if node is None or sub.problems or isinstance(node.value, dict | list) or node.value is None:
        report.error(
            loc,
            f"cannot read the value {text!r}",
            "give a number, true/false or text, e.g. --set mass1.m1=2.0",
        )
        return _BAD
    if isinstance(node.value, float) and not math.isfinite(node.value):
        report.error(loc, f"the value {text!r} is not a finite number")
        return _BAD
    return node.value


# --------------------------------------------------------------------------- entry points
# reads the system a file's `ssp:` key names: (path, step) -> (spec or None, problems)
BaseReader = Callable[[Path, "float | None"], "tuple[SystemSpec | None, list[Problem]]"]


def read_system(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    text: str | None = None,
    step: float | None = None,
    base_reader: BaseReader | None = None,
) -> tuple[SystemSpec | None, list[Problem]]:
    """Best-effort SystemSpec (broken parts left out) and every problem found in the file.

    The spec is None only when the file cannot be read as a YAML mapping at all. With `text`,
    that text is read as if it were the file `path` (which need not exist: System.from_dict).
    `step` (`cosim run --step`) replaces simulation.step, checked by the same rules.
    A file with `ssp: X.ssp` adds to the system `base_reader` reads from it (resolve passes
    cosim.ssp's reader; io never imports it).
    """
    file = str(path)
    path = Path(path).resolve()
    report = _Report()
    try:
        if text is None:
            why = unreadable(path, MAX_SYSTEM_BYTES)
            if why is not None:  # a FIFO would block, /dev/zero never end
                report.error(
                    Location(file),
                    f"cannot read the system file: {why}",
                    "name a system .yaml file (limits: docs/limits.md)",
                )
                return None, report.problems
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        report.error(Location(file), f"cannot read the system file: {reason}", _read_hint(exc))
        return None, report.problems
    root = _parse(text, file, report, index=True)
    if root is None:
        return None, report.problems
    with_ssp = isinstance(root.value, dict) and "ssp" in root.value
    _check(root, SSP_STRUCTURE_SCHEMA if with_ssp else STRUCTURE_SCHEMA, (), report)
    if not isinstance(root.value, dict):
        return None, report.problems
    base = _base_system(root, path, report, step, base_reader) if with_ssp else None
    if with_ssp and base is None:
        return None, sort_problems(report.problems)
    build = _Builder(path, root, report, step, base)
    sim = build.simulation()
    components = build.components(sim)
    connections = build.connections()
    record = build.record(sim)
    events = build.events(sim)
    inputs = build.inputs()
    build.overrides(components, overrides)
    name = build.get("name") or (base.name if base is not None else path.stem)
    spec = SystemSpec(
        name=str(name),
        path=path,
        text=str(text),  # plain text (a Generated marker stops at the parser)
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        simulation=sim,
        components=components,
        connections=connections,
        record=record,
        events=(base.events if base is not None else ()) + events,
        inputs=inputs,
        description=build.get("description", default=base.description if base else ""),
        notes=base.notes if base is not None else (),
        extra={
            k: plain(root.value[k])
            for k in EXTRA_SECTIONS + TWIN_SECTIONS + STUDY_SECTIONS
            if k in root.value
        },
        orphans=tuple(build.orphans),
    )
    spec = _live_sections(spec, file, build.names, report)
    return replace(spec, warnings=report.warnings), sort_problems(report.problems)


def _base_system(
    root: _Node, path: Path, report: _Report, step: float | None, reader: BaseReader | None
) -> SystemSpec | None:
    """The system the `ssp:` key names (None if it cannot be read: the problems are reported)."""
    node = root.value["ssp"]
    if report.is_bad("ssp") or not isinstance(node.value, str):
        return None
    if reader is None:
        report.error(node.loc, "ssp: is read when the system is loaded (cosim.load, cosim run)")
        return None
    sim = root.value.get("simulation")
    if step is None and sim is not None and isinstance(sim.value, dict) and "step" in sim.value:
        given = sim.value["step"].value
        step = (
            float(given) if isinstance(given, int | float) and not isinstance(given, bool) else None
        )
    ssp = Path(node.value)
    base, problems = reader(ssp if ssp.is_absolute() else path.parent / ssp, step)
    report.extend([p if p.loc is not None else replace(p, loc=node.loc) for p in problems])
    return base


def _live_sections(
    spec: SystemSpec, file: str, names: Sequence[str], report: _Report
) -> SystemSpec:
    """`spec` with its `opcua:` and `plant:` sections typed; their problems go to `report`."""
    opcua = plant = None
    if "opcua" in spec.extra:
        from cosim.io.opcua import check_opcua

        opcua, found = check_opcua(
            spec.extra["opcua"], spec.path.parent, file=file, text=spec.text,
            components=list(names),
        )  # fmt: skip
        report.extend(found)
    if "plant" in spec.extra:
        from cosim.io.plant import parse_plant

        try:
            plant = parse_plant(spec, file=file)
            report.extend(plant.warnings)
        except ConfigError as err:
            report.extend(err.problems)
    analytics = None
    if any(k in spec.extra for k in TWIN_SECTIONS):
        from cosim.io.analytics import parse_analytics

        analytics, found = parse_analytics(spec, file=file)
        report.extend(found)
    sweep = None
    if "sweep" in spec.extra:
        from cosim.io.sweep import parse_sweep

        sweep, found = parse_sweep(spec, file=file)
        report.extend(found)
    if not (opcua or plant or analytics or sweep):
        return spec
    return replace(spec, opcua=opcua, plant=plant, analytics=analytics or None, sweep=sweep)


def _read_hint(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "save the file as UTF-8 text"
    if isinstance(exc, FileNotFoundError):
        return f"check the path; a relative path starts from the current folder {Path.cwd()}"
    if isinstance(exc, IsADirectoryError):
        return "give the system .yaml file, not a folder"
    if isinstance(exc, PermissionError):
        return "check that you may read the file (its permissions)"
    return "check that the file exists and is readable"


def check_stop_override(spec: SystemSpec, stop: float) -> list[Problem]:
    """Problems of a stop time given on the command line (`--stop`), at location `--stop`.

    The same rules as `simulation.stop` in the file: finite, within the 64-bit tick range,
    and after simulation.start (a stop off the step grid makes the last step shorter).
    """
    sim = spec.simulation
    loc = Location("--stop")
    report = _Report()
    if not isinstance(stop, int | float) or isinstance(stop, bool) or not math.isfinite(stop):
        report.error(loc, f"--stop must be a finite number of seconds, got {stop}")
    elif not fits_in_ticks(stop):
        _out_of_time_range(loc, "--stop", stop, report)
    elif stop <= sim.start:
        report.error(
            loc,
            f"--stop {stop:g} must be greater than simulation.start ({sim.start:g})",
            "--stop is the end time of the run in seconds",
        )
    elif not fits_in_ticks(stop - sim.start):
        report.error(
            loc,
            f"--stop {stop:g} - simulation.start = {stop - sim.start:g} s is longer than the "
            f"longest run cosim can represent ({MAX_SECONDS:.3g} s)",
            _SPAN_HINT,
        )
    return report.problems


def with_stop(spec: SystemSpec, stop: float | None) -> SystemSpec:
    """`spec` with its stop time replaced by `stop` (unchanged if None); ConfigError if bad."""
    if stop is None:
        return spec
    problems = check_stop_override(spec, stop)
    if problems:
        raise ConfigError(problems)
    kept, dropped = [], []
    for event in spec.events:
        (dropped if to_ticks(event.at) > to_ticks(stop) else kept).append(event)
    warnings = [
        Problem(
            e.loc,
            f"the event at t = {e.at:g} s is after the stop time t = {stop:g} s; it is not applied",
            "the stop time given on the command line (--stop) ends the run first",
            severity="warning",
        )
        for e in dropped
    ]
    return replace(
        spec,
        simulation=replace(spec.simulation, stop=float(stop)),
        events=tuple(kept),
        warnings=(*spec.warnings, *warnings),
    )


def load_system(
    path: str | Path,
    overrides: Sequence[str] = (),
    stop: float | None = None,
    *,
    text: str | None = None,
) -> SystemSpec:
    """Read and check a system YAML file; raise one ConfigError holding every problem.

    `stop` (from `--stop`) replaces simulation.stop after checking it (check_stop_override);
    `text` is read in place of the file's contents (see read_system).
    """
    spec, problems = read_system(path, overrides, text=text)
    return stopped_or_raise(spec, problems, stop)


def stopped_or_raise(
    spec: SystemSpec | None, problems: list[Problem], stop: float | None
) -> SystemSpec:
    """`spec` with `stop` (checked) applied, or one ConfigError holding every problem when
    any is an error: how every reader's result becomes a spec to run."""
    if spec is not None and stop is not None:
        problems = problems + check_stop_override(spec, stop)
    if spec is None or any(p.severity == "error" for p in problems):
        raise ConfigError(sort_problems(problems))
    return with_stop(spec, stop)


__all__ = [
    "apply_overrides",
    "check_stop_override",
    "describe",
    "did_you_mean",
    "load_system",
    "parse_ref",
    "plain",
    "read_system",
    "sort_problems",
    "stopped_or_raise",
    "time_problems",
    "with_stop",
]
