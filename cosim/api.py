"""The public Python API: System and its runs, the one run recipe that every caller uses.

    import cosim
    sys = cosim.load("systems/dual_mass_oscillator.yaml")   # or System.from_dict / from_fmu
    res = sys.simulate(stop=10.0, parameters={"mass1.m1": 2.0})
    with sys.execution(out="run/") as ex:                     # the same recipe, step by step
        ex.initialize(); ex.step(); ex.run_until(3.0)

A `System` is immutable: `with_parameters`, `with_stop` and `simulate(parameters=...)` return or
use a new System, so one System backs many runs. Its FMUs are unpacked once per System family
(a System and every System derived from it share one unpacked copy, removed when the last of them
is gone), not once per run.

A `Simulation` (what `System.execution()` returns) is the one run recipe: it creates the
recorders (results.h5 and/or in memory), the engine's Execution with the caller's observers,
manipulators and pacer, and on close (a `with` block, always) it frees every FMU, decides the
final status (completed | stopped | interrupted | failed) and closes every recorder with it, so
results recorded before a failure or Ctrl-C stay readable and carry a final status.
`cosim run`, `cosim test`, the live twin, the plant simulator and the benches all run through it.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosim.errors import ConfigError, Location, Problem
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem, SystemSpec, Value

if TYPE_CHECKING:
    from cosim.engine.execution import Execution, RunStatistics
    from cosim.engine.plan import Plan
    from cosim.results.memory import Results

RESULTS_FILE = "results.h5"
STATUSES = ("completed", "stopped", "interrupted", "failed")


# --------------------------------------------------------------------------- loading
def load(path: str | os.PathLike[str], *, parameters: Mapping[str, Value] | None = None) -> System:
    """Read, check and resolve a system YAML file (ConfigError lists every problem found)."""
    return System.from_file(path, parameters=parameters)


def simulate(
    path: str | os.PathLike[str],
    *,
    stop: float | None = None,
    parameters: Mapping[str, Value] | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Results:
    """Load a system file (or an FMU) and run it to its stop time; returns the Results."""
    p = Path(path)
    system = System.from_fmu(p) if p.suffix.lower() == ".fmu" else System.from_file(p)
    return system.simulate(stop=stop, parameters=parameters, out=out, overwrite=overwrite)


class _Unpacked:
    """The unpacked FMUs shared by a System and every System derived from it."""

    def __init__(self) -> None:
        from cosim.fmu.factory import NativeSlaves

        self.factory = NativeSlaves()
        weakref.finalize(self, self.factory.close)


class _SharedSlaves:
    """A slave factory for one run that reuses the System's unpacked FMUs (never deletes them)."""

    def __init__(self, unpacked: _Unpacked) -> None:
        self._unpacked = unpacked  # keeps the folders alive while the run lasts

    def __call__(self, component: Any) -> Any:
        return self._unpacked.factory(component)


