"""Every recorded value type reaches results.h5, Results and CSV exactly, in a dataset of its own
dtype: Int64 -2**62-1 and UInt64 2**64-1 (not representable in float64), the FMI 3 integer
extremes, Float32, FMI 2.0 Integer (int64) and booleans (uint8)."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest
from engine_helpers import bundled, fake_system, load_yaml

import cosim
from cosim.engine.plan import build_plan
from cosim.fmu.adapter import ValueType
from cosim.model.spec import VariableInfo
from cosim.results.memory import MemoryRecorder, Results
from cosim.results.signals import read_signals
from cosim.results.writer import ResultsWriter, export_csv, read_results

# FMI 3.0 (section 2.4.7) and FMI 2.0 types -> the engine's store and the dtype results.h5 must
# hold them in (FMI 2.0 Integer stays int64, as the results.h5 contract always said)
TYPES = {
    # name: (fmi_type, kind, value type, results.h5 dtype)
    "f64": ("Float64", "real", ValueType.F64, np.float64),
    "f32": ("Float32", "real", ValueType.F32, np.float32),
    "i8": ("Int8", "integer", ValueType.I8, np.int8),
    "u8": ("UInt8", "integer", ValueType.U8, np.uint8),
    "i16": ("Int16", "integer", ValueType.I16, np.int16),
    "u16": ("UInt16", "integer", ValueType.U16, np.uint16),
    "i32": ("Int32", "integer", ValueType.I32, np.int32),
    "u32": ("UInt32", "integer", ValueType.U32, np.uint32),
    "i64": ("Int64", "integer", ValueType.I64, np.int64),
    "u64": ("UInt64", "integer", ValueType.U64, np.uint64),
    "e64": ("Enumeration", "integer", ValueType.I64, np.int64),
    "n2": ("Integer", "integer", ValueType.I32, np.int64),  # FMI 2.0 Integer
    "b8": ("Boolean", "boolean", ValueType.B8, np.uint8),  # fmi3Boolean
    "b32": ("Boolean", "boolean", ValueType.B32, np.uint8),  # fmi2Boolean
}


def _extremes(dtype) -> list:
    """Row values per type: min, max, and values float64 cannot hold (as Python numbers)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        info = np.finfo(dt)
        return [float(dt.type(v)) for v in (info.min, info.max, info.tiny, 0.1, -0.0, 1 / 3)]
    info = np.iinfo(dt)
    lo, hi = int(info.min), int(info.max)
    return [lo, hi, lo + 1, hi - 1, (lo + hi) // 2, 0]


EXPECTED: dict[str, list] = {
    name: ([0, 1, 1, 0, 1, 0] if kind == "boolean" else _extremes(dtype))
    for name, (_, kind, _, dtype) in TYPES.items()
}
EXPECTED["i64"][2] = -(2**62) - 1  # float64 rounds it to -2**62
EXPECTED["u64"][2] = 2**63 + 1  # float64 rounds it to 2**63
EXPECTED["n2"] = [-(2**31), 2**31 - 1, 0, -1, 7, 1]  # an fmi2Integer is 32 bits
N_ROWS = len(EXPECTED["f64"])


def _typed_system():
    variables = {
        name: VariableInfo(name, vr, kind, fmi_type, "output", "discrete")  # type: ignore[arg-type]
        for vr, (name, (fmi_type, kind, _, _)) in enumerate(TYPES.items())
    }
    system = fake_system([("T", variables)], step=1e-3, stop=(N_ROWS - 1) * 1e-3)
    plan = build_plan(system, value_type=lambda comp, var: TYPES[var.name][2])
    return system, plan


class _Stores:
    """The part of an Execution a recorder reads: value stores (numpy arrays of the stores'
    C types), the step count and the tick. Unit-test stand-in: no FMU has these types yet."""

    def __init__(self, plan) -> None:
        from cosim.fmu.adapter import DTYPES

        self.plan = plan
        self.views = [
            np.zeros(int(plan.store_size[t]), DTYPES.get(t, np.float64)) for t in ValueType
        ]
        self.step_count, self.tick = 0, plan.start_tick

    def put_row(self, r: int) -> None:
        p = self.plan
        for label, t, slot in zip(p.rec_labels, p.rec_vtype, p.rec_slot, strict=True):
            self.views[t][slot] = EXPECTED[label.partition(".")[2]][r]  # the C type holds it


def _drive(recorder, plan) -> None:
    """Rows 0..N_ROWS-1 through the observer calls an Execution makes."""
    ex = _Stores(plan)
    ex.put_row(0)
    recorder.simulation_initialized(ex)
    for r in range(1, N_ROWS):
        ex.put_row(r)
        ex.step_count, ex.tick = r, plan.tick(r)
        recorder.step_complete(r, ex.tick)
    recorder.close(None, "completed")


def _check_h5(path: Path) -> None:
    with h5py.File(path, "r") as f:
        assert f["time"].dtype == np.float64
        for name, (_, kind, _, dtype) in TYPES.items():
            ds = f["signals"][f"T.{name}"]
            assert ds.dtype == dtype, name
            assert ds.attrs["kind"] == kind
            # tolist() gives Python ints/floats: compared exactly, never through float64
            assert ds[:].tolist() == EXPECTED[name], name


def _check_csv(path: Path) -> None:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.split(" [")[0] for h in rows[0]]
    for name, (_, kind, _, _) in TYPES.items():
        j = header.index(f"T.{name}")
        column = [row[j] for row in rows[1:]]
        if kind == "real":  # %.17g / %.9g: read back to the same float
            got = [float(v) for v in column]
            if name == "f32":
                got = [float(np.float32(v)) for v in got]
            assert got == EXPECTED[name], name
        else:
            assert [int(v) for v in column] == EXPECTED[name], name  # written as integers


