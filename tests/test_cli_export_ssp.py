"""`cosim export-ssp` in a real subprocess: exit codes, warnings on stderr, --force, --set."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from lxml import etree

REPO = Path(__file__).resolve().parents[1]
SSV = "{http://ssp-standard.org/SSP1/SystemStructureParameterValues}"


def cosim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cosim", "export-ssp", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _ssv_values(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".ssv")]
        root = etree.fromstring(zf.read(name))
    return {p.get("name"): p[0].get("value") for p in root.iter(f"{SSV}Parameter")}


def test_export_writes_the_package_and_warns_on_stderr(tmp_path):
    done = cosim(str(REPO / "systems/dual_mass_oscillator.yaml"), "-o", "dm.ssp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert zipfile.is_zipfile(tmp_path / "dm.ssp")
    assert "wrote dm.ssp: 2 components, 3 connections, 1 parameter value" in done.stdout
    # the example's events, record list and regression section cannot go into SSP 1.0
    for what in ("events (1 timed change)", "record (", "the regression section"):
        assert what in done.stderr and "warning:" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_existing_output_needs_force(tmp_path):
    system = str(REPO / "systems/ev_ece15.yaml")
    (tmp_path / "ev.ssp").write_bytes(b"old")
    done = cosim(system, "-o", "ev.ssp", cwd=tmp_path)
    assert done.returncode == 2
    assert "ev.ssp: error: the output file exists already" in done.stderr
    assert "hint: pass --force" in done.stderr
    assert (tmp_path / "ev.ssp").read_bytes() == b"old"
    done = cosim(system, "-o", "ev.ssp", "--force", "--set", "motor.V_dc=400", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _ssv_values(tmp_path / "ev.ssp")["motor.V_dc"] == "400.0"


def test_bad_input_exits_2_without_a_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "simulation: {stop: 1, step: 0.1}\ncomponents:\n  g: {fmu: Gain, paramters: {k: 1}}\n"
    )
    for args in (
        ["missing.yaml", "-o", "x.ssp"],
        ["bad.yaml", "-o", "x.ssp"],
        [str(REPO / "systems/ev_ece15.yaml"), "-o", "x.zip"],
        [str(REPO / "systems/ev_ece15.yaml"), "--set", "motor.nope=1", "-o", "x.ssp"],
        [str(REPO / "systems/ev_ece15.yaml")],  # no -o
    ):
        done = cosim(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and "error" in done.stderr
    assert not (tmp_path / "x.ssp").exists() and not (tmp_path / "x.zip").exists()
    done = cosim("bad.yaml", "-o", "x.ssp", cwd=tmp_path)
    assert "bad.yaml:3:" in done.stderr and "parameters" in done.stderr  # did you mean
