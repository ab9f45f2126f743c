"""The predicting twin: monitors, the ensemble Kalman filter and forecasts, on real FMUs.

Offline runs step the real plant simulator (systems/ema_degradation_plant.yaml, seeded sensor
noise, a wear ramp) in the twin's own loop (`cosim run TWIN --plant PLANT`): deterministic and
much faster than real time. The bounds each test checks are derived in its docstring.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml
from scipy.optimize import brentq

from cosim.model.analytics import MonitorSpec
from cosim.twin.monitors import ALARM, NORMAL, WARNING, Monitor

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ROOT / "systems"
TWIN = SYSTEMS / "ema_degradation_twin.yaml"
PLANT = SYSTEMS / "ema_degradation_plant.yaml"
DT = 0.01  # the twin's and the plant's communication step

# Actuator physics (fmus/models/Actuator/model.yaml, docs/models/ema.md): Coulomb friction
# T_c0 (1 + k_wear_c wear) at the motor, torque constant k_t: wear w adds T_c0 k_wear_c w / k_t
# amperes of motor current while the surface moves (tanh(omega/w_eps) ~ 1 at > 1.5 rad/s)
T_C0, K_WEAR_C, K_T = 0.1, 5.0, 0.4
AMPS_PER_WEAR = T_C0 * K_WEAR_C / K_T  # 1.25 A
MOVING = 0.9  # lower bound of |tanh| averaged over the 0.25 Hz sine (reversals: ~2 % of time)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def offline(tmp_path: Path, twin: dict, plant: dict, name: str = "run") -> Path:
    """Run `twin` against `plant` offline with the real CLI; the results.h5 path."""
    t = write(tmp_path / f"{name}_twin.yaml", twin)
    p = write(tmp_path / f"{name}_plant.yaml", plant)
    out = tmp_path / name
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosim",
            "run",
            str(t),
            "--plant",
            str(p),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return out / "results.h5"


def friction_only(twin: dict, stop: float) -> dict:
    """The degradation twin with only its friction monitor (no estimator, no forecast)."""
    twin = dict(twin)
    twin["simulation"] = {**twin["simulation"], "stop": stop}
    twin["monitors"] = [m for m in twin["monitors"] if m["name"] == "friction"]
    twin.pop("estimate")
    twin.pop("forecast")
    return twin


# ============================================================================ filters
def feed(mon: Monitor, x: np.ndarray) -> list[tuple[float, int, int]]:
    changes = []
    for n, v in enumerate(x):
        c = mon.update(float(v), n * DT)
        if c is not None:
            changes.append((c.time, c.old, c.new))
    return changes


def test_ewma_step_response_and_raise_time_match_the_closed_form():
    """EWMA with alpha = 1 - exp(-dt/tau): after a unit step at sample 0 the value after n
    samples is 1 - (1-alpha)^n (started at the first sample, 0); it crosses L at
    n = ln(1-L)/ln(1-alpha) samples, then min_duration more."""
    tau, level, hold = 0.5, 0.6, 0.2
    spec = MonitorSpec(
        "m", "residual", "a.b", filter="ewma", window=tau, alarm=level, min_duration=hold
    )
    mon = Monitor(spec, DT)
    x = np.r_[np.zeros(1), np.ones(300)]
    changes = feed(mon, x)
    alpha = 1 - math.exp(-DT / tau)
    n_cross = math.ceil(math.log(1 - level) / math.log(1 - alpha))  # first sample above L
    assert changes == [(pytest.approx((n_cross + round(hold / DT)) * DT), NORMAL, ALARM)]
    assert mon.value == pytest.approx(1 - (1 - alpha) ** 300, rel=1e-12)


def test_moving_mean_and_cusum_match_numpy_references():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.1, 1000)
    mean = Monitor(MonitorSpec("m", "signal", "a.b", filter="mean", window=0.5, warning=9.0), DT)
    cusum = Monitor(
        MonitorSpec("c", "signal", "a.b", filter="cusum", target=0.25, drift=0.02, warning=9.0), DT
    )
    n = round(0.5 / DT)
    s = 0.0
    for k, v in enumerate(x):
        mean.update(float(v), k * DT)
        cusum.update(float(v), k * DT)
        ref = x[max(0, k - n + 1) : k + 1].mean()
        assert mean.value == pytest.approx(ref, rel=1e-9)
        s = max(0.0, s + (v - 0.25 - 0.02) * DT)
        assert cusum.value == pytest.approx(s, rel=1e-9, abs=1e-12)


def test_hysteresis_min_duration_direction_and_stale_samples():
    spec = MonitorSpec(
        "m",
        "measured",
        "a.b",
        warning=1.0,
        alarm=2.0,
        hysteresis=0.2,
        min_duration=0.05,
        direction="above",
    )
    mon = Monitor(spec, DT)
    # 1.1 for 3 samples (shorter than min_duration: nothing), then 1.1 held: warning after
    # 5 samples; 0.9 (inside the hysteresis band) keeps it; NaN (stale) changes nothing;
    # 0.7 clears it after 5 samples; 2.5 raises straight to alarm
    x = [1.1] * 3 + [0.0] + [1.1] * 10 + [0.9] * 20 + [math.nan] * 10 + [0.7] * 10 + [2.5] * 10
    changes = feed(mon, np.array(x))
    assert [(old, new) for _, old, new in changes] == [
        (NORMAL, WARNING),
        (WARNING, NORMAL),
        (NORMAL, ALARM),
    ]
    assert changes[0][0] == pytest.approx((4 + 5) * DT)
    below = Monitor(MonitorSpec("b", "signal", "a.b", warning=-1.0, direction="below"), DT)
    assert feed(below, np.array([0.0, -0.5, -1.5])) == [(pytest.approx(2 * DT), 0, 1)]


# ============================================================================ alarms, live data
def test_rising_friction_raises_the_alarm_within_the_derived_delay(tmp_path):
    """The wear ramps from 0 at rate rho from t_f. While the surface moves the current
    residual grows by AMPS_PER_WEAR * rho * (t - t_f) (at least MOVING of that averaged over
    the sine), so |r| has a mean rising at k >= MOVING * AMPS_PER_WEAR * rho (noise and the
    healthy mean only add: E|mu + e| >= |mu|). An EWMA (time constant tau) of a ramp k*s
    from 0 is k (s - tau (1 - exp(-s/tau))); it reaches the alarm level L at s*, and the alarm
    is raised min_duration later (plus one step of sampling). Bound: t_f + s* + min_duration
    + 2 dt. The alarm may not come before t_f (the run is healthy until then)."""
    t_f, rho = 7.3, 0.05  # a fault time chosen off the 4 s command period
    twin = friction_only(load(TWIN), stop=t_f + 16.0)
    plant = load(PLANT)
    plant["plant"]["fault_origin"] = "start"
    plant["plant"]["faults"] = [{"at": t_f, "ramp": {"act.wear": {"to": 1.0, "over": 1 / rho}}}]
    mon = twin["monitors"][0]
    tau, level, hold = mon["window"], mon["alarm"], mon["min_duration"]
    k = MOVING * AMPS_PER_WEAR * rho
    s_star = brentq(lambda s: k * (s - tau * (1 - math.exp(-s / tau))) - level, 1e-6, 100.0)
    bound = s_star + hold + 2 * DT
    path = offline(tmp_path, twin, plant)
    with h5py.File(path) as f:
        al = f["twin/alarms"]
        events = list(
            zip(
                al["monitor"].asstr()[:],
                al["level"].asstr()[:],
                al["event"].asstr()[:],
                al["time"][:],
                strict=True,
            )
        )
        state = f["twin/monitors/friction/state"][:]
        times = f["twin/time"][:]
        value = f["twin/monitors/friction/value"][:]
    raised = [t for m, lvl, ev, t in events if (m, lvl, ev) == ("friction", "alarm", "raised")]
    assert raised, events
    delay = raised[0] - t_f
    assert hold <= delay <= bound, (delay, bound)
    assert not state[times < t_f].any()  # healthy before the fault
    assert state[-1] == ALARM and value[-1] > level
    # the warning came first, at a lower level
    first = [(lvl, ev) for m, lvl, ev, _ in events if m == "friction"][:2]
    assert first == [("warning", "raised"), ("alarm", "raised")]


def test_a_healthy_noisy_run_of_ten_minutes_raises_no_warning(tmp_path):
    """No fault, seeded sensor noise (sigma 0.05 A): |r| then has the mean
    sigma sqrt(2/pi) = 0.040 A (plus the small model lag), far below the 0.25 A warning
    after 2 s of smoothing; a CUSUM with that target and a 0.02 A drift allowance stays near
    zero. 600 simulated seconds, stepped offline faster than real time."""
    sigma = 0.05
    twin = friction_only(load(TWIN), stop=600.0)
    twin["monitors"].append(
        {
            "name": "drift",
            "residual": "act.i_motor",
            "transform": "abs",
            "filter": "cusum",
            "target": sigma * math.sqrt(2 / math.pi),
            "drift": 0.02,
            "warning": 1.0,
        }
    )
    plant = load(PLANT)
    plant["plant"]["faults"] = []
    path = offline(tmp_path, twin, plant)
    with h5py.File(path) as f:
        assert len(f["twin/alarms/time"]) == 0
        times = f["twin/time"][:]
        assert times[-1] == pytest.approx(600.0)
        for name, level in (("friction", 0.25), ("drift", 1.0)):
            v = f[f"twin/monitors/{name}/value"][:]
            assert not f[f"twin/monitors/{name}/state"][:].any()
            assert np.nanmax(v[times > 5]) < 0.5 * level
        healthy = f["twin/monitors/friction/value"][times > 5]
        assert sigma * math.sqrt(2 / math.pi) * 0.9 < np.mean(healthy) < 0.1


# ============================================================================ estimator, RUL
@pytest.fixture(scope="module")
def degradation(tmp_path_factory) -> dict[str, Any]:
    """The shipped degradation twin against its plant, offline: estimator + forecasts."""
    tmp = tmp_path_factory.mktemp("degradation")
    path = offline(tmp, load(TWIN), load(PLANT), "deg")
    with h5py.File(path) as f:
        e = f["twin/estimates/act.wear"]
        out = {
            "t": e["time"][:],
            "mean": e["mean"][:],
            "std": e["std"][:],
            "truth_t": e["truth_time"][:],
            "truth": e["truth"][:],
            "rate": e["rate_mean"][:],
            "members": e["members"][:],
            "forecasts": {
                name: {k: g[k][:] for k in ("time", "median", "low", "high", "horizon")}
                for name, g in f["twin/forecasts"].items()
            },
            "rows_t": f["twin/time"][:],
            "current": f["twin/inputs/act.i_motor/value"][:],
            "alarms": [
                (m, lvl, ev, t)
                for m, lvl, ev, t in zip(
                    f["twin/alarms/monitor"].asstr()[:],
                    f["twin/alarms/level"].asstr()[:],
                    f["twin/alarms/event"].asstr()[:],
                    f["twin/alarms/time"][:],
                    strict=True,
                )
            ],
            "attrs": dict(e.attrs),
        }
    return out


def test_the_estimate_converges_and_its_3_sigma_band_covers_the_truth(degradation):
    """The plant's wear ramps 0 -> 1 over 25 s from t = 5 s (0.04/s). Bound: 5 s after the
    ramp starts the estimate is within 0.05 of the truth (the filter's steady spread is about
    0.012, so 3 sigma = 0.036 < 0.05), and truth lies inside mean +- 3 sigma for >= 95 % of
    the updates from then on. Before the ramp the estimate stays below 0.05 (healthy)."""
    d = degradation
    truth = np.interp(d["t"], d["truth_t"], d["truth"])
    ramp = d["truth_t"][np.argmax(d["truth"] > 0)] - DT
    after = d["t"] >= ramp + 5.0
    err = np.abs(d["mean"] - truth)
    assert after.sum() > 200
    assert err[after].max() < 0.05
    assert np.mean(err[after] <= 3 * d["std"][after]) >= 0.95
    assert np.all(d["mean"][(d["t"] > 2) & (d["t"] < ramp)] < 0.05)
    assert d["members"].shape == (len(d["t"]), 20) and d["attrs"]["members"] == 20
    # the tracked rate: the truth's own slope within 30 % over the ramp's middle
    ramping = (d["truth_t"] > ramp + 1) & (d["truth"] < 0.95)
    true_rate = np.polyfit(d["truth_t"][ramping], d["truth"][ramping], 1)[0]
    mid = (d["t"] > ramp + 8) & (d["t"] < ramp + 20)
    assert np.mean(d["rate"][mid]) == pytest.approx(true_rate, rel=0.3)


def moving_rms(x: np.ndarray, n: int) -> np.ndarray:
    return np.sqrt(np.convolve(x * x, np.ones(n) / n, mode="full")[: len(x)])


def test_the_forecast_intervals_contain_the_true_crossings(degradation):
    """Every 4 s the twin forks its ensemble and runs it ahead on the sine duty cycle, each
    member's wear growing at its own rate. Two questions: when does the wear reach 0.8 (the
    truth from the plant's recorded wear), and when does the motor current's RMS over 4 s
    exceed 1.6 A (the truth from the measured current itself, independent of the model). The
    90 % interval must contain the truth for every forecast made once the filter has seen 7 s
    of ramp and before the crossing (a quantile past the horizon counts as +inf)."""
    d = degradation
    ramp = d["truth_t"][np.argmax(d["truth"] > 0)] - DT
    t, current = d["rows_t"], d["current"]
    n = round(4.0 / DT)
    rms = moving_rms(current, n)
    truths = {
        "end_of_life": float(d["truth_t"][np.argmax(d["truth"] >= 0.8)]),
        "current_rating": float(t[np.argmax((rms > 1.6) & (t > t[0] + 4.0))]),
    }
    for name, true_cross in truths.items():
        fc = d["forecasts"][name]
        used = (fc["time"] >= ramp + 7) & (fc["time"] < true_cross)
        assert used.sum() >= 3, (name, fc["time"])
        for t0, low, high in zip(fc["time"][used], fc["low"][used], fc["high"][used], strict=True):
            high = math.inf if math.isnan(high) else high
            assert low <= true_cross <= high, (name, t0, low, high, true_cross)
        # the last forecast before the crossing is within 1 s
        assert abs(fc["median"][used][-1] - true_cross) < 1.0, name


def test_monitors_on_estimates_raise_near_the_true_end_of_life(degradation):
    d = degradation
    true_cross = float(d["truth_t"][np.argmax(d["truth"] >= 0.8)])
    wear = [t for m, lvl, ev, t in d["alarms"] if (m, lvl, ev) == ("wear", "alarm", "raised")]
    assert wear and abs(wear[0] - true_cross) < 2.0
    friction = [t for m, lvl, ev, t in d["alarms"] if m == "friction" and ev == "raised"]
    assert len(friction) == 2 and friction[0] < wear[0]


def test_a_deterministic_forecast_agrees_with_what_the_twin_sees_later(tmp_path):
    """No noise, a constant command (the plant's start value) and the hold scenario: the
    forked twin gets exactly the inputs the live twin gets, so its prediction of the winding
    temperature and motor current at t + horizon equals what the twin records then, to
    rounding (1e-9 relative)."""
    twin = load(TWIN)
    twin["components"].pop("fcc")
    twin["record"] = {"variables": ["act.delta_cmd", "act.i_motor", "act.T_winding"]}
    twin["simulation"]["stop"] = 12.0
    twin["opcua"].pop("outputs")
    twin["opcua"]["write"] = False
    twin["monitors"] = []
    twin.pop("estimate")
    twin["forecast"] = {
        "horizon": 2.0,
        "every": 3.0,
        "scenario": "hold",
        "targets": [
            {"name": "hot", "variable": "act.T_winding", "above": 150.0},
            {"name": "current", "variable": "act.i_motor", "above": 100.0},
        ],
    }
    plant = load(PLANT)
    plant["plant"]["noise"] = {"seed": 1, "signals": {}}
    plant["plant"]["faults"] = []
    plant["plant"]["commands"][0]["start"] = 0.05
    path = offline(tmp_path, twin, plant)
    with h5py.File(path) as f:
        from cosim.results.signals import read_signals

        sig = read_signals(path)
        t = sig.time
        for name, label in (("hot", "act.T_winding"), ("current", "act.i_motor")):
            g = f[f"twin/forecasts/{name}"]
            made, final = g["time"][:], g["final_mean"][:]
            assert list(made) == pytest.approx([3.0, 6.0, 9.0])
            assert np.all(np.isnan(g["median"][:]))  # nothing crosses
            for t0, x in zip(made, final, strict=True):
                later = sig.values[label][np.argmin(np.abs(t - (t0 + 2.0)))]
                assert x == pytest.approx(later, rel=1e-9, abs=1e-12), (name, t0)
    assert sig.values["act.T_winding"][-1] > sig.values["act.T_winding"][0] + 0.01  # heats


# ============================================================================ engine seams
def test_a_forked_state_continues_bit_for_bit_in_another_simulation():
    import cosim

    data = {
        "name": "a",
        "simulation": {"stop": 4.0, "step": 0.01},
        "components": {
            "act": {"fmu": "Actuator", "parameters": {"q_dyn": 12000.0, "delta_cmd": 0.1}}
        },
    }
    system = cosim.System.from_dict(data)
    with system.execution() as a, system.execution() as b:
        a.initialize()
        a.run_until(1.0)
        state = a.get_state()
        portable = a.export_state(state)
        a.free_state(state)
        b.initialize()  # at t = 0, another instance
        mine = b.import_state(portable)
        b.set_state(mine)
        b.free_state(mine)
        assert b.time == 1.0
        a.run_until(2.0)
        b.run_until(2.0)
        for label in ("act.i_motor", "act.delta", "act.T_winding"):
            assert a.get(label) == b.get(label)


def test_ensemble_members_equal_separate_runs_of_their_parameters():
    """Member k of an ensemble (one Simulation of all copies) with wear w_k, driven by the
    same command, is bit-identical to its own plain run with wear w_k."""
    import cosim
    from cosim.twin.ensemble import Ensemble

    system = cosim.System.from_file(TWIN)
    wears = np.array([[0.0], [0.3], [0.7]])
    ens = Ensemble(
        system.spec,
        3,
        signals=["act.i_motor"],
        driven=["act.delta_cmd"],
        parameters=["act.wear"],
        start=wears,
    )
    assert ens.components == ["act"]  # fcc feeds nothing the measurement depends on
    ens.open()
    out = np.zeros((3, 1))
    refs = []
    for w in wears[:, 0]:
        one = cosim.System.from_dict(
            {
                "name": "one",
                "simulation": {"stop": 10.0, "step": 0.01},
                "components": {
                    "act": {
                        "fmu": "Actuator",
                        "parameters": {
                            **system.spec.components["act"].parameters,
                            "wear": float(w),
                        },
                    }
                },
            }
        ).execution(inputs=["act.delta_cmd"])
        one.open()
        one.initialize()
        refs.append(one)
    try:
        view = [r.execution.input_view(["act.delta_cmd"]) for r in refs]
        for n in range(200):
            cmd = np.array([0.1 * math.sin(math.pi * n * DT / 2)])
            ens.step(cmd, wears)
            for v, r in zip(view, refs, strict=True):
                v.write(cmd)
                r.step()
        ens.read(out)
        for k, r in enumerate(refs):
            assert out[k, 0] == r.get("act.i_motor")
        assert out[2, 0] != out[0, 0]
    finally:
        ens.close()
        for r in refs:
            r.close()


# ============================================================================ configuration
BAD_TWIN = """\
name: bad
simulation: {stop: 1.0, step: 0.01}
components:
  act: {fmu: Actuator}
opcua:
  endpoint: opc.tcp://127.0.0.1:4840
  inputs:
    - {node: "ns=2;s=Plant.MotorCurrent", to: act.i_motor}
    - {node: "ns=2;s=Plant.Command", to: act.delta_cmd}
monitors:
  - {name: a, residual: act.i_motor, signal: act.i_motor, warning: 1}
  - {name: b, residual: actt.i_motor, warning: 1}
  - {name: c, residual: act.i_motor}
  - {name: d, residual: act.delta_meas, warning: 1}
  - {name: e, residual: act.i_motor, warning: 2, alarm: 1}
  - {name: f, residual: act.i_motor, filter: ewma, warning: 1}
estimate:
  parameters: [{name: act.N, prior: {mean: 1, std: 1}}]
  measurements: [{signal: act.i_motor, noise: 0.1}]
forecast:
  scenario: sinee
  targets: [{name: x, variable: act.wear}]
"""


def test_analytics_mistakes_are_reported_at_their_line_with_a_hint(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_TWIN)
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    expect = [
        (11, "needs exactly one indicator"),
        (12, "no component named 'actt'"),
        (13, "has no level"),
        (14, "act.delta_meas is not a watched signal"),
        (15, "is not beyond the warning level"),
        (16, "filter ewma needs window"),
        (18, "act.N is parameter (fixed"),
        (21, "no duty cycle named 'sinee'"),
        (22, "needs exactly one of above: or below:"),
    ]
    for line, text in expect:
        hits = [x for x in out.splitlines() if text in x]
        assert hits, (text, out)
        assert any(f"bad.yaml:{line}:" in x for x in hits), (line, hits)
    assert "did you mean 'act'?" in out


def test_monitors_without_live_measurements_are_a_config_error(tmp_path):
    path = tmp_path / "nolive.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.01}\ncomponents: {act: {fmu: Actuator}}\n"
        "monitors: [{name: a, signal: act.i_motor, warning: 1}]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "need live measurements" in proc.stderr and "Traceback" not in proc.stderr
