"""Remaining-useful-life forecasts: fork a live run's state and simulate ahead in a thread."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cosim.model.analytics import ForecastSpec, ForecastTarget, Profile
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem

_log = logging.getLogger(__name__)
LOW_Q, HIGH_Q = 0.05, 0.95  # the 90 % interval


@dataclass
class Fork:
    """What the live loop hands to the forecaster: the state and what drives it ahead."""

    state: Any  # a PortableState of the source run
    time: float  # simulated time of the state
    driven: np.ndarray  # the driven inputs' current values (hold scenario)
    theta: np.ndarray  # (members, p) parameter values
    rates: np.ndarray  # (members, p) rates (0 where not tracked)
    horizon: float
    scenario: str
    # label -> the signal's last values (oldest first), which start a target's window
    history: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class TargetForecast:
    """One target's answer: crossing times over the members (NaN: not within the horizon)."""

    name: str
    text: str
    crossings: np.ndarray
    final: np.ndarray  # each member's statistic at the end of the horizon

    @property
    def crossed(self) -> float:
        return float(np.mean(np.isfinite(self.crossings))) if len(self.crossings) else 0.0

    def quantile(self, q: float) -> float:
        """The q-quantile of the crossing time, members not crossing counted as +inf
        (NaN when that quantile lies beyond the horizon)."""
        c = np.where(np.isfinite(self.crossings), self.crossings, np.inf)
        if not len(c):
            return math.nan
        v = float(np.quantile(c, q, method="inverted_cdf"))
        return v if math.isfinite(v) else math.nan

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def as_dict(self, made_at: float) -> dict[str, Any]:
        med = self.median
        return {
            "target": self.name,
            "question": self.text,
            "median": med,
            "low": self.quantile(LOW_Q),
            "high": self.quantile(HIGH_Q),
            "rul_median": med - made_at if math.isfinite(med) else math.nan,
            "crossed": self.crossed,
            "final_mean": float(np.nanmean(self.final)) if len(self.final) else math.nan,
        }


