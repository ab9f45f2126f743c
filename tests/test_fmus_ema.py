"""Physics tests of the bundled EMA flight-control actuator FMU (`Actuator`, FMI 2.0 and 3.0)."""

from __future__ import annotations

import numpy as np
import pytest
from fmpy import extract, instantiate_fmu, read_model_description, simulate_fmu
from fmpy.validation import validate_fmu
from scipy.integrate import solve_ivp

from cosim.library.build import bundled_fmu

NAMES = ["Actuator", "fmi3/Actuator"]
# order of the state vector of the independent reference model below
STATES = ["delta", "omega_m", "i_motor", "delta_meas", "x_I", "x_D", "T_winding"]


@pytest.fixture(scope="module")
def unzipped(tmp_path_factory) -> dict[str, str]:
    """Each FMU built and extracted once; fmpy simulates the extracted folder directly."""
    out = {}
    for name in NAMES:
        folder = tmp_path_factory.mktemp(name.replace("/", "_"))
        out[name] = extract(bundled_fmu(name), unzipdir=folder)
    return out


def defaults(name: str) -> dict[str, float]:
    """Start values of all parameters and inputs, read from the model description."""
    md = read_model_description(bundled_fmu(name))
    return {
        v.name: float(v.start)
        for v in md.modelVariables
        if v.causality in ("parameter", "input") and v.start is not None
    }


# ------------------------------------------------------------------ independent reference model
def rhs(p: dict[str, float], cmd, q_dyn: float):
    """The EMA equations, written from docs/models/ema.md independently of model.c.

    States x = [delta, omega_m, i_motor, delta_meas, x_I, x_D, T_winding]; `cmd(t)` is the
    surface command. Motor-side rigid drive train: (J_m + J_s/N^2) w' = k_t i - T_f(w) + H/N.
    """
    j_eq = p["J_m"] + p["J_s"] / p["N"] ** 2
    t_c = p["T_c0"] * (1 + p["k_wear_c"] * p["wear"])
    b_v = p["b0"] * (1 + p["k_wear_b"] * p["wear"])
    k_h = q_dyn * p["S_s"] * p["c_s"] * p["C_h_delta"]

    def f(t, x):
        delta, w, i, dm, xi, xd, temp = x
        ref = min(max(cmd(t), -p["delta_max"]), p["delta_max"])
        e = ref - dm
        u_pid = p["Kp"] * e + xi - p["Kd"] * (dm - xd) / p["tau_d"]
        hi = min(p["V_max"], p["k_e"] * w + p["R"] * p["I_max"])
        lo = max(-p["V_max"], p["k_e"] * w - p["R"] * p["I_max"])
        u = min(max(u_pid, lo), hi)
        hold = (u_pid > hi and e > 0) or (u_pid < lo and e < 0)
        r_w = p["R"] * (1 + p["alpha_cu"] * (temp - p["T_ref"]))
        t_f = t_c * np.tanh(w / p["w_eps"]) + b_v * w
        return [
            w / p["N"],
            (p["k_t"] * i - t_f + k_h * delta / p["N"]) / j_eq,
            (u - r_w * i - p["k_e"] * w) / p["L"],
            (delta + p["bias"] - dm) / p["tau_s"],
            0.0 if hold else p["Ki"] * e,
            (dm - xd) / p["tau_d"],
            (r_w * i * i - p["G_th"] * (temp - p["T_amb"])) / p["C_th"],
        ]

    return f


def friction_law(p: dict[str, float], w):
    """T_f = T_c0 (1 + k_wear_c wear) tanh(w / w_eps) + b0 (1 + k_wear_b wear) w."""
    return (
        p["T_c0"] * (1 + p["k_wear_c"] * p["wear"]) * np.tanh(w / p["w_eps"])
        + p["b0"] * (1 + p["k_wear_b"] * p["wear"]) * w
    )


def simulate(unzipdir: str, start: dict, stop: float, dt: float, **kw):
    out = kw.pop("output", STATES + ["u_motor", "T_friction", "P_elec"])
    return simulate_fmu(
        unzipdir, start_values=start, stop_time=stop, output_interval=dt, output=out, **kw
    )


# ------------------------------------------------------------------ model description
@pytest.mark.parametrize("name", NAMES)
def test_validates(name):
    assert validate_fmu(bundled_fmu(name)) == []


