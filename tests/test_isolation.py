"""`isolation: process`: each FMU in a worker process of its own (issue 14, part 1).

The same system run in-process and isolated gives the same results, bit for bit; an FMU that
aborts, segfaults or hangs (the bundled `Faulty`) fails the run with an FmuError naming the
component, the FMI function, the time and the signal, and the results closed with every row
so far; no worker process is left behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import cosim

ROOT = Path(__file__).resolve().parents[1]


def _workers() -> int:
    """Worker processes alive on this machine (read from /proc: no pgrep needed)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"cosim.fmu.worker" in cmdline.read_bytes():
                count += 1
        except OSError:  # the process ended meanwhile
            continue
    return count


@pytest.mark.parametrize("prefix", ["", "fmi3/"])
def test_isolated_components_give_the_same_results_bit_for_bit(prefix) -> None:
    """The dual-mass oscillator (Mass1 -> Mass2 -> Mass1, parameters, an event) in-process and
    with both masses in worker processes."""
    data = {
        "name": "dual",
        "simulation": {"stop": 2.0, "step": 1e-3, "algorithm": "gauss-seidel"},
        "components": {
            "mass1": {"fmu": f"{prefix}Mass1", "parameters": {"m1": 1.5}},
            "mass2": {"fmu": f"{prefix}Mass2"},
        },
        "connections": [
            {"from": "mass1.x1", "to": "mass2.x1"},
            {"from": "mass1.v1", "to": "mass2.v1"},
            {"from": "mass2.F", "to": "mass1.F"},
        ],
        "events": [{"at": 0.5, "set": {"mass1.F_ext": 2.0}}],
        "record": {"variables": ["mass1.x1", "mass1.v1", "mass2.x2", "mass2.F"]},
    }
    plain = cosim.System.from_dict(data).simulate()
    data["simulation"]["isolation"] = "process"
    isolated = cosim.System.from_dict(data).simulate()
    assert np.array_equal(plain.time, isolated.time)
    for label in ("mass1.x1", "mass1.v1", "mass2.x2", "mass2.F"):
        assert np.array_equal(plain[label], isolated[label]), label
    assert np.ptp(plain["mass1.x1"]) > 0.1  # it moved: the comparison is not of zeros
    assert _workers() == 0


FAULTY = """simulation: {{stop: 2, step: 0.01{extra}}}
components:
  a: {{fmu: Faulty, parameters: {{fault: {fault}, fault_at: 0.5}}, isolation: process}}
  g: {{fmu: Gain, parameters: {{b: 1.0}}}}
connections: [{{from: g.y, to: a.u}}]
"""


@pytest.mark.parametrize(("fault", "name"), [(1, "SIGABRT"), (2, "SIGSEGV")])
def test_a_crashing_isolated_fmu_fails_the_run_with_a_message(tmp_path, fault, name) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(FAULTY.format(fault=fault, extra=""))
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert f"a: fmi2DoStep returned nothing: the worker process died of {name} at t=0.49" in (
        out.stderr
    )
    assert "FMU log:" in out.stderr and "Faulty: t=0.5" in out.stderr  # its last words
    with h5py.File(tmp_path / "r" / "results.h5", "r") as f:
        assert f.attrs["status"] == "failed" and name in f.attrs["error"]
        assert f["time"].shape[0] == 50  # t = 0 .. 0.49: every step before the crash
        assert np.all(f["signals"][list(f["signals"])[0]][:] == 1.0)
    assert _workers() == 0


def test_a_hanging_isolated_fmu_is_killed_at_its_timeout(tmp_path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(FAULTY.format(fault=3, extra=", timeout: 0.5"))
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert time.monotonic() - t0 < 20
    assert "overran its timeout of 0.5 s; the worker was killed" in out.stderr
    with h5py.File(tmp_path / "r" / "results.h5", "r") as f:
        assert f.attrs["status"] == "failed" and f["time"].shape[0] == 50
    assert _workers() == 0


def test_ctrl_c_while_an_isolated_fmu_hangs(tmp_path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(FAULTY.format(fault=3, extra=""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / "r")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    time.sleep(4.0)  # the workers start (~0.5 s each), then t = 0.5 s hangs
    assert proc.poll() is None
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 1.0
    with h5py.File(tmp_path / "r" / "results.h5", "r") as f:
        assert f.attrs["status"] == "interrupted" and f["time"].shape[0] == 50
    assert _workers() == 0


def test_a_sweep_case_whose_fmu_crashes_fails_alone(tmp_path) -> None:
    """Local processes: the crash takes its pool down; the runs it took with it run again one
    at a time, so exactly the crashing case fails and the others complete."""
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "simulation: {stop: 1, step: 0.01}\n"
        "components:\n  a: {fmu: Faulty, parameters: {fault_at: 0.5}}\n"
        "  g: {fmu: Gain, parameters: {b: 1.0}}\n"
        "connections: [{from: g.y, to: a.u}]\n"
        "sweep:\n  design:\n    cases: [{a.fault: 0}, {a.fault: 2}, {a.fault: 0}, {a.fault: 0}]\n"
        "  qoi: {y_end: final(a.y)}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "sweep", str(path), "--workers", "2",
         "--out", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr  # a study with a failed run exits 1
    assert "3 completed, 1 failed" in out.stdout, out.stdout
    assert "case 1 failed: the process running this case died" in out.stdout + out.stderr


@pytest.mark.parametrize("prefix", ["", "fmi3/"])
def test_an_isolated_fmu_that_asks_to_terminate_ends_the_run_as_in_process(prefix) -> None:
    """Timer asks to terminate at t = 0.5 s (FMI 3.0: fmi3DoStep's terminateSimulation, FMI
    2.0: Discard and fmi2Terminated): the isolated run stops where the in-process one does."""
    data = {
        "simulation": {"stop": 2.0, "step": 0.01},
        "components": {"t": {"fmu": f"{prefix}Timer", "parameters": {"t_terminate": 0.5}}},
    }
    plain = cosim.System.from_dict(data).simulate()
    data["components"]["t"]["isolation"] = "process"
    isolated = cosim.System.from_dict(data).simulate()
    assert plain.status == isolated.status == "stopped"
    assert np.array_equal(plain.time, isolated.time) and plain.time[-1] < 1.0