def _check_signals(path: Path) -> None:
    exact = read_signals(path, exact=True)
    for name in TYPES:
        values = exact.values[f"T.{name}"]
        if name in ("i64", "u64") or path.suffix == ".h5":
            assert values.tolist() == EXPECTED[name], name
        if TYPES[name][1] == "integer":
            assert values.dtype.kind in "iu", name
    # the default stays float64 (compare and plot compute with it)
    assert read_signals(path).values["T.i64"].dtype == np.float64


def test_writer_records_every_type_exactly(tmp_path):
    system, plan = _typed_system()
    # 4-row buffers: the 6 rows cross a block hand-off
    writer = ResultsWriter(tmp_path / "r.h5", system, plan, buffer_rows=4, flush_interval=1e9)
    _drive(writer, plan)
    _check_h5(tmp_path / "r.h5")
    loaded = read_results(tmp_path / "r.h5")
    assert loaded["signals"]["T.u64"].tolist() == EXPECTED["u64"]
    assert export_csv(tmp_path / "r.h5", tmp_path / "r.csv") == N_ROWS
    _check_csv(tmp_path / "r.csv")
    _check_signals(tmp_path / "r.h5")
    _check_signals(tmp_path / "r.csv")
    res = Results.from_h5(tmp_path / "r.h5")
    for name, (_, _, _, dtype) in TYPES.items():
        assert res[f"T.{name}"].dtype == dtype and res[f"T.{name}"].tolist() == EXPECTED[name]


def test_memory_recorder_records_every_type_exactly(tmp_path):
    system, plan = _typed_system()
    rec = MemoryRecorder(system, plan)
    _drive(rec, plan)
    res = rec.results()
    np.testing.assert_allclose(res.time, np.arange(N_ROWS) * 1e-3, rtol=0, atol=1e-15)
    for name, (_, kind, _, dtype) in TYPES.items():
        assert res[f"T.{name}"].dtype == dtype, name
        assert res[f"T.{name}"].tolist() == EXPECTED[name], name
        assert res.kinds[f"T.{name}"] == kind
    _check_h5(res.to_h5(tmp_path / "m.h5"))
    _check_csv(res.to_csv(tmp_path / "m.csv"))
    again = Results.from_h5(tmp_path / "m.h5")
    assert all(again[k].tolist() == res[k].tolist() for k in res.names)
    assert again.kinds == res.kinds
    df = res.to_pandas()
    assert df["T.u64"].dtype == np.uint64 and df["T.u64"].tolist() == EXPECTED["u64"]
    assert df["T.i64"].tolist() == EXPECTED["i64"]