class System:
    """A resolved, immutable system. Build it with load, from_file, from_dict or from_fmu."""

    def __init__(self, spec: SystemSpec, resolved: ResolvedSystem, *, _unpacked: Any = None):
        self._spec = spec
        self._resolved = resolved
        self._unpacked = _unpacked if _unpacked is not None else _Unpacked()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_spec(cls, spec: SystemSpec) -> System:
        """Resolve a SystemSpec against its FMUs (ConfigError lists every problem found)."""
        from cosim.resolve.resolver import resolve_system

        return cls(spec, resolve_system(spec))

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        overrides: Sequence[str] = (),
        stop: float | None = None,
        parameters: Mapping[str, Value] | None = None,
        step: float | None = None,
    ) -> System:
        """Read a system file (YAML, or SSP: .ssp/.ssd); `overrides` are `--set` texts
        ("mass1.m1=2.0"), `step` replaces the communication step (`cosim run --step`).

        ConfigError holds the complete list of problems `cosim validate` prints (errors and
        warnings); on success the warnings are in `System.warnings`.
        """
        from cosim.resolve.resolver import load as resolve_file

        system = cls._of(resolve_file(path, overrides, stop, step=step))
        return system.with_parameters(parameters) if parameters else system

    @classmethod
    def _of(cls, resolved: ResolvedSystem) -> System:
        return cls(resolved.spec, resolved)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        base_dir: str | os.PathLike[str] | None = None,
        overrides: Sequence[str] = (),
    ) -> System:
        """A system from the same keys as the YAML format; relative paths from `base_dir`."""
        import yaml

        from cosim.resolve.resolver import load as resolve_file

        folder = Path(base_dir) if base_dir is not None else Path.cwd()
        name = str(data.get("name", "system")) if isinstance(data, Mapping) else "system"
        from cosim.io.yaml import Generated

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: faster
        text = yaml.dump(_plain(data), Dumper=dumper, sort_keys=False, allow_unicode=True)
        text = Generated(text)  # parsed with libyaml too (cosim.io.yaml.Generated)
        return cls._of(resolve_file(folder / f"<{name}>.yaml", overrides, text=text))

    @classmethod
    def from_fmu(
        cls,
        path: str | os.PathLike[str],
        *,
        stop: float | None = None,
        step: float | None = None,
        start: float | None = None,
        overrides: Sequence[str] = (),
        inputs: str | os.PathLike[str] | None = None,
    ) -> System:
        """One FMU as a system: its default experiment (as `fmpy simulate`), every output recorded.

        The component is named after the FMU file (`BouncingBall.fmu` -> `BouncingBall`); without
        a default experiment the run is 0..1 s in 500 communication steps, as fmpy does.
        `overrides` are `--set` texts, with or without the component name ("k=2" or "Gain.k=2").
        `inputs`: a table (CSV or HDF5) whose columns are named after the FMU's inputs (the
        FMI cross-check `_in.csv` convention); outside its time span the first and last rows
        hold, as fmpy does.
        """
        from cosim.fmu.archive import read_model_description

        fmu = Path(path).resolve()
        try:
            md = read_model_description(fmu)
        except ConfigError:
            raise
        except Exception as exc:  # not a zip, no modelDescription.xml, bad XML ...
            raise ConfigError(Problem(Location(str(path)), f"cannot read the FMU: {exc}")) from None
        de = getattr(md, "defaultExperiment", None)
        t0 = start if start is not None else _float(getattr(de, "startTime", None), 0.0)
        t1 = stop if stop is not None else _float(getattr(de, "stopTime", None), t0 + 1.0)
        h = step if step is not None else _float(getattr(de, "stepSize", None), 0.0)
        if not h > 0:
            h = (t1 - t0) / 500 if t1 > t0 else 1e-3
        if t1 > t0 and step is None and not _is_multiple(t1 - t0, h):
            h = (t1 - t0) / max(1, round((t1 - t0) / h))  # the nearest step that fits the span
        name = _component_name(fmu.stem)
        data = {
            "name": fmu.stem,
            "description": f"the FMU {fmu.name} run on its own",
            "simulation": {"start": t0, "stop": t1, "step": h},
            "components": {name: {"fmu": str(fmu)}},
        }
        if inputs is not None:
            table = Path(inputs).resolve()
            data["inputs"] = [{"file": str(table), "component": name, "outside": "hold"}]
        prefixed = [o if o.startswith(f"{name}.") else f"{name}.{o}" for o in overrides]
        return cls.from_dict(data, base_dir=fmu.parent, overrides=prefixed)

    # ------------------------------------------------------------------ what it is
    @property
    def spec(self) -> SystemSpec:
        """The system as written (format-neutral)."""
        return self._spec

    @property
    def resolved(self) -> ResolvedSystem:
        """The system resolved against its FMUs (value references, units, order)."""
        return self._resolved

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def start(self) -> float:
        return self._resolved.start_tick / TICKS_PER_SECOND

    @property
    def stop(self) -> float:
        return self._resolved.stop_tick / TICKS_PER_SECOND

    @property
    def step(self) -> float:
        """The communication step in seconds."""
        return self._resolved.step_ticks / TICKS_PER_SECOND

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(c.name for c in self._resolved.components)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Every warning found while reading and resolving (events moved to the grid, ...)."""
        seen: dict[str, Problem] = {}
        for p in (*self._spec.warnings, *self._resolved.warnings):
            seen.setdefault(str(p), p)
        return tuple(seen.values())

    def variables(self, component: str) -> dict[str, Any]:
        """The variables of one component: name -> VariableInfo (causality, unit, start ...)."""
        for c in self._resolved.components:
            if c.name == component:
                return dict(c.variables)
        raise KeyError(component)

    def __repr__(self) -> str:
        return (
            f"System({self.name!r}, components={list(self.components)}, "
            f"start={self.start:g}, stop={self.stop:g}, step={self.step:g})"
        )

    # ------------------------------------------------------------------ new systems
    def _derived(self, spec: SystemSpec) -> System:
        from cosim.resolve.resolver import resolve_system

        return System(spec, resolve_system(spec), _unpacked=self._unpacked)

    def with_parameters(self, parameters: Mapping[str, Value]) -> System:
        """A new System with parameters/start values replaced: {"mass1.m1": 2.0, ...}."""
        if not parameters:
            return self
        return self._derived(_with_parameters(self._spec, parameters))

    def with_stop(self, stop: float) -> System:
        """A new System that stops at `stop` seconds (checked on the step grid)."""
        from cosim.io.yaml import with_stop

        return self._derived(with_stop(self._spec, stop))

    # ------------------------------------------------------------------ runs
    def execution(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        memory: bool = True,
        overwrite: bool = False,
        **options: Any,
    ) -> Simulation:
        """A step-by-step run (use it in a `with` block). `out`: a folder for results.h5, or a
        path ending in .h5; `memory`: keep Results in memory. See Simulation for `options`."""
        results = results_path(out, overwrite) if out is not None else None
        return Simulation(self, results=results, memory=memory, **options)

    def simulate(
        self,
        stop: float | None = None,
        *,
        parameters: Mapping[str, Value] | None = None,
        out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        **options: Any,
    ) -> Results:
        """Run to the stop time; returns Results in memory (also written to `out` if given).

        A failing FMU raises FmuError after the results so far are closed (status "failed").
        """
        system = self.with_parameters(parameters or {})
        if stop is not None:
            system = system.with_stop(stop)
        with system.execution(out, overwrite=overwrite, **options) as ex:
            ex.initialize()
            ex.run_until()
        return ex.results


def results_path(out: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Where a run's results.h5 goes: `out` itself if it ends in .h5, else out/results.h5.

    An existing results file is never overwritten silently: ConfigError unless `overwrite`.
    """
    path = Path(out)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        path = path / RESULTS_FILE
    if path.exists() and not overwrite:
        raise ConfigError(
            Problem(
                None,
                f"{path} already exists; refusing to overwrite earlier results",
                "choose another folder, or pass --force (overwrite=True) to replace them",
            )
        )
    return path


