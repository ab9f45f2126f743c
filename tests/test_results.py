"""The results.h5 contract: layout and metadata, chunked writes from a buffer, time-based
flushing, readability after SIGKILL and after an FMU failure, and the CSV export."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from engine_helpers import FIRST_ORDER, Recorder, bundled, dual_mass_yaml, fake_system, load_yaml

import cosim
from cosim.engine.execution import Execution
from cosim.engine.plan import build_plan
from cosim.fmu.archive import read_model_description
from cosim.fmu.fake import FirstOrderModel, fake_factory
from cosim.results.writer import ResultsWriter, export_csv

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_with_writer(system, path, observers=(), **writer_kwargs):
    plan = build_plan(system)
    writer = ResultsWriter(path, system, plan, **writer_kwargs)
    ex = Execution(system, plan=plan, observers=[writer, *observers])
    try:
        with ex:
            ex.initialize()
            ex.run_until()
    finally:
        writer.close(ex.stats)
    return ex, writer


def test_layout_and_metadata_contract(tmp_path):
    text = dual_mass_yaml("2.0", stop=0.5, record_interval=1e-2)
    system = load_yaml(tmp_path, text)
    rec = Recorder()
    ex, _ = run_with_writer(system, tmp_path / "out" / "results.h5", [rec])
    with h5py.File(tmp_path / "out" / "results.h5", "r") as f:
        t = f["time"]
        assert t.ndim == 1 and t.dtype == np.float64 and t.attrs["unit"] == "s"
        np.testing.assert_allclose(t[:], np.arange(51) * 1e-2, rtol=0, atol=1e-12)
        units = {"mass1.x1": "m", "mass1.v1": "m/s", "mass2.x2": "m", "mass2.v2": "m/s"}
        assert list(f["signals"]) == list(units)  # recording order
        for label, unit in units.items():
            ds = f["signals"][label]
            assert ds.ndim == 1 and ds.shape == t.shape and ds.dtype == np.float64
            assert ds.attrs["unit"] == unit
            np.testing.assert_array_equal(ds[:], rec[label])
        a = f.attrs
        assert a["system_name"] == "dual_mass"
        assert a["yaml"] == text
        assert a["yaml_sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert a["cosim_version"] == cosim.__version__
        guids = json.loads(a["fmu_guids"])
        paths = json.loads(a["fmu_paths"])
        for name, model in (("mass1", "Mass1"), ("mass2", "Mass2")):
            assert guids[name] == read_model_description(bundled(model)).guid
            assert Path(paths[name]) == bundled(model).resolve()
        assert (a["start"], a["stop"], a["step"]) == (0.0, 0.5, 1e-3)
        assert a["algorithm"] == "gauss-seidel"
        assert a["status"] == "completed" and a["steps"] == 500
        assert a["wall_time"] > 0 and a["real_time_factor"] > 0
        stats = json.loads(a["statistics"])
        assert set(stats["do_step_share"]) == {"mass1", "mass2"}
        assert sum(stats["do_step_share"].values()) == pytest.approx(1.0)


def test_rows_are_written_in_chunks_on_the_writer_thread(tmp_path, monkeypatch):
    """The step thread only fills buffers: every append to the file happens on the writer
    thread, a full buffer (64 rows) at a time, and the rest at close."""
    system = fake_system([("A", FIRST_ORDER)], stop=1.0, step=1e-3)  # 1001 rows
    plan = build_plan(system)
    writer = ResultsWriter(tmp_path / "r.h5", system, plan, buffer_rows=64, flush_interval=1e9)
    writes = []  # (rows, thread) per write
    original = writer._write_rows

    def counting_write(block, k):
        writes.append((k, threading.get_ident()))
        original(block, k)

    monkeypatch.setattr(writer, "_write_rows", counting_write)
    factory = fake_factory({"A": lambda: FirstOrderModel(T=0.5, u=1.0)})
    ex = Execution(system, plan=plan, observers=[writer], slave_factory=factory)
    with ex:
        ex.initialize()
        ex.run_until()
    writer.close(ex.stats)
    rows = [k for k, _ in writes]
    assert sum(rows) == 1001 and writer.rows_written == 1001
    assert rows == [64] * 15 + [1001 - 15 * 64]  # full buffers, then the rest at close
    assert threading.get_ident() not in {thread for _, thread in writes}
    assert not writer._thread.is_alive()  # close() joined it
    with h5py.File(tmp_path / "r.h5", "r") as f:
        ds = f["signals/A.y"]
        assert ds.chunks is not None and ds.maxshape == (None,)
        # exact solution of the fake lag with u = 1: y = 1 - exp(-t/T)
        np.testing.assert_allclose(ds[:], 1 - np.exp(-f["time"][:] / 0.5), rtol=0, atol=1e-12)
        assert f.attrs["status"] == "completed"


class _Slow:
    """Observer that makes every step take ~2 ms of wall time and watches the writer."""

    def __init__(self, writer):
        self.writer, self.written = writer, []

    def simulation_initialized(self, ex):
        pass

    def step_complete(self, step, tick):
        time.sleep(0.002)
        self.written.append(self.writer.rows_written)


def test_buffer_is_flushed_every_flush_interval_of_wall_time(tmp_path):
    system = fake_system([("A", FIRST_ORDER)], stop=0.3, step=1e-3)
    plan = build_plan(system)
    writer = ResultsWriter(tmp_path / "r.h5", system, plan, flush_interval=0.1)
    slow = _Slow(writer)
    factory = fake_factory({"A": lambda: FirstOrderModel()})
    ex = Execution(system, plan=plan, observers=[writer, slow], slave_factory=factory)
    with ex:
        ex.initialize()
        ex.run_until()
    writer.close(ex.stats)
    # ~0.6 s of stepping with a 0.1 s flush interval: rows reach the file several times while
    # the buffer (far larger than 301 rows) is never full
    assert len(writer._rows) > 301
    assert len(set(slow.written)) >= 3 and slow.written[-1] > 0


SLOW_RUN = """\
import sys, time
sys.path[:0] = [{tests!r}, {root!r}]
from engine_helpers import FIRST_ORDER, fake_system
from cosim.engine.execution import Execution
from cosim.fmu.fake import FirstOrderModel, fake_factory
from cosim.engine.plan import build_plan
from cosim.results.writer import ResultsWriter


