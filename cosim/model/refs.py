"""A reference to one FMU variable as written in a system file: `component.variable`."""

from __future__ import annotations

from dataclasses import dataclass, field

from cosim.errors import Location


@dataclass(frozen=True)
class VarRef:
    """`component.variable` as written in YAML; variable may itself contain dots."""

    component: str
    variable: str
    loc: Location | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.component}.{self.variable}"


__all__ = ["VarRef"]
