"""Plot a twin run's /twin groups of results.h5 in one figure: panels stacked on one time axis.

Panels, top to bottom, each only when its data exist::

    watched signals   measured (thin, transparent) vs predicted (the recorded /signals value)
    residuals         measured - predicted, one panel per unit
    monitors          filtered indicator, warning/alarm levels dashed, its alarm spans shaded
    estimates         mean with +-1 sigma band (and a lighter +-3 sigma band), truth if recorded
    forecasts         predicted crossing time (median, 90 % interval) vs the time it was made,
                      the "now" diagonal, the true crossing when known

Warning and alarm spans (from each monitor's state array, else from the /twin/alarms table) are
shaded on every panel, lightly, so the story lines up across panels; on a monitor's own panel
they are darker. Span patches carry a gid ``"span:<level>:<monitor>"`` so tests and tools can
find them. Everything is read defensively: missing groups, empty tables, NaN-only forecasts and
ragged arrays give fewer panels, never a traceback.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from cosim.errors import ConfigError, Location, Problem
from cosim.results.signals import matches
from cosim.verify.plot import axis_label, decimate, plain_ticks

STATE_LEVELS = {1: "warning", 2: "alarm"}  # /twin/monitors/<name>/state: 0 normal
SPAN_COLORS = {"warning": "tab:orange", "alarm": "tab:red"}
OWN_ALPHA = {"warning": 0.18, "alarm": 0.35}  # a monitor's spans on its own panel
LIGHT_ALPHA = {"warning": 0.06, "alarm": 0.12}  # every span on every other panel
PANEL_HEIGHT = 2.1  # inches


# ----------------------------------------------------------------------------- the data
@dataclass
class Watched:
    name: str
    unit: str
    measured: np.ndarray  # on TwinData.time
    predicted_time: np.ndarray | None = None
    predicted: np.ndarray | None = None


@dataclass
class Monitor:
    name: str
    value: np.ndarray | None  # on TwinData.time
    state: np.ndarray | None
    indicator: str = ""
    warning: float = math.nan
    alarm: float = math.nan
    direction: str = "above"
    unit: str = ""


@dataclass
class Span:
    monitor: str
    level: str  # "warning" | "alarm"
    start: float
    end: float


@dataclass
class Estimate:
    name: str
    time: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    unit: str = ""
    method: str = ""
    members: int = 0
    rate_mean: np.ndarray | None = None
    rate_std: np.ndarray | None = None
    truth_time: np.ndarray | None = None
    truth: np.ndarray | None = None


@dataclass
class Forecast:
    name: str
    time: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    horizon: np.ndarray | None = None
    crossed: np.ndarray | None = None
    target: str = ""
    true_crossing: float = math.nan


@dataclass
class TwinData:
    """What /twin of one results.h5 holds that the twin plot shows."""

    source: str
    time: np.ndarray | None = None
    watched: list[Watched] = field(default_factory=list)
    residuals: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)
    monitors: list[Monitor] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    estimates: list[Estimate] = field(default_factory=list)
    forecasts: list[Forecast] = field(default_factory=list)


def read_twin(path: str | os.PathLike[str], signals: Sequence[str] | None = None) -> TwinData:
    """Read the /twin groups of a results.h5; ConfigError if it is unreadable or has no /twin.

    signals: names or globs restricting the watched signals and residuals (ConfigError when a
    pattern matches none of them).
    """
    import h5py

    p = Path(path)
    if p.is_dir():
        raise ConfigError(Problem(Location(str(p)), "is a directory, expected a results.h5"))
    if not p.is_file():
        raise ConfigError(Problem(Location(str(p)), "no such results file"))
    try:
        f = h5py.File(p, "r")
    except OSError as err:
        msg = f"{p} is not a readable HDF5 file ({str(err).splitlines()[0][:120]})"
        raise ConfigError(Problem(None, msg)) from err
    with f:
        tw = f.get("twin")
        if not isinstance(tw, h5py.Group):
            raise ConfigError(Problem(None, f"{p} has no /twin group: it is not from a twin run"))
        data = TwinData(str(p))
        try:
            data.time = _vector(tw.get("time"))
            _read_watched(tw, data)
            _read_residuals(tw, data)
            _select(data, signals)
            _read_monitors(tw, data)
            _read_estimates(tw, data)
            _read_forecasts(tw, data)
        except (OSError, KeyError, ValueError, TypeError) as err:
            msg = f"{p}: cannot read /twin ({type(err).__name__}: {err})"
            raise ConfigError(Problem(None, msg)) from err
    if data.watched:
        _read_predicted(p, data)
    return data


def _vector(obj: Any) -> np.ndarray | None:
    """A 1-D float array from a numeric dataset, else None."""
    import h5py

    if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "fiub" or obj.ndim != 1:
        return None
    return np.asarray(obj[()], dtype=np.float64)


def _strings(obj: Any) -> list[str] | None:
    import h5py

    if not isinstance(obj, h5py.Dataset) or obj.ndim != 1:
        return None
    return [v.decode() if isinstance(v, bytes) else str(v) for v in obj[()]]


def _attr(attrs: Any, key: str, default: str = "") -> str:
    value = attrs.get(key, default)
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _float_attr(attrs: Any, key: str) -> float:
    try:
        return float(attrs.get(key, math.nan))
    except (TypeError, ValueError):
        return math.nan


def _on_rows(values: np.ndarray | None, time: np.ndarray | None) -> np.ndarray | None:
    """values cut to the twin's row count (a ragged array keeps its common part)."""
    if values is None or time is None:
        return None
    return values[: time.shape[0]]


