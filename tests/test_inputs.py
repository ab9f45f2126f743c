"""Input tables (`inputs:`): interpolation, step changes, units, formats, errors, the CLI.

The references are independent of cosim: numpy's `np.interp` for linear interpolation, the
table rows themselves for previous-value columns, and the FMUs' closed forms (Gain:
y = k*u + b and n_out = n_in). Co-Simulation semantics fix which input a recorded row sees:
the row at t_{j+1} holds the outputs of the step that started at t_j, computed from the
inputs set at t_j, so y[j+1] = k * u(t_j) (u taken after a step change at t_j), and the row
at the start holds the outputs of initialization, y[0] = k * u(t0) taken before a step change.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import cosim
from cosim.errors import ConfigError
from cosim.resolve.resolver import check

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def gain_system(tmp: Path, inputs: str, *, stop: float = 2.0, step: float = 0.05) -> Path:
    return write(
        tmp / "system.yaml",
        f"""
        simulation: {{stop: {stop}, step: {step}}}
        components:
          g: {{fmu: Gain, parameters: {{k: 2.0, b: 0.5}}}}
        inputs:
        {textwrap.indent(textwrap.dedent(inputs).strip(), "  ")}
        record: {{variables: [g.y, g.n_out]}}
        """,
    )


def problems_of(path: Path) -> list[str]:
    system, problems = check(path)
    return [str(p) for p in problems]


def errors_of(path: Path) -> list[str]:
    system, problems = check(path)
    assert system is None
    return [f"{p.loc}: {p.message}" for p in problems if p.severity == "error"]


# --------------------------------------------------------------------------- interpolation
def test_a_continuous_input_follows_the_linear_interpolant_of_the_table(tmp_path):
    t = np.linspace(0.0, 2.0, 9)  # coarser than the step: interpolation matters
    u = np.sin(3 * t) + t
    rows = "\n".join(f"{float(a)!r},{float(b)!r}" for a, b in zip(t, u, strict=True))
    (tmp_path / "u.csv").write_text(f"time,speed\n{rows}\n")
    path = gain_system(tmp_path, "- {file: u.csv, map: {speed: g.u}}")
    res = cosim.load(path).simulate()
    time = np.asarray(res.time)
    expected = 2.0 * np.interp(time[:-1], t, u) + 0.5  # the input set at each step's start
    np.testing.assert_allclose(res["g.y"][1:], expected, rtol=0, atol=1e-12)
    assert res["g.y"][0] == pytest.approx(2.0 * u[0] + 0.5, abs=1e-15)


def test_a_step_change_at_a_repeated_time_counts_from_that_time_on(tmp_path):
    # u = 1 until 0.5, then 3; at t0 = 0 a step change too (init sees the left value 7)
    write(
        tmp_path / "u.csv",
        """
        time,u,n
        0,7,1
        0,1,1
        0.5,1,1
        0.5,3,4
        2,3,4
        """,
    )
    path = gain_system(tmp_path, "- {file: u.csv, map: {u: g.u, n: g.n_in}}", step=0.25)
    res = cosim.load(path).simulate()
    time = np.round(np.asarray(res.time), 12)
    y, n = np.asarray(res["g.y"]), np.asarray(res["g.n_out"])
    assert y[0] == 2 * 7 + 0.5  # initialization: the value before the change at t0
    by_time = dict(zip(time.tolist(), y.tolist(), strict=True))
    assert by_time[0.25] == 2 * 1 + 0.5  # step [0, 0.25) used u(0+) = 1
    assert by_time[0.5] == 2 * 1 + 0.5  # step [0.25, 0.5) used u(0.25) = 1
    assert by_time[0.75] == 2 * 3 + 0.5  # step [0.5, 0.75) used u(0.5+) = 3
    assert n.tolist() == [1, 1, 1, 4, 4, 4, 4, 4, 4]


def test_discrete_columns_take_the_previous_row_between_rows(tmp_path):
    write(
        tmp_path / "n.csv",
        """
        time;n;u
        0;0;0
        0.3;5;1
        0.7;-2;1
        """,
    )
    path = gain_system(
        tmp_path, "- {file: n.csv, map: {n: g.n_in, u: g.u}, outside: hold}", step=0.1, stop=1
    )
    system, problems = check(path)
    assert system is not None
    warning = [
        p for p in problems if p.severity == "warning" and "between communication" in p.message
    ]
    assert not warning  # 0.3 and 0.7 are on the 0.1 s grid
    res = cosim.load(path).simulate()
    expected = [0, 0, 0, 0, 5, 5, 5, 5, -2, -2, -2]  # row j+1 shows n(t_j)
    assert np.asarray(res["g.n_out"]).tolist() == expected
    # after the last row (0.7 s) the table holds its last values (outside: hold)
    assert res["g.y"][-1] == 2.0 * 1 + 0.5


def test_interpolation_previous_holds_a_real_column(tmp_path):
    write(tmp_path / "u.csv", "time,u\n0,0\n1,10\n2,20\n")
    path = gain_system(
        tmp_path, "- {file: u.csv, map: {u: g.u}, interpolation: previous}", step=0.5
    )
    res = cosim.load(path).simulate()
    assert np.asarray(res["g.y"]).tolist() == [0.5, 0.5, 0.5, 20.5, 20.5]


def test_step_changes_off_the_grid_are_reported_as_a_warning(tmp_path):
    write(tmp_path / "u.csv", "time,u\n0,0\n0.55,0\n0.55,1\n2,1\n")
    path = gain_system(tmp_path, "- {file: u.csv, map: {u: g.u}}", step=0.1)
    system, problems = check(path)
    assert system is not None
    (w,) = [p for p in problems if "between communication points" in p.message]
    assert w.severity == "warning"
    assert (w.loc.file, w.loc.line) == (str(tmp_path / "u.csv"), 4)
    assert "t = 0.55 s" in w.message


# --------------------------------------------------------------------------- units, formats
def test_units_in_the_header_are_converted_to_the_variable_unit(tmp_path):
    write(tmp_path / "v.csv", "time [ms],v_ref [km/h]\n0,36\n1000,72\n2000,72\n")
    path = write(
        tmp_path / "system.yaml",
        """
        simulation: {stop: 2, step: 0.5}
        components:
          d: {fmu: Driver}
        inputs:
          - {file: v.csv, map: {v_ref: d.v_ref_in}}
        record: {variables: [d.v_ref_in]}
        """,
    )
    res = cosim.load(path).simulate()
    # km/h -> m/s is / 3.6; the time column is in milliseconds; row j+1 shows v(t_j)
    expected = np.interp([0, 0, 0.5, 1.0, 1.5], [0, 1, 2], [36, 72, 72]) / 3.6
    np.testing.assert_allclose(res["d.v_ref_in"], expected, rtol=1e-15)


def test_a_unit_of_another_quantity_is_an_error(tmp_path):
    write(tmp_path / "u.csv", "time,u [km/h]\n0,1\n2,1\n")
    path = gain_system(tmp_path, "- {file: u.csv, map: {u: g.u}}")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:5:")
    assert "column u [km/h] cannot drive g.u [1]" in error


def test_hdf5_tables_flat_and_a_previous_run_as_results_h5(tmp_path):
    t = np.array([0.0, 1.0, 2.0])
    with h5py.File(tmp_path / "u.h5", "w") as f:
        f["time"] = t
        f["speed"] = np.array([0.0, 4.0, 0.0])
        f["speed"].attrs["unit"] = "1"
    path = gain_system(tmp_path, "- {file: u.h5, map: {speed: g.u}}", step=0.5)
    first = cosim.load(path).simulate(out=tmp_path / "first")
    expected = 2.0 * np.interp([0, 0, 0.5, 1, 1.5], t, [0, 4, 0]) + 0.5
    np.testing.assert_allclose(first["g.y"], expected, atol=1e-12)
    # the first run's results.h5 drives a second system: its g.y becomes h.u
    second = write(
        tmp_path / "second.yaml",
        """
        simulation: {stop: 2, step: 0.5}
        components:
          h: {fmu: Gain}
        inputs:
          - {file: first/results.h5, map: {g.y: h.u}}
        record: {variables: [h.y]}
        """,
    )
    res = cosim.load(second).simulate()
    y = np.asarray(first["g.y"])
    np.testing.assert_allclose(res["h.y"][1:], y[:-1], atol=1e-12)  # k = 1, b = 0


def test_booleans_comments_and_blank_lines_in_csv(tmp_path):
    write(
        tmp_path / "b.csv",
        "# a logger's table\ntime,u,n\n\n0,false,1\n# pause\n1,true,2\n2,TRUE,2\n",
    )
    path = gain_system(
        tmp_path, "- {file: b.csv, map: {u: g.u, n: g.n_in}, interpolation: previous}", step=1
    )
    res = cosim.load(path).simulate()
    assert np.asarray(res["g.y"]).tolist() == [0.5, 0.5, 2.5]  # u: 0, then 1 (k = 2, b = 0.5)
    assert np.asarray(res["g.n_out"]).tolist() == [1, 1, 2]


def test_a_whole_component_mapping_by_column_name(tmp_path):
    write(tmp_path / "g_in.csv", '"time","u","n_in","not_a_variable"\n0,1,2,9\n1,3,4,9\n')
    path = gain_system(tmp_path, "- {file: g_in.csv, component: g}", stop=1.0, step=0.5)
    res = cosim.load(path).simulate()
    np.testing.assert_allclose(res["g.y"], [2.5, 2.5, 4.5])
    assert np.asarray(res["g.n_out"]).tolist() == [2, 2, 2]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        ("time,u\n0,1\n1,2\n0.5,3\n2,3\n", 4, "the time goes backwards: 1 s, then 0.5 s"),
        ("time,u\n0,1\n1,abc\n2,3\n", 3, "u: 'abc' is not a number"),
        ("time,u\n0,1\n1,2,3\n", 3, "the row has 3 values, the header 2 columns"),
        ("time,u\n0.5,1\n2,2\n", 2, "the table starts after the simulation: it covers 0.5 .. 2 s"),
        ("time,u\n0,1\n1.5,2\n", 3, "the table ends before the simulation: it covers 0 .. 1.5 s"),
        ("time [fortnights],u\n0,1\n2,2\n", 1, "the time column 'time' has the unit"),
        ("time,u\n", 1, "the table has a header but no rows"),
        ("time,u\n0,1\n1,nan\n2,3\n", 3, "u: nan is not a finite number"),
        ("time,u\n0,1\ninf,1\n", 3, "time: inf is not a finite number"),
    ],
)
def test_table_mistakes_are_reported_at_the_file_and_line(tmp_path, table, line, message):
    (tmp_path / "u.csv").write_text(table)
    path = gain_system(tmp_path, "- {file: u.csv, map: {u: g.u}}")
    errors = errors_of(path)
    assert any(e.startswith(f"{tmp_path / 'u.csv'}:{line}:") and message in e for e in errors), (
        errors
    )


def test_wiring_mistakes_name_the_yaml_place_and_a_hint(tmp_path):
    write(tmp_path / "u.csv", "time,u,speed\n0,1,1\n2,1,1\n")
    path = write(
        tmp_path / "system.yaml",
        """
        simulation: {stop: 2, step: 0.5}
        components:
          g: {fmu: Gain}
          h: {fmu: Gain}
        connections:
          - {from: g.y, to: h.u}
        inputs:
          - {file: u.csv, map: {u: h.u}}
          - {file: u.csv, map: {speed: g.y}}
          - {file: u.csv, map: {spede: g.u}}
          - {file: u.csv, map: {u: g.n_in}, interpolation: linear}
          - {file: missing.csv, map: {u: g.u}}
          - {file: u.csv, component: g, map: {u: g.u}}
        """,
    )
    system, problems = check(path)
    assert system is None
    lines = {str(p.loc.line): p for p in problems if p.severity == "error"}
    assert lines["8"].message == f"h.u is already driven by the connection at {path}:6:5"
    assert lines["9"].message == "g.y cannot be driven by a table: it is a continuous output"
    assert lines["10"].message == "u.csv has no column 'spede'"
    assert lines["10"].hint == "did you mean 'speed'?"
    assert lines["11"].message == "interpolation: linear cannot drive g.n_in (Integer)"
    assert lines["12"].message == "missing.csv: no such file"
    assert lines["13"].message == "inputs[5] needs exactly one of map: or component:"
    assert all(p.loc.file == str(path) for p in lines.values())


def test_cli_validate_and_run_exit_2_without_a_traceback(tmp_path):
    (tmp_path / "u.csv").write_text("time,u\n0,1\n1,2\n0.5,3\n2,3\n")
    gain_system(tmp_path, "- {file: u.csv, map: {u: g.u}}")
    for command in ("validate", "run"):
        out = subprocess.run(
            [sys.executable, "-m", "cosim", command, "system.yaml"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 2, out.stderr
        text = out.stdout + out.stderr
        assert "u.csv:4:1: error: the time goes backwards" in text
        assert "Traceback" not in text


# --------------------------------------------------------------------------- one FMU, CLI
def test_cosim_run_fmu_with_inputs_in_the_cross_check_convention(tmp_path):
    fmu = ROOT / "fmus" / "Gain.fmu"
    write(tmp_path / "Gain_in.csv", '"time","u"\n0,0\n1,1\n')  # shorter than the run: held
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(fmu), "--inputs", "Gain_in.csv",
         "--stop", "2", "--step", "0.25", "--out", "res", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    with h5py.File(tmp_path / "res" / "results.h5") as f:
        y = f["signals/Gain.y"][()]
        t = f["time"][()]
    np.testing.assert_allclose(y[1:], np.interp(t[:-1], [0, 1], [0, 1]), atol=1e-15)
    assert y[-1] == 1.0


def test_step_flag_replaces_the_yaml_step(tmp_path):
    write(tmp_path / "u.csv", "time,u\n0,0\n2,2\n")
    gain_system(tmp_path, "- {file: u.csv, map: {u: g.u}}", step=0.5)
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "run", "system.yaml", "--step", "0.125", "--out", "r",
         "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    with h5py.File(tmp_path / "r" / "results.h5") as f:
        assert len(f["time"]) == 17  # 2 s / 0.125 s + the initial row


def test_inputs_through_the_python_api_from_fmu(tmp_path):
    write(tmp_path / "in.csv", "time,u,n_in\n0,1,3\n10,1,3\n")
    system = cosim.System.from_fmu(ROOT / "fmus" / "Gain.fmu", inputs=tmp_path / "in.csv")
    res = system.simulate()
    assert res["Gain.y"][-1] == 1.0
    assert res["Gain.n_out"][-1] == 3


def test_an_unknown_component_in_from_fmu_inputs_is_a_config_error(tmp_path):
    write(tmp_path / "in.csv", "time,x\n0,1\n")
    with pytest.raises(ConfigError, match="no column is named after an input of Gain"):
        cosim.System.from_fmu(ROOT / "fmus" / "Gain.fmu", inputs=tmp_path / "in.csv")


# --------------------------------------------------------------------------- mapping
def test_a_value_mapping_on_a_connection(tmp_path):
    write(tmp_path / "u.csv", "time,u,n\n0,-1,1\n1,-1,1\n1,1,2\n1.5,1,3\n2,1,3\n")
    path = write(
        tmp_path / "system.yaml",
        """
        simulation: {stop: 2, step: 0.5}
        components:
          a: {fmu: Gain}
          b: {fmu: Gain}
          c: {fmu: Gain}
        connections:
          - {from: a.positive, to: b.n_in, mapping: [{from: true, to: 7}, {from: false, to: -7}]}
          - {from: a.n_out, to: c.n_in, mapping: [{from: 1, to: 10}, {from: 2, to: 20}]}
        inputs:
          - {file: u.csv, map: {u: a.u, n: a.n_in}}
        record: {variables: [a.n_out, b.n_out, c.n_out]}
        """,
    )
    res = cosim.load(path).simulate()
    a = np.asarray(res["a.n_out"]).tolist()
    assert a == [1, 1, 1, 2, 3]
    # Gauss-Seidel: b and c see a's outputs of the same step; 3 is not listed: passes unchanged
    assert np.asarray(res["c.n_out"]).tolist() == [10, 10, 10, 20, 3]
    positive = [False, False, False, True, True]  # u > 0 of the input each row saw
    assert np.asarray(res["b.n_out"]).tolist() == [7 if p else -7 for p in positive]


def test_mapping_mistakes_are_config_errors(tmp_path):
    path = write(
        tmp_path / "system.yaml",
        """
        simulation: {stop: 1, step: 0.5}
        components:
          a: {fmu: Gain}
          b: {fmu: Gain}
        connections:
          - {from: a.y, to: b.u, mapping: [{from: 1, to: 2}]}
          - {from: a.n_out, to: b.n_in, gain: 2, mapping: [{from: 1, to: 2}]}
        """,
    )
    errors = errors_of(path)
    assert f"{path}:6:5: a mapping connects Booleans, Integers and enumerations" in errors[0]
    assert f"{path}:7:5: a connection with a mapping takes no gain, offset or convert" in errors[1]


def test_fuzzed_tables_give_problems_never_a_traceback(tmp_path):
    """Random damage to a valid CSV and HDF5 table: check() reports, it never raises."""
    rng = np.random.default_rng(12)
    good = b"time [s],u [1],n\n0,0,1\n0.5,0.25,1\n0.5,0.5,2\n1,1,2\n2,0,3\n"
    alphabet = np.frombuffer(b"0123456789.,;-+eE \n\r\t\"'#[]abcnaif\x00\xff", dtype=np.uint8)
    path = gain_system(tmp_path, "- {file: u.csv, map: {u: g.u, n: g.n_in}, outside: hold}")
    for _ in range(150):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 6))):
            k = int(rng.integers(0, len(data) + 1))
            what = rng.integers(0, 3)
            if what == 0 and data:
                del data[min(k, len(data) - 1)]
            elif what == 1:
                data.insert(k, int(rng.choice(alphabet)))
            elif data:
                data[min(k, len(data) - 1)] = int(rng.choice(alphabet))
        (tmp_path / "u.csv").write_bytes(bytes(data))
        system, problems = check(path)  # must not raise
        assert system is not None or any(p.severity == "error" for p in problems)
    (tmp_path / "u.csv").write_bytes(b"\x89HDF\r\n\x1a\n" + rng.bytes(300))  # a broken HDF5
    system, problems = check(path)
    assert system is None and any("u.csv" in str(p) for p in problems)
