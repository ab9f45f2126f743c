"""Importer conformance: what cosim passes to FMUs and how it steps, checked on bundled FMUs
against closed forms (the defects found running FMUs exported by other tools).

    mass1 --x1, v1--> mass2        (the dual-mass oscillator, tests/test_dual_mass.py)
      ^                 |
      +-------F---------+
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import dual_mass_yaml, load_yaml, simulate
from test_dual_mass import LABELS, exact

import cosim


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_a_stop_off_the_step_grid_ends_with_a_shorter_step(tmp_path, fmi):
    # stop 1.005 with step 0.01: 100 full steps, then one of 0.005 s; the run ends exactly at
    # the stop time and the last values match the exact solution there (the Gauss-Seidel
    # coupling error at h = 0.01 is about 1e-2 over a second: the tolerance below)
    system = load_yaml(tmp_path, dual_mass_yaml(fmi, step=0.01, stop=1.005, record_interval=None))
    rec = simulate(system)
    assert rec.time[-1] == pytest.approx(1.005, abs=1e-12)
    assert np.all(np.diff(rec.time) > 0)
    assert rec.time[-2] == pytest.approx(1.0, abs=1e-12)
    got = np.array([rec[label][-1] for label in LABELS])
    prev = np.array([rec[label][-2] for label in LABELS])
    ref, before = exact(np.array([1.005]))[0], exact(np.array([1.0]))[0]
    # the last step advanced the state by 0.005 s, not 0.01 s: its increment matches the exact
    # increment over 0.005 s to within the coupling error of one step (O(h) relative: 30 %)
    # and is far from the exact increment over a full step
    increment, exact_half = got - prev, ref - before
    exact_full = exact(np.array([1.01]))[0] - before
    assert np.linalg.norm(increment - exact_half) < 0.3 * np.linalg.norm(exact_half)
    assert np.linalg.norm(increment - exact_full) > 0.5 * np.linalg.norm(exact_half)


def test_the_api_runs_to_a_stop_off_the_grid(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_text(dual_mass_yaml(step=0.01, stop=0.255, record_interval=None))
    result = cosim.load(path).simulate()
    assert result.time[-1] == pytest.approx(0.255, abs=1e-12)
    assert result.status == "completed"


# --------------------------------------------------------------------------- FMU files
def _derived(src: Path, dst: Path, edit_xml=None, rename: dict[str, str] | None = None) -> Path:
    """A copy of a bundled FMU with its model description edited and members renamed."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            name = item.filename
            if name == "modelDescription.xml" and edit_xml is not None:
                data = edit_xml(data.decode()).encode()
            for old, new in (rename or {}).items():
                name = name.replace(old, new)
            zout.writestr(name, data)
    return dst


def _problems(tmp_path: Path, fmu: Path, extra: str = "") -> list:
    from cosim.resolve.resolver import validate

    path = tmp_path / "system.yaml"
    path.write_text(
        f"simulation: {{stop: 1.0, step: 0.1}}\ncomponents:\n  c: {{fmu: {fmu.name}{extra}}}\n"
    )
    return validate(path)


def test_a_model_identifier_that_does_not_name_the_binary_names_the_file_looked_for(tmp_path):
    from engine_helpers import bundled

    fmu = _derived(bundled("Gain"), tmp_path / "bad_id.fmu", rename={"Gain.so": "Other.so"})
    errors = [p for p in _problems(tmp_path, fmu) if p.severity == "error"]
    assert len(errors) == 1
    message = errors[0].message
    assert "binaries/linux64/Gain.so is missing" in message
    assert "modelIdentifier is 'Gain'" in message and "Other.so" in message
    assert "linux64" not in errors[0].hint or "modelIdentifier" in errors[0].hint


