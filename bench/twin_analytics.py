"""Benchmark: the predicting twin's detection delay, false alarms, estimate, RUL and speed.

Offline runs of systems/ema_degradation_twin.yaml against systems/ema_degradation_plant.yaml
(the real plant simulator stepped in the twin's loop, cosim.twin.runner.TwinRun with plant=),
varied from the shipped files the way tests/test_twin_analytics.py varies them. One table:

  1 detection delay   wear ramp from t_f (fault_origin: start) at 0.05/s, friction monitor
                      only; first "friction alarm raised" - t_f (and the warning) over plant
                      noise seeds, next to the derived bound s* + min_duration + 2 dt, where
                      k (s* - tau (1 - exp(-s*/tau))) = L, k = 0.9 * 1.25 A * rate
  2 false alarms      healthy noisy runs (no fault), friction + CUSUM monitors: warnings and
                      alarms raised per simulated hour
  3 estimate          the shipped twin + plant: RMS and max |mean - truth| from ramp start
                      + 5 s, fraction of updates with the truth inside mean +- 3 sigma
  4 RUL               the forecasts made at 12, 16 and 20 s of the same runs (the wear ramps
                      from 5 s and crosses 0.8 at 25 s): |median - true crossing of 0.8| and
                      whether [low, high] holds it (NaN high = +inf)
  5 real-time margin  wall time per 10 ms step of the whole twin loop (twin + ensemble +
                      filter + in-loop plant) at 20 and 50 members; baseline: the same loop
                      without the estimate section; the plant FMU's share from a plain run
  6 forecast speed    simulated / wall seconds of a 30 s forecast over the 20-member ensemble;
                      baseline: a plain Simulation of one Actuator over the same span

Rows 1-4 are deterministic (seeded, offline, forecasts inline) and run in --jobs worker
processes; rows 5-6 are timings and run afterwards in this process, one at a time.

    python bench/twin_analytics.py                 # 5 seeds, 1 healthy hour: ~3-5 min, 2 cores
    python bench/twin_analytics.py --quick --json  # < 60 s
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cosim.errors import ConfigError, CosimError  # noqa: E402

SYSTEMS = ROOT / "systems"
TWIN = SYSTEMS / "ema_degradation_twin.yaml"
PLANT = SYSTEMS / "ema_degradation_plant.yaml"
DT = 0.01  # the twin's and the plant's communication step
# Actuator physics (see tests/test_twin_analytics.py): wear w adds T_c0 k_wear_c w / k_t
# = 1.25 w amperes while the surface moves; |tanh| averages at least 0.9 over the sine
AMPS_PER_WEAR = 0.1 * 5.0 / 0.4
MOVING = 0.9
T_FAULT, RATE = 7.3, 0.05  # row 1: fault onset (off the 4 s command period) and wear rate
FORECAST_AT = (12.0, 16.0, 20.0)  # row 4
END_OF_LIFE = 0.8


class BenchError(Exception):
    """A run did not complete: reported as one line, no traceback."""


Shipped = tuple[dict[str, Any], dict[str, Any]]  # the twin's and the plant's YAML, as read


# ============================================================================ runs
def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def twin_run(tmp: Path, twin: dict, plant: dict, name: str) -> tuple[Any, Path]:
    """Run `twin` against `plant` offline in this process; (TwinResult, results.h5)."""
    from cosim.api import System
    from cosim.twin.runner import TwinRun

    t, p = tmp / f"{name}_twin.yaml", tmp / f"{name}_plant.yaml"
    t.write_text(yaml.safe_dump(twin, sort_keys=False))
    p.write_text(yaml.safe_dump(plant, sort_keys=False))
    out = tmp / f"{name}.h5"
    result = TwinRun(System.from_file(t).spec, out, plant=System.from_file(p).spec).run()
    if result.status != "completed":
        raise BenchError(f"{name}: run {result.status}: {result.error}")
    return result, out


def friction_only(twin: dict, stop: float) -> dict:
    """The degradation twin with only its friction monitor (no estimator, no forecast)."""
    twin = dict(twin)
    twin["simulation"] = {**twin["simulation"], "stop": stop}
    twin["monitors"] = [m for m in twin["monitors"] if m["name"] == "friction"]
    twin.pop("estimate")
    twin.pop("forecast")
    return twin


def events(path: Path) -> list[tuple[str, str, str, float]]:
    import h5py

    with h5py.File(path) as f:
        al = f["twin/alarms"]
        return list(
            zip(
                al["monitor"].asstr()[:],
                al["level"].asstr()[:],
                al["event"].asstr()[:],
                (float(x) for x in al["time"][:]),
                strict=True,
            )
        )


def quiet() -> None:
    """Monitor messages and forecasts are logged at INFO/WARNING: not the bench's output."""
    logging.disable(logging.WARNING)


