"""Physics of the engine over the bundled FMUs, against independent references computed here:
the dual-mass oscillator against the matrix exponential of its linear ODE, a multirate chain of
first-order lags against its exact discrete recursion and the continuous closed form, and a
timed force step on Mass1 against the closed-form step response of a damped oscillator.

    mass1 --x1, v1--> mass2
      ^                 |
      +-------F---------+
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from engine_helpers import bundled, dual_mass_yaml, load_yaml, simulate
from scipy.linalg import expm

from cosim.io.yaml import load_system
from cosim.resolve.resolver import resolve_system

# bundled model parameters (fmus/models/Mass1, Mass2)
m1, k1, c1 = 1.0, 10.0, 0.2
m2, k2, c2, kc, cc = 1.0, 10.0, 0.5, 20.0, 0.3
Z0 = np.array([0.0, 0.0, 0.5, 0.0])  # x1, v1, x2, v2 start values
A = np.array(
    [
        [0, 1, 0, 0],
        [-(k1 + kc) / m1, -(c1 + cc) / m1, kc / m1, cc / m1],
        [0, 0, 0, 1],
        [kc / m2, cc / m2, -(k2 + kc) / m2, -(c2 + cc) / m2],
    ]
)
LABELS = ["mass1.x1", "mass1.v1", "mass2.x2", "mass2.v2"]
STEPS = (1e-2, 1e-3, 1e-4)
HORIZON = 3.0


def exact(times: np.ndarray, z0=Z0, t0: float = 0.0, force: float = 0.0) -> np.ndarray:
    """z(t) = e^{A(t-t0)} z0 + A^-1 (e^{A(t-t0)} - I) b for a constant force on mass 1."""
    b = np.array([0.0, force / m1, 0.0, 0.0])
    out = []
    for t in times:
        E = expm(A * (t - t0))
        out.append(E @ z0 + np.linalg.solve(A, (E - np.eye(4)) @ b))
    return np.array(out)


def max_error(rec, reference: np.ndarray) -> float:
    got = np.column_stack([rec[label] for label in LABELS])
    return float(np.abs(got - reference).max())


_runs: dict = {}


def dual_mass(tmp_path_factory, fmi: str, algorithm: str, step: float):
    key = (fmi, algorithm, step)
    if key not in _runs:
        tmp = tmp_path_factory.mktemp("dual")
        text = dual_mass_yaml(fmi, algorithm=algorithm, step=step, stop=HORIZON)
        _runs[key] = simulate(load_yaml(tmp, text))
    return _runs[key]


def errors(tmp_path_factory, fmi: str, algorithm: str) -> list[float]:
    out = []
    for h in STEPS:
        rec = dual_mass(tmp_path_factory, fmi, algorithm, h)
        # every run records on the same 1e-2 s grid, so the errors are comparable
        assert len(rec.time) == round(HORIZON / 1e-2) + 1
        out.append(max_error(rec, exact(rec.time)))
    return out


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_dual_mass_converges_at_first_order(tmp_path_factory, fmi, algorithm):
    """Both masters hold the coupling inputs constant over a communication step (zero-order
    hold), a local error O(h^2) per step and a global error O(h); the FMUs' internal RK4 with
    sub-steps <= 1e-4 s contributes < 1e-10. So the max-abs error over [0, 3] s must fall
    tenfold per tenfold smaller step: observed order log10(e(h)/e(h/10)) in [0.8, 1.2]
    (a second-order or a broken scheme lands outside), and the error itself must be small."""
    e = errors(tmp_path_factory, fmi, algorithm)
    orders = [math.log10(e[i] / e[i + 1]) for i in range(len(e) - 1)]
    assert all(0.8 <= p <= 1.2 for p in orders), (e, orders)
    assert e[-1] < 1e-2  # amplitude 0.5 m: at h = 1e-4 the solution is within 2 %


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_gauss_seidel_at_least_as_accurate_as_jacobi(tmp_path_factory, fmi):
    gs = errors(tmp_path_factory, fmi, "gauss-seidel")
    jac = errors(tmp_path_factory, fmi, "jacobi")
    assert all(g <= j for g, j in zip(gs, jac, strict=True)), (gs, jac)


@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_fmi3_and_fmi2_versions_agree(tmp_path_factory, algorithm):
    """Same C model code, same master: only floating-point rounding may differ (1e-12 m)."""
    r2 = dual_mass(tmp_path_factory, "2.0", algorithm, 1e-3)
    r3 = dual_mass(tmp_path_factory, "3.0", algorithm, 1e-3)
    np.testing.assert_array_equal(r2.time, r3.time)
    for label in LABELS:
        np.testing.assert_allclose(r3[label], r2[label], rtol=0, atol=1e-12)


def test_example_system_with_its_event_converges(tmp_path):
    """systems/dual_mass_oscillator.yaml (F_ext := 10 N at t = 5 s), Gauss-Seidel, to t = 7 s,
    against the exact forced solution; first order across h = 1e-3 -> 1e-4 s."""
    from pathlib import Path

    spec = load_system(Path(__file__).parents[1] / "systems" / "dual_mass_oscillator.yaml")
    errs = []
    for h in (1e-3, 1e-4):
        comps = {n: dataclasses.replace(c, step=None) for n, c in spec.components.items()}
        sim = dataclasses.replace(spec.simulation, stop=7.0, step=h)
        rec_spec = dataclasses.replace(spec.record, variables=None)
        rec = simulate(
            resolve_system(
                dataclasses.replace(spec, simulation=sim, components=comps, record=rec_spec)
            )
        )
        t = rec.time
        assert t[-1] == pytest.approx(7.0)
        before, after = t <= 5.0, t > 5.0
        ref = np.empty((len(t), 4))
        ref[before] = exact(t[before])
        ref[after] = exact(t[after], z0=exact([5.0])[0], t0=5.0, force=10.0)
        errs.append(max_error(rec, ref))
    order = math.log10(errs[0] / errs[1])
    assert 0.8 <= order <= 1.2, errs


# --------------------------------------------------------------------------- multirate
MULTIRATE = """\
name: multirate
simulation: {{start: 0.0, stop: 2.0, step: 1.0e-3, algorithm: gauss-seidel}}
components:
  fast: {{fmu: {fo}, parameters: {{T: {ta}, u: 1.0}}}}
  slow: {{fmu: {fo}, parameters: {{T: {tb}}}, step: 1.0e-2}}