def test_scheduled_execution_only_fmus_are_named_as_such(tmp_path):
    from engine_helpers import bundled

    def only_se(xml: str) -> str:
        import re

        xml = re.sub(r"<CoSimulation[^>]*/>", "", xml)
        xml = re.sub(r"<ModelExchange[^>]*/>", "", xml)
        return xml.replace(
            "<LogCategories>", '<ScheduledExecution modelIdentifier="Gain"/>\n  <LogCategories>'
        )

    fmu = _derived(bundled("fmi3/Gain"), tmp_path / "se.fmu", only_se)
    errors = [p for p in _problems(tmp_path, fmu) if p.severity == "error"]
    assert len(errors) == 1
    assert "only a Scheduled Execution interface" in errors[0].message
    assert "does not run Scheduled Execution FMUs" in errors[0].message
    assert "export as CS" not in errors[0].hint


@pytest.mark.parametrize(
    ("clock", "event_mode", "why"),
    [
        ('intervalVariability="constant" intervalDecimal="0.1"', False, "hasEventMode"),
        ('intervalVariability="triggered"', True, "periodic"),
        ('intervalVariability="constant" intervalDecimal="0.15"', True, "grid"),
    ],
)
def test_clocks_cosim_cannot_schedule_are_refused_naming_the_clock(
    tmp_path, clock, event_mode, why
):
    # cosim activates periodic input clocks on the communication grid in Event Mode (tested
    # on special/Clocked3 in tests/test_arrays.py); anything else is refused, naming the clock
    from engine_helpers import bundled

    def clocked(xml: str) -> str:
        xml = xml.replace(
            "</ModelVariables>",
            f'    <Clock name="tick" valueReference="9000" causality="input" {clock}/>\n'
            "  </ModelVariables>",
        )
        flag = 'hasEventMode="true"' if event_mode else ""
        return re.sub(r'hasEventMode="\w+"', flag, xml)

    fmu = _derived(bundled("fmi3/Gain"), tmp_path / "clocked.fmu", clocked)
    errors = [p for p in _problems(tmp_path, fmu) if p.severity == "error"]
    assert len(errors) == 1 and "clock 'tick'" in errors[0].message
    assert why in errors[0].message


def test_array_outputs_are_recorded_element_by_element_by_default(tmp_path):
    from engine_helpers import bundled

    def with_array(xml: str) -> str:
        return xml.replace(
            "</ModelVariables>",
            '    <Float64 name="arr" valueReference="9001" causality="output" '
            'variability="continuous"><Dimension start="3"/></Float64>\n  </ModelVariables>',
        )

    from cosim.io.yaml import load_system
    from cosim.resolve.resolver import resolve_problems

    fmu = _derived(bundled("fmi3/Gain"), tmp_path / "array.fmu", with_array)
    assert not [p for p in _problems(tmp_path, fmu) if "array" in p.message]
    system, _ = resolve_problems(load_system(tmp_path / "system.yaml"))
    labels = [r.label for r in system.records]
    assert [x for x in labels if "arr" in x] == ["c.arr[1]", "c.arr[2]", "c.arr[3]"]


def test_an_interface_the_fmu_lacks_is_an_error_with_what_it_offers(tmp_path):
    from engine_helpers import bundled

    fmu = _derived(bundled("Gain"), tmp_path / "gain.fmu")  # Gain has no Model Exchange
    errors = [p for p in _problems(tmp_path, fmu, ", interface: me") if p.severity == "error"]
    assert len(errors) == 1
    assert "no Model Exchange interface" in errors[0].message
    assert "cs (Co-Simulation)" in errors[0].hint


def _van_der_pol(tmp_path: Path, fmi: str, keys: str = "", comp: str = "") -> np.ndarray:
    from engine_helpers import bundled

    fmu = bundled(("fmi3/" if fmi == "3.0" else "") + "VanDerPol")
    path = tmp_path / "vdp.yaml"
    path.write_text(
        f"simulation: {{stop: 10.0, step: 1.0{keys}}}\n"
        f"components:\n  vdp: {{fmu: {fmu}{comp}}}\n"
        "record: {variables: [vdp.x1, vdp.x2]}\n"
    )
    res = cosim.load(path).simulate()
    return np.asarray(res.time), np.column_stack([res["vdp.x1"], res["vdp.x2"]])