def job_delay(shipped: Shipped, seed: int) -> dict[str, float]:
    """Row 1: one noise seed; alarm and warning delays after the fault onset."""
    quiet()
    twin, plant = copy.deepcopy(shipped)
    twin = friction_only(twin, stop=T_FAULT + 16.0)
    plant["plant"]["noise"]["seed"] = seed
    plant["plant"]["fault_origin"] = "start"
    plant["plant"]["faults"] = [
        {"at": T_FAULT, "ramp": {"act.wear": {"to": 1.0, "over": 1 / RATE}}}
    ]
    with tempfile.TemporaryDirectory(prefix="cosim_bench_") as tmp:
        _, path = twin_run(Path(tmp), twin, plant, f"delay{seed}")
        ev = events(path)
    out = {}
    for level in ("warning", "alarm"):
        raised = [t for m, lvl, e, t in ev if (m, lvl, e) == ("friction", level, "raised")]
        out[level] = raised[0] - T_FAULT if raised else math.nan
    out["early"] = float(any(t < T_FAULT for *_, t in ev))
    return out


def drift_monitor(sigma: float) -> dict[str, Any]:
    """The CUSUM monitor of the healthy-run test: |r| against its healthy mean."""
    return {
        "name": "drift",
        "residual": "act.i_motor",
        "transform": "abs",
        "filter": "cusum",
        "target": sigma * math.sqrt(2 / math.pi),
        "drift": 0.02,
        "warning": 1.0,
    }


def job_healthy(shipped: Shipped, seed: int, minutes: float) -> dict[str, float]:
    """Row 2: a healthy noisy run; raised events and the monitors' peaks."""
    import h5py

    quiet()
    twin, plant = copy.deepcopy(shipped)
    sigma = float(plant["plant"]["noise"]["signals"]["act.i_motor"])
    plant["plant"]["noise"]["seed"] = seed
    plant["plant"]["faults"] = []
    twin = friction_only(twin, stop=60.0 * minutes)
    twin["monitors"].append(drift_monitor(sigma))
    with tempfile.TemporaryDirectory(prefix="cosim_bench_") as tmp:
        result, path = twin_run(Path(tmp), twin, plant, f"healthy{seed}")
        ev = events(path)
        with h5py.File(path) as f:
            t = f["twin/time"][:]
            peak = {
                name: float(np.nanmax(f[f"twin/monitors/{name}/value"][:][t > 5.0]))
                for name in ("friction", "drift")
            }
    return {
        "hours": result.stats.simulated_time / 3600.0,
        "raised": float(sum(1 for _, _, e, _ in ev if e == "raised")),
        "friction_peak": peak["friction"],
        "drift_peak": peak["drift"],
    }


