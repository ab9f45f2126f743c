"""The live-twin run: one Simulation coupled to a plant over OPC UA, paced to the wall clock.

A run is one cosim.api.Simulation with a few hooks around the engine's loop (libcosim style:
observers read, manipulators write through the plan's input slots, the pacer keeps the wall
clock; the engine knows neither OPC UA nor the wall clock)::

    before step n     LiveInputs (manipulator)  reads the latest plant values (never blocks),
                                                writes driven FMU inputs into their input slots,
                                                computes residuals of watched outputs, flags
                                                stale values, records the twin's row of step n
    step n            the engine (sets, doStep, gets)
    after step n      ResultsWriter (observer)  records /signals (results.h5)
                      LiveOutputs (observer)    queues mapped FMU outputs to the plant
                      TwinServer (observer)     publishes every recorded signal + run state
                      Pacing (the pacer)        waits until the step's wall-clock deadline

`opcua.inputs[*].to` names either an FMU *input* (or tunable parameter), which the plant value
then drives, or an FMU *output/local*, which the twin then *watches*: it records the measured
value and the residual measured - predicted (a rising residual is a maintenance hint). The first
live value of a driven input becomes its start value (the FMUs initialize with it, so the first
recorded row shows it).
Mapping is by name and unit-free: the plant value is taken to be in the variable's unit.

Everything the twin adds to results.h5 is written when the run ends, next to /signals::

    /twin/time, /twin/wall_time, /twin/lateness     per recorded step
    /twin/inputs/<comp.var>/{value,age,stale}        the live value used (driven) or measured
    /twin/residuals/<comp.var>                       measured - predicted (watched)
    /twin/pauses/{start,end,sim_time}                on_disconnect: pause
    /opcua/<node>/{value,source_time,server_time,receive_time,status}   raw samples
    /opcua/gaps/{start,end,duration,sim_start,sim_end,reason}          connection gaps
    /opcua attributes: samples_dropped, non_finite, queue_overflows     InputBridge counters
    /twin attribute first_values (JSON: driven input -> first live value)
    attributes: overruns, max_lateness, p50_lateness, p99_lateness, realtime_target,
                realtime_factor_measured, stale_steps, gaps, reconnects, on_disconnect, twin (JSON)
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.errors import ConfigError, Location, Problem, SimulationError
from cosim.model.spec import (
    TICKS_PER_SECOND,
    ResolvedSystem,
    SystemSpec,
    VariableInfo,
)
from cosim.realtime import PacingStats
from cosim.resolve.live import LiveLink, ensure_recorded, resolve_links
from cosim.twin.hooks import (
    Health,
    HealthClock,
    LiveInputs,
    LiveOutputs,
    Pacing,
    StepLog,
    TwinRecorder,
    TwinServer,
)

if TYPE_CHECKING:
    from cosim.engine.execution import RunStatistics
    from cosim.opcua import InputBridge, OpcuaSpec, OutputBridge, ValueServer

_log = logging.getLogger(__name__)

BRIDGE_COUNTERS = ("samples_dropped", "non_finite", "queue_overflows")  # InputBridge -> /opcua
FIRST_VALUE_WAIT = 2.0  # s, longest wait for the first live values before initializing
RISING_RATIO = 1.5  # a residual is "rising" when its RMS over the last third of the run is
# at least this many times its RMS over the first third, and larger than SIGNIFICANT times the
# RMS of the measured signal itself (so a millikelvin drift of a 20 degC signal is not a hint)
SIGNIFICANT = 1e-3


# ============================================================================ the run
@dataclass
class TwinResult:
    """What a live-twin run did; `summary()` is what the CLI prints."""

    system: ResolvedSystem
    results: Path
    status: str
    error: BaseException | None
    stats: RunStatistics
    stop_reason: str = ""
    realtime: float | None = None
    pacing: PacingStats | None = None
    realtime_factor: float | None = None  # measured over stepping time (pauses excluded)
    links: tuple[LiveLink, ...] = ()
    stale_steps: tuple[int, ...] = ()
    samples: tuple[int, ...] = ()
    residuals: dict[str, dict[str, float]] = field(default_factory=dict)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    pauses: list[dict[str, float]] = field(default_factory=list)
    reconnects: int = 0
    samples_dropped: int = 0  # raw samples lost to a full ring before they were recorded
    non_finite: int = 0  # plant values that were NaN or infinite (not used)
    queue_overflows: int = 0  # notifications the client's queue could not take
    writes_sent: int = 0
    write_errors: int = 0
    endpoint: str | None = None
    served: dict[str, Any] | None = None
    bridge_error: str | None = None
    analytics: dict[str, Any] = field(default_factory=dict)  # monitors, estimates, forecast

    def verdict(self) -> str:
        """One line for a maintenance engineer: which residuals rise (strongest first)."""
        rising = sorted(
            ((label, r) for label, r in self.residuals.items() if r.get("rising")),
            key=lambda item: -item[1]["ratio"],
        )
        if rising:
            names = ", ".join(f"{label} (x{r['ratio']:.1f})" for label, r in rising)
            return f"maintenance hint: residual rising in {names}"
        if not self.residuals:
            return ""
        if not any(r.get("n") for r in self.residuals.values()):
            return "no verdict: no measured values arrived"
        return "healthy: no residual is rising"

    def summary(self) -> dict[str, Any]:
        st = self.stats
        steps = max(st.steps + 1, 1)
        return {
            "system": self.system.spec.name,
            "status": self.status,
            "results": str(self.results),
            "stop_reason": self.stop_reason,
            "start": self.system.start_tick / TICKS_PER_SECOND,
            "step": self.system.step_ticks / TICKS_PER_SECOND,
            "steps": st.steps,
            "simulated_time": st.simulated_time,
            "wall_time": st.wall_time,
            "realtime_target": self.realtime,
            "realtime_factor": self.realtime_factor,
            "pacing": self.pacing.as_dict() if self.pacing is not None else None,
            "plant": self.endpoint,
            "inputs": [
                {
                    "node": link.node,
                    "to": link.label,
                    "role": link.role,
                    "samples": self.samples[k] if k < len(self.samples) else 0,
                    "stale_steps": self.stale_steps[k] if k < len(self.stale_steps) else 0,
                    "stale_fraction": (self.stale_steps[k] / steps)
                    if k < len(self.stale_steps)
                    else 0.0,
                }
                for k, link in enumerate(self.links)
            ],
            "residuals": self.residuals,
            "verdict": self.verdict(),
            "gaps": self.gaps,
            "pauses": self.pauses,
            "reconnects": self.reconnects,
            "samples_dropped": self.samples_dropped,
            "non_finite": self.non_finite,
            "queue_overflows": self.queue_overflows,
            "writes_sent": self.writes_sent,
            "write_errors": self.write_errors,
            "served": self.served,
            "bridge_error": self.bridge_error,
            "error": None if self.error is None else str(self.error),
            **self.analytics,
        }


def _residual_stats(times: np.ndarray, r: np.ndarray, measured: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(r)
    t, r, level = times[ok], r[ok], measured[ok]
    if len(r) == 0:
        return {"n": 0}
    third = max(1, len(r) // 3)
    first, last = r[:third], r[-third:]
    rms_first = float(np.sqrt(np.mean(first**2)))
    rms_last = float(np.sqrt(np.mean(last**2)))
    return {
        "n": int(len(r)),
        "mean": float(np.mean(r)),
        "rms": float(np.sqrt(np.mean(r**2))),
        "max_abs": float(np.max(np.abs(r))),
        "rms_first_third": rms_first,
        "rms_last_third": rms_last,
        "t_first_third": [float(t[0]), float(t[third - 1])],
        "t_last_third": [float(t[-third]), float(t[-1])],
        "ratio": rms_last / rms_first if rms_first > 0 else math.inf,
        "rising": bool(
            len(r) >= 3
            and rms_last > RISING_RATIO * rms_first
            and rms_last > SIGNIFICANT * float(np.sqrt(np.mean(level**2)))
        ),
    }


def _sim_at(wall: float, walls: np.ndarray, sims: np.ndarray) -> float:
    if len(walls) == 0 or not math.isfinite(wall):
        return math.nan
    return float(np.interp(wall, walls, sims))


def _h5_name(node: str) -> str:
    """A node id as an HDF5 group name ('/' is the only character HDF5 names cannot hold)."""
    return node.replace("/", "%2F")


class TwinRun:
    """A system run against the wall clock and (if it has `opcua:`) a live plant.

    Call order: construct (loads nothing) -> run() (blocking; request_stop() from a signal
    handler or another thread ends it at the end of the current communication step).
    """

    def __init__(
        self,
        spec: SystemSpec,
        results: str | Path,
        *,
        realtime: float | None = None,
        endpoint: str | None = None,
        serve_endpoint: str | None = None,
        attrs: dict[str, Any] | None = None,
        plant: SystemSpec | None = None,
        serve: bool | None = None,
    ) -> None:
        from cosim.opcua import opcua_from_system
        from cosim.resolve.resolver import resolve_system

        if realtime is not None and not (math.isfinite(realtime) and realtime > 0):
            raise ConfigError(
                Problem(Location("--realtime"), f"--realtime must be > 0, got {realtime:g}")
            )
        spec = _with_endpoints(spec, endpoint, serve_endpoint)
        self.opcua: OpcuaSpec | None = opcua_from_system(spec)
        self.offline_plant = plant  # the plant simulator stepped in this loop (offline run)
        self.realtime = realtime if realtime is not None else spec.simulation.realtime
        if plant is not None and realtime is None:
            self.realtime = None  # offline: as fast as possible unless --realtime is given
        self.serve = serve if serve is not None else (plant is None or serve_endpoint is not None)
        self.analytics_spec = spec.analytics
        system = resolve_system(spec)
        links: tuple[LiveLink, ...] = ()
        if self.opcua is not None:
            links, problems = resolve_links(system, self.opcua)
            if spec.analytics:
                from cosim.resolve.analytics import check_analytics

                problems += check_analytics(spec.analytics, system, links)
            if problems:
                raise ConfigError(problems)
            needed = [x.label for x in links if x.role == "watch"]
            needed += [str(o.source) for o in self.opcua.outputs]
            needed += _analytics_signals(spec)
            spec2 = ensure_recorded(spec, system, needed)
            if spec2 is not spec:
                spec, system = spec2, resolve_system(spec2)
                links, _ = resolve_links(system, self.opcua)
            links, self.opcua = _with_truth(links, self.opcua, system, spec)
        elif spec.analytics:
            raise ConfigError(
                Problem(
                    spec.analytics.monitors[0].loc if spec.analytics.monitors else None,
                    "monitors, estimate and forecast need live measurements: this system has "
                    "no opcua: section",
                    "add opcua.inputs from the plant's nodes to the outputs to watch",
                )
            )
        self.spec = spec
        self.system = system
        self.links = links
        self.results = Path(results)
        self.attrs = dict(attrs or {})
        self.health = Health()
        self.first_values: dict[str, Any] = {}  # driven input -> first live value (start value)
        self._stop = False
        self._sim: Any = None  # the cosim.api.Simulation while running
        self.analytics: Any = None  # the TwinAnalytics while running (forecast requests)
        self.prefix = _serve_prefix(spec)

    @property
    def has_plant(self) -> bool:
        o = self.opcua
        if o is None or not (o.inputs or o.outputs):
            return False
        return o.endpoint is not None or self.offline_plant is not None

    def request_stop(self, reason: str = "stop requested") -> None:
        self._stop = True
        if self._sim is not None:
            self._sim.request_stop(reason, interrupted=True)

    def run(self, on_ready: Callable[[dict[str, Any]], None] | None = None) -> TwinResult:
        """Connect, serve, initialize, step to the stop time (or a stop request); always closes
        the bridge, the server and every FMU, and completes results.h5 (cosim.api.Simulation)."""
        from cosim.api import Simulation, plan_for
        from cosim.opcua import InputBridge, OutputBridge

        system, opcua, health = self.system, self.opcua, self.health
        step = system.step_ticks / TICKS_PER_SECOND
        bridge: InputBridge | None = None
        server: ValueServer | None = None
        live: LiveInputs | None = None
        outputs: OutputBridge | None = None
        pacing = Pacing(step, self.realtime, health) if self.realtime else None
        recorder = TwinRecorder(self.links, system.record_decimation)
        served_info: dict[str, Any] | None = None
        error: BaseException | None = None
        sim: Simulation | None = None
        last: Any = None
        in_loop: Any = None
        analytics: Any = None
        try:
            if self.has_plant and self.offline_plant is not None:
                from cosim.twin.offline import Loopback, PlantInLoop, load_plant

                assert opcua is not None
                plant = load_plant(self.offline_plant)
                bridge = Loopback(plant, opcua, [x.node for x in opcua.inputs])  # type: ignore[assignment]
                if opcua.write and opcua.outputs:
                    outputs = bridge  # type: ignore[assignment]
                in_loop = PlantInLoop(plant, bridge)  # type: ignore[arg-type]
                in_loop.open()
            elif self.has_plant:
                assert opcua is not None
                bridge = InputBridge(opcua, isolation=opcua.isolation)
                if opcua.write and opcua.outputs:
                    outputs = OutputBridge(bridge)
            if bridge is not None:
                bridge.start()
                # the first live values become the driven inputs' start values, so the FMUs
                # initialize with them and the first recorded row already shows them
                system = self._with_first_values(system, bridge)
                live = LiveInputs(
                    bridge, self.links, opcua.on_disconnect, health, recorder, pacing,
                    lambda: self._stop,
                )  # fmt: skip
                if opcua.playout_delay > 0 and hasattr(bridge, "read_at"):
                    live.playout_delay = opcua.playout_delay
                if self.analytics_spec:
                    from cosim.twin.analytics import TwinAnalytics

                    analytics = TwinAnalytics(
                        self.analytics_spec, self.spec, system, self.links, live.driven,
                        self.first_values, inline_forecasts=not self.realtime,
                    )  # fmt: skip
                    self.analytics = live.analytics = analytics
                    recorder = TwinRecorder(
                        self.links, system.record_decimation, analytics.n_columns, analytics.row
                    )
                    live.recorder = recorder
            plan = plan_for(system, live.driven if live is not None else ())
            observers: list[Any] = [HealthClock(health)]
            if outputs is not None:
                observers.append(LiveOutputs(outputs))
            twin_server: TwinServer | None = None
            if opcua is not None and opcua.serve is not None and self.serve:
                variables, make, served_info = self._served(plan, live, analytics)
                twin_server = TwinServer(
                    variables, make, len(plan.rec_labels), live, health, opcua.serve.loc,
                    analytics,
                )  # fmt: skip
                observers.append(twin_server)
            last = live if live is not None else StepLog(recorder, pacing)
            if live is None:  # no plant: still record time, wall time and lateness per step
                observers.append(last)
            if in_loop is not None:
                observers.append(in_loop)  # last: the plant steps after the twin
            manipulators: list[Any] = [live] if live is not None else []
            if analytics is not None:
                manipulators.append(analytics)
            sim = Simulation(
                system,
                results=self.results,
                memory=False,
                observers=observers,
                manipulators=manipulators,
                pacer=pacing,
                attrs=self.attrs,
                plan=plan,
            )
            self._sim = sim
            if self._stop:
                sim.request_stop("stop requested", interrupted=True)
            with sim:
                try:
                    sim.initialize()
                finally:
                    server = twin_server.server if twin_server is not None else None
                if server is not None and served_info is not None:
                    served_info["nodes"] = list(server.node_ids)
                if on_ready is not None:
                    on_ready({"served": served_info, "plant": opcua.endpoint if opcua else None})
                health.wall_start = time.perf_counter()
                health.sim_start = sim.time
                try:
                    if not self._stop:
                        sim.run_until()
                finally:
                    if sim.stats.status in ("completed", "stopped"):
                        last.final_row(sim.execution.step_count, sim.execution.tick)
                if health.error is not None:  # e.g. on_disconnect: abort
                    raise health.error
        except BaseException as exc:
            error = exc
        finally:
            if live is not None:
                with contextlib.suppress(Exception):  # the bridge may be half closed
                    live.drain()
            if analytics is not None:
                try:
                    analytics.close()
                except Exception as exc:
                    _log.warning("closing the analytics: %r", exc)
            if in_loop is not None:
                with contextlib.suppress(Exception):
                    in_loop.close()
            for closer in (bridge, server):
                if closer is not None:
                    try:
                        closer.close()
                    except Exception as exc:  # closing must not hide the run's own error
                        _log.warning("closing %s: %r", type(closer).__name__, exc)
        if sim is None or sim.path is None or not sim.path.exists():
            if error is not None:
                raise error
            raise SimulationError("results.h5 was not created")
        stats = sim.stats
        status = sim.status
        if live is not None and live.aborted:
            status = "aborted"
        result = TwinResult(
            system=system,
            results=self.results,
            status=status,
            error=error,
            stats=stats,
            stop_reason=sim.stop_reason,
            realtime=self.realtime,
            pacing=pacing.stats() if pacing is not None and stats.steps else None,
            links=self.links,
            endpoint=(
                bridge.endpoint
                if self.offline_plant is not None and bridge is not None
                else opcua.endpoint
                if self.has_plant and opcua is not None
                else None
            ),
            served=served_info,
        )
        wall = stats.wall_time - health.paused_wall
        result.realtime_factor = stats.simulated_time / wall if wall > 0 else None
        if bridge is not None:
            result.reconnects = bridge.reconnects
            result.bridge_error = str(bridge.error) if bridge.error is not None else None
            for name in BRIDGE_COUNTERS:  # getattr: older bridges lack some of them
                setattr(result, name, int(getattr(bridge, name, 0) or 0))
        if outputs is not None:
            result.writes_sent = outputs.writes_sent
            result.write_errors = outputs.write_errors
        result.analytics = analytics.summary() if analytics is not None else {}
        self._write_twin_data(result, recorder, bridge, analytics)
        if isinstance(error, ConfigError):
            raise error
        return result

    def _with_first_values(self, system: ResolvedSystem, bridge: InputBridge) -> ResolvedSystem:
        """`system` with the first live value of every driven input as its start value.

        Waits for the first notification of each driven input, at most its stale_after (1 s
        where none is set, FIRST_VALUE_WAIT at most) from now; inputs still without a value keep
        their start value.
        """
        drive = [link for link in self.links if link.role == "drive"]
        if not drive:
            return system
        assert self.opcua is not None
        waits = [self.opcua.inputs[link.index].stale_after for link in drive]
        wait = min(FIRST_VALUE_WAIT, max(w if w is not None else 1.0 for w in waits))
        deadline = time.monotonic() + wait
        n = bridge.n_inputs
        values, age, stale = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
        index = [link.index for link in drive]
        while True:
            bridge.read_latest(values, age, stale)
            seen = np.isfinite(age)
            if seen[index].all() or time.monotonic() >= deadline or self._stop:
                break
            time.sleep(0.005)
        per_component: dict[int, dict[str, tuple[VariableInfo, Any]]] = {}
        for link in drive:
            x = float(values[link.index])
            if not seen[link.index] or not math.isfinite(x):
                continue
            var = link.variable
            if var.kind == "boolean":
                value: Any = x != 0.0
            elif var.kind == "integer":
                value = int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))
            else:
                value = x
            per_component.setdefault(link.component, {})[var.name] = (var, value)
            self.first_values[link.label] = value
        if not per_component:
            return system
        components = list(system.components)
        for c, new in per_component.items():
            comp = components[c]
            kept = tuple((v, x) for v, x in comp.start_values if v.name not in new)
            components[c] = replace(comp, start_values=kept + tuple(new.values()))
        return replace(system, components=tuple(components))

    # ------------------------------------------------------------------ server
    def _served(
        self, plan: Any, live: LiveInputs | None, analytics: Any = None
    ) -> tuple[list[Any], Callable[[list[Any]], ValueServer], dict[str, Any]]:
        """The twin server's variables, a factory for the server, and what the summary says."""
        from cosim.opcua import ServedVariable, ValueServer

        assert self.opcua is not None and self.opcua.serve is not None
        serve = self.opcua.serve
        p = self.prefix
        variables = [
            ServedVariable(f"{p}.{label}", plan.rec_kinds[k] if plan.rec_kinds[k] in
                           ("real", "integer", "boolean") else "real",
                           0.0, f"{label} [{plan.rec_units[k]}]".replace(" []", ""))
            for k, label in enumerate(plan.rec_labels)
        ]  # fmt: skip
        if live is not None:
            for k in live._watch:
                label = self.links[k].label
                variables.append(
                    ServedVariable(
                        f"{p}.Residual.{label}", "real", math.nan, f"measured - predicted {label}"
                    )  # fmt: skip
                )
        from cosim.opcua import RUN_STATE

        for name, kind, text in RUN_STATE:
            variables.append(ServedVariable(f"{p}.Run.{name}", kind, 0.0, text))
        if analytics is not None:
            for name, kind, text in analytics.node_names():
                variables.append(ServedVariable(f"{p}.{name}", kind, math.nan, text))  # type: ignore[arg-type]
        names = [v.node for v in variables]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(
                Problem(
                    serve.loc,
                    f"opcua.serve: node name(s) used twice: {', '.join(dup)}",
                    "rename the component that is called Run or Residual",
                )
            )

        alarms = analytics.alarm_specs(p) if analytics is not None else []
        methods = analytics.methods() if analytics is not None else []

        def make(first: list[Any]) -> ValueServer:
            return ValueServer(
                serve.endpoint,
                first,
                security=serve.security,
                namespace=serve.namespace,
                name=self.spec.name,
                alarms=alarms,
                methods=methods,
            )

        info = {"endpoint": serve.endpoint, "namespace": serve.namespace, "prefix": p,
                "variables": len(variables)}  # fmt: skip
        return variables, make, info

    # ------------------------------------------------------------------ results.h5
    def _write_twin_data(
        self,
        result: TwinResult,
        recorder: TwinRecorder,
        bridge: InputBridge | None,
        analytics: Any = None,
    ) -> None:
        import h5py

        links = self.links
        n = len(links)
        rows = recorder.rows.array()
        times = rows[:, 0]
        walls = rows[:, 1]
        samples = (
            np.concatenate(recorder.samples)
            if recorder.samples
            else np.zeros(0, dtype=_sample_dtype())
        )
        result.stale_steps = tuple(int(x) for x in recorder.stale_steps)
        result.samples = tuple(int(np.count_nonzero(samples["input"] == k)) for k in range(n))
        for j, k in enumerate(recorder.watch):
            stats = _residual_stats(times, rows[:, 3 + 3 * n + j], rows[:, 3 + k])
            stats["unit"] = links[k].variable.unit or ""
            result.residuals[links[k].label] = stats
        gaps = bridge.gaps if bridge is not None else ()
        result.gaps = [
            {
                "start": g.start,
                "end": g.end,
                "duration": g.duration,
                "sim_start": _sim_at(g.start, walls, times),
                "sim_end": _sim_at(g.end, walls, times) if g.end is not None else math.nan,
                "reason": g.reason,
            }
            for g in gaps
        ]
        result.pauses = [{"start": a, "end": b, "sim_time": t} for a, b, t in self.health.pauses]
        pacing = result.pacing
        with h5py.File(self.results, "a") as f:
            tw = f.create_group("twin")
            tw.create_dataset("time", data=times).attrs["unit"] = "s"
            tw.create_dataset("wall_time", data=walls).attrs["unit"] = "s since 1970 (UTC)"
            tw.create_dataset("lateness", data=rows[:, 2]).attrs["unit"] = "s"
            inputs = tw.create_group("inputs", track_order=True)
            for k, link in enumerate(links):
                g = inputs.create_group(link.label)
                g.attrs.update(node=link.node, role=link.role, unit=link.variable.unit or "")
                g.create_dataset("value", data=rows[:, 3 + k])
                g.create_dataset("age", data=rows[:, 3 + n + k]).attrs["unit"] = "s"
                g.create_dataset("stale", data=rows[:, 3 + 2 * n + k].astype(np.uint8))
            res = tw.create_group("residuals", track_order=True)
            for j, k in enumerate(recorder.watch):
                ds = res.create_dataset(links[k].label, data=rows[:, 3 + 3 * n + j])
                ds.attrs.update(unit=links[k].variable.unit or "", node=links[k].node,
                                definition="measured - predicted")  # fmt: skip
            tw.attrs["first_values"] = json.dumps(self.first_values, default=_json_default)
            if analytics is not None:
                analytics.write(tw, rows, recorder.first_extra, times)
            pz = tw.create_group("pauses")
            pz.create_dataset("start", data=[p["start"] for p in result.pauses], dtype="f8")
            pz.create_dataset("end", data=[p["end"] for p in result.pauses], dtype="f8")
            pz.create_dataset("sim_time", data=[p["sim_time"] for p in result.pauses], dtype="f8")
            if self.opcua is not None and self.has_plant and self.offline_plant is None:
                op = f.create_group("opcua")
                for k, link in enumerate(links):
                    g = op.create_group(_h5_name(link.node))
                    g.attrs.update(node=link.node, to=link.label)
                    mine = samples[samples["input"] == k]
                    for name in ("value", "source_time", "server_time", "receive_time", "status"):
                        g.create_dataset(name, data=mine[name])
                gg = op.create_group("gaps")
                for key in ("start", "end", "duration", "sim_start", "sim_end"):
                    data = [math.nan if g[key] is None else g[key] for g in result.gaps]
                    gg.create_dataset(key, data=np.array(data, dtype="f8"))
                gg.create_dataset(
                    "reason", data=[g["reason"] for g in result.gaps], dtype=h5py.string_dtype()
                )
                for name in BRIDGE_COUNTERS:
                    op.attrs[name] = getattr(result, name)
                f.attrs["gaps"] = len(result.gaps)
                f.attrs["reconnects"] = result.reconnects
                f.attrs["on_disconnect"] = self.opcua.on_disconnect
                f.attrs["plant_endpoint"] = self.opcua.endpoint or ""
            a = f.attrs
            a["realtime_target"] = self.realtime if self.realtime else np.nan
            a["realtime_factor_measured"] = (
                result.realtime_factor if result.realtime_factor is not None else np.nan
            )
            if pacing is not None:
                a["overruns"] = pacing.overruns
                a["max_lateness"] = pacing.max_lateness
                a["p50_lateness"] = pacing.p50_lateness
                a["p99_lateness"] = pacing.p99_lateness
            a["stale_steps"] = int(recorder.stale_steps.sum())
            a["twin"] = json.dumps(result.summary(), default=_json_default)
            if result.status == "aborted":
                a["status"] = "aborted"


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _sample_dtype() -> np.dtype:
    from cosim.opcua import SAMPLE_DTYPE

    return SAMPLE_DTYPE


