"""Benchmark: start-up time of the `cosim` command line against bare Python, in the same run.

Each repetition runs, as subprocesses and in turn (so a change of machine load hits them all):

  python -c pass             the floor: the interpreter's own start-up
  python -m cosim --version  the module entry point
  cosim --version            the console script
  cosim validate DUAL_MASS   a complete validation of systems/dual_mass_oscillator.yaml
  cosim run DUAL_MASS        time from process start to the first communication step, read from
                             the "time_to_first_step" key of `cosim run --json`; when that key is
                             absent, the time until results.h5 holds its first row (an upper
                             bound: rows reach the file only when the writer flushes)

and prints the median of the wall times (ms), the ratio to bare Python and the goal of issue 8
(`--version` within 3x bare Python; the first step within 1 s of process start). It always
exits 0: it measures, it does not judge.

    python bench/startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DUAL_MASS = ROOT / "systems" / "dual_mass_oscillator.yaml"
POLL = 0.002  # seconds between looks at results.h5 in the fallback


def _console_script() -> str:
    """The `cosim` script installed next to this interpreter (not a shell shim in front of it)."""
    beside = Path(sys.executable).with_name("cosim")
    if beside.is_file():
        return str(beside)
    found = shutil.which("cosim")
    if found is None:
        raise SystemExit("bench/startup.py: no `cosim` console script (pip install -e .)")
    return found


def _wall(cmd: list[str]) -> float:
    """Seconds of wall time of one subprocess, from just before it starts until it exits."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def _rows_in(path: Path) -> int:
    import h5py  # only the fallback needs it; imported here so the bench itself starts fast

    try:
        with h5py.File(path, "r", locking=False) as f:
            return len(f["time"])
    except (OSError, KeyError):  # not there yet, or half written: look again
        return 0


class FirstStep:
    """Time from process start to the first step of `cosim run DUAL_MASS`."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.source = ""  # "time_to_first_step" or "first results.h5 row"

    def __call__(self) -> float:
        with tempfile.TemporaryDirectory(prefix="cosim-startup-") as tmp:
            out = Path(tmp) / "run"
            cmd = [self.script, "run", str(DUAL_MASS), "--out", str(out), "--json", "--quiet"]
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            first_row = None
            while proc.poll() is None and first_row is None:
                if (out / "results.h5").exists() and _rows_in(out / "results.h5") > 0:
                    first_row = time.perf_counter() - t0
                else:
                    time.sleep(POLL)
            stdout, stderr = proc.communicate()
            if first_row is None and (out / "results.h5").exists():
                first_row = time.perf_counter() - t0  # the whole run fitted before a flush
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr}")
        summary = json.loads(stdout[stdout.index("{") :])
        if summary.get("time_to_first_step") is not None:
            self.source = "time_to_first_step"
            return float(summary["time_to_first_step"])
        self.source = "first results.h5 row (upper bound)"
        if first_row is None:
            raise RuntimeError("cosim run wrote no results.h5")
        return first_row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command (median)")
    args = parser.parse_args()

    py, script = sys.executable, _console_script()
    first_step = FirstStep(script)
    # (label, measure, goal as a ratio to bare python or None, goal in ms or None)
    cases: list[tuple[str, Callable[[], float], float | None, float | None]] = [
        ("python -c pass", lambda: _wall([py, "-c", "pass"]), None, None),
        ("python -m cosim --version", lambda: _wall([py, "-m", "cosim", "--version"]), 3.0, None),
        ("cosim --version", lambda: _wall([script, "--version"]), 3.0, None),
        (
            "cosim validate dual_mass",
            lambda: _wall([script, "validate", str(DUAL_MASS)]),
            None,
            None,
        ),
        ("cosim run dual_mass: 1st step", first_step, None, 1000.0),
    ]
    for _, measure, _, _ in cases:  # warm-up: byte-code caches, page cache, bundled FMU build
        measure()
    times: dict[str, list[float]] = {label: [] for label, *_ in cases}
    for _ in range(args.repeat):
        for label, measure, _, _ in cases:
            times[label].append(measure())

    bare = statistics.median(times["python -c pass"]) * 1e3
    print(f"start-up, median of {args.repeat} runs each ({os.cpu_count()} cores, {py})")
    print(f"{'command':32s} {'median ms':>10s} {'x python':>9s} {'goal':>12s}  met?")
    for label, _, goal_ratio, goal_ms in cases:
        ms = statistics.median(times[label]) * 1e3
        ratio = ms / bare
        if goal_ratio is not None:
            goal, met = f"<= {goal_ratio:g}x", "yes" if ratio <= goal_ratio else "NO"
        elif goal_ms is not None:
            goal, met = f"<= {goal_ms:g} ms", "yes" if ms <= goal_ms else "NO"
        else:
            goal, met = "-", ""
        print(f"{label:32s} {ms:10.1f} {ratio:9.2f} {goal:>12s}  {met}")
    print(f"first step measured as: {first_step.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