def _groups(tw: Any, name: str) -> list[tuple[str, Any]]:
    import h5py

    group = tw.get(name)
    if not isinstance(group, h5py.Group):
        return []
    return [(key, group[key]) for key in group if isinstance(group[key], h5py.Group)]


def _read_watched(tw: Any, data: TwinData) -> None:
    for name, g in _groups(tw, "inputs"):
        measured = _on_rows(_vector(g.get("value")), data.time)
        if _attr(g.attrs, "role") == "watch" and measured is not None:
            data.watched.append(Watched(name, _attr(g.attrs, "unit"), measured))


def _read_residuals(tw: Any, data: TwinData) -> None:
    import h5py

    group = tw.get("residuals")
    if not isinstance(group, h5py.Group):
        return
    for name in group:
        values = _on_rows(_vector(group[name]), data.time)
        if values is not None:
            data.residuals[name] = (values, _attr(group[name].attrs, "unit"))


def _select(data: TwinData, signals: Sequence[str] | None) -> None:
    if not signals:
        return
    names = [w.name for w in data.watched] + list(data.residuals)
    missing = [p for p in signals if not any(matches(n, p) for n in names)]
    if missing:
        raise ConfigError(
            [
                Problem(
                    None,
                    f"no watched signal or residual matches {p!r} in {data.source}",
                    hint=f"available: {', '.join(dict.fromkeys(names)) or 'none'}",
                )
                for p in missing
            ]
        )
    data.watched = [w for w in data.watched if any(matches(w.name, p) for p in signals)]
    data.residuals = {
        n: r for n, r in data.residuals.items() if any(matches(n, p) for p in signals)
    }


def _read_predicted(path: Path, data: TwinData) -> None:
    """The predicted value of each watched signal: its recorded signal in /signals."""
    from cosim.results.signals import read_signals

    try:
        recorded = read_signals(path, [w.name for w in data.watched])
    except ConfigError:
        return  # no /signals or /time: measured values only
    for w in data.watched:
        if w.name in recorded.values:
            w.predicted_time, w.predicted = recorded.time, recorded.values[w.name]


def _read_monitors(tw: Any, data: TwinData) -> None:
    for name, g in _groups(tw, "monitors"):
        state = _on_rows(_vector(g.get("state")), data.time)
        monitor = Monitor(
            name,
            _on_rows(_vector(g.get("value")), data.time),
            state,
            indicator=_attr(g.attrs, "indicator"),
            warning=_float_attr(g.attrs, "warning"),
            alarm=_float_attr(g.attrs, "alarm"),
            direction=_attr(g.attrs, "direction", "above"),
            unit=_attr(g.attrs, "unit"),
        )
        data.monitors.append(monitor)
        if state is not None and data.time is not None:
            data.spans += state_spans(data.time[: state.shape[0]], state, name)
    with_state = {s.monitor for s in data.spans} | {
        m.name for m in data.monitors if m.state is not None
    }
    data.spans += [s for s in _table_spans(tw) if s.monitor not in with_state]