connections:
  - {{from: fast.y, to: slow.u}}
record: {{variables: [fast.y, slow.y]}}
"""


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_multirate_chain_of_first_order_lags(tmp_path, fmi):
    """
    fast (T=0.5 s, u=1, every 1 ms) --y--> slow (T=1 s, every 10 ms)

    fast.y(t) = 1 - exp(-t/0.5) (constant input: the FMU's RK4 is exact to ~1e-15).
    Gauss-Seidel, fast first: at t_k = k*H (H = 10 ms) the slow lag takes fast.y(t_k + 1 ms)
    and holds it for H: y_{k+1} = a*y_k + (1 - a)*u_k, a = exp(-H/T). Sample and hold on its
    own grid: y_{k+1} is published when the global time reaches t_{k+1}, so the row at t shows
    y_m with m = floor(t/H) (the last completed slow step), never a value from its future.
    Compared to 1e-9 (RK4 with 1e-2 s sub-steps on exp(-t): local error ~ (H/T)^5/120 ~ 1e-12
    per step).
    The continuous solution for a continuous input differs by at most the input's change over
    one slow step, H * max|d fast.y/dt| = 0.01 * 2, plus the hold of the output over one slow
    step, H * max|d slow.y/dt| <= H * 1/T (0 <= slow.y <= fast.y <= 1): checked too.
    """
    ta, tb, h, big_h = 0.5, 1.0, 1e-3, 1e-2
    fo = bundled(("fmi3/" if fmi == "3.0" else "") + "FirstOrder")
    rec = simulate(load_yaml(tmp_path, MULTIRATE.format(fo=fo, ta=ta, tb=tb)))
    t, fast, slow = rec.time, rec["fast.y"], rec["slow.y"]
    np.testing.assert_allclose(fast, 1 - np.exp(-t / ta), rtol=0, atol=1e-12)

    a = math.exp(-big_h / tb)
    y = [0.0]  # y_k = slow.y(k*H), exact discrete recursion of the held schedule
    for k in range(round(t[-1] / big_h)):
        y.append(a * y[-1] + (1 - a) * (1 - math.exp(-(k * big_h + h) / ta)))
    expected = np.array([y[math.floor(tj / big_h + 1e-9)] for tj in t])
    np.testing.assert_allclose(slow, expected, rtol=0, atol=1e-9)
    continuous = 1 - (ta * np.exp(-t / ta) - tb * np.exp(-t / tb)) / (ta - tb)
    assert np.abs(slow - continuous).max() <= big_h / ta + big_h / tb


SLOW_LAG = """\
name: slow_lag
simulation: {{start: 0.0, stop: 0.009, step: 1.0e-3, algorithm: {algorithm}}}
components:
  lag: {{fmu: {fo}, parameters: {{T: 1.0, u: 1.0}}, step: 3.0e-3}}
record: {{variables: [lag.y]}}
"""


@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_slow_component_holds_its_output_until_its_step_ends(tmp_path, fmi, algorithm):
    """FirstOrder (T = 1 s, u = 1) with a 3 ms step on a 1 ms communication step: the rows at
    1 and 2 ms show y(0) = 0, the row at 3 ms shows y(3 ms) = 1 - exp(-0.003), held at 4 and
    5 ms, then y(6 ms) and y(9 ms). One RK4 step per 3 ms on exp(-t/T): local error
    (h/T)^5/120 ~ 2e-15, so 1e-13. Publishing y(3 ms) one communication step early would put
    3e-3 at t = 2 ms."""
    fo = bundled(("fmi3/" if fmi == "3.0" else "") + "FirstOrder")
    rec = simulate(load_yaml(tmp_path, SLOW_LAG.format(fo=fo, algorithm=algorithm)))
    np.testing.assert_allclose(rec.time, np.arange(10) * 1e-3, rtol=0, atol=1e-12)
    y = rec["lag.y"]
    held = [1 - math.exp(-3e-3 * (n // 3)) for n in range(10)]
    assert y[1] == y[2] == y[0] == 0.0
    assert y[3] == pytest.approx(1 - math.exp(-0.003), abs=1e-13)
    np.testing.assert_allclose(y, held, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- events
MASS1_EVENT = """\
name: mass1_step
simulation: {{start: 0.0, stop: 3.0, step: 1.0e-3}}
components:
  mass1: {{fmu: {fmu}}}
record: {{variables: [mass1.x1, mass1.v1]}}
events:
  - {{at: {te}, set: {{mass1.F_ext: {force}}}}}
"""


def step_response(t: np.ndarray, te: float, force: float) -> np.ndarray:
    """x1 of m*x'' + c*x' + k*x = F*1(t - te), at rest at 0 before te (underdamped)."""
    wn = math.sqrt(k1 / m1)
    zeta = c1 / (2 * math.sqrt(k1 * m1))
    wd = wn * math.sqrt(1 - zeta**2)
    tau = np.clip(t - te, 0.0, None)
    x = (
        force
        / k1
        * (1 - np.exp(-zeta * wn * tau) * (np.cos(wd * tau) + zeta * wn / wd * np.sin(wd * tau)))
    )
    return np.where(t > te, x, 0.0)


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_timed_event_applies_at_the_right_step(tmp_path, fmi):
    """F_ext := 10 N at t = 0.5 s on Mass1 alone (F unconnected = 0). The input is constant
    over every communication step, so the co-simulation is exact up to the FMU's RK4
    (sub-steps 1e-4 s, error < 1e-10): compared to 1e-8 m. Applying the event one step late
    would shift x1 by up to max|v1| * 1 ms ~ 3e-3 m, far beyond the tolerance."""
    te, force = 0.5, 10.0
    fmu = bundled(("fmi3/" if fmi == "3.0" else "") + "Mass1")
    rec = simulate(load_yaml(tmp_path, MASS1_EVENT.format(fmu=fmu, te=te, force=force)))
    t = rec.time
    np.testing.assert_allclose(rec["mass1.x1"], step_response(t, te, force), rtol=0, atol=1e-8)
    late = step_response(t, te + 1e-3, force)
    assert np.abs(late - step_response(t, te, force)).max() > 100 * 1e-8


# --------------------------------------------------------------------------- allocation
def test_step_loop_allocates_nothing_per_step(tmp_path):
    """tracemalloc over 500 and over 5,000 further steps (no observers): the net memory
    allocated does not grow with the number of steps (only per-call bookkeeping remains)."""
    import tracemalloc

    from cosim.engine.execution import Execution

    system = load_yaml(tmp_path, dual_mass_yaml("2.0", stop=20.0))
    with Execution(system) as ex:
        ex.initialize()
        ex.run_until(ex.plan.tick(1000))  # warm-up: caches, first-call allocations

        def net(steps: int) -> int:
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            ex.run_until(ex.plan.tick(ex.step_count + steps))
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            return sum(s.size_diff for s in after.compare_to(before, "filename"))

        small, large = net(500), net(5_000)
    # one byte per step would already be 4,500 B more for the larger run
    assert large - small < 1024, (small, large)
    assert large < 8192, large


# --------------------------------------------------------------------------- adapters
@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_adapter_fmu_state_roundtrip(tmp_path, fmi):
    """get state at t = 0.1 s, step to 0.2 s, restore, step again: the same x1 bit for bit."""
    import ctypes

    from cosim.fmu.adapter import ValueType
    from cosim.fmu.archive import extract, read_model_description
    from cosim.fmu.fmi2 import Fmi2Slave
    from cosim.fmu.fmi3 import Fmi3Slave

    path = bundled(("fmi3/" if fmi == "3.0" else "") + "Mass1")
    md = read_model_description(path)
    cls = Fmi3Slave if fmi == "3.0" else Fmi2Slave
    token = md.instantiationToken if fmi == "3.0" else md.guid
    vr = {v.name: v.valueReference for v in md.modelVariables}
    slave = cls("m", extract(path, tmp_path / "fmu"), md.coSimulation.modelIdentifier, token)
    try:
        slave.instantiate()
        slave.set_values(ValueType.F64, [vr["F_ext"]], [10.0])
        slave.enter_initialization(0.0)
        slave.exit_initialization()
        t, h = ctypes.c_double(0.0), ctypes.c_double(1e-3)
        step = slave.bind_step(t, h)
        x = (ctypes.c_double * 1)()
        get = slave.bind_get(ValueType.F64, [vr["x1"]], x)

        def advance(n0, n):
            for k in range(n0, n0 + n):
                t.value = k * 1e-3
                assert step() == 0
            assert get() == 0
            return x[0]

        advance(0, 100)
        state = slave.get_state()
        first = advance(100, 100)
        slave.set_state(state)
        assert advance(100, 100) == first
        slave.free_state(state)
        slave.terminate()
    finally:
        slave.free()


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_adapter_logging_on_with_error_categories_and_status_rules(tmp_path, fmi):
    """The adapter instantiates with loggingOn = true (FMI lets an FMU skip the logger when it
    is false), then enables only the model description's error category (Mass1 declares
    logEvents and logStatusError); an FMU error still carries its log line. FMI 2.0: the
    fmi2Terminated status is readable (false). After Fatal, not even FreeInstance is called."""
    from cosim.errors import FmuError
    from cosim.fmu.adapter import FATAL, ValueType
    from cosim.fmu.archive import extract, read_model_description
    from cosim.fmu.fmi2 import Fmi2Slave
    from cosim.fmu.fmi3 import Fmi3Slave

    path = bundled(("fmi3/" if fmi == "3.0" else "") + "Mass1")
    md = read_model_description(path)
    assert [c.name for c in md.logCategories] == ["logEvents", "logStatusError"]
    cls = Fmi3Slave if fmi == "3.0" else Fmi2Slave
    token = md.instantiationToken if fmi == "3.0" else md.guid
    vr = {v.name: v.valueReference for v in md.modelVariables}
    unzip = extract(path, tmp_path / "fmu")
    prefix = "fmi3" if fmi == "3.0" else "fmi2"

    def spy(slave, calls):
        typed, instantiate = slave.typed, slave._fmu.instantiate

        def typed_spy(name):
            function = typed(name)
            if not name.endswith(("SetDebugLogging", "FreeInstance")):
                return function

            def call(c, *args):
                if name.endswith("SetDebugLogging"):
                    on, n, cats = args
                    calls.append((name, bool(on), [cats[k] for k in range(n)]))
                else:
                    calls.append((name,))
                return function(c, *args)

            return call

        def instantiate_spy(**kwargs):
            calls.append(("instantiate", kwargs["loggingOn"]))
            return instantiate(**kwargs)

        slave.typed, slave._fmu.instantiate = typed_spy, instantiate_spy

    calls: list = []
    slave = cls("m", unzip, md.coSimulation.modelIdentifier, token, log_categories=md.logCategories)
    spy(slave, calls)
    try:
        slave.instantiate()
        assert calls == [
            ("instantiate", True),
            (f"{prefix}SetDebugLogging", True, [b"logStatusError"]),
        ]
        assert slave.log_categories == ["logStatusError"]
        slave.set_values(ValueType.F64, [vr["m1"]], [-1.0])
        slave.enter_initialization(0.0)
        with pytest.raises(FmuError) as info:
            slave.exit_initialization()
        assert any("invalid parameter m1 = -1 kg" in line for line in info.value.log)
        assert slave.may_terminate() is False  # Error: free only
    finally:
        slave.free()
    assert calls[-1] == (f"{prefix}FreeInstance",)

    calls = []
    slave = cls("m", unzip, md.coSimulation.modelIdentifier, token, log_categories=md.logCategories)
    spy(slave, calls)
    slave.instantiate()
    slave.enter_initialization(0.0)
    slave.exit_initialization()
    if fmi == "2.0":
        assert slave.wants_to_terminate() is False  # fmi2GetBooleanStatus(fmi2Terminated)
    slave.error(f"{prefix}DoStep", FATAL, 0.0)  # as if doStep had returned Fatal
    assert slave.fatal and not slave.may_terminate()
    slave.free()
    assert not any(c[0].endswith("FreeInstance") for c in calls)