def test_results_in_memory_keep_their_integer_dtype_in_h5(tmp_path):
    """Results built by hand: an int8 or uint64 array stays that dtype; a list of integers for
    an integer signal is int64; booleans are uint8."""
    res = Results(
        [0.0, 1.0],
        {
            "a.i8": np.array([-128, 127], np.int8),
            "a.u64": np.array([2**64 - 1, 0], np.uint64),
            "a.n": [-(2**62) - 1, 3],
            "a.b": np.array([True, False]),
        },
        kinds={"a.b": "boolean"},
    )
    res.to_h5(tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        s = f["signals"]
        assert (s["a.i8"].dtype, s["a.u64"].dtype) == (np.int8, np.uint64)
        assert (s["a.n"].dtype, s["a.b"].dtype) == (np.int64, np.uint8)
        assert s["a.u64"][:].tolist() == [2**64 - 1, 0]
        assert s["a.n"][:].tolist() == [-(2**62) - 1, 3]
        assert s["a.b"][:].tolist() == [1, 0]


GAIN_YAML = """\
name: gain_types
simulation: {{start: 0.0, stop: 0.05, step: 1.0e-2}}
components:
  g:
    fmu: {fmu}
    parameters: {{k: 3.0, b: 0.5, n_in: -2147483648, u: -1.0}}
record:
  variables: [g.y, g.n_out, g.positive]
events:
  - {{at: 0.02, set: {{g.n_in: 2147483647, g.u: 0.1}}}}
"""


@pytest.mark.parametrize(("fmi", "int_dtype"), [("2.0", np.int64), ("3.0", np.int32)])
def test_bundled_gain_records_integers_and_booleans_exactly(tmp_path, fmi, int_dtype):
    """A real run of the bundled Gain FMU (y = k*u + b, n_out = n_in, positive = u > 0): FMI 2.0
    Integer goes to int64, FMI 3 Int32 to int32, Boolean to uint8, through results.h5, Results
    and CSV; the int32 extremes come back as set."""
    fmu = bundled(("fmi3/" if fmi == "3.0" else "") + "Gain")
    system = load_yaml(tmp_path, GAIN_YAML.format(fmu=fmu))
    assert system.components[0].fmi_version == fmi
    res = cosim.load(tmp_path / "system.yaml").simulate(out=tmp_path / "out")
    t = res.time
    # the event acts on the step starting at 0.02, so rows from t = 0.03 on show it; the row at
    # t = 0.02 (taken when that step begins) may show either value and is not checked
    before, after = t < 0.015, t > 0.025
    assert before.sum() == 2 and after.sum() == 3
    with h5py.File(tmp_path / "out" / "results.h5", "r") as f:
        n_out, positive, y = (f["signals"][k][:] for k in ("g.n_out", "g.positive", "g.y"))
    for values in (n_out, res["g.n_out"]):
        assert values.dtype == int_dtype
        assert values[before].tolist() == [-(2**31)] * 2
        assert values[after].tolist() == [2**31 - 1] * 3
    for values in (positive, res["g.positive"]):
        assert values.dtype == np.uint8
        assert values[before].tolist() == [0, 0] and values[after].tolist() == [1, 1, 1]
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y[before], 3.0 * -1.0 + 0.5)  # exact in binary
    np.testing.assert_array_equal(y[after], 3.0 * 0.1 + 0.5)  # the same IEEE operations
    export_csv(tmp_path / "out" / "results.h5", tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.reader(f))
    j = [h.split(" [")[0] for h in rows[0]].index("g.n_out")
    assert [rows[1 + i][j] for i in np.flatnonzero(after)] == ["2147483647"] * 3