class SlowLag(FirstOrderModel):  # every doStep takes 0.2 s of wall time
    def advance(self, v, t, h):
        time.sleep(0.2)
        super().advance(v, t, h)


class Announce:  # tells the parent when each step is done
    def simulation_initialized(self, ex):
        print("step 0", flush=True)

    def step_complete(self, step, tick):
        print(f"step {{step}}", flush=True)


system = fake_system([("A", FIRST_ORDER)], stop=100.0, step=1.0)
plan = build_plan(system)
writer = ResultsWriter({path!r}, system, plan)  # default: flush at least every 1 s
factory = fake_factory({{"A": lambda: SlowLag(T=50.0, u=1.0)}})
with Execution(system, plan=plan, observers=[writer, Announce()], slave_factory=factory) as ex:
    ex.initialize()
    ex.run_until()
"""


def test_slow_steps_still_reach_the_disk_every_second(tmp_path):
    """Each doStep takes 0.2 s. A child process runs the engine and reports each finished step;
    after 3 s of stepping it is killed with SIGKILL. The file must hold every row recorded more
    than 1 s + one step (+ 0.3 s scheduling slack) before the kill: with the clock checked only
    every 16 rows, nothing would have reached the disk before 3.2 s."""
    path = tmp_path / "r.h5"
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN.format(tests=str(ROOT / "tests"), root=str(ROOT), path=str(path)))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: list[tuple[int, float]] = []  # (rows recorded so far, when the parent saw it)
    try:
        start = None
        for line in proc.stdout:
            now = time.monotonic()
            step = int(line.split()[1])
            seen.append((step + 1, now))
            start = now if step == 0 else start
            if now - start >= 3.0:
                break
    finally:
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err
    due = max((rows for rows, at in seen if at <= killed_at - 1.5), default=0)
    assert due >= 5, seen  # the test itself saw enough steps
    with h5py.File(path, "r") as f:
        t = f["time"][:]
        y = f["signals/A.y"][:]
    assert len(t) >= due, (len(t), due, seen)
    np.testing.assert_allclose(t, np.arange(len(t)) * 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, 1 - np.exp(-t / 50.0), rtol=0, atol=1e-12)


def _wait_for_rows(path: Path, proc, timeout: float = 30.0) -> None:
    """Wait until the writer has flushed at least once (the file grows past its header)."""
    t0 = time.monotonic()
    size0 = None
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        if path.exists():
            size = path.stat().st_size
            size0 = size if size0 is None else size0
            if size > size0:
                time.sleep(1.5)  # let at least one more flush happen
                return
        time.sleep(0.05)
    raise AssertionError("no flush observed")


def test_sigkill_leaves_a_readable_file(tmp_path):
    yaml_path = tmp_path / "long.yaml"
    yaml_path.write_text(dual_mass_yaml("2.0", stop=1.0e5, record_interval=1e-2))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosim", "run", str(yaml_path), "--out", str(out), "--quiet"],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for_rows(out / "results.h5", proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    with h5py.File(out / "results.h5", "r") as f:
        t = f["time"][:]
        assert len(t) > 100
        np.testing.assert_allclose(t, np.arange(len(t)) * 1e-2, rtol=0, atol=1e-9)
        for label in ("mass1.x1", "mass1.v1", "mass2.x2", "mass2.v2"):
            x = f["signals"][label][:]
            assert x.shape == t.shape and np.isfinite(x).all()
        assert f["signals/mass2.x2"][0] == 0.5  # the start value, row 0
        assert f.attrs["status"] == "running"  # never closed


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_fmu_failure_names_everything_and_leaves_a_readable_file(tmp_path, fmi):
    """An event sets a negative mass at t = 1 s: the next doStep of mass1 returns Error."""
    events = "events:\n  - {at: 1.0, set: {mass1.m1: -1.0}}\n"
    yaml_path = tmp_path / "fail.yaml"
    yaml_path.write_text(dual_mass_yaml(fmi, stop=2.0, record_interval=1e-2, events=events))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(yaml_path), "--out", str(out)],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    function = "fmi3DoStep" if fmi == "3.0" else "fmi2DoStep"
    assert f"mass1: {function} returned Error at t=1 s" in proc.stderr
    assert "invalid parameter m1 = -1 kg: the mass must be > 0" in proc.stderr
    with h5py.File(out / "results.h5", "r") as f:
        t = f["time"][:]
        # every communication point up to the failing step was recorded: 0, 0.01, ..., 1.0
        np.testing.assert_allclose(t, np.arange(101) * 1e-2, rtol=0, atol=1e-9)
        assert f["signals/mass1.x1"].shape == (101,)
        assert f.attrs["status"] == "failed"
        assert function in f.attrs["error"]


def test_failure_in_initialization_still_closes_the_file(tmp_path):
    yaml_path = tmp_path / "s.yaml"
    yaml_path.write_text(dual_mass_yaml("2.0", stop=1.0))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(yaml_path), "--out", str(out),
         "--set", "mass1.m1=-1", "--quiet"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "mass1: fmi2ExitInitializationMode returned Error at t=0 s" in proc.stderr
    with h5py.File(out / "results.h5", "r") as f:
        assert f["time"].shape == (0,) and f.attrs["status"] == "failed"


def test_export_csv_matches_the_results_file(tmp_path):
    system = load_yaml(tmp_path, dual_mass_yaml("3.0", stop=0.2, record_interval=1e-3))
    h5 = tmp_path / "results.h5"
    run_with_writer(system, h5)
    rows = export_csv(h5, tmp_path / "out.csv")
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "time [s],mass1.x1 [m],mass1.v1 [m/s],mass2.x2 [m],mass2.v2 [m/s]"
    assert rows == len(lines) - 1 == 201
    data = np.loadtxt(tmp_path / "out.csv", delimiter=",", skiprows=1)
    with h5py.File(h5, "r") as f:
        np.testing.assert_array_equal(data[:, 0], f["time"][:])  # 17 digits: bit-exact
        for j, label in enumerate(["mass1.x1", "mass1.v1", "mass2.x2", "mass2.v2"], start=1):
            np.testing.assert_array_equal(data[:, j], f["signals"][label][:])
    assert math.isclose(data[-1, 0], 0.2)


def test_variable_names_with_slashes_stay_flat_and_keep_their_label(tmp_path):
    """A "/" in a name would make nested HDF5 groups: the dataset name percent-encodes "/" as
    %2F and "%" as %25 (so "a/b" and a literal "a%2Fb" stay distinct), the `name` attribute
    holds the label, and both readers give the labels back."""
    from engine_helpers import var

    from cosim.results.writer import dataset_name, read_results, signal_label

    variables = {
        "bus/y": var("bus/y", FirstOrderModel.Y, "output", unit="1"),
        "bus%2Fy": var("bus%2Fy", FirstOrderModel.U, "output", unit="1"),
        "T": var("T", FirstOrderModel.T, "parameter", unit="s"),
    }
    labels = ["A.bus/y", "A.bus%2Fy", "A.T"]
    system = fake_system([("A", variables)], stop=0.01, step=1e-3, records=labels)
    factory = fake_factory({"A": lambda: FirstOrderModel(T=0.5, u=2.0)})
    plan = build_plan(system)
    writer = ResultsWriter(tmp_path / "r.h5", system, plan)
    ex = Execution(system, plan=plan, observers=[writer], slave_factory=factory)
    with ex:
        ex.initialize()
        ex.run_until()
    writer.close(ex.stats)
    with h5py.File(tmp_path / "r.h5", "r") as f:
        group = f["signals"]
        assert list(group) == ["A.bus%2Fy", "A.bus%252Fy", "A.T"]
        assert all(isinstance(group[name], h5py.Dataset) for name in group)
        assert [group[name].attrs["name"] for name in group] == labels
        assert group["A.bus%2Fy"].attrs["variable"] == "bus/y"
        t = f["time"][:]
        # the fake lag with u = 2: y = 2*(1 - exp(-t/T)); "bus%2Fy" is its input u = 2
        np.testing.assert_allclose(group["A.bus%2Fy"][:], 2 * (1 - np.exp(-t / 0.5)), atol=1e-12)
        np.testing.assert_array_equal(group["A.bus%252Fy"][:], 2.0)
    assert [dataset_name(label) for label in labels] == ["A.bus%2Fy", "A.bus%252Fy", "A.T"]
    assert [signal_label(dataset_name(label)) for label in labels] == labels
    data = read_results(tmp_path / "r.h5")
    assert list(data["signals"]) == labels
    export_csv(tmp_path / "r.h5", tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == "time [s],A.bus/y [1],A.bus%2Fy [1],A.T [s]"


def test_each_signal_carries_the_fmu_description(tmp_path):
    system = load_yaml(tmp_path, dual_mass_yaml("2.0", stop=0.01))
    run_with_writer(system, tmp_path / "r.h5")
    expected = {}
    for comp, model in (("mass1", "Mass1"), ("mass2", "Mass2")):
        md = read_model_description(bundled(model))  # fmpy's reading of the XML
        expected.update({f"{comp}.{v.name}": v.description for v in md.modelVariables})
    with h5py.File(tmp_path / "r.h5", "r") as f:
        for label in ("mass1.x1", "mass1.v1", "mass2.x2", "mass2.v2"):
            assert f["signals"][label].attrs["description"] == expected[label]
            assert expected[label]  # the bundled FMUs describe every output
    assert expected["mass1.x1"] == "Position of mass 1"


DISK_FULL_RUN = """\
import os, resource, signal, sys
sys.path[:0] = [{tests!r}, {root!r}]
from engine_helpers import FIRST_ORDER, fake_system
from cosim.engine.execution import Execution
from cosim.engine.plan import build_plan
from cosim.errors import SimulationError
from cosim.fmu.fake import FirstOrderModel, fake_factory
from cosim.results.writer import ResultsWriter

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
system = fake_system([("A", FIRST_ORDER)], stop=100.0, step=1e-3)  # 100001 rows, ~1.6 MB
plan = build_plan(system)
writer = ResultsWriter({path!r}, system, plan, buffer_rows=1024)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))  # "disk full"
ex = Execution(system, plan=plan, observers=[writer],
               slave_factory=fake_factory({{"A": lambda: FirstOrderModel(T=50.0, u=1.0)}}))
