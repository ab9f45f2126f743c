"""A unit as SI base-unit exponents, factor and offset (FMI BaseUnit, SSP ssc:BaseUnit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BASE_UNITS = ("kg", "m", "s", "A", "K", "mol", "cd", "rad")


@dataclass(frozen=True)
class Unit:
    """value in SI base units = factor * value + offset; exponents over BASE_UNITS."""

    name: str
    exponents: tuple[int, ...]
    factor: float = 1.0
    offset: float = 0.0

    @property
    def dimension(self) -> str:
        """The exponents written as FMI-style unit text, e.g. `m.s-1`, `1` for none."""
        pairs = zip(BASE_UNITS, self.exponents, strict=True)
        parts = [f"{b}{e if e != 1 else ''}" for b, e in pairs if e]
        return ".".join(parts) or "1"


def unit_definitions(model_description: Any) -> dict[str, Unit]:
    """The units an FMU declares with a BaseUnit (fmpy's model_description.unitDefinitions)."""
    out = {}
    for u in getattr(model_description, "unitDefinitions", None) or ():
        base = u.baseUnit
        if u.name and base is not None:
            exps = tuple(int(getattr(base, b, 0) or 0) for b in BASE_UNITS)
            out[u.name] = Unit(u.name, exps, float(base.factor), float(base.offset))
    return out


def linear_map(src: Unit, dst: Unit) -> tuple[float, float] | None:
    """(gain, offset) with value_in_dst = gain * value_in_src + offset, or None when the two
    measure different quantities."""
    if src.exponents != dst.exponents:
        return None
    # SI value: v_si = f1*x + o1 = f2*y + o2  =>  y = (f1/f2)*x + (o1 - o2)/f2
    return src.factor / dst.factor, (src.offset - dst.offset) / dst.factor


__all__ = ["BASE_UNITS", "Unit", "linear_map", "unit_definitions"]
