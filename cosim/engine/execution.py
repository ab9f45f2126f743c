"""The only co-simulation loop: initialize(), step(), run_until(tick) over a precomputed Plan.

Call order::

    ex = Execution(system, observers=[...])     # builds the plan; no FMU touched yet
    with ex:                                    # __exit__ terminates and frees every FMU
        ex.initialize()                         # instantiate, start values, initialization mode
        ex.run_until(system.stop_tick)          # or step() repeatedly; request_stop() ends early

One communication step n (time t = start + n*step, h = step); instance i has decimation d_i
and its own step H_i = d_i*h:
    1. timed events with tick <= t are applied (an event at t acts on the step starting at t;
       on a connected input the connection's value overwrites it in the same step);
    2. in the plan's order, every instance with n % d_i == 0 takes its inputs and steps from t
       to t + H_i (transfer, set, doStep); every instance with (n + 1) % d_i == 0 publishes its
       outputs (get), i.e. at the end of the communication step in which the global time
       reaches the end of its own step. For d_i = 1 both happen in every step.
       Gauss-Seidel: each instance's set, doStep and get in turn (downstream instances see
       the outputs published in this step, as of t + h);
       Jacobi: all inputs from the outputs published as of t, set, doStep; then the gets;
    3. observers' step_complete(n + 1, tick) (read-only), then the stop flag is checked.

Multirate is sample-and-hold on each instance's own grid: a slower instance's outputs stay at
their value from its last completed step (y(t0) over [t0, t0 + H)) and change to y(t0 + H)
only when the global time reaches t0 + H, so no one, the recorder included, sees them early.
Its inputs are taken once, at its step start, and held over its step; an event that sets a
slower instance's input (or parameter) between two of its steps reaches the FMU at once but
takes effect in its next doStep.

FMU status: Warning is counted (RunStatistics.fmu_warning_returns); Discard, Error and Fatal
raise FmuError and end the run, with one exception: a doStep that returns Discard while the
FMU asks to end the simulation (FMI 2.0 fmi2GetBooleanStatus(fmi2Terminated), FMI 3.0
terminateSimulation) ends the run cleanly after the current communication step, status
"stopped", like an FMI 3.0 terminateSimulation after an OK step. close() then terminates
what FMI allows (not after Error or Fatal) and frees every instance except those that
returned Fatal (and, FMI 2.0, every other instance of that FMU), which get no further call.

The per-step path runs over tuples of bound ctypes calls and preallocated ctypes buffers
(views into one store per value type): one get and one set call per instance and type, no
allocation of buffers, no file I/O (the results observer buffers rows and writes whole chunks
about once a second). doStep wall time is sampled on every TIMING_SAMPLE-th step
to estimate each instance's share without timing every call.
"""

from __future__ import annotations

import ctypes
import math
import shutil
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cosim.engine.plan import (
    CONVERT_BOOL,
    CONVERT_CEIL,
    CONVERT_FLOOR,
    CONVERT_NONE,
    CONVERT_ROUND,
    CONVERT_TRUNCATE,
    JACOBI,
    Plan,
    build_plan,
)
from cosim.errors import ConfigError, FmuError, Problem, SimulationError
from cosim.fmu.adapter import BOOLEAN, CTYPES, DISCARD, DTYPES, WARNING, Slave, ValueType
from cosim.model.spec import TICKS_PER_SECOND, ResolvedComponent, ResolvedSystem

TIMING_SAMPLE = 32  # time doStep on every 32nd communication step
MAX_SCHEDULE_PERIOD = 10_000  # precompute the multirate schedule up to this hyperperiod

_INTEGER = frozenset(
    {
        ValueType.I8,
        ValueType.U8,
        ValueType.I16,
        ValueType.U16,
        ValueType.I32,
        ValueType.U32,
        ValueType.I64,
        ValueType.U64,
    }
)


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


_CONVERTERS: dict[int, Callable[[float], Any]] = {
    CONVERT_ROUND: _round_half_away,
    CONVERT_FLOOR: math.floor,
    CONVERT_CEIL: math.ceil,
    CONVERT_TRUNCATE: int,
    CONVERT_BOOL: bool,
}


