"""Least-squares fit of a system's parameters to recorded plant data (`cosim calibrate`).

The system is run offline over the recording's time span on its own communication step (its
`opcua:`/`plant:` sections and `simulation.realtime` are ignored). Recorded driven inputs are
replayed by a manipulator: each step gets the latest valid recorded value at or before the
step's start (sample and hold). The residuals are (measured - predicted) / sigma at the
recorded rows of every measured signal; stale and NaN samples are left out.

Every simulation is an independent job for an executor (`concurrent.futures`): the residual
at x and the n finite-difference Jacobian columns are submitted together, so n + 1 processes
evaluate one iteration in the time of one run. A job is a top-level function with picklable
arguments (the YAML path, a parameter dict, the replay arrays); a worker builds the System
once and keeps it for later jobs.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cosim.errors import ConfigError, Location, Problem, SimulationError
from cosim.model.refs import VarRef
from cosim.model.spec import TICKS_PER_SECOND, RecordSpec
from cosim.twin.recording import Recording, read_recording

FD_STEP = 1e-6  # relative finite-difference step (the runs are deterministic, fixed-step)
MAX_NFEV = 100  # residual evaluations before the optimizer gives up (not converged)
_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD -> standard deviation (Gaussian)


# ============================================================================ the result
@dataclass
class SignalFit:
    """One measured signal at the rows used in the fit: measured, predicted, sigma."""

    label: str
    unit: str
    time: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    sigma: float
    sigma_estimated: bool

    @property
    def residual(self) -> np.ndarray:
        return self.measured - self.predicted

    @property
    def rms(self) -> float:
        r = self.residual
        return float(np.sqrt(np.mean(r * r))) if r.size else math.nan


@dataclass
class Calibration:
    """A fit: values with standard errors and correlation, cost, convergence, residuals."""

    names: list[str]
    values: np.ndarray
    std_errors: np.ndarray
    correlation: np.ndarray
    cost: float  # 0.5 * sum of squared scaled residuals at the fit
    n_residuals: int
    nfev: int  # residual evaluations by the optimizer
    converged: bool
    message: str
    rms: dict[str, float]  # per measured signal, residual RMS in its unit
    start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bounds: list[tuple[float, float]] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    signals: list[SignalFit] = field(default_factory=list)
    driven: list[str] = field(default_factory=list)  # replayed inputs
    ignored: list[str] = field(default_factory=list)  # recorded labels the system does not have
    window: tuple[float, float] = (math.nan, math.nan)  # the rows fitted, s
    simulations: int = 0  # runs in all (residuals and Jacobian columns)
    status: int = 0  # scipy.optimize.least_squares status

    @property
    def dof(self) -> int:
        return self.n_residuals - len(self.names)

    def yaml_fragment(self) -> str:
        """The fitted values as system YAML to paste: components: {act: {parameters: ...}}."""
        by_comp: dict[str, list[str]] = {}
        for name, value in zip(self.names, self.values, strict=True):
            comp, _, var = name.partition(".")
            by_comp.setdefault(comp, []).append(f"{var}: {_number(float(value))}")
        lines = ["components:"]
        for comp, items in by_comp.items():
            lines += [f"  {comp}:", f"    parameters: {{{', '.join(items)}}}"]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for --json)."""

        def f(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "converged": self.converged,
            "message": self.message,
            "status": self.status,
            "parameters": {
                name: {
                    "value": f(v),
                    "std_error": f(se),
                    "start": f(x0),
                    "bounds": [f(lo), f(hi)],
                    "unit": unit,
                }
                for name, v, se, x0, (lo, hi), unit in zip(
                    self.names,
                    self.values,
                    self.std_errors,
                    self.start,
                    self.bounds,
                    self.units,
                    strict=True,
                )
            },
            "correlation": [[f(x) for x in row] for row in self.correlation],
            "cost": f(self.cost),
            "n_residuals": self.n_residuals,
            "nfev": self.nfev,
            "simulations": self.simulations,
            "window": [f(self.window[0]), f(self.window[1])],
            "signals": {
                s.label: {
                    "unit": s.unit,
                    "rows": int(s.time.size),
                    "sigma": f(s.sigma),
                    "sigma_estimated": s.sigma_estimated,
                    "rms": f(s.rms),
                }
                for s in self.signals
            },
            "driven": list(self.driven),
            "ignored": list(self.ignored),
            "yaml": self.yaml_fragment(),
        }

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Save a PNG: per measured signal, measured vs predicted, and the residual."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = max(1, len(self.signals))
        fig, axes = plt.subplots(n, 2, figsize=(12, 2.8 * n), squeeze=False)
        for row, s in zip(axes, self.signals, strict=False):
            unit = f" [{s.unit}]" if s.unit else ""
            row[0].plot(s.time, s.measured, ".", ms=2, color="0.55", label="measured")
            row[0].plot(s.time, s.predicted, "-", lw=1.2, color="C0", label="predicted")
            row[0].set_ylabel(s.label + unit)
            row[0].legend(loc="upper right", fontsize="small")
            row[1].plot(s.time, s.residual, ".", ms=2, color="C3")
            row[1].axhline(0.0, color="k", lw=0.6)
            for k in (-2, 2):
                row[1].axhline(k * s.sigma, color="0.6", lw=0.6, ls="--")
            row[1].set_ylabel(f"residual{unit}")
            row[1].set_title(f"RMS {s.rms:.4g}, sigma {s.sigma:.4g}", fontsize="small")
        for ax in axes[-1]:
            ax.set_xlabel("time [s]")
        fitted = ", ".join(
            f"{n} = {_number(float(v))} ± {float(se):.2g}"
            for n, v, se in zip(self.names, self.values, self.std_errors, strict=True)
        )
        fig.suptitle(fitted, fontsize="medium")
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out