def state_spans(time: np.ndarray, state: np.ndarray, monitor: str = "") -> list[Span]:
    """Runs of equal warning/alarm state: each from its first row's time to the time of the
    first row after it (the run's end: its last row's time)."""
    spans: list[Span] = []
    n = min(time.shape[0], state.shape[0])
    if n == 0:
        return spans
    level = np.where(np.isfinite(state[:n]), state[:n], 0).astype(np.int64)
    edges = np.flatnonzero(np.diff(level)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [n]))
    for a, b in zip(starts, ends, strict=True):
        name = STATE_LEVELS.get(int(level[a]))
        if name is not None:
            spans.append(Span(monitor, name, float(time[a]), float(time[min(b, n - 1)])))
    return spans


def _table_spans(tw: Any) -> list[Span]:
    """Spans from the /twin/alarms event table: each "raised" to its "cleared" (or the end)."""
    import h5py

    table = tw.get("alarms")
    if not isinstance(table, h5py.Group):
        return []
    time = _vector(table.get("time"))
    monitor, level, event = (_strings(table.get(k)) for k in ("monitor", "level", "event"))
    if time is None or monitor is None or level is None or event is None:
        return []
    end = float(np.nanmax(time)) if time.size and np.isfinite(time).any() else math.nan
    run_end = _vector(tw.get("time"))
    if run_end is not None and run_end.size:
        end = float(np.nanmax(run_end))
    open_at: dict[tuple[str, str], float] = {}
    spans: list[Span] = []
    for t, m, lv, ev in sorted(zip(time, monitor, level, event, strict=False)):
        key = (m, lv)
        if ev == "raised" and key not in open_at:
            open_at[key] = float(t)
        elif ev == "cleared" and key in open_at:
            spans.append(Span(m, lv, open_at.pop(key), float(t)))
    spans += [Span(m, lv, t0, max(end, t0)) for (m, lv), t0 in open_at.items()]
    return [s for s in spans if s.level in SPAN_COLORS and math.isfinite(s.start)]


def _same_length(*arrays: np.ndarray | None) -> int:
    return min(a.shape[0] for a in arrays if a is not None)


def _read_estimates(tw: Any, data: TwinData) -> None:
    for name, g in _groups(tw, "estimates"):
        t, mean, std = (_vector(g.get(k)) for k in ("time", "mean", "std"))
        if t is None or mean is None:
            continue
        std = std if std is not None else np.full_like(mean, np.nan)
        rate_mean, rate_std = _vector(g.get("rate_mean")), _vector(g.get("rate_std"))
        n = _same_length(t, mean, std)
        truth_t, truth = _vector(g.get("truth_time")), _vector(g.get("truth"))
        if truth_t is not None and truth is not None:
            k = _same_length(truth_t, truth)
            truth_t, truth = truth_t[:k], truth[:k]
        else:
            truth_t = truth = None
        try:
            members = int(g.attrs.get("members", 0))
        except (TypeError, ValueError):
            members = 0
        data.estimates.append(
            Estimate(
                name,
                t[:n],
                mean[:n],
                std[:n],
                unit=_attr(g.attrs, "unit"),
                method=_attr(g.attrs, "method"),
                members=members,
                rate_mean=rate_mean,
                rate_std=rate_std,
                truth_time=truth_t,
                truth=truth,
            )
        )


def _read_forecasts(tw: Any, data: TwinData) -> None:
    for name, g in _groups(tw, "forecasts"):
        t, median = _vector(g.get("time")), _vector(g.get("median"))
        if t is None or median is None:
            continue
        low, high = _vector(g.get("low")), _vector(g.get("high"))
        low = low if low is not None else np.full_like(median, np.nan)
        high = high if high is not None else np.full_like(median, np.nan)
        horizon, crossed = _vector(g.get("horizon")), _vector(g.get("crossed"))
        n = _same_length(t, median, low, high, horizon, crossed)
        data.forecasts.append(
            Forecast(
                name,
                t[:n],
                median[:n],
                low[:n],
                high[:n],
                horizon=horizon[:n] if horizon is not None else None,
                crossed=crossed[:n] if crossed is not None else None,
                target=_attr(g.attrs, "target"),
                true_crossing=_float_attr(g.attrs, "true_crossing"),
            )
        )


