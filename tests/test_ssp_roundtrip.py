"""YAML -> `cosim export-ssp` -> cosim.load(.ssp): the same resolved system and the same results,
bit for bit; also YAML -> SSP -> YAML (`cosim convert`) and `cosim run` on the package.

The systems hold only what SSP 1.0 (with cosim's annotation) can carry: the bundled examples
with their events, record lists and live/regression sections taken out (each of those is a
warning of the export, tested in test_ssp_write.py), and a small system with a gain/offset
connection, a unit conversion, an integer mapping, multirate and Model Exchange components.
Both sides run the same FMUs with the same plan, so every recorded value must be identical:
any difference is a lost or changed setting, not rounding.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import cosim
from cosim.ssp.write import write_ssp

REPO = Path(__file__).resolve().parents[1]
# keys SSP 1.0 cannot hold: left out of the YAML side so both sides describe the same system
LEFT_OUT = ("events", "record", "regression", "opcua", "plant", "monitors", "estimate",
            "forecast", "sweep")  # fmt: skip

WIRING = """\
name: wiring
simulation: {start: 0.0, stop: 0.5, step: 0.01, tolerance: 1.0e-7, extrapolation: linear}
components:
  g1: {fmu: Gain, parameters: {k: 2.0, b: 0.5, n_in: 3}}
  g2: {fmu: Gain}
  vehicle: {fmu: Vehicle, interface: me, solver: rk4, max_step: 0.005, parameters: {m: 1200}}
  driver: {fmu: Driver, step: 0.02, parameters: {cycle: 3, Kp: 150.0}}
connections:
  - {from: g1.y, to: g2.u, gain: 2.5, offset: -1.0}
  - {from: g1.n_out, to: g2.n_in, mapping: [{from: 3, to: 30}, {from: 4, to: 40}]}
  - {from: vehicle.v_kmh, to: driver.v}
  - {from: driver.tau_cmd, to: vehicle.tau_motor}
  - {from: driver.F_brake, to: vehicle.F_brake}
"""


def _portable(source: Path, tmp_path: Path, stop: float | None = None) -> Path:
    """`source` without the sections SSP cannot hold (FMU paths made absolute)."""
    data = yaml.safe_load(source.read_text())
    for key in LEFT_OUT:
        data.pop(key, None)
    data["simulation"].pop("realtime", None)
    if stop is not None:
        data["simulation"]["stop"] = min(stop, data["simulation"]["stop"])
    for comp in data["components"].values():
        fmu = comp["fmu"]
        if fmu.endswith(".fmu") and not Path(fmu).is_absolute():
            comp["fmu"] = str((source.parent / fmu).resolve())
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _wiring(tmp_path: Path) -> Path:
    path = tmp_path / "wiring.yaml"
    path.write_text(WIRING)
    return path


# every bundled example (short runs), and the small wiring system
CASES = {
    path.stem: (lambda tmp, path=path: _portable(path, tmp, stop=2.0))
    for path in sorted((REPO / "systems").glob("*.yaml"))
}
CASES["wiring"] = _wiring


@pytest.fixture(params=sorted(CASES))
def exported(request, tmp_path) -> tuple[cosim.System, Path]:
    path = CASES[request.param](tmp_path)
    system = cosim.load(path)
    ssp = tmp_path / f"{path.stem}.ssp"
    warnings = write_ssp(system.resolved, ssp)
    assert warnings == [], [str(w) for w in warnings]  # nothing of these systems is lost
    return system, ssp


def _fingerprint(system: cosim.System) -> dict:
    """Everything that decides a run, by name (FMUs by their bytes)."""
    r = system.resolved
    sim = r.spec.simulation
    names = [c.name for c in r.components]
    return {
        "components": {
            c.name: {
                "fmu": Path(c.fmu_path).read_bytes(),
                "decimation": c.decimation,
                "interface": c.interface,
                "solver": c.solver,
                "tolerance": c.tolerance,
                "max_step": c.max_step,
                "start_values": sorted((v.name, repr(x)) for v, x in c.start_values),
            }
            for c in r.components
        },
        "connections": sorted(
            (
                names[c.source_component],
                c.source.name,
                names[c.target_component],
                c.target.name,
                c.gain,
                c.offset,
                c.extrapolation,
                tuple(c.spec.mapping) if c.spec else (),
            )
            for c in r.connections
        ),  # fmt: skip
        "order": [names[i] for i in r.order],
        "ticks": (r.start_tick, r.stop_tick, r.step_ticks),
        "algorithm": sim.algorithm,
        "extrapolation": sim.extrapolation,
        "tolerance": sim.tolerance,
        "record_decimation": r.record_decimation,
    }


def _same_results(a, b) -> None:
    assert np.array_equal(a.time, b.time)
    common = set(a.names) & set(b.names)
    assert set(a.names) <= set(b.names)  # SSP records every output: at least the YAML's
    assert common
    for name in sorted(common):
        assert np.array_equal(np.asarray(a[name]), np.asarray(b[name]), equal_nan=True), name


def test_the_package_loads_as_the_same_system(exported):
    system, ssp = exported
    back = cosim.load(ssp)
    assert _fingerprint(back) == _fingerprint(system)


def test_the_package_gives_the_same_results_bit_for_bit(exported):
    system, ssp = exported
    _same_results(system.simulate(), cosim.load(ssp).simulate())


def test_yaml_to_ssp_to_yaml_gives_the_same_results(exported, tmp_path):
    system, ssp = exported
    back = tmp_path / "back.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "cosim", "convert", str(ssp), "-o", str(back)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = cosim.load(back)
    assert _fingerprint(again) == _fingerprint(system)
    _same_results(system.simulate(), again.simulate())


def test_cosim_run_runs_the_package(exported, tmp_path):
    _, ssp = exported
    done = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(ssp), "--out", str(tmp_path / "run"),
         "--quiet"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "results.h5").is_file()


def test_exporting_the_loaded_package_again_gives_the_same_bytes(exported, tmp_path):
    # YAML -> SSP -> System -> SSP is a fixed point: nothing is lost or reordered on the way
    _, ssp = exported
    again = tmp_path / "again.ssp"
    assert write_ssp(cosim.load(ssp).resolved, again) == []
    assert again.read_bytes() == ssp.read_bytes()


def test_fmi3_arrays_travel_element_by_element(tmp_path):
    """SSP 1.0 has no arrays: export writes elements (u[1], ...), the reader maps them back."""
    from cosim.library import special

    types3 = special.build("special/Types3")
    path = tmp_path / "arrays.yaml"
    path.write_text(
        "simulation: {stop: 0.5, step: 0.1}\n"
        "components:\n"
        f"  a: {{fmu: {types3}, parameters: {{u: [1.0, 2.0, 3.0]}}}}\n"
        f"  b: {{fmu: {types3}}}\n"
        "connections:\n"
        "  - {from: a.y_arr, to: b.u}\n"
    )
    system = cosim.load(path)
    ssp = tmp_path / "arrays.ssp"
    warnings = write_ssp(system.resolved, ssp)
    assert warnings and all("array" in w.message for w in warnings)
    again = cosim.load(ssp)
    assert again.spec.components["a"].parameters == {"u[1]": 1.0, "u[2]": 2.0, "u[3]": 3.0}
    a, b = system.simulate(), again.simulate()
    _same_results(a, b)
    assert b["b.y_arr[3]"][-1] != a["b.y_arr[3]"][0]  # the connection did carry a's values
