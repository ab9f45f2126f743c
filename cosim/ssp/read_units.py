"""SSP unit definitions (ssc:Units: BaseUnit exponents, factor, offset) and conversions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cosim.model.units import BASE_UNITS, Unit, linear_map, unit_definitions
from cosim.ssp.read_xml import Report, XmlFile, children, children_named, local, number

Table = Mapping[str, Unit]


def read_units(x: XmlFile, units_el: Any, report: Report) -> dict[str, Unit]:
    """The units of one <ssc:Units> element (file scoped, as the standard says)."""
    out: dict[str, Unit] = {}
    if units_el is None:
        return out
    for unit_el in children_named(x, units_el, "Unit", report):
        name = unit_el.get("name")
        if not name:
            report.error(x.loc(unit_el), "<Unit> has no name", 'add name="..."')
            continue
        if name in out:
            report.error(x.loc(unit_el, "name"), f"unit '{name}' is defined twice in this file")
            continue
        base = next((c for c in children(unit_el) if local(c.tag) == "BaseUnit"), None)
        if base is None:
            report.error(
                x.loc(unit_el),
                f"unit '{name}' has no <BaseUnit>",
                'add e.g. <ssc:BaseUnit m="1" s="-1"/>',
            )
            continue
        exps = []
        for b in BASE_UNITS:
            raw = base.get(b, "0")
            try:
                exps.append(int(raw))
            except ValueError:
                report.error(x.loc(base, b), f"{b}={raw!r} is not an integer exponent")
                exps.append(0)
        factor = number(x, base, "factor", report, 1.0)
        offset = number(x, base, "offset", report, 0.0)
        if factor == 0.0:
            report.error(x.loc(base, "factor"), f"unit '{name}' has factor 0")
            continue
        out[name] = Unit(name, tuple(exps), factor or 1.0, offset or 0.0)
    return out


fmu_units = unit_definitions  # the units an FMU declares with a BaseUnit


def find(name: str, tables: Iterable[Table]) -> Unit | None:
    for table in tables:
        if name in table:
            return table[name]
    return None


class UnitError(Exception):
    """A conversion that cannot be made (message says why)."""


def conversion(from_unit: str, to_unit: str, tables: Iterable[Table]) -> tuple[float, float]:
    """(gain, offset) with value_in_to = gain * value_in_from + offset; UnitError if impossible."""
    if from_unit == to_unit:
        return 1.0, 0.0
    tables = list(tables)
    src, dst = find(from_unit, tables), find(to_unit, tables)
    for name, unit in ((from_unit, src), (to_unit, dst)):
        if unit is None:
            raise UnitError(f"unit '{name}' has no definition")
    assert src is not None and dst is not None
    mapped = linear_map(src, dst)
    if mapped is None:
        raise UnitError(
            f"unit '{from_unit}' ({src.dimension}) cannot be converted to '{to_unit}' "
            f"({dst.dimension})"
        )
    return mapped


__all__ = ["BASE_UNITS", "Unit", "UnitError", "conversion", "find", "fmu_units", "read_units"]
