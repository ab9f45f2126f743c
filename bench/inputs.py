"""Benchmark: the cost of input tables per communication step, against the same run without.

Each repetition runs, in turn (so a change of machine load hits them all), the bundled Gain
FMU for N communication steps, recording in memory:

  no table         the floor: the inputs keep their start values
  set() per step   the same inputs written by a Python loop through Simulation.set
  table, 2 inputs  `inputs:` with a CSV of N/10 rows: u linear, n_in previous value
  table, 8 inputs  eight Gains, one table of 8 columns (one manipulator write per step)

and prints the median wall time per step (µs) and the overhead per step against the floor.
The overhead includes the FMI set calls the floor does not make (its inputs are never set):
one fmi2SetReal and one fmi2SetInteger per step for the 2-input table.
It always exits 0: it measures, it does not judge.

    python bench/inputs.py [--steps 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cosim  # noqa: E402


def _system(folder: Path, steps: int, gains: int, table: bool) -> cosim.System:
    h = 1e-3
    stop = steps * h
    comps = {f"g{i}": {"fmu": "Gain"} for i in range(gains)}
    data: dict = {
        "simulation": {"stop": stop, "step": h},
        "components": comps,
        "record": {"variables": [f"g{i}.y" for i in range(gains)]},
    }
    if table:
        rows = max(2, steps // 10)
        t = np.linspace(0.0, stop, rows)
        if gains == 1:
            header, cols = "time,u,n", [np.sin(t), np.floor(5 * t)]
            mapping = {"u": "g0.u", "n": "g0.n_in"}
        else:
            header = "time," + ",".join(f"u{i}" for i in range(gains))
            cols = [np.sin(t + i) for i in range(gains)]
            mapping = {f"u{i}": f"g{i}.u" for i in range(gains)}
        path = folder / f"table_{gains}.csv"
        np.savetxt(path, np.column_stack([t, *cols]), delimiter=",", header=header, comments="")
        data["inputs"] = [{"file": str(path), "map": mapping}]
    return cosim.System.from_dict(data, base_dir=folder)


def _timed(system: cosim.System, per_step_set: bool = False) -> float:
    with system.execution(inputs=("g0.u",) if per_step_set else ()) as sim:
        sim.initialize()
        n = sim.plan.n_steps
        t0 = time.perf_counter()
        if per_step_set:
            for k in range(n):
                sim.set("g0.u", np.sin(k * 1e-3))
                sim.step()
        else:
            sim.run_until()
        return (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {
            "no table (floor)": (_system(folder, args.steps, 1, False), False),
            "set() per step": (_system(folder, args.steps, 1, False), True),
            "table, 2 inputs": (_system(folder, args.steps, 1, True), False),
            "no table, 8 Gains": (_system(folder, args.steps, 8, False), False),
            "table, 8 inputs": (_system(folder, args.steps, 8, True), False),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, (system, per_step) in cases.items():
                times[name].append(_timed(system, per_step))
    med = {name: statistics.median(v) * 1e6 for name, v in times.items()}
    floors = {"table, 8 inputs": med["no table, 8 Gains"]}
    print(f"{args.steps} communication steps, median of {args.repeat}\n")
    print("| case | µs per step | overhead µs per step |\n|---|---|---|")
    for name, us in med.items():
        floor = floors.get(name, med["no table (floor)"])
        extra = "" if "no table" in name else f"{us - floor:+.2f}"
        print(f"| {name} | {us:.2f} | {extra} |")


if __name__ == "__main__":
    main()
