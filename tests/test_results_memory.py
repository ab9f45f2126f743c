"""In-memory results: MemoryRecorder against the analytic lag response, the same rows as the
results.h5 writer, growing blocks, to_h5/from_h5, to_pandas and to_csv round trips."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
from engine_helpers import FIRST_ORDER, GAIN, bundled, fake_system, load_yaml

from cosim.engine.execution import Execution
from cosim.engine.plan import build_plan
from cosim.fmu.archive import read_model_description
from cosim.fmu.fake import FirstOrderModel, GainModel, fake_factory
from cosim.results import memory
from cosim.results.memory import MemoryRecorder, Results
from cosim.results.signals import read_signals
from cosim.results.writer import ResultsWriter

T_LAG = 0.5
LAG = """\
name: lag
description: a first-order lag
simulation: {{start: 0.0, stop: {stop!r}, step: 1.0e-3}}
components:
  lag: {{fmu: {fmu}, parameters: {{T: {T}, u: 1.0}}}}
record:
  variables: [lag.y, lag.u, lag.T]
  interval: 1.0e-2
"""


def run(system, observers, slave_factory=None, stop_at=None):
    """Run to the end (or request a stop after step `stop_at`); close every observer."""

    class StopAt:
        def simulation_initialized(self, ex):
            self.ex = ex

        def step_complete(self, step, tick):
            if step == stop_at:
                self.ex.request_stop("test")

    plan = observers[0].plan
    extra = [StopAt()] if stop_at is not None else []
    ex = Execution(system, plan=plan, observers=[*observers, *extra], slave_factory=slave_factory)
    with ex:
        ex.initialize()
        ex.run_until()
    status = "completed" if ex.step_count == plan.n_steps else "stopped"
    for o in observers:
        o.close(ex.stats, status)
    return ex


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_first_order_fmu_matches_the_analytic_step_response(tmp_path, fmi):
    """FirstOrder FMU, T = 0.5 s, u = 1 from t = 0: y = 1 - exp(-t/T). The FMU takes one RK4
    step per 1 ms: local error (h/T)^5/120 ~ 3e-16, so 1e-12 over 1000 steps."""
    fmu = bundled(("fmi3/" if fmi == "3.0" else "") + "FirstOrder")
    system = load_yaml(tmp_path, LAG.format(stop=1.0, fmu=fmu, T=T_LAG))
    rec = MemoryRecorder(system, build_plan(system))
    run(system, [rec])
    res = rec.results()
    assert isinstance(res, Results)
    np.testing.assert_allclose(res.time, np.arange(101) * 1e-2, rtol=0, atol=1e-12)
    assert res.time.dtype == np.float64
    np.testing.assert_allclose(res["lag.y"], 1 - np.exp(-res.time / T_LAG), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res["lag.u"], 1.0)
    np.testing.assert_array_equal(res["lag.T"], T_LAG)
    assert res.names == ["lag.y", "lag.u", "lag.T"] and list(res) == res.names
    assert len(res) == 3 and "lag.y" in res and "lag.x" not in res
    assert res.units == {"lag.y": "1", "lag.u": "1", "lag.T": "s"}
    md = read_model_description(fmu)  # fmpy's reading of the model description
    described = {v.name: v.description for v in md.modelVariables}
    assert res.descriptions == {f"lag.{k}": described[k] for k in ("y", "u", "T")}
    assert res.descriptions["lag.y"] == "Output (the lag state)"
    a = res.attrs
    assert a["status"] == res.status == "completed" and a["error"] == "" and a["steps"] == 1000
    assert a["system_name"] == "lag" and a["description"] == "a first-order lag"
    assert json.loads(a["signals"]) == res.names
    assert json.loads(a["statistics"])["steps"] == 1000
    with pytest.raises(KeyError, match="did you mean lag.y"):
        res["lag.yy"]


def test_same_rows_as_the_results_writer_and_a_final_row_off_the_grid(tmp_path):
    """Stopped after step 37 with a 10-step record interval: rows at 0, 10, 20, 30 ms and the
    state at 37 ms, in memory and in the file alike."""
    system = fake_system([("A", FIRST_ORDER)], stop=1.0, step=1e-3, record_decimation=10)
    plan = build_plan(system)
    rec = MemoryRecorder(system, plan)
    writer = ResultsWriter(tmp_path / "r.h5", system, plan)
    factory = fake_factory({"A": lambda: FirstOrderModel(T=T_LAG, u=1.0)})
    run(system, [rec, writer], factory, stop_at=37)
    res = rec.results()
    np.testing.assert_allclose(res.time, [0.0, 0.01, 0.02, 0.03, 0.037], rtol=0, atol=1e-15)
    np.testing.assert_allclose(res["A.y"], 1 - np.exp(-res.time / T_LAG), rtol=0, atol=1e-12)
    assert res.status == "stopped"
    with h5py.File(tmp_path / "r.h5", "r") as f:
        np.testing.assert_array_equal(f["time"][:], res.time)
        np.testing.assert_array_equal(f["signals/A.y"][:], res["A.y"])


def test_a_failed_run_gets_no_final_row():
    """doStep fails from t = 25 ms: rows at 0, 10, 20 ms only (the state after 25 good steps
    is not added as a final row of a failed run)."""
    from cosim.errors import FmuError

    system = fake_system([("A", FIRST_ORDER)], stop=1.0, step=1e-3, record_decimation=10)
    plan = build_plan(system)
    rec = MemoryRecorder(system, plan)
    factory = fake_factory({"A": lambda: FirstOrderModel(T=T_LAG, u=1.0)}, A=0.025)
    ex = Execution(system, plan=plan, observers=[rec], slave_factory=factory)
    with pytest.raises(FmuError) as info, ex:
        ex.initialize()
        ex.run_until()
    assert ex.step_count == 25
    rec.close(ex.stats, "failed", info.value)
    res = rec.results()
    np.testing.assert_allclose(res.time, [0.0, 0.01, 0.02], rtol=0, atol=1e-15)
    assert res.status == "failed" and res.attrs["error"] == str(info.value) != ""


def test_rows_grow_in_preallocated_blocks(monkeypatch):
    """With 256-row blocks, 1001 rows take four blocks; the rows are still exact and results()
    during the run gives the rows so far."""
    monkeypatch.setattr(memory, "_MAX_FIRST_BLOCK", 0)
    monkeypatch.setattr(memory, "_BLOCK_BYTES", 0)  # block_rows() floor: 256 rows
    system = fake_system([("A", FIRST_ORDER)], stop=1.0, step=1e-3)
    plan = build_plan(system)
    rec = MemoryRecorder(system, plan)
    seen = []

    class Peek:
        def simulation_initialized(self, ex):
            pass

        def step_complete(self, step, tick):
            if step == 600:
                seen.append(rec.results())

    factory = fake_factory({"A": lambda: FirstOrderModel(T=T_LAG, u=1.0)})
    ex = Execution(system, plan=plan, observers=[rec, Peek()], slave_factory=factory)
    with ex:
        ex.initialize()
        ex.run_until()
    rec.close(ex.stats, "completed")
    assert len(rec._full) == 3 and len(rec._block.rows) == 256  # 3 full blocks + the 4th
    res = rec.results()
    np.testing.assert_allclose(res.time, np.arange(1001) * 1e-3, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res["A.y"], 1 - np.exp(-res.time / T_LAG), rtol=0, atol=1e-12)
    early = seen[0]
    assert len(early.time) == 601 and early.status == "running"
    np.testing.assert_array_equal(early["A.y"], res["A.y"][:601])


def test_one_block_for_a_run_that_fits():
    system = fake_system([("A", FIRST_ORDER)], stop=1.0, step=1e-3, record_decimation=10)
    rec = MemoryRecorder(system, build_plan(system))
    assert len(rec._block.rows) == 102  # 101 grid rows + a possible final row


def gain_system(stop=0.01):
    """Gain k = 2 fed by a FirstOrder lag: integer and boolean outputs too."""
    return fake_system(
        [("A", FIRST_ORDER), ("G", GAIN)],
        [("A.y", "G.u", 1.0, 0.0, True)],  # G has direct feedthrough
        stop=stop,
        records=["A.y", "G.y", "G.n_out", "G.positive"],
    )


def gain_factory():
    return fake_factory(
        {"A": lambda: FirstOrderModel(T=T_LAG, u=1.0), "G": lambda: GainModel(k=2.0)}
    )


def test_integer_and_boolean_signals_keep_their_type(tmp_path):
    system = gain_system()
    rec = MemoryRecorder(system, build_plan(system))
    run(system, [rec], gain_factory())
    res = rec.results()
    assert res.kinds == {
        "A.y": "real",
        "G.y": "real",
        "G.n_out": "integer",
        "G.positive": "boolean",
    }
    assert [res[k].dtype for k in res.names] == [np.float64, np.float64, np.int64, np.uint8]
    y = 1 - np.exp(-res.time / T_LAG)
    np.testing.assert_allclose(res["G.y"], 2 * y, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res["G.positive"], (2 * y > 0).astype(np.uint8))


def test_to_h5_writes_the_writer_layout_and_from_h5_reads_it_back(tmp_path):
    """The same run recorded by ResultsWriter and by MemoryRecorder: `to_h5` writes a file
    with the same datasets, dtypes, dataset attributes and file attributes as the streaming
    writer; from_h5 gives back equal Results."""
    system = gain_system(stop=0.05)
    plan = build_plan(system)
    rec = MemoryRecorder(system, plan)
    writer = ResultsWriter(tmp_path / "streamed.h5", system, plan)
    run(system, [rec, writer], gain_factory())
    res = rec.results()
    out = res.to_h5(tmp_path / "sub" / "memory.h5")
    assert out == tmp_path / "sub" / "memory.h5"
    with h5py.File(tmp_path / "streamed.h5", "r") as a, h5py.File(out, "r") as b:
        assert list(a) == list(b) == ["signals", "time"]
        assert list(a["signals"]) == list(b["signals"]) == res.names
        assert dict(a["time"].attrs) == dict(b["time"].attrs) == {"unit": "s"}
        np.testing.assert_array_equal(a["time"][:], b["time"][:])
        for name in a["signals"]:
            da, db = a["signals"][name], b["signals"][name]
            assert da.dtype == db.dtype and da.maxshape == db.maxshape == (None,)
            assert dict(da.attrs) == dict(db.attrs)
            np.testing.assert_array_equal(da[:], db[:])
        assert set(a.attrs) == set(b.attrs)
        for key in a.attrs:
            va, vb = a.attrs[key], b.attrs[key]
            assert va == vb or (isinstance(va, float) and math.isnan(va) and math.isnan(vb)), key
    back = Results.from_h5(out)
    assert back.names == res.names
    assert (back.units, back.descriptions, back.kinds) == (res.units, res.descriptions, res.kinds)
    np.testing.assert_array_equal(back.time, res.time)
    for k in res.names:
        assert back[k].dtype == res[k].dtype
        np.testing.assert_array_equal(back[k], res[k])
    assert back.attrs == {k: (v.item() if hasattr(v, "item") else v) for k, v in res.attrs.items()}
    streamed = Results.from_h5(tmp_path / "streamed.h5")  # the writer's file reads the same
    np.testing.assert_array_equal(streamed["G.n_out"], res["G.n_out"])
    assert streamed.status == "completed"


def test_from_h5_of_a_non_results_file_is_a_config_error(tmp_path):
    from cosim.errors import ConfigError

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("other", data=[1.0])
    with pytest.raises(ConfigError, match="not a cosim results file"):
        Results.from_h5(tmp_path / "x.h5")


def test_to_pandas_and_to_csv(tmp_path):
    system = gain_system(stop=0.02)
    rec = MemoryRecorder(system, build_plan(system))
    run(system, [rec], gain_factory())
    res = rec.results()
    df = res.to_pandas()
    assert list(df.columns) == res.names and df.index.name == "time"
    np.testing.assert_array_equal(df.index.to_numpy(), res.time)
    for k in res.names:
        np.testing.assert_array_equal(df[k].to_numpy(), res[k])
    assert df["G.n_out"].dtype == np.int64
    assert df.attrs["units"] == res.units and df.attrs["descriptions"] == res.descriptions
    np.testing.assert_allclose(df["A.y"], 1 - np.exp(-df.index.to_numpy() / T_LAG), atol=1e-12)

    res.to_csv(tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == "time [s],A.y [1],G.y,G.n_out,G.positive"  # GAIN declares no units
    back = read_signals(tmp_path / "r.csv")
    assert back.names == res.names
    np.testing.assert_array_equal(back.time, res.time)  # 17 digits: bit-exact
    for k in res.names:
        np.testing.assert_array_equal(back.values[k], res[k].astype(np.float64))
    assert back.units["A.y"] == "1"


def test_results_from_arrays_checks_shapes():
    with pytest.raises(ValueError, match="one value per time"):
        Results(np.arange(3.0), {"a.x": np.zeros(4)})
    r = Results(np.arange(3.0), {"a.x": np.arange(3)}, units={"a.x": "m"})
    assert r.kinds == {"a.x": "integer"} and r.descriptions == {"a.x": ""}
    assert dict(r)["a.x"].tolist() == [0, 1, 2]
    assert r.get("a.y") is None and r.get("a.x") is r["a.x"]