def _analytics_signals(spec: SystemSpec) -> list[str]:
    """Signals the analytics read from the twin's stores (so the plan gets them)."""
    a = spec.analytics
    if not a:
        return []
    out = [m.label for m in a.monitors if m.kind == "signal"]
    params = {p.label for p in a.estimate.parameters} if a.estimate is not None else set()
    if a.forecast is not None:
        out += [t.label for t in a.forecast.targets if t.label not in params]
    return out


def _with_truth(
    links: tuple[LiveLink, ...], opcua: OpcuaSpec, system: ResolvedSystem, spec: SystemSpec
) -> tuple[tuple[LiveLink, ...], OpcuaSpec]:
    """Links (and opcua inputs) with one "truth" input per estimated parameter that names a
    plant node holding its true value: recorded for evaluation, never used by the model."""
    from cosim.model.live import InputSpec
    from cosim.model.spec import VarRef

    a = spec.analytics
    if not a or a.estimate is None:
        return links, opcua
    truths = [p for p in a.estimate.parameters if p.truth]
    if not truths:
        return links, opcua
    inputs = list(opcua.inputs)
    out = list(links)
    names = {c.name: c for c in system.components}
    for p in truths:
        comp, _, var = p.label.partition(".")
        c = names[comp]
        inputs.append(InputSpec(node=str(p.truth), to=VarRef(comp, var), loc=p.loc))
        out.append(LiveLink(len(inputs) - 1, str(p.truth), p.label, c.index, c.variables[var],
                            "truth"))  # fmt: skip
    return tuple(out), replace(opcua, inputs=tuple(inputs))