def job_degradation(shipped: Shipped, k: int, every: float) -> dict[str, Any]:
    """Rows 3-4: the shipped twin and plant, estimate seed 3 + k and noise seed 1 + k."""
    import h5py

    quiet()
    twin, plant = copy.deepcopy(shipped)
    twin["estimate"]["seed"] = int(twin["estimate"]["seed"]) + k
    plant["plant"]["noise"]["seed"] = int(plant["plant"]["noise"]["seed"]) + k
    twin["forecast"]["every"] = every
    with tempfile.TemporaryDirectory(prefix="cosim_bench_") as tmp:
        _, path = twin_run(Path(tmp), twin, plant, f"deg{k}")
        with h5py.File(path) as f:
            e = f["twin/estimates/act.wear"]
            t, mean, std = e["time"][:], e["mean"][:], e["std"][:]
            tt, truth = e["truth_time"][:], e["truth"][:]
            fc = f["twin/forecasts/end_of_life"]
            made, med, low, high = (fc[x][:] for x in ("time", "median", "low", "high"))
    ramp = float(tt[np.argmax(truth > 0)] - DT)
    after = t >= ramp + 5.0
    err = np.abs(mean - np.interp(t, tt, truth))[after]
    if not (truth >= END_OF_LIFE).any():
        raise BenchError(f"deg{k}: the recorded wear never reached {END_OF_LIFE}")
    cross = float(tt[np.argmax(truth >= END_OF_LIFE)])
    rul = []
    for want in FORECAST_AT:
        i = int(np.argmin(np.abs(made - want)))
        lo = math.inf if math.isnan(low[i]) else float(low[i])  # past the horizon
        hi = math.inf if math.isnan(high[i]) else float(high[i])
        m = float(med[i])
        rul.append(
            {
                "made_at": float(made[i]),
                "error": abs(m - cross) if math.isfinite(m) else math.inf,
                "covered": float(lo <= cross <= hi),
            }
        )
    return {
        "rms": float(np.sqrt(np.mean(err**2))),
        "max": float(err.max()),
        "coverage": float(np.mean(err <= 3 * std[after])),
        "updates": int(after.sum()),
        "ramp": ramp,
        "cross": cross,
        "rul": rul,
    }


# ============================================================================ timings
def time_loop(shipped: Shipped, tmp: Path, members: int | None, stop: float, name: str) -> float:
    """Wall seconds per communication step of the twin loop (None: no estimate section)."""
    twin, plant = copy.deepcopy(shipped)
    twin["simulation"]["stop"] = stop
    twin.pop("forecast")
    if members is None:
        twin.pop("estimate")
        twin["monitors"] = [m for m in twin["monitors"] if "estimate" not in m]
    else:
        twin["estimate"]["members"] = members
    result, _ = twin_run(tmp, twin, plant, name)
    return result.stats.wall_time / result.stats.steps


def actuator(shipped: Shipped, stop: float) -> Any:
    """One Actuator with the plant's parameters, a plain run (the baseline FMU alone)."""
    from cosim.api import System

    params = dict(shipped[1]["components"]["act"]["parameters"])
    params["delta_cmd"] = 0.1
    data = {
        "name": "actuator_alone",
        "simulation": {"stop": stop, "step": DT},
        "components": {"act": {"fmu": "Actuator", "parameters": params}},
        "record": {"variables": ["act.i_motor"]},
    }
    return System.from_dict(data)


def time_plain(shipped: Shipped, stop: float) -> float:
    """Wall seconds of the step loop of a plain Actuator run to `stop` (no results file)."""
    with actuator(shipped, stop).execution(memory=False) as sim:
        sim.initialize()
        sim.run_until(stop)
    return sim.stats.wall_time


def time_forecasts(
    shipped: Shipped, tmp: Path, count: int
) -> tuple[list[float], float, int, float]:
    """`count` forecasts of the shipped horizon over the 20-member ensemble, made every 2 s;
    a target that never crosses keeps every member simulating to the full horizon.
    (wall seconds of each, horizon, members, simulated seconds of the last one)."""
    import h5py

    twin, plant = copy.deepcopy(shipped)
    twin["simulation"]["stop"] = 2.0 * count + 0.5
    twin["forecast"]["every"] = 2.0
    twin["forecast"]["targets"].append(
        {"name": "never", "variable": "act.T_winding", "above": 500.0}
    )
    result, path = twin_run(tmp, twin, plant, "forecast")
    with h5py.File(path) as f:
        g = f["twin/forecasts/never"]
        walls = [float(x) for x in g["wall_time"][:]]
        horizon = float(g["horizon"][0])
        members = int(f["twin/estimates/act.wear"].attrs["members"])
    return walls, horizon, members, float(result.analytics["forecast"]["simulated"])


