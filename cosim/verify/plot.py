"""Plot recorded signals of one or more result files with matplotlib: units on the axes, overlays.

Figures are built with matplotlib's object API (no pyplot, no global state) and saved through
the Agg renderer, so plotting works headless in CI. Long signals are thinned to at most
``max_points`` per line with a min/max decimation that keeps every peak visible.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from cosim.errors import ConfigError, Problem
from cosim.results.signals import SignalSet, is_glob, matches

MAX_POINTS = 4000
_STYLES = ("-", "--", ":", "-.")


def axis_label(name: str, unit: str) -> str:
    """``name [unit]``; a signal without a declared unit shows ``[-]``."""
    return f"{name} [{unit or '-'}]" if name else f"[{unit or '-'}]"


def plain_ticks(ax: Axes) -> None:
    """Tick labels show the values themselves: no "+2.981e2" offset above the axis (a signal
    riding on 298 K reads 298.1, not 0.0001 + an offset); a power-of-ten factor for very large
    or small values stays."""
    for axis in (ax.xaxis, ax.yaxis):
        fmt = ScalarFormatter(useOffset=False)
        axis.set_major_formatter(fmt)


def decimate(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, ...]:
    """At most about max_points samples of (t, y) keeping each bin's min and max, in time order."""
    n = t.shape[0]
    if n <= max_points:
        return t, y
    bins = max(1, max_points // 2)
    size = -(-n // bins)
    bins = -(-n // size)  # every bin holds at least one real sample
    pad = bins * size - n
    yy = (
        np.concatenate((y, np.full(pad, np.nan))).reshape(bins, size)
        if pad
        else y.reshape(bins, size)
    )
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(yy)
        i_min = np.argmin(np.where(finite, yy, np.inf), axis=1)
        i_max = np.argmax(np.where(finite, yy, -np.inf), axis=1)
    base = np.arange(bins) * size
    idx = np.sort(np.concatenate((base + i_min, base + i_max)))
    idx = np.unique(np.minimum(idx, n - 1))
    return t[idx], y[idx]


def file_labels(sources: Sequence[str]) -> list[str]:
    """Short, distinct labels for files: the file name, with parent folders added until unique."""
    parts = [Path(s).parts or (s,) for s in sources]
    for depth in range(1, max((len(p) for p in parts), default=1) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return list(sources)


def plot_signals(
    sets: Sequence[SignalSet],
    patterns: Sequence[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    by: Literal["unit", "signal"] = "unit",
    title: str | None = None,
    max_points: int = MAX_POINTS,
) -> Figure:
    """Plot the matching signals of every set (overlaid) and save to output if given.

    patterns: exact names or fnmatch globs; None plots every signal. by="unit" puts all signals
    that share a unit on one subplot, by="signal" gives each signal its own. Raises ConfigError
    when a pattern matches no signal in any file.
    """
    if not sets:
        raise ConfigError(Problem(None, "no result files to plot"))
    if by not in ("unit", "signal"):
        raise ConfigError(Problem(None, f"by must be 'unit' or 'signal', got {by!r}"))
    names: list[str] = []
    for s in sets:
        names += [n for n in s.select(patterns) if n not in names]
    problems = [
        Problem(
            None,
            f"{'no signal matches' if is_glob(p) else 'no signal named'} {p!r} in "
            + ", ".join(s.source for s in sets),
            hint=f"available: {', '.join(_all_names(sets)[:8]) or 'none'}",
        )
        for p in patterns or []
        if not any(matches(n, p) for n in names)
    ]
    if problems:
        raise ConfigError(problems)
    if not names:
        raise ConfigError(Problem(None, "nothing to plot: the result files hold no signals"))

    units = {n: next((s.unit(n) for s in sets if n in s.values and s.unit(n)), "") for n in names}
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(units[n] if by == "unit" else n, []).append(n)

    labels = file_labels([s.source for s in sets])
    fig = Figure(figsize=(10, max(3.0, 2.6 * len(groups) + 0.8)), layout="constrained")
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    colors = [f"C{i % 10}" for i in range(len(names))]
    for ax, group in zip(axes, groups.values(), strict=True):
        for n in group:  # one color per signal, one line style per file
            for k, (s, label) in enumerate(zip(sets, labels, strict=True)):
                if n not in s.values:
                    continue
                t, y = decimate(s.time, s.values[n], max_points)
                legend = n if len(sets) == 1 else f"{n} ({label})"
                style = _STYLES[k % len(_STYLES)]
                ax.plot(t, y, style, color=colors[names.index(n)], label=legend, linewidth=1.0)
        unit = units[group[0]]
        ax.set_ylabel(axis_label(group[0] if len(group) == 1 else "", unit))
        plain_ticks(ax)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("time [s]")
    if title:
        fig.suptitle(title)
    if output is not None:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
    return fig


def _all_names(sets: Sequence[SignalSet]) -> list[str]:
    return list(dict.fromkeys(n for s in sets for n in (*s.available, *s.names)))


__all__ = ["MAX_POINTS", "axis_label", "decimate", "file_labels", "plain_ticks", "plot_signals"]