class Observer(Protocol):
    """Reads results after initialization and after each step; never writes to the system."""

    def simulation_initialized(self, execution: Execution) -> None: ...

    def step_complete(self, step: int, tick: int) -> None: ...


SlaveFactory = Callable[[ResolvedComponent], Slave]


class NativeSlaves:
    """Default slave factory: unpack each FMU once, open an FMI 2.0/3.0 adapter per component."""

    def __init__(self) -> None:
        self._unzipped: dict[Path, Path] = {}

    def __call__(self, component: ResolvedComponent) -> Slave:
        md = component.model_description
        if md is not None and getattr(md, "coSimulation", None) is None:
            raise ConfigError(
                Problem(
                    component.spec.loc,
                    f"component {component.name!r}: {component.fmu_path.name} has no Co-Simulation "
                    "interface; Model Exchange FMUs in a system are not yet supported",
                    "use a Co-Simulation FMU (or export one from your tool)",
                )
            )
        from cosim.fmu.archive import extract

        path = Path(component.fmu_path)
        if path not in self._unzipped:
            self._unzipped[path] = extract(path)
        unzip_dir = self._unzipped[path]
        if component.fmi_version == "3.0":
            from cosim.fmu.fmi3 import Fmi3Slave as cls
        else:
            from cosim.fmu.fmi2 import Fmi2Slave as cls
        categories = getattr(md, "logCategories", None) or ()
        return cls(
            component.name,
            unzip_dir,
            component.model_identifier,
            component.guid,
            log_categories=categories,
        )

    def close(self) -> None:
        for path, unzip_dir in self._unzipped.items():
            if unzip_dir != path:  # extract() returns folders unchanged: never delete those
                shutil.rmtree(unzip_dir, ignore_errors=True)
        self._unzipped.clear()


@dataclass
class RunStatistics:
    """What a run cost: steps, wall time, real-time factor, each instance's share of doStep."""

    steps: int = 0
    start_time: float = 0.0
    simulated_time: float = 0.0  # seconds of simulated time advanced by the step loop
    init_wall_time: float = 0.0
    wall_time: float = 0.0  # seconds spent in the step loop
    do_step_sampled: dict[str, float] = field(default_factory=dict)  # seconds, sampled steps
    do_step_calls: dict[str, int] = field(default_factory=dict)  # all doStep calls
    do_step_sampled_calls: dict[str, int] = field(default_factory=dict)
    status: str = "created"  # created | initialized | running | completed | stopped | failed
    # FMU warnings, only instances that had any: log lines with status Warning, calls that
    # returned Warning, and the last few warning lines
    fmu_warnings: dict[str, int] = field(default_factory=dict)
    fmu_warning_returns: dict[str, int] = field(default_factory=dict)
    fmu_warning_lines: dict[str, list[str]] = field(default_factory=dict)

    @property
    def real_time_factor(self) -> float | None:
        """Simulated seconds per wall-clock second (> 1: faster than real time)."""
        return self.simulated_time / self.wall_time if self.wall_time > 0 else None

    def do_step_seconds(self) -> dict[str, float]:
        """Estimated wall time in doStep per instance (sampled time scaled to all calls)."""
        out = {}
        for name, sampled in self.do_step_sampled.items():
            k = self.do_step_sampled_calls.get(name, 0)
            out[name] = sampled * self.do_step_calls.get(name, 0) / k if k else 0.0
        return out

    def do_step_share(self) -> dict[str, float]:
        seconds = self.do_step_seconds()
        total = sum(seconds.values())
        return {name: (s / total if total > 0 else 0.0) for name, s in seconds.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "steps": self.steps,
            "simulated_time": self.simulated_time,
            "wall_time": self.wall_time,
            "init_wall_time": self.init_wall_time,
            "real_time_factor": self.real_time_factor,
            "do_step_seconds": self.do_step_seconds(),
            "do_step_share": self.do_step_share(),
            "fmu_warnings": dict(self.fmu_warnings),
            "fmu_warning_returns": dict(self.fmu_warning_returns),
            "fmu_warning_lines": {k: list(v) for k, v in self.fmu_warning_lines.items()},
        }


