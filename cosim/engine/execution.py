"""The one co-simulation loop: initialize(), step(), run_until(tick) over a precomputed Plan.

Call order::

    ex = Execution(system, observers=[...], manipulators=[...], pacer=None)
                                                # builds the plan; no FMU touched yet
    with ex:                                    # __exit__ frees every state and every FMU
        ex.initialize()                         # instantiate, start values, initialization mode,
                                                # then manipulators', observers' initialized hooks
        ex.run_until(system.stop_tick)          # or step() repeatedly; request_stop() ends early
        ex.get(label); ex.set(label, value)     # between steps
        s = ex.get_state(); ...; ex.set_state(s)   # whole-system rollback

One communication step n (time t = start + n*step, h = step); instance i has decimation d_i
and its own step H_i = d_i*h:
    1. manipulators' before_step(n, tick): they write external-input slots (plan inputs);
    2. values given to set() for variables without a slot, then timed events with
       tick <= t, are sent with set_values (an event at t acts on the step starting at t; on a
       connected input the connection's value overwrites it in the same step);
    3. the phase n % period of the algorithm's phase table runs through the one loop body:
       for each stage, connection transfers, bound sets (connection and external-input slots),
       doStep from t to t + H_i, bound gets. The algorithm (cosim.engine.algorithms) only
       orders the stages: Gauss-Seidel steps and publishes each instance in turn (downstream
       instances see the outputs published in this step, as of t + h); Jacobi steps every
       instance on the outputs published as of t, then publishes. An instance steps when
       n % d_i == 0 and publishes (gets) when (n + 1) % d_i == 0;
    4. observers' step_complete(n + 1, tick + h) (read-only);
    5. pacer.wait() (a run option: cosim.realtime.Pacer), then the stop flag is checked.

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
returned Fatal (and, FMI 2.0, every other instance of that FMU), which get no further call;
errors from several slaves at close are collected and the first is raised.

The per-step path runs over tuples of bound ctypes calls and preallocated ctypes buffers
(views into one store per value type): one get and one set call per instance and type, no
allocation of buffers, no file I/O (the results observer buffers rows and writes whole chunks
about once a second). doStep wall time is sampled on every TIMING_SAMPLE-th step, by running
that step's phase from a second table whose doSteps are wrapped in a clock (same loop body).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time as _time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from cosim.engine.algorithms import algorithm_for
from cosim.engine.hooks import Manipulator, Observer
from cosim.engine.plan import Plan, build_plan
from cosim.engine.slots import InputView, python_value, store_value
from cosim.engine.stages import (
    INTEGER,
    Stage,
    Variants,
    bind_stages,
    phase_stages,
    phase_table,
    timed_step,
    variants,
)
from cosim.engine.state import PortableState, SystemState
from cosim.engine.statistics import RunStatistics
from cosim.engine.watchdog import CallRecord, Watchdog, function_name, watched_stage
from cosim.errors import ConfigError, FmuError, Location, Problem, SimulationError
from cosim.fmu.adapter import CTYPES, DISCARD, DTYPES, ERROR, WARNING, Slave, ValueType
from cosim.fmu.factory import NativeSlaves, SlaveFactory, can_get_and_set_state, value_type
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem, VariableInfo

TIMING_SAMPLE = 32  # time doStep on every 32nd communication step
CHUNK_SECONDS = 0.004  # the compiled loop's calls last about this long (observers between)
MAX_CHUNK = 1 << 16  # communication steps per call at most
ONE_BY_ONE = 64  # steps one by one after a chunk that stopped in its first step
MAX_SCHEDULE_PERIOD = 10_000  # precompute the multirate schedule up to this hyperperiod


def _default_engine() -> str:
    """COSIM_ENGINE (native or python), else native."""
    value = os.environ.get("COSIM_ENGINE", "").strip().lower() or "native"
    if value not in ("native", "python"):
        raise ConfigError(
            Problem(
                Location("COSIM_ENGINE"),
                f"COSIM_ENGINE must be native or python, not {value!r}",
                "unset it for the default (native)",
            )
        )
    return value


def _check_engine_features(system: ResolvedSystem) -> None:
    """Refuse what the resolver accepted but this engine build cannot run (never run it
    differently from what the system says)."""
    import importlib.util

    problems = []
    multirate = [
        system.components[i].name
        for loop in system.loops
        for i in loop.components
        if system.components[i].decimation != 1
    ]
    if multirate:
        problems.append(
            Problem(
                None,
                f"components {', '.join(multirate)} are in a loop that is iterated at each "
                "communication step and have their own step (multirate)",
                "remove step: from the loop's components",
            )
        )
    if system.loops and importlib.util.find_spec("cosim.engine.loops") is None:
        problems.append(
            Problem(
                None,
                "this system has cycles to iterate at each step ("
                + "; ".join(" -> ".join(loop.path) for loop in system.loops)
                + "), which this build of cosim cannot solve",
                "use algebraic_loops: break (or error), or algorithm: jacobi",
            )
        )
    me = [c.name for c in system.components if c.interface == "me"]
    if me and importlib.util.find_spec("cosim.fmu.me") is None:
        problems.append(
            Problem(
                None,
                f"components {', '.join(me)} use the Model Exchange interface, which this "
                "build of cosim cannot integrate",
                "use interface: cs",
            )
        )
    if problems:
        raise ConfigError(problems)


class Execution:
    """Owns the slaves, the value stores and the loop of one run.

    `logging_on` turns on every FMU log category and keeps every line (debugging); by default
    FMUs log with loggingOn = true but only their error/warning categories are enabled, and
    only lines with status Warning or worse (or of those categories) are kept.
    `pacer` (cosim.realtime.Pacer or anything with start() and wait()) paces the loop.
    """

    def __init__(
        self,
        system: ResolvedSystem,
        *,
        observers: Iterable[Observer] = (),
        manipulators: Iterable[Manipulator] = (),
        pacer: Any = None,
        slave_factory: SlaveFactory | None = None,
        plan: Plan | None = None,
        logging_on: bool = False,
        max_init_iterations: int = 100,
        init_rtol: float = 1e-10,
        init_atol: float = 1e-12,
        engine: str | None = None,
    ) -> None:
        self.system = system
        # "native": the compiled kernel runs the steps where the plan allows (else Python);
        # COSIM_ENGINE is the default for runs that do not choose
        self.engine = engine or getattr(system.spec.simulation, "engine", None) or _default_engine()
        self._native: Any = None
        self._native_bound = False  # bind_run done (on the first chunk)
        self._end_flags: list[tuple[str, Any]] = []  # FMI 3.0 terminateSimulation out-args
        self._one_by_one_until = 0  # no chunk before this step
        self._chunk_size = 1  # steps per kernel call (the first: one), then ~CHUNK_SECONDS
        _check_engine_features(system)
        self.plan = plan if plan is not None else build_plan(system)
        self.observers: list[Observer] = list(observers)
        self.manipulators: list[Manipulator] = list(manipulators)
        self.pacer = pacer
        self._pacer_started = False
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
        self._algorithm = algorithm_for(p)
        self._stages: list[Stage] = []  # per instance: its full stage (step and publish)
        self._variants: list[Variants] = []
        self._timed_variants: list[Variants] = []
        # per phase n % period: the stages in execution order (plain tuples, Stage fields)
        self._phases: list[tuple[tuple, ...]] | None = None
        self._timed_phases: list[tuple[tuple, ...]] | None = None
        self._step_sampled = [0.0] * p.n_instances
        self._step_sampled_calls = [0] * p.n_instances
        self._warning_returns = [0] * p.n_instances
        self._fmu_ended = ""  # set when an FMU asked to end the simulation: no further step
        self._discard_end = False  # ... after a doStep that returned Discard
        self._gather = self._make_gather()
        self._cut = False  # some h cell holds a shortened (or controlled) step
        self._controller: Any = None  # StepController under simulation.step_control
        self._loops: list[Any] = []  # LoopSolver per algebraic loop (cosim.engine.loops)
        self._history = np.zeros(0)  # input extrapolation history (cosim.engine.extrapolation)
        # Execution.set values for variables without a slot: before initialize() they join
        # the start values, after it they are sent before the next step
        self._pending: list[tuple[int, ValueType, int, Any]] = []
        self._states: list[SystemState] = []  # taken and not yet freed
        self._running = False  # inside the step loop (hooks run): no set_state
        self._slot_of: dict[str, tuple[int, int]] | None = None  # label -> (vtype, slot)
        self._chunk_recorders: list[Any] = []  # the recorders of the current kernel chunk
        # timeout: per instance, the wall-time bound of each FMI call (cosim.engine.watchdog)
        sim = system.spec.simulation
        self.timeouts: list[float | None] = [
            getattr(c.spec, "timeout", None) or getattr(sim, "timeout", None)
            for c in system.components
        ]
        # isolation: process -> the FMU runs in a worker (cosim.fmu.isolated), which bounds
        # its own calls: the watchdog does not time those
        self.isolated = [
            (getattr(c.spec, "isolation", None) or getattr(sim, "isolation", "none")) == "process"
            for c in system.components
        ]
        self._isolated_timeouts = [
            t if iso else None for t, iso in zip(self.timeouts, self.isolated, strict=True)
        ]
        self.timeouts = [
            None if iso else t for t, iso in zip(self.timeouts, self.isolated, strict=True)
        ]
        self.calls = CallRecord()
        self.watchdog = Watchdog(
            self.calls,
            [c.name for c in system.components],
            self.timeouts,
            sim_time=lambda: self._t_cell.value,
            request_stop=self.request_stop,
        )
        self._input_of = {
            label: (int(p.in_vtype[k]), int(p.in_slot[k])) for k, label in enumerate(p.in_labels)
        }

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> Execution:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(suppress=exc[0] is not None)

    def _slave(self, i: int, comp: Any) -> Slave:
        """The adapter of component i: in this process (the factory), or in a worker."""
        if not self.isolated[i]:
            return self._factory(comp)
        from cosim.fmu.isolated import IsolatedSlave

        if getattr(comp, "input_clocks", ()):
            raise ConfigError(
                Problem(
                    comp.spec.loc,
                    f"component {comp.name!r}: isolation: process does not run FMUs with "
                    "clocks (FMI 3.0 Event Mode) yet",
                    "run it in-process (isolation: none)",
                )
            )
        slave = IsolatedSlave(comp, timeout=self._isolated_timeouts[i])
        slave.cancelled = lambda: self._stop_requested
        return slave

    def watch(self, *, signals: bool = False, on_fatal: Any = None) -> None:
        """Before initialize(): let the watchdog also take Ctrl-C/SIGTERM while an FMU call is
        stuck (`signals`, main thread only) and act on a call that never returns (`on_fatal`,
        see cosim.engine.watchdog)."""
        self.watchdog = Watchdog(
            self.calls,
            self.watchdog.names,
            self.timeouts,
            sim_time=lambda: self._t_cell.value,
            request_stop=self.request_stop,
            on_fatal=on_fatal,
            signals=signals,
            interrupt=self._interrupt_kernel,
        )

    def abandon(self, status: str, message: str) -> None:
        """From another thread, while the step thread is stuck in an FMU call: close what
        can be closed without it (the results: rows so far, `status`, `message`). The FMUs
        are left as they are; the process is about to end."""
        self.stats.status = status
        live = self._native.live_rows() if self._native is not None else None
        if live is not None:  # stuck inside a chunk: its complete rows count too
            for rec, rows in zip(self._chunk_recorders, live, strict=False):
                rec.rows_in_block(rows)
        for obs in self.observers:
            closer = getattr(obs, "abandon", None)
            if closer is not None:
                try:
                    closer(self.stats, status, message)
                except Exception:  # noqa: BLE001 - the process ends anyway; keep the others
                    continue

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop at the end of the current communication step (safe from a signal handler)."""
        self._stop_requested = True
        self.stop_reason = self.stop_reason or reason
        self._interrupt_kernel()

    def _interrupt_kernel(self) -> None:
        """Make a kernel chunk under way return after its current step (any thread)."""
        native = self._native
        if native is not None:
            native.stop.value = 1

    @property
    def time(self) -> float:
        return self.tick / TICKS_PER_SECOND

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    @property
    def initialized(self) -> bool:
        return bool(self._stages)

    def initialize(self) -> None:
        """Instantiate every FMU, apply start values, and agree on values in initialization mode.

        Connected values are passed through initialization mode in stepping order; when an
        input feeds an output directly, passes repeat until every output changes by less than
        rtol*|value| + atol (SimulationError after max_init_iterations). External-input slots
        start at the FMUs' values in initialization mode. Then manipulators' and observers'
        simulation_initialized(execution), in that order.
        """
        t0 = _time.perf_counter()
        p = self.plan
        start = p.start_tick / TICKS_PER_SECOND
        self.watchdog.start()
        calls = self.calls
        for i, comp in enumerate(self.system.components):
            self.slaves.append(self._slave(i, comp))
        for i, slave in enumerate(self.slaves):
            calls.enter(i, function_name(self.system.components[i].fmi_version, "Instantiate"))
            slave.instantiate(logging_on=self._logging_on)
            calls.leave()
            slave.time = start
        early = [(i, vtype, vr, value) for i, vtype, vr, value in self._pending]
        self._pending.clear()
        for i, slave in enumerate(self.slaves):
            comp = self.system.components[i]
            structural = {
                v.value_reference
                for v in comp.variables.values()
                if v.causality == "structuralParameter"
            }
            by_type: dict[ValueType, tuple[list[int], list[Any]]] = {}
            configure: dict[ValueType, tuple[list[int], list[Any]]] = {}
            starts = [(ValueType(t), vr, v) for t, vr, v in p.start_values[i]]
            starts += [(vtype, vr, value) for k, vtype, vr, value in early if k == i]
            for vtype, vr, value in starts:
                table = configure if vr in structural else by_type
                vrs, values = table.setdefault(vtype, ([], []))
                vrs.append(vr)
                if isinstance(value, tuple):  # a whole FMI 3.0 array, in row-major order
                    values += value
                else:
                    values.append(value)
            if configure:  # FMI 3.0: structural parameters only in Configuration Mode
                slave.configure(list(configure.items()))
            for vtype, (vrs, values) in by_type.items():
                slave.set_values(vtype, vrs, values)
        for i, (slave, comp) in enumerate(zip(self.slaves, self.system.components, strict=True)):
            # FMI 2.0 fmi2SetupExperiment / FMI 3.0 fmi3EnterInitializationMode: the tolerance
            # (component, system or DefaultExperiment) and the stop time, as other importers
            calls.enter(i, function_name(comp.fmi_version, "EnterInitializationMode"))
            slave.enter_initialization(start, comp.stop_time, comp.tolerance)
            calls.leave()
        self._fill_input_slots()
        self._bind()

        for stage in self._stages:
            self._checked(stage.instance, stage.gets, start)
        order = [int(i) for i in p.order]
        loop_of = {i: solver for solver in self._loops for i in solver.members}
        if self._loops:  # loops converge to their own tolerance: compare at that level
            tol = 10 * self.system.spec.simulation.loop_solver.tolerance
            self._init_rtol, self._init_atol = max(self._init_rtol, tol), max(self._init_atol, tol)
        passes = self._max_init_iterations if p.needs_init_iteration else 1
        for k in range(passes):
            before = [v.copy() for v in self.views]
            for i in order:
                solver = loop_of.get(i)
                if solver is not None:  # a loop: solved as a whole, once, at its first member
                    if i == solver.members[0]:
                        solver.initialize(start)
                    continue
                self._transfer(i)
                self._checked(i, self._stages[i].sets, start)
                self._checked(i, self._stages[i].gets, start)
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
        for i, slave in enumerate(self.slaves):
            calls.enter(
                i, function_name(self.system.components[i].fmi_version, "ExitInitializationMode")
            )
            slave.exit_initialization()
            calls.leave()
        self._raise_overrun()
        for stage in self._stages:
            self._checked(stage.instance, stage.gets, start)
        control = self.system.spec.simulation.step_control
        if control is not None:
            from cosim.engine.stepcontrol import StepController

            self._controller = StepController(self, control)
        self.stats.init_wall_time = _time.perf_counter() - t0
        self.stats.status = "initialized"
        self._update_stats()
        for m in self.manipulators:
            m.simulation_initialized(self)
        for obs in self.observers:
            obs.simulation_initialized(self)

    def close(self, suppress: bool = False) -> None:
        """Free every state still held (not on instances that returned Error or Fatal: freeing
        the instance releases them), terminate (where FMI allows it) and free every FMU, then
        remove unpacked FMUs.

        No call at all reaches an instance that returned Fatal, nor (FMI 2.0: "no function
        of any instance") another instance loaded from the same FMU binary.
        """
        if self._closed:
            return
        self._closed = True
        self.watchdog.stop()
        self._update_stats()
        errors: list[BaseException] = []
        fatal = {s.library_key for s in self.slaves if s.fatal and s.library_key is not None}

        def lost(slave: Slave) -> bool:
            return slave.fatal or (slave.library_key is not None and slave.library_key in fatal)

        def no_calls(slave: Slave) -> bool:  # after Error only fmiXFreeInstance is allowed
            return lost(slave) or slave.worst_status >= ERROR

        for state in list(self._states):
            try:
                self._free_state(state, skip=no_calls)
            except Exception as exc:
                errors.append(exc)
        for slave in self.slaves:
            if lost(slave):
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
    def _bind(self) -> None:
        """Each instance's stage and variants, then the phase tables (plain and timed)."""
        p = self.plan
        self._stages = bind_stages(p, self.slaves, self.stores, self._t_cell, self._h_cells)
        if any(c.extrapolation for c in self.system.connections):
            from cosim.engine.extrapolation import build

            extrapolators, self._history = build(self)
            for e in extrapolators:  # their calls join the instance's sets (same loop body)
                stage = self._stages[e.instance]
                sets = (e.apply, *stage.sets, e.send)
                self._stages[e.instance] = stage._replace(sets=sets)
        self._build_phases()
        self._native = None
        self._native_bound = False
        if self.engine == "native":
            from cosim.engine.native import native_phases

            self._native, why = native_phases(self._phases, self.stores, self.slaves)
            self.stats.engine = "native" if self._native is not None else "python"
            self.stats.engine_reason = why
        else:
            self.stats.engine, self.stats.engine_reason = "python", "engine: python was chosen"
        if self._native is not None:  # the kernel says which call it is in (for the watchdog)
            address, base, size = self._native.progress()
            names = [(i, self.slaves[i].function_name(c)) for i, c in self._native.op_calls]
            self.watchdog.watch_kernel(address, base, size, names)
        elif any(self.timeouts):  # each call tells the watchdog (watched_stage): phases anew
            self._stages = [self._watched(stage) for stage in self._stages]
            self._build_phases()

    def _watched(self, stage: Stage) -> Stage:
        """`stage` with its FMI calls reporting to the watchdog (if its instance has a timeout)."""
        i = stage.instance
        if not self.timeouts[i]:
            return stage
        slave = self.slaves[i]
        return watched_stage(stage, self.calls, slave.function_name)

    def _build_phases(self) -> None:
        """The variants of every stage, the phase tables (plain and timed), loops folded in."""
        p = self.plan
        self._variants, self._timed_variants = [], []
        sampled, calls = self._step_sampled, self._step_sampled_calls
        for stage in self._stages:
            self._variants.append(variants(stage))
            timed = timed_step(stage.step, stage.instance, sampled, calls)
            self._timed_variants.append(variants(stage._replace(step=timed)))
        self._phases = phase_table(p, self._algorithm, self._variants, MAX_SCHEDULE_PERIOD)
        self._timed_phases = phase_table(
            p, self._algorithm, self._timed_variants, MAX_SCHEDULE_PERIOD
        )
        if self.system.loops:  # each loop becomes one composite stage (cosim.engine.loops)
            from cosim.engine.loops import LoopSolver, fold

            spec = self.system.spec.simulation.loop_solver
            self._loops = [
                LoopSolver(self, loop, spec, f"loop{k + 1}")
                for k, loop in enumerate(self.system.loops)
            ]
            if self._phases is not None:
                self._phases = [fold(ph, self._loops) for ph in self._phases]
                self._timed_phases = [fold(ph, self._loops) for ph in self._timed_phases or []]

    def _phase(self, n: int, timed: bool) -> tuple[tuple, ...]:
        """Communication step n's stages when the phase table is not precomputed."""
        table = self._timed_variants if timed else self._variants
        phase = phase_stages(self._algorithm.phase(self.plan, n), table)
        if self._loops:
            from cosim.engine.loops import fold

            phase = fold(phase, self._loops)
        return phase

    def _fill_input_slots(self) -> None:
        """External-input slots start at the FMUs' present values (initialization mode);
        array elements no connection drives hold their start values."""
        p = self.plan
        for t, slot, value in p.set_fill:
            self.views[t][slot] = value
        for k in range(len(p.in_labels)):
            i, t, slot = int(p.in_instance[k]), int(p.in_vtype[k]), int(p.in_slot[k])
            vr = int(p.store_vr[t][slot])
            try:
                value = self.slaves[i].get_values(ValueType(t), [vr])[0]
            except FmuError:
                var = self._variable(p.in_labels[k])[1]
                value = var.start if isinstance(var.start, int | float) else 0
            self.views[t][slot] = value

    def _transfer(self, i: int) -> None:
        stage = self._stages[i]
        for d, di, s, si in stage.copies:
            d[di] = s[si]
        for d, di, s, si, g, o in stage.linear:
            d[di] = g * s[si] + o
        for d, di, s, si, g, o, cv in stage.converted:
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

    def _step_status(self, i: int, status: int, t: float) -> None:
        """A doStep returned something other than OK. Warning: counted. Discard with the FMU
        asking to end the simulation: the run stops after this communication step. Else
        FmuError (the instance records the status for close())."""
        if status == WARNING:
            self._warning_returns[i] += 1
            return
        slave = self.slaves[i]
        error = slave.error(self._stages[i].step, status, t)
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

    # ------------------------------------------------------------------ values between steps
    def _variable(self, label: str) -> tuple[int, VariableInfo]:
        comp_name, _, var_name = label.partition(".")
        for comp in self.system.components:
            if comp.name == comp_name:
                var = comp.variables.get(var_name)
                if var is None:
                    raise KeyError(f"{label}: component {comp_name!r} has no variable {var_name!r}")
                return comp.index, var
        names = ", ".join(c.name for c in self.system.components)
        raise KeyError(f"{label}: no component {comp_name!r} (components: {names})")

    def input_view(self, labels: Sequence[str]) -> InputView:
        """Write access to external-input slots (plan inputs), for manipulators."""
        return InputView(self.plan, self.views, labels)

    def get(self, label: str) -> float | int | bool | str:
        """The present value of "<component>.<variable>": from the stores when the plan gets
        it (recorded or a connection source) or drives it (external input), else straight
        from the FMU (get_values)."""
        if self._slot_of is None:
            self._slot_of = {
                label: (t, k)
                for t, labels in enumerate(self.plan.get_labels)
                for k, label in enumerate(labels)
            }
            self._slot_of.update(self._input_of)
        where = self._slot_of.get(label)
        if where is not None and self.initialized:
            t, slot = where
            return store_value(ValueType(t), self.views[t][slot])
        i, var = self._variable(label)
        if not self.initialized:
            raise SimulationError(f"get({label!r}): initialize() must be called first")
        vtype = value_type(self.system.components[i], var)
        value = self.slaves[i].get_values(vtype, [var.value_reference], var.size)[var.element]
        return value if vtype is ValueType.STR else store_value(vtype, value)

    def set(self, label: str, value: float | int | bool | str) -> None:
        """Set an input or tunable parameter "<component>.<variable>" for the next step: into
        its external-input slot when the plan has one, else with set_values before the next
        step (like a timed event). Before initialize() any parameter can be set (as a start
        value)."""
        i, var = self._variable(label)
        if var.array:
            raise ConfigError(
                Problem(
                    None,
                    f"cannot set {label}: it is an element of the array {var.array}; set "
                    "arrays with parameters: (a list) or drive them from a connection",
                )
            )
        tunable = var.causality == "parameter" and var.variability == "tunable"
        early = not self.initialized and var.causality == "parameter"
        if var.causality != "input" and not tunable and not early:
            raise ConfigError(
                Problem(
                    None,
                    f"cannot set {label}: it is a {var.variability} {var.causality}; only "
                    "inputs and tunable parameters can change during a run",
                )
            )
        vtype = value_type(self.system.components[i], var)
        converted = python_value(vtype, value)
        where = self._input_of.get(label)
        if where is not None and self.initialized:
            self.views[where[0]][where[1]] = converted
            return
        self._pending.append((i, vtype, var.value_reference, converted))

    def _apply_pending(self, t: float) -> None:
        pending = list(self._pending)
        self._pending.clear()
        for i, vtype, vr, value in pending:
            slave = self.slaves[i]
            slave.time = t
            try:
                slave.set_values(vtype, [vr], [value])
            except FmuError:
                slave.failed = True
                raise

    # ------------------------------------------------------------------ whole-system state
    def get_state(self) -> SystemState:
        """Every instance's FMU state, a copy of every store and the loop position.

        SimulationError when a component's FMU cannot get and set its state
        (canGetAndSetFMUstate is false). Free it with free_state() (close() frees the rest).
        """
        if not self.initialized or self._closed:
            raise SimulationError("get_state(): the execution is not initialized or closed")
        unable = [
            f"{c.name} ({c.fmu_path.name})"
            for c in self.system.components
            if can_get_and_set_state(c) is False
        ]
        if unable:
            raise SimulationError(
                f"cannot take the system state: {', '.join(unable)} cannot get and set its FMU "
                "state (canGetAndSetFMUstate is false in the model description)"
            )
        fmu_states = self._fmu_states(lambda slave, _: slave.get_state(), self.slaves)
        state = SystemState(
            owner=id(self),
            fmu_states=fmu_states,
            stores=[v.copy() for v in self._saved_views()],
            step_count=self.step_count,
            tick=self.tick,
            next_event=self._next_event,
            stop_requested=self._stop_requested,
            stop_reason=self.stop_reason,
            fmu_ended=self._fmu_ended,
            discard_end=self._discard_end,
        )
        self._states.append(state)
        return state

    def set_state(self, state: SystemState) -> None:
        """Put the whole system back to `state` (taken by this execution, not freed)."""
        if state.owner != id(self) or state not in self._states:
            raise SimulationError("set_state(): the state was freed or taken by another run")
        if self._closed:
            raise SimulationError("set_state(): the execution is closed")
        if self._running:
            raise SimulationError("set_state(): call it between steps, not from a hook")
        t = state.tick / TICKS_PER_SECOND
        for slave, fmu_state in zip(self.slaves, state.fmu_states, strict=True):
            slave.set_state(fmu_state)
            slave.time = t
        for view, saved in zip(self._saved_views(), state.stores, strict=True):
            np.copyto(view, saved)
        self.step_count, self.tick = state.step_count, state.tick
        self._next_event = state.next_event
        self._t_cell.value = t
        self._stop_requested, self.stop_reason = state.stop_requested, state.stop_reason
        self._fmu_ended, self._discard_end = state.fmu_ended, state.discard_end
        self._pending.clear()
        self.stats.steps = self.step_count
        self.stats.simulated_time = (self.tick - self.plan.start_tick) / TICKS_PER_SECOND

    def _saved_views(self) -> list[np.ndarray]:
        """What a system state copies besides the FMU states: every store and the input
        extrapolation history."""
        return [*self.views, self._history]

    def free_state(self, state: SystemState) -> None:
        """Release the FMU states of `state` (idempotent)."""
        self._free_state(state)

    def _free_state(self, state: SystemState, skip: Callable[[Slave], bool] | None = None) -> None:
        if state.freed or state.owner != id(self):
            return
        state.freed = True
        if state in self._states:
            self._states.remove(state)
        errors: list[BaseException] = []
        for slave, fmu_state in zip(self.slaves, state.fmu_states, strict=True):
            if skip is not None and skip(slave):
                continue
            try:
                slave.free_state(fmu_state)
            except Exception as exc:
                errors.append(exc)
        state.fmu_states = []
        if errors:
            raise errors[0]

    def _fmu_states(self, take: Callable[[Slave, Any], Any], items: Sequence[Any]) -> list[Any]:
        """take(slave, item) for every instance; the states taken are freed if one fails."""
        fmu_states: list[Any] = []
        try:
            for slave, item in zip(self.slaves, items, strict=True):
                fmu_states.append(take(slave, item))
        except FmuError:
            for slave, s in zip(self.slaves, fmu_states, strict=False):
                with contextlib.suppress(FmuError):
                    slave.free_state(s)
            raise
        return fmu_states

    def export_state(self, state: SystemState) -> PortableState:
        """`state` as plain bytes and arrays (canSerializeFMUstate), for another Execution of
        the same system to import: a forecast forks the live run without touching it."""
        if state.freed or state.owner != id(self):
            raise SimulationError("export_state(): the state was freed or taken by another run")
        fmu_bytes = [
            slave.serialize_state(s) for slave, s in zip(self.slaves, state.fmu_states, strict=True)
        ]
        return PortableState(
            fmu_bytes=fmu_bytes,
            stores=[v.copy() for v in state.stores],
            step_count=state.step_count,
            tick=state.tick,
            next_event=state.next_event,
        )

    def import_state(self, portable: PortableState) -> SystemState:
        """A state of this execution from another's export_state() (same system); free it
        with free_state() after set_state()."""
        if not self.initialized or self._closed:
            raise SimulationError("import_state(): the execution is not initialized or closed")
        if len(portable.fmu_bytes) != len(self.slaves) or len(portable.stores) != len(
            self._saved_views()
        ):
            raise SimulationError("import_state(): the state is of another system")
        fmu_states = self._fmu_states(
            lambda slave, data: slave.deserialize_state(data), portable.fmu_bytes
        )
        state = SystemState(
            owner=id(self),
            fmu_states=fmu_states,
            stores=[v.copy() for v in portable.stores],
            step_count=portable.step_count,
            tick=portable.tick,
            next_event=portable.next_event,
            stop_requested=False,
            stop_reason="",
            fmu_ended="",
            discard_end=False,
        )
        self._states.append(state)
        return state

    # ------------------------------------------------------------------ events
    def _apply_events(self, tick: int) -> None:
        p = self.plan
        t = tick / TICKS_PER_SECOND
        k = self._next_event
        while k < len(p.ev_tick) and p.ev_tick[k] <= tick:
            i = int(p.ev_instance[k])
            vtype = ValueType(int(p.ev_vtype[k]))
            written = p.ev_values[k]
            if vtype is ValueType.STR or (isinstance(written, int) and vtype in INTEGER):
                number = written  # strings, and integers exact beyond 2**53 (Int64, UInt64)
            else:
                number = float(p.ev_value[k])
            slave = self.slaves[i]
            slave.time = t
            try:
                slave.set_values(vtype, [int(p.ev_vr[k])], [python_value(vtype, number)])
            except FmuError:
                slave.failed = True
                raise
            k += 1
        self._next_event = k

    # ------------------------------------------------------------------ the loop
    def step(self) -> None:
        """Advance one communication step (an error-controlled one under step_control)."""
        if self._controller is not None:
            self._controller.step()
            self._update_stats()
            return
        self._run(1)

    def run_until(self, tick: int | None = None) -> bool:
        """Step while the current tick is before `tick` (default: the stop tick).

        Returns True when `tick` was reached, False when a stop was requested first.
        """
        p = self.plan
        if tick is None:
            tick = p.stop_tick
        if self._controller is not None:
            wall0 = _time.perf_counter()
            try:
                return self._controller.run_until(tick)
            finally:
                self.stats.wall_time += _time.perf_counter() - wall0
                self._update_stats()
                if self.stats.status != "failed":
                    done = self.tick >= p.stop_tick and not self._discard_end
                    self.stats.status = "completed" if done else "stopped"
        n_end = -(-(tick - p.start_tick) // p.step_ticks)
        if n_end > self.step_count:
            try:
                self._run(n_end - self.step_count)
            finally:
                self._raise_overrun()
        return self.step_count >= n_end

    def _raise_overrun(self) -> None:
        """The FmuError of an FMI call that overran its timeout (it returned after all)."""
        error = self.watchdog.overrun
        if error is not None:
            self.watchdog.overrun = None
            self.stats.status = "failed"
            names = self.watchdog.names
            i = names.index(error.instance) if error.instance in names else -1
            if 0 <= i < len(self.slaves):
                error.log = list(self.slaves[i].log)
            raise error

    def _cut_steps(self, n: int, tick: int) -> None:
        """Shorten the steps of instances stepping at n whose step would pass the stop time."""
        p = self.plan
        tps = TICKS_PER_SECOND
        for i, d in enumerate(p.decimation.tolist()):
            if n % d == 0:
                full = round(self._h_cells[i].value * tps)
                if tick + full > p.stop_tick:
                    self._h_cells[i].value = (p.stop_tick - tick) / tps
                    self._cut = True

    def _restore_steps(self) -> None:
        if self._cut:
            p = self.plan
            for cell, d in zip(self._h_cells, p.decimation.tolist(), strict=True):
                cell.value = d * p.step_ticks / TICKS_PER_SECOND
            self._cut = False

    # ------------------------------------------------------------------ step control hooks
    @property
    def fmu_ended(self) -> bool:
        return bool(self._fmu_ended)

    def next_event_tick(self) -> int | None:
        """The tick of the next timed event not yet applied (None: none left)."""
        k = self._next_event
        return int(self.plan.ev_tick[k]) if k < len(self.plan.ev_tick) else None

    def notify_before_step(self) -> None:
        """Manipulators' before_step, then pending set() values and the events due now: what
        a step does before its phase, done once for a step that is tried several times."""
        n, tick = self.step_count, self.tick
        self._running = True
        try:
            for m in self.manipulators:
                m.before_step(n, tick)
        finally:
            self._running = False
        t = tick / TICKS_PER_SECOND
        if self._pending:
            self._apply_pending(t)
        next_event = self.next_event_tick()
        if next_event is not None and next_event <= tick:
            self._apply_events(tick)

    def quiet_step(self, h_ticks: int) -> None:
        """One communication step of `h_ticks` without hooks or pacing (a trial step)."""
        self._run(1, h_ticks, quiet=True)

    def notify_step_complete(self) -> None:
        """Observers' step_complete for the step just accepted."""
        self._running = True
        try:
            for obs in self.observers:
                obs.step_complete(self.step_count, self.tick)
        finally:
            self._running = False
        if self.pacer is not None:
            self.pacer.wait()

    def _run(self, count: int, h_ticks: int | None = None, quiet: bool = False) -> None:
        if not self.slaves or not self._stages:
            raise SimulationError("initialize() must be called before stepping")
        if self._fmu_ended:  # FMI: after terminateSimulation / Discard+terminated, no doStep
            return
        p = self.plan
        self.stats.status = "running"
        t_cell = self._t_cell
        phases, timed_phases = self._phases, self._timed_phases
        period = len(phases) if phases is not None else 0
        observers = () if quiet else tuple(self.observers)
        manipulators = () if quiet else tuple(self.manipulators)
        pending = self._pending  # Execution.set values, mutated in place
        pacer = None if quiet else self.pacer
        if pacer is not None and not self._pacer_started:
            pacer.start()
            self._pacer_started = True
        status_of, step_status_of = self._status, self._step_status
        # FMI 3.0 instances may ask to end the simulation through fmi3DoStep's out-argument
        end_flags = [
            (s.name, s.terminate_simulation)
            for s in self.slaves
            if getattr(s, "terminate_simulation", None) is not None
        ]
        step_ticks, tps = p.step_ticks, TICKS_PER_SECOND
        if h_ticks is not None:  # one communication step of this size (step control)
            step_ticks = h_ticks
            self._cut = True
            for cell in self._h_cells:
                cell.value = h_ticks / tps
        stop_tick = p.stop_tick
        # the steps whose end passes the stop: the last one is shorter (stop off the grid)
        cut_from = (
            stop_tick - max(int(d) for d in p.decimation) * step_ticks if p.n_instances else 0
        )
        ev_tick = p.ev_tick.tolist() + [None]
        next_ev = ev_tick[self._next_event]
        native = self._native.run if self._native is not None else None  # reads the h cells
        native_timed = self._native.run_timed if self._native is not None else None
        chunking = self._chunking(observers, manipulators, pacer, quiet, h_ticks)
        n = self.step_count
        tick = self.tick
        left = count
        resume: tuple | None = None  # the rest of a step's phase the kernel handed back
        self._running = True
        wall0 = _time.perf_counter()
        try:
            while left > 0:
                t = tick / tps
                if (
                    chunking is not None
                    and resume is None
                    and n >= self._one_by_one_until
                    and not (pending and chunking[2])
                ):
                    k = self._chunk_length(left, n, tick, next_ev, cut_from, step_ticks)
                    if k > 0:  # steps n .. n + k - 1 in C: one call
                        if pending:  # set() values at the start of step n, as below
                            self._apply_pending(t)
                        status, n2, tick = self._steps(n, tick, k, chunking)
                        ran = n2 - n
                        left -= ran
                        n = n2
                        if status:  # step n stopped inside its phase: finish it below
                            t = tick / tps
                            resume = self._native_rest(phases[n % period], status, t)
                            if not ran:  # e.g. a Warning at every step: a while one by one
                                self._one_by_one_until = n + ONE_BY_ONE
                        elif self._stop_requested:
                            break
                        elif ran:
                            continue
                        # else: no step ran (an input off its grid, a full block): one below
                if resume is not None:
                    phase, resume = resume, None
                else:
                    if cut_from < tick < stop_tick:
                        self._cut_steps(n, tick)
                    for m in manipulators:
                        m.before_step(n, tick)
                    if pending:
                        self._apply_pending(t)
                    if next_ev is not None and next_ev <= tick:
                        self._apply_events(tick)
                        next_ev = ev_tick[self._next_event]
                    t_cell.value = t
                    if native is not None:  # the phase, in C (doSteps timed on sampled steps)
                        status = (native(n % period) if n % TIMING_SAMPLE
                                  else native_timed(n % period))  # type: ignore[misc]  # fmt: skip
                        phase = (
                            () if not status else self._native_rest(phases[n % period], status, t)
                        )
                    elif phases is None:
                        phase = self._phase(n, n % TIMING_SAMPLE == 0)
                    elif n % TIMING_SAMPLE:
                        phase = phases[n % period]
                    else:
                        phase = timed_phases[n % period]  # type: ignore[index]
                # the one loop body: any algorithm, any phase
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
                            status_of(i, call, status, t)
                    status = step()
                    if status:
                        step_status_of(i, status, t)
                    for call in gets:
                        status = call()
                        if status:
                            status_of(i, call, status, t)
                n += 1
                left -= 1
                self.step_count = n
                tick = stop_tick if tick < stop_tick < tick + step_ticks else tick + step_ticks
                self.tick = tick
                for obs in observers:
                    obs.step_complete(n, tick)
                if pacer is not None:
                    pacer.wait()
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
            self._running = False
            self._restore_steps()
            self.stats.wall_time += _time.perf_counter() - wall0
            self.stats.steps = self.step_count
            self.stats.simulated_time = (self.tick - p.start_tick) / TICKS_PER_SECOND
            self._update_stats()
        if self.stats.status == "running":
            done = self.step_count >= p.n_steps and not self._discard_end
            self.stats.status = "completed" if done else "stopped"

    # ------------------------------------------------------------------ the compiled loop
    def _chunking(
        self,
        observers: Sequence[Any],
        manipulators: Sequence[Any],
        pacer: Any,
        quiet: bool,
        h_ticks: int | None,
    ) -> tuple[list[Any], list[Any], list[Any]] | None:
        """(recorders, other observers, manipulators) when the kernel may run many steps per
        call (cosim.engine.hooks: every hook takes part in chunks), else None: step by step."""
        if self._native is None or quiet or pacer is not None or h_ticks is not None:
            return None
        if self.plan.stop_tick >= 2**53:  # tick / 1e9 in C is Python's only for exact ticks
            return None
        recorders = [o for o in observers if hasattr(o, "kernel_rows")]
        others = [o for o in observers if not hasattr(o, "kernel_rows")]
        if any(getattr(o, "every_step", True) for o in others):
            return None
        if not all(hasattr(m, "kernel_inputs") for m in manipulators):
            return None
        if self._native_bound is False:
            self._end_flags = [
                (s.name, s.terminate_simulation)
                for s in self.slaves
                if getattr(s, "terminate_simulation", None) is not None
            ]
            flags = [flag for _, flag in self._end_flags]
            p = self.plan
            self._native.bind_run(
                self._t_cell, p.step_ticks, TICKS_PER_SECOND, TIMING_SAMPLE, flags
            )
            self._native_bound = True
        return recorders, others, list(manipulators)

    def _chunk_length(
        self, left: int, n: int, tick: int, next_ev: int | None, cut_from: int, step_ticks: int
    ) -> int:
        """How many steps from step n the kernel may run: within `left` and the adaptive chunk
        size, every one starting before the next event and at or before the shortened steps."""
        k = min(left, self._chunk_size, (cut_from - tick) // step_ticks + 1)
        if next_ev is not None:
            k = min(k, -(-(next_ev - tick) // step_ticks))
        return k

    def _steps(self, n: int, tick: int, k: int, chunking: tuple) -> tuple[int, int, int]:
        """Steps n .. n + k - 1 in the kernel, then the hooks' part of them; returns (status,
        step count, tick) where it stopped (status: a call that is not OK in that step)."""
        recorders, others, manipulators = chunking
        feeds = []
        for m in manipulators:
            block = m.kernel_inputs(n, tick)
            if block is None:  # off its grid: this step goes step by step
                return 0, n, tick
            first, pairs = block
            k = min(k, first + min((len(v) for _, _, v in pairs), default=k) - n)
            feeds.append(block)
        recs = [r.kernel_rows() for r in recorders]
        self._chunk_recorders = recorders
        self._native.stop.value = 1 if self._stop_requested else 0
        w0 = _time.perf_counter()
        status, n2, tick2 = self._native.steps(n, tick, n + k, recs, feeds)
        took = _time.perf_counter() - w0
        self.stats.kernel_calls += 1
        self.stats.kernel_steps += n2 - n
        if n2 > n:  # next: ~CHUNK_SECONDS per call at this call's rate (at most x64 more)
            target = CHUNK_SECONDS * (n2 - n) / max(took, 1e-9)
            self._chunk_size = max(1, min(int(target), 64 * self._chunk_size, MAX_CHUNK))
        self.step_count, self.tick = n2, tick2
        for rec, (rows, last) in zip(recorders, self._native.rows, strict=True):
            rec.rows_taken(rows, last)
        if n2 > n:
            for obs in others:
                obs.step_complete(n2, tick2)
        for name, flag in self._end_flags:
            if flag.value:
                self._end_by_fmu(f"{name} asked to terminate the simulation")
        return status, n2, tick2

    def _native_rest(self, phase: tuple, status: int, t: float) -> tuple:
        """The kernel stopped inside `phase` (a call that did not return OK, or a converted
        value that does not fit): handle that call as the Python loop does, finish its stage,
        and return the phase's remaining stages for the loop body to run."""
        from cosim.engine.native import WHERE_CONN

        k, j = (int(x) for x in self._native.where)
        if j == WHERE_CONN:  # nothing of stage k ran but its transfers: run it all in Python
            return phase[k:]
        copies, linear, converted, sets, step, gets, i = phase[k]
        first = int(self._native.stages[self._native.stage_index[id(phase[k])], 2])
        position = j - first  # 0 .. len(sets) - 1: a set; len(sets): the step; then gets
        if position < len(sets):
            self._status(i, sets[position], status, t)
            self._checked(i, sets[position + 1 :], t)
            position = len(sets)
            status = step()
            if status:
                self._step_status(i, status, t)
            self._checked(i, gets, t)
        elif position == len(sets):
            self._step_status(i, status, t)
            self._checked(i, gets, t)
        else:
            g = position - len(sets) - 1
            self._status(i, gets[g], status, t)
            self._checked(i, gets[g + 1 :], t)
        return phase[k + 1 :]

    def _update_stats(self) -> None:
        names = self.plan.instance_names
        st = self.stats
        sampled, calls = self._step_sampled, self._step_sampled_calls
        if self._native is not None:  # the kernel's samples (chunks) join the Python loop's
            sampled = [a + float(b) for a, b in zip(sampled, self._native.sampled, strict=True)]
            calls = [a + int(b) for a, b in zip(calls, self._native.sampled_calls, strict=True)]
        st.do_step_sampled = dict(zip(names, sampled, strict=True))
        st.do_step_sampled_calls = dict(zip(names, calls, strict=True))
        # instance i stepped at every n < step_count with n % decimation == 0
        n = self.step_count
        calls = [(n + int(d) - 1) // int(d) for d in self.plan.decimation]
        st.do_step_calls = dict(zip(names, calls, strict=True))
        st.fmu_warning_returns = {
            name: k for name, k in zip(names, self._warning_returns, strict=True) if k
        }
        st.fmu_warnings = {s.name: s.warning_count for s in self.slaves if s.warning_count}
        st.fmu_warning_lines = {s.name: s.warnings for s in self.slaves if s.warning_count}
        for solver in self._loops:
            st.loops[solver.name] = solver.statistics()
            st.datasets[f"loops/{solver.name}/iterations"] = solver.iterations
        if self._controller is not None:
            st.step_control = self._controller.statistics()
            st.datasets["step_sizes"] = self._controller.steps


__all__ = [
    "Execution",
    "Manipulator",
    "Observer",
    "RunStatistics",
    "SlaveFactory",
    "SystemState",
    "TIMING_SAMPLE",
]