# ----------------------------------------------------------------------------- the figure
def plot_twin(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None,
    *,
    title: str | None = None,
    signals: Sequence[str] | None = None,
) -> Figure:
    """One figure of a twin run's results.h5, panels on a shared time axis; saved to output.

    signals: names or globs restricting the watched-signal and residual panels. Raises
    ConfigError when the file has no /twin group or /twin holds nothing to plot.
    """
    data = read_twin(path, signals)
    panels = _panels(data)
    if not panels:
        raise ConfigError(
            Problem(
                None,
                f"{data.source}: /twin holds nothing to plot (no watched inputs, residuals, "
                "monitors, estimates or forecasts)",
            )
        )
    fig = Figure(figsize=(10, PANEL_HEIGHT * len(panels) + 1.0), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (draw, own) in zip(axes, panels, strict=True):
        proxies = _shade(ax, data.spans, own)
        draw(ax)
        plain_ticks(ax)
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        handles += proxies
        labels += [str(p.get_label()) for p in proxies]
        if handles:
            ax.legend(handles, labels, loc="best", fontsize="x-small")
    axes[-1].set_xlabel("time [s]")
    _set_time_range(axes[-1], data)
    fig.suptitle(title or f"twin run: {Path(data.source).name}")
    if output is not None:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
    return fig


Panel = tuple[Any, str | None]  # (draw(ax), the monitor whose spans are drawn darker)


def _panels(data: TwinData) -> list[Panel]:
    panels: list[Panel] = []
    time = data.time
    if time is not None:
        panels += [
            (lambda ax, w=w: _draw_watched(ax, time, w), None)
            for w in data.watched
            if w.measured.size
        ]
        by_unit: dict[str, list[str]] = {}
        order = {w.name: k for k, w in enumerate(data.watched)}  # residuals as their signals
        names = sorted(data.residuals, key=lambda n: order.get(n, len(order)))
        for name in names:
            values, unit = data.residuals[name]
            if not values.size:
                continue
            by_unit.setdefault(unit, []).append(name)
        panels += [
            (lambda ax, names=names, unit=unit: _draw_residuals(ax, time, data, names, unit), None)
            for unit, names in by_unit.items()
        ]
        panels += [
            (lambda ax, m=m: _draw_monitor(ax, time, m), m.name)
            for m in data.monitors
            if m.value is not None and m.value.size
        ]
    panels += [(lambda ax, e=e: _draw_estimate(ax, e), None) for e in data.estimates if e.time.size]
    panels += [(lambda ax, f=f: _draw_forecast(ax, f), None) for f in data.forecasts if f.time.size]
    return panels


def _line(ax: Axes, t: np.ndarray, y: np.ndarray, *args: Any, **kwargs: Any) -> None:
    n = min(t.shape[0], y.shape[0])
    tt, yy = decimate(t[:n], y[:n])
    ax.plot(tt, yy, *args, **kwargs)


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text, fontsize="small", loc="left")


def _draw_watched(ax: Axes, time: np.ndarray, w: Watched) -> None:
    _line(ax, time, w.measured, color="C0", lw=0.7, alpha=0.45, label="measured")
    if w.predicted is not None and w.predicted_time is not None:
        _line(ax, w.predicted_time, w.predicted, color="C1", lw=1.4, label="predicted (twin)")
    _title(ax, f"{w.name}: measured vs predicted")
    ax.set_ylabel(axis_label(w.name, w.unit))


def _draw_residuals(
    ax: Axes, time: np.ndarray, data: TwinData, names: list[str], unit: str
) -> None:
    for k, name in enumerate(names):
        _line(ax, time, data.residuals[name][0], color=f"C{k % 10}", lw=0.9, label=name)
    ax.axhline(0.0, color="0.4", lw=0.6)
    _title(ax, "residuals (measured − predicted)")
    ax.set_ylabel(axis_label("residual", unit))


def _draw_monitor(ax: Axes, time: np.ndarray, m: Monitor) -> None:
    assert m.value is not None
    _line(ax, time, m.value, color="C2", lw=1.1, label=m.indicator or "indicator")
    for level in ("warning", "alarm"):
        y = getattr(m, level)
        if math.isfinite(y):
            ax.axhline(y, color=SPAN_COLORS[level], ls="--", lw=1.0, label=f"{level} {y:g}")
    sense = "rises above" if m.direction == "above" else "falls below"
    _title(ax, f"monitor {m.name}: {m.indicator or 'indicator'} (alarm when it {sense})")
    ax.set_ylabel(axis_label(m.name, m.unit))


