"""Tests of cosim.verify.twin_plot and `cosim plot --twin`: a real run plus a known /twin story.

The story written into /twin (on a real Mass1 run, 0..10 s, recorded every 0.05 s)::

    t [s]      0 ........ 4 ..... 5 ........... 8 ......... 10
    monitor    normal     warning  alarm          normal
    estimate   k_wear = 0.01 + 0.02 t, sigma shrinking; truth 0.02 t
    forecasts  made at 6, 7, 8 s: when k_wear crosses 0.8 (truly at 40 s)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.patches import Polygon, Rectangle

import cosim
from cosim.errors import ConfigError
from cosim.verify.twin_plot import plot_twin, read_twin, state_spans

ROOT = Path(__file__).resolve().parents[1]
MON = "resid_x1"
EST_T = np.linspace(0.0, 10.0, 21)
FC_T = np.array([6.0, 7.0, 8.0])
TRUE_CROSSING = 40.0  # truth 0.02 t reaches 0.8


def est_mean(t: np.ndarray) -> np.ndarray:
    return 0.01 + 0.02 * t


def est_std(t: np.ndarray) -> np.ndarray:
    return 0.05 * np.exp(-t / 5.0) + 0.005


@pytest.fixture(scope="module")
def run_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real results.h5 of the bundled Mass1 FMU, no /twin yet."""
    out = tmp_path_factory.mktemp("run")
    system = cosim.System.from_dict(
        {
            "name": "mass",
            "simulation": {"start": 0.0, "stop": 10.0, "step": 0.01},
            "components": {"mass": {"fmu": "Mass1", "parameters": {"F_ext": 1.0}}},
            "record": {"interval": 0.05},
        }
    )
    system.simulate(out=out)
    return out / "results.h5"


