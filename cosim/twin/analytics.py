"""The predicting twin: monitors, the ensemble estimator and forecasts, hooked into a run.

TwinAnalytics is called by LiveInputs once per communication step (observe: after the live
values of the step's start are read, before the twin's row is recorded) and is a manipulator
of its own (before_step: steps the estimator's ensemble over the same step, forks forecasts).
What it computes goes into the twin's rows (/twin/monitors), its own tables (/twin/alarms,
/twin/estimates, /twin/forecasts), the log, and the twin's OPC UA server (nodes and alarms).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.engine.readers import SignalReader
from cosim.model.analytics import AnalyticsSpec
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem, SystemSpec
from cosim.resolve.live import LiveLink
from cosim.twin.ensemble import Ensemble, member_label
from cosim.twin.estimator import EnsembleKalmanFilter
from cosim.twin.forecast import Forecaster, ForecastResult, Fork
from cosim.twin.monitors import LEVEL_NAMES, LevelChange, Monitor

if TYPE_CHECKING:
    from cosim.engine.execution import Execution

_log = logging.getLogger("cosim.twin")
REQUEST_TIMEOUT = 120.0  # s a forecast requested over OPC UA may take


class TwinAnalytics:
    """Monitors, estimator and forecaster of one twin run (see the module docstring)."""

    def __init__(
        self,
        analytics: AnalyticsSpec,
        spec: SystemSpec,
        system: ResolvedSystem,
        links: Sequence[LiveLink],
        driven: Sequence[str],
        first_values: dict[str, Any] | None = None,
        *,
        inline_forecasts: bool = False,
    ) -> None:
        self.inline_forecasts = inline_forecasts  # not paced: forecast in the loop's thread
        self.spec = analytics
        self.twin_spec = spec
        self.system = system
        self.links = tuple(links)
        self.driven = list(driven)
        self.first_values = dict(first_values or {})
        self.step = system.step_ticks / TICKS_PER_SECOND
        self.monitors = [Monitor(m, self.step) for m in analytics.monitors]
        labels = [x.label for x in links]
        self._watch_pos = {x.label: j for j, x in enumerate(x for x in links if x.role == "watch")}
        self._link_pos = {x.label: k for k, x in enumerate(links) if x.role != "truth"}
        self._truth_pos = {x.label: k for k, x in enumerate(links) if x.role == "truth"}
        self._signals = [m.label for m in analytics.monitors if m.kind == "signal"]
        self._signal_values = np.zeros(len(self._signals))
        self._reader: SignalReader | None = None
        self.changes: list[tuple[LevelChange, float]] = []  # with wall time
        # estimator
        est = analytics.estimate
        self.filter: EnsembleKalmanFilter | None = None
        self.ensemble: Ensemble | None = None
        self.estimates: list[tuple[float, np.ndarray, np.ndarray]] = []  # time, mean, std
        self.members_log: list[np.ndarray] = []
        self.param_names: list[str] = []
        self._meas_links: list[int] = []
        self._pred = np.zeros(0)
        self._meas = np.zeros(0)
        if est is not None:
            self.param_names = [p.label for p in est.parameters]
            bounds = [self._bounds(p.label, p.low, p.high) for p in est.parameters]
            self.bounds = bounds
            self.filter = EnsembleKalmanFilter(est, self.step, bounds)
            self._meas_links = [labels.index(m.label) for m in est.measurements]
            fc_signals = [
                t.label
                for t in (analytics.forecast.targets if analytics.forecast else ())
                if t.label not in self.param_names
            ]
            signals = [m.label for m in est.measurements]
            signals += [x for x in dict.fromkeys(fc_signals) if x not in signals]
            self.ensemble = Ensemble(
                spec,
                est.members,
                signals=signals,
                driven=self.driven,
                parameters=self.param_names,
                start=self.filter.params,
                first_values=self.first_values,
            )
            self._pred = np.zeros((est.members, len(signals)))
            self._meas = np.zeros(len(est.measurements))
            self._n_meas = len(est.measurements)
            self._mean = self.filter.mean()
            self._std = self.filter.std()
        # the recent measured values of windowed forecast targets (they start the window)
        self._history: dict[str, tuple[int, np.ndarray]] = {}
        for t in analytics.forecast.targets if analytics.forecast else ():
            if t.statistic != "value" and t.window and t.label in self._link_pos:
                n = max(1, round(t.window / self.step))
                self._history[t.label] = (self._link_pos[t.label], np.full(n, np.nan))
        self._history_n = 0
        # forecaster
        self.forecaster: Forecaster | None = None
        self.forecasts: list[ForecastResult] = []
        self._next_forecast = math.inf
        self._requests: list[tuple[float, threading.Event, list]] = []
        self._request_lock = threading.Lock()
        self._live: Any = None
        self._ex: Execution | None = None
        # published values: monitor value/state, estimate mean/std(/rate), forecast nodes
        self.server: Any = None
        self.values = np.zeros(len(self.node_names()))
        n_targets = len(analytics.forecast.targets) if analytics.forecast else 0
        self._forecast_values = np.full(6 * n_targets, math.nan)
        # where each monitor's raw indicator is read from: (kind, position), looked up once
        self._sources = [(m.kind, self._position(m.kind, m.label)) for m in analytics.monitors]

    def _bounds(self, label: str, low: float | None, high: float | None) -> tuple[float, float]:
        comp, _, var = label.partition(".")
        info = next(c for c in self.system.components if c.name == comp).variables[var]
        md_var = _md_variable(self.system, comp, var)
        lo = low if low is not None else _float(getattr(md_var, "min", None), -math.inf)
        hi = high if high is not None else _float(getattr(md_var, "max", None), math.inf)
        del info
        return lo, hi

    # ------------------------------------------------------------------ served nodes
    def node_names(self) -> list[tuple[str, str, str]]:
        """(name under the prefix, kind, description) of every node this publishes."""
        out: list[tuple[str, str, str]] = []
        for m in self.spec.monitors:
            out.append((f"Monitor.{m.name}.Value", "real", f"filtered {m.indicator}"))
            out.append((f"Monitor.{m.name}.State", "integer", "0 normal, 1 warning, 2 alarm"))
        if self.spec.estimate is not None:
            for p in self.spec.estimate.parameters:
                out.append((f"Estimate.{p.label}.Mean", "real", f"estimated {p.label}"))
                out.append((f"Estimate.{p.label}.Std", "real", f"standard deviation of {p.label}"))
                if p.rate is not None:
                    out.append((f"Estimate.{p.label}.Rate", "real", f"d({p.label})/dt, 1/s"))
        if self.spec.forecast is not None:
            for t in self.spec.forecast.targets:
                for what, text in (
                    ("Median", "median crossing time, s"),
                    ("Low", "5 % quantile of the crossing time, s"),
                    ("High", "95 % quantile of the crossing time, s"),
                    ("RemainingLife", "median crossing time - time made, s"),
                    ("Crossed", "fraction of members crossing within the horizon"),
                    ("MadeAt", "simulated time the forecast was made, s"),
                ):
                    out.append((f"Forecast.{t.name}.{what}", "real", f"{t.text}: {text}"))
        return out

    def alarm_specs(self, prefix: str) -> list[Any]:
        """One AlarmSpec per monitor for the twin's ValueServer."""
        from cosim.opcua import server as srv

        make = getattr(srv, "AlarmSpec", None)
        if make is None:
            return []
        return [
            make(
                m.name,
                m.message or f"{m.indicator} {m.direction} its level",
                f"{prefix}.Monitor.{m.name}.Value",
            )
            for m in self.spec.monitors
        ]

    def methods(self) -> list[Any]:
        """The twin server's Forecast method (when there is a forecast section)."""
        from cosim.opcua import server as srv

        make = getattr(srv, "MethodSpec", None)
        if make is None or self.spec.forecast is None:
            return []
        return [
            make(
                "Forecast",
                self._method_forecast,
                inputs=[("Horizon", "real", "seconds ahead (0: the YAML's forecast.horizon)")],
                outputs=[("Result", "string", "the forecast as JSON (median, low, high...)")],
                description="Fork the twin and forecast when each target crosses its limit",
            )
        ]

    # ------------------------------------------------------------------ hooks
    def bind(self, execution: Execution, live: Any) -> None:
        """Called by LiveInputs when the run is initialized (before the first observe)."""
        self._ex = execution
        self._live = live
        if self._signals:
            self._reader = SignalReader(execution, self._signals)
        if self.ensemble is not None:
            self.ensemble.open()
        fc = self.spec.forecast
        if fc is not None:
            self.forecaster = self._make_forecaster()
            self.forecaster.inline = self.inline_forecasts
            if not self.inline_forecasts:
                self.forecaster.use_process()
            if fc.every is not None:
                self._next_forecast = execution.time + fc.every

    def _make_forecaster(self) -> Forecaster:
        fc = self.spec.forecast
        assert fc is not None
        if self.ensemble is not None:
            ens = self.ensemble
            n = ens.members
            return Forecaster(
                fc,
                ens.system,
                ens.plan_inputs,
                members=n,
                driven=[[member_label(x, k) for x in ens.driven] for k in range(n)],
                driven_names=ens.driven,
                params=[[member_label(x, k) for x in ens.parameters] for k in range(n)],
                param_names=ens.parameters,
                bounds=self.bounds,
                signals=[[member_label(x, k) for x in ens.signals] for k in range(n)],
                signal_names=ens.signals,
            )
        assert self._ex is not None
        signals = [t.label for t in fc.targets]
        return Forecaster(
            fc,
            self.system,
            self.driven,
            members=1,
            driven=[self.driven],
            driven_names=self.driven,
            params=[[]],
            param_names=[],
            bounds=[],
            signals=[signals],
            signal_names=signals,
        )

    def observe(
        self,
        step: int,
        tick: int,
        values: np.ndarray,
        residual: np.ndarray,
        stale: np.ndarray,
        final: bool = False,
    ) -> None:
        """The live values at the start of step `step` (LiveInputs calls this)."""
        t = tick / TICKS_PER_SECOND
        if self._reader is not None:
            self._reader.read(self._signal_values)
        if self.filter is not None and not final:
            assert self.ensemble is not None
            self.ensemble.read(self._pred)
            for j, k in enumerate(self._meas_links):
                self._meas[j] = math.nan if stale[k] else values[k]
            if self.filter.observe(self._pred[:, : self._n_meas], self._meas):
                self._mean = self.filter.mean()
                self._std = self.filter.std()
                self.estimates.append((t, self._mean.copy(), self._std.copy()))
                self.members_log.append(self.filter.params.copy())
        if self._history and not final:
            for k, ring in self._history.values():
                ring[self._history_n % len(ring)] = values[k]
            self._history_n += 1
        for j, mon in enumerate(self.monitors):
            change = mon.update(self._indicator(j, values, residual), t)
            if change is not None:
                self._report(change)
        self._fill_values()

    def _position(self, kind: str, label: str) -> int:
        if kind == "residual":
            return self._watch_pos[label]
        if kind == "measured":
            return self._link_pos[label]
        if kind == "signal":
            return self._signals.index(label)
        return self.param_names.index(label)

    def _indicator(self, j: int, values: np.ndarray, residual: np.ndarray) -> float:
        kind, k = self._sources[j]
        if kind == "residual":
            return float(residual[k])
        if kind == "measured":
            return float(values[k])
        if kind == "signal":
            return float(self._signal_values[k])
        return float(self._mean[k])

    def _report(self, change: LevelChange) -> None:
        import time as _time

        self.changes.append((change, _time.time()))
        mon = next(m for m in self.monitors if m.spec.name == change.monitor)
        text = change.text(mon.spec.message)
        (_log.warning if change.new > change.old else _log.info)("monitor %s", text)
        if self.server is not None and hasattr(self.server, "set_alarm"):
            index = [m.spec.name for m in self.monitors].index(change.monitor)
            self.server.set_alarm(index, change.new, change.value, change.time, text)

    def before_step(self, step: int, tick: int) -> None:
        """Step the ensemble over the step the twin is about to take; fork forecasts."""
        if self.forecaster is not None:
            self._forecasts(tick)
        if self.ensemble is not None and self.filter is not None:
            live = self._live
            self.ensemble.step(live._drive_values, self.filter.params)

    def simulation_initialized(self, execution: Execution) -> None:
        pass  # bound through LiveInputs (bind), which knows the live values first

    # ------------------------------------------------------------------ forecasts
    def request_forecast(
        self, horizon: float | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> ForecastResult:
        """Ask for a forecast from another thread; blocks until it is done."""
        from cosim.errors import SimulationError

        if self.forecaster is None:
            raise SimulationError("this twin has no forecast: section")
        done = threading.Event()
        box: list = []
        with self._request_lock:
            self._requests.append((horizon or self.spec.forecast.horizon, done, box))  # type: ignore[union-attr]
        if not done.wait(timeout):
            raise SimulationError(f"the forecast did not finish within {timeout:g} s")
        if not box or isinstance(box[0], BaseException):
            raise SimulationError(f"the forecast failed: {box[0] if box else 'no result'}")
        return box[0]

    def _method_forecast(self, horizon: float) -> list[Any]:
        result = self.request_forecast(horizon if horizon and horizon > 0 else None)
        return [json.dumps(_finite(result.as_dict()), default=_json_default)]

    def _forecasts(self, tick: int) -> None:
        fcr = self.forecaster
        assert fcr is not None
        for result in fcr.take():
            self._keep_forecast(result)
            self._log_forecast(result)
            self._answer(result)
        t = tick / TICKS_PER_SECOND
        with self._request_lock:
            pending = self._requests[:1] if self._requests else []
        due = t + 1e-9 >= self._next_forecast
        if (pending or due) and not fcr.busy:
            horizon = pending[0][0] if pending else self.spec.forecast.horizon  # type: ignore[union-attr]
            fork = self.fork(horizon)
            if fork is not None and fcr.start(fork):
                self._started = pending[0] if pending else None
                if pending:
                    with self._request_lock:
                        self._requests.pop(0)
                    self._inflight = pending[0]
                if due:  # the next one `every` from now (periods missed while busy are skipped)
                    self._next_forecast = t + self.spec.forecast.every  # type: ignore[union-attr,operator]
        if fcr.error is not None:
            self._fail_requests(fcr.error)
            fcr.error = None

    def _answer(self, result: ForecastResult) -> None:
        flight = getattr(self, "_inflight", None)
        if flight is not None:
            flight[2].append(result)
            flight[1].set()
            self._inflight = None

    def _fail_requests(self, error: BaseException) -> None:
        flight = getattr(self, "_inflight", None)
        if flight is not None:
            flight[2].append(error)
            flight[1].set()
            self._inflight = None

    def fork(self, horizon: float) -> Fork | None:
        """The state to forecast from (call between steps, in the loop's thread)."""
        fc = self.spec.forecast
        assert fc is not None and self._live is not None
        source = self.ensemble.simulation if self.ensemble is not None else None
        if source is None:
            assert self._ex is not None
            ex = self._ex
        else:
            ex = source.execution
        state = ex.get_state()
        try:
            portable = ex.export_state(state)
        finally:
            ex.free_state(state)
        if self.filter is not None:
            f = self.filter
            theta = f.params.copy()
            rates = np.zeros_like(theta)
            for c, j in enumerate(f.rated):
                rates[:, j] = f.x[:, f.p + c]
        else:
            theta = rates = np.zeros((1, 0))
        driven = np.array(self._live._drive_values, dtype=float)
        if self.ensemble is not None:
            driven = driven[self.ensemble._driven_index]
        history = {}
        for label, (_, ring) in self._history.items():
            n, size = self._history_n, len(ring)
            past = np.roll(ring, -(n % size)) if n >= size else ring[:n]
            history[label] = past[np.isfinite(past)].copy()
        return Fork(portable, portable.time, driven, theta, rates, horizon, fc.scenario, history)

    def _log_forecast(self, r: ForecastResult) -> None:
        for t in r.targets:
            d = t.as_dict(r.time)
            if math.isfinite(d["median"]):
                _log.info(
                    "forecast at t = %g s: %s at t = %.4g s (90 %%: %.4g .. %s), remaining %.4g s",
                    r.time,
                    t.text,
                    d["median"],
                    d["low"],
                    f"{d['high']:.4g}" if math.isfinite(d["high"]) else "beyond",
                    d["rul_median"],
                )
            else:
                _log.info(
                    "forecast at t = %g s: %s not within %g s (%.0f %% of members cross)",
                    r.time,
                    t.text,
                    r.horizon,
                    100 * d["crossed"],
                )

    # ------------------------------------------------------------------ rows and nodes
    @property
    def n_columns(self) -> int:
        return 2 * len(self.monitors)

    def row(self, out: np.ndarray) -> None:
        """This step's columns of the twin's row: per monitor, value and level."""
        for j, mon in enumerate(self.monitors):
            out[2 * j] = mon.value
            out[2 * j + 1] = mon.level

    def _fill_values(self) -> None:
        v, i = self.values, 0
        for mon in self.monitors:
            v[i], v[i + 1] = mon.value, mon.level
            i += 2
        if self.spec.estimate is not None:
            f = self.filter
            assert f is not None
            for j, p in enumerate(self.spec.estimate.parameters):
                v[i], v[i + 1] = self._mean[j], self._std[j]
                i += 2
                if p.rate is not None:
                    v[i] = self._mean[f.p + f.rated.index(j)]
                    i += 1
        if self.spec.forecast is not None:
            v[i : i + len(self._forecast_values)] = self._forecast_values

    def _keep_forecast(self, result: ForecastResult) -> None:
        """A finished forecast: recorded, logged, its node values computed once."""
        self.forecasts.append(result)
        for j, target in enumerate(result.targets):
            d = target.as_dict(result.time)
            self._forecast_values[6 * j : 6 * j + 6] = (
                d["median"],
                d["low"],
                d["high"],
                d["rul_median"],
                d["crossed"],
                result.time,
            )

    def close(self) -> None:
        if self.forecaster is not None:
            self.forecaster.close()
            for result in self.forecaster.take():
                self._keep_forecast(result)
                self._answer(result)
        if self.ensemble is not None:
            self.ensemble.close()

    # ------------------------------------------------------------------ results.h5
    def write(self, tw: Any, rows: np.ndarray, first_col: int, times: np.ndarray) -> None:
        """The analytics groups under /twin (an open h5py group); `rows[:, first_col:]` are
        this object's row columns, `times` the rows' times."""
        import h5py

        mg = tw.create_group("monitors", track_order=True)
        for j, mon in enumerate(self.monitors):
            s = mon.spec
            g = mg.create_group(s.name)
            g.create_dataset("value", data=rows[:, first_col + 2 * j])
            g.create_dataset("state", data=rows[:, first_col + 2 * j + 1].astype(np.uint8))
            g.attrs.update(
                indicator=s.indicator,
                filter=s.filter,
                transform=s.transform,
                window=s.window if s.window is not None else np.nan,
                warning=s.warning if s.warning is not None else np.nan,
                alarm=s.alarm if s.alarm is not None else np.nan,
                direction=s.direction,
                hysteresis=s.hysteresis,
                min_duration=s.min_duration,
                unit=self._unit(s.label),
                message=s.message,
            )
        ag = tw.create_group("alarms")
        text = h5py.string_dtype()
        ch = [c for c, _ in self.changes]
        ag.create_dataset("time", data=np.array([c.time for c in ch], dtype="f8"))
        ag.create_dataset("wall_time", data=np.array([w for _, w in self.changes], dtype="f8"))
        ag.create_dataset("monitor", data=[c.monitor for c in ch], dtype=text)
        ag.create_dataset("level", data=[c.level for c in ch], dtype=text)
        ag.create_dataset("event", data=[c.event for c in ch], dtype=text)
        ag.create_dataset("value", data=np.array([c.value for c in ch], dtype="f8"))
        ag.attrs["levels"] = json.dumps(list(LEVEL_NAMES))
        if self.filter is not None and self.spec.estimate is not None:
            eg = tw.create_group("estimates", track_order=True)
            f = self.filter
            t = np.array([e[0] for e in self.estimates], dtype="f8")
            means = np.array([e[1] for e in self.estimates]).reshape(len(t), f.q)
            stds = np.array([e[2] for e in self.estimates]).reshape(len(t), f.q)
            members = np.array(self.members_log).reshape(len(t), f.n, f.p)
            for j, p in enumerate(self.spec.estimate.parameters):
                g = eg.create_group(p.label)
                g.create_dataset("time", data=t)
                g.create_dataset("mean", data=means[:, j])
                g.create_dataset("std", data=stds[:, j])
                g.create_dataset("members", data=members[:, :, j])
                if p.rate is not None:
                    c = f.p + f.rated.index(j)
                    g.create_dataset("rate_mean", data=means[:, c])
                    g.create_dataset("rate_std", data=stds[:, c])
                if p.label in self._truth_pos:
                    k = self._truth_pos[p.label]
                    g.create_dataset("truth_time", data=times)
                    g.create_dataset("truth", data=rows[:, 3 + k])
                g.attrs.update(
                    unit=self._unit(p.label),
                    method="enkf",
                    members=f.n,
                    prior_mean=p.prior_mean,
                    prior_std=p.prior_std,
                    interval=f.interval,
                    process_noise=p.process_noise,
                    truth_node=p.truth or "",
                )
        if self.spec.forecast is not None:
            fg = tw.create_group("forecasts", track_order=True)
            rs = self.forecasts
            for j, target in enumerate(self.spec.forecast.targets):
                g = fg.create_group(target.name)
                ds = [r.targets[j].as_dict(r.time) for r in rs]
                g.create_dataset("time", data=np.array([r.time for r in rs], dtype="f8"))
                g.create_dataset("horizon", data=np.array([r.horizon for r in rs], dtype="f8"))
                for key, name in (
                    ("median", "median"),
                    ("low", "low"),
                    ("high", "high"),
                    ("crossed", "crossed"),
                    ("final_mean", "final_mean"),
                ):
                    g.create_dataset(name, data=np.array([d[key] for d in ds], dtype="f8"))
                n = max((len(r.targets[j].crossings) for r in rs), default=0)
                samples = np.full((len(rs), n), np.nan)
                for i, r in enumerate(rs):
                    samples[i, : len(r.targets[j].crossings)] = r.targets[j].crossings
                g.create_dataset("samples", data=samples)
                g.create_dataset("wall_time", data=np.array([r.wall_time for r in rs]))
                g.attrs.update(
                    target=target.text,
                    variable=target.label,
                    threshold=target.threshold,
                    direction=target.direction,
                    statistic=target.statistic,
                    scenario=self.spec.forecast.scenario,
                    true_crossing=target.true_crossing
                    if target.true_crossing is not None
                    else np.nan,
                )

    def _unit(self, label: str) -> str:
        comp, _, var = label.partition(".")
        for c in self.system.components:
            if c.name == comp and var in c.variables:
                return c.variables[var].unit or ""
        return ""

    def summary(self) -> dict[str, Any]:
        """What the run's summary says about monitors, estimates and forecasts."""
        out: dict[str, Any] = {}
        if self.monitors:
            out["monitors"] = {
                m.spec.name: {
                    "level": LEVEL_NAMES[m.level],
                    "value": m.value,
                    "events": [
                        {"time": c.time, "level": c.level, "event": c.event, "value": c.value}
                        for c, _ in self.changes
                        if c.monitor == m.spec.name
                    ],
                }
                for m in self.monitors
            }
        if self.filter is not None and self.spec.estimate is not None:
            f = self.filter
            est = {}
            for j, p in enumerate(self.spec.estimate.parameters):
                e = {"mean": float(self._mean[j]), "std": float(self._std[j]), "updates": f.updates}
                if p.rate is not None:
                    c = f.p + f.rated.index(j)
                    e["rate_mean"], e["rate_std"] = float(self._mean[c]), float(self._std[c])
                est[p.label] = e
            out["estimates"] = est
        if self.forecasts:
            out["forecast"] = self.forecasts[-1].as_dict()
            out["forecasts_made"] = len(self.forecasts)
        return out


def _md_variable(system: ResolvedSystem, comp: str, var: str) -> Any:
    c = next(c for c in system.components if c.name == comp)
    md = c.model_description
    for v in getattr(md, "modelVariables", []):
        if v.name == var:
            return v
    return None


def _float(x: Any, default: float) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _finite(x: Any) -> Any:
    """`x` with every non-finite float as None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


__all__ = ["TwinAnalytics"]