def _vdp_reference(times: np.ndarray) -> np.ndarray:
    from scipy.integrate import solve_ivp

    sol = solve_ivp(
        lambda t, x: [x[1], (1 - x[0] ** 2) * x[1] - x[0]],
        (0.0, times[-1]),
        [2.0, 0.0],
        t_eval=times,
        rtol=1e-12,
        atol=1e-12,
        method="DOP853",
    )
    return sol.y.T


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_the_tolerance_reaches_an_fmu_with_an_internal_solver(tmp_path, fmi):
    # VanDerPol's Co-Simulation interface integrates adaptively at the tolerance the importer
    # passes, 1e-3 without one. With 1 s communication steps its error shows the tolerance
    # used: the DefaultExperiment's 1e-6 by default, simulation.tolerance or the component's
    # tolerance when given (each an order tighter than the next: errors scale ~ tolerance)
    t, default = _van_der_pol(tmp_path, fmi)
    ref = _vdp_reference(t)
    e_default = np.abs(default - ref).max()
    _, tight = _van_der_pol(tmp_path, fmi, keys=", tolerance: 1.0e-9")
    e_tight = np.abs(tight - ref).max()
    _, comp = _van_der_pol(tmp_path, fmi, keys=", tolerance: 1.0e-2", comp=", tolerance: 1.0e-9")
    e_comp = np.abs(comp - ref).max()
    _, loose = _van_der_pol(tmp_path, fmi, keys=", tolerance: 1.0e-2")
    e_loose = np.abs(loose - ref).max()
    assert e_tight < 1e-5
    assert e_tight < 0.1 * e_default < 0.01 * e_loose
    assert e_comp == pytest.approx(e_tight, rel=1e-9, abs=1e-15)


def test_a_bad_solver_name_is_located_with_a_suggestion(tmp_path):
    from cosim.resolve.resolver import validate

    path = tmp_path / "system.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        "  m: {fmu: Mass1, interface: me, solver: cvod}\n"
    )
    errors = [p for p in validate(path) if p.severity == "error"]
    assert len(errors) == 1
    text = str(errors[0])
    assert f"{path}:3:" in text and "cvod" in text
    assert "cvode" in text  # the allowed values, with the closest first


def test_a_loop_through_an_fmu_without_state_is_broken_with_a_warning_or_refused(tmp_path):
    from engine_helpers import bundled

    from cosim.resolve.resolver import validate

    def stateless(xml: str) -> str:
        return xml.replace('canGetAndSetFMUstate="true"', 'canGetAndSetFMUstate="false"')

    _derived(bundled("Gain"), tmp_path / "stateless.fmu", stateless)
    text = (
        "simulation: {stop: 1.0, step: 0.1POLICY}\ncomponents:\n"
        "  g1: {fmu: stateless.fmu}\n  g2: {fmu: stateless.fmu}\n"
        "connections:\n  - {from: g1.y, to: g2.u}\n  - {from: g2.y, to: g1.u}\n"
    )
    path = tmp_path / "loop.yaml"
    path.write_text(text.replace("POLICY", ""))
    problems = validate(path)
    assert [p for p in problems if p.severity == "error"] == []
    broken = [p for p in problems if "is broken at" in p.message]
    assert len(broken) == 1 and "g2.y -> g1.u" in broken[0].message
    assert "g1" in broken[0].message and "cannot get and set" in broken[0].message
    path.write_text(text.replace("POLICY", ", algebraic_loops: solve"))
    errors = [p for p in validate(path) if p.severity == "error"]
    assert len(errors) == 1 and "cannot be iterated" in errors[0].message
    assert f"{path}:" in str(errors[0])
