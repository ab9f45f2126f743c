"""Read access to chosen values in an execution's stores, for observers (no FMU call).

The counterpart of slots.InputView (which writes): a SignalReader looks the slots of its labels
up once; each read() is one np.take per value type into a caller's float64 array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cosim.engine.execution import Execution


class SignalReader:
    """Copies chosen got variables ("comp.var") out of the execution's value stores.

    Every label must be gotten by the plan (recorded or a connection source); the slots are
    looked up once, each read is one np.take per value type.
    """

    def __init__(self, execution: Execution, labels: Sequence[str]) -> None:
        plan = execution.plan
        by_type: dict[int, tuple[list[int], list[int]]] = {}
        for k, label in enumerate(labels):
            for t, got in enumerate(plan.get_labels):
                if label in got:
                    cols, slots = by_type.setdefault(t, ([], []))
                    cols.append(k)
                    slots.append(got.index(label))
                    break
            else:
                raise KeyError(f"{label} is not read from its FMU in this run")
        self._groups = [
            (execution.views[t], np.array(slots), np.array(cols), np.zeros(len(cols)))
            for t, (cols, slots) in by_type.items()
        ]
        single = len(self._groups) == 1 and self._groups[0][0].dtype == np.float64
        self._fast = single and np.array_equal(self._groups[0][2], np.arange(len(labels)))

    def read(self, out: np.ndarray) -> None:
        if self._fast:
            view, slots, _, _ = self._groups[0]
            np.take(view, slots, out=out)
            return
        for view, slots, cols, tmp in self._groups:
            tmp[:] = view[slots]
            out[cols] = tmp


__all__ = ["SignalReader"]
