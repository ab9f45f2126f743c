"""SSP parameter sets (.ssv or inline ssv:ParameterSet) and parameter mappings (.ssm), as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cosim.errors import Location
from cosim.ssp.read_units import Unit, read_units
from cosim.ssp.read_xml import (
    Report,
    XmlFile,
    boolean,
    children,
    children_named,
    kind_of,
    local,
    number,
)

REAL_TYPES = ("Real", "Float64", "Float32")
INTEGER_TYPES = (
    "Integer",
    "Int8",
    "UInt8",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Int64",
    "UInt64",
)
VALUE_TYPES = (*REAL_TYPES, *INTEGER_TYPES, "Boolean", "String", "Enumeration", "Binary")


def read_enumerations(x: XmlFile, el: Any, report: Report) -> dict[str, dict[str, int]]:
    """<ssc:Enumerations>: enumeration name -> {item name: value} (file scoped)."""
    out: dict[str, dict[str, int]] = {}
    if el is None:
        return out
    for enum in children(el):
        name = enum.get("name")
        if local(enum.tag) != "Enumeration" or not name:
            report.error(x.loc(enum), 'expected <ssc:Enumeration name="..."> in <Enumerations>')
            continue
        items: dict[str, int] = {}
        for item in children(enum):
            iname, raw = item.get("name"), item.get("value")
            try:
                items[str(iname)] = int(str(raw))
            except ValueError:
                report.error(
                    x.loc(item, "value"), f"enumeration item value {raw!r} is not an integer"
                )
        out[name] = items
    return out


@dataclass
class ParamValue:
    """One ssv:Parameter: its name, SSP type, value (a list for an array) and unit."""

    name: str
    type: str  # one of VALUE_TYPES
    value: Any
    unit: str | None
    loc: Location
    units: dict[str, Unit] = field(default_factory=dict)  # the file's ssc:Units
    enum: str | None = None  # Enumeration: the enumeration's name (SSV `name` attribute)
    enums: dict[str, dict[str, int]] = field(default_factory=dict)  # the file's enumerations


@dataclass
class Transform:
    """A value transformation (ssc:LinearTransformation / *MappingTransformation)."""

    kind: str  # "linear" | "boolean" | "integer" | "enumeration"
    factor: float = 1.0
    offset: float = 0.0
    entries: tuple[tuple[Any, Any], ...] = ()  # mappings: (source, target) as written
    loc: Location | None = None


@dataclass
class MappingEntry:
    source: str
    target: str
    transform: Transform | None
    suppress_units: bool
    loc: Location


TRANSFORMS = (
    "LinearTransformation",
    "BooleanMappingTransformation",
    "IntegerMappingTransformation",
    "EnumerationMappingTransformation",
)


def read_transform(x: XmlFile, el: Any, report: Report) -> Transform | None:
    """One ssc transformation element (None, reported, if broken)."""
    name = local(el.tag)
    loc = x.loc(el)
    if name == "LinearTransformation":
        factor = number(x, el, "factor", report, 1.0)
        offset = number(x, el, "offset", report, 0.0)
        if factor is None or offset is None:
            return None
        return Transform("linear", factor, offset, loc=loc)
    kind = name.removesuffix("MappingTransformation").lower()
    entries: list[tuple[Any, Any]] = []
    seen: dict[Any, Location] = {}
    for entry in children_named(x, el, "MapEntry", report):
        source, target = entry.get("source"), entry.get("target")
        if source is None or target is None:
            report.error(x.loc(entry), "<MapEntry> needs both source and target")
            continue
        if kind == "boolean":
            source, target = (
                boolean(x, entry, "source", report),
                boolean(x, entry, "target", report),
            )
            if source is None or target is None:
                continue
        elif kind == "integer":
            try:
                source, target = int(source), int(target)
            except ValueError:
                report.error(
                    x.loc(entry),
                    f"<MapEntry source={source!r} target={target!r}> must map integers to integers",
                )
                continue
        if source in seen:
            report.error(
                x.loc(entry, "source"),
                f"source value {source!r} is mapped twice",
                f"it is already mapped at {seen[source]}; mappings must be unambiguous",
            )
            continue
        seen[source] = x.loc(entry, "source")
        entries.append((source, target))
    return Transform(kind, entries=tuple(entries), loc=loc)


def read_parameter_set(x: XmlFile, el: Any, report: Report) -> list[ParamValue]:
    """The parameters of an ssv:ParameterSet element."""
    units = read_units(x, _child(el, "Units"), report)
    enums = read_enumerations(x, _child(el, "Enumerations"), report)
    out: list[ParamValue] = []
    params = _child(el, "Parameters")
    for c in children(el):
        if local(c.tag) not in (
            "Parameters",
            "Units",
            "Enumerations",
            "Annotations",
            "MetaData",
            "Signature",
        ):
            report.error(
                x.loc(c),
                f"unknown element <{local(c.tag)}> in <ParameterSet>",
                "allowed here: Parameters, Enumerations, Units, Annotations",
            )
    if params is None:
        return out
    seen: dict[str, Location] = {}
    for p in children_named(x, params, "Parameter", report):
        name = p.get("name")
        if not name:
            report.error(x.loc(p), "<Parameter> has no name", 'add name="..."')
            continue
        if name in seen:
            report.error(
                x.loc(p, "name"),
                f"parameter '{name}' is given twice in this set",
                f"it is already given at {seen[name]}; keep one",
            )
            continue
        seen[name] = x.loc(p, "name")
        typed = [c for c in children(p) if local(c.tag) in VALUE_TYPES]
        others = [
            c for c in children(p) if local(c.tag) not in (*VALUE_TYPES, "Annotations", "Dimension")
        ]
        for c in others:
            report.error(
                x.loc(c),
                f"unknown element <{local(c.tag)}> in <Parameter>",
                'give the value as e.g. <ssv:Real value="1.5"/>',
            )
        if len(typed) != 1:
            report.error(
                x.loc(p),
                f"parameter '{name}' must have exactly one value element",
                f"one of: {', '.join(VALUE_TYPES)}",
            )
            continue
        v = typed[0]
        value = _value(x, v, name, report)
        if value is None:
            continue
        out.append(
            ParamValue(
                name, local(v.tag), value, v.get("unit"), x.loc(p), units, v.get("name"), enums
            )
        )
    return out


def _value(x: XmlFile, v: Any, name: str, report: Report) -> Any:
    kind = local(v.tag)
    if kind == "Binary":
        report.error(
            x.loc(v),
            f"parameter '{name}': Binary values are not supported by cosim",
            "remove the parameter",
        )
        return None
    raw = v.get("value")
    if raw is None and kind in ("String", "Enumeration"):  # SSP 2.0 arrays: <ssv:Value> items
        items = [c.get("value") for c in children(v) if local(c.tag) == "Value"]
        if items:
            return items if len(items) > 1 else items[0]
    if raw is None:
        report.error(x.loc(v), f"parameter '{name}' has no value", 'add value="..."')
        return None
    if kind in ("String", "Enumeration"):
        return raw
    parts = raw.split()
    out = []
    for part in parts:
        try:
            if kind in REAL_TYPES:
                item: Any = float(part)
            elif kind in INTEGER_TYPES:
                item = int(part)
            else:
                if part not in ("true", "false", "1", "0"):
                    raise ValueError
                item = part in ("true", "1")
        except ValueError:
            report.error(x.loc(v, "value"), f"parameter '{name}': {part!r} is not a valid {kind}")
            return None
        out.append(item)
    if not out:
        report.error(x.loc(v, "value"), f"parameter '{name}' has an empty value")
        return None
    return out if len(out) > 1 else out[0]


def read_mapping(x: XmlFile, el: Any, report: Report) -> list[MappingEntry]:
    """The entries of an ssm:ParameterMapping element."""
    out: list[MappingEntry] = []
    for entry in children(el):
        if local(entry.tag) == "Annotations":
            continue
        if local(entry.tag) != "MappingEntry" or kind_of(entry) not in ("ssm", ""):
            report.error(
                x.loc(entry),
                f"unknown element <{local(entry.tag)}> in <ParameterMapping>",
                "allowed here: MappingEntry",
            )
            continue
        source, target = entry.get("source"), entry.get("target")
        if not source or not target:
            report.error(x.loc(entry), "<MappingEntry> needs both source and target")
            continue
        transform = None
        for c in children(entry):
            if local(c.tag) in TRANSFORMS:
                transform = read_transform(x, c, report)
            elif local(c.tag) != "Annotations":
                report.error(
                    x.loc(c),
                    f"unknown element <{local(c.tag)}> in <MappingEntry>",
                    f"allowed here: {', '.join(TRANSFORMS)}",
                )
        suppress = boolean(x, entry, "suppressUnitConversion", report, False)
        out.append(MappingEntry(source, target, transform, bool(suppress), x.loc(entry)))
    return out


def _child(el: Any, name: str) -> Any:
    return next((c for c in children(el) if local(c.tag) == name), None)


__all__ = [
    "INTEGER_TYPES",
    "MappingEntry",
    "ParamValue",
    "REAL_TYPES",
    "TRANSFORMS",
    "Transform",
    "VALUE_TYPES",
    "read_enumerations",
    "read_mapping",
    "read_parameter_set",
    "read_transform",
]
