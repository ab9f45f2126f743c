"""TableInputs: the manipulator that drives inputs from resolved time tables (see model.inputs).

At each communication point t it writes, per column, the table's value at t: linear between
the rows around t, or the last row at or before t (previous value). At a repeated time (a
discontinuity) the later row counts from that time on: the value after the step change, as
fmpy applies inputs before each doStep. Before t0 and after the last row the first and last
rows hold. `start_values()` gives the values for initialization: the left limit at the start
time, as importers apply inputs in initialization mode.

The tables are sampled on the communication grid a block of steps at a time (vectorized),
converted to each slot's type once; a step then only copies its row into the slots. A tick off
the grid (variable steps, a state restored) is sampled on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cosim.model.inputs import ResolvedInputTable

BLOCK = 512  # communication steps sampled at once


def sample(table: ResolvedInputTable, ticks: np.ndarray, *, after: bool = True) -> np.ndarray:
    """The table's values at `ticks` (int64 ns), one row per tick: the right limit at a step
    change (`after`), or the left limit."""
    t, values = table.ticks, table.values
    n = len(t)
    if after:
        i = np.searchsorted(t, ticks, side="right") - 1  # the last row at or before the tick
    else:
        i = np.searchsorted(t, ticks, side="left") - 1  # the last row before the tick ...
        exact = (i + 1 < n) & (t[np.minimum(i + 1, n - 1)] == ticks)
        i = np.where(exact, i + 1, i)  # ... or the first row at exactly the tick
    i = np.clip(i, 0, n - 1)  # before the first row and after the last: they hold
    out = values[i]
    linear = np.asarray(table.linear, dtype=bool)
    if linear.any() and n > 1:
        j = np.minimum(i + 1, n - 1)
        span = (t[j] - t[i]).astype(np.float64)
        inside = (span > 0) & (ticks > t[i])
        w = np.where(inside, (ticks - t[i]) / np.where(span > 0, span, 1.0), 0.0)
        out[:, linear] += w[:, None] * (values[j][:, linear] - values[i][:, linear])
    return out


def value_at(table: ResolvedInputTable, tick: int, *, after: bool = True) -> np.ndarray:
    """The table's row of values at one `tick`."""
    return sample(table, np.array([tick], dtype=np.int64), after=after)[0]


class TableInputs:
    """Manipulator: before each step, the tables' values at its start go into the input slots."""

    def __init__(self, tables: Sequence[ResolvedInputTable]) -> None:
        self.tables = tuple(tables)
        self.labels = tuple(label for t in self.tables for label in t.labels)
        self._views: list[Any] = []
        self._grid: tuple[int, int] = (0, 1)  # start tick, step ticks
        self._first = 0  # the first step of the sampled block
        self._block: list[list[tuple[np.ndarray, Any, np.ndarray]]] = []  # per table
        self._kernel_block: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def start_values(self, tick: int) -> dict[str, float]:
        """label -> value for initialization at `tick` (the left limit there)."""
        out: dict[str, float] = {}
        for table in self.tables:
            row = value_at(table, tick, after=False)
            out.update(zip(table.labels, (float(x) for x in row), strict=True))
        return out

    def simulation_initialized(self, execution: Any) -> None:
        self._views = [execution.input_view(t.labels) for t in self.tables]
        plan = execution.plan
        self._grid = (int(plan.start_tick), int(plan.step_ticks))
        self._first = -BLOCK  # nothing sampled yet

    def before_step(self, step: int, tick: int) -> None:
        start, h = self._grid
        if tick != start + step * h:  # off the grid: sample this tick alone
            at = np.array([tick], dtype=np.int64)
            for table, view in zip(self.tables, self._views, strict=True):
                view.write(sample(table, at)[0])
            return
        j = step - self._first
        if not 0 <= j < BLOCK:
            self._sample_block(step)
            j = 0
        for groups in self._block:
            for store, slots, values in groups:
                store[slots] = values[j]

    def kernel_inputs(self, step: int, tick: int) -> tuple[int, list[tuple]] | None:
        """The sampled block holding `step` for the kernel to copy a row from before each
        step (cosim.engine.native): (its first step, [(store, int64 slots, [BLOCK, slots]
        values)]); None at a tick off the grid (before_step samples it alone)."""
        start, h = self._grid
        if tick != start + step * h:
            return None
        if not 0 <= step - self._first < BLOCK:
            self._sample_block(step)
        return self._first, self._kernel_block

    def _sample_block(self, step: int) -> None:
        start, h = self._grid
        ticks = start + (step + np.arange(BLOCK, dtype=np.int64)) * h
        self._first = step
        self._block = [
            view.convert(sample(table, ticks))
            for table, view in zip(self.tables, self._views, strict=True)
        ]
        self._kernel_block = [
            (store, np.arange(slots.start, slots.stop, dtype=np.int64)
             if isinstance(slots, slice) else np.asarray(slots, dtype=np.int64), values)
            for groups in self._block
            for store, slots, values in groups
        ]  # fmt: skip


__all__ = ["BLOCK", "TableInputs", "sample", "value_at"]
