"""FMI 3.0 arrays, structural parameters and exact 64-bit integers, end to end on the
hand-written test FMU special/Types3 (fmus/special/Types3).

Types3's equations (its modelDescription.xml): y_arr = k*u + time (u, y_arr of shape [3]);
y_n[i] = i + time for i = 1..n, with n a structural parameter (default 3) sizing y_n; every
y_<type> output is the p_<type> parameter of the same type.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import cosim
from cosim.library import special
from cosim.resolve.arrays import element_names
from cosim.resolve.resolver import validate


@pytest.fixture(scope="module")
def types3() -> Path:
    return special.build("special/Types3")


def _system(tmp_path: Path, body: str, stop: float = 0.3) -> Path:
    path = tmp_path / "system.yaml"
    path.write_text(f"simulation: {{start: 0, stop: {stop}, step: 0.1}}\n{body}")
    return path


def test_element_names_are_one_based_and_row_major():
    assert element_names("y", (3,)) == ["y[1]", "y[2]", "y[3]"]
    assert element_names("A", (2, 3))[:4] == ["A[1,1]", "A[1,2]", "A[1,3]", "A[2,1]"]
    assert element_names("A", (2, 0)) == []


def test_a_whole_array_connection_moves_every_element(tmp_path, types3):
    # a: u = [1, 2, 3], k = 3 -> a.y_arr = 3*u + t; b.u = a.y_arr (Gauss-Seidel: the same
    # step's value), k = 2 -> b.y_arr = 2*(3*u + t) + t, exact in floating point to 1e-12
    path = _system(
        tmp_path,
        f"components:\n"
        f"  a: {{fmu: {types3}, parameters: {{u: [1, 2, 3], k: 3}}}}\n"
        f"  b: {{fmu: {types3}}}\n"
        f"connections:\n  - {{from: a.y_arr, to: b.u}}\n",
    )
    result = cosim.load(path).simulate()
    t = result.time
    assert t[-1] == pytest.approx(0.3)
    for i, u in enumerate([1.0, 2.0, 3.0], start=1):
        np.testing.assert_allclose(result[f"a.y_arr[{i}]"], 3 * u + t, atol=1e-12)
        np.testing.assert_allclose(result[f"b.y_arr[{i}]"], 2 * (3 * u + t) + t, atol=1e-12)


def test_element_connections_leave_the_other_elements_at_their_start_values(tmp_path, types3):
    # b.u[2] = a.y_n[2] = 2 + t; b.u[1] keeps its start 1; b.u[3] = 7 from parameters
    path = _system(
        tmp_path,
        f"components:\n"
        f"  a: {{fmu: {types3}}}\n"
        f'  b: {{fmu: {types3}, parameters: {{"u[3]": 7}}}}\n'
        f"connections:\n  - from: a.y_n[2]\n    to: b.u[2]\n",
    )
    result = cosim.load(path).simulate()
    t = result.time
    np.testing.assert_allclose(result["b.y_arr[1]"], 2 * 1 + t, atol=1e-12)
    np.testing.assert_allclose(result["b.y_arr[2]"], 2 * (2 + t) + t, atol=1e-12)
    np.testing.assert_allclose(result["b.y_arr[3]"], 2 * 7 + t, atol=1e-12)


@pytest.mark.parametrize("n", [None, 1, 5])
def test_a_structural_parameter_sizes_its_array_set_in_configuration_mode(tmp_path, types3, n):
    params = "" if n is None else f", parameters: {{n: {n}}}"
    path = _system(tmp_path, f"components:\n  a: {{fmu: {types3}{params}}}\n")
    result = cosim.load(path).simulate()
    size = 3 if n is None else n
    names = [k for k in result.names if k.startswith("a.y_n[")]
    assert names == [f"a.y_n[{i}]" for i in range(1, size + 1)]
    for i in range(1, size + 1):
        np.testing.assert_allclose(result[f"a.y_n[{i}]"], i + result.time, atol=1e-12)


def test_64_bit_integers_and_every_fmi3_type_are_recorded_exactly(tmp_path, types3):
    # -2^62 - 3 and 2^64 - 2 have no float64 representation: a float64 path rounds both
    i64, u64 = -(2**62) - 3, 2**64 - 2
    path = _system(
        tmp_path,
        f"components:\n"
        f"  a: {{fmu: {types3}, parameters: {{p_i64: {i64}, p_u64: {u64}, p_i8: -7, "
        f"p_u32: 4294967294, p_f32: 0.25}}}}\n",
    )
    out = tmp_path / "results.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out) as f:
        sig = f["signals"]
        assert sig["a.y_i64"].dtype == np.int64 and sig["a.y_u64"].dtype == np.uint64
        assert set(sig["a.y_i64"][()].tolist()) == {i64}
        assert set(sig["a.y_u64"][()].tolist()) == {u64}
        assert sig["a.y_i8"].dtype == np.int8 and set(sig["a.y_i8"][()].tolist()) == {-7}
        assert set(sig["a.y_u32"][()].tolist()) == {4294967294}
        assert sig["a.y_f32"].dtype == np.float32 and set(sig["a.y_f32"][()]) == {0.25}
        assert sig["a.y_arr[1]"].shape == f["time"].shape  # arrays are recorded too


def _messages(path: Path) -> list[str]:
    return [f"{p.loc}: {p.message} | {p.hint}" for p in validate(path)]


def test_array_shape_mistakes_are_reported_with_locations_and_hints(tmp_path, types3):
    path = _system(
        tmp_path,
        f"components:\n"
        f"  a: {{fmu: {types3}, parameters: {{n: 5}}}}\n"
        f"  b: {{fmu: {types3}, parameters: {{u: [1, 2]}}}}\n"
        f"connections:\n"
        f"  - {{from: a.y_n, to: b.u}}\n"
        f"  - {{from: a.y_arr, to: b.k}}\n",
    )
    messages = _messages(path)
    text = "\n".join(messages)
    assert f"{path}:6:5: connection a.y_n -> b.u: shapes differ: a.y_n is [5], b.u is [3]" in text
    assert "a.y_arr is [3], b.k is a scalar" in text and "e.g. a.y_arr[1]" in text
    assert f"{path}:4:" in text and "b.u is an array of shape [3]; got a list of shape [2]" in text


def test_a_whole_array_where_one_value_is_needed_lists_its_elements(tmp_path, types3):
    path = _system(
        tmp_path,
        f"components:\n  a: {{fmu: {types3}}}\n  b: {{fmu: {types3}}}\n"
        f"connections:\n  - {{from: a.y_i8, to: b.u}}\n"
        f'events:\n  - {{at: 0.1, set: {{"b.u[1]": 3}}}}\n',
    )
    text = "\n".join(_messages(path))
    assert "a.y_i8 is a scalar, b.u is [3]" in text
    assert "b.u[1] cannot be changed by an event" in text


def test_an_unquoted_element_in_a_flow_mapping_gets_a_quoting_hint(tmp_path, types3):
    path = _system(
        tmp_path,
        f"components:\n  a: {{fmu: {types3}}}\nconnections:\n  - {{from: a.y_n[2], to: a.u}}\n",
    )
    text = "\n".join(_messages(path))
    assert f"{path}:5:" in text and 'write {from: "a.y[1]", ...}' in text


@pytest.mark.parametrize(("step", "start"), [(0.05, 0.0), (0.1, 0.0), (0.02, 0.3)])
def test_a_periodic_input_clock_ticks_in_event_mode(tmp_path, step, start):
    # Clocked3 counts the ticks of its input clock (interval 0.1 s, first tick at the start
    # time): cosim instantiates it with eventModeUsed and activates the clock at each tick, so
    # count(t) = floor((t - start) / 0.1) + 1 and t_tick is the latest tick time
    fmu = special.build("special/Clocked3")
    path = tmp_path / "system.yaml"
    path.write_text(
        f"simulation: {{start: {start}, stop: {start + 0.5}, step: {step}}}\n"
        f"components:\n  c: {{fmu: {fmu}}}\n"
    )
    result = cosim.load(path).simulate()
    t = result.time - start
    ticks = np.floor(t / 0.1 + 1e-9)
    np.testing.assert_array_equal(result["c.count"], ticks + 1)
    np.testing.assert_allclose(result["c.t_tick"], start + 0.1 * ticks, atol=1e-12)


def test_a_clock_off_the_communication_grid_is_refused_naming_it(tmp_path):
    fmu = special.build("special/Clocked3")
    path = tmp_path / "system.yaml"
    path.write_text(f"simulation: {{stop: 1, step: 0.03}}\ncomponents:\n  c: {{fmu: {fmu}}}\n")
    text = "\n".join(_messages(path))
    assert f"{path}:3:" in text and "clock 'tick'" in text and "grid of 0.03 s" in text


def test_an_event_sets_a_64_bit_integer_exactly(tmp_path, types3):
    value = 2**62 + 1  # float64 rounds it to 2**62
    path = _system(
        tmp_path,
        f"components:\n  a: {{fmu: {types3}}}\n"
        f"events:\n  - {{at: 0.1, set: {{a.p_i64: {value}}}}}\n",
    )
    result = cosim.load(path).simulate()
    got = result["a.y_i64"]
    assert int(got[0]) == -(2**62) - 1 and int(got[-1]) == value