@pytest.mark.parametrize("name", NAMES)
def test_declared_units_and_feedthrough(name):
    md = read_model_description(bundled_fmu(name))
    by_name = {v.name: v for v in md.modelVariables}
    assert by_name["T_winding"].unit == "degC" and by_name["T_amb"].unit == "degC"
    assert by_name["wear"].variability == "tunable"
    deps = {u.variable.name: {d.name for d in u.dependencies} for u in md.outputs}
    assert "delta_cmd" in deps["u_motor"] and "delta_cmd" in deps["P_elec"]
    assert not {"delta_cmd", "q_dyn"} & deps["T_friction"]


# ------------------------------------------------------------------ closed-loop step vs solve_ivp
CASES = {
    # small step: linear region, no limit active
    "small": dict(delta_cmd=0.02, q_dyn=14000.0),
    # large step: voltage/current limits and conditional integration active; worn, biased, loaded
    "large": dict(delta_cmd=0.3, q_dyn=20000.0, wear=0.7, bias=0.003),
    # command beyond travel (clamped to -delta_max), hot start, no air load
    "clamped": dict(delta_cmd=-0.6, q_dyn=0.0, wear=1.0, T_winding=80.0),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", NAMES)
def test_step_response_matches_solve_ivp(name, case, unzipped):
    start = CASES[case]
    p = defaults(name) | start
    x0 = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, start.get("T_winding", 20.0)]
    res = simulate(unzipped[name], start, stop=0.6, dt=1e-3)
    f = rhs(p, lambda t: p["delta_cmd"], p["q_dyn"])
    # dense LSODA with rtol 1e-10: its own error is orders of magnitude below the tolerances
    ref = solve_ivp(
        f, (0.0, 0.6), x0, method="LSODA", rtol=1e-10, atol=1e-12, max_step=1e-3, dense_output=True
    ).sol(res["time"])
    # Tolerances. The FMU integrates with classical RK4 at h = 1e-4 s; the fastest eigenvalues
    # (electrical/mechanical pair, sensor, derivative filter) are |lambda| <= ~1e3 1/s, so
    # |lambda| h <= 0.1 and the smooth-part global error is ~1e-6 of each transient. Where a drive
    # limit or the integrator hold switches, the right-hand side jumps and that RK4 step is only
    # O(h): x_I can be off by h*Ki*|e| at the switch, with |e| ~ (limit)/Kp ~ 0.07 rad, i.e.
    # 1e-4*2000*0.07 = 0.015 V per switching (an equivalent angle error 0.015/Kp ~ 4e-6 rad).
    # Bounds: 2e-5 rad on angles, 0.03 V on x_I, 0.05 rad/s on omega_m (peak ~650 rad/s),
    # 0.02 A on i_motor (limit 30 A), 1e-4 K on T_winding.
    tol = dict(
        delta=2e-5, omega_m=0.05, i_motor=0.02, delta_meas=2e-5, x_I=0.03, x_D=2e-5, T_winding=1e-4
    )
    for k, state in enumerate(STATES):
        err = np.max(np.abs(res[state] - ref[k]))
        assert err < tol[state], f"{state}: max |FMU - solve_ivp| = {err:g}"
    # the response reaches the (clamped) command: a step response, not a trivial zero trajectory
    target = min(max(p["delta_cmd"], -p["delta_max"]), p["delta_max"]) - p["bias"]
    assert abs(res["delta"][-1] - target) < 0.02 * abs(target)
    # outputs that are algebraic functions of states and inputs
    np.testing.assert_allclose(res["P_elec"], res["u_motor"] * res["i_motor"], rtol=1e-12)
    np.testing.assert_allclose(
        res["T_friction"], friction_law(p, res["omega_m"]), rtol=1e-12, atol=1e-15
    )


