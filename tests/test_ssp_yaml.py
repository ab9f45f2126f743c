"""A system YAML with `ssp:`: an SSP's structure plus the YAML's record, inputs and sweep.

      u.csv --> a (Gain, k from the SSP) --y/u--> b (Gain) --> b.y

The references are the Gain FMU's closed form y = k*u + b and numpy's np.interp of the table.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import cosim
from cosim.resolve.resolver import check

ROOT = Path(__file__).resolve().parents[1]

SSD = """<?xml version="1.0" encoding="UTF-8"?>
<ssd:SystemStructureDescription version="1.0" name="chain"
    xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssd:System name="chain">
    <ssd:Elements>
      <ssd:Component name="a" source="Gain.fmu" type="application/x-fmu-sharedlibrary">
        <ssd:Connectors>
          <ssd:Connector name="u" kind="input"><ssc:Real/></ssd:Connector>
          <ssd:Connector name="y" kind="output"><ssc:Real/></ssd:Connector>
          <ssd:Connector name="k" kind="parameter"><ssc:Real/></ssd:Connector>
        </ssd:Connectors>
        <ssd:ParameterBindings>
          <ssd:ParameterBinding>
            <ssd:ParameterValues>
              <ssv:ParameterSet version="1.0" name="p">
                <ssv:Parameters>
                  <ssv:Parameter name="k"><ssv:Real value="3"/></ssv:Parameter>
                </ssv:Parameters>
              </ssv:ParameterSet>
            </ssd:ParameterValues>
          </ssd:ParameterBinding>
        </ssd:ParameterBindings>
      </ssd:Component>
      <ssd:Component name="b" source="Gain.fmu" type="application/x-fmu-sharedlibrary">
        <ssd:Connectors>
          <ssd:Connector name="u" kind="input"><ssc:Real/></ssd:Connector>
          <ssd:Connector name="y" kind="output"><ssc:Real/></ssd:Connector>
        </ssd:Connectors>
      </ssd:Component>
    </ssd:Elements>
    <ssd:Connections>
      <ssd:Connection startElement="a" startConnector="y" endElement="b" endConnector="u">
        <ssc:LinearTransformation factor="2" offset="1"/>
      </ssd:Connection>
    </ssd:Connections>
  </ssd:System>
  <ssd:DefaultExperiment startTime="0" stopTime="2"/>
</ssd:SystemStructureDescription>
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "fmus" / "Gain.fmu", tmp_path / "Gain.fmu")
    (tmp_path / "chain.ssd").write_text(SSD, encoding="utf-8")
    (tmp_path / "u.csv").write_text("time,u\n0,0\n1,1\n2,0\n")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_the_yaml_adds_step_inputs_and_record_to_the_ssp(folder):
    path = write(
        folder / "system.yaml",
        """
        ssp: chain.ssd
        simulation: {step: 0.25}
        inputs:
          - {file: u.csv, map: {u: a.u}}
        record: {variables: [a.y, b.y]}
        """,
    )
    system = cosim.load(path)
    assert system.components == ("a", "b")
    assert (system.start, system.stop, system.step) == (0.0, 2.0, 0.25)
    res = system.simulate()
    t = np.asarray(res.time)
    u = np.interp(t[:-1], [0, 1, 2], [0, 1, 0])  # the input each recorded step started with
    np.testing.assert_allclose(res["a.y"][1:], 3 * u, atol=1e-12)  # k = 3 from the SSP
    # Gauss-Seidel: b sees a's output of the same step through y -> 2*y + 1
    np.testing.assert_allclose(res["b.y"][1:], 2 * 3 * u + 1, atol=1e-12)


def test_yaml_keys_win_and_a_duplicate_component_is_an_error(folder):
    path = write(
        folder / "system.yaml",
        """
        ssp: chain.ssd
        simulation: {stop: 1, step: 0.5}
        components:
          a: {fmu: Gain}
          c: {fmu: Gain}
        connections:
          - {from: b.y, to: c.u}
        """,
    )
    system, problems = check(path)
    assert system is None
    (error,) = [p for p in problems if p.severity == "error"]
    assert (error.loc.file, error.loc.line) == (str(path), 4)
    assert "component 'a' is already in the SSP" in error.message
    path.write_text(path.read_text().replace("  a: {fmu: Gain}\n", ""))
    system = cosim.load(path)
    assert system.components == ("a", "b", "c") and system.stop == 1.0
    res = system.simulate()
    assert res["c.y"][-1] == res["b.y"][-1]


def test_without_a_step_the_fmus_default_experiment_step_is_used_and_said(folder):
    path = write(folder / "system.yaml", "ssp: chain.ssd\n")
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", "system.yaml"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # no step in the YAML nor an annotation: Gain's DefaultExperiment stepSize (0.01 s)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "note: communication step 0.01 s" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "run", "system.yaml", "--step", "0.5", "--out", "r"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (folder / "r" / "results.h5").exists()
    assert path.exists()


def test_a_sweep_over_an_ssp_system_with_an_input_table(folder):
    path = write(
        folder / "system.yaml",
        """
        ssp: chain.ssd
        simulation: {step: 0.25}
        inputs:
          - {file: u.csv, map: {u: a.u}}
        sweep:
          design:
            factorial: {a.k: [1.0, 2.0]}
          qoi:
            peak: max(b.y)
        """,
    )
    table = cosim.sweep(path, {"a.k": [1.0, 2.0]}, {"peak": "max(b.y)"}, executor=1)
    assert list(table["status"]) == ["completed", "completed"]
    # the input peaks at 1 at t = 1 s (a communication point): b.y = 2*k*1 + 1
    np.testing.assert_allclose(table["peak"], [3.0, 5.0], atol=1e-12)


def test_cosim_test_runs_a_regression_suite_of_an_ssp_system(folder):
    write(
        folder / "reg.yaml",
        """
        ssp: chain.ssd
        simulation: {step: 0.1, stop: 1}
        inputs:
          - {file: u.csv, map: {u: a.u}}
        record: {variables: [b.y]}
        regression:
          reference: ref.h5
        """,
    )
    for extra, word in ((["--update"], "UPDATED"), ([], "PASS")):
        out = subprocess.run(
            [sys.executable, "-m", "cosim", "test", "reg.yaml", *extra],
            cwd=folder, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert word in out.stdout
    # the reference holds the closed form: b.y = 2*(3*u) + 1 with u the table's interpolant
    with h5py.File(folder / "ref.h5") as f:
        t, y = f["time"][()], f["signals/b.y"][()]
    np.testing.assert_allclose(y[1:], 6 * np.interp(t[:-1], [0, 1, 2], [0, 1, 0]) + 1, atol=1e-12)
