"""The compiled step kernel and the Python loop give the same results, bit for bit.

Both run the same operations on the same buffers in the same order (cosim/engine/native.py
builds the kernel's tables from the very phase table the Python loop runs), so every recorded
value must be identical: compared with np.array_equal, not a tolerance. Checked on every
bundled example system, on randomised plans (chains and graphs of FMI 2.0 and 3.0 FMUs, gains,
offsets, integer and Boolean connections, Real-to-Integer conversions, multirate, Jacobi and
Gauss-Seidel), and on the paths where the kernel hands a step back to Python (an FMU that
asks to terminate, an FMU error).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import cosim
from cosim.engine.native import kernel
from cosim.errors import FmuError

ROOT = Path(__file__).resolve().parents[1]
SKIP_SECTIONS = ("opcua", "plant", "regression", "monitors", "estimate", "forecast", "sweep")


def runs(system: cosim.System) -> dict[str, tuple]:
    """engine -> (results, statistics, status) of one run each."""
    out = {}
    for engine in ("python", "native"):
        with system.execution(engine=engine) as sim:
            sim.initialize()
            sim.run_until()
        out[engine] = (sim.results, sim.execution.stats, sim.status, sim.stop_reason)
    return out


def same(a, b) -> None:
    assert np.array_equal(np.asarray(a.time), np.asarray(b.time))
    names = list(a.to_pandas().columns)
    assert names == list(b.to_pandas().columns)
    for name in names:
        assert np.array_equal(np.asarray(a[name]), np.asarray(b[name]), equal_nan=True), name


def test_the_kernel_builds_here():
    lib, why = kernel()
    assert lib is not None, why


def _example(path: Path, tmp: Path) -> cosim.System:
    data = yaml.safe_load(path.read_text())
    for key in SKIP_SECTIONS:
        data.pop(key, None)
    data["simulation"].pop("realtime", None)
    stop = data["simulation"]["stop"] = min(2.0, float(data["simulation"]["stop"]))
    data["events"] = [e for e in data.get("events") or [] if e["at"] < stop]
    for comp in data["components"].values():
        if str(comp["fmu"]).endswith(".fmu") and not Path(comp["fmu"]).is_absolute():
            comp["fmu"] = str((path.parent / comp["fmu"]).resolve())
    return cosim.System.from_dict(data, base_dir=path.parent)


@pytest.mark.parametrize("path", sorted((ROOT / "systems").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_example_is_bit_identical_under_both_loops(path, tmp_path):
    r = runs(_example(path, tmp_path))
    same(r["python"][0], r["native"][0])
    assert r["python"][2:] == r["native"][2:]
    assert r["python"][1].engine == "python"
    native = r["native"][1]
    # the kernel runs every plan of raw FMI calls; Model Exchange, loops, extrapolation and
    # Event Mode stay in Python and say so
    assert native.engine == "native" or native.engine_reason, native.engine_reason


def _random_system(rng: np.random.Generator, tmp: Path) -> dict:
    n = int(rng.integers(2, 9))
    comps, conns = {}, []
    kinds = []
    for i in range(n):
        fmi = "fmi3/" if rng.random() < 0.4 else ""
        kind = str(rng.choice(["Gain", "FirstOrder", "Integrator"]))
        kinds.append(kind)
        comp: dict = {"fmu": fmi + kind}
        if kind == "Gain":
            comp["parameters"] = {"k": float(rng.normal()), "b": float(rng.normal())}
        if rng.random() < 0.3:
            comp["step"] = 0.002 * int(rng.integers(1, 4))
        comps[f"c{i}"] = comp
    driven: set[str] = set()
    for i in range(1, n):
        j = int(rng.integers(0, i))  # a DAG: sources come earlier
        src, dst = f"c{j}", f"c{i}"
        out = "y"
        if kinds[i] == "Integrator" and kinds[j] == "Gain" and rng.random() < 0.5:
            conns.append({"from": f"{src}.n_out", "to": f"{dst}.n"})
            conns.append({"from": f"{src}.positive", "to": f"{dst}.hold"})
            driven |= {f"{dst}.n", f"{dst}.hold"}
            continue
        if kinds[i] == "Integrator" and rng.random() < 0.5:
            how = str(rng.choice(["round", "floor", "ceil", "truncate"]))
            conns.append(
                {"from": f"{src}.{out}", "to": f"{dst}.n", "gain": 3.7, "offset": -0.2,
                 "convert": how}
            )  # fmt: skip
            driven.add(f"{dst}.n")
        target = f"{dst}.u"
        if target in driven:
            continue
        conn = {"from": f"{src}.{out}", "to": target}
        if rng.random() < 0.5:
            conn |= {"gain": float(rng.normal()), "offset": float(rng.normal())}
        conns.append(conn)
        driven.add(target)
    algorithm = str(rng.choice(["gauss-seidel", "jacobi"]))
    # a stop off the grid (shortened last steps) and a recording interval of a few steps
    stop = float(rng.choice([0.3, 0.3013, 1.5]))
    events = [
        {"at": float(at), "set": {"c0.u": float(rng.normal())}}
        for at in sorted(rng.uniform(0.0, stop, int(rng.integers(0, 4))).round(3))
    ]
    data = {
        "simulation": {"stop": stop, "step": 0.002, "algorithm": algorithm},
        "components": comps,
        "connections": conns,
        "events": events,
        "record": {"interval": 0.002 * int(rng.integers(1, 4))},
    }  # fmt: skip
    if "c0.u" not in driven and rng.random() < 0.5:  # an input table: the kernel's feed
        table = tmp / "u.csv"
        times = np.sort(rng.uniform(0, stop, 6)).round(4)
        table.write_text("time,u\n" + "".join(f"{t},{rng.normal()}\n" for t in times))
        data["inputs"] = [{"file": str(table), "map": {"u": "c0.u"}, "outside": "hold"}]
        data["events"] = []  # one source per input
    return data


@pytest.mark.parametrize("seed", range(12))
def test_randomised_plans_are_bit_identical_under_both_loops(seed, tmp_path):
    data = _random_system(np.random.default_rng(seed), tmp_path)
    system = cosim.System.from_dict(data, base_dir=tmp_path)
    r = runs(system)
    assert r["native"][1].engine == "native", r["native"][1].engine_reason
    same(r["python"][0], r["native"][0])
    a, b = r["python"][1], r["native"][1]
    assert (a.steps, a.do_step_calls) == (b.steps, b.do_step_calls)
    # the kernel times the same sampled doSteps as the Python loop does
    assert a.do_step_sampled_calls == b.do_step_sampled_calls


def test_an_fmu_asking_to_terminate_ends_both_loops_alike(tmp_path):
    data = {
        "simulation": {"stop": 1.0, "step": 0.01},
        "components": {"t": {"fmu": "Timer", "parameters": {"t_terminate": 0.5}},
                       "g": {"fmu": "Gain"}},
        "connections": [{"from": "t.y", "to": "g.u"}],
    }  # fmt: skip
    r = runs(cosim.System.from_dict(data, base_dir=tmp_path))
    same(r["python"][0], r["native"][0])
    assert r["python"][2:] == r["native"][2:]
    assert r["native"][2] == "stopped" and "terminate" in r["native"][3]


def test_warnings_inside_chunks_are_handled_as_the_python_loop_does(tmp_path):
    # Limiter returns Warning from doStep while it clips: here for t in (0.5, 1.2) of the
    # FirstOrder's rise towards 2 (clipped at 1.3) and again after the event at 1.5 sends the
    # source to -3; each Warning ends a kernel chunk, Python counts it and goes on
    data = {
        "simulation": {"stop": 3.0, "step": 0.001},
        "components": {
            "src": {"fmu": "FirstOrder", "parameters": {"k": 2.0, "T": 0.5, "u": 1.0}},
            "lim": {"fmu": "Limiter", "parameters": {"lo": -1.0, "hi": 1.3}},
            "out": {"fmu": "fmi3/Gain"},
        },
        "connections": [{"from": "src.y", "to": "lim.u"}, {"from": "lim.y", "to": "out.u"}],
        "events": [{"at": 1.5, "set": {"src.k": -6.0}}],
    }
    r = runs(cosim.System.from_dict(data, base_dir=tmp_path))
    same(r["python"][0], r["native"][0])
    a, b = r["python"][1], r["native"][1]
    assert r["native"][2] == "completed" and b.engine == "native"
    clipped = int(np.count_nonzero(np.asarray(r["native"][0]["lim.clipped"])))
    assert a.fmu_warning_returns == b.fmu_warning_returns
    assert b.fmu_warning_returns["lim"] == clipped > 0  # one Warning per clipping doStep
    assert a.fmu_warnings == b.fmu_warnings and a.fmu_warning_lines == b.fmu_warning_lines
    assert 0 < b.kernel_steps < b.steps  # chunks between the Warnings, single steps at them
    y = np.asarray(r["native"][0]["lim.y"])
    assert y.max() == 1.3 and y.min() == -1.0


def test_an_fmu_error_inside_a_native_phase_is_the_same_fmu_error(tmp_path):
    data = {
        "simulation": {"stop": 1.0, "step": 0.1},
        "components": {
            "g0": {"fmu": "Gain", "parameters": {"u": 1e10}},
            **{f"g{i}": {"fmu": "Gain"} for i in range(1, 4)},
        },
        "connections": [{"from": f"g{i}.y", "to": f"g{i + 1}.u"} for i in range(3)],
        "events": [{"at": 0.5, "set": {"g2.k": 1e308}}],  # g2.y overflows to inf: an error
    }
    system = cosim.System.from_dict(data, base_dir=tmp_path)
    errors = {}
    for engine in ("python", "native"):
        with pytest.raises(FmuError) as err:
            system.simulate(engine=engine)
        errors[engine] = err.value
    a, b = errors["python"], errors["native"]
    assert (a.instance, a.function, a.status, a.time) == (b.instance, b.function, b.status, b.time)
    assert a.instance == "g2" and a.time == pytest.approx(0.5)


def test_engine_python_in_yaml_runs_the_python_loop(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "simulation: {stop: 0.1, step: 0.01, engine: python}\ncomponents:\n  g: {fmu: Gain}\n"
    )
    with cosim.load(path).execution() as sim:
        sim.initialize()
        sim.run_until()
    assert sim.execution.stats.engine == "python"


def test_without_a_c_compiler_the_python_loop_runs_and_says_why(tmp_path):
    import json
    import os
    import subprocess
    import sys

    path = tmp_path / "s.yaml"
    path.write_text("simulation: {stop: 0.1, step: 0.01}\ncomponents:\n  g: {fmu: Gain}\n")
    env = {**os.environ, "CC": str(tmp_path / "no-such-gcc"), "COSIM_CACHE": str(tmp_path / "c")}
    env.pop("COSIM_ENGINE", None)  # the default loop is asked for (the suite may run on python)
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / "r"), "--json"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["engine"] == "python"
    assert "no C compiler" in summary["engine_reason"]


def test_cosim_run_writes_the_same_results_h5_under_both_loops(tmp_path):
    # 60,000 rows of 9 signals: several of the writer's blocks (~13,000 rows each), filled
    # by the kernel and handed to the writer thread, against the Python loop's row by row;
    # a stop off the grid and an event make the last steps and one step go one by one
    import json
    import subprocess
    import sys

    import h5py

    path = tmp_path / "s.yaml"
    path.write_text(
        "simulation: {stop: 60.0005, step: 0.001}\n"
        "components:\n  a: {fmu: fmi3/Gain, parameters: {u: 0.5}}\n  b: {fmu: Gain}\n"
        "  c: {fmu: Integrator}\n"
        "connections:\n  - {from: a.y, to: b.u}\n  - {from: b.y, to: c.u, gain: 2.0}\n"
        "events:\n  - {at: 30.0, set: {a.u: -0.25}}\n"
    )
    summaries = {}
    for engine in ("python", "native"):
        out = subprocess.run(
            [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / engine),
             "--engine", engine, "--json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        summaries[engine] = json.loads(out.stdout)
    assert summaries["python"]["engine"] == "python"
    native = summaries["native"]
    assert native["engine"] == "native" and 0 < native["kernel_steps"] < native["steps"]
    with (
        h5py.File(tmp_path / "python" / "results.h5") as a,
        h5py.File(tmp_path / "native" / "results.h5") as b,
    ):
        names: list[str] = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        signals = [n for n in names if n.startswith("signals/")]
        assert len(signals) >= 7 and len(a["time"]) == 60_002
        for name in ["time", *signals]:
            x, y = a[name][()], b[name][()]
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        assert a.attrs["status"] == b.attrs["status"] == "completed"


class _Counter:
    """An observer of every step (no every_step attribute): the kernel must not chunk."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def simulation_initialized(self, execution) -> None:
        pass

    def step_complete(self, step: int, tick: int) -> None:
        self.calls.append((step, tick))


