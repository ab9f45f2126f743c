"""Benchmark: the cost of `isolation: process` per instance-step, against the same chain of
bundled Gain FMUs in-process, measured in the same run (issue 14).

For N = 1 and 10 Gain instances in a chain (each input wired to the previous output), it
times only the steps (initialize first, then run_until), interleaving three loops in every
repetition so machine load hits them alike:

    native      in-process, the compiled kernel (the default)
    python      in-process, the Python step loop (what isolation's proxy calls run in)
    isolated    isolation: process, every instance in its own worker process

and prints the median microseconds per instance-step, and isolated minus python: the cost of
the round trips (a bound set, doStep and get per instance-step, each a request and a reply
over a Unix socket). It always exits 0: it measures, it does not judge.

    python bench/isolation.py [--steps 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cosim  # noqa: E402


def chain(n: int, steps: int, isolation: str, engine: str) -> dict:
    components = {f"g{i}": {"fmu": "Gain"} for i in range(n)}
    connections = [{"from": f"g{i - 1}.y", "to": f"g{i}.u"} for i in range(1, n)]
    return {
        "name": f"chain{n}",
        "simulation": {
            "stop": steps * 1e-3,
            "step": 1e-3,
            "isolation": isolation,
            "engine": engine,
        },  # fmt: skip
        "components": components,
        "connections": connections,
        "record": {"variables": [f"g{n - 1}.y"]},
    }


def seconds_per_step(n: int, steps: int, isolation: str, engine: str) -> float:
    system = cosim.System.from_dict(chain(n, steps, isolation, engine))
    with system.execution(memory=False) as sim:
        sim.initialize()
        t0 = time.perf_counter()
        sim.run_until()
        return (time.perf_counter() - t0) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    loops = {"native": ("none", "native"), "python": ("none", "python"),
             "isolated": ("process", "python")}  # fmt: skip
    print(f"isolation: Gain chains, {args.steps} steps, median of {args.repeat} (us per "
          "instance-step)\n")  # fmt: skip
    print("| N | native | python | isolated | isolated - python |")
    print("|---|---|---|---|---|")
    for n in (1, 10):
        times: dict[str, list[float]] = {k: [] for k in loops}
        for _ in range(args.repeat):
            for name, (isolation, engine) in loops.items():
                times[name].append(seconds_per_step(n, args.steps, isolation, engine) / n)
        med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
        print(f"| {n} | {med['native']:.3f} | {med['python']:.3f} | {med['isolated']:.1f} | "
              f"{med['isolated'] - med['python']:.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
