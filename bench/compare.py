"""Benchmark: tolerance-tube comparison throughput (samples/s) and how its cost grows with size.

For each size n (samples per signal) it builds, in memory, S signals on a reference grid of n
points over 100 s and a result on a slightly different grid (n + n/1000 + 7 points, shifted by
a third of a sample, so nothing lines up), each signal a cosine plus a step event; the result
runs 0.2*time_tol late and 0.1*rel_tol high, inside the tolerances. It then times
`cosim.verify.compare.compare(result, reference)` (grid set-up included, file reading excluded) and
prints the median of the repetitions:

  samples/signal, signals, median s, reference samples/s, all samples/s (reference + result),
  ns per reference sample (flat across sizes = linear cost)

It also checks the verdicts: every signal passes, and a copy with one signal pushed out of the
tube fails exactly that signal, so the timing is of a comparison that works.

Each size runs single-threaded (workers=1, compare()'s default) and with 2 threads.

    python bench/compare.py [--signals 100] [--sizes 100000 1000000] [--repeat 3] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosim.results.signals import SignalSet, from_arrays  # noqa: E402
from cosim.verify.compare import Report, compare  # noqa: E402

SPAN = 100.0  # seconds
ABS_TOL, REL_TOL, TIME_TOL = 1e-6, 1e-3, 0.05


def make_pair(n: int, signals: int, seed: int = 0) -> tuple[SignalSet, SignalSet]:
    """Reference and result sets of `signals` cosine-plus-step signals on two different grids."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, SPAN, n)
    m = n + n // 1000 + 7
    r = np.linspace(0.0, SPAN, m)
    r[1:-1] += (SPAN / (m - 1)) / 3  # a third of a sample off the reference grid, ends kept
    ref, res = {}, {}
    for k in range(signals):
        w = 0.05 + 0.01 * k  # rad/s: slow enough that grid interpolation error stays tiny
        amp = 1.0 + k
        t_event = SPAN * (0.2 + 0.6 * rng.random())
        shift = 0.2 * TIME_TOL  # less than the time tolerance
        ref[f"c{k}.y"] = amp * np.cos(w * t) + amp * (t >= t_event)
        # the result runs `shift` late (event included) and sits a little higher
        r_late = r - shift
        res[f"c{k}.y"] = amp * np.cos(w * r_late) + amp * (r_late >= t_event) + 0.1 * REL_TOL * amp
    units = {name: "m" for name in ref}
    return from_arrays(r, res, units, "result"), from_arrays(t, ref, units, "reference")


def time_compare(
    result: SignalSet, reference: SignalSet, repeat: int, workers: int
) -> tuple[float, Report]:
    times, report = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = compare(
            result,
            reference,
            abs_tol=ABS_TOL,
            rel_tol=REL_TOL,
            time_tol=TIME_TOL,
            workers=workers,
        )
        times.append(time.perf_counter() - t0)
    assert report is not None
    return statistics.median(times), report


def check_verdicts(result: SignalSet, reference: SignalSet, report: Report) -> str:
    """'' when every signal passes and a signal pushed out of the tube fails, alone."""
    if report.failures:
        return f"unexpected failures: {[v.name for v in report.failures][:5]}"
    bad = dict(result.values)
    bad["c0.y"] = bad["c0.y"] + 10 * REL_TOL * 2.0  # c0: amplitude 1, max|y| = 2
    broken = SignalSet(result.source, result.time, bad, result.units)
    check = compare(broken, reference, abs_tol=ABS_TOL, rel_tol=REL_TOL, time_tol=TIME_TOL)
    if [v.name for v in check.failures] != ["c0.y"]:
        return f"fault not caught: {[v.name for v in check.failures][:5]}"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=100)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="threads per comparison (compare(..., workers=N)); the default is 1",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

    rows = []
    for size in args.sizes:
        n = int(size)
        result, reference = make_pair(n, args.signals)
        for workers in args.workers:
            median, report = time_compare(result, reference, args.repeat, workers)
            problem = check_verdicts(result, reference, report)
            if problem:
                print(f"n={n}: {problem}", file=sys.stderr)
                return 1
            n_ref = n * args.signals
            n_all = (n + len(result.time)) * args.signals
            label = str(workers)
            rows.append((n, args.signals, label, median, n_ref / median, n_all / median, workers))
        del result, reference

    print(
        f"{'samples/signal':>14} {'signals':>7} {'workers':>8} {'median s':>9} "
        f"{'ref samples/s':>14} {'all samples/s':>14} {'ns/ref sample':>13}"
    )
    for n, s, w, med, ref_rate, all_rate, _ in rows:
        ns = 1e9 / ref_rate
        print(
            f"{n:>14,} {s:>7} {w:>8} {med:>9.3f} {ref_rate:>14,.0f} {all_rate:>14,.0f} {ns:>13.1f}"
        )
    for workers in args.workers:
        mine = [r for r in rows if r[6] == workers]
        if len(mine) > 1:
            ratio = mine[0][4] / mine[-1][4]
            print(
                f"workers {workers}: cost per sample at {mine[-1][0]:,} vs "
                f"{mine[0][0]:,} samples/signal: {ratio:.2f}x (1.00 = linear)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
