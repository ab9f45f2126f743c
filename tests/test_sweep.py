"""Parameter studies end to end: cosim.sweep and `cosim sweep` over the dual-mass oscillator,
on local processes and on a real Dask cluster (a `dask scheduler` and two `dask worker`
processes on 127.0.0.1), with a worker killed mid-study and a study killed and resumed.

    mass1 --x1, v1--> mass2        each case: other masses m1, m2; the QoIs against the
      ^                 |          matrix exponential of that case's monolithic ODE
      +-------F---------+
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from engine_helpers import bundled
from scipy.linalg import expm
from test_dual_mass import Z0, c1, c2, cc, k1, k2, kc

import cosim

STOP = 1.0


def system_matrix(m1: float, m2: float) -> np.ndarray:
    """The monolithic 4-state ODE of the dual-mass oscillator with masses m1, m2."""
    return np.array(
        [
            [0.0, 1.0, 0.0, 0.0],
            [-(k1 + kc) / m1, -(c1 + cc) / m1, kc / m1, cc / m1],
            [0.0, 0.0, 0.0, 1.0],
            [kc / m2, cc / m2, -(k2 + kc) / m2, -(c2 + cc) / m2],
        ]
    )


def exact_final(m1: float, m2: float, t: float = STOP) -> np.ndarray:
    """x1, v1, x2, v2 at t of the monolithic 4-state ODE with masses m1, m2."""
    return expm(system_matrix(m1, m2) * t) @ Z0


def system_yaml(tmp_path: Path, sweep: str = "", step: float = 1e-3, stop: float = STOP) -> Path:
    # quadratic extrapolation: the coupling error at h = 1e-3 is ~1e-7 (docs/accuracy.md), so
    # each case's final state matches its exact solution to 1e-5, while a 10 % change of a
    # mass moves it by ~1e-2
    path = tmp_path / "study.yaml"
    path.write_text(
        f"""\
name: study
simulation: {{stop: {stop}, step: {step}, extrapolation: quadratic}}
components:
  mass1: {{fmu: {bundled("Mass1")}}}
  mass2: {{fmu: {bundled("Mass2")}}}
