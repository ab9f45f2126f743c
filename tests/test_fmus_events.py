"""Events, input derivatives and directional derivatives of the bundled FMUs, against closed forms
and independent references: BouncingBall (state events), Timer (time events, termination),
VanDerPol (adaptive Co-Simulation at the importer's tolerance), Algebraic (directional
derivatives, an algebraic loop), and Mass1 driven by FMI 2.0 input derivatives and by FMI 3.0
intermediate updates."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fmpy import extract, read_model_description, simulate_fmu
from fmpy.fmi1 import FMICallException
from fmpy.fmi2 import FMU2Model, FMU2Slave, fmi2LastSuccessfulTime, fmi2Terminated
from fmpy.fmi3 import FMU3Model, FMU3Slave
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from cosim.library import build as library

VERSIONS = ["", "fmi3/"]  # bundled-name prefix: FMI 2.0, FMI 3.0
EVENT_MODELS = ["BouncingBall", "Timer"]
NEW_MODELS = ["BouncingBall", "Timer", "VanDerPol", "Algebraic"]


class Fmu:
    """One instance over fmpy's low-level classes; `vr` maps names to value references."""

    def __init__(self, name: str, tmp_path: Path, interface: str = "CoSimulation", **kw) -> None:
        path = str(library.bundled_fmu(name))
        self.md = read_model_description(path)
        self.fmi3 = self.md.fmiVersion.startswith("3")
        cls = {
            (False, "CoSimulation"): FMU2Slave,
            (True, "CoSimulation"): FMU3Slave,
            (False, "ModelExchange"): FMU2Model,
            (True, "ModelExchange"): FMU3Model,
        }[(self.fmi3, interface)]
        self.fmu = cls(
            guid=self.md.guid,
            unzipDirectory=extract(path, str(tmp_path / name.replace("/", "_"))),
            modelIdentifier=self.md.coSimulation.modelIdentifier,
            instanceName="test",
        )
        self.fmu.instantiate(**kw)
        self.vr = {v.name: v.valueReference for v in self.md.modelVariables}
        self.types = {v.name: v.type for v in self.md.modelVariables}

    def set(self, **values) -> None:
        for name, value in values.items():
            kind = self.types[name]
            if kind in ("Real", "Float64"):
                (self.fmu.setFloat64 if self.fmi3 else self.fmu.setReal)([self.vr[name]], [value])
            elif kind in ("Integer", "Int32"):
                (self.fmu.setInt32 if self.fmi3 else self.fmu.setInteger)([self.vr[name]], [value])
            else:
                self.fmu.setBoolean([self.vr[name]], [value])

    def get(self, name: str) -> float:
        kind = self.types[name]
        if kind in ("Real", "Float64"):
            return (self.fmu.getFloat64 if self.fmi3 else self.fmu.getReal)([self.vr[name]])[0]
        if kind in ("Integer", "Int32"):
            return (self.fmu.getInt32 if self.fmi3 else self.fmu.getInteger)([self.vr[name]])[0]
        return self.fmu.getBoolean([self.vr[name]])[0]

    def initialize(self, tolerance: float | None = None, **start) -> None:
        """Start values in initialization mode; without FMI 3 event mode, ready to step."""
        if self.fmi3:
            self.fmu.enterInitializationMode(tolerance=tolerance, startTime=0.0)
        else:
            self.fmu.setupExperiment(tolerance=tolerance, startTime=0.0)
            self.fmu.enterInitializationMode()
        self.set(**start)
        self.fmu.exitInitializationMode()

    def free(self) -> None:
        self.fmu.terminate()
        self.fmu.freeInstance()


# --------------------------------------------------------------------------- closed forms
G, E, H0, V_MIN = 9.81, 0.8, 1.0, 1e-2  # BouncingBall defaults (docs/models/BouncingBall.md)


def bounce_times(g: float = G, e: float = E, h0: float = H0, v_min: float = V_MIN):
    """Impact times of the ideal ball and the index of the impact after which it rests:
    t_1 = sqrt(2 h0 / g), t_{k+1} = t_k + 2 e^k v_1 / g with v_1 = sqrt(2 g h0); impact k
    rebounds at e^k v_1, and the ball rests at the first impact whose rebound is below v_min."""
    v1 = math.sqrt(2 * g * h0)
    times = [math.sqrt(2 * h0 / g)]
    k = 1
    while e**k * v1 >= v_min:
        times.append(times[-1] + 2 * e**k * v1 / g)
        k += 1
    return np.array(times)  # the last one is the resting impact (no rebound)


