"""Variable communication step with error control: step doubling over whole-system rollback.

From the state S at t, the controller takes one step of H, notes the values, rolls the whole
system back to S (Execution.get_state/set_state) and takes two steps of H/2. Their difference
estimates the coupling error of the two half steps: for a master of order p (zero-order hold:
p = 1) the local error is C·h^(p+1), and the difference is (2^p - 1)/2^p of the big step's
error. The step is accepted when every exchanged Real output (the get region of the Float64
store: outputs that are recorded or feed a connection) satisfies

    |y_half - y_full| <= tolerance * (1 + |y_half|)

and rejected otherwise: the system is rolled back to S and the step retried smaller. The
accepted state is the two half steps' (the more accurate). The next step is
H * clamp(0.9 * err^(-1/(p+1)), 0.2, 2), within [min, max], shortened to land exactly on the
next timed event and on the stop time. A step at `min` that still misses the tolerance is
accepted and counted (`at_min`).

Observers see each accepted step once (step_complete at its end), manipulators are asked once
per accepted step (before it); the trial steps run without either. Results rows therefore lie
on the accepted, non-uniform grid; the accepted step sizes are kept in `steps`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cosim.fmu.adapter import ValueType
from cosim.model.spec import TICKS_PER_SECOND, StepControlSpec, to_ticks

ORDER = 1  # the coupling order of zero-order hold (Jacobi and Gauss-Seidel)


class StepController:
    """Drives an Execution with error-controlled communication steps (module docstring)."""

    def __init__(self, execution: Any, spec: StepControlSpec) -> None:
        self.ex = execution
        self.spec = spec
        plan = execution.plan
        base = plan.step_ticks
        self.min_ticks = max(1, to_ticks(spec.min) if spec.min is not None else base // 1000)
        self.max_ticks = max(
            self.min_ticks, to_ticks(spec.max) if spec.max is not None else 100 * base
        )
        self.h_ticks = min(max(base, self.min_ticks), self.max_ticks)
        self.tolerance = spec.tolerance
        self.accepted = 0
        self.rejected = 0
        self.at_min = 0  # steps accepted at the minimum step although they missed the tolerance
        self.steps: list[float] = []  # accepted step sizes, seconds
        # the outputs only (the get region): an input slot holds the value set at the start of
        # the last sub-step, which differs by O(h) between the two runs by construction
        view = execution.views[ValueType.F64][: len(plan.get_labels[ValueType.F64])]
        self._view = view
        self._full = np.zeros_like(view)  # values after the full step (preallocated)

    # ------------------------------------------------------------------ the driver
    def run_until(self, tick: int) -> bool:
        """Take accepted steps until `tick` (or a stop); True when `tick` was reached."""
        ex = self.ex
        while ex.tick < tick and not ex.stop_requested and not ex.fmu_ended:
            self.step(tick)
        return ex.tick >= tick

    def step(self, limit: int | None = None) -> None:
        """One accepted communication step, ending no later than `limit` (default: stop)."""
        ex = self.ex
        plan = ex.plan
        end = plan.stop_tick if limit is None else min(limit, plan.stop_tick)
        if ex.tick >= end:
            return
        ex.notify_before_step()
        state = ex.get_state()
        grow = 1.0
        try:
            while True:
                h = self._limit(min(self.h_ticks, end - ex.tick))
                half = h // 2
                ex.quiet_step(h)
                if ex.stop_requested or half < 1:
                    break  # an FMU ended the run, or the step cannot be halved: keep it
                np.copyto(self._full, self._view)
                ex.set_state(state)
                ex.quiet_step(half)
                if not ex.stop_requested:
                    ex.quiet_step(h - half)
                error = self._error()
                grow = 2.0 if error == 0 else 0.9 * error ** (-1.0 / (ORDER + 1))
                grow = min(2.0, max(0.2, grow))
                if error <= 1.0 or h <= self.min_ticks or ex.stop_requested:
                    if error > 1.0 and not ex.stop_requested:
                        self.at_min += 1
                    break
                self.rejected += 1
                self.h_ticks = max(self.min_ticks, int(h * grow))
                ex.set_state(state)
            if not ex.stop_requested and h >= self.h_ticks:  # not shortened by a limit
                self.h_ticks = min(self.max_ticks, max(self.min_ticks, int(h * grow)))
        finally:
            ex.free_state(state)
        self.accepted += 1
        self.steps.append(h / TICKS_PER_SECOND)
        ex.notify_step_complete()

    def _limit(self, h: int) -> int:
        """`h`, shortened to end exactly on the next timed event."""
        ex = self.ex
        next_event = ex.next_event_tick()
        if next_event is not None and ex.tick < next_event < ex.tick + h:
            return next_event - ex.tick
        return max(1, h)

    def _error(self) -> float:
        y = self._view
        scale = self.tolerance * (1.0 + np.abs(y))
        if not len(y):
            return 0.0
        with np.errstate(invalid="ignore"):
            ratio = np.abs(y - self._full) / scale
        worst = float(np.nanmax(ratio)) if ratio.size else 0.0
        return worst if np.isfinite(worst) else np.inf

    def statistics(self) -> dict[str, float | int]:
        steps = self.steps
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "at_min": self.at_min,
            "min_step": min(steps) if steps else 0.0,
            "max_step": max(steps) if steps else 0.0,
            "tolerance": self.tolerance,
        }


__all__ = ["ORDER", "StepController"]
