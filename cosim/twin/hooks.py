"""The twin's hooks around the engine's loop: live inputs, outputs, server, pacer and recorder.

LiveInputs is a manipulator; LiveOutputs, TwinServer, HealthClock and StepLog are observers;
Pacing is the wall-clock pacer; TwinRecorder keeps the twin's own rows until the run ends."""

from __future__ import annotations

import contextlib
import logging
import math
import mmap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.engine.readers import SignalReader
from cosim.errors import BridgeError, Location
from cosim.model.spec import (
    TICKS_PER_SECOND,
)
from cosim.realtime import Pacer
from cosim.resolve.live import LiveLink

if TYPE_CHECKING:
    from cosim.engine.execution import Execution
    from cosim.opcua import InputBridge, OutputBridge, ValueServer

_log = logging.getLogger(__name__)

SAMPLE_DRAIN_PERIOD = 0.2  # seconds of simulated time between drains of the raw-sample ring
_BLOCK = 4096  # rows per in-memory block of the twin recorder


# ============================================================================ shared run state
@dataclass
class Health:
    """What the observers share: run state for the twin server and the summary."""

    sim_time: float = 0.0
    realtime_factor: float = math.nan
    overruns: int = 0
    max_lateness: float = 0.0
    p99_lateness: float = 0.0  # LatenessHistogram estimate, refreshed about once a second
    stale_inputs: int = 0
    connected: bool = True
    paused_wall: float = 0.0  # seconds spent paused (on_disconnect: pause)
    wall_start: float = 0.0  # perf_counter at the first step
    sim_start: float = 0.0
    error: BaseException | None = None
    pauses: list[tuple[float, float, float]] = field(default_factory=list)  # wall, wall, sim

    def update_rate(self, sim_time: float) -> None:
        self.sim_time = sim_time
        wall = time.perf_counter() - self.wall_start - self.paused_wall
        self.realtime_factor = (sim_time - self.sim_start) / wall if wall > 0 else math.nan


def _small_pages(shape: tuple[int, int]) -> np.ndarray:
    """Zeros in anonymous memory that is never backed by transparent huge pages.

    numpy asks for huge pages for large arrays; a step that first touches a row in a new 2 MiB
    huge page then waits for the kernel to zero all of it (measured: 3-5 ms every ~90 steps of
    a twin with 1,000 inputs). Small pages spread that cost over the steps (~1 us each).
    """
    nbytes = shape[0] * shape[1] * 8
    try:
        memory = mmap.mmap(-1, max(nbytes, 1))
        with contextlib.suppress(AttributeError, OSError):
            memory.madvise(mmap.MADV_NOHUGEPAGE)
    except (OSError, ValueError):  # pragma: no cover - no anonymous mappings
        return np.zeros(shape)
    return np.ndarray(shape, np.float64, buffer=memory)


class _Rows:
    """A growable float64 table kept in fixed-size blocks (no reallocation of earlier rows)."""

    def __init__(self, n_cols: int) -> None:
        self.n_cols = n_cols
        self._blocks: list[np.ndarray] = []
        self._n = _BLOCK  # rows used in the last block

    def next_row(self) -> np.ndarray:
        if self._n == _BLOCK:
            self._blocks.append(_small_pages((_BLOCK, self.n_cols)))
            self._n = 0
        row = self._blocks[-1][self._n]
        self._n += 1
        return row

    def array(self) -> np.ndarray:
        if not self._blocks:
            return np.zeros((0, self.n_cols))
        full = self._blocks[:-1] + [self._blocks[-1][: self._n]]
        return np.concatenate(full)


# ============================================================================ observers
class Pacing(Pacer):
    """The twin's pacer: a realtime.Pacer that keeps Health's lateness figures current (its
    overruns and max lateness every step, its p99 about once per second of wall-clock time)."""

    def __init__(self, step: float, factor: float, health: Health) -> None:
        super().__init__(step, factor)
        self.health = health
        self.last_lateness = 0.0
        self._every = max(1, round(factor / step))  # steps per wall-clock second
        self._countdown = 1  # the first estimate after the first step

    def wait(self) -> float:
        late = self.last_lateness = super().wait()
        health = self.health
        health.overruns = self.overruns
        health.max_lateness = self.max_lateness
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = self._every
            health.p99_lateness = self.p99_lateness
        return late