def _number(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else str(x)


# ============================================================================ one simulation
@dataclass(frozen=True)
class ReplayJob:
    """Everything one offline run needs except the parameter values (picklable)."""

    system_path: str
    start: float  # s
    stop: float  # s, start + n_steps * step
    watch: tuple[str, ...]  # measured labels: predictions are read for these
    drive: tuple[str, ...]  # replayed inputs
    drive_steps: np.ndarray  # (n_steps + 1, n_drive): value from step k on; NaN = keep start
    times: np.ndarray  # the recorded rows' times at which predictions are wanted


class _Replay:
    """Manipulator: writes the recorded driven inputs into their slots, step by step."""

    def __init__(self, labels: Sequence[str], steps: np.ndarray) -> None:
        self.labels = list(labels)
        self.steps = steps
        self.current = np.zeros(len(labels))
        self._view: Any = None

    def simulation_initialized(self, execution: Any) -> None:
        self._view = execution.input_view(self.labels)
        self._view.read(self.current)  # start values (the first recorded value, if any)

    def before_step(self, step: int, tick: int) -> None:
        row = self.steps[min(step, len(self.steps) - 1)]
        ok = np.isfinite(row)
        if ok.any():
            self.current[ok] = row[ok]
            self._view.write(self.current)


class _Predictions:
    """Observer: the measured labels' model values after initialization and each step."""

    def __init__(self, labels: Sequence[str], n_rows: int) -> None:
        self.labels = list(labels)
        self.values = np.full((n_rows, len(labels)), math.nan)
        self.k = 0
        self._reader: Any = None

    def simulation_initialized(self, execution: Any) -> None:
        from cosim.engine.readers import SignalReader

        self._reader = SignalReader(execution, self.labels)
        self._read()

    def step_complete(self, step: int, tick: int) -> None:
        self._read()

    def _read(self) -> None:
        if self.k < len(self.values):
            self._reader.read(self.values[self.k])
        self.k += 1


_SYSTEMS: dict[tuple[Any, ...], Any] = {}  # per process (and thread): the offline System
_LOCK = threading.Lock()


def offline_system(path: str, start: float, stop: float, watch: Sequence[str]) -> Any:
    """The System of `path` for an offline replay: start/stop as given, no opcua/plant
    sections, no pacing, recording exactly `watch` every step. Cached per process and thread."""
    from cosim.api import System

    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    key = (path, stamp, start, stop, tuple(watch), threading.get_ident())
    with _LOCK:
        system = _SYSTEMS.get(key)
    if system is not None:
        return system
    base = System.from_file(path)
    spec = base.spec
    extra = {k: v for k, v in spec.extra.items() if k not in ("opcua", "plant")}
    refs = tuple(VarRef(*label.split(".", 1)) for label in watch)
    spec = replace(
        spec,
        simulation=replace(spec.simulation, start=float(start), stop=float(stop), realtime=None),
        record=RecordSpec(variables=refs, interval=None, loc=spec.record.loc),
        extra=extra,
        opcua=None,
        plant=None,
    )
    system = System.from_spec(spec)
    with _LOCK:
        if len(_SYSTEMS) > 8:
            _SYSTEMS.clear()
        _SYSTEMS[key] = system
    return system


def predict(job: ReplayJob, parameters: Mapping[str, float]) -> np.ndarray:
    """Run the system once with `parameters` (start values) and the replayed inputs; the
    measured labels' predictions at `job.times` (rows x labels). Raises on a model failure."""
    system = offline_system(job.system_path, job.start, job.stop, job.watch)
    n_steps = round((system.stop - system.start) / system.step)
    replay = _Replay(job.drive, job.drive_steps)
    out = _Predictions(job.watch, n_steps + 1)
    with system.execution(
        memory=False,
        observers=[out],
        manipulators=[replay] if job.drive else [],
        inputs=job.drive,
    ) as sim:
        for label, value in parameters.items():
            sim.set(label, float(value))
        first = job.drive_steps[0] if len(job.drive_steps) else ()
        for label, value in zip(job.drive, first, strict=False):
            if math.isfinite(value):
                sim.set(label, float(value))  # the first recorded value is the start value
        sim.initialize()
        sim.run_until()
    if out.k < n_steps + 1:
        raise SimulationError(f"the run ended at t = {sim.time:g} s, before t = {job.stop:g} s")
    grid = system.start + system.step * np.arange(n_steps + 1)
    return np.column_stack(
        [np.interp(job.times, grid, out.values[:, j]) for j in range(len(job.watch))]
    )


def predict_job(job: ReplayJob, parameters: Mapping[str, float]) -> tuple[str, Any]:
    """`predict` for an executor: ("ok", array) or ("error", message) — never raises, so
    errors cross process boundaries as plain text."""
    try:
        return "ok", predict(job, parameters)
    except ConfigError as exc:
        return "config", str(exc)
    except Exception as exc:  # an FMU or the engine refused this parameter set
        text = str(exc) or type(exc).__name__
        return "error", f"{type(exc).__name__}: {text}"


# ============================================================================ inputs
def _names(params: str | Iterable[str]) -> list[str]:
    items = params.split(",") if isinstance(params, str) else list(params)
    names = [str(p).strip() for p in items if str(p).strip()]
    if not names:
        raise ConfigError(Problem(Location("--params"), "no parameter to fit"))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(Problem(Location("--params"), f"{twice[0]} is listed twice"))
    return names


def _lookup(system: Any, label: str, what: str, where: str) -> tuple[Any, Any]:
    """(ResolvedComponent, VariableInfo) of "comp.var", or ConfigError with a did-you-mean."""
    from cosim.io.locate import did_you_mean

    comps = {c.name: c for c in system.resolved.components}
    name, dot, var = label.partition(".")
    if not dot or not var:
        raise ConfigError(Problem(Location(where), f"{what} {label!r} is not component.variable"))
    comp = comps.get(name)
    if comp is None:
        close = did_you_mean(name, comps)
        also = f" (did you mean {close}.{var}?)" if close else f" (components: {', '.join(comps)})"
        raise ConfigError(
            Problem(Location(where), f"unknown {what} {label}: no component {name!r}{also}")
        )
    info = comp.variables.get(var)
    if info is None:
        close = did_you_mean(var, comp.variables)
        also = f" (did you mean {name}.{close}?)" if close else ""
        raise ConfigError(
            Problem(
                Location(where), f"unknown {what} {label}: {name} has no variable {var!r}{also}"
            )
        )
    return comp, info


def _model_bounds(comp: Any, var: str) -> tuple[float, float]:
    md = comp.model_description
    for v in getattr(md, "modelVariables", None) or ():
        if v.name == var:
            return _float(getattr(v, "min", None), -math.inf), _float(
                getattr(v, "max", None), math.inf
            )
    return -math.inf, math.inf


def _float(x: Any, default: float) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return default
    return value if not math.isnan(value) else default


def _parameters(
    system: Any,
    names: list[str],
    bounds: Mapping[str, tuple[float | None, float | None]] | None,
    start: Mapping[str, float] | None,
) -> tuple[np.ndarray, list[tuple[float, float]], list[str]]:
    """Start values, bounds and units of the parameters to fit (ConfigError if unfit)."""
    x0, bnds, units = [], [], []
    for label in names:
        comp, info = _lookup(system, label, "parameter", "--params")
        if info.causality != "parameter" or info.variability not in ("tunable", "fixed"):
            raise ConfigError(
                Problem(
                    Location("--params"),
                    f"{label} is a {info.variability} {info.causality}, not a tunable or fixed "
                    "parameter",
                )
            )
        if info.kind != "real":
            raise ConfigError(
                Problem(
                    Location("--params"), f"{label} is {info.fmi_type}: only real parameters fit"
                )
            )
        lo, hi = _model_bounds(comp, info.name)
        if label in (bounds or {}):
            ulo, uhi = bounds[label]  # type: ignore[index]
            lo = -math.inf if ulo is None else float(ulo)
            hi = math.inf if uhi is None else float(uhi)
        if not lo < hi:
            raise ConfigError(Problem(Location("--bounds"), f"{label}: empty bounds {lo:g}:{hi:g}"))
        current = comp.spec.parameters.get(info.name, info.start)
        value = _float((start or {}).get(label, current), math.nan)
        if not math.isfinite(value):
            raise ConfigError(
                Problem(Location("--start"), f"{label} has no numeric start value; give --start")
            )
        if not lo <= value <= hi:
            raise ConfigError(
                Problem(
                    Location("--start"),
                    f"{label}: the start value {value:g} is outside its bounds {lo:g}:{hi:g}",
                )
            )
        x0.append(value)
        bnds.append((lo, hi))
        units.append(info.unit or "")
    for label in bounds or {}:
        if label not in names:
            raise ConfigError(Problem(Location("--bounds"), f"{label} is not in --params"))
    for label in start or {}:
        if label not in names:
            raise ConfigError(Problem(Location("--start"), f"{label} is not in --params"))
    return np.array(x0, dtype=float), bnds, units


def _roles(system: Any, rec: Recording, names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Driven, measured and ignored labels of the recording, checked against the system."""
    comps = {c.name: c for c in system.resolved.components}
    by_index = system.resolved.components
    connected = {
        f"{by_index[c.target_component].name}.{c.target.name}" for c in system.resolved.connections
    }
    drive, watch, ignored = [], [], []
    for label, sig in rec.signals.items():
        name, _, var = label.partition(".")
        comp = comps.get(name)
        info = comp.variables.get(var) if comp is not None else None
        if info is None:
            if sig.role == "drive":
                _lookup(system, label, "driven input", rec.source or "--data")  # raises
            ignored.append(label)
            continue
        drivable = info.causality == "input" or (
            info.causality == "parameter" and info.variability == "tunable"
        )
        role = sig.role or ("drive" if drivable else "watch")
        if role == "watch" and info.causality not in ("output", "local"):
            if sig.role is None:
                ignored.append(label)  # a CSV column of a parameter: not a measurement
                continue
            raise ConfigError(
                Problem(
                    Location(rec.source or "--data"),
                    f"{label} is recorded as measured (watch), but it is a {info.causality} of "
                    "the system; only outputs and locals can be compared",
                )
            )
        if role == "drive":
            if not drivable:
                raise ConfigError(
                    Problem(
                        Location(rec.source or "--data"),
                        f"{label} is recorded as driven, but it is a {info.causality} of the "
                        "system, not an input or tunable parameter",
                    )
                )
            if label in connected:
                raise ConfigError(
                    Problem(
                        Location(rec.source or "--data"),
                        f"{label} is recorded as driven, but a connection drives it in the system",
                    )
                )
            if label in names:
                raise ConfigError(
                    Problem(Location("--params"), f"{label} is replayed from the data: not fitted")
                )
            drive.append(label)
        else:
            watch.append(label)
    return drive, watch, ignored


def estimate_sigma(values: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Noise standard deviation from the data alone, robust to the signal and to outliers:
    MAD of the second differences of consecutive valid samples x 1.4826 / sqrt(6).

    For white noise e, e[k+1] - 2 e[k] + e[k-1] has variance 6 sigma^2; second differences
    cancel a locally linear signal, and the median absolute deviation ignores the few
    samples near a step. NaN if fewer than 3 consecutive valid samples.
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(x))
    run = ok[2:] & ok[1:-1] & ok[:-2]
    if not run.any():
        return math.nan
    d2 = (x[2:] - 2.0 * x[1:-1] + x[:-2])[run]
    mad = float(np.median(np.abs(d2 - np.median(d2))))
    if mad == 0.0:  # quantized or noise-free: the plain standard deviation, then nothing
        return float(np.std(d2)) / math.sqrt(6.0)
    return _MAD_TO_SIGMA * mad / math.sqrt(6.0)


def _window(
    window: tuple[float | None, float | None] | None, time: np.ndarray
) -> tuple[float, float]:
    lo, hi = (None, None) if window is None else window
    a = float(time[0]) if lo is None else float(lo)
    b = float(time[-1]) if hi is None else float(hi)
    if not (math.isfinite(a) and math.isfinite(b)) or not a < b:
        raise ConfigError(Problem(Location("--window"), f"empty window {a:g}:{b:g}"))
    if b < time[0] or a > time[-1]:
        raise ConfigError(
            Problem(
                Location("--window"),
                f"the window {a:g}:{b:g} s is outside the recording ({time[0]:g} to "
                f"{time[-1]:g} s)",
            )
        )
    return a, b


def _drive_steps(rec: Recording, drive: list[str], grid: np.ndarray, h: float) -> np.ndarray:
    """Sample and hold: per step start, the latest valid recorded value at or before it."""
    out = np.full((grid.size, len(drive)), math.nan)
    for j, label in enumerate(drive):
        sig = rec.signals[label]
        t, v = rec.time[sig.valid], sig.values[sig.valid]
        k = np.searchsorted(t, grid + 1e-6 * h, side="right") - 1
        have = k >= 0
        out[have, j] = v[k[have]]
    return out


# ============================================================================ the fit
class _Serial(Executor):
    """Runs jobs in the calling thread (jobs=1): no processes, no pickling."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _Problem:
    """The residual function: simulations through the executor, the Jacobian alongside."""

    def __init__(
        self,
        job: ReplayJob,
        names: list[str],
        measured: np.ndarray,
        masks: np.ndarray,
        weights: np.ndarray,
        bounds: list[tuple[float, float]],
        x0: np.ndarray,
        executor: Executor,
    ) -> None:
        self.job, self.names = job, names
        self.measured, self.masks, self.weights = measured, masks, weights
        self.lo = np.array([b[0] for b in bounds])
        self.hi = np.array([b[1] for b in bounds])
        typical = np.abs(np.asarray(x0, dtype=float))
        width = self.hi - self.lo
        fallback = np.where(np.isfinite(width), width, 1.0)
        self.typical = np.where(typical > 0, typical, fallback)
        self.executor = executor
        self.simulations = 0
        self._cache: dict[bytes, tuple[np.ndarray, np.ndarray | None]] = {}
        self.last_predictions: np.ndarray | None = None

    def _steps(self, x: np.ndarray) -> np.ndarray:
        h = FD_STEP * np.maximum(np.abs(x), self.typical)
        return np.where(x + h <= self.hi, h, -h)  # backward at an upper bound

    def _run(self, points: list[np.ndarray]) -> list[np.ndarray]:
        params = [dict(zip(self.names, (float(v) for v in p), strict=True)) for p in points]
        self.simulations += len(points)
        results = list(self.executor.map(predict_job, [self.job] * len(points), params))
        out = []
        for p, (kind, value) in zip(params, results, strict=True):
            if kind == "config":
                raise ConfigError(value)
            if kind != "ok":
                at = ", ".join(f"{k} = {v:.6g}" for k, v in p.items())
                raise SimulationError(f"the model failed at {at}: {value}")
            if not np.all(np.isfinite(value[self.masks])):
                at = ", ".join(f"{k} = {v:.6g}" for k, v in p.items())
                raise SimulationError(f"the model predicted a non-finite value at {at}")
            out.append(value)
        return out

    def residual_of(self, predicted: np.ndarray) -> np.ndarray:
        r = (self.measured - predicted) * self.weights
        return r[self.masks]  # column-major over (rows, signals) as the masks select

    def _evaluate(self, x: np.ndarray, with_jacobian: bool) -> tuple[np.ndarray, np.ndarray | None]:
        key = np.asarray(x, dtype=float).tobytes()
        hit = self._cache.get(key)
        if hit is not None and (hit[1] is not None or not with_jacobian):
            return hit
        steps = self._steps(x)
        points = [np.array(x, dtype=float)]
        if with_jacobian:
            for j in range(len(x)):
                p = np.array(x, dtype=float)
                p[j] += steps[j]
                points.append(p)
        runs = self._run(points)
        f0 = self.residual_of(runs[0])
        jac = None
        if with_jacobian:
            jac = np.column_stack(
                [(self.residual_of(r) - f0) / steps[j] for j, r in enumerate(runs[1:])]
            )
        self._cache = {key: (f0, jac)}
        self.last_predictions = runs[0]
        return f0, jac

    def fun(self, x: np.ndarray) -> np.ndarray:
        # the Jacobian columns run alongside (n + 1 jobs at once): free with n + 1 workers
        return self._evaluate(x, with_jacobian=True)[0]

    def jac(self, x: np.ndarray) -> np.ndarray:
        jac = self._evaluate(x, with_jacobian=True)[1]
        assert jac is not None
        return jac


def _covariance(jac: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors and correlation: cov = s^2 (J^T J)^-1, s^2 = SSR / (m - n)."""
    m, n = jac.shape
    dof = m - n
    s2 = float(residual @ residual) / dof if dof > 0 else math.nan
    jtj = jac.T @ jac
    try:
        if np.linalg.cond(jtj) > 1e14:
            raise np.linalg.LinAlgError
        cov = np.linalg.inv(jtj) * s2
    except np.linalg.LinAlgError:  # not identifiable from these data
        return np.full(n, math.inf), np.full((n, n), math.nan)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    np.fill_diagonal(corr, 1.0)
    return se, corr


def calibrate(
    system_path: str | os.PathLike[str],
    data: str | os.PathLike[str] | Recording,
    params: str | Sequence[str],
    *,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    sigma: Mapping[str, float] | None = None,
    window: tuple[float | None, float | None] | None = None,
    start: Mapping[str, float] | None = None,
    executor: Executor | None = None,
    jobs: int | None = None,
    max_nfev: int = MAX_NFEV,
) -> Calibration:
    """Fit `params` ("comp.var", tunable or fixed real parameters) of the system in
    `system_path` to `data` (a twin results.h5, a CSV, or a Recording) by least squares.

    `bounds`: label -> (lo, hi) (None = open; default the variable's min/max); `sigma`:
    label -> noise standard deviation of a measured signal (default: estimated, see
    estimate_sigma); `window`: (start, stop) seconds of the rows to fit (the run still starts
    at the recording's start); `start`: label -> start value (default: the system's value).
    `executor`: where the simulations run (only `map` is used, with the top-level
    `predict_job`); default a ProcessPoolExecutor of `jobs` workers (default
    min(n_params + 1, cpu count)); `jobs=1` runs them in this thread.

    ConfigError on bad input; SimulationError if the model fails during the fit.
    """
    from scipy.optimize import least_squares

    from cosim.api import System

    path = Path(system_path)
    if not path.is_file():
        raise ConfigError(Problem(Location(str(path)), "no such system file"))
    rec = data if isinstance(data, Recording) else read_recording(data)
    system = System.from_file(path)
    names = _names(params)
    x0, bnds, units = _parameters(system, names, bounds, start)
    drive, watch, ignored = _roles(system, rec, names)
    if not watch:
        have = ", ".join(rec.labels) or "none"
        raise ConfigError(
            Problem(
                Location(rec.source or "--data"),
                f"no measured signal of system {system.name!r} in the data (recorded: {have}); "
                "name an output or local variable of the system, e.g. act.i_motor",
            )
        )
    for label in sigma or {}:
        if label not in watch:
            raise ConfigError(
                Problem(Location("--sigma"), f"{label} is not a measured signal of the data")
            )

    a, b = _window(window, rec.time)
    rows = (rec.time >= a - 1e-12) & (rec.time <= b + 1e-12)
    masks = np.column_stack([rec.signals[w].valid & rows for w in watch])
    if not masks.any(axis=0).all():
        empty = [w for w, ok in zip(watch, masks.any(axis=0), strict=True) if not ok]
        raise ConfigError(
            Problem(Location("--window"), f"no valid sample of {', '.join(empty)} in {a:g}:{b:g} s")
        )
    m = int(masks.sum())
    if m <= len(names):
        raise ConfigError(
            Problem(Location(rec.source or "--data"), f"{m} samples cannot fit {len(names)} values")
        )
    sigmas, estimated = [], []
    for w in watch:
        sig = rec.signals[w]
        given = (sigma or {}).get(w)
        s = float(given) if given is not None else estimate_sigma(sig.values, sig.valid & rows)
        if not (math.isfinite(s) and s > 0):
            raise ConfigError(
                Problem(
                    Location("--sigma"),
                    f"cannot estimate the noise of {w} (got {s:g}); give it: --sigma {w}=VALUE",
                )
            )
        sigmas.append(s)
        estimated.append(given is None)

    h = system.step
    t0 = float(rec.time[0])
    last = float(rec.time[rows][-1])
    n_steps = max(1, math.ceil((last - t0) / h - 1e-9))
    t0 = round(t0 * TICKS_PER_SECOND) / TICKS_PER_SECOND
    grid = t0 + h * np.arange(n_steps + 1)
    times = rec.time[rows]
    job = ReplayJob(
        system_path=str(path.resolve()),
        start=t0,
        stop=t0 + n_steps * h,
        watch=tuple(watch),
        drive=tuple(drive),
        drive_steps=_drive_steps(rec, drive, grid, h),
        times=times,
    )
    measured = np.column_stack([rec.signals[w].values[rows] for w in watch])
    masks = masks[rows]
    weights = 1.0 / np.array(sigmas)

    own = executor is None and (jobs or 0) != 1
    if executor is None:
        workers = jobs or min(len(names) + 1, os.cpu_count() or 1)
        executor = _Serial() if workers == 1 else ProcessPoolExecutor(max_workers=workers)
    problem = _Problem(job, names, measured, masks, weights, bnds, x0, executor)
    try:
        lo = np.array([x[0] for x in bnds])
        hi = np.array([x[1] for x in bnds])
        # a start on a bound would give trf a trust region of ~0 (it scales with |x0|)
        inside = np.clip(x0, lo + 0.01 * problem.typical, hi - 0.01 * problem.typical)
        inside = np.where((x0 <= lo) | (x0 >= hi), inside, x0)
        fit = least_squares(
            problem.fun,
            np.clip(inside, lo, hi),
            jac=problem.jac,
            bounds=(lo, hi),
            method="trf",
            x_scale=problem.typical,
            max_nfev=max_nfev,
        )
        f, jac = problem._evaluate(fit.x, with_jacobian=True)
        predicted = problem.last_predictions
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    assert predicted is not None and jac is not None
    se, corr = _covariance(jac, f)
    fits = []
    for j, w in enumerate(watch):
        mask = masks[:, j]
        fits.append(
            SignalFit(
                label=w,
                unit=rec.signals[w].unit or _unit(system, w),
                time=times[mask],
                measured=measured[mask, j],
                predicted=predicted[mask, j],
                sigma=sigmas[j],
                sigma_estimated=estimated[j],
            )
        )
    return Calibration(
        names=names,
        values=np.asarray(fit.x, dtype=float),
        std_errors=se,
        correlation=corr,
        cost=0.5 * float(f @ f),
        n_residuals=m,
        nfev=int(fit.nfev),
        converged=bool(fit.status > 0),
        message=str(fit.message),
        rms={s.label: s.rms for s in fits},
        start=x0,
        bounds=bnds,
        units=units,
        signals=fits,
        driven=drive,
        ignored=ignored,
        window=(a, b),
        simulations=problem.simulations,
        status=int(fit.status),
    )


def _unit(system: Any, label: str) -> str:
    name, _, var = label.partition(".")
    return (system.variables(name)[var].unit or "") if name in system.components else ""


__all__ = [
    "Calibration",
    "ReplayJob",
    "SignalFit",
    "calibrate",
    "estimate_sigma",
    "offline_system",
    "predict",
    "predict_job",
    "read_recording",
]
