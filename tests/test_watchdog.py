"""FMU calls that hang or overrun, and signals while one is stuck (issue 14, part 1).

The bundled FMU `Faulty` (fmus/models/Faulty) fails on purpose from t = fault_at: 1 abort,
2 segfault, 3 a call that never returns, 4 every call takes `delay` s of wall time. Every run
here is a real `cosim` subprocess on a real results.h5.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import pytest

FAULTY = "simulation: {{stop: {stop}, step: 0.01{extra}}}\ncomponents:\n  a: {{fmu: Faulty, parameters: {{fault: {fault}, fault_at: {at}, delay: {delay}}}}}\n"  # noqa: E501


def _system(tmp_path, fault, at=0.5, delay=0.1, stop=2.0, extra=""):
    path = tmp_path / f"faulty{fault}.yaml"
    path.write_text(FAULTY.format(fault=fault, at=at, delay=delay, stop=stop, extra=extra))
    return path


def _start(*args, cwd=None):
    return subprocess.Popen(
        [sys.executable, "-m", "cosim", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # pytest may ignore it
    )  # fmt: skip


def _attrs(results):
    with h5py.File(results, "r") as f:
        return dict(f.attrs), f["time"].shape[0]


def test_a_call_that_overruns_its_timeout_fails_the_run_naming_it(tmp_path):
    """Every call takes 0.4 s from t = 0.5 s; the timeout is 0.3 s: the call returns, and the
    run fails at the next step with the component, the FMI function and the time."""
    system = _system(tmp_path, 4, delay=0.4, extra=", timeout: 0.3")
    out = _start("run", system, "--out", tmp_path / "r")
    _, err = out.communicate(timeout=60)
    assert out.returncode == 1, err
    assert "a: fmi2DoStep returned nothing within its timeout of 0.3 s at t=0.49 s" in err
    attrs, rows = _attrs(tmp_path / "r" / "results.h5")
    assert attrs["status"] == "failed" and "timeout of 0.3 s" in attrs["error"]
    assert rows == 51  # t = 0 .. 0.5: the slow step returned (late) and was recorded


@pytest.mark.parametrize("engine", ["native", "python"])
def test_a_call_that_never_returns_ends_the_run_after_its_timeout(tmp_path, engine):
    system = _system(tmp_path, 3, extra=f", timeout: 0.3, engine: {engine}")
    t0 = time.monotonic()
    out = _start("run", system, "--out", tmp_path / "r")
    _, err = out.communicate(timeout=60)
    assert out.returncode == 1, err
    assert time.monotonic() - t0 < 15
    assert "fmi2DoStep returned nothing within its timeout of 0.3 s" in err and "never" in err
    attrs, rows = _attrs(tmp_path / "r" / "results.h5")
    assert attrs["status"] == "failed" and "never returned" in attrs["error"]
    assert rows == 50  # t = 0 .. 0.49: every row before the hung step


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_a_hung_call_closes_the_results_within_a_second(tmp_path, sig):
    """No timeout: the call hangs for ever; Ctrl-C, SIGTERM and SIGHUP still end the run
    within 1 s with exit 130 and the results closed as interrupted (not 'running')."""
    system = _system(tmp_path, 3)
    proc = _start("run", system, "--out", tmp_path / "r")
    results = tmp_path / "r" / "results.h5"
    deadline = time.monotonic() + 30
    while not results.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # well inside the hung call (t = 0.5 s is reached within milliseconds)
    assert proc.poll() is None, proc.communicate()
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert elapsed < 1.0, f"{elapsed:.2f} s to end after {sig.name}"
    assert f"interrupted by {sig.name}" in err, err
    attrs, rows = _attrs(results)
    assert attrs["status"] == "interrupted" and sig.name in attrs["error"]
    assert rows == 50  # every row before the hung step, also those of the kernel's chunk


def test_ctrl_c_between_steps_still_stops_at_the_end_of_the_step(tmp_path):
    """A slow but working FMU (10 ms per call): the main thread takes the signal itself, the
    watchdog stands by, the run ends normally as interrupted with every row so far."""
    system = _system(tmp_path, 4, at=0.0, delay=0.01, stop=100.0)
    proc = _start("run", system, "--out", tmp_path / "r")
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "cosim: interrupted; results so far are in" in err
    attrs, rows = _attrs(tmp_path / "r" / "results.h5")
    assert attrs["status"] == "interrupted" and attrs["error"] == "" and rows == attrs["steps"] + 1


def test_the_first_rows_reach_the_file_within_a_fraction_of_a_second(tmp_path):
    """Rows are handed to the file 100 ms after the start, not after the usual 1 s: read the
    file while the run goes on (HDF5's file locking off for the reader)."""
    system = _system(tmp_path, 4, at=0.0, delay=0.01, stop=100.0)
    proc = _start("run", system, "--out", tmp_path / "r")
    results = tmp_path / "r" / "results.h5"
    try:
        deadline = time.monotonic() + 30
        while not results.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        born = time.monotonic()
        rows = 0
        env = {**os.environ, "HDF5_USE_FILE_LOCKING": "FALSE"}
        probe = (
            "import h5py,sys; f=h5py.File(sys.argv[1],'r',locking=False); print(f['time'].shape[0])"
        )
        while time.monotonic() - born < 0.9:
            read = subprocess.run(
                [sys.executable, "-c", probe, str(results)], capture_output=True, text=True,
                env=env, timeout=30,
            )  # fmt: skip
            if read.returncode == 0 and int(read.stdout or 0) > 0:
                rows = int(read.stdout)
                break
        assert rows > 0, "no row in the file within 0.9 s of its creation"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_cosim_test_fails_only_the_system_whose_fmu_hangs_or_crashes(tmp_path):
    import shutil
    from pathlib import Path

    systems = Path(__file__).resolve().parents[1] / "systems"
    good = (systems / "dual_mass_oscillator.yaml").read_text()
    good = good.replace("../fmus/", f"{systems.parent}/fmus/")
    good = good.replace("reference: references/", f"reference: {systems}/references/")
    (tmp_path / "good.yaml").write_text(good)
    reference = f"regression: {{reference: {systems}/references/dual_mass_oscillator.h5}}\n"
    (tmp_path / "hang.yaml").write_text(_system(tmp_path, 3).read_text() + reference)
    (tmp_path / "crash.yaml").write_text(_system(tmp_path, 2).read_text() + reference)
    for p in tmp_path.glob("faulty*.yaml"):
        p.unlink()
    shutil.rmtree(tmp_path / "r", ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "test", str(tmp_path), "--timeout", "0.5", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    import json

    verdicts = {c["system"]: c for c in json.loads(out.stdout)["cases"]}
    assert out.returncode == 1
    assert verdicts["dual_mass_oscillator"]["status"] == "pass"
    assert verdicts["hang"]["status"] == "error"
    assert "fmi2DoStep returned nothing within its timeout of 0.5 s" in verdicts["hang"]["message"]
    assert verdicts["crash"]["status"] == "error" and "died" in verdicts["crash"]["message"]


def test_a_timeout_keeps_the_compiled_kernel(tmp_path):
    """The kernel tells the watchdog which call it is in: a timeout does not cost the run its
    native step loop (cosim test sets one by default)."""
    import json

    system = _system(tmp_path, 0, stop=1.0, extra=", timeout: 5")
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(system), "--out", str(tmp_path / "r"),
         "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["engine"] == "native"


def test_ctrl_c_inside_a_long_kernel_chunk_stops_after_the_current_step(tmp_path):
    """Fast steps grow the kernel's chunks to thousands of steps; then each call takes 50 ms.
    Ctrl-C makes the chunk under way end after its current step (the watchdog sets the
    kernel's stop flag), and the run stops as usual: no emergency exit, no error."""
    system = _system(tmp_path, 4, at=0.5, delay=0.05, stop=1000.0)
    proc = _start("run", system, "--out", tmp_path / "r")
    time.sleep(3.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 1.0
    assert "cosim: interrupted; results so far are in" in err, err
    attrs, rows = _attrs(tmp_path / "r" / "results.h5")
    assert attrs["status"] == "interrupted" and attrs["error"] == ""
    assert rows == attrs["steps"] + 1 > 51
