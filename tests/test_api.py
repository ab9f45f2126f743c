"""The public Python API (cosim.load / System / simulate / Simulation / Results), against exact
solutions: the dual-mass oscillator through the matrix exponential, one Mass1 in closed form.

    mass1 --x1, v1--> mass2
      ^                 |
      +------ F --------+
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from scipy.linalg import expm

import cosim
from cosim.errors import ConfigError, FmuError

ROOT = Path(__file__).resolve().parents[1]
DUAL_MASS = ROOT / "systems" / "dual_mass_oscillator.yaml"


def starts(model: str) -> dict[str, float]:
    data = yaml.safe_load((ROOT / "fmus" / "models" / model / "model.yaml").read_text())
    return {k: float(v["start"]) for k, v in data["variables"].items() if "start" in v}


def exact_dual_mass(times: np.ndarray, m1: float, f_ext: list[tuple[float, float]]) -> np.ndarray:
    """(x1, x2) of the monolithic 4-state linear ODE, exact on each piece of constant F_ext."""
    p1, p2 = starts("Mass1"), starts("Mass2")
    k1, c1 = p1["k1"], p1["c1"]
    m2, k2, c2, kc, cc = p2["m2"], p2["k2"], p2["c2"], p2["kc"], p2["cc"]
    a = np.array(
        [
            [0, 1, 0, 0],
            [-(k1 + kc) / m1, -(c1 + cc) / m1, kc / m1, cc / m1],
            [0, 0, 0, 1],
            [kc / m2, cc / m2, -(k2 + kc) / m2, -(c2 + cc) / m2],
        ]
    )
    z = np.array([p1["x1"], p1["v1"], p2["x2"], p2["v2"], 1.0])
    out = np.empty((len(times), 2))
    t, force = 0.0, 0.0
    changes = sorted(f_ext) + [(np.inf, 0.0)]
    k = 0
    for t_change, value in changes:
        aug = np.zeros((5, 5))
        aug[:4, :4] = a
        aug[1, 4] = force / m1
        while k < len(times) and times[k] < t_change:
            zk = expm(aug * (times[k] - t)) @ z
            out[k] = zk[0], zk[2]
            k += 1
        if np.isfinite(t_change):
            z = expm(aug * (t_change - t)) @ z
            t, force = t_change, value
    return out


# Both masters hold the coupling inputs over a communication step: a first-order method. At
# h = 1e-3 s the error drifts to ~4e-3 m by t = 15 s (systems/dual_mass_oscillator.yaml), so
# 1e-2 m passes the right model while a 2x mass (centimetres of phase drift) fails.
COUPLING_TOL = 1e-2


def test_docs_example_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "docs" / "api.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    namespace = {"out_dir": tmp_path}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "dual_mass_oscillator" in printed and "stopped" in printed
    assert (tmp_path / "heavy.h5").is_file() and (tmp_path / "run" / "results.h5").is_file()


def test_simulate_matches_exact_solution_and_overrides_make_a_new_system():
    system = cosim.load(DUAL_MASS)
    res = system.simulate(stop=10.0, parameters={"mass1.m1": 2.0})
    assert res.time[0] == 0.0 and res.time[-1] == pytest.approx(10.0)
    exact = exact_dual_mass(res.time, m1=2.0, f_ext=[(5.0, 10.0)])
    assert np.max(np.abs(res["mass1.x1"] - exact[:, 0])) < COUPLING_TOL
    assert np.max(np.abs(res["mass2.x2"] - exact[:, 1])) < COUPLING_TOL
    # with the original mass it is a different trajectory: the check above can fail
    wrong = exact_dual_mass(res.time, m1=1.0, f_ext=[(5.0, 10.0)])
    assert np.max(np.abs(res["mass1.x1"] - wrong[:, 0])) > 5 * COUPLING_TOL
    assert res.units["mass1.x1"] == "m"
    assert res.descriptions["mass1.x1"] == "Position of mass 1"
    # the System itself is unchanged, and still runs with m1 = 1 kg
    assert system.spec.components["mass1"].parameters["m1"] == 1.0
    again = system.simulate(stop=10.0)
    assert np.max(np.abs(again["mass1.x1"] - wrong[:, 0])) < COUPLING_TOL


def test_from_dict_equals_the_yaml_file():
    data = yaml.safe_load(DUAL_MASS.read_text())
    a = cosim.System.from_dict(data, base_dir=DUAL_MASS.parent).simulate(stop=2.0)
    b = cosim.load(DUAL_MASS).simulate(stop=2.0)
    np.testing.assert_array_equal(a["mass1.x1"], b["mass1.x1"])


def test_from_dict_reports_problems_with_locations(tmp_path):
    data = {"simulation": {"stop": 1.0, "step": 0.1}, "components": {"m": {"fmu": "nope.fmu"}}}
    with pytest.raises(ConfigError) as err:
        cosim.System.from_dict(data, base_dir=tmp_path)
    assert "nope.fmu" in str(err.value)
    assert all(p.loc is not None for p in err.value.problems)


def test_from_fmu_runs_one_mass_against_its_closed_form(tmp_path):
    """Mass1 alone with a constant external force: a damped step response, exact."""
    fmu = ROOT / "fmus" / "Mass1.fmu"
    system = cosim.System.from_fmu(fmu, stop=5.0, overrides=["F_ext=1.0"])
    assert system.components == ("Mass1",)
    res = system.simulate()
    p = starts("Mass1")
    m, k, c = p["m1"], p["k1"], p["c1"]
    w0, zeta = np.sqrt(k / m), c / (2 * np.sqrt(k * m))
    wd = w0 * np.sqrt(1 - zeta**2)
    t = res.time
    x = (1.0 / k) * (
        1 - np.exp(-zeta * w0 * t) * (np.cos(wd * t) + zeta * w0 / wd * np.sin(wd * t))
    )
    # the input is constant, so only the FMU's own RK4 sub-steps err: far below 1e-6 of F/k
    assert np.max(np.abs(res["Mass1.x1"] - x)) < 1e-7
    assert set(res.names) >= {"Mass1.x1", "Mass1.v1"}  # every output recorded


def test_results_h5_round_trip(tmp_path):
    res = cosim.load(DUAL_MASS).simulate(stop=1.0, out=tmp_path)
    back = cosim.Results.from_h5(tmp_path / "results.h5")
    np.testing.assert_array_equal(back.time, res.time)
    np.testing.assert_array_equal(back["mass2.x2"], res["mass2.x2"])
    assert back.units["mass2.x2"] == "m"
    with h5py.File(tmp_path / "results.h5") as f:
        assert f.attrs["status"] == "completed"
    df = res.to_pandas()
    assert list(df.columns) == list(res.names) and df.attrs["units"]["mass1.x1"] == "m"


def test_existing_results_are_never_overwritten_silently(tmp_path):
    system = cosim.load(DUAL_MASS)
    system.simulate(stop=0.1, out=tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        system.simulate(stop=0.1, out=tmp_path)
    system.simulate(stop=0.2, out=tmp_path, overwrite=True)
    with h5py.File(tmp_path / "results.h5") as f:
        assert f["time"][-1] == pytest.approx(0.2)


def test_failing_fmu_fails_the_run_and_keeps_what_was_recorded(tmp_path):
    """A negative mass set by an event at t = 0.5 s makes Mass1 return Error."""
    data = yaml.safe_load(DUAL_MASS.read_text())
    data["events"] = [{"at": 0.5, "set": {"mass1.m1": -1.0}}]
    data.pop("regression")
    system = cosim.System.from_dict(data, base_dir=DUAL_MASS.parent)
    with pytest.raises(FmuError) as err:
        system.simulate(stop=2.0, out=tmp_path)
    assert err.value.instance == "mass1"
    with h5py.File(tmp_path / "results.h5") as f:
        assert f.attrs["status"] == "failed"
        t = f["time"][:]
    assert t[0] == 0.0 and 0.4 <= t[-1] <= 0.5


def test_step_by_step_state_rollback_is_bit_identical(tmp_path):
    system = cosim.load(DUAL_MASS)
    with system.execution() as ex:
        ex.initialize()
        ex.run_until(1.0)
        state = ex.get_state()
        ex.set("mass1.F_ext", 3.0)
        ex.run_until(2.0)
        first = (ex.get("mass1.x1"), ex.get("mass2.x2"), ex.time)
        ex.set_state(state)
        assert ex.time == pytest.approx(1.0)
        ex.set("mass1.F_ext", 3.0)
        ex.run_until(2.0)
        assert (ex.get("mass1.x1"), ex.get("mass2.x2"), ex.time) == first
    assert ex.status == "stopped"


def test_public_names():
    assert set(cosim.__all__) >= {"load", "System", "simulate", "Results", "CosimError"}
    for name in cosim.__all__:
        assert getattr(cosim, name) is not None


@pytest.mark.parametrize("fmi", ["", "fmi3/"])
def test_runs_of_one_system_reuse_the_loaded_fmus_with_identical_results(tmp_path, fmi):
    # the second run takes the freed instances' fmpy objects (library loaded, functions bound)
    # from the System's factory and instantiates anew: bit-identical results, also after a
    # run that changed a parameter (the new instance starts from the model's start values)
    from engine_helpers import dual_mass_yaml

    path = tmp_path / "system.yaml"
    path.write_text(dual_mass_yaml("3.0" if fmi else "2.0", stop=1.0))
    system = cosim.load(path)
    first = system.simulate()
    pools = system._unpacked.factory._loaded
    assert sum(len(p) for p in pools.values()) == 2  # both FMUs kept loaded
    changed = system.simulate(parameters={"mass1.m1": 2.0})
    again = system.simulate()
    for label in first.names:
        np.testing.assert_array_equal(again[label], first[label])
    assert np.abs(changed["mass1.x1"] - first["mass1.x1"]).max() > 1e-3
    assert sum(len(p) for p in pools.values()) == 2  # reused, not multiplied
