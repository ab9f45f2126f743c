"""TableInputs: the manipulator that drives inputs from resolved time tables (see model.inputs).

At each communication point t it writes, per column, the table's value at t: linear between
the rows around t, or the last row at or before t (previous value). At a repeated time (a
discontinuity) the later row counts from that time on: the value after the step change, as
fmpy applies inputs before each doStep. Before t0 and after the last row the first and last
rows hold. `start_values()` gives the values for initialization: the left limit at the start
time, as importers apply inputs in initialization mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cosim.model.inputs import ResolvedInputTable


def value_at(table: ResolvedInputTable, tick: int, *, after: bool = True) -> np.ndarray:
    """The table's row of values at `tick`: the right limit (after a step change) or the left."""
    ticks = table.ticks
    n = len(ticks)
    if after:
        i = int(np.searchsorted(ticks, tick, side="right")) - 1  # last row at or before tick
    else:
        i = int(np.searchsorted(ticks, tick, side="left")) - 1  # last row before tick
        if i + 1 < n and ticks[i + 1] == tick:
            i += 1  # a row at exactly tick: its first one
    return _row(table, _linear_mask(table), i, tick)


def _linear_mask(table: ResolvedInputTable) -> np.ndarray:
    return np.asarray(table.linear, dtype=bool)


def _row(
    table: ResolvedInputTable,
    linear: np.ndarray,
    i: int,
    tick: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Row `i`'s values at `tick` (linear columns towards row i + 1), into `out` if given."""
    ticks, values = table.ticks, table.values
    n = len(ticks)
    if out is None:
        out = np.empty(values.shape[1])
    i = min(max(i, 0), n - 1)  # before the first row or after the last: they hold
    out[:] = values[i]
    if i < n - 1 and linear.any():
        t0, t1 = int(ticks[i]), int(ticks[i + 1])
        if t1 > t0 and tick > t0:
            w = (tick - t0) / (t1 - t0)
            out[linear] += w * (values[i + 1, linear] - values[i, linear])
    return out


class TableInputs:
    """Manipulator: before each step, the tables' values at its start go into the input slots."""

    def __init__(self, tables: Sequence[ResolvedInputTable]) -> None:
        self.tables = tuple(tables)
        self.labels = tuple(label for t in self.tables for label in t.labels)
        self._views: list[Any] = []
        self._linear = [_linear_mask(t) for t in self.tables]
        self._cursor = [0] * len(self.tables)
        self._out = [np.empty(len(t.labels)) for t in self.tables]

    def start_values(self, tick: int) -> dict[str, float]:
        """label -> value for initialization at `tick` (the left limit there)."""
        out: dict[str, float] = {}
        for table in self.tables:
            row = value_at(table, tick, after=False)
            out.update(zip(table.labels, (float(x) for x in row), strict=True))
        return out

    def simulation_initialized(self, execution: Any) -> None:
        self._views = [execution.input_view(t.labels) for t in self.tables]

    def before_step(self, step: int, tick: int) -> None:
        for k, table in enumerate(self.tables):
            ticks = table.ticks
            i = self._cursor[k]
            if i >= len(ticks) or ticks[i] > tick:  # moved back (set_state) or first call
                i = 0
            while i + 1 < len(ticks) and ticks[i + 1] <= tick:
                i += 1
            self._cursor[k] = i
            if ticks[i] > tick:  # before the first row: it holds
                self._views[k].write(table.values[0])
                continue
            self._views[k].write(_row(table, self._linear[k], i, tick, self._out[k]))


__all__ = ["TableInputs", "value_at"]