class TwinRecorder:
    """Keeps the twin's own per-step rows and raw OPC UA samples until the run ends."""

    def __init__(
        self,
        links: Sequence[LiveLink],
        decimation: int,
        extra: int = 0,
        fill: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.links = tuple(links)
        self.decimation = max(1, decimation)
        n = len(links)
        self.watch = [k for k, link in enumerate(links) if link.role == "watch"]
        # time, wall, lateness | value, age, stale per input | residual per watched input |
        # `extra` columns written by `fill` (the analytics: monitor values and levels)
        self.first_extra = 3 + 3 * n + len(self.watch)
        self.rows = _Rows(self.first_extra + extra)
        self._fill = fill if extra else None
        self.samples: list[np.ndarray] = []
        self._stale_since_row = np.zeros(n, dtype=bool)
        self.stale_steps = np.zeros(n, dtype=np.int64)
        self.steps = 0

    def step(
        self,
        step: int,
        tick: int,
        lateness: float,
        values: np.ndarray,
        age: np.ndarray,
        stale: np.ndarray,
        residual: np.ndarray,
        final: bool = False,
    ) -> None:
        if final:  # the last state, off the record grid (like ResultsWriter): a row, no count
            if step % self.decimation == 0:
                return
        else:
            self.steps += 1
            self.stale_steps += stale
            np.logical_or(self._stale_since_row, stale, out=self._stale_since_row)
            if step % self.decimation:
                return
        row = self.rows.next_row()
        n = len(values)
        row[0] = tick / TICKS_PER_SECOND
        row[1] = time.time()
        row[2] = lateness
        row[3 : 3 + n] = values
        row[3 + n : 3 + 2 * n] = age
        row[3 + 2 * n : 3 + 3 * n] = self._stale_since_row
        row[3 + 3 * n : self.first_extra] = residual
        if self._fill is not None:
            self._fill(row[self.first_extra :])
        self._stale_since_row.fill(False)


class LiveInputs:
    """Manipulator: before each step (and once at initialization), hands the latest plant
    values to the FMUs. Driven inputs are written into the plan's input slots, so the step's
    own set calls send them; watched outputs get a residual measured - predicted of the state
    the step starts from. Applies opcua.on_disconnect."""

    def __init__(
        self,
        bridge: InputBridge,
        links: Sequence[LiveLink],
        on_disconnect: str,
        health: Health,
        recorder: TwinRecorder,
        pacing: Pacing | None,
        stop_requested: Callable[[], bool],
    ) -> None:
        self.bridge = bridge
        self.links = tuple(links)
        self.on_disconnect = on_disconnect
        self.health = health
        self.recorder = recorder
        self.pacing = pacing
        self._stop_requested = stop_requested
        n = bridge.n_inputs
        self.values = np.zeros(n)
        self.age = np.zeros(n)
        self.stale = np.zeros(n, dtype=bool)
        self._drive = np.array([k for k, x in enumerate(links) if x.role == "drive"], dtype=int)
        self._watch = np.array([k for k, x in enumerate(links) if x.role == "watch"], dtype=int)
        self._drive_values = np.zeros(len(self._drive))
        self._drive_seen = np.zeros(len(self._drive), dtype=bool)
        self._drive_age = np.zeros(len(self._drive))
        self._drive_latest = np.zeros(len(self._drive))
        self._measured = np.zeros(len(self._watch))
        self._predicted = np.zeros(len(self._watch))
        self.residual = np.zeros(len(self._watch))
        self._watch_stale = np.zeros(len(self._watch), dtype=bool)
        self._ex: Execution | None = None
        self._setter: Any = None  # an InputView over the driven inputs' slots
        self._reader: SignalReader | None = None
        self._drain_every = 1
        self._last_step = -1  # the step whose row was recorded last
        self.aborted = False
        self.analytics: Any = None  # a TwinAnalytics, fed every step before the row
        self.playout_delay = 0.0  # opcua.playout_delay (needs bridge.read_at)

    @property
    def driven(self) -> list[str]:
        """The labels this manipulator writes (the plan's external inputs)."""
        return [self.links[k].label for k in self._drive]

    def simulation_initialized(self, execution: Execution) -> None:
        self._ex = execution
        if len(self._drive):
            self._setter = execution.input_view(self.driven)
            self._setter.read(self._drive_values)  # the start values, until a value arrives
        if len(self._watch):
            self._reader = SignalReader(execution, [self.links[k].label for k in self._watch])
        step = execution.plan.step_ticks / TICKS_PER_SECOND
        self._drain_every = max(1, round(SAMPLE_DRAIN_PERIOD / step))
        if self.analytics is not None:
            self.analytics.bind(execution, self)
        self._update(execution.step_count, execution.tick)

    def before_step(self, step: int, tick: int) -> None:
        if step != self._last_step:
            self._update(step, tick)

    def _update(self, step: int, tick: int, final: bool = False) -> None:
        self._last_step = step
        bridge = self.bridge
        if self.playout_delay > 0:  # the jitter buffer: samples as of a fixed delay ago
            # ago from when this step is due (not from now: a late step must not bunch up)
            due = self.pacing.start_wall() if self.pacing is not None else None
            now = due if due is not None else time.time()
            n_stale = bridge.read_at(now - self.playout_delay, self.values, self.age, self.stale)
        else:
            n_stale = bridge.read_latest(self.values, self.age, self.stale)
        if not bridge.connected and self.on_disconnect != "hold" and not final:
            if self.on_disconnect == "abort":
                self._abort(tick)
            else:
                self._pause(tick)
                n_stale = bridge.read_latest(self.values, self.age, self.stale)
        self.health.stale_inputs = n_stale
        self.health.connected = bridge.connected
        if self._setter is not None:
            # a value that never arrived keeps the FMU's start value
            np.take(self.age, self._drive, out=self._drive_age)
            np.isfinite(self._drive_age, out=self._drive_seen)
            np.take(self.values, self._drive, out=self._drive_latest)
            np.copyto(self._drive_values, self._drive_latest, where=self._drive_seen)
            self._setter.write(self._drive_values)
        if self._reader is not None:
            self._reader.read(self._predicted)
            np.take(self.values, self._watch, out=self._measured)
            np.subtract(self._measured, self._predicted, out=self.residual)
            # no residual without a valid measurement (stale, bad status, or none yet)
            np.take(self.stale, self._watch, out=self._watch_stale)
            np.copyto(self.residual, np.nan, where=self._watch_stale)
        if self.analytics is not None:
            self.analytics.observe(step, tick, self.values, self.residual, self.stale, final)
        lateness = self.pacing.last_lateness if self.pacing is not None else 0.0
        self.recorder.step(step, tick, lateness, self.values, self.age, self.stale, self.residual)
        if step % self._drain_every == 0:
            self.drain()

    def final_row(self, step: int, tick: int) -> None:
        """Record the last step (no next step read it), and its state off the record grid."""
        if step != self._last_step:
            self._update(step, tick, final=True)
        lateness = self.pacing.last_lateness if self.pacing is not None else 0.0
        self.recorder.step(
            step, tick, lateness, self.values, self.age, self.stale, self.residual, final=True
        )

    def drain(self) -> None:
        samples = self.bridge.drain_samples()
        if len(samples):
            self.recorder.samples.append(samples)

    def _abort(self, tick: int) -> None:
        if self.aborted:
            return
        self.aborted = True
        t = tick / TICKS_PER_SECOND
        self.health.error = BridgeError(
            f"the connection to the plant at {self.bridge.endpoint} was lost at t = {t:g} s "
            "and opcua.on_disconnect is abort: the run stopped; results up to here are kept"
        )
        if self._ex is not None:
            self._ex.request_stop(f"plant connection lost at t = {t:g} s (on_disconnect: abort)")

    def _pause(self, tick: int) -> None:
        """Stop stepping until the plant is back; pacing restarts from a new fixed instant."""
        t = tick / TICKS_PER_SECOND
        w0, p0 = time.time(), time.perf_counter()
        _log.warning("plant connection lost at t = %g s: pausing until it is back", t)
        while not self.bridge.wait_connected(0.1):
            if self._stop_requested():
                break
        if self.bridge.connected:  # give the new subscription a moment to deliver fresh values
            seen = self.bridge.notifications
            deadline = time.monotonic() + 1.0
            while self.bridge.notifications == seen and time.monotonic() < deadline:
                time.sleep(0.002)
        self.health.paused_wall += time.perf_counter() - p0
        self.health.pauses.append((w0, time.time(), t))
        if self.pacing is not None:
            self.pacing.start()


class LiveOutputs:
    """Observer: after each step, queues the mapped FMU outputs to the plant (write: true)."""

    def __init__(self, outputs: OutputBridge) -> None:
        self.outputs = outputs
        self.values = np.zeros(outputs.n_outputs)
        self._reader: SignalReader | None = None

    def simulation_initialized(self, execution: Execution) -> None:
        self._reader = SignalReader(execution, [str(s) for s in self.outputs.sources])
        self._send()

    def step_complete(self, step: int, tick: int) -> None:
        self._send()

    def _send(self) -> None:
        assert self._reader is not None
        self._reader.read(self.values)
        self.outputs.queue(self.values)


class TwinServer:
    """Observer: publishes every recorded signal, the residuals and the run state on the
    twin's own OPC UA server (ValueServer: the copy is taken here, the network work happens in
    the server's thread).

    The server is built and started when the simulation is initialized, with the initialized
    values as the nodes' first values, so no client ever reads a placeholder.
    """

    def __init__(
        self,
        variables: Sequence[Any],
        make: Callable[[list[Any]], ValueServer],
        n_signals: int,
        live: LiveInputs | None,
        health: Health,
        where: Location | None = None,
        extra: Any = None,
    ) -> None:
        self.variables = list(variables)
        self.extra = extra  # an object with `values` published after the run state
        self.where = where  # opcua.serve in the YAML, named by errors while starting
        self._make = make
        self.server: ValueServer | None = None
        self.n_signals = n_signals
        self.live = live
        self.health = health
        self.n_residuals = len(live.residual) if live is not None else 0
        self.values = np.zeros(len(self.variables))
        self._ex: Execution | None = None
        self._rows: np.ndarray = self.values[:n_signals]
        from cosim.opcua import RUN_STATE

        # positions of the run-state nodes (after the signals and residuals, in RUN_STATE order)
        first = n_signals + self.n_residuals
        self._at = {name: first + j for j, (name, _, _) in enumerate(RUN_STATE)}
        self._first_extra = first + len(RUN_STATE)

    def simulation_initialized(self, execution: Execution) -> None:
        self._ex = execution
        self._fill(execution.tick)
        first = [
            replace(v, initial=float(x)) for v, x in zip(self.variables, self.values, strict=True)
        ]
        self.server = self._make(first)
        if self.extra is not None:
            self.extra.server = self.server  # alarms go to it from now on
        try:
            self.server.start()
        except BridgeError as exc:  # e.g. the port is taken: say where it is set
            raise BridgeError(f"{self.where}: {exc}" if self.where else str(exc)) from None
        self.server.publish(self.values)

    def step_complete(self, step: int, tick: int) -> None:
        self._fill(tick)
        self.server.publish(self.values)  # type: ignore[union-attr]

    def _fill(self, tick: int) -> None:
        assert self._ex is not None
        v = self.values
        n = self.n_signals
        self._ex.gather_records(self._rows)
        if self.live is not None and self.n_residuals:
            v[n : n + self.n_residuals] = self.live.residual
        h, at = self.health, self._at
        v[at["SimulationTime"]] = tick / TICKS_PER_SECOND
        v[at["RealTimeFactor"]] = h.realtime_factor
        v[at["Overruns"]] = h.overruns
        v[at["MaxLateness"]] = h.max_lateness
        v[at["P99Lateness"]] = h.p99_lateness
        v[at["StaleInputs"]] = h.stale_inputs
        v[at["PlantConnected"]] = 1.0 if h.connected else 0.0
        if self.extra is not None:
            first = self._first_extra
            v[first : first + len(self.extra.values)] = self.extra.values


class StepLog:
    """Observer (last) for runs without a plant: feeds the twin recorder time and lateness."""

    def __init__(self, recorder: TwinRecorder, pacing: Pacing | None) -> None:
        self.recorder = recorder
        self.pacing = pacing
        self._empty = np.zeros(0)
        self._none = np.zeros(0, dtype=bool)

    def simulation_initialized(self, execution: Execution) -> None:
        self.step_complete(execution.step_count, execution.tick)

    def step_complete(self, step: int, tick: int) -> None:
        self._row(step, tick, False)

    def final_row(self, step: int, tick: int) -> None:
        self._row(step, tick, True)

    def _row(self, step: int, tick: int, final: bool) -> None:
        late = self.pacing.last_lateness if self.pacing is not None else 0.0
        e, b = self._empty, self._none
        self.recorder.step(step, tick, late, e, e, b, e, final=final)


class HealthClock:
    """Observer (first in the list): keeps the simulated time and real-time factor current."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def simulation_initialized(self, execution: Execution) -> None:
        self.health.sim_time = execution.time

    def step_complete(self, step: int, tick: int) -> None:
        self.health.update_rate(tick / TICKS_PER_SECOND)


__all__ = [
    "Health",
    "LiveInputs",
    "LiveOutputs",
    "Pacing",
    "TwinRecorder",
    "TwinServer",
]
