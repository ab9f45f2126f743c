"""`cosim calibrate`: recover known Actuator parameters from noisy plant recordings (real FMUs).

The "plant" is the bundled Actuator run offline with known parameters under a closed-form
command (0.1 rad, 0.25 Hz sine), its outputs plus seeded Gaussian noise written in the /twin
layout of a twin run (h5py) or as CSV. The fit must find the known values again.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

from cosim.api import System
from cosim.errors import ConfigError
from cosim.twin.calibrate import calibrate, estimate_sigma
from cosim.twin.recording import read_recording

DURATION = 8.0
SIGMA_I, SIGMA_D = 0.05, 2e-4  # A, rad: the plant simulator's sensor noise (ema_plant.yaml)
WATCH = ["act.i_motor", "act.delta_meas"]
ROOT = Path(__file__).resolve().parents[1]

TWIN = """\
name: cal_twin
simulation: {{start: 0.0, stop: 60.0, step: 0.01, realtime: 1.0}}
components:
  act:
    fmu: Actuator
    parameters: {{q_dyn: 12000.0, delta_cmd: 0.0, k_wear_c: 5.0{extra}}}
opcua:
  endpoint: opc.tcp://127.0.0.1:4840
  inputs:
    - {{node: "ns=2;s=Plant.Command", to: act.delta_cmd}}
    - {{node: "ns=2;s=Plant.MotorCurrent", to: act.i_motor}}
