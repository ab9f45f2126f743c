"""Benchmark: engine overhead per communication step against a hand-written fmpy loop (the floor).

A chain of N FirstOrder instances (FMI 2.0), fo0.u = 1 and fo[i].y -> fo[i+1].u, Gauss-Seidel,
10,000 communication steps. In the same process and run, each repetition times:

  engine        the engine's loop through the one run recipe (cosim.api.Simulation, no
                recorder: Execution.run_until with no observers): the master algorithm
  engine+h5     the same recipe recording every output at every step into results.h5
  floor         a minimal hand-written loop over fmpy's FMU2Slave objects doing the same
                gets, sets and doSteps (fmpy's loaded C functions, prebuilt arrays, status
                checks): what a careful Python user writes; the reference for the target
  floor-raw     the same loop with pre-typed arguments and no ctypes argtypes (the tightest
                Python loop; the trick the engine uses on its hot path)
  fmpy-api      the same loop through fmpy's Pythonic API (fmu.setReal/doStep/getReal)

and prints medians of the repetitions: µs per step, µs per instance-step, engine/floor ratio,
and memory (RSS and tracemalloc) around one more engine run, to show it is flat.

    python bench/overhead.py [--steps 10000] [--repeat 5] [--sizes 1 10 100]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosim.api import Simulation  # noqa: E402
from cosim.engine.plan import build_plan  # noqa: E402
from cosim.fmu.archive import extract, read_model_description  # noqa: E402
from cosim.io.yaml import load_system  # noqa: E402
from cosim.library.build import bundled_fmu  # noqa: E402
from cosim.resolve.resolver import resolve_system  # noqa: E402

STEP = 1e-3


def chain_yaml(n: int, fmu: Path, steps: int, record: bool) -> str:
    lines = [
        f"name: chain{n}",
        f"simulation: {{start: 0.0, stop: {steps * STEP!r}, step: {STEP!r}, "
        "algorithm: gauss-seidel}",
        "components:",
    ]
    for i in range(n):
        params = "{u: 1.0}" if i == 0 else "{}"
        lines.append(f"  fo{i}: {{fmu: {fmu}, parameters: {params}}}")
    if n > 1:
        lines.append("connections:")
        lines += [f"  - {{from: fo{i}.y, to: fo{i + 1}.u}}" for i in range(n - 1)]
    if not record:  # the engine still gets every y (connection sources), like the floor
        lines.append(f"record: {{variables: [fo{n - 1}.y]}}")
    return "\n".join(lines) + "\n"


def load_chain(n: int, steps: int, tmp: Path, record: bool = False):
    path = tmp / f"chain{n}{'_rec' if record else ''}.yaml"
    path.write_text(chain_yaml(n, bundled_fmu("FirstOrder"), steps, record))
    return resolve_system(load_system(path))


def time_engine(system, steps: int, h5: Path | None = None) -> float:
    """Seconds of the step loop alone (initialization and close excluded)."""
    plan = build_plan(system)
    with Simulation(system, results=h5, memory=False, plan=plan) as sim:
        sim.initialize()
        ex = sim.execution
        t0 = time.perf_counter()
        ex.run_until(plan.tick(steps))
        dt = time.perf_counter() - t0
        assert ex.step_count == steps
    assert sim.status == "completed", sim.status
    return dt


class FloorChain:
    """N FirstOrder instances opened directly through fmpy's FMU2Slave."""

    def __init__(self, n: int) -> None:
        from fmpy.fmi2 import FMU2Slave

        fmu = bundled_fmu("FirstOrder")
        md = read_model_description(fmu)
        self.unzip = extract(fmu)
        vr = {v.name: v.valueReference for v in md.modelVariables}
        self.vr_u, self.vr_y = vr["u"], vr["y"]
        self.fmus = []
        for i in range(n):
            f = FMU2Slave(
                guid=md.guid,
                unzipDirectory=str(self.unzip),
                modelIdentifier=md.coSimulation.modelIdentifier,
                instanceName=f"fo{i}",
            )
            f.instantiate()
            f.setupExperiment(startTime=0.0)
            f.enterInitializationMode()
            if i == 0:
                f.setReal([self.vr_u], [1.0])
            f.exitInitializationMode()
            self.fmus.append(f)

    def close(self) -> None:
        for f in self.fmus:
            f.terminate()
            f.freeInstance()
        import shutil

        shutil.rmtree(self.unzip, ignore_errors=True)

    def loop_fmpy(self, steps: int) -> float:
        """fmpy's loaded C functions (with fmpy's argtypes), prebuilt arrays, status checks."""
        n = len(self.fmus)
        comps = [f.component for f in self.fmus]
        set_real = [f.dll.fmi2SetReal for f in self.fmus]
        get_real = [f.dll.fmi2GetReal for f in self.fmus]
        do_step = [f.dll.fmi2DoStep for f in self.fmus]
        vr_u = (ctypes.c_uint * 1)(self.vr_u)
        vr_y = (ctypes.c_uint * 1)(self.vr_y)
        u = [(ctypes.c_double * 1)() for _ in range(n)]
        y = [(ctypes.c_double * 1)() for _ in range(n)]
        t0 = time.perf_counter()
        for k in range(steps):
            t = k * STEP
            for i in range(n):
                c = comps[i]
                if i:
                    u[i][0] = y[i - 1][0]
                    if set_real[i](c, vr_u, 1, u[i]) > 1:
                        raise RuntimeError("fmi2SetReal")
                if do_step[i](c, t, STEP, 1) > 1:
                    raise RuntimeError("fmi2DoStep")
                if get_real[i](c, vr_y, 1, y[i]) > 1:
                    raise RuntimeError("fmi2GetReal")
        return time.perf_counter() - t0

    def loop_raw(self, steps: int) -> float:
        """The same with private function objects, no argtypes and pre-typed arguments."""
        n = len(self.fmus)
        comps = [ctypes.c_void_p(f.component) for f in self.fmus]

        def raw(f, name):
            fn = f.dll[name]
            fn.argtypes, fn.restype = None, ctypes.c_int
            return fn

        set_real = [raw(f, "fmi2SetReal") for f in self.fmus]
        get_real = [raw(f, "fmi2GetReal") for f in self.fmus]
        do_step = [raw(f, "fmi2DoStep") for f in self.fmus]
        vr_u = (ctypes.c_uint * 1)(self.vr_u)
        vr_y = (ctypes.c_uint * 1)(self.vr_y)
        one, true = ctypes.c_size_t(1), ctypes.c_int(1)
        t_cell, h_cell = ctypes.c_double(0.0), ctypes.c_double(STEP)
        u = [(ctypes.c_double * 1)() for _ in range(n)]
        y = [(ctypes.c_double * 1)() for _ in range(n)]
        t0 = time.perf_counter()
        for k in range(steps):
            t_cell.value = k * STEP
            for i in range(n):
                c = comps[i]
                if i:
                    u[i][0] = y[i - 1][0]
                    if set_real[i](c, vr_u, one, u[i]) > 1:
                        raise RuntimeError("fmi2SetReal")
                if do_step[i](c, t_cell, h_cell, true) > 1:
                    raise RuntimeError("fmi2DoStep")
                if get_real[i](c, vr_y, one, y[i]) > 1:
                    raise RuntimeError("fmi2GetReal")
        return time.perf_counter() - t0

    def loop_api(self, steps: int) -> float:
        """fmpy's Pythonic API: builds arrays on every call (raises on a bad status)."""
        fmus = self.fmus
        vr_u, vr_y = [self.vr_u], [self.vr_y]
        y = [0.0] * len(fmus)
        t0 = time.perf_counter()
        for k in range(steps):
            t = k * STEP
            for i, f in enumerate(fmus):
                if i:
                    f.setReal(vr_u, [y[i - 1]])
                f.doStep(t, STEP)
                y[i] = f.getReal(vr_y)[0]
        return time.perf_counter() - t0


