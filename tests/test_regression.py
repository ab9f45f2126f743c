"""Regression suites through the real command line: `cosim test` over the repository's systems
(the dual-mass oscillator against its exact solution), injected deviations that must fail and
name their signal, JUnit XML, `--update` (compressed, decimated references and a change
report), bad `regression:` sections (exit 2 with file:line:col), and the pytest plugin/helper.

The shipped reference is itself checked against a matrix exponential computed here, so a wrong
reference cannot make the suite pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
from scipy.linalg import expm

from cosim.verify.regression import decimation_mask, write_reference_file

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = ROOT / "systems" / "dual_mass_oscillator.yaml"
REFERENCE = ROOT / "systems" / "references" / "dual_mass_oscillator.h5"
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

# bundled model parameters (fmus/models/Mass1, Mass2); systems/dual_mass_oscillator.yaml sets
# m1 = 1 (the default) and F_ext := 10 N at t = 5 s
m1, k1, c1 = 1.0, 10.0, 0.2
m2, k2, c2, kc, cc = 1.0, 10.0, 0.5, 20.0, 0.3
A = np.array(
    [
        [0, 1, 0, 0],
        [-(k1 + kc) / m1, -(c1 + cc) / m1, kc / m1, cc / m1],
        [0, 0, 0, 1],
        [kc / m2, cc / m2, -(k2 + kc) / m2, -(c2 + cc) / m2],
    ]
)


def exact(t: np.ndarray) -> np.ndarray:
    """(x1, v1, x2, v2) at times t: free response from (0, 0, 0.5, 0), then F_ext = 10 N from
    t = 5 s: z(t) = e^{A tau} z5 + A^-1 (e^{A tau} - I) b with tau = t - 5."""
    z0 = np.array([0.0, 0.0, 0.5, 0.0])
    b = np.array([0.0, 10.0 / m1, 0.0, 0.0])
    z5 = expm(A * 5.0) @ z0
    out = []
    for s in t:
        if s <= 5.0:
            out.append(expm(A * s) @ z0)
        else:
            e = expm(A * (s - 5.0))
            out.append(e @ z5 + np.linalg.solve(A, (e - np.eye(4)) @ b))
    return np.array(out)


def cosim(*args, cwd=ROOT, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "cosim", *map(str, args)],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def system_copy(folder: Path, name: str, *, m1_value: float = 1.0, reference: Path = REFERENCE,
                ref_name: str = "dual_mass_oscillator.h5") -> Path:  # fmt: skip
    """The repository's dual-mass system as folder/<name>.yaml: FMU paths made absolute, the
    system renamed, mass 1 optionally changed and its reference copied next to it."""
    text = SYSTEM.read_text()
    text = text.replace("../fmus/", f"{ROOT / 'fmus'}/")
    text = text.replace("name: dual_mass_oscillator", f"name: {name}", 1)
    text = text.replace("parameters: {m1: 1.0}", f"parameters: {{m1: {m1_value}}}", 1)
    text = text.replace("references/dual_mass_oscillator.h5", f"references/{ref_name}")
    path = folder / f"{name}.yaml"
    path.write_text(text)
    if reference is not None:
        (folder / "references").mkdir(exist_ok=True)
        shutil.copy(reference, folder / "references" / ref_name)
    return path


def offset_reference(path: Path, signal: str, offset: float) -> Path:
    """A copy of the shipped reference with `offset` added to one signal."""
    with h5py.File(REFERENCE, "r") as f:
        t = f["time"][()]
        values = {n: ds[()] for n, ds in f["signals"].items()}
        units = {n: ds.attrs["unit"] for n, ds in f["signals"].items()}
    values[signal] = values[signal] + offset
    return write_reference_file(path, t, values, units)


# --------------------------------------------------------------------------- the repo's suite
def test_shipped_reference_is_the_exact_solution():
    """The committed file against the matrix exponential computed here (independently of
    make_dual_mass_reference.py); expm is accurate to ~1e-14 on this 4x4 system, 1e-10 is
    rounding headroom. Also: compressed, on the 0.01 s record grid, units on every signal."""
    with h5py.File(REFERENCE, "r") as f:
        t = f["time"][()]
        z = exact(t)
        np.testing.assert_allclose(f["signals/mass1.x1"][()], z[:, 0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(f["signals/mass2.x2"][()], z[:, 2], rtol=0, atol=1e-10)
        for ds in (f["time"], f["signals/mass1.x1"], f["signals/mass2.x2"]):
            assert ds.compression == "gzip" and ds.shuffle
        assert f["signals/mass1.x1"].attrs["unit"] == "m"
    np.testing.assert_allclose(t, np.arange(1501) * 0.01, rtol=0, atol=1e-12)
    assert REFERENCE.stat().st_size < 64_000  # small enough to commit


def test_cosim_test_systems_passes():
    """The repository's own regression suite, as CI runs it."""
    proc = cosim("test", "systems/", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    cases = {c["system"]: c for c in data["cases"]}
    dual = cases["dual_mass_oscillator"]
    assert dual["status"] == "pass"
    devs = {s["name"]: s["max_deviation"] for s in dual["comparison"]["signals"]}
    # Gauss-Seidel at h = 1e-3 s is first order: its error over 15 s is a few mm (measured
    # 3.8e-3 m); it must be nonzero (the run is not the reference) and inside the 1e-2 band
    assert set(devs) == {"mass1.x1", "mass2.x2"}
    assert all(1e-4 < d < 8e-3 for d in devs.values()), devs

    table = cosim("test", "systems/")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "dual_mass_oscillator" in line)
    assert "PASS" in row