def ball_state(t: np.ndarray, g: float = G, e: float = E, h0: float = H0, v_min: float = V_MIN):
    """h, v and the number of rebounds of the ideal ball at times t (piecewise parabolas)."""
    impacts = bounce_times(g, e, h0, v_min)
    v1 = math.sqrt(2 * g * h0)
    h, v, n = np.zeros_like(t), np.zeros_like(t), np.zeros(t.shape, dtype=int)
    for i, ti in enumerate(t):
        k = int(np.searchsorted(impacts, ti, side="right"))  # impacts so far
        if k == 0:
            h[i], v[i] = h0 - g * ti**2 / 2, -g * ti
        elif k == len(impacts):
            h[i], v[i], n[i] = 0.0, 0.0, k - 1  # at rest; the last impact did not rebound
        else:
            s, vr = ti - impacts[k - 1], e**k * v1
            h[i], v[i], n[i] = vr * s - g * s**2 / 2, vr - g * s, k
    return h, v, n


# --------------------------------------------------------------------------- model descriptions
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("model", NEW_MODELS + ["Mass1"])
def test_declared_event_and_derivative_capabilities(version: str, model: str) -> None:
    md = read_model_description(str(library.bundled_fmu(version + model)))
    assert md.numberOfEventIndicators == (1 if model == "BouncingBall" else 0)
    assert md.modelExchange is not None
    cs = md.coSimulation
    if version:
        assert cs.hasEventMode == (model in EVENT_MODELS)
        assert cs.providesIntermediateUpdate and cs.canReturnEarlyAfterIntermediateUpdate
    else:
        assert cs.canInterpolateInputs and cs.maxOutputDerivativeOrder == 0
        for interface in (cs, md.modelExchange):
            assert interface.providesDirectionalDerivative == (model == "Algebraic")


def test_fmi3_directional_derivative_flag_is_the_plural_attribute() -> None:
    """FMI 3.0 spells it providesDirectionalDerivatives (fmpy 0.3 reads only the FMI 2 name)."""
    import zipfile

    with zipfile.ZipFile(library.bundled_fmu("fmi3/Algebraic")) as zf:
        xml = zf.read("modelDescription.xml").decode()
    assert xml.count('providesDirectionalDerivatives="true"') == 2  # ME and CS


def test_event_mode_on_an_fmu_without_events_fails_to_instantiate(tmp_path: Path) -> None:
    messages: list[str] = []
    with pytest.raises(Exception, match="Failed to instantiate"):  # noqa: B017 (fmpy's type)
        Fmu(
            "fmi3/Mass1",
            tmp_path,
            eventModeUsed=True,
            logMessage=lambda env, status, cat, msg: messages.append(msg.decode()),
        )
    assert any("eventModeUsed" in m for m in messages), messages


# --------------------------------------------------------------------------- BouncingBall
@pytest.mark.parametrize("version", VERSIONS)
def test_bouncing_ball_model_exchange_bounce_times(version: str) -> None:
    """fmpy's CVode locates the zero crossings of the event indicator h; the FMU reflects v.
    Tolerance: CVode at rtol 1e-10 places each root to ~1e-9 s, and the error of an impact time
    carries into the next flight (observed 2.4e-7 s after 27 bounces): 1e-6 s. A wrong
    restitution law (e.g. e^2) would be off by > 0.1 s at the second bounce."""
    res = simulate_fmu(
        str(library.bundled_fmu(version + "BouncingBall")),
        fmi_type="ModelExchange",
        solver="CVode",
        relative_tolerance=1e-10,
        output_interval=0.01,
        stop_time=5.0,
    )
    expected = bounce_times()
    n = res["bounces"]
    changes = np.nonzero(np.diff(n))[0] + 1  # record_events: the row after each event
    assert n[-1] == len(expected) - 1  # every impact but the resting one rebounds
    np.testing.assert_allclose(res["time"][changes], expected[:-1], rtol=0, atol=1e-6)
    assert np.all(res["h"] > -1e-9)  # never through the ground
    after_rest = res["time"] > expected[-1] + 1e-3
    assert np.all(res["h"][after_rest] == 0.0) and np.all(res["v"][after_rest] == 0.0)