class _Sparse(_Counter):
    every_step = False  # called once per kernel call


def test_an_observer_of_every_step_sees_every_step_and_a_sparse_one_the_chunk_ends(tmp_path):
    data = {"simulation": {"stop": 2.0, "step": 0.001}, "components": {"g": {"fmu": "Gain"}}}
    system = cosim.System.from_dict(data, base_dir=tmp_path)
    dense, sparse = _Counter(), _Sparse()
    with system.execution(observers=[dense], engine="native") as sim:
        sim.initialize()
        sim.run_until()
    assert [s for s, _ in dense.calls] == list(range(1, 2001))
    assert sim.execution.stats.engine == "native" and sim.execution.stats.kernel_steps == 0
    with system.execution(observers=[sparse], engine="native") as sim:
        sim.initialize()
        sim.run_until()
    stats = sim.execution.stats
    steps = [s for s, _ in sparse.calls]
    assert stats.kernel_steps == 2000 and len(steps) == stats.kernel_calls < 100
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 2000  # first chunk: 1 step
    assert sparse.calls[-1][1] == 2_000_000_000  # the tick after the last step
    same(sim.results, system.simulate(engine="python"))


def test_stepping_one_step_at_a_time_through_the_api_matches_a_whole_run(tmp_path):
    data = _random_system(np.random.default_rng(7), tmp_path)
    system = cosim.System.from_dict(data, base_dir=tmp_path)
    with system.execution(engine="native") as sim:
        sim.initialize()
        while sim.execution.step_count < sim.execution.plan.n_steps:
            sim.step()
    same(sim.results, system.simulate(engine="python"))


def test_cosim_engine_sets_the_default_loop_and_a_bad_value_is_bad_input(tmp_path):
    import json
    import os
    import subprocess
    import sys

    path = tmp_path / "s.yaml"
    path.write_text("simulation: {stop: 0.1, step: 0.01}\ncomponents:\n  g: {fmu: Gain}\n")
    for value, code in (("python", 0), ("fortran", 2)):
        out = subprocess.run(
            [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / value),
             "--json"],
            capture_output=True, text=True, timeout=120, env={**os.environ, "COSIM_ENGINE": value},
        )  # fmt: skip
        assert out.returncode == code, out.stderr
        assert "Traceback" not in out.stderr
    assert json.loads(subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / "n"), "--json",
         "--engine", "native"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COSIM_ENGINE": "python"},
    ).stdout)["engine"] == "native"  # fmt: skip