try:
    with ex:
        ex.initialize()
        ex.run_until()
    print("no error")
except SimulationError as err:
    print("step", ex.step_count, "of", plan.n_steps)
    print(err)
    writer.close(ex.stats, "failed", err)  # already raised: close does not raise it again
    print("closed", flush=True)
os._exit(0)  # HDF5's own teardown after a failed write crashes at exit (h5py 3.x, not ours)
"""


def test_a_failed_write_on_the_writer_thread_ends_the_run_with_a_clear_error(tmp_path):
    """The file may grow to 200 kB only (RLIMIT_FSIZE, a real write error from the kernel):
    the writer thread's failure is raised on the step thread within a buffer or two, as a
    SimulationError naming the file and the cause, not lost."""
    path = tmp_path / "r.h5"
    script = tmp_path / "full.py"
    script.write_text(
        DISK_FULL_RUN.format(tests=str(ROOT / "tests"), root=str(ROOT), path=str(path))
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    out = proc.stdout.splitlines()
    assert proc.returncode == 0 and out and out[0].startswith("step "), proc.stdout + proc.stderr
    step, n_steps = int(out[0].split()[1]), int(out[0].split()[3])
    # 200 kB hold ~12,000 rows of (time, y); the run stops soon after, far before its end
    assert 5_000 < step < 30_000 and n_steps == 100_000
    assert f"cannot write results to {path}" in out[1]
    assert "File too large" in out[1]
    assert out[-1] == "closed"


def test_a_write_failure_at_close_is_raised_by_close(tmp_path, monkeypatch):
    system = fake_system([("A", FIRST_ORDER)], stop=0.1, step=1e-3)
    plan = build_plan(system)
    writer = ResultsWriter(tmp_path / "r.h5", system, plan, flush_interval=1e9)

    def full_disk(block, k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_write_rows", full_disk)
    factory = fake_factory({"A": lambda: FirstOrderModel(T=0.5, u=1.0)})
    ex = Execution(system, plan=plan, observers=[writer], slave_factory=factory)
    with ex:
        ex.initialize()
        ex.run_until()  # 101 rows fit in the buffer: nothing is written before close
    with pytest.raises(cosim.errors.SimulationError, match="No space left on device") as info:
        writer.close(ex.stats, "completed")
    assert str(tmp_path / "r.h5") in str(info.value)
    writer.close(ex.stats, "completed")  # a second close does nothing
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["time"].shape == (0,)
        assert f.attrs["status"] == "failed"
        assert "No space left on device" in f.attrs["error"]


def test_csv_units_read_back(tmp_path):
    """h5 -> CSV -> read_signals: units from the header's "name [unit]" columns, values
    bit-exact; a CSV without units (the old format) still reads, with empty units."""
    from cosim.results.signals import read_signals

    system = load_yaml(tmp_path, dual_mass_yaml("2.0", stop=0.05, record_interval=1e-2))
    h5 = tmp_path / "results.h5"
    run_with_writer(system, h5)
    export_csv(h5, tmp_path / "r.csv")
    from_csv, from_h5 = read_signals(tmp_path / "r.csv"), read_signals(h5)
    assert from_csv.names == from_h5.names == ["mass1.x1", "mass1.v1", "mass2.x2", "mass2.v2"]
    assert dict(from_csv.units) == {
        "mass1.x1": "m", "mass1.v1": "m/s", "mass2.x2": "m", "mass2.v2": "m/s"
    }  # fmt: skip
    np.testing.assert_array_equal(from_csv.time, from_h5.time)
    for name in from_h5.names:
        np.testing.assert_array_equal(from_csv.values[name], from_h5.values[name])
    old = tmp_path / "old.csv"
    old.write_text("time,mass1.x1,x[1]\n0,1,2\n0.5,3,4\n")
    legacy = read_signals(old)
    assert legacy.names == ["mass1.x1", "x[1]"] and dict(legacy.units) == {
        "mass1.x1": "",
        "x[1]": "",
    }
    np.testing.assert_array_equal(legacy.values["x[1]"], [2.0, 4.0])


def test_csv_column_names_read_back_unchanged():
    """A label that itself ends in " [..]" gets an empty unit "[]" so it is not misread."""
    import io

    from cosim.results.csv import column_name, write_header
    from cosim.results.signals import split_unit

    cases = [("a.x", "m"), ("a.x", ""), ("a.x[2]", ""), ("a.odd [b]", ""), ("a.y", "N.m")]
    for label, unit in cases:
        assert split_unit(column_name(label, unit)) == (label, unit)
    buf = io.StringIO()
    write_header(buf, ["a,b", "c"], ["m", ""])
    assert buf.getvalue() == 'time [s],"a,b [m]",c\n'  # CSV quoting for a comma in a name