class Execution:
    """Owns the slaves, the value stores and the loop of one run.

    `logging_on` turns on every FMU log category and keeps every line (debugging); by default
    FMUs log with loggingOn = true but only their error/warning categories are enabled, and
    only lines with status Warning or worse (or of those categories) are kept.
    """

    def __init__(
        self,
        system: ResolvedSystem,
        *,
        observers: Iterable[Observer] = (),
        slave_factory: SlaveFactory | None = None,
        plan: Plan | None = None,
        logging_on: bool = False,
        max_init_iterations: int = 100,
        init_rtol: float = 1e-10,
        init_atol: float = 1e-12,
    ) -> None:
        self.system = system
        self.plan = plan if plan is not None else build_plan(system)
        self.observers: list[Observer] = list(observers)
        self._factory: SlaveFactory = slave_factory or NativeSlaves()
        self._logging_on = logging_on
        self._max_init_iterations = max_init_iterations
        self._init_rtol, self._init_atol = init_rtol, init_atol
        self.slaves: list[Slave] = []
        self.step_count = 0  # communication steps done
        self.tick = self.plan.start_tick
        self.stats = RunStatistics(start_time=self.plan.start_tick / TICKS_PER_SECOND)
        self._stop_requested = False
        self.stop_reason = ""  # why a run ended before its stop time
        self._closed = False
        self._next_event = 0

        # one store per value type; numpy views share the memory (for recording and checks)
        p = self.plan
        self.stores: list[Any] = []
        self.views: list[np.ndarray] = []
        for t in ValueType:
            size = int(p.store_size[t])
            if t is ValueType.STR:
                self.stores.append(None)
                self.views.append(np.zeros(0))
                continue
            store = (CTYPES[t] * max(size, 1))()
            self.stores.append(store)
            self.views.append(np.frombuffer(store, dtype=DTYPES[t])[:size])
        self._t_cell = ctypes.c_double(p.start_tick / TICKS_PER_SECOND)
        self._h_cells = [
            ctypes.c_double(int(d) * p.step_ticks / TICKS_PER_SECOND) for d in p.decimation
        ]
        self._stages: list[tuple] = []
        self._phases: list[tuple] | None = None
        self._step_sampled = [0.0] * p.n_instances
        self._step_sampled_calls = [0] * p.n_instances
        self._warning_returns = [0] * p.n_instances
        self._variants: list[tuple[tuple, tuple, tuple]] = []  # per instance: step+get, step, get
        self._fmu_ended = ""  # set when an FMU asked to end the simulation: no further step
        self._discard_end = False  # ... after a doStep that returned Discard
        self._gather = self._make_gather()

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> Execution:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(suppress=exc[0] is not None)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop at the end of the current communication step (safe from a signal handler)."""
        self._stop_requested = True
        self.stop_reason = self.stop_reason or reason

    @property
    def time(self) -> float:
        return self.tick / TICKS_PER_SECOND

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def initialize(self) -> None:
        """Instantiate every FMU, apply start values, and agree on values in initialization mode.

        Connected values are passed through initialization mode in stepping order; when an
        input feeds an output directly, passes repeat until every output changes by less than
        rtol*|value| + atol (SimulationError after max_init_iterations).
        """
        t0 = _time.perf_counter()
        p = self.plan
        start = p.start_tick / TICKS_PER_SECOND
        for comp in self.system.components:
            self.slaves.append(self._factory(comp))
        for slave in self.slaves:
            slave.instantiate(logging_on=self._logging_on)
            slave.time = start
        for i, slave in enumerate(self.slaves):
            by_type: dict[ValueType, tuple[list[int], list[Any]]] = {}
            for vtype, vr, value in p.start_values[i]:
                vrs, values = by_type.setdefault(ValueType(vtype), ([], []))
                vrs.append(vr)
                values.append(value)
            for vtype, (vrs, values) in by_type.items():
                slave.set_values(vtype, vrs, values)
        for slave in self.slaves:
            slave.enter_initialization(start)
        self._bind()

        gets = [stage[5] for stage in self._stages]
        for i in range(p.n_instances):
            self._checked(i, gets[i], start)
        order = [int(i) for i in p.order]
        passes = self._max_init_iterations if p.needs_init_iteration else 1
        for k in range(passes):
            before = [v.copy() for v in self.views]
            for i in order:
                self._transfer(i)
                self._checked(i, self._stages[i][3], start)
                self._checked(i, gets[i], start)
            changed = self._changes(before)
            if not changed:
                break
            if k == passes - 1 and p.needs_init_iteration:
                loops = "; ".join(" -> ".join(loop) for loop in self.system.algebraic_loops)
                worst = ", ".join(f"{label} (by {d:.3g})" for label, d in changed[:5])
                raise SimulationError(
                    f"initialization did not converge in {passes} iterations: {worst} still "
                    "change" + (f"; algebraic loop: {loops}" if loops else "")
                )
        for slave in self.slaves:
            slave.exit_initialization()
        for i in range(p.n_instances):
            self._checked(i, gets[i], start)
        self.stats.init_wall_time = _time.perf_counter() - t0
        self.stats.status = "initialized"
        self._update_stats()
        for obs in self.observers:
            obs.simulation_initialized(self)

    def close(self, suppress: bool = False) -> None:
        """Terminate (where FMI allows it) and free every FMU, then remove unpacked FMUs.

        No call at all reaches an instance that returned Fatal, nor (FMI 2.0: "no function
        of any instance") another instance loaded from the same FMU binary.
        """
        if self._closed:
            return
        self._closed = True
        self._update_stats()
        errors: list[BaseException] = []
        fatal = {s.library_key for s in self.slaves if s.fatal and s.library_key is not None}
        for slave in self.slaves:
            if slave.fatal or (slave.library_key is not None and slave.library_key in fatal):
                try:
                    slave.abandon()
                except Exception as exc:
                    errors.append(exc)
                continue
            try:
                if slave.may_terminate():
                    slave.terminate()
            except Exception as exc:  # keep going: every FMU must be freed
                errors.append(exc)
            finally:
                try:
                    slave.free()
                except Exception as exc:
                    errors.append(exc)
        closer = getattr(self._factory, "close", None)
        if closer is not None:
            closer()
        if errors and not suppress:
            raise errors[0]

    # ------------------------------------------------------------------ binding
    def _view(self, vtype: int, begin: int, end: int) -> Any:
        ctype = CTYPES[ValueType(vtype)]
        return (ctype * (end - begin)).from_buffer(self.stores[vtype], begin * ctypes.sizeof(ctype))

    def _bind(self) -> None:
        """Build each instance's stage: connection copies, bound sets, bound step, bound gets."""
        p = self.plan
        n = p.n_instances
        sets: list[list] = [[] for _ in range(n)]
        gets: list[list] = [[] for _ in range(n)]
        for rows, out, bind in ((p.set_calls, sets, "bind_set"), (p.get_calls, gets, "bind_get")):
            for i, t, b, e in rows.tolist():
                vrs = p.store_vr[t][b:e].tolist()
                out[i].append(getattr(self.slaves[i], bind)(ValueType(t), vrs, self._view(t, b, e)))
        stores = self.stores
        for i in range(n):
            copies, linear, converted = [], [], []
            for k in range(int(p.conn_begin[i]), int(p.conn_begin[i + 1])):
                sv, dv = ValueType(int(p.conn_src_vtype[k])), ValueType(int(p.conn_dst_vtype[k]))
                src, dst = stores[sv], stores[dv]
                ss, ds = int(p.conn_src_slot[k]), int(p.conn_dst_slot[k])
                g, o, cv = float(p.conn_gain[k]), float(p.conn_offset[k]), int(p.conn_convert[k])
                exact = cv == CONVERT_NONE or (
                    (sv in _INTEGER or sv in BOOLEAN) and (dv in _INTEGER or dv in BOOLEAN)
                )
                if g == 1.0 and o == 0.0 and exact:
                    copies.append((dst, ds, src, ss))
                elif cv == CONVERT_NONE:
                    linear.append((dst, ds, src, ss, g, o))
                else:
                    converted.append((dst, ds, src, ss, g, o, _CONVERTERS[cv]))
            step = self.slaves[i].bind_step(self._t_cell, self._h_cells[i])
            self._stages.append(
                (
                    tuple(copies),
                    tuple(linear),
                    tuple(converted),
                    tuple(sets[i]),
                    step,
                    tuple(gets[i]),
                    i,
                )  # fmt: skip
            )
        # per instance: (step and get) when d = 1, else (step only) at n % d == 0 and
        # (get only) at (n + 1) % d == 0: sample-and-hold on the instance's own grid
        for stage in self._stages:
            copies, linear, converted, sets, step, gets, i = stage
            self._variants.append(
                (
                    stage,
                    (copies, linear, converted, sets, step, (), i),
                    ((), (), (), (), _no_step, gets, i),
                )
            )
        # the multirate schedule: the stage variants of phase n % period, in stepping order
        period = math.lcm(*[int(d) for d in p.decimation]) if n else 1
        self._phases = (
            [self._phase(ph) for ph in range(period)] if period <= MAX_SCHEDULE_PERIOD else None
        )

    def _phase(self, n: int) -> tuple:
        """What communication step n does, per instance in stepping order (see module doc)."""
        out = []
        for i in self.plan.order.tolist():
            d = int(self.plan.decimation[i])
            steps, gets = n % d == 0, (n + 1) % d == 0
            both, step_only, get_only = self._variants[i]
            if steps and gets:
                out.append(both)
            elif steps:
                out.append(step_only)
            elif gets:
                out.append(get_only)
        return tuple(out)

    def _transfer(self, i: int) -> None:
        copies, linear, converted = self._stages[i][:3]
        for d, di, s, si in copies:
            d[di] = s[si]
        for d, di, s, si, g, o in linear:
            d[di] = g * s[si] + o
        for d, di, s, si, g, o, cv in converted:
            d[di] = cv(g * s[si] + o)

    def _checked(self, i: int, calls: Sequence[Callable[[], int]], t: float) -> None:
        for call in calls:
            status = call()
            if status:
                self._status(i, call, status, t)

    def _status(self, i: int, call: Callable[[], int], status: int, t: float) -> None:
        """A set or get returned something other than OK: count a Warning, raise otherwise."""
        if status == WARNING:
            self._warning_returns[i] += 1
            return
        raise self.slaves[i].error(call, status, t)

    def _step_status(self, i: int, call: Callable[[], int], status: int, t: float) -> None:
        """A doStep returned something other than OK. Warning: counted. Discard with the FMU
        asking to end the simulation: the run stops after this communication step. Else
        FmuError (the instance records the status for close())."""
        if status == WARNING:
            self._warning_returns[i] += 1
            return
        slave = self.slaves[i]
        error = slave.error(call, status, t)
        if status == DISCARD:
            try:
                ends = slave.wants_to_terminate()
            except Exception:  # the question itself failed: report the Discard
                ends = False
            if ends:
                self._discard_end = True
                self._end_by_fmu(
                    f"{slave.name}: {error.function} returned Discard at t={t:.9g} s and the FMU "
                    "asked to terminate the simulation"
                )
                return
        raise error

    def _end_by_fmu(self, reason: str) -> None:
        self._fmu_ended = self._fmu_ended or reason
        self.stop_reason = self.stop_reason or reason
        self._stop_requested = True

    def _changes(self, before: list[np.ndarray]) -> list[tuple[str, float]]:
        changed = []
        for t, (old, new) in enumerate(zip(before, self.views, strict=True)):
            labels = self.plan.get_labels[t]
            if not labels:
                continue
            a, b = old[: len(labels)], new[: len(labels)]
            if t in (ValueType.F64, ValueType.F32):
                diff = np.abs(b - a)
                bad = diff > self._init_rtol * np.abs(b) + self._init_atol
                bad |= np.isnan(b) != np.isnan(a)
            else:
                diff = (a != b).astype(float)
                bad = a != b
            changed += [(labels[k], float(diff[k])) for k in np.flatnonzero(bad)]
        return sorted(changed, key=lambda x: -x[1])

    # ------------------------------------------------------------------ recording
    def _make_gather(self) -> Callable[[np.ndarray], None]:
        p = self.plan
        groups = []
        for t in sorted(set(p.rec_vtype.tolist())):
            cols = np.flatnonzero(p.rec_vtype == t)
            slots = p.rec_slot[cols]
            groups.append((self.views[t], slots, cols, np.zeros(len(cols), DTYPES[ValueType(t)])))
        if len(groups) == 1 and np.array_equal(groups[0][2], np.arange(len(p.rec_slot))):
            view, slots = groups[0][0], groups[0][1]
            if view.dtype == np.float64:

                def gather_f64(out: np.ndarray) -> None:
                    np.take(view, slots, out=out)

                return gather_f64

        def gather(out: np.ndarray) -> None:
            for view, slots, cols, tmp in groups:
                np.take(view, slots, out=tmp)
                out[cols] = tmp

        return gather

    def gather_records(self, out: np.ndarray) -> None:
        """Copy the recorded variables' values into `out` (float64, in plan.rec_labels order)."""
        self._gather(out)

    def value(self, label: str) -> float:
        """Current value of a got variable "<component>.<variable>" (for tests and diagnostics)."""
        for t, labels in enumerate(self.plan.get_labels):
            if label in labels:
                return self.views[t][labels.index(label)].item()
        raise KeyError(label)

    # ------------------------------------------------------------------ events
    def _apply_events(self, tick: int) -> None:
        p = self.plan
        t = tick / TICKS_PER_SECOND
        k = self._next_event
        while k < len(p.ev_tick) and p.ev_tick[k] <= tick:
            i = int(p.ev_instance[k])
            slave = self.slaves[i]
            slave.time = t
            try:
                slave.set_values(ValueType(int(p.ev_vtype[k])), [int(p.ev_vr[k])], [p.ev_values[k]])
            except FmuError:
                slave.failed = True
                raise
            k += 1
        self._next_event = k

    # ------------------------------------------------------------------ the loop
    def step(self) -> None:
        """Advance one communication step."""
        self._run(1)

    def run_until(self, tick: int | None = None) -> bool:
        """Step while the current tick is before `tick` (default: the stop tick).

        Returns True when `tick` was reached, False when a stop was requested first.
        """
        p = self.plan
        if tick is None:
            tick = p.stop_tick
        n_end = -(-(tick - p.start_tick) // p.step_ticks)
        if n_end > self.step_count:
            self._run(n_end - self.step_count)
        return self.step_count >= n_end

    def _run(self, count: int) -> None:
        if not self.slaves:
            raise SimulationError("initialize() must be called before stepping")
        if self._fmu_ended:  # FMI: after terminateSimulation / Discard+terminated, no doStep
            return
        p = self.plan
        self.stats.status = "running"
        t_cell = self._t_cell
        phases = self._phases
        period = len(phases) if phases is not None else 0
        jacobi = p.algorithm == JACOBI
        observers = tuple(self.observers)
        # FMI 3.0 instances may ask to end the simulation through fmi3DoStep's out-argument
        end_flags = [
            (s.name, s.terminate_simulation)
            for s in self.slaves
            if getattr(s, "terminate_simulation", None) is not None
        ]
        start, step_ticks = p.start_tick, p.step_ticks
        ev_tick = p.ev_tick.tolist() + [None]
        n = self.step_count
        wall0 = _time.perf_counter()
        try:
            for _ in range(count):
                tick = start + n * step_ticks
                next_ev = ev_tick[self._next_event]
                if next_ev is not None and next_ev <= tick:
                    self._apply_events(tick)
                t = tick / TICKS_PER_SECOND
                t_cell.value = t
                phase = phases[n % period] if phases is not None else self._phase(n)
                if n % TIMING_SAMPLE == 0:
                    self._timed_step(phase, t, jacobi)
                elif jacobi:
                    for copies, linear, converted, sets, step, _gets, i in phase:
                        for d, di, s, si in copies:
                            d[di] = s[si]
                        for d, di, s, si, g, o in linear:
                            d[di] = g * s[si] + o
                        for d, di, s, si, g, o, cv in converted:
                            d[di] = cv(g * s[si] + o)
                        for call in sets:
                            status = call()
                            if status:
                                self._status(i, call, status, t)
                        status = step()
                        if status:
                            self._step_status(i, step, status, t)
                    for stage in phase:
                        for call in stage[5]:
                            status = call()
                            if status:
                                self._status(stage[6], call, status, t)
                else:
                    for copies, linear, converted, sets, step, gets, i in phase:
                        for d, di, s, si in copies:
                            d[di] = s[si]
                        for d, di, s, si, g, o in linear:
                            d[di] = g * s[si] + o
                        for d, di, s, si, g, o, cv in converted:
                            d[di] = cv(g * s[si] + o)
                        for call in sets:
                            status = call()
                            if status:
                                self._status(i, call, status, t)
                        status = step()
                        if status:
                            self._step_status(i, step, status, t)
                        for call in gets:
                            status = call()
                            if status:
                                self._status(i, call, status, t)
                n += 1
                self.step_count = n
                self.tick = tick + step_ticks
                for obs in observers:
                    obs.step_complete(n, tick + step_ticks)
                if end_flags:
                    for name, flag in end_flags:
                        if flag.value:
                            self._end_by_fmu(f"{name} asked to terminate the simulation")
                if self._stop_requested:
                    break
        except BaseException:
            self.stats.status = "failed"
            raise
        finally:
            self.stats.wall_time += _time.perf_counter() - wall0
            self.stats.steps = self.step_count
            self.stats.simulated_time = (self.tick - p.start_tick) / TICKS_PER_SECOND
            self._update_stats()
        if self.stats.status == "running":
            done = self.step_count >= p.n_steps and not self._discard_end
            self.stats.status = "completed" if done else "stopped"

    def _timed_step(self, phase: tuple, t: float, jacobi: bool) -> None:
        clock = _time.perf_counter
        sampled, sampled_calls = self._step_sampled, self._step_sampled_calls
        for copies, linear, converted, sets, step, gets, i in phase:
            for d, di, s, si in copies:
                d[di] = s[si]
            for d, di, s, si, g, o in linear:
                d[di] = g * s[si] + o
            for d, di, s, si, g, o, cv in converted:
                d[di] = cv(g * s[si] + o)
            for call in sets:
                status = call()
                if status:
                    self._status(i, call, status, t)
            if step is not _no_step:
                c0 = clock()
                status = step()
                sampled[i] += clock() - c0
                sampled_calls[i] += 1
                if status:
                    self._step_status(i, step, status, t)
            if not jacobi:
                for call in gets:
                    status = call()
                    if status:
                        self._status(i, call, status, t)
        if jacobi:
            for stage in phase:
                for call in stage[5]:
                    status = call()
                    if status:
                        self._status(stage[6], call, status, t)

    def _update_stats(self) -> None:
        names = self.plan.instance_names
        st = self.stats
        st.do_step_sampled = dict(zip(names, self._step_sampled, strict=True))
        st.do_step_sampled_calls = dict(zip(names, self._step_sampled_calls, strict=True))
        # instance i stepped at every n < step_count with n % decimation == 0
        n = self.step_count
        calls = [(n + int(d) - 1) // int(d) for d in self.plan.decimation]
        st.do_step_calls = dict(zip(names, calls, strict=True))
        st.fmu_warning_returns = {
            name: k for name, k in zip(names, self._warning_returns, strict=True) if k
        }
        st.fmu_warnings = {s.name: s.warning_count for s in self.slaves if s.warning_count}
        st.fmu_warning_lines = {s.name: s.warnings for s in self.slaves if s.warning_count}


def _no_step() -> int:
    """The doStep slot of a stage that only publishes outputs (a slower instance between steps)."""
    return 0


def run(
    system: ResolvedSystem,
    observers: Iterable[Observer] = (),
    slave_factory: SlaveFactory | None = None,
    until: int | None = None,
) -> RunStatistics:
    """Initialize and run `system` to its stop time (or `until` ticks); always frees the FMUs."""
    ex = Execution(system, observers=observers, slave_factory=slave_factory)
    with ex:
        ex.initialize()
        ex.run_until(until)
    return ex.stats


__all__ = [
    "Execution",
    "NativeSlaves",
    "Observer",
    "RunStatistics",
    "SlaveFactory",
    "TIMING_SAMPLE",
    "run",
]
