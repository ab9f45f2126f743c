"""Tests of cosim.verify.plot and `cosim plot`: units on the axes, overlays, decimation, errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from cosim.errors import ConfigError
from cosim.results.signals import from_arrays, read_signals
from cosim.verify.plot import decimate, file_labels, plot_signals

ROOT = Path(__file__).resolve().parents[1]
T = np.linspace(0.0, 5.0, 501)
UNITS = {"mass1.x1": "m", "mass2.x2": "m", "mass1.v1": "m/s"}


def write_h5(path: Path, t: np.ndarray, signals: dict, units: dict) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("time", data=t)
        group = f.create_group("signals", track_order=True)
        for name, values in signals.items():
            group.create_dataset(name, data=values).attrs["unit"] = units.get(name, "")
    return path


def signals(t: np.ndarray, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {
        "mass1.x1": scale * np.sin(t),
        "mass2.x2": scale * np.cos(t),
        "mass1.v1": scale * np.cos(t),
    }


def cosim(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "cosim", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_one_subplot_per_unit_with_units_on_axes(tmp_path: Path) -> None:
    a = write_h5(tmp_path / "run_a.h5", T, signals(T), UNITS)
    b = write_h5(tmp_path / "run_b.h5", T, signals(T, 2.0), UNITS)
    out = tmp_path / "plot.png"
    fig = plot_signals([read_signals(a), read_signals(b)], ["mass*"], out)

    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["[m]", "mass1.v1 [m/s]"]
    assert axes[-1].get_xlabel() == "time [s]"
    # every signal of every file: 2 signals x 2 files in metres, 1 x 2 in m/s
    assert [len(ax.get_lines()) for ax in axes] == [4, 2]
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend == [
        "mass1.x1 (run_a.h5)",
        "mass1.x1 (run_b.h5)",
        "mass2.x2 (run_a.h5)",
        "mass2.x2 (run_b.h5)",
    ]
    # the lines hold the files' data (short signals are drawn unthinned)
    line = axes[0].get_lines()[1]
    np.testing.assert_array_equal(line.get_xdata(), T)
    np.testing.assert_array_equal(line.get_ydata(), 2.0 * np.sin(T))

    image = imread(out)
    width, height = fig.get_size_inches() * 100  # saved at 100 dpi
    assert image.shape[:2] == (round(height), round(width))
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_one_subplot_per_signal(tmp_path: Path) -> None:
    s = from_arrays(T, signals(T), UNITS, source=str(tmp_path / "r.h5"))
    fig = plot_signals([s], ["mass1.x1", "mass1.v1"], by="signal", title="run")
    assert [ax.get_ylabel() for ax in fig.axes] == ["mass1.x1 [m]", "mass1.v1 [m/s]"]
    assert fig.get_suptitle() == "run"


def test_signal_without_unit_and_csv_overlay(tmp_path: Path) -> None:
    csv = tmp_path / "bench.csv"
    csv.write_text("time,rig.force [N],rig.flag\n0,1,0\n1,2,1\n2,3,1\n")
    fig = plot_signals([read_signals(csv)], None)
    assert sorted(ax.get_ylabel() for ax in fig.axes) == ["rig.flag [-]", "rig.force [N]"]


def test_unknown_signal_is_a_config_error() -> None:
    s = from_arrays(T, signals(T), UNITS)
    with pytest.raises(ConfigError, match="no signal named 'mass3.x3'") as info:
        plot_signals([s], ["mass1.x1", "mass3.x3"])
    assert "available: mass1.x1, mass2.x2, mass1.v1" in str(info.value)
    with pytest.raises(ConfigError, match=re.escape("no signal matches 'pump*'")):
        plot_signals([s], ["pump*"])


def test_decimate_keeps_extremes_and_order() -> None:
    rng = np.random.default_rng(5)
    n = 123_457
    t = np.linspace(0.0, 1.0, n)
    y = rng.standard_normal(n)
    y[777] = 50.0  # a one-sample spike must survive thinning
    td, yd = decimate(t, y, 4000)
    assert td.size <= 4000
    assert np.all(np.diff(td) > 0)
    assert yd.max() == 50.0 and yd.min() == y.min()
    # every kept point is an original sample
    idx = np.searchsorted(t, td)
    np.testing.assert_array_equal(y[idx], yd)


def test_file_labels_are_distinct() -> None:
    assert file_labels(["a/x/results.h5", "a/y/results.h5"]) == ["x/results.h5", "y/results.h5"]
    assert file_labels(["one.h5", "two.csv"]) == ["one.h5", "two.csv"]


def test_cli_plot_writes_png(tmp_path: Path) -> None:
    a = write_h5(tmp_path / "a.h5", T, signals(T), UNITS)
    b = write_h5(tmp_path / "b.h5", T, signals(T, 0.5), UNITS)
    out = tmp_path / "out" / "plot.png"
    proc = cosim("plot", str(a), str(b), "mass1.*", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "4 lines from 2 file(s)" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.h5", "x"], "no such file"),
        (["mass1.x1"], "no result file given"),
    ],
)
def test_cli_plot_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = cosim("plot", *args, "-o", str(tmp_path / "p.png"))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_plot_unknown_signal_exits_2(tmp_path: Path) -> None:
    a = write_h5(tmp_path / "a.h5", T, signals(T), UNITS)
    proc = cosim("plot", str(a), "mass9.*", "-o", str(tmp_path / "p.png"))
    assert proc.returncode == 2
    assert "no signal matches 'mass9.*'" in proc.stderr
    assert not (tmp_path / "p.png").exists()


def test_no_offset_label_on_a_signal_riding_on_298_kelvin(tmp_path: Path) -> None:
    """298.1 K +- 1 mK over t = 1e5 .. 1e5 + 10 s: matplotlib's default would print the ticks
    as 0.000x with "+2.981e2" (and "+1e5" on time) above the axis; the ticks show the values."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    t = 1e5 + np.linspace(0.0, 10.0, 1001)
    s = from_arrays(t, {"oil.T": 298.1 + 1e-3 * np.sin(t)}, {"oil.T": "K"})
    fig = plot_signals([s], output=tmp_path / "p.png")
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert ax.xaxis.get_offset_text().get_text() == ""
    ticks = [float(x.get_text().replace("\u2212", "-")) for x in ax.get_yticklabels()]
    assert ticks and all(298.09 < v < 298.11 for v in ticks)
    times = [float(x.get_text().replace("\u2212", "-")) for x in ax.get_xticklabels()]
    assert times and all(1e5 - 5 < v < 1e5 + 15 for v in times)
