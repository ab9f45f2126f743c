"""Physics tests of the EV drivetrain FMUs (Battery, Motor, Vehicle, Driver) vs references."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import fmpy
import numpy as np
import pytest
from fmpy import extract, instantiate_fmu, read_model_description
from fmpy.fmi1 import FMICallException
from fmpy.validation import validate_fmu
from scipy.integrate import solve_ivp

from cosim.library.build import bundled_fmu

EV_MODELS = ["Battery", "Motor", "Vehicle", "Driver"]
VERSIONS = [2, 3]
CS, ME = "CoSimulation", "ModelExchange"
# tolerance handed to CVode for Model Exchange runs; fmpy uses abstol = reltol * nominal and the
# bundled FMUs report nominal 1, so every state is integrated to ~1e-10 absolute per step
ME_RTOL = 1e-10

# Cell open-circuit voltage table of the Battery model's documentation (docs/models/ev.md),
# typed in here again so the terminal-voltage check does not read anything from the FMU.
CELL_SOC = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]
CELL_OCV = [3.00, 3.35, 3.45, 3.55, 3.61, 3.65, 3.70, 3.78, 3.87, 3.96, 4.06, 4.12, 4.20]


def fmu_path(name: str, version: int) -> str:
    return str(bundled_fmu(name if version == 2 else f"fmi3/{name}"))


def simulate(name: str, version: int, fmi_type: str = CS, **kwargs) -> np.ndarray:
    if fmi_type == ME:
        kwargs.setdefault("relative_tolerance", ME_RTOL)
    return fmpy.simulate_fmu(fmu_path(name, version), fmi_type=fmi_type, **kwargs)


def signal(**columns: list[float]) -> np.ndarray:
    """A structured input array for fmpy (first column `time`)."""
    names = list(columns)
    rows = list(zip(*columns.values(), strict=True))
    return np.array(rows, dtype=[(n, float) for n in names])


both_versions = pytest.mark.parametrize("version", VERSIONS, ids=["fmi2", "fmi3"])
both_interfaces = pytest.mark.parametrize("fmi_type", [CS, ME], ids=["cs", "me"])


# --------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("name", EV_MODELS)
@both_versions
def test_fmus_validate_and_declare_both_interfaces(name: str, version: int) -> None:
    path = fmu_path(name, version)
    assert validate_fmu(path) == []
    md = read_model_description(path)
    assert md.coSimulation is not None and md.modelExchange is not None
    assert md.coSimulation.canGetAndSetFMUstate


def _dependencies(name: str, version: int) -> dict[str, set[str]]:
    md = read_model_description(fmu_path(name, version))
    return {u.variable.name: {d.name for d in u.dependencies} for u in md.outputs}


@both_versions
def test_direct_feedthrough_declarations(version: int) -> None:
    """The engine breaks algebraic loops with these; they must say exactly what feeds through."""
    battery = _dependencies("Battery", version)
    assert "I" in battery["V"] and "I" in battery["P"] and "T_amb" not in battery["V"]
    motor = _dependencies("Motor", version)
    # the torque command acts through the first-order lag only: no feedthrough to I_dc
    assert {"w", "V_dc"} <= motor["I_dc"] and "tau_cmd" not in motor["I_dc"]
    assert motor["tau"] == {"tau"}
    vehicle = _dependencies("Vehicle", version)
    assert vehicle["v"] == {"v"} and vehicle["v_kmh"] == {"v"}
    assert {"tau_motor", "F_brake", "grade"} <= vehicle["a"]
    driver = _dependencies("Driver", version)
    assert driver["v_ref"] == {"v_ref_in"}
    assert {"v", "v_ref_in"} <= driver["tau_cmd"] and {"v", "v_ref_in"} <= driver["F_brake"]


@both_versions
def test_unit_definitions_for_conversions(version: int) -> None:
    md = read_model_description(fmu_path("Vehicle", version))
    units = {u.name: u for u in md.unitDefinitions}
    kmh = units["km/h"].baseUnit
    assert (kmh.m, kmh.s) == (1, -1) and kmh.factor == pytest.approx(1 / 3.6, rel=1e-15)
    t_amb = next(
        v
        for v in read_model_description(fmu_path("Battery", version)).modelVariables
        if v.name == "T_amb"
    )
    assert t_amb.unit == "K" and t_amb.causality == "input"


# --------------------------------------------------------------------------------- battery
BATTERY = {
    "capacity": 50.0,
    "SOH_capacity": 0.8,
    "SOH_resistance": 1.5,
    "R0": 0.08,
    "R1": 0.04,
    "C1": 500.0,
    "C_th": 20000.0,
    "hA": 15.0,
    "n_series": 96,
    "SOC": 0.9,
    "T": 300.0,
}


@both_versions
@both_interfaces
def test_battery_constant_current_discharge(version: int, fmi_type: str) -> None:
    current, t_amb = 130.0, 290.0
    res = simulate(
        "Battery",
        version,
        fmi_type,
        start_values=BATTERY,
        stop_time=600.0,
        output_interval=1.0,
        output=["SOC", "V_rc", "V", "P", "T"],
        input=signal(time=[0.0, 600.0], I=[current] * 2, T_amb=[t_amb] * 2),
    )
    t = res["time"]
    p = BATTERY
    q = p["capacity"] * p["SOH_capacity"] * 3600.0  # faded capacity in A.s
    r0, r1 = p["R0"] * p["SOH_resistance"], p["R1"] * p["SOH_resistance"]
    soc = p["SOC"] - current * t / q  # coulomb counting
    v_rc = current * r1 * (1.0 - np.exp(-t / (r1 * p["C1"])))
    ocv = p["n_series"] * np.interp(soc, CELL_SOC, CELL_OCV)
    v = ocv - current * r0 - v_rc

    # thermal node: C_th dT/dt = I^2 R0 + V_rc(t)^2/R1 - hA (T - T_amb), with V_rc(t) above
    def rhs(tt: float, y: np.ndarray) -> list[float]:
        vrc = current * r1 * (1.0 - math.exp(-tt / (r1 * p["C1"])))
        return [(current**2 * r0 + vrc**2 / r1 - p["hA"] * (y[0] - t_amb)) / p["C_th"]]

    temp = solve_ivp(rhs, (0, t[-1]), [p["T"]], t_eval=t, rtol=1e-11, atol=1e-11).y[0]
    assert soc[-1] < 0.4  # the run crosses six OCV table segments
    # CS: fixed-step RK4 (0.05 s) is exact for the linear SOC ODE up to round-off and has a
    # global error ~(h/tau)^4 ~ 1e-11 relative on V_rc (tau = 30 s); ME: CVode at 1e-10 per
    # step, measured global errors: SOC 1e-14, V_rc 1e-8 V, T 7e-8 K. Limits keep 10x margin.
    np.testing.assert_allclose(res["SOC"], soc, rtol=0, atol=1e-7)
    np.testing.assert_allclose(res["V_rc"], v_rc, rtol=0, atol=1e-7)
    np.testing.assert_allclose(res["T"], temp, rtol=0, atol=1e-6)
    # V adds the V_rc error and the SOC error times the OCV slope (<= 96 * 7 V per unit SOC)
    np.testing.assert_allclose(res["V"], v, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res["P"], v * current, rtol=1e-6)


@both_versions
@pytest.mark.parametrize("soc0", [0.0, 0.15, 0.5, 0.93, 1.0])
def test_battery_open_circuit_voltage_scales_with_series_cells(version: int, soc0: float) -> None:
    res = simulate(
        "Battery",
        version,
        start_values={"SOC": soc0, "n_series": 7},
        stop_time=1.0,
        output_interval=1.0,
        output=["V", "SOC"],
    )
    # no current: SOC and V stay at the start values, V = 7 * OCV_cell(SOC0)
    assert res["SOC"][-1] == soc0
    assert res["V"][-1] == pytest.approx(7 * np.interp(soc0, CELL_SOC, CELL_OCV), abs=1e-12)


@both_versions
def test_battery_cs_and_me_agree_under_a_current_profile(version: int) -> None:
    """Discharge, then charge: CS (RK4) and ME (CVode) trajectories agree."""
    profile = signal(
        time=[0.0, 100.0, 100.0, 250.0, 250.0, 300.0],
        I=[200.0, 200.0, -100.0, -100.0, 0.0, 0.0],
        T_amb=[298.15] * 6,
    )
    out = ["SOC", "V_rc", "V", "T"]
    kwargs = dict(
        start_values=BATTERY, stop_time=300.0, output_interval=1.0, output=out, input=profile
    )
    cs = simulate("Battery", version, CS, **kwargs)
    me = simulate("Battery", version, ME, **kwargs)
    # ME records the left and right limits at the input steps; CS records the left one
    keep = np.insert(np.diff(me["time"]) > 0, 0, True)
    me = me[keep]
    np.testing.assert_array_equal(me["time"], cs["time"])
    # both integrate the same smooth ODE between input steps (which fall on communication
    # points); RK4 error ~1e-11, CVode at 1e-10 -> agreement to 1e-7 V / 1e-7 SOC / 1e-6 K
    for name, atol in [("SOC", 1e-7), ("V_rc", 1e-7), ("V", 1e-4), ("T", 1e-6)]:
        np.testing.assert_allclose(cs[name], me[name], rtol=0, atol=atol, err_msg=name)
    assert cs["SOC"][100] < cs["SOC"][0] and cs["SOC"][250] > cs["SOC"][100]  # charge returns


# --------------------------------------------------------------------------------- motor
MOTOR = {
    "T_m": 0.02,
    "tau_max": 250.0,
    "P_max": 80000.0,
    "k_c": 0.08,
    "k_i": 1.0,
    "k_w": 1.0e-6,
    "P0": 200.0,
    "alpha_cu": 0.00393,
    "T_ref": 293.15,
    "C_w": 50.0,
    "G_th": 50.0,
    "T_coolant": 313.15,
    "T_winding": 313.15,
}


@both_versions
@both_interfaces
@pytest.mark.parametrize(
    ("tau_cmd", "w", "tau_expected"),
    [
        (120.0, 300.0, 120.0),  # below base speed: the command is followed
        (250.0, 500.0, 160.0),  # field weakening: |tau| <= P_max/|w| = 80 kW / 500 rad/s
        (-300.0, 600.0, -80000.0 / 600.0),
    ],  # regenerating, power limited
    ids=["base", "power-limit", "regen"],
)
def test_motor_torque_response_losses_and_winding_temperature(
    version: int, fmi_type: str, tau_cmd: float, w: float, tau_expected: float
) -> None:
    v_dc = 360.0
    start = dict(MOTOR, tau_cmd=tau_cmd, w=w, V_dc=v_dc)
    res = simulate(
        "Motor",
        version,
        fmi_type,
        start_values=start,
        stop_time=25.0,
        output_interval=0.01,
        output=["tau", "I_dc", "P_loss", "T_winding"],
    )
    t = res["time"]
    p = MOTOR
    # first-order lag to the limited command: tau(t) = tau_ss (1 - exp(-t/T_m)). RK4 at
    # h/T_m = 0.05 errs (h/T_m)^5/120 = 3e-9 per step, summed over the ~20-step transient
    # ~5e-8 relative (measured 3e-6 N.m on 160 N.m); CVode at 1e-10 measured 1e-7 N.m
    np.testing.assert_allclose(
        res["tau"], tau_expected * (1 - np.exp(-t / p["T_m"])), rtol=0, atol=1e-5
    )
    # winding steady state: G (T - Tc) = k_c tau^2 (1 + alpha (T - T_ref)) solved for T
    pcu_ref = p["k_c"] * tau_expected**2
    rise = (
        pcu_ref
        * (1 + p["alpha_cu"] * (p["T_coolant"] - p["T_ref"]))
        / (p["G_th"] - p["alpha_cu"] * pcu_ref)
    )
    t_w = p["T_coolant"] + rise
    # 25 s = 25 thermal time constants (C_w/G_th = 1 s, loop gain < 0.3): exp(-18) ~ 1e-8
    assert res["T_winding"][-1] == pytest.approx(t_w, abs=1e-5)
    p_cu = pcu_ref * (1 + p["alpha_cu"] * (t_w - p["T_ref"]))
    p_loss = p_cu + p["k_i"] * abs(w) + p["k_w"] * abs(w) ** 3 + p["P0"]
    assert res["P_loss"][-1] == pytest.approx(p_loss, rel=1e-8)
    assert res["I_dc"][-1] == pytest.approx((tau_expected * w + p_loss) / v_dc, rel=1e-8)
    if tau_expected < 0:
        assert res["I_dc"][-1] < 0  # regeneration charges the battery


# --------------------------------------------------------------------------------- vehicle
VEHICLE = {
    "m": 1500.0,
    "J_m": 0.05,
    "Cd": 0.3,
    "A_f": 2.2,
    "rho": 1.2,
    "Crr": 0.01,
    "g": 9.81,
    "G": 9.0,
    "eta": 0.95,
    "r_w": 0.3,
    "v_eps": 0.1,
}


def vehicle_accel(v: float, tau: float, f_brake: float, grade: float, p: dict) -> float:
    """Guzzella & Sciarretta longitudinal dynamics, written independently of the FMU."""
    m_eff = p["m"] + p["J_m"] * p["G"] ** 2 / p["r_w"] ** 2
    f_trac = tau * p["G"] / p["r_w"] * (p["eta"] if tau >= 0 else 1 / p["eta"])
    f_aero = 0.5 * p["rho"] * p["Cd"] * p["A_f"] * v * abs(v)
    f_roll = p["Crr"] * p["m"] * p["g"] * math.cos(grade) * math.tanh(v / p["v_eps"])
    f_grade = p["m"] * p["g"] * math.sin(grade)
    f_b = max(f_brake, 0.0) * math.tanh(v / p["v_eps"])
    return (f_trac - f_aero - f_roll - f_grade - f_b) / m_eff


@both_versions
@both_interfaces
def test_vehicle_coast_down_without_drag_is_uniform_deceleration(
    version: int, fmi_type: str
) -> None:
    p = dict(VEHICLE, Cd=0.0)
    v0 = 20.0
    res = simulate(
        "Vehicle",
        version,
        fmi_type,
        start_values=dict(p, v=v0),
        stop_time=100.0,
        output_interval=0.5,
        output=["v", "distance", "v_kmh", "w_motor", "a"],
    )
    t = res["time"]
    decel = p["Crr"] * p["m"] * p["g"] / (p["m"] + p["J_m"] * p["G"] ** 2 / p["r_w"] ** 2)
    v = v0 - decel * t
    assert v[-1] > 5.0  # tanh(v/v_eps) == 1 to double precision for v > 2 m/s
    # linear in t: RK4 is exact up to round-off, CVode at 1e-10 per step
    np.testing.assert_allclose(res["v"], v, rtol=0, atol=1e-7)
    np.testing.assert_allclose(res["distance"], v0 * t - decel * t**2 / 2, rtol=0, atol=1e-5)
    np.testing.assert_allclose(res["v_kmh"], 3.6 * res["v"], rtol=1e-14)
    np.testing.assert_allclose(res["w_motor"], res["v"] * p["G"] / p["r_w"], rtol=1e-14)
    np.testing.assert_allclose(res["a"], -decel, rtol=1e-12)


@both_versions
@both_interfaces
@pytest.mark.parametrize(
    ("v0", "tau", "f_brake", "grade"),
    # the second case brakes to standstill and the regen torque then reverses the car slowly
    [(5.0, 100.0, 0.0, 0.03), (30.0, -60.0, 1500.0, -0.02), (25.0, 0.0, 0.0, 0.0)],
    ids=["uphill-drive", "downhill-regen-brake", "coast-with-drag"],
)
def test_vehicle_against_solve_ivp(
    version: int, fmi_type: str, v0: float, tau: float, f_brake: float, grade: float
) -> None:
    start = dict(VEHICLE, v=v0, tau_motor=tau, F_brake=f_brake, grade=grade)
    res = simulate(
        "Vehicle",
        version,
        fmi_type,
        start_values=start,
        stop_time=30.0,
        output_interval=0.1,
        output=["v", "distance"],
    )
    ref = solve_ivp(
        lambda _t, y: [vehicle_accel(y[0], tau, f_brake, grade, VEHICLE), y[0]],
        (0.0, 30.0),
        [v0, 0.0],
        t_eval=res["time"],
        rtol=1e-11,
        atol=1e-11,
    )
    # RK4 at 0.01 s: measured error <= 1.1e-7 m/s (largest where tanh(v/v_eps) bends near
    # standstill); CVode at 1e-10 per step: <= 3e-8 m/s, 6e-7 m
    np.testing.assert_allclose(res["v"], ref.y[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(res["distance"], ref.y[1], rtol=0, atol=1e-5)


@both_versions
def test_vehicle_does_not_roll_backwards_at_standstill(version: int) -> None:
    # standing with the brake applied: rolling resistance and brake vanish at v = 0 (tanh)
    res = simulate(
        "Vehicle",
        version,
        start_values=dict(VEHICLE, F_brake=2000.0),
        stop_time=10.0,
        output_interval=0.5,
        output=["v"],
    )
    assert np.all(res["v"] == 0.0)
    # coasting to a stop: the smoothed resistance decays with v, so v never changes sign
    res = simulate(
        "Vehicle",
        version,
        start_values=dict(VEHICLE, v=1.0),
        stop_time=60.0,
        output_interval=0.5,
        output=["v"],
    )
    assert np.all(res["v"] >= 0.0) and res["v"][-1] < 0.05


# --------------------------------------------------------------------------------- driver
# UNECE R83/R101 (Directive 70/220/EEC, Annex III) operating cycle tables, as (duration s,
# speed km/h at the end of the operation); speed changes linearly during an operation.
ECE15_OPERATIONS = [
    (11, 0),
    (4, 15),
    (8, 15),
    (2, 10),
    (3, 0),
    (21, 0),  # ops 1-6
    (5, 15),
    (2, 15),
    (5, 32),
    (24, 32),
    (8, 10),
    (3, 0),
    (21, 0),  # ops 7-13
    (5, 15),
    (2, 15),
    (9, 35),
    (2, 35),
    (8, 50),
    (12, 50),
    (8, 35),
    (13, 35),  # ops 14-21
    (2, 32),
    (7, 10),
    (3, 0),
    (7, 0),  # ops 22-25
]
EUDC_OPERATIONS = [
    (20, 0),
    (5, 15),
    (2, 15),
    (9, 35),
    (2, 35),
    (8, 50),
    (2, 50),
    (13, 70),
    (50, 70),
    (8, 50),
    (69, 50),
    (13, 70),
    (50, 70),
    (35, 100),
    (30, 100),
    (20, 120),
    (10, 120),
    (16, 80),
    (8, 50),
    (10, 0),
    (20, 0),
]


def profile_from_operations(ops: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    t = np.concatenate([[0.0], np.cumsum([d for d, _ in ops])])
    v = np.array([0.0] + [s for _, s in ops])
    return t, v


@both_versions
def test_driver_nedc_profile_matches_the_regulation(version: int) -> None:
    res = simulate(
        "Driver",
        version,
        start_values={"cycle": 2},
        stop_time=1180.0,
        output_interval=0.5,
        output=["v_ref"],
    )
    t, v_kmh = res["time"], res["v_ref"] * 3.6
    ece_t, ece_v = profile_from_operations(ECE15_OPERATIONS)
    eudc_t, eudc_v = profile_from_operations(EUDC_OPERATIONS)
    assert (ece_t[-1], eudc_t[-1]) == (195, 400)
    expected = np.where(
        t < 780, np.interp(t % 195, ece_t, ece_v), np.interp(t - 780, eudc_t, eudc_v)
    )
    np.testing.assert_allclose(v_kmh, expected, rtol=0, atol=1e-9)
    # plateaus as printed in the regulation's ECE-15 table (cumulative times of ops 3, 10, 19, 21)
    for lo, hi, speed in [(15, 23, 15), (61, 85, 32), (143, 155, 50), (163, 176, 35)]:
        for rep in range(4):
            sel = (t >= lo + 195 * rep) & (t <= hi + 195 * rep)
            np.testing.assert_allclose(v_kmh[sel], speed, atol=1e-9)
    for lo, hi, speed in [(61, 111, 70), (119, 188, 50), (286, 316, 100), (336, 346, 120)]:
        sel = (t >= 780 + lo) & (t <= 780 + hi)
        np.testing.assert_allclose(v_kmh[sel], speed, atol=1e-9)
    # published theoretical distances: 1.013 km per ECE-15 (4.052 km urban), 6.955 km EUDC.
    # The trapezoid rule is exact here (breakpoints on whole seconds, samples every 0.5 s). The
    # segment geometry of the table gives 1014.6 m per ECE-15, 0.16 % above the stated figure,
    # hence 0.25 %; the EUDC's 6954.9 m matches its stated 6.955 km to 1e-4.
    urban = np.trapezoid(res["v_ref"][t <= 780], t[t <= 780])
    extra = np.trapezoid(res["v_ref"][t >= 780], t[t >= 780])
    assert urban == pytest.approx(4052.0, rel=2.5e-3)
    assert extra == pytest.approx(6955.0, rel=1e-4)
    assert np.all(v_kmh[t >= 1160] == 0.0)


@both_versions
def test_driver_ece15_repeats_and_test_profile(version: int) -> None:
    res = simulate(
        "Driver",
        version,
        start_values={"cycle": 1},
        stop_time=400.0,
        output_interval=1.0,
        output=["v_ref"],
    )
    v = res["v_ref"]
    np.testing.assert_allclose(v[195:391], v[0:196], atol=1e-12)  # period 195 s
    res = simulate(
        "Driver",
        version,
        start_values={"cycle": 3, "v_hold": 15.0},
        stop_time=60.0,
        output_interval=1.0,
        output=["v_ref"],
    )
    t = res["time"]
    expected = np.interp(t, [0, 10, 40, 50], [0, 15, 15, 0])  # documented test profile
    np.testing.assert_allclose(res["v_ref"], expected, atol=1e-12)
    # cycle 0 follows the input
    res = simulate(
        "Driver",
        version,
        start_values={"cycle": 0},
        stop_time=4.0,
        output_interval=1.0,
        output=["v_ref"],
        input=signal(time=[0.0, 4.0], v_ref_in=[4.2, 4.2], v=[0.0, 0.0]),
    )
    np.testing.assert_allclose(res["v_ref"], 4.2, atol=1e-12)


DRIVER = {
    "cycle": 0,
    "Kp": 200.0,
    "Ki": 100.0,
    "T_t": 1.0,
    "tau_max": 250.0,
    "tau_regen": 100.0,
    "k_brake": 30.0,
}


def pi_outputs(e: float, i_term: float, p: dict, anti_windup: bool = True):
    """PI with saturation, back-calculation and regen/friction split, written from the docs."""
    u = p["Kp"] * e + i_term
    u_sat = min(max(u, -p["tau_max"]), p["tau_max"])
    di = p["Ki"] * e + ((u_sat - u) / p["T_t"] if anti_windup else 0.0)
    tau = max(u_sat, -p["tau_regen"])
    return tau, p["k_brake"] * (tau - u_sat), di


class Slave:
    """A bundled FMU instantiated for Co-Simulation and stepped by hand (FMI 2 or 3)."""

    def __init__(self, name: str, version: int, workdir: Path, start: dict) -> None:
        path = fmu_path(name, version)
        md = read_model_description(path)
        self.unzipped = extract(path, unzipdir=str(workdir / name))
        self.vr = {v.name: v.valueReference for v in md.modelVariables}
        self.version = version
        self.fmu = instantiate_fmu(self.unzipped, md, fmi_type=CS)
        f = self.fmu
        if version == 2:
            f.setupExperiment(startTime=0.0)
        for key, value in start.items():
            if isinstance(value, int):
                (f.setInteger if version == 2 else f.setInt32)([self.vr[key]], [value])
            else:
                self.set(key, value)
        if version == 2:
            f.enterInitializationMode()
        else:
            f.enterInitializationMode(startTime=0.0)
        f.exitInitializationMode()
        self._set: Callable = f.setReal if version == 2 else f.setFloat64
        self._get: Callable = f.getReal if version == 2 else f.getFloat64

    def set(self, name: str, value: float) -> None:
        (self.fmu.setReal if self.version == 2 else self.fmu.setFloat64)([self.vr[name]], [value])

    def get(self, name: str) -> float:
        return self._get([self.vr[name]])[0]

    def step(self, t: float, h: float) -> None:
        self.fmu.doStep(t, h)

    def close(self) -> None:
        self.fmu.terminate()
        self.fmu.freeInstance()
        shutil.rmtree(self.unzipped, ignore_errors=True)


@both_versions
def test_driver_anti_windup_in_closed_loop_with_vehicle(version: int, tmp_path: Path) -> None:
    """Driver + Vehicle FMUs coupled by hand vs solve_ivp of the same PI + vehicle equations.

    v_ref_in steps 0 -> 20 m/s (torque saturates for ~4 s) and at t = 8 s to 5 m/s (braking
    beyond the regen limit engages the friction brake).
    """
    h, t_switch, t_end = 2e-3, 8.0, 14.0
    driver = Slave("Driver", version, tmp_path, dict(DRIVER, v_ref_in=20.0))
    vehicle = Slave("Vehicle", version, tmp_path, dict(VEHICLE))
    rows = []
    try:
        for k in range(round(t_end / h)):
            t = k * h
            driver.set("v_ref_in", 20.0 if t < t_switch - h / 2 else 5.0)
            driver.set("v", vehicle.get("v"))
            vehicle.set("tau_motor", driver.get("tau_cmd"))
            vehicle.set("F_brake", driver.get("F_brake"))
            rows.append((t, vehicle.get("v"), driver.get("F_brake")))
            driver.step(t, h)
            vehicle.step(t, h)
    finally:
        driver.close()
        vehicle.close()
    t_fmu, v_fmu, brake_fmu = np.array(rows).T

    def reference(anti_windup: bool) -> np.ndarray:
        def rhs(t: float, y: np.ndarray) -> list[float]:
            v_ref = 20.0 if t < t_switch else 5.0
            tau, f_brake, di = pi_outputs(v_ref - y[0], y[1], DRIVER, anti_windup)
            return [vehicle_accel(y[0], tau, f_brake, 0.0, VEHICLE), di]

        first = solve_ivp(
            rhs, (0, t_switch), [0.0, 0.0], rtol=1e-10, atol=1e-10, max_step=0.01, dense_output=True
        )
        second = solve_ivp(
            rhs,
            (t_switch, t_end),
            first.y[:, -1],
            rtol=1e-10,
            atol=1e-10,
            max_step=0.01,
            dense_output=True,
        )
        return np.where(
            t_fmu < t_switch,
            first.sol(np.minimum(t_fmu, t_switch))[0],
            second.sol(np.maximum(t_fmu, t_switch))[0],
        )

    v_ref_aw, v_ref_windup = reference(True), reference(False)
    # explicit coupling holds v and the torque constant over each step h: the force lags by
    # ~h/2, so |dv| <= h/2 * max|a| ~ 1e-3 * 3 m/s2 = 3e-3 m/s (measured 9e-4 m/s). Without
    # anti-windup the speed overshoots by ~13 m/s, so the test separates the two clearly.
    assert np.max(np.abs(v_fmu - v_ref_aw)) < 5e-3
    assert np.max(np.abs(v_fmu - v_ref_windup)) > 1.0
    assert v_fmu[t_fmu < t_switch].max() < 20.2  # no windup overshoot
    assert brake_fmu.max() > 0.0 and np.all(brake_fmu >= 0.0)


@both_versions
def test_drivetrain_tracks_ece15_within_the_regulation_tolerance(
    version: int, tmp_path: Path
) -> None:
    """All four FMUs wired together drive one ECE-15 cycle (algebraic loop V <-> I iterated)."""
    h = 0.05
    battery = Slave("Battery", version, tmp_path, {})
    motor = Slave("Motor", version, tmp_path, {})
    vehicle = Slave("Vehicle", version, tmp_path, {})
    driver = Slave("Driver", version, tmp_path, {"cycle": 1})
    fmus = (battery, motor, vehicle, driver)
    err, charge = [], 0.0
    try:
        soc0 = battery.get("SOC")
        for k in range(round(195 / h)):
            t = k * h
            driver.set("v", vehicle.get("v"))
            motor.set("tau_cmd", driver.get("tau_cmd"))
            vehicle.set("F_brake", driver.get("F_brake"))
            motor.set("w", vehicle.get("w_motor"))
            vehicle.set("tau_motor", motor.get("tau"))
            v_dc = battery.get("V")
            for _ in range(4):  # V = OCV - R I, I = P/V: a contraction since R I << V
                motor.set("V_dc", v_dc)
                battery.set("I", motor.get("I_dc"))
                v_dc = battery.get("V")
            err.append(3.6 * (vehicle.get("v") - driver.get("v_ref")))
            charge += motor.get("I_dc") * h
            for f in fmus:
                f.step(t, h)
        soc, distance = battery.get("SOC"), vehicle.get("distance")
        capacity = 3600.0 * 60.0  # default capacity 60 A.h, SOH 1
    finally:
        for f in fmus:
            f.close()
    # UNECE R83: speed tolerance +-2 km/h around the prescribed curve
    assert np.max(np.abs(err)) < 2.0
    # coulomb counting of the current the motor drew (rectangle rule at the held inputs)
    assert soc0 - soc == pytest.approx(charge / capacity, rel=1e-9)
    assert 0.0 < soc0 - soc < 0.01
    assert distance == pytest.approx(1014.58, rel=0.01)  # the cycle's distance, see above


# --------------------------------------------------------------------------------- errors
INVALID = [
    ("Battery", {"capacity": 0.0}, "capacity"),
    ("Battery", {"SOH_capacity": -0.1}, "SOH_capacity"),
    ("Battery", {"n_series": 0}, "n_series"),
    ("Motor", {"T_m": 0.0}, "T_m"),
    ("Motor", {"V_dc": 0.0}, "V_dc"),
    ("Vehicle", {"m": -1500.0}, "m ="),
    ("Vehicle", {"eta": 1.5}, "eta"),
    ("Driver", {"cycle": 7}, "cycle"),
    ("Driver", {"T_t": 0.0}, "T_t"),
]


@both_versions
@pytest.mark.parametrize(
    ("name", "start", "fragment"), INVALID, ids=[f"{n}-{next(iter(s))}" for n, s, _ in INVALID]
)
def test_invalid_parameter_is_an_fmi_error_with_a_message(
    version: int, name: str, start: dict, fragment: str
) -> None:
    messages: list[tuple[int, str]] = []

    # FMI 2 logger arguments: (env, instance, status, category, message); FMI 3: no instance
    def logger(*args) -> None:
        messages.append((args[-3], args[-1].decode()))

    with pytest.raises(FMICallException):
        simulate(name, version, start_values=start, stop_time=1.0, logger=logger)
    errors = [m for status, m in messages if status == 3]
    assert any("invalid" in m and fragment in m for m in errors), messages


@both_versions
def test_invalid_input_during_the_run_is_an_error_not_nan(version: int) -> None:
    messages: list[str] = []
    with pytest.raises(FMICallException):
        simulate(
            "Motor",
            version,
            start_values={"tau_cmd": 50.0, "w": 100.0},
            stop_time=1.0,
            output_interval=0.1,
            logger=lambda *a: messages.append(a[-1].decode()),
            input=signal(time=[0.0, 0.5, 0.5, 1.0], V_dc=[350.0, 350.0, 0.0, 0.0]),
        )
    assert any("V_dc" in m for m in messages)