# --------------------------------------------------------------------------- the run recipe
def plan_for(system: ResolvedSystem, inputs: Sequence[str] = ()) -> Plan:
    """The engine's flat plan of `system`, with input slots for the labels an external writer
    (a manipulator, `Simulation.set`) drives; ConfigError names an unknown label."""
    from cosim.engine.plan import build_plan

    if not inputs:
        return build_plan(system)
    comps = {c.name: c for c in system.components}
    problems, external = [], []
    for label in inputs:
        name, _, variable = label.partition(".")
        comp = comps.get(name)
        var = comp.variables.get(variable) if comp is not None else None
        if var is None:
            problems.append(Problem(None, f"{label}: no such variable to drive in this system"))
            continue
        external.append((comp.index, var))
    if problems:
        raise ConfigError(problems)
    return build_plan(system, inputs=external)


class Simulation:
    """One run of a System: recorders + Execution, with one life cycle and one final status.

    Call order: ``with system.execution(...) as sim:`` -> ``sim.initialize()`` ->
    ``sim.step()`` / ``sim.run_until(t)`` (repeated; ``sim.get``/``sim.set``/``get_state``/
    ``set_state`` between steps) -> the end of the `with` block closes everything.

    Options: `observers` (read only; simulation_initialized(execution), step_complete(step,
    tick)), `manipulators` (write through the plan's slots), `pacer` (a realtime.Pacer: the
    loop keeps pace with the wall clock), `inputs` (labels an external writer drives, given
    input slots in the plan), `attrs` (extra results.h5 attributes), `logging_on` (every FMU
    log category), `plan` (a prebuilt plan of this system), `engine` ("native": the compiled
    step kernel where the plan allows, the default; "python": the Python loop).
    """

    def __init__(
        self,
        system: System | ResolvedSystem,
        *,
        results: str | os.PathLike[str] | None = None,
        memory: bool = True,
        observers: Iterable[Any] = (),
        manipulators: Iterable[Any] = (),
        pacer: Any = None,
        inputs: Sequence[str] = (),
        attrs: Mapping[str, Any] | None = None,
        logging_on: bool = False,
        plan: Plan | None = None,
        slave_factory: Callable[[Any], Any] | None = None,
        engine: str | None = None,
    ) -> None:
        if isinstance(system, System):
            self.system: ResolvedSystem = system.resolved
            factory = slave_factory or _SharedSlaves(system._unpacked)
        else:
            self.system = system
            factory = slave_factory
        self.path = Path(results) if results is not None else None
        self._memory = memory
        self._observers = list(observers)
        self._manipulators = list(manipulators)
        self._pacer = pacer
        self._inputs = tuple(inputs)
        self._tables: Any = None
        if self.system.inputs:  # the inputs: tables drive their inputs through plan slots
            from cosim.engine.inputs import TableInputs

            self._tables = TableInputs(self.system.inputs)
            self._manipulators.insert(0, self._tables)
            self._inputs += tuple(x for x in self._tables.labels if x not in self._inputs)
        self._attrs = dict(attrs or {})
        self._logging_on = logging_on
        self._plan = plan
        self._factory = factory
        self._engine = engine
        self._writer: Any = None
        self._recorder: Any = None
        self._ex: Execution | None = None
        self._interrupted = False
        self._stop_reason = ""  # a stop requested before the Execution exists
        self._closed = False
        self.status = "created"
        self.error: BaseException | None = None
        self._results: Results | None = None

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> Simulation:
        self.open()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.close(exc)

    def open(self) -> Simulation:
        """Create the recorders and the Execution (no FMU is touched yet)."""
        if self._ex is not None:
            return self
        from cosim.engine.execution import Execution

        plan = self._plan or plan_for(self.system, self._inputs)
        self._plan = plan
        observers: list[Any] = []
        try:
            if self.path is not None:
                from cosim.results.writer import ResultsWriter

                try:
                    self._writer = ResultsWriter(self.path, self.system, plan, attrs=self._attrs)
                except OSError as exc:
                    raise ConfigError(
                        Problem(Location(str(self.path)), f"cannot write results: {exc}")
                    ) from None
                observers.append(self._writer)
            if self._memory:
                from cosim.results.memory import MemoryRecorder

                self._recorder = MemoryRecorder(self.system, plan)
                observers.append(self._recorder)
            observers += self._observers
            kwargs: dict[str, Any] = {"observers": observers, "plan": plan}
            if self._manipulators:
                kwargs["manipulators"] = self._manipulators
            if self._pacer is not None:
                kwargs["pacer"] = self._pacer
            if self._factory is not None:
                kwargs["slave_factory"] = self._factory
            if self._logging_on:
                kwargs["logging_on"] = True
            if self._engine is not None:
                kwargs["engine"] = self._engine
            self._ex = Execution(self.system, **kwargs)
            if self._tables is not None:  # initialization sees the tables' values at start
                for label, value in self._tables.start_values(self.system.start_tick).items():
                    self._ex.set(label, value)
            if self._stop_reason:
                self._ex.request_stop(self._stop_reason)
        except BaseException as exc:
            self.close(exc)
            raise
        return self

    @property
    def execution(self) -> Execution:
        """The engine's Execution of this run (opened on first use)."""
        if self._ex is None:
            self.open()
        assert self._ex is not None
        return self._ex

    @property
    def plan(self) -> Plan:
        self.open()
        assert self._plan is not None
        return self._plan

    def initialize(self) -> None:
        """Instantiate every FMU, apply start values and leave initialization mode."""
        self._guard(self.execution.initialize)

    def step(self, count: int = 1) -> None:
        """Advance `count` communication steps."""
        ex = self.execution
        for _ in range(count):
            self._guard(ex.step)
            if ex.stop_requested:
                break

    def run_until(self, t: float | None = None) -> bool:
        """Step until time `t` seconds (default: the stop time); False if stopped earlier."""
        ex = self.execution
        tick = None if t is None else _ticks(t, "run_until")
        return bool(self._guard(lambda: ex.run_until(tick)))

    def request_stop(self, reason: str = "stop requested", *, interrupted: bool = False) -> None:
        """End the run at the end of the current communication step (safe from a signal
        handler); `interrupted` makes the final status "interrupted" (Ctrl-C, SIGTERM)."""
        self._interrupted = self._interrupted or interrupted
        self._stop_reason = self._stop_reason or reason
        if self._ex is not None:
            self._ex.request_stop(reason)

    def _guard(self, call: Callable[[], Any]) -> Any:
        if self._closed:
            raise ConfigError(Problem(None, "this run is closed; start a new one"))
        return call()

    def close(self, error: BaseException | None = None) -> str:
        """Free every FMU, then close every recorder with the final status; returns it."""
        if self._closed:
            return self.status
        self._closed = True
        ex = self._ex
        try:
            if ex is not None:
                try:
                    ex.close(suppress=error is not None)
                except BaseException as exc:  # freeing failed: that is the run's error now
                    error = error or exc
        finally:
            self.error = error
            self.status = self._final_status(error)
            stats = ex.stats if ex is not None else None
            failed: BaseException | None = None
            for recorder in (self._writer, self._recorder):  # every one, even if one fails
                if recorder is not None:
                    try:
                        recorder.close(stats, self.status, error)
                    except Exception as exc:  # e.g. the disk filled up while closing
                        failed = failed or exc
            if self._recorder is not None:
                self._results = self._recorder.results()
        if failed is not None and error is None:
            raise failed
        return self.status

    def _final_status(self, error: BaseException | None) -> str:
        ex = self._ex
        if isinstance(error, KeyboardInterrupt):
            return "interrupted"
        if error is not None:
            return "failed"
        if ex is not None and ex.stats.status == "completed":
            return "completed"
        return "interrupted" if self._interrupted else "stopped"

    # ------------------------------------------------------------------ values
    @property
    def time(self) -> float:
        """The current simulation time in seconds."""
        return self.execution.time

    @property
    def stats(self) -> RunStatistics:
        """What the run cost so far (steps, wall time, doStep shares, FMU warnings)."""
        if self._ex is None:
            from cosim.engine.statistics import RunStatistics

            return RunStatistics(status=self.status)
        return self._ex.stats

    @property
    def stop_reason(self) -> str:
        return self._ex.stop_reason if self._ex is not None else self._stop_reason

    def get(self, label: str) -> Value:
        """The current value of "<component>.<variable>"."""
        return self._guard(lambda: self.execution.get(label))

    def set(self, label: str, value: Value) -> None:
        """Set an input or tunable parameter; it takes effect in the next communication step."""
        self._guard(lambda: self.execution.set(label, value))

    def get_state(self) -> Any:
        """The whole system's state (every FMU's state, the value stores and the time)."""
        return self._guard(self.execution.get_state)

    def set_state(self, state: Any) -> None:
        """Return the whole system to a state from get_state()."""
        self._guard(lambda: self.execution.set_state(state))

    def export_state(self, state: Any) -> Any:
        """A get_state() state as picklable bytes and arrays (a PortableState), to fork into
        another Simulation of the same system with import_state()."""
        return self._guard(lambda: self.execution.export_state(state))

    def import_state(self, portable: Any) -> Any:
        """A state of this run from another run's export_state(); then set_state() it."""
        return self._guard(lambda: self.execution.import_state(portable))

    def free_state(self, state: Any) -> None:
        """Release a state from get_state() or import_state()."""
        self._guard(lambda: self.execution.free_state(state))

    @property
    def results(self) -> Results:
        """The recorded Results in memory (complete once the run is closed)."""
        if self._results is not None:
            return self._results
        if self._recorder is None:
            raise ConfigError(Problem(None, "this run keeps no results in memory (memory=False)"))
        return self._recorder.results()


