"""Health monitors: an indicator through a filter (mean, EWMA, CUSUM) against alarm levels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cosim.model.analytics import MonitorSpec

NORMAL, WARNING, ALARM = 0, 1, 2
LEVEL_NAMES = ("normal", "warning", "alarm")


@dataclass(frozen=True)
class LevelChange:
    """A monitor went from one level to another at simulated time `time`."""

    time: float
    monitor: str
    old: int
    new: int
    value: float

    @property
    def level(self) -> str:
        """The level the change is about: the one raised, or the one cleared."""
        return LEVEL_NAMES[max(self.old, self.new)]

    @property
    def event(self) -> str:
        return "raised" if self.new > self.old else "cleared"

    def text(self, message: str = "") -> str:
        what = f"{self.monitor}: {self.level} {self.event} at t = {self.time:g} s"
        detail = f" (value {self.value:.4g})"
        return what + detail + (f": {message}" if message and self.new > self.old else "")


class Monitor:
    """One monitor, updated once per communication step with the raw indicator value.

    The filter ignores NaN (a stale measurement): the filtered value and the duration timers
    hold. Levels: for direction above, level k is crossed when the value exceeds its
    threshold; a raised level stays while the value exceeds threshold - hysteresis; a change
    of level happens once the new level has been wanted for min_duration without a break.
    With the CUSUM filter the levels apply to the cumulative sum S (unit.s); direction below
    accumulates drops under the target instead of rises above it.
    """

    def __init__(self, spec: MonitorSpec, dt: float) -> None:
        self.spec = spec
        self.dt = dt
        self.value = math.nan  # the filtered indicator
        self.level = NORMAL
        self._pending = NORMAL
        self._since = math.nan
        f = spec.filter
        self._alpha = 1.0 - math.exp(-dt / spec.window) if f == "ewma" and spec.window else 1.0
        n = max(1, round(spec.window / dt)) if f == "mean" and spec.window else 1
        self._ring = np.zeros(n)
        self._valid = np.zeros(n, dtype=bool)
        self._pos = 0
        self._sum = 0.0
        self._count = 0
        self._cusum = 0.0
        # thresholds per level (index 1 warning, 2 alarm); in "above" form (below: negated)
        sign = -1.0 if spec.direction == "below" and f != "cusum" else 1.0
        self._sign = sign
        self._thr = [math.inf, _or_inf(spec.warning, sign), _or_inf(spec.alarm, sign)]

    def update(self, x: float, t: float) -> LevelChange | None:
        """Feed one raw sample at simulated time `t`; a LevelChange when the level changes."""
        spec = self.spec
        if math.isfinite(x):
            if spec.transform == "abs":
                x = abs(x)
            elif spec.transform == "square":
                x = x * x
            self.value = self._filter(x)
        v = self.value
        if not math.isfinite(v):
            return None
        return self._levels(self._sign * v, t)

    def _filter(self, x: float) -> float:
        f = self.spec.filter
        if f == "none":
            return x
        if f == "ewma":
            if not math.isfinite(self.value):
                return x
            return self.value + self._alpha * (x - self.value)
        if f == "mean":
            k = self._pos
            if self._valid[k]:
                self._sum -= self._ring[k]
                self._count -= 1
            self._ring[k] = x
            self._valid[k] = True
            self._sum += x
            self._count += 1
            self._pos = (k + 1) % len(self._ring)
            if self._pos == 0:  # once per window: rebuild the sum (no drift from rounding)
                self._sum = float(self._ring[self._valid].sum())
            return self._sum / self._count
        spec = self.spec  # cusum, integrated over time
        dev = (x - spec.target) if spec.direction == "above" else (spec.target - x)
        self._cusum = max(0.0, self._cusum + (dev - spec.drift) * self.dt)
        return self._cusum

    def _levels(self, v: float, t: float) -> LevelChange | None:
        thr, hyst = self._thr, self.spec.hysteresis
        wanted = NORMAL
        for k in (WARNING, ALARM):
            if v > thr[k] or (k <= self.level and v > thr[k] - hyst):
                wanted = k
        if wanted == self.level:
            self._pending = wanted
            return None
        if wanted != self._pending:
            self._pending = wanted
            self._since = t
        if t - self._since + 1e-9 < self.spec.min_duration:
            return None
        old, self.level = self.level, wanted
        return LevelChange(t, self.spec.name, old, wanted, self.value)


def _or_inf(level: float | None, sign: float) -> float:
    return math.inf if level is None else sign * level


__all__ = ["ALARM", "LEVEL_NAMES", "NORMAL", "WARNING", "LevelChange", "Monitor"]