# ------------------------------------------------------------------ static equilibrium, closed form
@pytest.mark.parametrize(
    "start",
    [
        dict(delta_cmd=0.2, q_dyn=20000.0, bias=0.003, wear=0.5),
        dict(delta_cmd=-0.5, q_dyn=8000.0, bias=-0.002, wear=0.0, T_amb=-30.0, T_winding=-30.0),
    ],
)
@pytest.mark.parametrize("name", NAMES)
def test_holding_steady_state_closed_form(name, start, unzipped):
    # C_th is lowered from its default so the thermal node settles within the run: its time
    # constant C_th / (G_th - alpha_cu R i^2) is <= 2.5 s for these currents (<= 6 A)
    start = start | dict(C_th=1.5)
    p = defaults(name) | start
    res = simulate(unzipped[name], start, stop=60.0, dt=0.05)
    end = {k: res[k][-1] for k in res.dtype.names}
    # At rest the integrator drives the measured angle to the clamped command; the sensor bias
    # shifts the true angle: delta = ref - bias.
    ref = min(max(p["delta_cmd"], -p["delta_max"]), p["delta_max"])
    delta_ss = ref - p["bias"]
    # Torque balance at rest (omega_m = 0 so friction is 0): k_t i = -H/N with
    # H = q S c C_h_delta delta.
    i_ss = -p["q_dyn"] * p["S_s"] * p["c_s"] * p["C_h_delta"] * delta_ss / (p["N"] * p["k_t"])
    # Thermal balance with R(T) = R (1 + alpha (T - T_ref)):  G (T - T_amb) = R(T) i^2.
    ri2 = p["R"] * i_ss**2
    t_ss = (p["T_amb"] + ri2 * (1 - p["alpha_cu"] * p["T_ref"]) / p["G_th"]) / (
        1 - p["alpha_cu"] * ri2 / p["G_th"]
    )
    r_ss = p["R"] * (1 + p["alpha_cu"] * (t_ss - p["T_ref"]))
    # After 60 s the slowest closed-loop mode (0.5 1/s, next to the PI zero Ki/Kp) and the
    # thermal mode (>= 0.4 1/s) have decayed by e^-24 or more, so the residual transient is
    # < 1e-9 of each quantity's scale; the tolerances cover rounding over 6e5 RK4 sub-steps.
    assert end["delta"] == pytest.approx(delta_ss, abs=1e-8)
    assert end["delta_meas"] == pytest.approx(ref, abs=1e-8)
    assert end["omega_m"] == pytest.approx(0.0, abs=1e-6)
    assert end["i_motor"] == pytest.approx(i_ss, rel=1e-6, abs=1e-9)
    assert end["T_winding"] == pytest.approx(t_ss, abs=1e-4)
    # motor electrical equation at steady state: i = (u - k_e w) / R(T), from the outputs
    r_out = p["R"] * (1 + p["alpha_cu"] * (end["T_winding"] - p["T_ref"]))
    i_from_u = (end["u_motor"] - p["k_e"] * end["omega_m"]) / r_out
    assert end["i_motor"] == pytest.approx(i_from_u, rel=1e-6, abs=1e-9)
    assert end["u_motor"] == pytest.approx(r_ss * i_ss, rel=1e-5, abs=1e-8)
    assert end["x_I"] == pytest.approx(end["u_motor"], rel=1e-6, abs=1e-8)  # e = 0, rate = 0
    assert end["P_elec"] == pytest.approx(r_ss * i_ss**2, rel=1e-5, abs=1e-8)


# ------------------------------------------------------------------ wear
@pytest.mark.parametrize("name", NAMES)
def test_friction_grows_with_wear_at_same_speed(name, unzipped):
    # omega_m is a state with a settable start value, so T_friction at t = 0 is the friction law
    # evaluated at exactly that speed (output recorded right after initialization).
    p0 = defaults(name)
    wears = [0.0, 0.25, 0.5, 0.75, 1.0]
    for w in [-400.0, -0.3, 0.05, 2.0, 150.0]:
        torques = []
        for wear in wears:
            res = simulate(
                unzipped[name],
                dict(omega_m=w, wear=wear),
                stop=1e-3,
                dt=1e-3,
                output=["omega_m", "T_friction"],
            )
            assert res["omega_m"][0] == w
            torques.append(res["T_friction"][0])
            assert torques[-1] == pytest.approx(friction_law(p0 | dict(wear=wear), w), rel=1e-12)
        # friction opposes motion and its magnitude strictly grows with wear
        assert all(np.sign(t) == np.sign(w) for t in torques)
        assert all(abs(b) > abs(a) for a, b in zip(torques, torques[1:], strict=False))


def test_wear_increases_tracking_error_and_current(unzipped):
    # 0.1 rad, 1 Hz sine under cruise dynamic pressure; metrics over the last 2 s. All runs start
    # from the same state, so what is left of the start transient (fast modes gone; the 0.5 1/s
    # mode next to the PI zero has a tiny residue) is common to all of them.
    t_in = np.arange(0.0, 3.0 + 1e-9, 1e-3)
    sig = np.zeros(len(t_in), dtype=[("time", float), ("delta_cmd", float), ("q_dyn", float)])
    sig["time"], sig["delta_cmd"], sig["q_dyn"] = t_in, 0.1 * np.sin(2 * np.pi * t_in), 14000.0
    rms_e, rms_i, energy = [], [], []
    for wear in [0.0, 0.5, 1.0]:
        res = simulate(unzipped["Actuator"], dict(wear=wear), stop=3.0, dt=1e-3, input=sig)
        keep = res["time"] >= 1.0
        e = 0.1 * np.sin(2 * np.pi * res["time"][keep]) - res["delta"][keep]
        rms_e.append(np.sqrt(np.mean(e**2)))
        rms_i.append(np.sqrt(np.mean(res["i_motor"][keep] ** 2)))
        energy.append(np.trapezoid(res["P_elec"][keep], res["time"][keep]))
    # strictly increasing; the margins (1e-4 relative) are far above the integration error
    # (~1e-6 relative) so a flat or reversed trend fails
    for seq in (rms_e, rms_i, energy):
        assert seq[1] > seq[0] * (1 + 1e-4) and seq[2] > seq[1] * (1 + 1e-4), seq