@dataclass
class ForecastResult:
    """A finished forecast: made at `time` over `horizon`, one TargetForecast per target."""

    time: float
    horizon: float
    scenario: str
    targets: list[TargetForecast]
    wall_time: float
    signals: dict[str, np.ndarray] = field(default_factory=dict)  # label -> (members,) at end
    simulated: float = 0.0  # seconds simulated ahead (less than the horizon if all crossed)

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second (of each member: a real-time factor)."""
        return self.simulated / self.wall_time if self.wall_time > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "made_at": self.time,
            "horizon": self.horizon,
            "scenario": self.scenario,
            "wall_time": self.wall_time,
            "simulated": self.simulated,
            "realtime_factor": self.speed,
            "targets": [t.as_dict(self.time) for t in self.targets],
        }


class _Statistic:
    """A target's moving statistic per member (value, mean, rms, max_abs over a window)."""

    def __init__(self, target: ForecastTarget, members: int, step: float) -> None:
        self.kind = target.statistic
        n = max(1, round((target.window or step) / step)) if self.kind != "value" else 1
        self.ring = np.zeros((n, members))
        self.nan = np.full(members, np.nan)
        self.k = 0
        self.count = 0

    def prefill(self, past: np.ndarray) -> None:
        """Start the window with a signal's recent values (the same for every member)."""
        if self.kind == "value" or not len(past):
            return
        past = past[-len(self.ring) :]
        v = (
            past * past
            if self.kind == "rms"
            else (np.abs(past) if self.kind == "max_abs" else past)
        )
        n = len(v)
        self.ring[:n] = v[:, None]
        self.k = n % len(self.ring)
        self.count = n

    def push(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "value":
            return x
        v = x * x if self.kind == "rms" else (np.abs(x) if self.kind == "max_abs" else x)
        self.ring[self.k] = v
        self.k = (self.k + 1) % len(self.ring)
        self.count = min(self.count + 1, len(self.ring))
        if self.count < len(self.ring):  # not a whole window yet: no value, no crossing
            self.nan.fill(np.nan)
            return self.nan
        if self.kind == "max_abs":
            return self.ring.max(axis=0)
        m = self.ring.mean(axis=0)
        return np.sqrt(m) if self.kind == "rms" else m


class Forecaster:
    """Runs forecasts of a source run (the estimator's ensemble, or the twin itself) in a
    worker thread, on instances of its own, so the live loop is never disturbed (`inline`:
    in the caller's thread instead, for runs that are not paced).

    `system`/`inputs` describe the source run exactly (same plan: its state imports here).
    Labels are flattened member-major: `driven[k]`, `params[k]`, `signals[k]` are member k's.
    """

    def __init__(
        self,
        spec: ForecastSpec,
        system: ResolvedSystem,
        inputs: Sequence[str],
        *,
        members: int,
        driven: Sequence[Sequence[str]],
        driven_names: Sequence[str],
        params: Sequence[Sequence[str]],
        param_names: Sequence[str],
        bounds: Sequence[tuple[float, float]],
        signals: Sequence[Sequence[str]],
        signal_names: Sequence[str],
    ) -> None:
        self._kwargs = {
            "spec": spec, "system": system, "inputs": list(inputs), "members": members,
            "driven": driven, "driven_names": driven_names, "params": params,
            "param_names": param_names, "bounds": bounds, "signals": signals,
            "signal_names": signal_names,
        }  # fmt: skip
        self._pool: Any = None  # process mode: a one-worker process pool
        self._future: Any = None
        self.spec = spec
        self.system = system
        self.inputs = list(inputs)
        self.members = members
        self.driven = [list(x) for x in driven]
        self.driven_names = list(driven_names)
        self.params = [list(x) for x in params]
        self.param_names = list(param_names)
        self.low = np.array([b[0] for b in bounds]) if bounds else np.zeros(0)
        self.high = np.array([b[1] for b in bounds]) if bounds else np.zeros(0)
        self.signals = [list(x) for x in signals]
        self.signal_names = list(signal_names)
        self.step = system.step_ticks / TICKS_PER_SECOND
        self._sim: Any = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done: list[ForecastResult] = []
        self._waiters: list[tuple[threading.Event, list[ForecastResult]]] = []
        self.error: BaseException | None = None
        self.results: list[ForecastResult] = []  # every finished forecast, in order
        self._closed = False
        # run each forecast in the caller's thread, blocking it (offline runs, not paced: the
        # forecast is then made at exactly its time, deterministically)
        self.inline = False

    def use_process(self) -> None:
        """Run forecasts in a worker process of their own (a live twin: the forecast's Python
        work then never competes with the live loop for the interpreter lock). The worker
        starts now, in the background, and builds its instances once."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._kwargs,),
        )
        self._future = self._pool.submit(_warm)  # start it now, not at the first forecast

    @property
    def busy(self) -> bool:
        if self._pool is not None:
            return self._future is not None and not self._future.done()
        t = self._thread
        return t is not None and t.is_alive()

    def start(self, fork: Fork, waiter: threading.Event | None = None) -> bool:
        """Run `fork` in the worker thread; False (the fork is dropped) if one is running."""
        if self.busy or self._closed:
            return False
        if self.inline:
            self._work(fork)
            return True
        if self._pool is not None:
            self._collect()
            self._future = self._pool.submit(_run_remote, fork)
            self._future.fork_time = fork.time
            return True
        self._thread = threading.Thread(
            target=self._work, args=(fork,), name="cosim-forecast", daemon=True
        )
        self._thread.start()
        return True

    def _collect(self) -> None:
        """The process worker's finished forecast (or its error), if there is one."""
        f = self._future
        if f is None or not f.done() or getattr(f, "collected", False):
            return
        f.collected = True
        if not hasattr(f, "fork_time"):  # the warm-up call
            if f.exception() is not None:
                self.error = f.exception()
            return
        exc = f.exception()
        if exc is not None:
            self.error = exc
            _log.warning("forecast at t = %g s failed: %s", f.fork_time, exc)
            return
        with self._lock:
            self._done.append(f.result())
            self.results.append(f.result())

    def take(self) -> list[ForecastResult]:
        """Forecasts finished since the last call (for the live loop to record/publish)."""
        if self._pool is not None:
            self._collect()
        with self._lock:
            done, self._done = self._done, []
        return done

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self._closed = True
        self.wait(60.0)
        if self._pool is not None:
            if self._future is not None:
                with contextlib.suppress(Exception):  # reported by _collect
                    self._future.result(timeout=60.0)
                self._collect()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._sim is not None:
            with contextlib.suppress(Exception):
                self._sim.close()
            self._sim = None

    # ------------------------------------------------------------------ worker thread
    def run(self, fork: Fork) -> ForecastResult:
        """Run one forecast in the calling thread (the worker's body; tests call it too)."""
        w0 = time.perf_counter()
        self.prepare()
        sim = self._sim
        state = sim.import_state(fork.state)
        try:
            sim.set_state(state)
        finally:
            sim.free_state(state)
        return self._ahead(fork, w0)

    def prepare(self) -> None:
        """Instantiate and initialize this forecaster's own instances (once)."""
        from cosim.api import Simulation, plan_for

        if self._sim is None:
            # forecasts run past the twin's stop time: no stop time for the FMUs
            ahead = dataclasses.replace(
                self.system,
                components=tuple(
                    dataclasses.replace(c, stop_time=None) for c in self.system.components
                ),
            )
            self._sim = Simulation(ahead, memory=False, plan=plan_for(self.system, self.inputs))
            self._sim.open()
            self._sim.initialize()
            ex = self._sim.execution
            self._views = {
                "driven": ex.input_view([x for m in self.driven for x in m])
                if self.driven and self.driven[0]
                else None,
                "params": ex.input_view([x for m in self.params for x in m])
                if self.params and self.params[0]
                else None,
            }
            from cosim.engine.readers import SignalReader

            labels = [x for m in self.signals for x in m]
            self._reader = SignalReader(ex, labels) if labels else None

    def _ahead(self, fork: Fork, w0: float) -> ForecastResult:
        sim, n = self._sim, self.members
        ex = sim.execution
        profile = self.spec.profile(fork.scenario)
        drive = np.tile(fork.driven, n).astype(float)
        prof = _ProfileDriver(profile, self.driven_names) if profile is not None else None
        theta = np.array(fork.theta, dtype=float)
        rates = np.array(fork.rates, dtype=float)
        p = theta.shape[1] if theta.ndim == 2 else 0
        sig = np.zeros(n * len(self.signal_names))
        targets = self.spec.targets
        stats = [_Statistic(t, n, self.step) for t in targets]
        for st, t in zip(stats, targets, strict=True):
            if t.label in fork.history:
                st.prefill(fork.history[t.label])
        crossings = [np.full(n, np.nan) for _ in targets]
        final = [np.full(n, np.nan) for _ in targets]
        where = []
        for t in targets:
            if t.label in self.param_names:
                where.append(("param", self.param_names.index(t.label)))
            else:
                where.append(("signal", self.signal_names.index(t.label)))
        steps = max(1, round(fork.horizon / self.step))
        t0 = fork.time
        now = theta.copy()
        k = 0
        for k in range(1, steps + 1):
            dt = k * self.step  # the step about to run ends at t0 + dt
            if prof is not None:
                prof.values(dt - self.step, drive, n)
            if self._views["driven"] is not None:
                self._views["driven"].write(drive)
            if p:
                np.multiply(rates, dt - self.step, out=now)
                now += theta
                np.clip(now, self.low, self.high, out=now)
                if self._views["params"] is not None:
                    self._views["params"].write(now.ravel())
            ex.step()
            if self._reader is not None:
                self._reader.read(sig)
            values = sig.reshape(n, len(self.signal_names)) if len(self.signal_names) else sig
            t_end = t0 + dt
            all_crossed = True
            for j, target in enumerate(targets):
                kind, idx = where[j]
                if kind == "param":
                    x = np.clip(theta[:, idx] + rates[:, idx] * dt, self.low[idx], self.high[idx])
                else:
                    x = values[:, idx]
                s = stats[j].push(x)
                hit = s > target.threshold if target.direction == "above" else s < target.threshold
                new = hit & np.isnan(crossings[j])
                crossings[j][new] = t_end
                final[j][:] = s
                all_crossed = all_crossed and not np.isnan(crossings[j]).any()
            if all_crossed:
                break
            if k % 16 == 0:
                time.sleep(0)  # let the live loop's thread take the GIL
        signals = {}
        if len(self.signal_names):
            vals = sig.reshape(n, len(self.signal_names))
            signals = {name: vals[:, i].copy() for i, name in enumerate(self.signal_names)}
        return ForecastResult(
            time=t0,
            horizon=fork.horizon,
            scenario=fork.scenario,
            targets=[
                TargetForecast(t.name, t.text, crossings[j], final[j])
                for j, t in enumerate(targets)
            ],
            wall_time=time.perf_counter() - w0,
            signals=signals,
            simulated=k * self.step,
        )

    def _work(self, fork: Fork) -> None:
        try:
            result = self.run(fork)
        except BaseException as exc:  # a failing forecast must not stop the live twin
            self.error = exc
            _log.warning("forecast at t = %g s failed: %s", fork.time, exc)
            return
        with self._lock:
            self._done.append(result)
            self.results.append(result)


_WORKER: Forecaster | None = None  # the process worker's own forecaster


WORKER_NICENESS = 10  # the forecast worker yields the CPU to the live loop and the plant


def _init_worker(kwargs: dict[str, Any]) -> None:
    global _WORKER
    with contextlib.suppress(AttributeError, OSError):  # os.nice: POSIX only
        os.nice(WORKER_NICENESS)
    _WORKER = Forecaster(**kwargs)
    _WORKER.inline = True


def _warm() -> bool:
    """Load the FMUs in the worker before the first forecast is asked for."""
    assert _WORKER is not None
    _WORKER.prepare()
    return True


def _run_remote(fork: Fork) -> ForecastResult:
    assert _WORKER is not None
    return _WORKER.run(fork)


class _ProfileDriver:
    """A duty cycle's driven inputs at a time from the forecast's start (linear, maybe looped)."""

    def __init__(self, profile: Profile, names: Sequence[str]) -> None:
        self.t = np.array(profile.time)
        self.repeat = profile.repeat
        self.columns = [
            (names.index(label), np.array(v)) for label, v in profile.values if label in names
        ]
        self.width = len(names)

    def values(self, t: float, out: np.ndarray, members: int) -> None:
        if self.repeat and self.t[-1] > 0:
            t = t % self.t[-1]
        for i, v in self.columns:
            out[i :: self.width] = float(np.interp(t, self.t, v))


__all__ = ["Fork", "ForecastResult", "Forecaster", "TargetForecast"]