def test_injected_deviations_fail_and_name_their_signal(tmp_path):
    """Three copies run in parallel: unchanged (passes), mass 1 five percent heavier (both
    signals drift by centimetres: fail), and a reference with mass2.x2 raised by 2 cm (twice
    the 1e-2 m band: only mass2.x2 fails). JUnit XML must say the same."""
    system_copy(tmp_path, "good")
    system_copy(tmp_path, "heavy", m1_value=1.05)
    system_copy(tmp_path, "offset", ref_name="offset.h5")
    offset_reference(tmp_path / "references" / "offset.h5", "mass2.x2", 0.02)
    junit = tmp_path / "out" / "junit.xml"

    proc = cosim("test", tmp_path, "--junit", junit, "--jobs", "2", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    cases = {c["system"]: c for c in json.loads(proc.stdout)["cases"]}
    assert cases["good"]["status"] == "pass"
    assert cases["heavy"]["status"] == "fail"
    assert {s["name"] for s in cases["heavy"]["failing_signals"]} == {"mass1.x1", "mass2.x2"}
    failing = cases["offset"]["failing_signals"]
    assert [s["name"] for s in failing] == ["mass2.x2"]
    # the deviation is the 0.02 m offset plus or minus the run's own error (< 4e-3 m)
    assert 0.016 < failing[0]["max_deviation"] < 0.024, failing

    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    testcases = {tc.get("name"): tc for tc in suite.findall("testcase")}
    assert set(testcases) == {"good", "heavy", "offset"}
    assert testcases["good"].find("failure") is None
    message = testcases["offset"].find("failure").get("message")
    assert "mass2.x2" in message and "mass1.x1" not in message
    assert "max |dev|" in message
    assert "mass1.x1" in testcases["heavy"].find("failure").get("message")

    table = cosim("test", tmp_path / "offset.yaml")
    assert table.returncode == 1
    row = next(line for line in table.stdout.splitlines() if line.startswith("offset"))
    assert "FAIL" in row and "mass2.x2" in row and "mass1.x1" not in row


def test_small_offset_inside_the_band_passes(tmp_path):
    """2e-3 m on mass2.x2: with the run's error (< 4e-3 m) still inside the 9.6e-3 m band."""
    system_copy(tmp_path, "nudged", ref_name="nudged.h5")
    offset_reference(tmp_path / "references" / "nudged.h5", "mass2.x2", 2e-3)
    proc = cosim("test", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- --update
def test_update_writes_a_compressed_reference_and_reports_changes(tmp_path):
    path = system_copy(tmp_path, "fresh", reference=None, ref_name="fresh.h5")
    ref = tmp_path / "references" / "fresh.h5"

    missing = cosim("test", path)
    assert missing.returncode == 2
    assert "reference file not found" in missing.stderr and "--update" in missing.stderr

    first = cosim("test", path, "--update", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    changes = json.loads(first.stdout)["cases"][0]["changes"]
    assert {c["name"]: c["status"] for c in changes} == {"mass1.x1": "new", "mass2.x2": "new"}
    with h5py.File(ref, "r") as f:
        assert list(f["signals"]) == ["mass1.x1", "mass2.x2"]  # only the regression signals
        for ds in (f["time"], *f["signals"].values()):
            assert ds.compression == "gzip" and ds.shuffle
        assert f["signals/mass2.x2"].attrs["unit"] == "m"
        t = f["time"][()]
        x1 = f["signals/mass1.x1"][()]
    # on the 0.01 s record grid, and the run's data (within the run's error of the exact one)
    np.testing.assert_allclose(t, np.arange(1501) * 0.01, rtol=0, atol=1e-9)
    assert np.abs(x1 - exact(t)[:, 0]).max() < 8e-3

    before = ref.read_bytes()
    again = cosim("test", path, "--update")
    assert again.returncode == 0
    assert "UNCHANGED" in again.stdout
    assert ref.read_bytes() == before  # same data: the file is not rewritten

    path.write_text(path.read_text().replace("parameters: {m1: 1.0}", "parameters: {m1: 1.05}"))
    changed = cosim("test", path, "--update", "--json")
    assert changed.returncode == 0, changed.stderr
    report = {c["name"]: c for c in json.loads(changed.stdout)["cases"][0]["changes"]}
    # a 5 % heavier mass 1 moves both signals by centimetres: beyond the tolerance
    for name in ("mass1.x1", "mass2.x2"):
        assert report[name]["status"] == "changed"
        assert report[name]["max_deviation"] > 0.02
        assert report[name]["within_tolerance"] is False
    text = cosim("test", path, "--update")  # same run again: nothing changes now
    assert "UNCHANGED" in text.stdout
    assert cosim("test", path).returncode == 0  # the updated reference is the new baseline


def test_decimation_keeps_the_record_grid_and_the_last_row():
    t = np.array([0.0, 0.01, 0.01, 0.02, 0.025, 0.03, 0.035])  # a repeated row, off-grid rows
    keep = decimation_mask(t, 0.01)
    np.testing.assert_array_equal(t[keep], [0.0, 0.01, 0.02, 0.03, 0.035])
    assert decimation_mask(t, None).all()


# --------------------------------------------------------------------------- bad input
def test_bad_regression_keys_exit_2_with_location(tmp_path):
    path = system_copy(tmp_path, "bad")
    text = path.read_text()
    text = text.replace("  rel_tol: 1.0e-2\n", "  rel_tol: 1.0e-2\n  signal_list: [mass1.x1]\n")
    text = text.replace(
        "  signals: [mass1.x1, mass2.x2]\n",
        "  signals: [mass1.x1, mass2.x2]\n  tolerances:\n    mass2.x2: {rel_tl: 0.1}\n",
    )
    path.write_text(text)
    lines = text.splitlines()
    bad_line = next(i for i, line in enumerate(lines, 1) if "signal_list:" in line)
    tol_line = next(i for i, line in enumerate(lines, 1) if "rel_tl" in line)

    proc = cosim("test", path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert f"bad.yaml:{bad_line}:3: error: unknown key 'signal_list' in regression" in err
    assert "did you mean 'signals'?" in err
    assert f"bad.yaml:{tol_line}:16: error: unknown key 'rel_tl'" in err
    assert "did you mean 'rel_tol'?" in err

    junk = tmp_path / "junk.yaml"
    junk.write_text(SYSTEM.read_text().replace("../fmus/", f"{ROOT / 'fmus'}/")
                    .replace("rel_tol: 1.0e-2", "rel_tol: -1"))  # fmt: skip
    proc = cosim("test", junk)
    assert proc.returncode == 2
    assert "regression.rel_tol must be a finite number >= 0" in proc.stderr

    nothing = tmp_path / "empty"
    nothing.mkdir()
    proc = cosim("test", nothing)
    assert proc.returncode == 2 and "no system with a 'regression:' section" in proc.stderr


def test_a_broken_system_does_not_stop_the_others(tmp_path):
    # one system with a bad regression section next to a good one: the good one still runs and
    # passes, the broken one is an error in the table and the JUnit file, and the exit code is 2
    system_copy(tmp_path, "good")
    broken = system_copy(tmp_path, "broken")
    broken.write_text(broken.read_text().replace("rel_tol: 1.0e-2", "rel_tol: -1"))
    junit = tmp_path / "junit.xml"
    proc = cosim("test", tmp_path, "--junit", junit)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[2:4]}
    assert rows == {"good": "PASS", "broken": "ERROR"}, proc.stdout
    assert "regression.rel_tol must be a finite number >= 0" in proc.stderr
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert int(suite.get("tests")) == 2 and int(suite.get("errors")) == 1


# --------------------------------------------------------------------------- pytest
def pytest_run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_pytest_plugin_gives_one_item_per_system(tmp_path):
    suite = tmp_path / "systems"
    suite.mkdir()
    system_copy(suite, "good")
    system_copy(suite, "heavy", m1_value=1.05)
    (suite / "unrelated.yaml").write_text("just: data\n")  # no regression section: not an item
    junit = tmp_path / "pytest.xml"

    proc = pytest_run("-p", "cosim.pytest_plugin", "systems", f"--junitxml={junit}", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in proc.stdout
    assert "mass1.x1" in proc.stdout  # the failing item names its signals
    cases = ET.parse(junit).getroot().iter("testcase")
    outcome = {tc.get("name"): tc.find("failure") is None for tc in cases}
    assert outcome == {"good": True, "heavy": False}


def test_conftest_helper_parametrizes_one_test_per_system(tmp_path):
    suite = tmp_path / "systems"
    suite.mkdir()
    system_copy(suite, "one")
    system_copy(suite, "two")
    (tmp_path / "test_suite.py").write_text(
        "import pytest\n"
        "from cosim.pytest_plugin import check_regression, regression_cases\n\n"
        '@pytest.mark.parametrize("case", regression_cases("systems"))\n'
        "def test_regression(case, tmp_path):\n"
        "    check_regression(case, tmp_path)\n"
    )
    proc = pytest_run("-v", "test_suite.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_regression[one] PASSED" in proc.stdout
    assert "test_regression[two] PASSED" in proc.stdout


def test_update_refuses_to_overwrite_an_independent_reference_without_force(tmp_path):
    # the shipped dual-mass reference is the exact solution (its `source` attribute says so):
    # `--update` must not silently replace it with simulator output
    path = system_copy(tmp_path, "exact_ref")
    ref = tmp_path / "references" / "dual_mass_oscillator.h5"
    before = ref.read_bytes()
    proc = cosim("test", "--update", path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "refusing to overwrite dual_mass_oscillator.h5" in proc.stdout + proc.stderr
    assert ref.read_bytes() == before
    proc = cosim("test", "--update", "--force", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with h5py.File(ref, "r") as f:
        assert str(f.attrs["source"]).startswith("cosim test --update")
