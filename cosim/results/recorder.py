"""The recording grid shared by every results observer: which steps become rows, into what buffer.

A row is taken after initialization (step 0) and after every step n with
n % plan.record_decimation == 0; when the run ends off that grid (stopped, interrupted, or a
stop time that is not a multiple of the record interval) `record_final` adds the last state as
one more row, unless the run failed (the state after a failed step is not a result).

Rows go into a preallocated float64 block [rows, 1 + n_signals] (column 0 is time in seconds)
through row views built once per block, so the step thread does one gather and no allocation
per row. When the block is full, or `deadline` (time.monotonic) has passed, `_hand_off` gets
the block: the HDF5 writer passes it to its writer thread, the in-memory recorder keeps it and
starts a new one.
"""

from __future__ import annotations

import math
import time as _time
from typing import TYPE_CHECKING

import numpy as np

from cosim.model.spec import TICKS_PER_SECOND
from cosim.results.layout import FINAL_ROW_STATUSES

if TYPE_CHECKING:
    from cosim.engine.execution import Execution
    from cosim.engine.plan import Plan


def block_rows(n_signals: int, nbytes: int, lo: int = 256, hi: int = 65536) -> int:
    """Rows of a block of about `nbytes` for n_signals columns plus time, within [lo, hi]."""
    return max(lo, min(hi, nbytes // (8 * (n_signals + 1))))


class RowBlock:
    """One preallocated block of rows and its row views (signal columns only)."""

    __slots__ = ("data", "rows")

    def __init__(self, n_rows: int, n_signals: int) -> None:
        self.data = np.zeros((n_rows, n_signals + 1), dtype=np.float64)
        self.rows = [self.data[r, 1:] for r in range(n_rows)]  # views built once


class GridRecorder:
    """Observer base: takes the rows of the recording grid into the current RowBlock."""

    def __init__(self, plan: Plan, first_block: RowBlock) -> None:
        self.plan = plan
        self._decimation = plan.record_decimation
        self._last_recorded_step = -1
        self._ex: Execution | None = None
        self._block = first_block
        self._rows = first_block.rows
        self._data = first_block.data
        self._capacity = len(first_block.rows)
        self._pending = 0  # rows in the current block
        self.deadline = math.inf  # time.monotonic() after which the block is handed off

    # ------------------------------------------------------------------ observer
    def simulation_initialized(self, execution: Execution) -> None:
        self._ex = execution
        self._record(execution.step_count, execution.tick)

    def step_complete(self, step: int, tick: int) -> None:
        if step % self._decimation == 0:
            self._record(step, tick)
        elif self._pending and _time.monotonic() >= self.deadline:
            self._hand_off()

    def _record(self, step: int, tick: int) -> None:
        r = self._pending
        self._data[r, 0] = tick / TICKS_PER_SECOND
        self._ex.gather_records(self._rows[r])
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

    # ------------------------------------------------------------------ blocks
    def _use_block(self, block: RowBlock) -> None:
        """Continue recording into `block` (empty)."""
        self._block = block
        self._rows = block.rows
        self._data = block.data
        self._capacity = len(block.rows)
        self._pending = 0

    def _hand_off(self) -> None:
        """The current block is full or due: pass its `_pending` rows on, continue in a new one."""
        raise NotImplementedError


__all__ = ["GridRecorder", "RowBlock", "block_rows"]
