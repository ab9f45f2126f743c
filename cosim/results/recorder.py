"""The recording grid shared by every results observer: which steps become rows, into what buffer.

A row is taken after initialization (step 0) and after every step n with
n % plan.record_decimation == 0; when the run ends off that grid (stopped, interrupted, or a
stop time that is not a multiple of the record interval) `record_final` adds the last state as
one more row, unless the run failed (the state after a failed step is not a result).

Rows go into a preallocated block: a float64 time column and, per value store the plan records
from (F64, I64, U64, B8, ...; see cosim.fmu.adapter.ValueType), a [rows, signals of that store]
array of the store's own dtype, so a value is copied exactly (an Int64 is never a float64 on
the way). Row views are built once per block, so the step thread does one np.take per store and
no allocation per row. `RowLayout.stored` turns a column into its results.h5 dtype
(cosim.results.layout: FMI 2.0 Integer int32 -> int64, booleans -> uint8). When the block is
full, or `deadline` (time.monotonic) has passed, `_hand_off` gets the block: the HDF5 writer
passes it to its writer thread, the in-memory recorder keeps it and starts a new one.
"""

from __future__ import annotations

import math
import time as _time
from typing import TYPE_CHECKING

import numpy as np

from cosim.fmu.adapter import BOOLEAN, ValueType
from cosim.fmu.adapter import DTYPES as STORE_DTYPES
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem
from cosim.results.layout import FINAL_ROW_STATUSES, fmi_types, signal_dtype, stored

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cosim.engine.execution import Execution
    from cosim.engine.plan import Plan