def time_floor(n: int, steps: int, kind: str) -> float:
    chain = FloorChain(n)
    try:
        return getattr(chain, f"loop_{kind}")(steps)
    finally:
        chain.close()


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def memory(system, steps: int) -> tuple[int, int, int]:
    """(RSS growth over run_until in KiB, tracemalloc net bytes, tracemalloc peak bytes)."""
    with Simulation(system, memory=False) as sim:
        sim.initialize()
        ex = sim.execution
        ex.run_until(ex.plan.tick(steps // 10))  # warm up
        gc.collect()
        rss0 = rss_kib()
        tracemalloc.start()
        snap0 = tracemalloc.take_snapshot()
        ex.run_until(ex.plan.tick(steps))
        snap1 = tracemalloc.take_snapshot()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = rss_kib()
    net = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    return rss1 - rss0, net, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args(argv)
    steps = args.steps
    variants = ["engine", "engine+h5", "floor", "floor-raw", "fmpy-api"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cosim_bench_") as tmp_name:
        tmp = Path(tmp_name)
        for n in args.sizes:
            system = load_chain(n, steps, tmp)
            system_rec = load_chain(n, steps, tmp, record=True)
            times: dict[str, list[float]] = {v: [] for v in variants}
            for r in range(args.repeat):
                times["engine"].append(time_engine(system, steps))
                times["engine+h5"].append(time_engine(system_rec, steps, tmp / f"r{n}_{r}.h5"))
                times["floor"].append(time_floor(n, steps, "fmpy"))
                times["floor-raw"].append(time_floor(n, steps, "raw"))
                times["fmpy-api"].append(time_floor(n, steps, "api"))
            med = {v: statistics.median(ts) for v, ts in times.items()}
            rss, net, peak = memory(system, steps)
            rows.append((n, med, rss, net, peak))

    us = 1e6 / steps
    print(f"chain of N FirstOrder FMUs (FMI 2.0), Gauss-Seidel, {steps} communication steps, "
          f"median of {args.repeat} runs; µs per step (µs per instance-step)")  # fmt: skip
    head = f"{'N':>4} " + "".join(f"{v:>22}" for v in variants)
    head += f"{'engine/floor':>14}{'engine/raw':>12}"
    print(head)
    for n, med, *_ in rows:
        cells = "".join(f"{med[v] * us:>11.1f} ({med[v] * us / n:>6.2f} )" for v in variants)
        cells = cells.replace(" )", ")")
        print(
            f"{n:>4} {cells}{med['engine'] / med['floor']:>14.2f}"
            f"{med['engine'] / med['floor-raw']:>12.2f}"
        )
    print("\nmemory over one engine run of the remaining steps (after a 10% warm-up):")
    print(f"{'N':>4}{'RSS growth KiB':>16}{'tracemalloc net B':>19}{'tracemalloc peak B':>20}")
    for n, _, rss, net, peak in rows:
        print(f"{n:>4}{rss:>16}{net:>19}{peak:>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
