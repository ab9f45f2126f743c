"""Real-time pacing of the step loop against one fixed start instant, with lateness statistics.

A run option, not an observer: `Execution(system, pacer=Pacer(h, factor))` calls `start()`
before its first step and `wait()` after every step's observers.

The deadline of communication step k is ``t0 + k * h / factor`` (wall clock), measured from one
fixed start instant ``t0``, so a late step never shifts the deadlines after it (no drift).
Lateness is how far past its deadline the next step really starts; a step that itself finished
after its deadline is an overrun. Lateness goes into a ring of raw samples (exact percentiles
at the end, `stats()`) and a LatenessHistogram (a running p99 at any time, O(1) per step).
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

_SPIN = 0.0004  # seconds before a deadline when sleep() hands over to a short spin
SLICE = 0.0003  # s: the scheduler slice the stepping thread asks for (short_slice)
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274, "arm64": 274}
_SCHED_GETATTR = {"x86_64": 315, "aarch64": 275, "arm64": 275}


class _SchedAttr(ctypes.Structure):
    _fields_ = [  # struct sched_attr (include/uapi/linux/sched/types.h), version 1
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def short_slice(seconds: float) -> bool:
    """Ask Linux (EEVDF, 6.12 and later) for a short time slice for the calling thread, so
    that it runs as soon as it wakes even when every core is busy; True if granted.

    On a loaded machine a thread that wakes from sleep otherwise waits for the running task's
    slice to end (measured: 2-3 ms late at a 10 ms step, with the plant and the OPC UA
    worker busy on both cores of a 2-core machine). A shorter slice of its own lets it preempt
    at once; it stays an ordinary SCHED_OTHER thread with its nice value (no privilege, no
    real-time policy), only preempted sooner itself. Elsewhere, or on older kernels, nothing
    happens.
    """
    number = _SCHED_SETATTR.get(platform.machine())
    if not sys.platform.startswith("linux") or number is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        attr = _SchedAttr()
        attr.size = ctypes.sizeof(_SchedAttr)
        attr.sched_policy = 0  # SCHED_OTHER
        attr.sched_nice = os.getpriority(os.PRIO_PROCESS, 0)
        attr.sched_runtime = int(seconds * 1e9)
        if libc.syscall(number, 0, ctypes.byref(attr), 0) != 0:
            return False
        # kernels before custom slices accept the call and ignore the runtime: read it back
        back = _SchedAttr()
        get = _SCHED_GETATTR[platform.machine()]
        if libc.syscall(get, 0, ctypes.byref(back), ctypes.sizeof(back), 0) != 0:
            return False
        return back.sched_runtime == attr.sched_runtime
    except (OSError, AttributeError, ValueError):
        return False


@dataclass(frozen=True)
class PacingStats:
    steps: int
    overruns: int
    max_lateness: float  # seconds
    p50_lateness: float
    p99_lateness: float
    realtime_factor: float  # simulated seconds per wall-clock second over the paced run
    target_factor: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "steps": self.steps,
            "overruns": self.overruns,
            "max_lateness_s": self.max_lateness,
            "p50_lateness_s": self.p50_lateness,
            "p99_lateness_s": self.p99_lateness,
            "realtime_factor": self.realtime_factor,
            "target_realtime_factor": self.target_factor,
        }


class LatenessHistogram:
    """Running quantiles of step lateness in fixed log-spaced bins: O(1) per sample, no sort.

    Bin 0 holds lateness below LOW (1 us); bin k >= 1 holds [LOW 10^((k-1)/B), LOW 10^(k/B))
    with B = BINS_PER_DECADE bins per decade up to 100 s (the last bin also takes anything
    larger). quantile() returns the upper edge of the bin holding the nearest-rank quantile,
    capped at the largest sample: an upper bound at most 10^(1/B) (12 %) above the true value.
    """

    LOW = 1e-6
    BINS_PER_DECADE = 20
    DECADES = 8

    def __init__(self) -> None:
        self.counts = [0] * (2 + self.DECADES * self.BINS_PER_DECADE)
        self.n = 0
        self.max = 0.0
        self._top = len(self.counts) - 1
        self._scale = float(self.BINS_PER_DECADE)

    def add(self, lateness: float) -> None:
        if lateness < self.LOW:
            k = 0
        else:
            k = min(self._top, 1 + int(math.log10(lateness / self.LOW) * self._scale))
        self.counts[k] += 1
        self.n += 1
        if lateness > self.max:
            self.max = lateness

    def quantile(self, q: float) -> float:
        """The q-quantile (0 < q <= 1, nearest rank) of every sample so far; 0 if none."""
        if self.n == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.n))
        seen, k = 0, 0
        for k, count in enumerate(self.counts):  # noqa: B007 (k is the bin found)
            seen += count
            if seen >= rank:
                break
        edge = self.LOW * 10.0 ** (k / self._scale)
        return min(edge, self.max)


class Pacer:
    """Keeps a loop of fixed communication steps `h` in pace with the wall clock.

    `factor` is simulated time per wall-clock time: 1.0 = real time, 0.5 = half speed,
    2.0 = twice as fast. Call :meth:`start` once, then :meth:`wait` after each step.
    Lateness samples go into a preallocated ring of `capacity` entries (no per-step allocation).
    """

    def __init__(self, step: float, factor: float = 1.0, capacity: int = 1 << 20) -> None:
        if not factor > 0:
            raise ValueError(f"real-time factor must be > 0, got {factor}")
        self.step = float(step)
        self.factor = float(factor)
        self._wall_per_step = self.step / self.factor
        self._lateness = np.zeros(capacity)
        self._count = 0
        self._overruns = 0
        self._max = 0.0
        self._t0 = 0.0
        self._last = 0.0
        self._k = 0
        self.wall_t0 = 0.0  # time.time() at start()
        self.histogram = LatenessHistogram()
        self.now = time.perf_counter
        self.slice: float | None = SLICE  # s; None: leave the scheduler's default
        self.slice_granted = False

    def start(self) -> None:
        """Start the schedule now; call it on the thread that steps (see short_slice)."""
        if self.slice is not None:
            self.slice_granted = short_slice(self.slice)
        self._t0 = self._last = self.now()
        self._k = 0
        self.wall_t0 = time.time()

    def start_wall(self) -> float | None:
        """time.time() at which the next step (after wait()) is due to start by the
        fixed-start schedule; None before start()."""
        if not self.wall_t0:
            return None
        return self.wall_t0 + self._k * self._wall_per_step

    def deadline_wall(self) -> float | None:
        """time.time() at which the step now running (or just completed, before wait()) is
        due to end by the fixed-start schedule; None before start()."""
        if not self.wall_t0:
            return None
        return self.wall_t0 + (self._k + 1) * self._wall_per_step

    def wait(self) -> float:
        """Block until the deadline of the step just completed; return its lateness (s)."""
        self._k += 1
        deadline = self._t0 + self._k * self._wall_per_step
        now = self.now()
        remaining = deadline - now
        if remaining > _SPIN:
            time.sleep(remaining - _SPIN)
        woke = self.now()
        while woke < deadline:
            woke = self.now()
        self._last = woke
        late = woke - deadline  # when the next step really starts vs. when it should
        self._lateness[self._count % self._lateness.size] = late
        self._count += 1
        if remaining < 0.0:  # the step itself finished after its deadline
            self._overruns += 1
        if late > self._max:
            self._max = late
        self.histogram.add(late)
        return late

    @property
    def overruns(self) -> int:
        """Steps that finished after their deadline so far."""
        return self._overruns

    @property
    def max_lateness(self) -> float:
        """The largest lateness so far, seconds."""
        return self._max

    @property
    def p99_lateness(self) -> float:
        """The running p99 lateness estimate (LatenessHistogram: at most 12 % high)."""
        return self.histogram.quantile(0.99)

    @property
    def elapsed(self) -> float:
        return self.now() - self._t0

    def stats(self) -> PacingStats:
        n = min(self._count, self._lateness.size)
        sample = self._lateness[:n]
        wall = self._last - self._t0  # up to the end of the last paced step
        return PacingStats(
            steps=self._count,
            overruns=self._overruns,
            max_lateness=self._max,
            p50_lateness=float(np.percentile(sample, 50)) if n else 0.0,
            p99_lateness=float(np.percentile(sample, 99)) if n else 0.0,
            realtime_factor=(self._k * self.step / wall) if wall > 0 else 0.0,
            target_factor=self.factor,
        )


__all__ = ["LatenessHistogram", "Pacer", "PacingStats"]