# --------------------------------------------------------------------------- helpers
def _with_parameters(spec: SystemSpec, parameters: Mapping[str, Value]) -> SystemSpec:
    """`spec` with typed parameter overrides {"component.variable": value}; ConfigError if bad."""
    from cosim.io.yaml import did_you_mean

    problems: list[Problem] = []
    components = dict(spec.components)
    for label, value in parameters.items():
        loc = Location(f"parameters[{label!r}]")
        name, dot, variable = str(label).partition(".")
        if not dot or not variable:
            problems.append(
                Problem(loc, f"{label!r} is not component.variable", 'e.g. {"mass1.m1": 2.0}')
            )
            continue
        if name not in components:
            close = did_you_mean(name, components)
            hint = f"did you mean {close!r}?" if close else f"components: {', '.join(components)}"
            problems.append(Problem(loc, f"no component {name!r} in system {spec.name!r}", hint))
            continue
        ok = isinstance(value, bool | int | float | str) and not (
            isinstance(value, float) and not math.isfinite(value)
        )
        if not ok:
            problems.append(
                Problem(
                    loc,
                    f"{label}: a parameter must be a finite number, bool or str, got "
                    f"{type(value).__name__} {value!r}",
                )  # fmt: skip
            )
            continue
        comp = components[name]
        components[name] = replace(
            comp,
            parameters={**comp.parameters, variable: value},
            parameter_locs={**comp.parameter_locs, variable: loc},
        )
    if problems:
        raise ConfigError(problems)
    return replace(spec, components=components)


def _plain(data: Any) -> Any:
    """Mappings/sequences/paths as plain YAML data (for System.from_dict)."""
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    if isinstance(data, os.PathLike):
        return os.fspath(data)
    if hasattr(data, "item") and callable(data.item):  # numpy scalars
        return data.item()
    return data


def _float(value: Any, default: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def _is_multiple(span: float, step: float) -> bool:
    n = round(span / step)
    return n >= 1 and abs(n * step - span) <= 1e-9 * max(1.0, abs(span))


def _component_name(stem: str) -> str:
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in stem)
    return name if name and not name[0].isdigit() else f"fmu_{name}"


def _ticks(t: float, what: str) -> int:
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise ConfigError(Problem(None, f"{what}: time must be a finite number, got {t!r}"))
    return round(t * TICKS_PER_SECOND)


__all__ = ["RESULTS_FILE", "Simulation", "System", "load", "plan_for", "results_path", "simulate"]
