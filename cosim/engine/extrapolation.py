"""Input extrapolation: connection inputs that follow a polynomial over the communication step.

For a connection of order k (1 linear, 2 quadratic), the input over [t, t+h] follows the
polynomial through the source's last k+1 values on the communication grid:

    lagging edge (Jacobi, or a source that steps after its target): the source's value y_n at
        t and its history y_{n-1}, y_{n-2}: extrapolation ahead of the data;
    fresh edge (Gauss-Seidel, a source that stepped before its target in this step): the
        source's new value y_{n+1} at t+h and its history y_n, y_{n-1}: interpolation.

It reaches an FMU that can interpolate inputs (FMI 2.0 canInterpolateInputs) as the
polynomial's value at t plus its first (and second) derivative
(fmi2SetRealInputDerivatives), so the FMU integrates the polynomial itself, and a Model
Exchange component the same way (its adapter sets the inputs along the polynomial at every
right-hand-side evaluation); any other FMU gets
the polynomial's average over the step as a constant (the Adams-Bashforth weights
3/2, -1/2 and 23/12, -16/12, 5/12 for lagging edges, the Adams-Moulton weights 1/2, 1/2 and
5/12, 8/12, -1/12 for fresh ones), which integrates the polynomial exactly. Until a
connection has k values of history it uses the order its history allows.

The extrapolator of an instance is two plain callables in its stage's `sets` (one before the
bound sets, which writes the input slots, one after them, which sends derivatives), so the
one loop body runs it unchanged. Its history is one float64 array, saved and restored with
the whole-system state.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Extrapolator:
    """The extrapolated inputs of one instance (see the module docstring)."""

    def __init__(
        self, slave: Any, h_cell: Any, rows: list[tuple], history: np.ndarray, base: int
    ) -> None:
        # rows: (dst, di, src, si, gain, offset, order, fresh, vr)
        self.slave = slave
        self.h_cell = h_cell
        self.rows = rows
        self.history = history  # [y1, y2, count] per row, from `base`
        self.base = base
        self.derivatives = False  # send derivatives (the FMU interpolates inputs)
        self.instance = -1
        self._d1: list[float] = [0.0] * len(rows)
        self._d2: list[float] = [0.0] * len(rows)
        self._vrs = [r[8] for r in rows]

    def use_derivatives(self) -> None:
        self.derivatives = True

    def apply(self) -> int:
        """Write each extrapolated input's value (after the transfers, before the sets)."""
        hist = self.history
        h = self.h_cell.value
        use_d = self.derivatives
        for k, (d, di, s, si, g, o, order, fresh, _) in enumerate(self.rows):
            j = self.base + 3 * k
            y = s[si]
            y1, y2, count = hist[j], hist[j + 1], int(hist[j + 2])
            q = min(order, count)
            d1 = d2 = 0.0
            if fresh:  # y is the value at t + h; y1 at t, y2 at t - h
                if q == 0:
                    value = y
                elif q == 1:
                    value = y1 if use_d else 0.5 * (y + y1)
                    d1 = (y - y1) / h
                else:
                    value = y1 if use_d else (5.0 * y + 8.0 * y1 - y2) / 12.0
                    d1 = (y - y2) / (2.0 * h)
                    d2 = (y - 2.0 * y1 + y2) / (h * h)
            else:  # y is the value at t; y1 at t - h, y2 at t - 2h
                if q == 0:
                    value = y
                elif q == 1:
                    value = y if use_d else 1.5 * y - 0.5 * y1
                    d1 = (y - y1) / h
                else:
                    value = y if use_d else (23.0 * y - 16.0 * y1 + 5.0 * y2) / 12.0
                    d1 = (3.0 * y - 4.0 * y1 + y2) / (2.0 * h)
                    d2 = (y - 2.0 * y1 + y2) / (h * h)
            d[di] = g * value + o
            self._d1[k], self._d2[k] = g * d1, g * d2
            hist[j + 1], hist[j], hist[j + 2] = y1, y, min(count + 1, 2)
        return 0

    def send(self) -> int:
        """Send the derivatives (after the bound sets, before doStep)."""
        if self.derivatives:
            self.slave.set_input_derivatives(self._vrs, self._d1, self._d2)
        return 0


def build(ex: Any) -> tuple[list[Extrapolator], np.ndarray]:
    """The extrapolators of an Execution's instances, and the one history array they share."""
    p, system = ex.plan, ex.system
    position = {int(i): k for k, i in enumerate(p.order.tolist())}
    jacobi = system.spec.simulation.algorithm == "jacobi"
    loop_members = {i for loop in system.loops for i in loop.components}
    order_of = {}
    for c in system.connections:
        if c.extrapolation:
            order_of[(c.target_component, c.target.value_reference)] = (c.extrapolation, c)
    by_instance: dict[int, list[tuple]] = {}
    for k in range(len(p.conn_dst_slot)):
        target = int(np.searchsorted(p.conn_begin, k, side="right") - 1)
        dv, sv = int(p.conn_dst_vtype[k]), int(p.conn_src_vtype[k])
        slot = int(p.conn_dst_slot[k])
        vr = int(p.store_vr[dv][slot])
        found = order_of.get((target, vr))
        if found is None or target in loop_members:
            continue
        order, conn = found
        source = conn.source_component
        if int(p.decimation[target]) != 1 or int(p.decimation[source]) != 1:
            continue  # multirate: held (sample and hold on the slower grid)
        fresh = not jacobi and position[source] < position[target]
        by_instance.setdefault(target, []).append(
            (ex.views[dv], slot, ex.views[sv], int(p.conn_src_slot[k]),
             float(p.conn_gain[k]), float(p.conn_offset[k]), order, fresh, vr)
        )  # fmt: skip
    total = sum(len(rows) for rows in by_instance.values())
    history = np.zeros(3 * total)
    out, base = [], 0
    for i, rows in sorted(by_instance.items()):
        e = Extrapolator(ex.slaves[i], ex._h_cells[i], rows, history, base)
        comp = system.components[i]
        # FMI 2.0 CS canInterpolateInputs, and Model Exchange components, whose adapter
        # sets the inputs along the polynomial while it integrates (Float64 inputs)
        me = comp.interface == "me" and all(r[0].dtype == np.float64 for r in rows)
        if (comp.can_interpolate_inputs and comp.fmi_version == "2.0") or me:
            e.use_derivatives()
        e.instance = i
        out.append(e)
        base += 3 * len(rows)
    return out, history


__all__ = ["Extrapolator", "build"]
