"""Smoke test of bench/twin_analytics.py: the quick table prints every row and sane numbers."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scipy.optimize import brentq

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "twin_analytics.py"
ROWS = [
    "detection delay, friction alarm",
    "detection delay, friction warning",
    "false alarms per simulated hour",
    "wear estimate RMS error",
    "wear estimate max error",
    "truth inside mean +- 3 sigma",
    "RUL from ~12 s, median error",
    "RUL from ~16 s, median error",
    "RUL from ~20 s, median error",
    "real-time margin, 20 members",
    "real-time margin, 50 members",
    "plant FMU alone, per step",
    "forecast speed (real-time factor)",
]


def test_the_quick_bench_prints_every_row_and_numbers_within_their_bounds():
    """The alarm bound is recomputed here from the twin's friction monitor (EWMA of a ramp
    k s, k = 0.9 * 1.25 A * 0.05/s, reaching the alarm level, + min_duration + 2 dt); the
    healthy run raises nothing; the truth's crossing of 0.8 is the plant's ramp (0.04/s
    from 5 s over 25 s: 25 s, within a step of noise-free sampling)."""
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    assert "Traceback" not in out + proc.stderr
    assert "twin_analytics.py --quick --json" in out  # the command line is printed
    table = [line for line in out.splitlines() if line.startswith("| ")]
    for row in ROWS:
        assert any(line.startswith(f"| {row} ") for line in table), (row, out)
    n = json.loads(out.strip().splitlines()[-1])

    twin = yaml.safe_load((ROOT / "systems" / "ema_degradation_twin.yaml").read_text())
    mon = next(m for m in twin["monitors"] if m["name"] == "friction")
    tau, level, hold = mon["window"], mon["alarm"], mon["min_duration"]
    k = 0.9 * 1.25 * 0.05
    s = brentq(lambda s: k * (s - tau * (1 - math.exp(-s / tau))) - level, 1e-6, 100.0)
    assert n["delay"]["alarm"]["bound"] == pytest.approx(s + hold + 0.02)
    for d in n["delay"]["alarm"]["values"]:
        assert hold <= d <= s + hold + 0.02
    delays = n["delay"]
    assert all(
        w < a for w, a in zip(delays["warning"]["values"], delays["alarm"]["values"], strict=True)
    )
    assert n["false_alarms"]["raised"] == 0 and n["false_alarms"]["hours"] > 0.16
    assert all(abs(c - 25.0) < 0.05 for c in n["cross"])
    assert all(m < 0.05 for m in n["estimate"]["max"])
    assert n["loop"]["20"]["median"] < n["loop"]["50"]["median"]
    assert n["loop"]["none"]["median"] < n["loop"]["20"]["median"]
    f = n["forecast"]
    horizon = twin["forecast"]["horizon"]
    assert f["simulated"] == f["horizon"] == horizon and f["members"] == 20
    assert f["rtf"] == pytest.approx(horizon / statistics.median(f["wall"]))