def _draw_estimate(ax: Axes, e: Estimate) -> None:
    lo3, hi3 = e.mean - 3 * e.std, e.mean + 3 * e.std
    lo1, hi1 = e.mean - e.std, e.mean + e.std
    ax.fill_between(e.time, lo3, hi3, color="C4", alpha=0.12, lw=0, label="±3σ", gid="band:3")
    ax.fill_between(e.time, lo1, hi1, color="C4", alpha=0.3, lw=0, label="±σ", gid="band:1")
    ax.plot(e.time, e.mean, color="C4", lw=1.3, label="estimate (mean)")
    if e.truth is not None and e.truth_time is not None:
        ax.plot(e.truth_time, e.truth, "k--", lw=1.0, label="truth")
    how = f"{e.method}, {e.members} members" if e.method else f"{e.members} members"
    text = f"estimate {e.name} ({how})"
    if e.rate_mean is not None and e.rate_mean.size and np.isfinite(e.rate_mean[-1]):
        rate = f"{e.rate_mean[-1]:.3g}"
        if e.rate_std is not None and e.rate_std.size and np.isfinite(e.rate_std[-1]):
            rate += f" ± {e.rate_std[-1]:.2g}"
        text += f", trend {rate} {e.unit or '-'}/s"
    _title(ax, text)
    ax.set_ylabel(axis_label(e.name, e.unit))


def _draw_forecast(ax: Axes, f: Forecast) -> None:
    ax.axline((0.0, 0.0), slope=1.0, color="0.5", lw=0.8, ls=":", label="now")
    ok = np.isfinite(f.low) & np.isfinite(f.high)
    if ok.any():
        ax.vlines(
            f.time[ok], f.low[ok], f.high[ok], color="C3", lw=2.0, alpha=0.6,
            label="90 % interval", gid="interval",
        )  # fmt: skip
    if np.isfinite(f.median).any():
        ax.plot(f.time, f.median, "o-", color="C3", ms=4, lw=1.0, label="median crossing")
    if f.horizon is not None:  # most members do not cross: beyond the horizon
        beyond = ~np.isfinite(f.median) & np.isfinite(f.horizon)
        if beyond.any():
            ax.plot(
                f.time[beyond], f.time[beyond] + f.horizon[beyond], "^", mfc="none",
                color="C3", label="no crossing within horizon",
            )  # fmt: skip
    if math.isfinite(f.true_crossing):
        ax.axhline(f.true_crossing, color="k", lw=1.0, ls="--", label="true crossing")
    values = [f.median, f.low, f.high, np.array([f.true_crossing]), f.time]  # "now" in view
    if f.horizon is not None:
        values.append(f.time + f.horizon)
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.05 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
    _title(ax, f"forecast {f.name}: {f.target or 'crossing time'}")
    ax.set_ylabel("crossing at [s]")


def _shade(ax: Axes, spans: list[Span], own: str | None) -> list[Patch]:
    """Every span lightly; the panel's own monitor's spans darker; their legend entries."""
    for span in spans:
        mine = span.monitor == own
        alpha = (OWN_ALPHA if mine else LIGHT_ALPHA)[span.level]
        ax.axvspan(
            span.start, span.end, color=SPAN_COLORS[span.level], alpha=alpha, lw=0,
            gid=f"span:{span.level}:{span.monitor}", zorder=0,
        )  # fmt: skip
    return [
        Patch(color=SPAN_COLORS[level], alpha=OWN_ALPHA[level], label=level)
        for level in ("warning", "alarm")
        if own is not None and any(s.monitor == own and s.level == level for s in spans)
    ]


def _set_time_range(ax: Axes, data: TwinData) -> None:
    """x from the earliest to the latest time of any row-, estimate- or forecast-time."""
    times = [data.time] + [e.time for e in data.estimates] + [f.time for f in data.forecasts]
    finite = [t[np.isfinite(t)] for t in times if t is not None and t.size]
    finite = [t for t in finite if t.size]
    if finite:
        lo = min(float(t.min()) for t in finite)
        hi = max(float(t.max()) for t in finite)
        if hi > lo:
            ax.set_xlim(lo, hi)


__all__ = ["Span", "TwinData", "plot_twin", "read_twin", "state_spans"]
