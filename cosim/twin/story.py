"""The story of a predicting twin's run, told from its results.h5 (what `cosim demo` prints).

Five facts, each read back from the file: how the plant wore (its ground truth, when the run
recorded one), how the estimator tracked it, when the monitors raised alarms, what the
forecasts said about end of life, and what calibration over successive windows of the
recording says about the growth; plus the twin run's own summary.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def tell(
    results: str | Path,
    twin_yaml: str | Path,
    parameter: str | None = None,
    window: float = 10.0,
    *,
    show: bool = True,
) -> dict[str, Any]:
    """The twin summary of `results` with a `story` (and `calibration`) added; printed too
    when `show`. `parameter`: fitted over successive `window`-second windows of the run."""
    import h5py

    with h5py.File(results, "r") as f:
        summary = json.loads(f.attrs["twin"])
        tw = f["twin"]
        story: dict[str, Any] = {}
        t = tw["time"][:]
        truth = None
        if "estimates" in tw:
            for label, g in tw["estimates"].items():
                e = {
                    "final": float(g["mean"][-1]) if len(g["mean"]) else math.nan,
                    "std": float(g["std"][-1]) if len(g["std"]) else math.nan,
                }
                if "rate_mean" in g and len(g["rate_mean"]):
                    e["rate"] = float(g["rate_mean"][-1])
                if "truth" in g:
                    truth = (label, g["truth_time"][:], g["truth"][:])
                    e["truth_final"] = float(g["truth"][-1])
                story.setdefault("estimates", {})[label] = e
        if "alarms" in tw:
            a = tw["alarms"]
            story["alarms"] = [
                {"monitor": m, "level": lv, "event": ev, "time": float(x)}
                for m, lv, ev, x in zip(
                    a["monitor"].asstr()[:],
                    a["level"].asstr()[:],
                    a["event"].asstr()[:],
                    a["time"][:],
                    strict=True,
                )
            ]
        if "forecasts" in tw:
            for name, g in tw["forecasts"].items():
                rows = [
                    {"made_at": float(m), "median": float(md), "low": float(lo), "high": float(hi)}
                    for m, md, lo, hi in zip(
                        g["time"][:], g["median"][:], g["low"][:], g["high"][:], strict=True
                    )
                ]
                true = math.nan
                variable = str(g.attrs.get("variable", ""))
                if truth is not None and truth[0] == variable and "threshold" in g.attrs:
                    thr = float(g.attrs["threshold"])
                    above = str(g.attrs.get("direction", "above")) == "above"
                    hit = truth[2] >= thr if above else truth[2] <= thr
                    true = float(truth[1][np.argmax(hit)]) if hit.any() else math.nan
                story.setdefault("forecasts", {})[name] = {
                    "target": str(g.attrs.get("target", name)),
                    "true_crossing": true,
                    "forecasts": rows,
                }
        if truth is not None:
            ramp = truth[2] > truth[2][0]
            story["fault_start"] = float(truth[1][np.argmax(ramp)]) if ramp.any() else math.nan
        story["span"] = [float(t[0]), float(t[-1])] if len(t) else []
    if parameter is not None and len(t) and t[-1] - t[0] >= 2 * window:
        story["calibration"] = _calibrate(results, twin_yaml, parameter, window, t[0], t[-1])
    out = {**summary, "story": story}
    if show:
        _print(story)
    return out


def _calibrate(
    results: Any, twin_yaml: Any, parameter: str, window: float, t0: float, t1: float
) -> dict[str, Any]:
    """`parameter` fitted on each `window` seconds of the run, and the linear trend."""
    from cosim.errors import CosimError
    from cosim.twin.calibrate import calibrate

    fits = []
    a = t0
    while a + window <= t1 + 1e-9:
        try:
            c = calibrate(
                twin_yaml,
                results,
                [parameter],
                window=(a, a + window),
            )
        except CosimError as exc:
            return {"parameter": parameter, "error": str(exc), "windows": fits}
        value, err = float(c.values[0]), float(c.std_errors[0])
        fits.append(
            {
                "start": a,
                "stop": a + window,
                "value": value,
                "std_error": err,
                "converged": bool(c.converged),
            }
        )
        a += window
    out: dict[str, Any] = {"parameter": parameter, "windows": fits}
    moving = [w for w in fits if w["value"] > 1e-6]  # the windows after the growth began
    if len(moving) >= 2:
        x = np.array([(w["start"] + w["stop"]) / 2 for w in moving])
        y = np.array([w["value"] for w in moving])
        slope, icpt = np.polyfit(x, y, 1)
        out["rate"] = float(slope)
        out["onset"] = float(-icpt / slope) if slope > 0 else math.nan
    return out


def _print(s: dict[str, Any]) -> None:
    print("the story:")
    fault = s.get("fault_start", math.nan)
    for label, e in (s.get("estimates") or {}).items():
        if "truth_final" in e:
            print(
                f"  1. the plant wears: {label} grows from t = {fault:.3g} s, to "
                f"{e['truth_final']:.3g} at the end (its ground truth)"
            )
        line = (
            f"  2. the estimator tracks it: {label} = {e['final']:.3g} "
            f"+- {3 * e['std']:.2g} (3 sigma)"
        )
        if "rate" in e:
            line += f", growing {e['rate']:.3g} /s"
        print(line)
    raised = [a for a in s.get("alarms") or [] if a["event"] == "raised"]
    if raised:
        text = ", ".join(f"{a['monitor']} {a['level']} at t = {a['time']:.3g} s" for a in raised)
        print(f"  3. the monitors raise alarms: {text}")
    else:
        print("  3. the monitors raise no alarm")
    for fc in (s.get("forecasts") or {}).values():
        rows = [r for r in fc["forecasts"] if math.isfinite(r["median"])]
        true = fc["true_crossing"]
        if rows:
            # the last forecast made well ahead of the crossing (at least a fifth of the way)
            early = [r for r in rows if math.isfinite(true) and r["made_at"] < 0.8 * true]
            r = early[-1] if early else rows[0]
            hi = f"{r['high']:.3g}" if math.isfinite(r["high"]) else "beyond"
            line = (
                f"  4. the forecast at t = {r['made_at']:.3g} s: {fc['target']} at "
                f"t = {r['median']:.3g} s (90 % interval {r['low']:.3g} .. {hi} s)"
            )
            if math.isfinite(true):
                line += f"; it happened at t = {true:.3g} s"
            print(line)
        else:
            print(f"  4. the forecast: {fc['target']} not within the horizon")
    cal = s.get("calibration")
    if cal:
        fits = ", ".join(f"{w['value']:.3f}" for w in cal["windows"])
        line = f"  5. calibration, {cal['parameter']} per window: {fits}"
        if "rate" in cal:
            line += f": growth {cal['rate']:.3g} /s from t = {cal['onset']:.3g} s"
        print(line)


__all__ = ["tell"]
