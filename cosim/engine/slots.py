"""Write access to a plan's external-input slots (the only way manipulators reach the FMUs).

`Execution.input_view(labels)` returns an InputView over the slots of those external inputs
(see `build_plan(system, inputs=...)`); `write(values)` stores float64 values into them,
converted to each slot's type (integers rounded half away from zero, booleans value != 0).
The instance's next doStep sends them with its normal bound set call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cosim.engine.plan import Plan
from cosim.engine.stages import INTEGER, round_half_away
from cosim.fmu.adapter import BOOLEAN, ValueType

_FLOAT, _INT, _BOOL = 0, 1, 2


def python_value(vtype: ValueType, value: Any) -> Any:
    """`value` as the Python number a store slot / set_values of `vtype` expects."""
    if vtype is ValueType.STR:
        return str(value)
    if vtype in BOOLEAN:
        return bool(value)
    if vtype in INTEGER:
        if isinstance(value, bool | int | np.integer):
            return int(value)
        return round_half_away(float(value))
    return float(value)


def store_value(vtype: ValueType, value: Any) -> float | int | bool:
    """A store slot's value (a numpy scalar) as a Python float, int or bool."""
    if vtype in BOOLEAN:
        return bool(value)
    if vtype in INTEGER:
        return int(value)
    return float(value)


class InputView:
    """Writes values into the slots of chosen external inputs, in `labels` order."""

    def __init__(self, plan: Plan, views: Sequence[np.ndarray], labels: Sequence[str]) -> None:
        index = {label: k for k, label in enumerate(plan.in_labels)}
        missing = [label for label in labels if label not in index]
        if missing:
            have = ", ".join(plan.in_labels) or "none"
            raise KeyError(
                f"{', '.join(missing)}: not an external input of this plan (it has: {have}); "
                "pass it to build_plan(system, inputs=...)"
            )
        self.labels = tuple(labels)
        by_type: dict[int, tuple[list[int], list[int]]] = {}
        for col, label in enumerate(labels):
            k = index[label]
            cols, slots = by_type.setdefault(int(plan.in_vtype[k]), ([], []))
            cols.append(col)
            slots.append(int(plan.in_slot[k]))
        self._groups = []
        for t, (cols, slots) in by_type.items():
            vtype = ValueType(t)
            kind = _BOOL if vtype in BOOLEAN else _INT if vtype in INTEGER else _FLOAT
            self._groups.append((views[t], np.array(slots), np.array(cols), kind))
        g = self._groups
        self._fast = (
            len(g) == 1
            and g[0][0].dtype == np.float64
            and np.array_equal(g[0][2], np.arange(len(labels)))
        )

    def write(self, values: Any) -> None:
        """Store `values` (one per label) in the slots; sent to the FMUs in the next step."""
        if self._fast:
            np.put(self._groups[0][0], self._groups[0][1], values)
            return
        x_all = np.asarray(values, dtype=np.float64)
        for view, slots, cols, kind in self._groups:
            x = x_all[cols]
            if kind == _INT:
                x = np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5))
            elif kind == _BOOL:
                x = x != 0
            view[slots] = x

    def convert(self, rows: np.ndarray) -> list[tuple[np.ndarray, Any, np.ndarray]]:
        """`rows` (one row of float64 values per label, many rows) converted once for each
        slot group: [(store, slots, typed rows)]; `store[slots] = typed[j]` writes row j as
        `write(rows[j])` would (slots a slice where they are contiguous)."""
        out = []
        for view, slots, cols, kind in self._groups:
            x = np.asarray(rows, dtype=np.float64)[:, cols]
            if kind == _INT:
                x = np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5))
            elif kind == _BOOL:
                x = x != 0
            x = np.ascontiguousarray(x.astype(view.dtype))
            first = int(slots[0])
            contiguous = np.array_equal(slots, np.arange(first, first + len(slots)))
            out.append((view, slice(first, first + len(slots)) if contiguous else slots, x))
        return out

    def read(self, out: np.ndarray | None = None) -> np.ndarray:
        """The slots' present values as float64 (into `out` when given)."""
        if out is None:
            out = np.zeros(len(self.labels))
        for view, slots, cols, _ in self._groups:
            out[cols] = view[slots]
        return out


__all__ = ["InputView", "python_value", "store_value"]