# ------------------------------------------------------------------ CS vs ME, FMI 2 vs FMI 3
def test_fmi2_and_fmi3_cosimulation_identical(unzipped):
    start = CASES["large"]
    r2 = simulate(unzipped["Actuator"], start, stop=0.6, dt=1e-3)
    r3 = simulate(unzipped["fmi3/Actuator"], start, stop=0.6, dt=1e-3)
    # same model.c and the same RK4 core behind both API layers: equal to rounding
    for k in STATES + ["u_motor", "P_elec"]:
        np.testing.assert_allclose(r2[k], r3[k], rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", NAMES)
def test_cosimulation_matches_model_exchange(name, unzipped):
    start = CASES["large"]
    cs = simulate(unzipped[name], start, stop=0.6, dt=1e-3, fmi_type="CoSimulation")
    me = simulate(
        unzipped[name], start, stop=0.6, dt=1e-3, fmi_type="ModelExchange", relative_tolerance=1e-8
    )
    # both are within the step-test tolerances of the exact solution (RK4 h=1e-4 for CS, CVode
    # rtol 1e-8 for ME), so they agree to the sum of those bounds
    tol = dict(
        delta=4e-5, omega_m=0.1, i_motor=0.04, delta_meas=4e-5, x_I=0.06, x_D=4e-5, T_winding=2e-4
    )
    for state in STATES:
        err = np.max(np.abs(cs[state] - me[state]))
        assert err < tol[state], f"{state}: max |CS - ME| = {err:g}"


# ------------------------------------------------------------------ invalid parameters
@pytest.mark.parametrize(
    ("start", "message"),
    [
        (dict(N=0.0), "invalid parameter N = 0"),
        (dict(N=-300.0), "invalid parameter N = -300"),
        (dict(wear=1.5), "invalid parameter wear = 1.5"),
        (dict(wear=-0.1), "invalid parameter wear = -0.1"),
        (dict(R=0.0), "invalid parameter R = 0"),
        (dict(L=-1e-3), "invalid parameter L = -0.001"),
        (dict(tau_s=0.0), "invalid parameter tau_s = 0"),
    ],
)
@pytest.mark.parametrize("name", NAMES)
def test_invalid_parameter_is_an_fmi_error(name, start, message, unzipped, capfd):
    with pytest.raises(Exception, match=r"ExitInitializationMode failed with status 3"):
        simulate(unzipped[name], start, stop=0.01, dt=1e-3)
    assert message in capfd.readouterr().out


@pytest.mark.parametrize("name", NAMES)
def test_wear_set_out_of_range_during_simulation_fails_next_step(name, unzipped, capfd):
    md = read_model_description(unzipped[name])
    vr = {v.name: v.valueReference for v in md.modelVariables}
    fmu = instantiate_fmu(unzipped[name], md, "CoSimulation")
    fmi3 = md.fmiVersion.startswith("3")
    set_real = fmu.setFloat64 if fmi3 else fmu.setReal
    get_real = fmu.getFloat64 if fmi3 else fmu.getReal
    try:
        if fmi3:
            fmu.enterInitializationMode(startTime=0.0)
        else:
            fmu.setupExperiment(startTime=0.0)
            fmu.enterInitializationMode()
        set_real([vr["delta_cmd"]], [0.05])
        fmu.exitInitializationMode()
        fmu.doStep(0.0, 0.01)
        set_real([vr["wear"]], [0.8])  # a valid change of a tunable parameter is accepted
        fmu.doStep(0.01, 0.01)
        assert np.all(np.isfinite(get_real([vr["delta"], vr["T_friction"]])))
        set_real([vr["wear"]], [2.0])
        with pytest.raises(Exception, match=r"DoStep failed with status 3"):
            fmu.doStep(0.02, 0.01)
    finally:
        fmu.freeInstance()
    assert "invalid parameter wear = 2" in capfd.readouterr().out
