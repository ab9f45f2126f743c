"""Benchmark: study throughput on this machine, against a hand-written multiprocessing loop.

It runs the same N cases of the EV ECE-15 system (systems/ev_ece15.yaml: one 195 s urban
cycle; the cases vary the vehicle mass and the gear ratio, a Latin hypercube) with:

    multiprocessing, 1 / 2 processes   the floor: a Pool whose workers load the system once
                                       and run `with_parameters(...).simulate()` per case,
                                       returning the final state of charge
    cosim.sweep, 1 / 2 local processes the study executor (journal off: in memory)
    cosim.sweep, 2-worker Dask         a LocalCluster of 2 single-threaded worker processes

and prints runs/s (median of --repeat), the speed-up of 2 against 1, and the overhead per run
against the floor with the same number of processes: (t_cosim - t_floor) / N.

    python bench/sweep.py [--runs 1000] [--repeat 1] [--stop 195]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = ROOT / "systems" / "ev_ece15.yaml"

_system = None


def _init(stop: float) -> None:
    global _system
    import cosim

    _system = cosim.load(SYSTEM).with_stop(stop)


def _one(case: tuple[float, float]) -> float:
    assert _system is not None
    res = _system.with_parameters({"vehicle.m": case[0], "vehicle.G": case[1]}).simulate()
    return float(res["battery.SOC"][-1])


def _chunk(cases: list[tuple[float, float]]) -> list[float]:
    return [_one(c) for c in cases]


def floor(cases: list[tuple[float, float]], processes: int, stop: float) -> float:
    """Wall seconds of the hand-written loop (pool start-up included, as for the study)."""
    t0 = time.perf_counter()
    if processes == 1:
        _init(stop)
        for case in cases:
            _one(case)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes, initializer=_init, initargs=(stop,)) as pool:
            # the same batches as the study's executors (guided, at most 16 runs)
            from cosim.study.executor import batches

            chunks = batches(list(enumerate(cases)), processes)
            pool.map(_chunk, [[c for _, c in chunk] for chunk in chunks], chunksize=1)
    return time.perf_counter() - t0


def study(design, executor, stop: float) -> float:
    import cosim

    t0 = time.perf_counter()
    frame = cosim.sweep(
        SYSTEM, design, qoi={"soc": "final(battery.SOC)"}, stop=stop, executor=executor
    )
    wall = time.perf_counter() - t0
    bad = frame[frame["status"] != "completed"]
    if len(bad):
        raise SystemExit(f"{len(bad)} runs failed: {bad['error'].iloc[0]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stop", type=float, default=195.0)
    args = parser.parse_args()

    import pandas as pd
    from scipy.stats import qmc

    from cosim.study.executor import DaskExecutor, LocalExecutor

    u = qmc.LatinHypercube(d=2, seed=1).random(args.runs)
    mass, gear = 1200.0 + 600.0 * u[:, 0], 7.0 + 4.0 * u[:, 1]
    cases = list(zip(mass.tolist(), gear.tolist(), strict=True))
    design = pd.DataFrame({"vehicle.m": mass, "vehicle.G": gear})

    def median(run) -> float:
        return statistics.median(run() for _ in range(args.repeat))

    rows = []
    print(f"{args.runs} runs of {SYSTEM.name} to t = {args.stop:g} s, median of {args.repeat}")
    print("| executor | processes | wall (s) | runs/s | speed-up | overhead per run (ms) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    floors = {}
    for n in (1, 2):
        floors[n] = median(lambda n=n: floor(cases, n, args.stop))
        rows.append(("multiprocessing (floor)", n, floors[n], floors[1] / floors[n], None))
        print(_row(rows[-1], args.runs), flush=True)
    for n in (1, 2):
        wall = median(lambda n=n: study(design, LocalExecutor(n), args.stop))
        rows.append(("cosim.sweep, local", n, wall, None, (wall - floors[n]) / args.runs))
        print(_row(rows[-1], args.runs, rows), flush=True)
    dask = DaskExecutor(None, 2)
    try:
        wall = median(lambda: study(design, dask, args.stop))
    finally:
        dask.close()
    rows.append(("cosim.sweep, Dask LocalCluster", 2, wall, None, (wall - floors[2]) / args.runs))
    print(_row(rows[-1], args.runs, rows), flush=True)
    return 0


def _row(row, runs: int, rows=None) -> str:
    name, n, wall, speedup, overhead = row
    if speedup is None and rows is not None:
        one = next((r[2] for r in rows if r[0] == "cosim.sweep, local" and r[1] == 1), wall)
        speedup = one / wall
    over = f"{overhead * 1e3:.2f}" if overhead is not None else ""
    return f"| {name} | {n} | {wall:.1f} | {runs / wall:.1f} | {speedup:.2f} | {over} |"


if __name__ == "__main__":
    sys.exit(main())
