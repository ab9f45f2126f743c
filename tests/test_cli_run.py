"""`cosim run` and `cosim export` through the real command line (subprocess): exit codes,
the summary and its JSON form, --stop, --set, --out, Ctrl-C, and the CSV export."""

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
from engine_helpers import bundled, dual_mass_yaml

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cosim(*args, cwd, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "cosim", *map(str, args)],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def system_file(tmp_path):
    path = tmp_path / "dual.yaml"
    path.write_text(dual_mass_yaml("2.0", stop=2.0, record_interval=1e-2))
    return path


def test_run_prints_a_summary_and_writes_results(tmp_path, system_file):
    proc = cosim("run", system_file, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "dual_mass: completed, 2000 steps to t = 2 s" in out
    assert "real-time factor" in out
    assert "share of doStep time:" in out
    assert "mass1" in out and "mass2" in out
    with h5py.File(tmp_path / "out" / "results.h5", "r") as f:
        assert f["time"][-1] == pytest.approx(2.0)
        assert f.attrs["status"] == "completed"


def test_json_summary(tmp_path, system_file):
    proc = cosim("run", system_file, "--out", tmp_path / "out", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["status"] == "completed" and s["error"] is None
    assert s["steps"] == 2000 and s["simulated_time"] == pytest.approx(2.0)
    assert s["wall_time"] > 0 and s["real_time_factor"] == pytest.approx(2.0 / s["wall_time"])
    assert Path(s["results"]) == tmp_path / "out" / "results.h5"
    comps = s["components"]
    assert set(comps) == {"mass1", "mass2"}
    assert sum(c["do_step_share"] for c in comps.values()) == pytest.approx(1.0)
    assert all(c["do_step_calls"] == 2000 for c in comps.values())


def test_quiet_prints_nothing(tmp_path, system_file):
    proc = cosim("run", system_file, "--out", tmp_path / "out", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_default_output_folder_is_new_under_results(tmp_path, system_file):
    first = cosim("run", system_file, "--quiet", cwd=tmp_path)
    second = cosim("run", system_file, "--quiet", cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    folders = sorted((tmp_path / "results").iterdir())
    assert len(folders) == 2  # a second run in the same second gets its own "-2" folder
    assert all(f.name.startswith("dual_mass-") and (f / "results.h5").is_file() for f in folders)


def test_stop_overrides_the_stop_time(tmp_path, system_file):
    proc = cosim(
        "run", system_file, "--out", tmp_path / "o", "--stop", "0.5", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == 500
    with h5py.File(tmp_path / "o" / "results.h5", "r") as f:
        np.testing.assert_allclose(f["time"][:], np.arange(51) * 1e-2, rtol=0, atol=1e-12)


def test_set_overrides_a_start_value(tmp_path, system_file):
    """With mass2 starting at x2 = 0 too, the oscillator is at rest: every signal stays 0."""
    proc = cosim(
        "run", system_file, "--out", tmp_path / "o", "--set", "mass2.x2=0", "--quiet", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    with h5py.File(tmp_path / "o" / "results.h5", "r") as f:
        for ds in f["signals"].values():
            assert not np.any(ds[:])
        assert json.loads(f.attrs["overrides"]) == ["mass2.x2=0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.yaml"], "missing.yaml"),
        (["{sys}", "--set", "mass1.nope=1"], "nope"),
        (["{sys}", "--set", "mass1.m1"], "component.variable=value"),
        (["{sys}", "--stop", "-1"], "--stop"),
        (["{sys}", "--stop", "abc"], "invalid float value"),
    ],
)
def test_bad_input_exits_2(tmp_path, system_file, args, message):
    args = [a.replace("{sys}", str(system_file)) for a in args]
    proc = cosim("run", *args, "--out", tmp_path / "o", cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_failure_json_summary_and_exit_1(tmp_path):
    path = tmp_path / "f.yaml"
    events = "events:\n  - {at: 0.5, set: {mass1.m1: -1.0}}\n"
    path.write_text(dual_mass_yaml("2.0", stop=1.0, events=events))
    proc = cosim("run", path, "--out", tmp_path / "o", "--json", cwd=tmp_path)
    assert proc.returncode == 1
    s = json.loads(proc.stdout)
    assert s["status"] == "failed"
    err = s["error"]
    assert (err["type"], err["instance"], err["function"], err["fmi_status"]) == (
        "FmuError", "mass1", "fmi2DoStep", "Error",
    )  # fmt: skip
    assert err["time"] == pytest.approx(0.5)
    assert any("invalid parameter m1 = -1 kg" in line for line in err["log"])


def test_ctrl_c_stops_at_the_end_of_a_step_and_closes_the_file(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(dual_mass_yaml("2.0", stop=1.0e5, record_interval=1e-2))
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(out), "--json"],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    t0 = time.monotonic()
    while not (out / "results.h5").exists() and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    s = json.loads(stdout)
    assert s["status"] == "interrupted" and 0 < s["steps"] < 1e8
    with h5py.File(out / "results.h5", "r") as f:
        assert f.attrs["status"] == "interrupted"
        t = f["time"][:]
        # rows on the 10 ms grid, then the state where the run stopped (the last step's end)
        np.testing.assert_allclose(t[:-1], np.arange(len(t) - 1) * 1e-2, rtol=0, atol=1e-9)
        assert t[-1] == pytest.approx(s["steps"] * 1e-3, abs=1e-9)
        assert f["signals/mass1.x1"].shape == t.shape


def test_export_csv(tmp_path, system_file):
    assert (
        cosim("run", system_file, "--out", tmp_path / "o", "--quiet", cwd=tmp_path).returncode == 0
    )
    proc = cosim("export", tmp_path / "o" / "results.h5", "--csv", tmp_path / "r.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "time [s],mass1.x1 [m],mass1.v1 [m/s],mass2.x2 [m],mass2.v2 [m/s]"
    assert len(lines) == 202
    assert lines[1].split(",")[:4] == ["0", "0", "0", "0.5"]


def test_export_of_a_missing_file_exits_2(tmp_path):
    proc = cosim("export", tmp_path / "nope.h5", "--csv", tmp_path / "r.csv", cwd=tmp_path)
    assert proc.returncode == 2 and "nope.h5" in proc.stderr


# ---------------------------------------------------------------- issue 8 defects 4, 6 and 9
WARNED = """\
name: warned
simulation: {{stop: 1.0, step: 0.1}}
components:
  m1: {{fmu: {m1}}}
  m2: {{fmu: {m2}}}
connections:
  - {{from: m1.x1, to: m2.x1}}
  - {{from: m2.F, to: m1.F}}
events:
  - {{at: 0.55, set: {{m1.F_ext: 1.0}}}}
"""


def test_run_shows_every_validation_warning_in_text_and_json(tmp_path):
    """An event off the step grid and an unconnected input (m2.v1) are warnings, not silence."""
    path = tmp_path / "_warned_test.yaml"
    path.write_text(WARNED.format(m1=bundled("Mass1"), m2=bundled("Mass2")))
    text = cosim("run", path, "--out", tmp_path / "a", cwd=tmp_path)
    data = cosim("run", path, "--out", tmp_path / "b", "--json", cwd=tmp_path)
    assert text.returncode == 0 and data.returncode == 0, text.stderr + data.stderr
    assert "warning:" in text.stderr and "_warned_test.yaml:" in text.stderr
    assert "m2.v1" in text.stderr and "0.55" in text.stderr
    assert "warnings about the system" in text.stdout
    warnings = json.loads(data.stdout)["warnings"]
    messages = " ".join(w["message"] for w in warnings)
    assert "m2.v1" in messages and "0.55" in messages
    assert all(w["severity"] == "warning" and w["location"] for w in warnings)


def test_run_one_fmu_with_its_default_experiment(tmp_path):
    """`cosim run X.fmu` like `fmpy simulate`: default experiment, --stop/--step/--set apply,
    every output recorded. Mass1 alone with F_ext = 2 N settles at x1 = F/k1 = 0.2 m."""
    fmu = ROOT / "fmus" / "Mass1.fmu"
    proc = cosim("run", fmu, "--out", tmp_path / "o", "--json", "--set", "F_ext=2.0",
                 "--stop", "60", "--step", "0.01", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["status"] == "completed" and s["step"] == 0.01 and s["stop"] == 60.0
    with h5py.File(tmp_path / "o" / "results.h5") as f:
        names = {f["signals"][k].attrs["name"] for k in f["signals"]}
        assert names == {"Mass1.x1", "Mass1.v1"}  # the FMU's outputs
        x1 = f["signals"]["Mass1.x1"][:]
    k1 = 10.0  # fmus/models/Mass1/model.yaml; damping 0.2 N.s/m: e^(-0.1 t) < 3e-3 at 60 s
    assert abs(x1[-1] - 2.0 / k1) < 2e-3
    # the default experiment (stopTime 15, stepSize 1e-3) without flags
    plain = cosim("run", fmu, "--out", tmp_path / "p", "--json", cwd=tmp_path)
    s = json.loads(plain.stdout)
    assert s["stop"] == 15.0 and s["step"] == 0.001 and s["steps"] == 15000


def test_out_into_a_folder_with_results_needs_force(tmp_path, system_file):
    out = tmp_path / "out"
    assert cosim("run", system_file, "--out", out, "--stop", "0.5", cwd=tmp_path).returncode == 0
    again = cosim("run", system_file, "--out", out, cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
    with h5py.File(out / "results.h5") as f:  # the earlier results are untouched
        assert f["time"][-1] == pytest.approx(0.5)
    forced = cosim("run", system_file, "--out", out, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    with h5py.File(out / "results.h5") as f:
        assert f["time"][-1] == pytest.approx(2.0)


def test_run_text_uses_singular_and_plain_times(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(dual_mass_yaml("2.0", stop=0.001, record_interval=1e-3))
    proc = cosim("run", path, "--out", tmp_path / "o", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 step to" in proc.stdout and "1 steps" not in proc.stdout


def test_run_reports_the_same_complete_list_as_validate(tmp_path):
    """Defect 5: an unknown component hides nothing; run and validate list the same problems."""
    data = ROOT / "tests" / "data" / "validation"
    run = cosim("run", "seven.yaml", "--out", tmp_path / "o", cwd=data)
    validate = cosim("validate", "seven.yaml", cwd=data)
    assert run.returncode == validate.returncode == 2

    def problems(text: str) -> list[str]:
        return [line for line in text.splitlines() if ": error:" in line or ": warning:" in line]

    assert len([p for p in problems(run.stderr) if ": error:" in p]) >= 7
    assert problems(run.stderr) == problems(validate.stdout + validate.stderr)
    assert not (tmp_path / "o").exists()  # nothing written for bad input