# ============================================================================ table
def s_star(level: float, tau: float, k: float) -> float:
    """The s solving k (s - tau (1 - exp(-s/tau))) = level (EWMA of a ramp k s from 0)."""
    from scipy.optimize import brentq

    return float(brentq(lambda s: k * (s - tau * (1 - math.exp(-s / tau))) - level, 1e-9, 1e3))


def spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    good = [x for x in xs if math.isfinite(x)]
    if not good:
        return "none"
    med = fmt.format(statistics.median(good))
    return f"{med} ({fmt.format(min(good))} .. {fmt.format(max(good))})"


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else math.nan


def finite(x: Any) -> Any:
    """`x` with every non-finite float as None (JSON has no NaN or infinity)."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def run_pool(jobs: int, calls: list[tuple[Any, tuple]]) -> list[Any]:
    if jobs <= 1:
        return [fn(*a) for fn, a in calls]
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        futures = [pool.submit(fn, *a) for fn, a in calls]
        return [f.result() for f in futures]
    finally:  # on a failed run: drop the runs not started yet, wait for the running ones
        pool.shutdown(wait=True, cancel_futures=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds, shorter runs (< 60 s)")
    parser.add_argument("--seeds", type=int, help="seeds for rows 1, 3, 4 (default 5; quick 3/1)")
    parser.add_argument("--healthy-runs", type=int, help="healthy runs (default 2; quick 1)")
    parser.add_argument(
        "--healthy-minutes", type=float, help="simulated minutes each (default 30; quick 10)"
    )
    parser.add_argument("--repeat", type=int, help="timing repeats, rows 5-6 (default 3; quick 1)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for rows 1-4")
    parser.add_argument("--json", action="store_true", help="also print every number as JSON")
    parser.add_argument("--twin", type=Path, default=TWIN, help="twin YAML (default: shipped)")
    parser.add_argument("--plant", type=Path, default=PLANT, help="plant YAML (default: shipped)")
    args = parser.parse_args(argv)
    q = args.quick

    def pick(given: Any, quick: Any, full: Any) -> Any:
        return given if given is not None else (quick if q else full)

    delay_seeds = pick(args.seeds, 3, 5)
    deg_seeds = pick(args.seeds, 1, 5)
    h_runs = pick(args.healthy_runs, 1, 2)
    h_min = pick(args.healthy_minutes, 10.0, 30.0)
    repeat = pick(args.repeat, 1, 3)
    every = 4.0 if q else 2.0  # forecasts at every multiple: 12, 16 and 20 exist
    loop_stop = 5.0 if q else 10.0
    for name, v in (
        ("--seeds", delay_seeds),
        ("--jobs", args.jobs),
        ("--healthy-runs", h_runs),
        ("--repeat", repeat),
    ):
        if v < 1:
            parser.error(f"{name} must be >= 1, got {v}")
    if not h_min > 0:
        parser.error(f"--healthy-minutes must be > 0, got {h_min:g}")

    quiet()
    try:
        shipped: Shipped = (load(args.twin), load(args.plant))  # read once, varied per run
    except (OSError, yaml.YAMLError) as exc:
        raise BenchError(f"reading the twin and plant: {exc}") from None
    twin = shipped[0]
    fr = next((m for m in twin.get("monitors") or [] if m.get("name") == "friction"), None)
    if fr is None:
        raise BenchError(f"{args.twin} has no monitor named friction (rows 1-2 use it)")
    tau, hold = float(fr["window"]), float(fr["min_duration"])
    k = MOVING * AMPS_PER_WEAR * RATE
    bound = {lvl: s_star(float(fr[lvl]), tau, k) + hold + 2 * DT for lvl in ("warning", "alarm")}

    command = ["python", "bench/twin_analytics.py", *(sys.argv[1:] if argv is None else argv)]
    print("cosim twin analytics bench:", " ".join(command))
    print(f"settings: delay seeds {delay_seeds}, healthy {h_runs} x {h_min:g} min, "
          f"degradation seeds {deg_seeds} (forecast every {every:g} s), timing repeats "
          f"{repeat}, loop runs {loop_stop:g} s, jobs {args.jobs}", flush=True)  # fmt: skip
    w0 = time.perf_counter()
    calls: list[tuple[Any, tuple]] = [(job_delay, (shipped, 1 + i)) for i in range(delay_seeds)]
    calls += [(job_healthy, (shipped, 100 + i, h_min)) for i in range(h_runs)]
    calls += [(job_degradation, (shipped, i, every)) for i in range(deg_seeds)]
    out = run_pool(args.jobs, calls)
    delays = out[:delay_seeds]
    healthy = out[delay_seeds : delay_seeds + h_runs]
    deg = out[delay_seeds + h_runs :]

    with tempfile.TemporaryDirectory(prefix="cosim_bench_") as tmp_name:
        tmp = Path(tmp_name)
        time_loop(shipped, tmp, 20, 1.0, "warmup")  # FMU unpacking, imports
        per_step: dict[str, list[float]] = {"none": [], "20": [], "50": [], "plant": []}
        for r in range(repeat):
            for key, members in (("none", None), ("20", 20), ("50", 50)):
                per_step[key].append(time_loop(shipped, tmp, members, loop_stop, f"loop{key}_{r}"))
            per_step["plant"].append(time_plain(shipped, loop_stop) / round(loop_stop / DT))
        walls, horizon, members, simulated = time_forecasts(shipped, tmp, max(repeat, 2))
        plain = [time_plain(shipped, horizon) for _ in range(repeat)]

    # ------------------------------------------------------------------ numbers
    settings = vars(args) | {"twin": str(args.twin), "plant": str(args.plant)}
    n: dict[str, Any] = {"settings": settings | {"every": every, "loop_stop": loop_stop}}
    n["delay"] = {
        lvl: {"values": [d[lvl] for d in delays], "bound": bound[lvl]}
        for lvl in ("warning", "alarm")
    }
    n["delay"]["early"] = sum(d["early"] for d in delays)
    hours = sum(h["hours"] for h in healthy)
    raised = sum(h["raised"] for h in healthy)
    n["false_alarms"] = {
        "hours": hours,
        "raised": raised,
        "per_hour": raised / hours,
        "rule_of_three": 3.0 / hours,  # 95 % upper bound on the rate when none is seen
        "friction_peak": max(h["friction_peak"] for h in healthy),
        "drift_peak": max(h["drift_peak"] for h in healthy),
    }
    n["estimate"] = {key: [d[key] for d in deg] for key in ("rms", "max", "coverage", "updates")}
    n["rul"] = [
        {
            "made_at": [d["rul"][j]["made_at"] for d in deg],
            "error": [d["rul"][j]["error"] for d in deg],
            "covered": [d["rul"][j]["covered"] for d in deg],
        }
        for j in range(len(FORECAST_AT))
    ]
    n["cross"] = [d["cross"] for d in deg]
    med = {key: median(v) for key, v in per_step.items()}
    n["loop"] = {key: {"per_step": v, "median": med[key]} for key, v in per_step.items()}
    fmed = median(walls)
    plain_med = median(plain)
    n["forecast"] = {
        "wall": walls,
        "horizon": horizon,
        "simulated": simulated,
        "members": members,
        "rtf": horizon / fmed,
        "rtf_per_member": horizon * members / fmed,
        "plain_wall": plain,
        "plain_rtf": horizon / plain_med,
    }
    n["bench_wall"] = time.perf_counter() - w0

    # ------------------------------------------------------------------ table
    rows: list[tuple[str, str, str, str]] = []
    for lvl in ("alarm", "warning"):
        vals = n["delay"][lvl]["values"]
        inside = sum(1 for v in vals if hold <= v <= bound[lvl])
        rows.append(
            (
                f"detection delay, friction {lvl}",
                spread(vals) + " s",
                f"<= {bound[lvl]:.2f} s (derived)",
                f"median (min .. max), {len(vals)} noise seeds; {inside}/{len(vals)} in "
                f"[{hold:g}, bound]; fault at {T_FAULT:g} s, wear {RATE:g}/s",
            )
        )
    fa = n["false_alarms"]
    rows.append(
        (
            "false alarms per simulated hour",
            f"{fa['per_hour']:.2f}",
            f"0 expected; < {fa['rule_of_three']:.1f} (95 %, none seen)",
            f"{raised:g} raised in {hours:.2f} h ({h_runs} healthy runs); peaks: friction "
            f"{fa['friction_peak']:.3f} A of 0.25, CUSUM {fa['drift_peak']:.3f} of 1",
        )
    )
    est = n["estimate"]
    rows.append(
        (
            "wear estimate RMS error",
            spread(est["rms"], "{:.4f}"),
            "",
            f"median (min .. max), {deg_seeds} seeds; t >= ramp + 5 s ({median(est['updates']):g}"
            " updates)",
        )
    )
    rows.append(("wear estimate max error", spread(est["max"], "{:.4f}"), "< 0.05 (test)", ""))
    rows.append(
        (
            "truth inside mean +- 3 sigma",
            spread([100 * c for c in est["coverage"]], "{:.1f}") + " %",
            ">= 95 % (test), 99.7 % nominal",
            "fraction of updates",
        )
    )
    for want, r in zip(FORECAST_AT, n["rul"], strict=True):
        made = sorted(set(r["made_at"]))
        cov = 100 * sum(r["covered"]) / len(r["covered"])
        rows.append(
            (
                f"RUL from ~{want:g} s, median error",
                spread(r["error"]) + " s",
                f"interval covers {cov:.0f} %",
                f"made at {', '.join(f'{m:g}' for m in made)} s; true crossing "
                f"{median(n['cross']):.2f} s; 90 % interval",
            )
        )
    base = med["none"]
    for key in ("20", "50"):
        m = med[key]
        rows.append(
            (
                f"real-time margin, {key} members",
                f"{DT / m:.1f}x ({1e3 * m:.3f} ms/step)",
                f"no estimate: {DT / base:.1f}x ({1e3 * base:.3f} ms/step)",
                f"estimator {1e3 * (m - base):.3f} ms/step; without the plant FMU "
                f"{DT / (m - med['plant']):.1f}x",
            )
        )
    rows.append(
        (
            "plant FMU alone, per step",
            f"{1e3 * med['plant']:.3f} ms",
            "",
            "plain run of the plant's Actuator, no results file; the margins include the whole "
            "in-loop plant (FMU + noise + faults); only this FMU share is subtracted where said",
        )
    )
    f6 = n["forecast"]
    rows.append(
        (
            "forecast speed (real-time factor)",
            f"{f6['rtf']:.1f}x ({f6['rtf_per_member']:.0f}x per member)",
            f"one Actuator: {f6['plain_rtf']:.0f}x",
            f"{f6['horizon']:g} s horizon ({f6['simulated']:g} s simulated), {f6['members']} "
            f"members, {len(walls)} forecasts, median {fmed:.2f} s wall",
        )
    )

    print()
    head = ("name", "value", "baseline/bound", "notes")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for r in [head, tuple("-" * w for w in widths) + ("-----",), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)), end="")
        print(f" | {r[3]} |")
    print(f"\nmargins: 10 ms / median wall time per step of the whole twin loop, in-loop plant "
          f"included; medians of {repeat} repeats of {loop_stop:g} s; bench wall time "
          f"{n['bench_wall']:.0f} s")  # fmt: skip
    if n["delay"]["early"]:
        print(f"warning: {n['delay']['early']:g} runs raised an alarm before the fault")
    if args.json:
        print(json.dumps(finite(n), allow_nan=False))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except CosimError as exc:  # e.g. a shipped file that no longer validates
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)
