"""The `inputs:` section (time tables that drive FMU inputs) as written, and as resolved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cosim.errors import Location
from cosim.model.refs import VarRef

Interpolation = Literal["auto", "linear", "previous"]
Outside = Literal["error", "hold"]


@dataclass(frozen=True)
class InputTableSpec:
    """One `inputs:` entry: a CSV or HDF5 table and which of its columns drive which inputs."""

    file: str = field(compare=False)  # as written (the table is `path`)
    path: Path = Path()  # `file` relative to the system's folder
    map: Mapping[str, VarRef] = field(default_factory=dict)  # column -> component.variable
    component: str | None = None  # or: every column named after a variable of this component
    interpolation: Interpolation = "auto"  # auto: linear for continuous Reals, else previous
    outside: Outside = "error"  # a table that does not cover start..stop: error | hold the ends
    time: str | None = None  # the time column (CSV: default the first) or dataset (HDF5: /time)
    loc: Location | None = field(default=None, compare=False)
    key_locs: Mapping[str, Location] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, eq=False)
class ResolvedInputTable:
    """A table resolved against the FMUs: integer-ns times and one column per driven input.

    `ticks` is non-decreasing; a repeated tick is a discontinuity (the later row holds from
    it on). `values[:, k]` is in the unit of the k-th variable; `linear[k]` says whether the
    k-th column is interpolated linearly (else the previous row's value holds).
    """

    spec: InputTableSpec
    labels: tuple[str, ...]  # component.variable per column
    columns: tuple[str, ...]  # the table's column names, per label
    ticks: Any  # np.ndarray int64 (n,)
    values: Any  # np.ndarray float64 (n, len(labels))
    linear: tuple[bool, ...]


__all__ = ["InputTableSpec", "Interpolation", "Outside", "ResolvedInputTable"]