connections:
  - {{from: mass1.x1, to: mass2.x1}}
  - {{from: mass1.v1, to: mass2.v1}}
  - {{from: mass2.F, to: mass1.F}}
{sweep}"""
    )
    return path


QOI = {"x1": "final(mass1.x1)", "x2": "final(mass2.x2)", "v2": "final(mass2.v2)"}
DESIGN = {"mass1.m1": [0.8, 1.0, 1.3], "mass2.m2": [0.7, 1.5]}


def check_exact(frame) -> None:
    assert len(frame) == 6 and set(frame["status"]) == {"completed"}
    for _, row in frame.iterrows():
        ref = exact_final(row["mass1.m1"], row["mass2.m2"])
        assert row["x1"] == pytest.approx(ref[0], abs=1e-5)
        assert row["x2"] == pytest.approx(ref[2], abs=1e-5)
        assert row["v2"] == pytest.approx(ref[3], abs=1e-5)


@pytest.mark.parametrize("executor", [1, 2])
def test_a_sweep_over_the_masses_matches_each_cases_exact_solution(tmp_path, executor):
    frame = cosim.sweep(system_yaml(tmp_path), DESIGN, qoi=QOI, executor=executor)
    # the full factorial, first name slowest
    assert list(frame["mass1.m1"]) == [0.8, 0.8, 1.0, 1.0, 1.3, 1.3]
    assert list(frame["mass2.m2"]) == [0.7, 1.5] * 3
    check_exact(frame)


def test_fmu_variants_and_failed_runs_do_not_stop_the_study(tmp_path):
    # an FMI 3.0 build of Mass1 is a variant; a timeout of 1 ms fails the long runs, which
    # are recorded with their error while the study completes
    design = {
        "components.mass1.fmu": [str(bundled("Mass1")), str(bundled("fmi3/Mass1"))],
        "mass2.m2": [1.0],
    }
    frame = cosim.sweep(system_yaml(tmp_path), design, qoi=QOI, executor=1)
    assert set(frame["status"]) == {"completed"}
    ref = exact_final(1.0, 1.0)
    for _, row in frame.iterrows():
        assert row["x2"] == pytest.approx(ref[2], abs=1e-5)
    path = system_yaml(tmp_path, "sweep: {design: {factorial: {mass2.m2: [1.0, 2.0]}}, "
                       "qoi: {x2: final(mass2.x2)}, timeout: 0.001, stop: 20.0}\n")  # fmt: skip
    out = tmp_path / "failing"
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "sweep", str(path), "--out", str(out), "--workers", "1",
         "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # some runs failed: exit 1, the study is complete
    report = json.loads(proc.stdout)
    assert report["status"] == {"failed": 2}
    assert "timeout" in report["failed"][0]["error"]
    with h5py.File(out / "sweep.h5") as f:
        assert [s.decode() for s in f["status"][()]] == ["failed", "failed"]
        assert np.isnan(f["qoi/x2"][()]).all()
        assert "timeout" in f["error"][0].decode()


def _run_cli(path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cosim", "sweep", str(path), *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_the_sweep_section_and_sweep_h5(tmp_path):
    path = system_yaml(
        tmp_path,
        "sweep:\n  design:\n    factorial: {mass1.m1: [0.8, 1.0, 1.3], mass2.m2: [0.7, 1.5]}\n"
        "  qoi: {x1: final(mass1.x1), x2: final(mass2.x2), v2: final(mass2.v2)}\n"
        "  keep: full\n",
    )
    out = tmp_path / "out"
    proc = _run_cli(path, "--out", str(out), "--workers", "2", "--plot")
    assert proc.returncode == 0, proc.stderr
    assert "6 completed" in proc.stdout and "sensitivity" in proc.stdout
    with h5py.File(out / "sweep.h5") as f:
        m1, m2 = f["design/mass1.m1"][()], f["design/mass2.m2"][()]
        assert list(f["design"].attrs["columns"]) == ["mass1.m1", "mass2.m2"]
        for k in range(6):
            ref = exact_final(m1[k], m2[k])
            assert f["qoi/x1"][k] == pytest.approx(ref[0], abs=1e-5)
            # keep: full: the run's signals, ending at the same final value
            run = f[f"runs/{k}"]
            assert run["time"][-1] == pytest.approx(STOP)
            assert run["signals/mass1.x1"][-1] == pytest.approx(f["qoi/x1"][k], abs=1e-12)
        assert f.attrs["completed"] == 6 and f.attrs["cases"] == 6
    assert (out / "sweep.png").stat().st_size > 10_000


def test_bad_designs_are_reported_with_locations(tmp_path):
    path = system_yaml(
        tmp_path,
        "sweep:\n  design:\n"
        "    factorial: {mass1.m: [1.0], mass2.m2: []}\n"
        "    sample:\n      n: 4\n      parameters:\n"
        "        mass2.c2: {normal: {mean: 1.0, std: -0.5}}\n"
        "        mass2.k2: {uniform: [2.0, 1.0]}\n"
        "  qoi: {x: finale(mass1.x1)}\n",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    text = proc.stdout + proc.stderr
    assert f"{path}:12:33: error: sweep: the levels of mass2.m2 are empty" in text
    assert f"{path}:16:" in text and "standard deviation of mass2.c2 must be > 0" in text
    assert f"{path}:17:" in text and "range of mass2.k2 is empty: min 2 >= max 1" in text
    # the variable names need the FMUs: checked when the study runs, at the design's keys
    path = system_yaml(
        tmp_path,
        "sweep:\n  design:\n    factorial: {mass1.m: [1.0]}\n  qoi: {x: finale(mass1.x1)}\n",
    )
    proc = _run_cli(path, "--out", str(tmp_path / "bad"), "--workers", "1")
    assert proc.returncode == 2
    assert f"{path}:12:17: error: sweep: mass1.m is an unknown variable of mass1" in proc.stderr
    assert f"{path}:13:9: error: quantity of interest x: unknown function 'finale'" in proc.stderr
    assert "did you mean 'mass1.m1'?" in proc.stderr
    assert "Traceback" not in proc.stderr


def _default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal, even when pytest runs as a background job
    (which inherits SIGINT ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sweep_until(path: Path, out: Path, journal_lines: int) -> subprocess.Popen:
    """`cosim sweep` on one worker, returned once its journal has `journal_lines` lines."""
    journal = out / "sweep.runs.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosim", "sweep", str(path), "--out", str(out), "--workers", "1",
         "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) >= journal_lines:
            break
        time.sleep(0.02)
    return proc


def test_a_study_killed_with_sigkill_resumes_without_redoing_finished_runs(tmp_path):
    # 12 cases of ~0.15 s on one worker; SIGKILL once 4 are in the journal, then --resume:
    # every case is in the journal exactly once, and the first ones keep the first process
    path = system_yaml(
        tmp_path,
        "sweep:\n  design:\n    factorial: {mass1.m1: [0.8, 0.9, 1.0, 1.1, 1.2, 1.3], "
        "mass2.m2: [0.7, 1.5]}\n  qoi: {x1: final(mass1.x1)}\n",
        stop=4.0,
    )
    out = tmp_path / "out"
    journal = out / "sweep.runs.jsonl"
    proc = _sweep_until(path, out, journal_lines=5)  # header + 4
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = [json.loads(x) for x in journal.read_text().splitlines()[1:] if x.endswith("}")]
    assert 4 <= len(first) < 12, "the study was not killed mid-way"
    resumed = _run_cli(path, "--out", str(out), "--workers", "1", "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(x) for x in journal.read_text().splitlines()[1:]]
    cases = [r["case"] for r in records]
    assert sorted(cases) == list(range(12))  # each case once
    again = {r["case"]: r["worker"] for r in records}
    for r in first:
        assert again[r["case"]] == r["worker"]  # not redone by the second process
    with h5py.File(out / "sweep.h5") as f:
        assert f.attrs["completed"] == 12
        m1, m2 = f["design/mass1.m1"][()], f["design/mass2.m2"][()]
        for k in range(12):
            assert f["qoi/x1"][k] == pytest.approx(exact_final(m1[k], m2[k], 4.0)[0], abs=1e-5)
    # a changed design is another study: --resume refuses it
    path.write_text(path.read_text().replace("1.3]", "1.4]"))
    refused = _run_cli(path, "--out", str(out), "--workers", "1", "--resume")
    assert refused.returncode == 2 and "belongs to another study" in refused.stderr


# --------------------------------------------------------------------------- a real Dask cluster
# (the dask_cluster fixture: tests/conftest.py)
def test_a_sweep_on_a_real_dask_cluster_through_the_scheduler_option(tmp_path, dask_cluster):
    address, _ = dask_cluster
    path = system_yaml(
        tmp_path,
        "sweep:\n  design:\n    factorial: {mass1.m1: [0.8, 1.0, 1.3], mass2.m2: [0.7, 1.5]}\n"
        "  qoi: {x1: final(mass1.x1), x2: final(mass2.x2), v2: final(mass2.v2)}\n",
    )
    out = tmp_path / "out"
    proc = _run_cli(path, "--out", str(out), "--scheduler", address, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == {"completed": 6} and address in report["executor"]
    with h5py.File(out / "sweep.h5") as f:
        workers = {w.decode() for w in f["worker"][()]}
        m1, m2 = f["design/mass1.m1"][()], f["design/mass2.m2"][()]
        for k in range(6):
            assert f["qoi/x2"][k] == pytest.approx(exact_final(m1[k], m2[k])[2], abs=1e-5)
    assert len(workers) == 2  # both workers ran cases


def test_a_worker_killed_mid_study_loses_no_run(tmp_path, dask_cluster):
    # 16 cases of ~0.2 s; once 3 have finished, one worker is killed (SIGKILL): the scheduler
    # reruns its tasks on the other, and the study ends with every case once
    address, workers = dask_cluster
    path = system_yaml(tmp_path, stop=5.0)
    design = {"mass1.m1": list(np.linspace(0.8, 1.3, 8)), "mass2.m2": [0.7, 1.5]}
    killed = []

    def progress(done, total, outcome):
        if done >= 3 and not killed:
            victim = workers[0]
            os.killpg(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    frame = cosim.sweep(
        path, design, qoi={"x1": "final(mass1.x1)"}, stop=5.0, executor=address,
        out=tmp_path / "out", progress=progress,
    )  # fmt: skip
    assert killed
    assert len(frame) == 16 and set(frame["status"]) == {"completed"}
    records = [json.loads(x) for x in (tmp_path / "out/sweep.runs.jsonl").read_text().splitlines()]
    assert sorted(r["case"] for r in records[1:]) == list(range(16))
    for _, row in frame.iterrows():
        ref = exact_final(row["mass1.m1"], row["mass2.m2"], 5.0)
        assert row["x1"] == pytest.approx(ref[0], abs=1e-5)


def test_a_monitors_verdict_is_a_quantity_of_interest(tmp_path):
    # verdict(m): the worst level (0 normal, 1 warning, 2 alarm) the monitor reaches over the
    # run; a signal monitor on x1 without filter reaches a level when x1 on the record grid
    # exceeds it, which the exact solution decides for each case
    path = system_yaml(tmp_path, "sweep: {design: {factorial: {mass1.m1: [1.0]}}}\n")
    text = path.read_text() + (
        "monitors:\n  - {name: swing, signal: mass1.x1, warning: WARN, alarm: ALARM}\n"
    )
    times = np.arange(0.0, STOP + 5e-4, 1e-3)

    def peak(m1: float, m2: float) -> float:
        a = system_matrix(m1, m2)
        return max((expm(a * t) @ Z0)[0] for t in times)

    peaks = {(m1, m2): peak(m1, m2) for m1 in DESIGN["mass1.m1"] for m2 in DESIGN["mass2.m2"]}
    ordered = sorted(peaks.values())
    warn = 0.5 * (ordered[1] + ordered[2])  # between the 2nd and 3rd smallest peaks
    alarm = 0.5 * (ordered[3] + ordered[4])
    path.write_text(text.replace("WARN", f"{warn:.6f}").replace("ALARM", f"{alarm:.6f}"))
    frame = cosim.sweep(
        path, DESIGN, qoi={"v": "verdict(swing)", "x1": "max(mass1.x1)"}, executor=1
    )
    assert set(frame["status"]) == {"completed"}
    for _, row in frame.iterrows():
        p = peaks[(row["mass1.m1"], row["mass2.m2"])]
        assert row["x1"] == pytest.approx(p, abs=1e-4)
        assert row["v"] == (2 if p > alarm else 1 if p > warn else 0)
    assert set(frame["v"]) == {0.0, 1.0, 2.0}
    # an unknown monitor is refused, naming the closest one
    with pytest.raises(cosim.ConfigError, match="did you mean 'swing'"):
        cosim.sweep(path, DESIGN, qoi={"v": "verdict(swign)"}, executor=1)


def test_ctrl_c_writes_sweep_h5_with_the_runs_so_far(tmp_path):
    # SIGINT once 3 of 24 runs are journalled (~3 s of runs left): exit 130 and a readable
    # sweep.h5 in which the finished runs are completed (and right) and the rest pending
    path = system_yaml(
        tmp_path,
        "sweep:\n  design:\n    factorial: {mass1.m1: [0.8, 0.9, 1.0, 1.1, 1.2, 1.3], "
        "mass2.m2: [0.7, 1.0, 1.5, 2.0]}\n  qoi: {x1: final(mass1.x1)}\n",
        stop=4.0,
    )
    out = tmp_path / "out"
    proc = _sweep_until(path, out, journal_lines=4)  # header + 3
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err.decode())
    assert b"Traceback" not in err
    with h5py.File(out / "sweep.h5") as f:
        status = [s.decode() for s in f["status"][()]]
        done = [k for k, s in enumerate(status) if s == "completed"]
        assert 3 <= len(done) < 24 and set(status) <= {"completed", "pending"}
        m1, m2 = f["design/mass1.m1"][()], f["design/mass2.m2"][()]
        for k in done:
            assert f["qoi/x1"][k] == pytest.approx(exact_final(m1[k], m2[k], 4.0)[0], abs=1e-5)
        assert f.attrs["pending"] == 24 - len(done)
