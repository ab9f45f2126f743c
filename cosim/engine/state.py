"""SystemState: a whole-system snapshot taken by Execution.get_state, for rollback and forecasts.

It holds every instance's FMU state (fmi2GetFMUstate / fmi3GetFMUState through the adapters),
a copy of every value store (got outputs, connection and external-input slots) and the loop
position (step count, tick, event cursor, end-of-run flags). `Execution.set_state(state)` puts
all of it back, so the steps that follow repeat bit for bit; `Execution.free_state(state)`
releases the FMU states (Execution.close frees the ones still held).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(eq=False)
class SystemState:
    """One snapshot of an Execution (opaque: only that Execution can restore or free it)."""

    owner: int  # id() of the Execution that took it
    fmu_states: list[Any]  # per instance, the adapter's state handle
    stores: list[np.ndarray]  # a copy of every store view
    step_count: int
    tick: int
    next_event: int
    stop_requested: bool
    stop_reason: str
    fmu_ended: str
    discard_end: bool
    freed: bool = False

    @property
    def time(self) -> float:
        from cosim.model.spec import TICKS_PER_SECOND

        return self.tick / TICKS_PER_SECOND


@dataclass(eq=False)
class PortableState:
    """A SystemState as plain data: serialized FMU states (bytes), store copies and the loop
    position; picklable, so another Execution of the same system (or process) can import it."""

    fmu_bytes: list[bytes]
    stores: list[np.ndarray]
    step_count: int
    tick: int
    next_event: int

    @property
    def time(self) -> float:
        from cosim.model.spec import TICKS_PER_SECOND

        return self.tick / TICKS_PER_SECOND


__all__ = ["PortableState", "SystemState"]
