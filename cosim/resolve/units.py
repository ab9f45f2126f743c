"""Convert values between two FMU units from their BaseUnit definitions (or a small table)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from cosim.errors import ConfigError, Problem
from cosim.model.units import BASE_UNITS, Unit, linear_map, unit_definitions


def _unit(name: str, factor: float = 1.0, offset: float = 0.0, **exponents: int) -> Unit:
    return Unit(name, tuple(exponents.get(b, 0) for b in BASE_UNITS), factor, offset)


_PI = math.pi
# Used only when a model description gives no BaseUnit for a unit name.
BUILTIN: dict[str, Unit] = {
    u.name: u
    for u in (
        _unit("1"),
        _unit("%", 0.01),
        _unit("m", m=1),
        _unit("km", 1e3, m=1),
        _unit("cm", 1e-2, m=1),
        _unit("mm", 1e-3, m=1),
        _unit("s", s=1),
        _unit("ms", 1e-3, s=1),
        _unit("min", 60.0, s=1),
        _unit("h", 3600.0, s=1),
        _unit("Hz", s=-1),
        _unit("kg", kg=1),
        _unit("g", 1e-3, kg=1),
        _unit("m/s", m=1, s=-1),
        _unit("km/h", 1 / 3.6, m=1, s=-1),
        _unit("m/s2", m=1, s=-2),
        _unit("N", kg=1, m=1, s=-2),
        _unit("kN", 1e3, kg=1, m=1, s=-2),
        _unit("N.m", kg=1, m=2, s=-2),
        _unit("J", kg=1, m=2, s=-2),
        _unit("kJ", 1e3, kg=1, m=2, s=-2),
        _unit("W.h", 3600.0, kg=1, m=2, s=-2),
        _unit("kW.h", 3.6e6, kg=1, m=2, s=-2),
        _unit("W", kg=1, m=2, s=-3),
        _unit("kW", 1e3, kg=1, m=2, s=-3),
        _unit("Pa", kg=1, m=-1, s=-2),
        _unit("kPa", 1e3, kg=1, m=-1, s=-2),
        _unit("bar", 1e5, kg=1, m=-1, s=-2),
        _unit("A", A=1),
        _unit("mA", 1e-3, A=1),
        _unit("A.h", 3600.0, A=1, s=1),
        _unit("C", A=1, s=1),
        _unit("V", kg=1, m=2, s=-3, A=-1),
        _unit("Ohm", kg=1, m=2, s=-3, A=-2),
        _unit("K", K=1),
        _unit("degC", 1.0, 273.15, K=1),
        _unit("degF", 5 / 9, 273.15 - 32 * 5 / 9, K=1),
        _unit("rad", rad=1),
        _unit("deg", _PI / 180, rad=1),
        _unit("rad/s", rad=1, s=-1),
        _unit("deg/s", _PI / 180, rad=1, s=-1),
        _unit("rpm", 2 * _PI / 60, rad=1, s=-1),
        _unit("rev/min", 2 * _PI / 60, rad=1, s=-1),
    )
}


def find_unit(name: str, definitions: Mapping[str, Unit] | None = None) -> Unit | None:
    """The unit called `name`: from the FMU's own definitions first, then the built-in table."""
    if definitions and name in definitions:
        return definitions[name]
    return BUILTIN.get(name)


def conversion(
    from_unit: str | None,
    to_unit: str | None,
    from_definitions: Mapping[str, Unit] | None = None,
    to_definitions: Mapping[str, Unit] | None = None,
) -> tuple[float, float]:
    """(gain, offset) such that value_in_to_unit = gain * value_in_from_unit + offset.

    No unit on either side, or the same unit name, means no conversion: (1.0, 0.0).
    Raises ConfigError when a unit is unknown or the two have different dimensions.
    """
    if not from_unit or not to_unit or from_unit == to_unit:
        return 1.0, 0.0
    src = find_unit(from_unit, from_definitions)
    dst = find_unit(to_unit, to_definitions)
    for name, unit in ((from_unit, src), (to_unit, dst)):
        if unit is None:
            raise ConfigError(
                Problem(
                    None,
                    f"unit '{name}' has no definition",
                    "declare it with a BaseUnit in the FMU's UnitDefinitions",
                )
            )
    assert src is not None and dst is not None
    mapped = linear_map(src, dst)
    if mapped is None:
        raise ConfigError(
            Problem(
                None,
                f"unit '{from_unit}' ({src.dimension}) cannot be converted to '{to_unit}' "
                f"({dst.dimension})",
                "the two variables measure different quantities",
            )
        )
    return mapped


__all__ = ["BASE_UNITS", "BUILTIN", "Unit", "conversion", "find_unit", "unit_definitions"]
