"""Write a comparison Report as an HTML page with a PNG plot (reference, tube, result) per failure.

``write_report(report, result, reference, directory)`` writes ``directory/index.html`` and one
``NNN_<signal>.png`` next to it for every failing signal present on both sides; the page links
them with relative ``<img>`` tags, so the folder can be zipped or published as a CI artifact.
"""

from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from cosim.errors import ConfigError, Problem
from cosim.results.signals import SignalSet
from cosim.verify.compare import DEFAULT_TIME_TOL_FRACTION, Report, SignalVerdict, tube
from cosim.verify.plot import MAX_POINTS, axis_label, decimate, plain_ticks

_CSS = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; font-size: 0.9em; }
td.num { text-align: right; font-family: monospace; }
.pass { color: #1a7f37; font-weight: bold; }
.fail, .missing { color: #cf222e; font-weight: bold; }
section { margin-top: 2em; border-top: 1px solid #ddd; }
img { max-width: 100%; }
"""


def write_report(
    report: Report,
    result: SignalSet,
    reference: SignalSet,
    directory: str | os.PathLike[str],
) -> Path:
    """Write directory/index.html (+ PNGs for failing signals); returns the index.html path."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            Problem(None, f"cannot create report folder {out}: {err.strerror or err}")
        ) from err
    images: dict[str, str] = {}
    for i, v in enumerate(report.failures):
        if v.name in result.values and v.name in reference.values:
            file = f"{i:03d}_{_safe(v.name)}.png"
            _failure_figure(v, result, reference).savefig(out / file, dpi=90)
            images[v.name] = file
    index = out / "index.html"
    index.write_text(_html(report, images), encoding="utf-8")
    return index


# --------------------------------------------------------------------------- figure
def _failure_figure(v: SignalVerdict, res: SignalSet, ref: SignalSet) -> Figure:
    t_ref, y_ref = ref.time, ref.values[v.name]
    t_res, y_res = res.time, res.values[v.name]
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    ax_full, ax_zoom = fig.subplots(2, 1)
    span = (float(t_ref[0]), float(t_ref[-1]))
    t_star = v.max_excess_time if math.isfinite(v.max_excess_time) else v.first_failure_time
    half = max(10 * (v.time_tol if math.isfinite(v.time_tol) else 0.0), 0.02 * (span[1] - span[0]))
    windows = [(ax_full, span, "whole run")]
    if math.isfinite(t_star) and half > 0:
        windows.append((ax_zoom, (t_star - half, t_star + half), f"around t={t_star:.6g} s"))
    else:
        ax_zoom.set_visible(False)
    for ax, (a, b), what in windows:
        i0, i1 = np.searchsorted(t_ref, a, "left"), np.searchsorted(t_ref, b, "right")
        tr, yr = t_ref[i0:i1], y_ref[i0:i1]
        if tr.size and np.isfinite(y_ref).all():
            tb = tube(
                t_ref,
                y_ref,
                abs_tol=v.abs_tol,
                rel_tol=v.rel_tol,
                time_tol=v.time_tol if math.isfinite(v.time_tol) else 0.0,
                at=tr,
            )
            bt, lower, upper = _band_decimate(tr, tb.lower, tb.upper)
            ax.fill_between(bt, lower, upper, color="tab:blue", alpha=0.2, lw=0, label="tube")
        ax.plot(*decimate(tr, yr), color="tab:blue", lw=1.0, label="reference")
        j0, j1 = np.searchsorted(t_res, a, "left"), np.searchsorted(t_res, b, "right")
        ax.plot(*decimate(t_res[j0:j1], y_res[j0:j1]), color="tab:red", lw=1.0, label="result")
        if math.isfinite(v.max_excess_time) and a <= v.max_excess_time <= b:
            ax.axvline(v.max_excess_time, color="tab:red", ls=":", lw=0.8)
        ax.set_title(f"{v.name}: {what}", fontsize="medium")
        ax.set_ylabel(axis_label(v.name, v.unit))
        ax.set_xlabel("time [s]")
        plain_ticks(ax)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    return fig


def _band_decimate(t: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, ...]:
    """Thin a band for drawing; each bin keeps its lowest lower and highest upper edge."""
    n = t.shape[0]
    bins = MAX_POINTS // 2
    if n <= MAX_POINTS:
        return t, lower, upper
    edges = np.linspace(0, n, bins + 1).astype(np.intp)
    starts = edges[:-1]
    return t[starts], np.minimum.reduceat(lower, starts), np.maximum.reduceat(upper, starts)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "signal"


# --------------------------------------------------------------------------- HTML
def _num(x: float, fmt: str = ".4g") -> str:
    return format(x, fmt) if isinstance(x, float | int) and math.isfinite(x) else ""


def _html(report: Report, images: dict[str, str]) -> str:
    e = html.escape
    n_fail = len(report.failures)
    verdict = "PASS" if report.passed else "FAIL"
    rows = [
        "<tr>"
        f"<td class='{e(v.status)}'>{e(v.status.upper())}</td>"
        + (
            f"<td><a href='#{e(_safe(v.name))}'>{e(v.name)}</a></td>"
            if not v.passed
            else f"<td>{e(v.name)}</td>"
        )
        + f"<td>{e(v.unit)}</td>"
        f"<td class='num'>{_num(v.max_deviation)}</td>"
        f"<td class='num'>{_num(v.max_deviation_time, '.6g')}</td>"
        f"<td class='num'>{_num(v.band)}</td>"
        f"<td class='num'>{_num(v.time_tol)}</td>"
        f"<td>{e(v.reason)}</td>"
        "</tr>"
        for v in report.signals
    ]
    sections = []
    for v in report.failures:
        img = images.get(v.name)
        pic = (
            f"<img src='{e(img)}' alt='{e(v.name)}: reference, tube and result'>"
            if img
            else "<p>No plot: the signal is not present on both sides.</p>"
        )
        sections.append(
            f"<section id='{e(_safe(v.name))}'><h3>{e(v.name)}</h3>"
            f"<p class='{e(v.status)}'>{e(v.status.upper())}: {e(v.reason)}</p>{pic}</section>"
        )
    tol = report.tolerance
    extra = (
        f"<p>Only in the result (not checked): {e(', '.join(report.extra))}</p>"
        if report.extra
        else ""
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in report.notes)
    auto = (
        f" (automatic: {DEFAULT_TIME_TOL_FRACTION:g} of the reference's time span)"
        if tol.time_tol is None
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cosim compare: {verdict}</title>
<style>{_CSS}</style></head><body>
<h1>cosim compare: <span class='{verdict.lower()}'>{verdict}</span></h1>
<p>Result: <code>{e(report.result)}</code><br>Reference: <code>{e(report.reference)}</code></p>
<p>{len(report.signals)} signals, {len(report.signals) - n_fail} passed, {n_fail} failed.
Tolerances: abs_tol={_num(tol.abs_tol)}, rel_tol={_num(tol.rel_tol)} (of the reference's range
max - min, max|reference| for a flat signal), time_tol={_num(report.time_tol)} s{auto}.</p>
{extra}{f"<ul>{notes}</ul>" if notes else ""}
<table><tr><th>status</th><th>signal</th><th>unit</th><th>max |deviation|</th><th>at t [s]</th>
<th>band</th><th>time_tol [s]</th><th>reason</th></tr>
{"".join(rows)}
</table>
{"".join(sections)}
</body></html>
"""


__all__ = ["write_report"]