@pytest.mark.parametrize("step", [0.01, 0.25])
@pytest.mark.parametrize("version", VERSIONS)
def test_bouncing_ball_co_simulation_matches_closed_form(version: str, step: float) -> None:
    """Co-Simulation locates each crossing inside the step (several per step at 0.25 s) and
    continues. RK4 is exact for constant acceleration, so what remains is the bisection width
    (1e-12 s, a velocity error g*1e-12 per impact) and round-off: h within 1e-9 m, v within
    1e-8 m/s (observed 2e-11, 5e-10). A missed or late bounce shows as >= 1e-3."""
    res = simulate_fmu(
        str(library.bundled_fmu(version + "BouncingBall")),
        fmi_type="CoSimulation",
        output_interval=step,
        stop_time=5.0,
    )
    h, v, n = ball_state(res["time"])
    np.testing.assert_allclose(res["h"], h, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res["v"], v, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(res["bounces"], n)


def test_bouncing_ball_fmi3_event_mode_returns_at_every_impact(tmp_path: Path) -> None:
    """eventModeUsed + earlyReturnAllowed: doStep returns at each impact (eventHandlingNeeded,
    earlyReturn, lastSuccessfulTime = the impact) before handling it; the importer's
    fmi3UpdateDiscreteStates reflects the velocity (valuesOfContinuousStatesChanged)."""
    ball = Fmu("fmi3/BouncingBall", tmp_path, eventModeUsed=True, earlyReturnAllowed=True)
    ball.initialize()
    ball.fmu.updateDiscreteStates()  # initial event iteration: the importer's job here
    ball.fmu.enterStepMode()
    t, step, impacts = 0.0, 0.1, []
    while t < 5.0 - 1e-12:
        event, terminate, early, last = ball.fmu.doStep(t, min(step, 5.0 - t))
        assert not terminate
        if event:
            assert early == (last < t + step - 1e-15)
            assert -1e-9 < ball.get("h") <= 0.0  # just past the crossing, not yet reflected
            v_before = ball.get("v")
            ball.fmu.enterEventMode()
            _, _, _, changed, _, _ = ball.fmu.updateDiscreteStates()
            ball.fmu.enterStepMode()
            assert changed and ball.get("h") == 0.0
            assert ball.get("v") == pytest.approx(-E * v_before if -E * v_before >= V_MIN else 0)
            impacts.append(last)
        t = last
    expected = bounce_times()
    # bisection to 1e-12 s per impact, RK4 exact for the parabola: 1e-10 s over 28 impacts
    np.testing.assert_allclose(impacts, expected, rtol=0, atol=1e-10)
    assert ball.get("bounces") == len(expected) - 1
    ball.free()


@pytest.mark.parametrize("version", VERSIONS)
def test_bouncing_ball_start_on_the_ground_rests_at_once(version: str) -> None:
    """h0 = 0: the ball leaves the ground downward at once (a crossing from z = 0 to z < 0),
    the rebound is below v_min, so it rests: no bounce, no fall through the ground."""
    res = simulate_fmu(
        str(library.bundled_fmu(version + "BouncingBall")),
        start_values={"h0": 0.0},
        stop_time=1.0,
        output_interval=0.1,
    )
    assert np.all(res["h"] == 0.0) and np.all(res["v"] == 0.0) and np.all(res["bounces"] == 0)


# --------------------------------------------------------------------------- Timer
@pytest.mark.parametrize("version", VERSIONS)
def test_timer_model_exchange_jumps_exactly_at_t_event(version: str) -> None:
    """nextEventTime makes fmpy stop at t_event: the rows before and after the event are both at
    t_event, with y0 before and y1 after (non-default values, off the output grid)."""
    t_event, y0, y1 = 0.537, -2.0, 3.0
    res = simulate_fmu(
        str(library.bundled_fmu(version + "Timer")),
        fmi_type="ModelExchange",
        start_values={"t_event": t_event, "y0": y0, "y1": y1},
        output_interval=0.02,
    )
    at = np.nonzero(res["time"] == t_event)[0]
    assert len(at) == 2
    assert res["y"][at[0]] == y0 and res["y"][at[1]] == y1
    assert np.all(res["y"][res["time"] < t_event] == y0)
    assert np.all(res["y"][res["time"] > t_event] == y1)
    assert res["events"][-1] == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_timer_co_simulation_handles_the_event_inside_the_step(version: str) -> None:
    """Without event mode the FMU steps exactly to t_event and handles it: communication points
    before t_event see y0, from t_event on y1 (t_event on a communication point included)."""
    for t_event in (0.537, 0.5):
        res = simulate_fmu(
            str(library.bundled_fmu(version + "Timer")),
            fmi_type="CoSimulation",
            start_values={"t_event": t_event},
            output_interval=0.02,
        )
        # communication points are sums of 0.02: t_event = 0.5 may be 0.5 +- 1 ulp
        before = res["time"] < t_event - 1e-12
        np.testing.assert_array_equal(res["y"], np.where(before, 0.0, 1.0))


def test_timer_fmi3_event_mode_returns_at_t_event(tmp_path: Path) -> None:
    timer = Fmu("fmi3/Timer", tmp_path, eventModeUsed=True, earlyReturnAllowed=True)
    timer.initialize(t_event=0.537)
    timer.fmu.updateDiscreteStates()
    timer.fmu.enterStepMode()
    t = 0.0
    while True:
        event, terminate, early, last = timer.fmu.doStep(t, 0.02)
        if event:
            break
        t = last
    assert early and last == 0.537 and timer.get("y") == 0.0
    timer.fmu.enterEventMode()
    need, terminate, _, changed, defined, _ = timer.fmu.updateDiscreteStates()
    assert not need and not terminate and not changed
    assert defined  # the next time event: t_terminate (1e30, never in practice)
    assert timer.get("y") == 1.0 and timer.get("events") == 1
    timer.free()


@pytest.mark.parametrize("version", VERSIONS)
def test_timer_event_at_the_start_time_is_handled_by_the_initial_event_iteration(
    version: str, tmp_path: Path
) -> None:
    """t_event = start time: y1 right after initialization, in Co-Simulation (the FMU does the
    initial event iteration) and Model Exchange (the importer's first NewDiscreteStates)."""
    cs = Fmu(version + "Timer", tmp_path / "cs")
    cs.initialize(t_event=0.0)
    assert cs.get("y") == 1.0 and cs.get("events") == 1
    cs.free()
    me = Fmu(version + "Timer", tmp_path / "me", interface="ModelExchange")
    me.initialize(t_event=0.0)
    update = me.fmu.updateDiscreteStates if me.fmi3 else me.fmu.newDiscreteStates
    need, terminate, _, _, defined, next_time = update()
    assert not need and not terminate and defined and next_time == 1e30
    assert me.get("y") == 1.0 and me.get("events") == 1
    me.free()


def test_timer_terminates_fmi2_co_simulation_with_discard(tmp_path: Path) -> None:
    """FMI 2.0: the step over t_terminate ends there with fmi2Discard; fmi2Terminated is true
    and fmi2LastSuccessfulTime is t_terminate."""
    timer = Fmu("Timer", tmp_path)
    timer.initialize(t_terminate=0.73)
    t = 0.0
    with pytest.raises(FMICallException) as info:
        while t < 1.0:
            timer.fmu.doStep(t, 0.02)
            t += 0.02
    assert info.value.status == 2  # fmi2Discard
    assert timer.fmu.getBooleanStatus(fmi2Terminated)
    assert timer.fmu.getRealStatus(fmi2LastSuccessfulTime) == 0.73
    assert 0.72 < t < 0.74 and timer.get("events") == 2  # the jump at 0.5, the termination
    timer.free()


@pytest.mark.parametrize("event_mode", [False, True])
def test_timer_terminates_fmi3_co_simulation(tmp_path: Path, event_mode: bool) -> None:
    timer = Fmu("fmi3/Timer", tmp_path, eventModeUsed=event_mode, earlyReturnAllowed=True)
    timer.initialize(t_terminate=0.73)
    if event_mode:
        timer.fmu.updateDiscreteStates()
        timer.fmu.enterStepMode()
    t = 0.0
    while True:
        event, terminate, early, last = timer.fmu.doStep(t, 0.02)
        if event:  # event mode: the importer handles the jump and the termination request
            timer.fmu.enterEventMode()
            _, terminate, _, _, _, _ = timer.fmu.updateDiscreteStates()
            timer.fmu.enterStepMode()
        if terminate:
            break
        t = last
    assert last == 0.73 and early
    timer.free()


@pytest.mark.parametrize("version", VERSIONS)
def test_timer_model_exchange_terminates(version: str) -> None:
    res = simulate_fmu(
        str(library.bundled_fmu(version + "Timer")),
        fmi_type="ModelExchange",
        start_values={"t_terminate": 0.73},
        output_interval=0.02,
    )
    assert res["time"][-1] == 0.73


# --------------------------------------------------------------------------- VanDerPol
def _vanderpol_error(name: str, tmp_path: Path, tolerance: float | None) -> float:
    """Largest deviation of (x1, x2) from the reference at communication points 1 s apart."""
    mu, t_end, step = 1.0, 10.0, 1.0
    times = np.arange(0.0, t_end + step / 2, step)
    ref = solve_ivp(
        lambda t, x: [x[1], mu * (1 - x[0] ** 2) * x[1] - x[0]],
        (0.0, t_end),
        [2.0, 0.0],
        method="DOP853",
        rtol=1e-10,
        atol=1e-12,
        t_eval=times,
    )
    vdp = Fmu(name, tmp_path / str(tolerance))
    vdp.initialize(tolerance=tolerance)
    worst = 0.0
    for k in range(len(times)):
        if k:
            vdp.fmu.doStep(times[k - 1], step)
        x = np.array([vdp.get("x1"), vdp.get("x2")])
        worst = max(worst, float(np.max(np.abs(x - ref.y[:, k]))))
    vdp.free()
    return worst


@pytest.mark.parametrize("version", VERSIONS)
def test_vanderpol_co_simulation_integrates_at_the_importers_tolerance(
    version: str, tmp_path: Path
) -> None:
    """The CS integrator is Dormand-Prince 5(4) with steps up to 1 s, controlled by the relative
    tolerance the importer passes. At 1e-8 the global error over ~1.6 periods of the limit
    cycle stays within 100x the local tolerance (observed 6e-8): 1e-6. Without a tolerance it
    falls back to 1e-3, measurably worse (observed 1.3e-2): > 1e-4 and > 100x the 1e-8 run."""
    md = read_model_description(str(library.bundled_fmu(version + "VanDerPol")))
    assert float(md.defaultExperiment.tolerance) == 1e-6
    fine = _vanderpol_error(version + "VanDerPol", tmp_path, 1e-8)
    coarse = _vanderpol_error(version + "VanDerPol", tmp_path, None)
    assert fine < 1e-6
    assert coarse > 1e-4 and coarse > 100 * fine


# --------------------------------------------------------------------------- Algebraic
def _algebraic(version: str, tmp_path: Path, interface: str, **params) -> Fmu:
    alg = Fmu(version + "Algebraic", tmp_path / f"{interface}{len(params)}", interface=interface)
    alg.initialize(**params)
    if interface == "ModelExchange":
        (alg.fmu.updateDiscreteStates if alg.fmi3 else alg.fmu.newDiscreteStates)()
        alg.fmu.enterContinuousTimeMode()
    return alg


PARAMS = [
    {"c0": 0.5, "c1": 2.0, "c2": -3.0, "c11": 0.7, "c22": -0.4},
    {"c0": 5.0, "c1": 0.3, "c2": -0.2, "c11": -1.0, "c22": -1.0, "root": True, "sign": -1},
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("interface", ["CoSimulation", "ModelExchange"])
@pytest.mark.parametrize("version", VERSIONS)
def test_algebraic_directional_derivatives_match_finite_differences(
    version: str, interface: str, params: dict, tmp_path: Path
) -> None:
    """dy/du1, dy/du2 and a combined seed against central differences with h = 1e-6: the
    truncation error h^2 |y'''| / 6 ~ 1e-12 and round-off eps |y| / h ~ 1e-10: 1e-7."""
    alg = _algebraic(version, tmp_path, interface, **params)
    u = np.array([0.7, -1.1])
    vr_y, vr_u = alg.vr["y"], [alg.vr["u1"], alg.vr["u2"]]

    def y(point) -> float:
        alg.set(u1=point[0], u2=point[1])
        return alg.get("y")

    q = sum(
        params.get(k, 0.0) * f
        for k, f in zip(
            ["c0", "c1", "c2", "c11", "c22"], [1, u[0], u[1], u[0] ** 2, u[1] ** 2], strict=True
        )
    )
    assert y(u) == pytest.approx(params.get("sign", 1) * math.sqrt(q) if "root" in params else q)
    h = 1e-6
    for seed in ([1.0, 0.0], [0.0, 1.0], [0.3, -2.0]):
        s = np.array(seed)
        fd = (y(u + h * s) - y(u - h * s)) / (2 * h)
        y(u)
        (dy,) = alg.fmu.getDirectionalDerivative([vr_y], vr_u, seed)
        assert dy == pytest.approx(fd, abs=1e-7)
    alg.free()


@pytest.mark.parametrize("version", VERSIONS)
def test_models_without_directional_derivatives_refuse_them(version: str, tmp_path: Path) -> None:
    mass = Fmu(version + "Mass1", tmp_path)
    mass.initialize()
    with pytest.raises(FMICallException):
        mass.fmu.getDirectionalDerivative([mass.vr["x1"]], [mass.vr["F"]], [1.0])
    mass.fmu.freeInstance()


@pytest.mark.parametrize("version", VERSIONS)
def test_algebraic_loop_of_three_fmus_by_newton_with_directional_derivatives(
    version: str, tmp_path: Path
) -> None:
    """a + b + c = 0, 2a - 3b + 2c = 9, a^2 + b^2 + c^2 = 5, one equation per FMU:

        A: a = -b - c      B: b = (2a + 2c - 9)/3      C: c = +sqrt(5 - a^2 - b^2)
           b, c -> [A] -> a -> [B] -> b -> [C] -> c -> (back to A and B)

    Newton on r(a, b, c) = (a - A(b, c), b - B(a, c), c - C(a, b)) with the Jacobian from the
    FMUs' directional derivatives converges quadratically. Closed form: b = -9/5, a + c = 9/5,
    ac = 0.74, so c = (1.8 + sqrt(0.28))/2 on the + root branch."""
    fmus = {
        "A": _algebraic(version, tmp_path / "A", "CoSimulation", c1=-1.0, c2=-1.0),
        "B": _algebraic(version, tmp_path / "B", "CoSimulation", c0=-3.0, c1=2 / 3, c2=2 / 3),
        "C": _algebraic(
            version, tmp_path / "C", "CoSimulation", c0=5.0, c1=0.0, c11=-1.0, c22=-1.0, root=True
        ),
    }
    inputs = {"A": (1, 2), "B": (0, 2), "C": (0, 1)}  # which unknowns feed u1, u2
    x = np.array([0.0, -1.0, 1.0])  # (a, b, c)
    for _ in range(20):
        r, jac = np.zeros(3), np.eye(3)
        for i, name in enumerate("ABC"):
            f, (j1, j2) = fmus[name], inputs[name]
            f.set(u1=x[j1], u2=x[j2])
            r[i] = x[i] - f.get("y")
            for j, vr in ((j1, f.vr["u1"]), (j2, f.vr["u2"])):
                jac[i, j] -= f.fmu.getDirectionalDerivative([f.vr["y"]], [vr], [1.0])[0]
        if np.max(np.abs(r)) < 1e-14:
            break
        x -= np.linalg.solve(jac, r)
    a, b, c = x
    assert abs(a + b + c) < 1e-12 and abs(2 * a - 3 * b + 2 * c - 9) < 1e-12
    assert abs(a * a + b * b + c * c - 5) < 1e-12
    np.testing.assert_allclose(x, [(1.8 - math.sqrt(0.28)) / 2, -1.8, (1.8 + math.sqrt(0.28)) / 2])
    for f in fmus.values():
        f.free()


# --------------------------------------------------------------------------- input derivatives
M1, K1, C1 = 1.0, 10.0, 0.2  # Mass1 defaults


def mass1_polynomial_force(times: np.ndarray, a0: float, a1: float, a2: float) -> np.ndarray:
    """x1(t) of m x'' + c x' + k x = a0 + a1 t + a2 t^2 from rest: the linear system augmented
    with the force and its derivative, z = (x, v, F, F', 1), z' = A z, z(t) = expm(A t) z(0)."""
    a = np.zeros((5, 5))
    a[0, 1] = 1.0
    a[1, 0], a[1, 1], a[1, 2] = -K1 / M1, -C1 / M1, 1.0 / M1
    a[2, 3] = 1.0
    a[3, 4] = 2.0 * a2
    z0 = np.array([0.0, 0.0, a0, a1, 1.0])
    return np.array([(expm(a * t) @ z0)[0] for t in times])


def _mass1_driven(tmp_path: Path, coefficients, orders: tuple[int, ...], steps: int, h: float):
    """Mass1 (FMI 2.0 CS); at each communication point t the importer sets F_ext(t) and, for
    each order in `orders`, its time derivative of that order. x1 at every point."""
    a0, a1, a2 = coefficients
    mass = Fmu("Mass1", tmp_path / "".join(map(str, orders)))
    mass.initialize()
    vr = mass.vr["F_ext"]
    xs = [mass.get("x1")]
    for k in range(steps):
        t = k * h
        mass.set(F_ext=a0 + a1 * t + a2 * t * t)
        for order in orders:
            mass.fmu.setRealInputDerivatives(
                [vr], [order], [a1 + 2 * a2 * t if order == 1 else 2 * a2]
            )
        mass.fmu.doStep(t, h)
        xs.append(mass.get("x1"))
    mass.free()
    return np.array(xs)


@pytest.mark.parametrize(
    ("coefficients", "orders"),
    [((0.5, 2.0, 0.0), (1,)), ((0.5, 2.0, -1.5), (1, 2))],
    ids=["ramp", "parabola"],
)
def test_fmi2_input_derivatives_deliver_a_polynomial_input(
    tmp_path: Path, coefficients, orders
) -> None:
    """F_ext = a0 + a1 t (+ a2 t^2) given at 0.1 s communication points with its derivatives is
    extrapolated exactly inside the RK4 sub-steps (1e-4 s), so x1 matches the closed form to
    RK4's error (~(w h)^4 w t / 120 ~ 1e-14) and round-off: 1e-10. Without the derivatives the
    force is held for 0.1 s (a lag of ~0.05 s): off by > 1e-3."""
    h, steps = 0.1, 20
    times = np.arange(steps + 1) * h
    exact = mass1_polynomial_force(times, *coefficients)
    with_derivatives = _mass1_driven(tmp_path, coefficients, orders, steps, h)
    held = _mass1_driven(tmp_path, coefficients, (), steps, h)
    np.testing.assert_allclose(with_derivatives, exact, rtol=0, atol=1e-10)
    assert np.max(np.abs(held - exact)) > 1e-3


def test_fmi2_input_derivatives_apply_to_one_step_only(tmp_path: Path) -> None:
    """A slope set once drives only the next step: after it the input holds the value it reached
    (the FMU's input is u(t) + du*h at the end of the step) and further steps keep it."""
    h, slope = 0.1, 2.0
    mass = Fmu("Mass1", tmp_path)
    mass.initialize()
    mass.fmu.setRealInputDerivatives([mass.vr["F_ext"]], [1], [slope])
    mass.fmu.doStep(0.0, h)
    assert mass.get("F_ext") == pytest.approx(slope * h, abs=1e-15)
    mass.fmu.doStep(h, h)
    mass.fmu.doStep(2 * h, h)
    x = mass.get("x1")
    mass.free()
    # closed form: ramp on [0, h], then the constant force slope*h; the augmented system
    # z = (x, v, F, 1) with F' = slope on the first interval and 0 afterwards
    a = np.zeros((4, 4))
    a[0, 1], a[1, 0], a[1, 1], a[1, 2] = 1.0, -K1 / M1, -C1 / M1, 1.0 / M1
    ramp, hold = a.copy(), a.copy()
    ramp[2, 3] = slope
    z = expm(hold * 2 * h) @ expm(ramp * h) @ np.array([0.0, 0.0, 0.0, 1.0])
    assert x == pytest.approx(z[0], abs=1e-12)


def test_fmi2_input_derivatives_refuse_bad_orders_and_non_inputs(tmp_path: Path) -> None:
    mass = Fmu("Mass1", tmp_path)
    mass.initialize()
    for vr, order in ((mass.vr["F_ext"], 3), (mass.vr["x1"], 1), (mass.vr["k1"], 1)):
        with pytest.raises(FMICallException):
            mass.fmu.setRealInputDerivatives([vr], [order], [1.0])
    mass.fmu.freeInstance()


# --------------------------------------------------------------------------- intermediate update
def test_fmi3_intermediate_update_sets_inputs_at_internal_steps(tmp_path: Path) -> None:
    """FMI 3.0's counterpart of input derivatives: the FMU calls back after every internal RK4
    step (1e-4 s) of a 0.1 s communication step, and the importer sets F_ext = a1 t there. The
    force is then held for one internal step, so x1 lags the exact response by ~5e-5 s:
    |dx| <= max|v| 5e-5 ~ 1e-5; 2e-5. Without the callback the force is held for 0.1 s: > 1e-3.
    The callback comes at internal step times only (not at the communication point)."""
    h, steps, slope = 0.1, 10, 2.0
    exact = mass1_polynomial_force(np.arange(steps + 1) * h, 0.0, slope, 0.0)
    calls: list[float] = []
    holder: dict[str, Fmu] = {}

    def update(env, t, set_requested, get_allowed, finished, can_return, early, early_time):
        calls.append(t)
        assert set_requested and finished
        mass = holder["fmu"]
        mass.fmu.setFloat64([mass.vr["F_ext"]], [slope * t])

    results = {}
    for name, callback in (("update", update), ("none", None)):
        mass = Fmu("fmi3/Mass1", tmp_path / name, intermediateUpdate=callback)
        holder["fmu"] = mass
        mass.initialize()
        xs = [mass.get("x1")]
        for k in range(steps):
            mass.set(F_ext=slope * k * h)
            event, terminate, early, last = mass.fmu.doStep(k * h, h)
            assert not (event or terminate or early) and last == pytest.approx((k + 1) * h)
            xs.append(mass.get("x1"))
        mass.free()
        results[name] = np.array(xs)
    assert np.max(np.abs(results["update"] - exact)) < 2e-5
    assert np.max(np.abs(results["none"] - exact)) > 1e-3
    per_step = round(h / 1e-4) - 1  # Mass1 max_step 1e-4 s; none at the step end
    assert len(calls) == steps * per_step
    assert calls[0] == pytest.approx(1e-4) and calls[per_step - 1] == pytest.approx(h - 1e-4)


def test_fmi3_intermediate_update_can_ask_for_an_early_return(tmp_path: Path) -> None:
    """The importer requests an early return at 0.03 s (earlyReturnAllowed): doStep ends there
    with earlyReturn and lastSuccessfulTime = 0.03; the next step starts from that time."""

    def update(env, t, set_requested, get_allowed, finished, can_return, early, early_time):
        assert can_return
        early[0] = True
        early_time[0] = 0.03

    mass = Fmu("fmi3/Mass1", tmp_path, earlyReturnAllowed=True, intermediateUpdate=update)
    mass.initialize(F_ext=1.0)
    event, terminate, early, last = mass.fmu.doStep(0.0, 0.1)
    assert early and not event and last == pytest.approx(0.03, abs=1e-15)
    mass.fmu.doStep(last, 0.1)  # from the early-return time on
    mass.free()


def test_fmi3_intermediate_update_refuses_parameters(tmp_path: Path) -> None:
    """Only inputs may be set in intermediate update mode: setting the tunable k1 there is an
    error (which, as any fmi3Error, ends the instance: doStep fails)."""
    refused: list[int] = []

    def update(env, t, set_requested, get_allowed, finished, can_return, early, early_time):
        if refused:
            return
        try:
            mass.fmu.setFloat64([mass.vr["k1"]], [5.0])
        except FMICallException as error:
            refused.append(error.status)

    mass = Fmu("fmi3/Mass1", tmp_path, intermediateUpdate=update)
    mass.initialize()
    with pytest.raises(FMICallException):
        mass.fmu.doStep(0.0, 0.01)
    assert refused == [3]  # fmi3Error
    mass.fmu.freeInstance()


@pytest.mark.parametrize("version", VERSIONS)
def test_bouncing_ball_height_follows_h0_in_initialization_mode(
    version: str, tmp_path: Path
) -> None:
    """h is initial="calculated" from h0: readable (= h0) already in initialization mode."""
    ball = Fmu(version + "BouncingBall", tmp_path)
    if ball.fmi3:
        ball.fmu.enterInitializationMode(startTime=0.0)
    else:
        ball.fmu.setupExperiment(startTime=0.0)
        ball.fmu.enterInitializationMode()
    ball.set(h0=2.5)
    assert ball.get("h") == 2.5
    ball.fmu.exitInitializationMode()
    assert ball.get("h") == 2.5
    ball.free()