def copy(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / "results.h5"
    shutil.copyfile(src, dst)
    return dst


def add_twin_base(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """/twin/time, a watched and a driven input, the residual; returns (time, state)."""
    with h5py.File(path, "a") as f:
        t = f["time"][()]
        predicted = f["signals/mass.x1"][()]
        rng = np.random.default_rng(1)
        measured = predicted + 0.002 * rng.standard_normal(t.size) + 0.01 * np.clip(t - 4, 0, None)
        tw = f.create_group("twin")
        tw.create_dataset("time", data=t)
        inputs = tw.create_group("inputs", track_order=True)
        g = inputs.create_group("mass.x1")
        g.attrs.update(role="watch", unit="m")
        g.create_dataset("value", data=measured)
        g = inputs.create_group("mass.v1")  # watched, no drift
        g.attrs.update(role="watch", unit="m/s")
        g.create_dataset("value", data=f["signals/mass.v1"][()] + 0.001)
        g = inputs.create_group("mass.F_ext")
        g.attrs.update(role="drive", unit="N")
        g.create_dataset("value", data=np.ones_like(t))
        res = tw.create_group("residuals")
        res.create_dataset("mass.x1", data=measured - predicted).attrs["unit"] = "m"
        res.create_dataset("mass.v1", data=np.full(t.size, 0.001)).attrs["unit"] = "m/s"
    state = np.zeros(t.size, dtype=np.uint8)
    rows = np.arange(t.size)  # rows every 0.05 s: row 80 is t = 4 s, 100 is 5 s, 160 is 8 s
    state[(rows >= 80) & (rows < 100)] = 1
    state[(rows >= 100) & (rows < 160)] = 2
    return t, state


def add_monitor(path: Path, t: np.ndarray, state: np.ndarray | None, name: str = MON) -> None:
    with h5py.File(path, "a") as f:
        g = f.require_group("twin/monitors").create_group(name)
        g.create_dataset("value", data=np.where(t < 8.0, 0.1 * t, 0.1))
        if state is not None:
            g.create_dataset("state", data=state)
        g.attrs.update(
            indicator="residual mass.x1", warning=0.4, alarm=0.5, direction="above", unit="m"
        )


def add_alarm_table(path: Path, events: list[tuple[float, str, str, str, float]]) -> None:
    with h5py.File(path, "a") as f:
        g = f.require_group("twin").create_group("alarms")
        s = h5py.string_dtype()
        cols = list(zip(*events, strict=True)) if events else [[]] * 5
        g.create_dataset("time", data=np.array(cols[0], dtype="f8"))
        for k, key in ((1, "monitor"), (2, "level"), (3, "event")):
            g.create_dataset(key, data=np.array(cols[k], dtype=object), dtype=s)
        g.create_dataset("value", data=np.array(cols[4], dtype="f8"))


STORY_EVENTS = [
    (4.0, MON, "warning", "raised", 0.4),
    (5.0, MON, "alarm", "raised", 0.5),
    (8.0, MON, "alarm", "cleared", 0.1),
    (8.0, MON, "warning", "cleared", 0.1),
]


def add_estimate(path: Path) -> None:
    with h5py.File(path, "a") as f:
        g = f.require_group("twin/estimates").create_group("mass.k_wear")
        g.create_dataset("time", data=EST_T)
        g.create_dataset("mean", data=est_mean(EST_T))
        g.create_dataset("std", data=est_std(EST_T))
        g.create_dataset("rate_mean", data=np.full(EST_T.size, 0.02))
        g.create_dataset("rate_std", data=np.full(EST_T.size, 0.002))
        g.create_dataset("truth_time", data=EST_T)
        g.create_dataset("truth", data=0.02 * EST_T)
        g.attrs.update(unit="1", method="enkf", members=40)


def add_forecasts(path: Path, *, all_nan: bool = False) -> np.ndarray:
    """Three forecasts of the crossing, members spread narrowing; returns samples."""
    rng = np.random.default_rng(7)
    spread = np.array([6.0, 4.0, 2.0])
    samples = TRUE_CROSSING + spread[:, None] * rng.standard_normal((3, 200))
    if all_nan:
        samples[:] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(samples, axis=1)
            low = np.nanquantile(samples, 0.05, axis=1)
            high = np.nanquantile(samples, 0.95, axis=1)
    with h5py.File(path, "a") as f:
        g = f.require_group("twin/forecasts").create_group("wear")
        g.create_dataset("time", data=FC_T)
        g.create_dataset("horizon", data=np.full(3, 50.0))
        g.create_dataset("median", data=median)
        g.create_dataset("low", data=low)
        g.create_dataset("high", data=high)
        g.create_dataset("crossed", data=np.isfinite(samples).mean(axis=1))
        g.create_dataset("samples", data=samples)
        g.attrs.update(
            target="mass.k_wear above 0.8",
            true_crossing=np.nan if all_nan else TRUE_CROSSING,
        )
    return samples


@pytest.fixture
def story_h5(run_h5: Path, tmp_path: Path) -> Path:
    path = copy(run_h5, tmp_path)
    t, state = add_twin_base(path)
    add_monitor(path, t, state)
    add_alarm_table(path, STORY_EVENTS)
    add_estimate(path)
    add_forecasts(path)
    return path


def title(ax: Axes) -> str:
    return ax.get_title(loc="left")


def axis_with(fig, text: str) -> Axes:
    found = [ax for ax in fig.axes if text in title(ax)]
    assert len(found) == 1, [title(ax) for ax in fig.axes]
    return found[0]


def span_extents(ax: Axes, level: str, monitor: str = MON) -> list[tuple[float, float]]:
    out = []
    for p in ax.patches:
        if p.get_gid() != f"span:{level}:{monitor}":
            continue
        if isinstance(p, Rectangle):
            out.append((p.get_x(), p.get_x() + p.get_width()))
        else:
            assert isinstance(p, Polygon)
            xs = p.get_xy()[:, 0]
            out.append((xs.min(), xs.max()))
    return sorted(out)


# ----------------------------------------------------------------------------- the figure
def test_the_story_panels_titles_and_units(story_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "twin.png"
    fig = plot_twin(story_h5, out)
    assert out.stat().st_size > 1000
    titles = [title(ax) for ax in fig.axes]
    assert len(fig.axes) == 7, titles  # the driven input mass.F_ext has no panel
    assert titles[:2] == ["mass.x1: measured vs predicted", "mass.v1: measured vs predicted"]
    assert titles[2].startswith("residuals") and titles[3].startswith("residuals")
    assert titles[4].startswith(f"monitor {MON}: residual mass.x1")
    assert titles[5].startswith("estimate mass.k_wear (enkf, 40 members)")
    assert "trend 0.02" in titles[5]
    assert titles[6] == "forecast wear: mass.k_wear above 0.8"
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "mass.x1 [m]",
        "mass.v1 [m/s]",
        "residual [m]",  # one residual panel per unit
        "residual [m/s]",
        f"{MON} [m]",
        "mass.k_wear [1]",
        "crossing at [s]",
    ]
    assert fig.axes[-1].get_xlabel() == "time [s]"
    shared = fig.axes[0].get_shared_x_axes()
    assert all(shared.joined(fig.axes[0], ax) for ax in fig.axes)


def test_predicted_is_the_recorded_signal_and_measured_is_thin(story_h5: Path) -> None:
    fig = plot_twin(story_h5, None)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    with h5py.File(story_h5) as f:
        recorded = f["signals/mass.x1"][()]
        measured = f["twin/inputs/mass.x1/value"][()]
    np.testing.assert_array_equal(lines["predicted (twin)"].get_ydata(), recorded)
    np.testing.assert_array_equal(lines["measured"].get_ydata(), measured)
    assert lines["measured"].get_alpha() < 1.0
    assert lines["measured"].get_linewidth() < lines["predicted (twin)"].get_linewidth()


def test_monitor_levels_dashed_and_alarm_span_from_5_to_8_s_on_every_panel(
    story_h5: Path,
) -> None:
    fig = plot_twin(story_h5, None)
    ax = axis_with(fig, f"monitor {MON}")
    dashed = {line.get_label(): line for line in ax.get_lines() if line.get_linestyle() == "--"}
    assert set(dashed) == {"warning 0.4", "alarm 0.5"}
    assert list(dashed["alarm 0.5"].get_ydata()) == [0.5, 0.5]
    for panel in fig.axes:  # the story lines up: the same spans on every panel
        assert span_extents(panel, "alarm") == [(5.0, 8.0)]
        assert span_extents(panel, "warning") == [(4.0, 5.0)]
    own = [p.get_alpha() for p in ax.patches if p.get_gid() == f"span:alarm:{MON}"]
    other = [p.get_alpha() for p in fig.axes[0].patches if p.get_gid() == f"span:alarm:{MON}"]
    assert own[0] > other[0] > 0  # darker on the monitor's own panel, light elsewhere
    warn = [p.get_alpha() for p in ax.patches if p.get_gid() == f"span:warning:{MON}"]
    assert warn[0] < own[0]  # warning spans lighter than alarm spans


def test_spans_from_the_alarm_table_when_a_monitor_has_no_state(
    run_h5: Path, tmp_path: Path
) -> None:
    path = copy(run_h5, tmp_path)
    t, _ = add_twin_base(path)
    add_monitor(path, t, None)
    add_alarm_table(path, [(5.0, MON, "alarm", "raised", 0.5)])  # never cleared: to the end
    fig = plot_twin(path, None)
    ax = axis_with(fig, f"monitor {MON}")
    assert span_extents(ax, "alarm") == [(5.0, 10.0)]


def test_state_spans_start_at_the_first_row_and_end_at_the_first_row_after() -> None:
    t = np.arange(10) * 0.5
    state = np.array([0, 0, 1, 2, 2, 0, 0, 2, 2, 2], dtype=np.uint8)
    got = [(s.level, s.start, s.end) for s in state_spans(t, state)]
    assert got == [("warning", 1.0, 1.5), ("alarm", 1.5, 2.5), ("alarm", 3.5, 4.5)]


def test_sigma_bands_follow_mean_plus_minus_std_and_truth(story_h5: Path) -> None:
    fig = plot_twin(story_h5, None)
    ax = axis_with(fig, "estimate mass.k_wear")
    mean, std = est_mean(EST_T), est_std(EST_T)
    for gid, k in (("band:1", 1.0), ("band:3", 3.0)):
        (band,) = [c for c in ax.collections if c.get_gid() == gid]
        assert isinstance(band, PolyCollection)
        verts = band.get_paths()[0].vertices
        for y in (mean + k * std, mean - k * std):
            expected = np.column_stack((EST_T, y))
            dist = np.min(np.linalg.norm(verts[None, :, :] - expected[:, None, :], axis=2), axis=1)
            assert dist.max() < 1e-12
    one = [c for c in ax.collections if c.get_gid() == "band:1"][0]
    three = [c for c in ax.collections if c.get_gid() == "band:3"][0]
    assert three.get_alpha() < one.get_alpha()  # the 3 sigma band is lighter
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["estimate (mean)"].get_ydata(), mean)
    np.testing.assert_allclose(lines["truth"].get_ydata(), 0.02 * EST_T)


def test_forecast_intervals_are_the_5_and_95_percent_quantiles(story_h5: Path) -> None:
    with h5py.File(story_h5) as f:
        samples = f["twin/forecasts/wear/samples"][()]
    low, high = np.quantile(samples, 0.05, axis=1), np.quantile(samples, 0.95, axis=1)
    fig = plot_twin(story_h5, None)
    ax = axis_with(fig, "forecast wear")
    (bars,) = [c for c in ax.collections if c.get_gid() == "interval"]
    assert isinstance(bars, LineCollection)
    segs = np.array(bars.get_segments())  # (forecasts, 2 ends, xy)
    np.testing.assert_allclose(segs[:, 0, 0], FC_T)
    np.testing.assert_allclose(segs[:, 1, 0], FC_T)
    np.testing.assert_allclose(np.minimum(segs[:, 0, 1], segs[:, 1, 1]), low)
    np.testing.assert_allclose(np.maximum(segs[:, 0, 1], segs[:, 1, 1]), high)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["median crossing"].get_ydata(), np.median(samples, axis=1))
    assert list(lines["true crossing"].get_ydata()) == [TRUE_CROSSING] * 2
    now = lines["now"]  # the diagonal y = x
    assert now.get_xydata().shape == (2, 2) or hasattr(now, "get_slope")
    ylo, yhi = ax.get_ylim()
    assert ylo <= low.min() and yhi >= max(high.max(), TRUE_CROSSING)