def _with_endpoints(spec: SystemSpec, endpoint: str | None, serve: str | None) -> SystemSpec:
    """`spec` with opcua.endpoint / opcua.serve.endpoint replaced (e.g. by `cosim demo`)."""
    if endpoint is None and serve is None:
        return spec
    data = dict(spec.extra.get("opcua") or {})
    if endpoint is not None:
        data["endpoint"] = endpoint
    if serve is not None:
        data["serve"] = {**dict(data.get("serve") or {}), "endpoint": serve}
    return replace(spec, extra={**spec.extra, "opcua": data})


def _serve_prefix(spec: SystemSpec) -> str:
    """opcua.serve.prefix if written, else the system's name (nodes read <system>.<comp>.<var>)."""
    serve = (spec.extra.get("opcua") or {}).get("serve") or {}
    prefix = serve.get("prefix") if isinstance(serve, dict) else None
    return str(prefix) if prefix else spec.name


def realtime_for(spec: SystemSpec, override: float | None) -> float | None:
    """The real-time factor a run uses: --realtime, else simulation.realtime, else None."""
    return override if override is not None else spec.simulation.realtime


def needs_twin(spec: SystemSpec, realtime: float | None = None) -> bool:
    """Whether `cosim run` must go through TwinRun (opcua section or real-time pacing)."""
    return "opcua" in spec.extra or realtime_for(spec, realtime) is not None


__all__ = ["TwinResult", "TwinRun", "needs_twin", "realtime_for"]