def block_rows(n_signals: int, nbytes: int, lo: int = 256, hi: int = 65536) -> int:
    """Rows of a block of about `nbytes` for n_signals columns plus time, within [lo, hi]."""
    return max(lo, min(hi, nbytes // (8 * (n_signals + 1))))


class RowLayout:
    """Which block group (one per value store recorded from) holds each recorded signal.

    groups[g] = (value type, signal indices, store slots, store dtype); `dtypes[j]` is signal
    j's results.h5 dtype (`cosim.results.layout.signal_dtype`).
    """

    __slots__ = ("boolean", "dtypes", "groups", "n_signals")

    def __init__(self, plan: Plan, fmi_type_of: Sequence[str] | None = None) -> None:
        vtypes = np.asarray(plan.rec_vtype, dtype=np.int64)
        slots = np.asarray(plan.rec_slot, dtype=np.int64)
        self.n_signals = len(vtypes)
        self.groups = tuple(
            (t, cols, slots[cols], STORE_DTYPES[ValueType(t)])
            for t in sorted(set(vtypes.tolist()))
            for cols in (np.flatnonzero(vtypes == t),)
        )
        names = fmi_type_of if fmi_type_of is not None else [""] * self.n_signals
        self.dtypes = tuple(
            signal_dtype(kind, name) for kind, name in zip(plan.rec_kinds, names, strict=True)
        )
        self.boolean = tuple(ValueType(int(t)) in BOOLEAN for t in vtypes)

    @classmethod
    def of(cls, system: ResolvedSystem, plan: Plan) -> RowLayout:
        """The layout of plan's records, dtypes from the system's declared FMI types."""
        return cls(plan, fmi_types(system, plan.rec_labels))

    def stored(self, j: int, values: np.ndarray) -> np.ndarray:
        """Signal j's values (a column of its group) in its results.h5 dtype, exactly."""
        return stored(values, self.dtypes[j], self.boolean[j])

    def columns(self, groups: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Every signal's column (contiguous, results.h5 dtype) of group arrays [rows, cols],
        in signal order."""
        out: dict[int, np.ndarray] = {}
        for (_, cols, _, _), data in zip(self.groups, groups, strict=True):
            for c, j in enumerate(cols.tolist()):
                out[j] = np.ascontiguousarray(self.stored(j, data[:, c]))
        return [out[j] for j in range(self.n_signals)]


class RowBlock:
    """One preallocated block of rows: time [rows] float64 and one array per layout group
    [rows, signals of the group] in its store's dtype; rows[r] holds row r's group views."""

    __slots__ = ("groups", "rows", "time")

    def __init__(self, n_rows: int, layout: RowLayout) -> None:
        self.time = np.zeros(n_rows, dtype=np.float64)
        self.groups = tuple(np.zeros((n_rows, len(g[1])), dtype=g[3]) for g in layout.groups)
        self.rows = [tuple(a[r] for a in self.groups) for r in range(n_rows)]  # views, once

    def columns(self, layout: RowLayout, k: int) -> list[np.ndarray]:
        """Rows [0, k) of every signal (contiguous, results.h5 dtype), in signal order."""
        return layout.columns([a[:k] for a in self.groups])


class GridRecorder:
    """Observer base: takes the rows of the recording grid into the current RowBlock."""

    def __init__(self, plan: Plan, layout: RowLayout, first_block: RowBlock) -> None:
        self.plan = plan
        self.layout = layout
        self._decimation = plan.record_decimation
        self._last_recorded_step = -1
        self._ex: Execution | None = None
        self._sources: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # (store view, slots)
        self._block = first_block
        self._rows = first_block.rows
        self._row_time = first_block.time
        self._capacity = len(first_block.rows)
        self._pending = 0  # rows in the current block
        self.deadline = math.inf  # time.monotonic() after which the block is handed off

    # ------------------------------------------------------------------ observer
    def simulation_initialized(self, execution: Execution) -> None:
        self._ex = execution
        self._sources = tuple((execution.views[g[0]], g[2]) for g in self.layout.groups)
        self._record(execution.step_count, execution.tick)

    def step_complete(self, step: int, tick: int) -> None:
        if step % self._decimation == 0:
            self._record(step, tick)
        elif self._pending and _time.monotonic() >= self.deadline:
            self._hand_off()

    def _record(self, step: int, tick: int) -> None:
        self._room()
        r = self._pending
        self._row_time[r] = tick / TICKS_PER_SECOND
        for (view, slots), out in zip(self._sources, self._rows[r], strict=True):
            np.take(view, slots, out=out)  # same dtype: an exact copy
        self._pending = r + 1
        self._last_recorded_step = step
        if self._pending == self._capacity or _time.monotonic() >= self.deadline:
            self._hand_off()

    def record_final(self, status: str | None) -> None:
        """Take the last state as a row if the run ended off the grid and did not fail."""
        ex = self._ex
        if (
            ex is not None
            and status in FINAL_ROW_STATUSES
            and ex.step_count != self._last_recorded_step
        ):
            self._record(ex.step_count, ex.tick)

    # ------------------------------------------------------------------ the compiled loop
    def kernel_rows(self) -> tuple[int, int, int, np.ndarray, list[tuple]]:
        """The current block for the kernel to take rows into (cosim.engine.native): (record
        decimation, rows taken, capacity, time column, [(store view, slots, group block)])."""
        self._room()
        pairs = [
            (view, slots, block)
            for (view, slots), block in zip(self._sources, self._block.groups, strict=True)
        ]
        return self._decimation, self._pending, self._capacity, self._row_time, pairs

    def rows_in_block(self, rows: int) -> None:
        """The kernel has filled the current block up to `rows` (read while it runs, for an
        emergency close: no hand-off here)."""
        self._pending = max(self._pending, min(rows, self._capacity))

    def rows_taken(self, rows: int, last_step: int) -> None:
        """The kernel filled the current block up to `rows`, the last row after `last_step`;
        a full block, or one past its deadline, is handed off as `_record` would."""
        if rows != self._pending:
            self._pending = rows
            self._last_recorded_step = last_step
        if self._pending and (
            self._pending == self._capacity or _time.monotonic() >= self.deadline
        ):
            self._hand_off()

    # ------------------------------------------------------------------ blocks
    def _room(self) -> None:
        """Make sure the current block has a free row (a subclass that keeps full blocks)."""

    def _use_block(self, block: RowBlock) -> None:
        """Continue recording into `block` (empty)."""
        self._block = block
        self._rows = block.rows
        self._row_time = block.time
        self._capacity = len(block.rows)
        self._pending = 0

    def _hand_off(self) -> None:
        """The current block is full or due: pass its `_pending` rows on, continue in a new one."""
        raise NotImplementedError


__all__ = ["GridRecorder", "RowBlock", "RowLayout", "block_rows"]