"""


def command(t: np.ndarray | float) -> np.ndarray:
    return 0.1 * np.sin(2 * np.pi * 0.25 * np.asarray(t, dtype=float))


class _Command:
    """The plant's command: the closed-form sine at each step's start."""

    def simulation_initialized(self, execution) -> None:
        self.view = execution.input_view(["act.delta_cmd"])

    def before_step(self, step: int, tick: int) -> None:
        self.view.write([float(command(tick / 1e9))])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calibrate")


@pytest.fixture(scope="module")
def plant(folder: Path) -> System:
    data = {
        "name": "plant",
        "simulation": {"start": 0.0, "stop": DURATION, "step": 0.01},
        "components": {
            "act": {"fmu": "Actuator", "parameters": {"q_dyn": 12000.0, "k_wear_c": 5.0}}
        },
        "record": {"variables": WATCH},
    }
    return System.from_dict(data, base_dir=folder)


def twin(folder: Path, name: str, **parameters: float) -> Path:
    extra = "".join(f", {k}: {v}" for k, v in parameters.items())
    path = folder / f"{name}.yaml"
    path.write_text(TWIN.format(extra=extra))
    return path


@pytest.fixture(scope="module")
def twin_new(folder: Path) -> Path:
    """The twin as built: a new actuator (wear 0, T_c0 0.1 default)."""
    return twin(folder, "twin_new")


@pytest.fixture(scope="module")
def twin_bench(folder: Path) -> Path:
    """The twin with T_c0 = 0.12 known from a bench test; wear and the hinge are unknown."""
    return twin(folder, "twin_bench", T_c0=0.12)


def plant_run(plant: System, **parameters: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    with plant.execution(manipulators=[_Command()], inputs=["act.delta_cmd"]) as sim:
        for name, value in parameters.items():
            sim.set(f"act.{name}", value)
        sim.initialize()
        sim.run_until()
    res = sim.results
    return res.time, {label: res[label] for label in WATCH}


def record(
    path: Path,
    plant: System,
    *,
    seed: int = 1,
    noise: float = 1.0,
    stale: bool = True,
    **parameters: float,
) -> Path:
    """A twin-style results.h5 of the plant with `parameters`; noise x `noise`. With `stale`,
    rows 300..319 of the current carry garbage flagged stale and one position sample is NaN."""
    time, truth = plant_run(plant, **parameters)
    rng = np.random.default_rng(seed)
    current = truth["act.i_motor"] + noise * SIGMA_I * rng.standard_normal(time.size)
    position = truth["act.delta_meas"] + noise * SIGMA_D * rng.standard_normal(time.size)
    stale_i = np.zeros(time.size, dtype=np.uint8)
    if stale:
        current[300:320] = 50.0  # a frozen, wrong sensor: must not reach the fit
        stale_i[300:320] = 1
        position[100] = np.nan
    with h5py.File(path, "w") as f:
        tw = f.create_group("twin")
        tw.create_dataset("time", data=time).attrs["unit"] = "s"
        tw.create_dataset("wall_time", data=1.7e9 + time)
        for label, values, flags, role, unit in [
            ("act.delta_cmd", command(time), np.zeros(time.size, np.uint8), "drive", "rad"),
            ("act.i_motor", current, stale_i, "watch", "A"),
            ("act.delta_meas", position, np.zeros(time.size, np.uint8), "watch", "rad"),
        ]:
            g = tw.create_group(f"inputs/{label}")
            g.create_dataset("value", data=values)
            g.create_dataset("stale", data=flags)
            g.create_dataset("age", data=np.zeros(time.size))
            g.attrs.update(role=role, unit=unit, node=f"ns=2;s=Plant.{label}")
    return path


def rel(fit: float, true: float) -> float:
    return abs(fit - true) / abs(true)


# ============================================================================ recovery
def test_recovers_wear_and_hinge_moment(folder: Path, plant: System, twin_bench: Path) -> None:
    data = record(folder / "wear_hinge.h5", plant, wear=0.6, T_c0=0.12, C_h_delta=-0.5)
    cal = calibrate(twin_bench, data, "act.wear,act.C_h_delta", jobs=1)
    assert cal.converged, cal.message
    true = {"act.wear": 0.6, "act.C_h_delta": -0.5}
    for name, value, se in zip(cal.names, cal.values, cal.std_errors, strict=True):
        assert rel(value, true[name]) < 0.02, (name, value)
        assert abs(value - true[name]) < 4 * se, (name, value, se)
    # the start was elsewhere: wear 0 (a bound) and the YAML's hinge coefficient
    assert list(cal.start) == [0.0, -0.6]
    assert cal.bounds[0] == (0.0, 1.0)  # from the model description's min/max
    assert cal.bounds[1] == (-math.inf, math.inf)
    assert cal.correlation.shape == (2, 2) and abs(cal.correlation[0, 1]) < 0.5
    # residuals are white noise of the known size: RMS and estimated sigma near the truth
    assert cal.rms["act.i_motor"] == pytest.approx(SIGMA_I, rel=0.1)
    assert cal.rms["act.delta_meas"] == pytest.approx(SIGMA_D, rel=0.1)
    # stale rows (20) and the NaN (1) are left out of the fit
    assert cal.n_residuals == 2 * 801 - 20 - 1
    assert cal.driven == ["act.delta_cmd"]
    assert "act:\n    parameters: {wear: 0.6" in cal.yaml_fragment()


def test_wear_and_coulomb_friction_are_confounded(
    folder: Path, plant: System, twin_new: Path
) -> None:
    """T_c0 (1 + k_wear_c wear) is what the current sees: the fit reports the two as nearly
    collinear (correlation ~ -1, large standard errors) and recovers the product."""
    data = record(folder / "wear_tc0.h5", plant, wear=0.6, T_c0=0.12)
    with ThreadPoolExecutor(3) as pool:
        cal = calibrate(twin_new, data, ["act.wear", "act.T_c0"], executor=pool)
    assert cal.converged, cal.message
    assert list(cal.start) == [0.0, 0.1]
    (wear, tc0), (se_w, se_t) = cal.values, cal.std_errors
    assert abs(wear - 0.6) < 4 * se_w and abs(tc0 - 0.12) < 4 * se_t
    assert cal.correlation[0, 1] < -0.99
    assert rel(tc0 * (1 + 5.0 * wear), 0.12 * (1 + 5.0 * 0.6)) < 0.02


def test_standard_error_shrinks_with_the_noise(
    folder: Path, plant: System, twin_bench: Path
) -> None:
    fits = {}
    for noise in (1.0, 0.25):
        data = record(folder / f"noise{noise}.h5", plant, seed=7, noise=noise, wear=0.6, T_c0=0.12)
        fits[noise] = calibrate(twin_bench, data, "act.wear", jobs=1)
    for cal in fits.values():
        assert cal.converged
        assert abs(cal.values[0] - 0.6) < 4 * cal.std_errors[0]
    # se ~ sigma: a quarter of the noise, a quarter of the standard error
    ratio = fits[1.0].std_errors[0] / fits[0.25].std_errors[0]
    assert 3.0 < ratio < 5.0, ratio
    current = next(x for x in fits[0.25].signals if x.label == "act.i_motor")
    assert current.sigma == pytest.approx(0.25 * SIGMA_I, rel=0.1)


def test_wear_trend_over_successive_recordings(
    folder: Path, plant: System, twin_bench: Path
) -> None:
    """Calibrating the wear parameter over successive recordings gives the wear trend."""
    true = [0.2, 0.4, 0.6]
    fitted = []
    for k, wear in enumerate(true):
        data = record(folder / f"trend{k}.h5", plant, seed=10 + k, wear=wear, T_c0=0.12)
        cal = calibrate(twin_bench, data, "act.wear", jobs=1)
        assert cal.converged
        assert rel(cal.values[0], wear) < 0.02, (wear, cal.values[0])
        fitted.append(cal.values[0])
    slope, _ = np.polyfit(np.arange(3), fitted, 1)
    assert slope == pytest.approx(0.2, abs=0.01)


def test_default_process_pool_gives_the_serial_result(
    folder: Path, plant: System, twin_bench: Path
) -> None:
    data = record(folder / "pool.h5", plant, seed=3, wear=0.4, T_c0=0.12)
    serial = calibrate(twin_bench, data, "act.wear", jobs=1)
    pooled = calibrate(twin_bench, data, "act.wear")  # default: a ProcessPoolExecutor
    assert pooled.values[0] == pytest.approx(serial.values[0], rel=1e-9)
    assert pooled.simulations == serial.simulations
    assert rel(pooled.values[0], 0.4) < 0.02


def test_window_fits_part_of_the_recording(folder: Path, plant: System, twin_bench: Path) -> None:
    data = record(folder / "window.h5", plant, seed=4, stale=False, wear=0.6, T_c0=0.12)
    cal = calibrate(twin_bench, data, "act.wear", window=(2.0, 6.0), jobs=1)
    assert cal.converged and rel(cal.values[0], 0.6) < 0.02
    assert cal.n_residuals == 2 * 401  # rows 2.00 .. 6.00 s of two signals
    assert cal.signals[0].time[0] == pytest.approx(2.0) and cal.signals[0].time[-1] == 6.0
    full = calibrate(twin_bench, data, "act.wear", jobs=1)
    assert full.std_errors[0] < cal.std_errors[0]  # twice the data, a smaller error


def write_csv(h5: Path, path: Path, extra: bool = True) -> Path:
    rec = read_recording(h5)
    labels = ["act.delta_cmd", "act.i_motor", "act.delta_meas"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        units = {"act.delta_cmd": " [rad]", "act.i_motor": " [A]", "act.delta_meas": ""}
        w.writerow(
            ["time [s]", *(f"{x}{units[x]}" for x in labels), *(["plant.truth"] if extra else [])]
        )
        for k, t in enumerate(rec.time):
            row = [repr(float(t))]
            for x in labels:
                s = rec.signals[x]
                row.append(repr(float(s.values[k])) if s.valid[k] else "")
            w.writerow(row + (["1.0"] if extra else []))
    return path


def test_csv_recording(folder: Path, plant: System, twin_bench: Path) -> None:
    h5 = record(folder / "csv.h5", plant, seed=5, wear=0.6, T_c0=0.12)
    path = write_csv(h5, folder / "rec.csv")
    rec = read_recording(path)
    assert rec.signals["act.i_motor"].unit == "A" and rec.signals["act.delta_meas"].unit == ""
    assert rec.signals["act.i_motor"].role is None
    cal = calibrate(twin_bench, path, "act.wear", jobs=1)
    assert cal.driven == ["act.delta_cmd"]  # an FMU input: replayed
    assert cal.ignored == ["plant.truth"]
    from_h5 = calibrate(twin_bench, h5, "act.wear", jobs=1)
    assert cal.values[0] == pytest.approx(from_h5.values[0], rel=1e-9)
    assert rel(cal.values[0], 0.6) < 0.02


def test_estimate_sigma_against_known_noise() -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 8, 801)
    clean = 2.0 * np.sin(2 * np.pi * 0.25 * t) + np.where(t > 4, 1.0, 0.0)  # a step too
    noisy = clean + 0.05 * rng.standard_normal(t.size)
    assert estimate_sigma(noisy) == pytest.approx(0.05, rel=0.08)
    valid = np.ones(t.size, bool)
    noisy[100:110] = 1e3
    valid[100:110] = False
    assert estimate_sigma(noisy, valid) == pytest.approx(0.05, rel=0.08)


# ============================================================================ bad input
def test_bad_inputs_are_config_errors(folder: Path, plant: System, twin_bench: Path) -> None:
    data = record(folder / "bad.h5", plant, wear=0.3)
    with pytest.raises(ConfigError, match=r"did you mean act\.wear\?"):
        calibrate(twin_bench, data, "act.waer", jobs=1)
    with pytest.raises(ConfigError, match="not a tunable or fixed parameter"):
        calibrate(twin_bench, data, "act.i_motor", jobs=1)
    with pytest.raises(ConfigError, match="did you mean act.wear"):
        calibrate(twin_bench, data, "acr.wear", jobs=1)
    with pytest.raises(ConfigError, match="no such data file"):
        calibrate(twin_bench, folder / "missing.h5", "act.wear", jobs=1)
    with pytest.raises(ConfigError, match="outside the recording"):
        calibrate(twin_bench, data, "act.wear", window=(20.0, 30.0), jobs=1)
    with pytest.raises(ConfigError, match="outside its bounds"):
        calibrate(twin_bench, data, "act.wear", bounds={"act.wear": (0.5, 1.0)}, jobs=1)
    with pytest.raises(ConfigError, match="not a twin recording"):
        with h5py.File(folder / "plain.h5", "w") as f:
            f["time"] = np.arange(3.0)
        calibrate(twin_bench, folder / "plain.h5", "act.wear", jobs=1)


# ============================================================================ the CLI
def cosim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cosim", "calibrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_json_plot_and_yaml(folder: Path, plant: System, twin_bench: Path) -> None:
    data = record(folder / "cli.h5", plant, seed=6, wear=0.6, T_c0=0.12, C_h_delta=-0.5)
    out = folder / "cli-out"
    p = cosim(
        str(twin_bench), "--data", str(data), "--params", "act.wear,act.C_h_delta",
        "--sigma", f"act.i_motor={SIGMA_I},act.delta_meas={SIGMA_D}",
        "--bounds", "act.C_h_delta=-2:0", "--jobs", "2", "--out", str(out), "--json",
        cwd=folder,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["converged"] is True
    fit = result["parameters"]
    assert rel(fit["act.wear"]["value"], 0.6) < 0.02
    assert rel(fit["act.C_h_delta"]["value"], -0.5) < 0.02
    assert fit["act.C_h_delta"]["bounds"] == [-2.0, 0.0]
    assert result["signals"]["act.i_motor"]["sigma"] == SIGMA_I
    assert result["signals"]["act.i_motor"]["sigma_estimated"] is False
    assert Path(result["plot"]) == out / "calibration.png" and (out / "calibration.png").is_file()
    assert (out / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "calibration.json").read_text())["parameters"] == fit
    import yaml

    fragment = yaml.safe_load((out / "calibration.yaml").read_text())
    assert fragment["components"]["act"]["parameters"]["wear"] == pytest.approx(
        fit["act.wear"]["value"], rel=1e-5
    )


def test_cli_text_and_exit_codes(folder: Path, plant: System, twin_bench: Path) -> None:
    data = record(folder / "cli2.h5", plant, seed=8, wear=0.6, T_c0=0.12)
    p = cosim(
        str(twin_bench), "--data", str(data), "--params", "act.wear", "--jobs", "1", cwd=folder
    )
    assert p.returncode == 0, p.stderr
    assert "act.wear" in p.stdout and "paste into the system YAML" in p.stdout
    assert (folder / "calibration.png").is_file()  # default: the current folder

    def bad(*args: str) -> str:
        q = cosim(str(twin_bench), "--no-plot", *args, cwd=folder)
        assert q.returncode == 2, (args, q.stdout, q.stderr)
        assert "Traceback" not in q.stderr and len(q.stderr.strip().splitlines()) == 1, q.stderr
        return q.stderr

    assert "did you mean act.wear?" in bad("--data", str(data), "--params", "act.waer")
    assert "no such data file" in bad("--data", str(folder / "nope.h5"), "--params", "act.wear")
    assert (
        "no such system file"
        in cosim("nope.yaml", "--data", str(data), "--params", "act.wear", cwd=folder).stderr
    )
    drive_only = folder / "drive_only.csv"
    drive_only.write_text("time [s],act.delta_cmd [rad],other.x\n0,0,1\n0.01,0.001,1\n")
    assert "no measured signal" in bad("--data", str(drive_only), "--params", "act.wear")
    assert "not a number" in bad("--data", str(data), "--params", "act.wear", "--window", "a:3")
    # the optimizer stopped before converging: exit 1, results still printed
    q = cosim(str(twin_bench), "--data", str(data), "--params", "act.wear", "--jobs", "1",
              "--max-nfev", "1", "--no-plot", cwd=folder)  # fmt: skip
    assert q.returncode == 1, q.stderr
    assert "did not converge" in q.stderr and "act.wear" in q.stdout


def test_calibration_runs_on_a_dask_cluster_with_the_serial_result(
    folder: Path, plant: System, twin_bench: Path, dask_cluster
) -> None:
    # the study executor's cluster as calibration's executor (`cosim calibrate --scheduler`)
    from cosim.study.executor import DaskExecutor

    address, _ = dask_cluster
    data = record(folder / "dask.h5", plant, seed=3, wear=0.4, T_c0=0.12)
    serial = calibrate(twin_bench, data, "act.wear", jobs=1)
    cluster = DaskExecutor(address)
    try:
        remote = calibrate(twin_bench, data, "act.wear", executor=cluster.futures())
    finally:
        cluster.close()
    assert remote.values[0] == pytest.approx(serial.values[0], rel=1e-9)
    assert remote.simulations == serial.simulations