# ----------------------------------------------------------------------------- partial data
def test_partial_data_no_monitors_empty_table_all_nan_forecasts(
    run_h5: Path, tmp_path: Path
) -> None:
    path = copy(run_h5, tmp_path)
    add_twin_base(path)
    add_alarm_table(path, [])
    add_forecasts(path, all_nan=True)
    fig = plot_twin(path, tmp_path / "twin.png")
    titles = [title(ax) for ax in fig.axes]
    assert len(titles) == 5 and titles[4].startswith("forecast wear")
    assert not any(p.get_gid() for ax in fig.axes for p in ax.patches)  # no spans
    ax = fig.axes[4]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert "median crossing" not in lines and "true crossing" not in lines
    beyond = lines["no crossing within horizon"]  # marked at made + horizon
    np.testing.assert_allclose(beyond.get_ydata(), FC_T + 50.0)
    assert (tmp_path / "twin.png").stat().st_size > 1000


def test_only_an_estimate_without_time_rows(run_h5: Path, tmp_path: Path) -> None:
    path = copy(run_h5, tmp_path)
    with h5py.File(path, "a") as f:
        f.create_group("twin")
    add_estimate(path)
    fig = plot_twin(path, None)
    assert [title(ax).split(" (")[0] for ax in fig.axes] == ["estimate mass.k_wear"]


def test_signals_restrict_panels_and_unknown_names_are_config_errors(story_h5: Path) -> None:
    fig = plot_twin(story_h5, None, signals=["mass.v*"])
    titles = [title(ax) for ax in fig.axes]
    assert titles[0] == "mass.v1: measured vs predicted"
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["mass.v1 [m/s]", "residual [m/s]"]
    assert len(fig.axes) == 5  # + monitor, estimate, forecast
    with pytest.raises(ConfigError, match="no watched signal or residual matches 'nope'"):
        read_twin(story_h5, ["nope"])


def test_empty_twin_group_and_no_twin_group_are_config_errors(run_h5: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no /twin group: it is not from a twin run"):
        plot_twin(run_h5, None)
    path = copy(run_h5, tmp_path)
    with h5py.File(path, "a") as f:
        f.create_group("twin")
    with pytest.raises(ConfigError, match="/twin holds nothing to plot"):
        plot_twin(path, None)


# ----------------------------------------------------------------------------- the CLI
def cosim_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "cosim", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_plot_twin_writes_a_png(story_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "twin.png"
    proc = cosim_cli("plot", story_h5, "--twin", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 1000
    assert "7 twin panels" in proc.stdout
    plain = tmp_path / "plot.png"  # the ordinary plot of the same file is unchanged
    proc = cosim_cli("plot", story_h5, "mass.x1", "-o", plain)
    assert proc.returncode == 0, proc.stderr
    assert "1 lines from 1 file(s)" in proc.stdout


def test_cli_plot_twin_without_twin_group_exits_2(run_h5: Path, tmp_path: Path) -> None:
    proc = cosim_cli("plot", run_h5, "--twin", "-o", tmp_path / "twin.png")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {run_h5} has no /twin group: it is not from a twin run"
    ]
    assert not (tmp_path / "twin.png").exists()
