"""Model Exchange components integrated by the master, against closed forms and the exact
solution: the dual-mass oscillator (both masses ME), a bouncing ball's bounce times (state
events), a Timer's jump and termination (time events), Van der Pol against solve_ivp.

    mass1 (ME) --x1, v1--> mass2 (ME)
      ^                      |
      +----------F-----------+
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import bundled, dual_mass_yaml, load_yaml, simulate
from test_dual_mass import LABELS, exact

PREFIX = {"2.0": "", "3.0": "fmi3/"}


def me_dual_mass(fmi: str, keys: str, step: float = 1e-3) -> str:
    text = dual_mass_yaml(fmi, step=step, stop=2.0, record_interval=None)
    m2 = str(bundled(PREFIX[fmi] + "Mass2"))
    text = text.replace("parameters: {}}", f"parameters: {{}}{keys}}}")
    return text.replace(f"mass2: {{fmu: {m2}}}", f"mass2: {{fmu: {m2}{keys}}}")


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
@pytest.mark.parametrize(
    "keys", [", interface: me", ", interface: me, solver: rk4, max_step: 1.0e-3"]
)
def test_the_dual_mass_oscillator_as_model_exchange_matches_its_co_simulation(tmp_path, fmi, keys):
    rec = simulate(load_yaml(tmp_path, me_dual_mass(fmi, keys)))
    assert [c.interface for c in rec.ex.system.components] == ["me", "me"]
    got = np.column_stack([rec[label] for label in LABELS])
    e_me = np.abs(got - exact(rec.time)).max()
    cs = simulate(
        load_yaml(tmp_path, dual_mass_yaml(fmi, step=1e-3, stop=2.0, record_interval=None))
    )
    e_cs = np.abs(np.column_stack([cs[label] for label in LABELS]) - exact(cs.time)).max()
    # both are limited by the same zero-order-hold coupling error (~1e-2 at h = 1e-3): the ME
    # integration adds no error of its own beyond a fraction of it
    assert e_me < 1.5 * e_cs


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
@pytest.mark.parametrize("solver", ["cvode", "rk4"])
def test_bounce_times_of_a_bouncing_ball_match_the_closed_form(tmp_path, fmi, solver):
    g, e, h0 = 9.81, 0.8, 1.0
    step = 1e-3
    fmu = bundled(PREFIX[fmi] + "BouncingBall")
    extra = ", max_step: 1.0e-3" if solver == "rk4" else ", tolerance: 1.0e-8"
    rec = simulate(
        load_yaml(
            tmp_path,
            f"simulation: {{stop: 2.5, step: {step}}}\n"
            f"components:\n  ball: {{fmu: {fmu}, interface: me, solver: {solver}{extra}}}\n"
            "record: {variables: [ball.h, ball.bounces]}\n",
        )
    )
    v1 = math.sqrt(2 * g * h0)
    expected = [math.sqrt(2 * h0 / g)]
    for k in range(1, 4):
        expected.append(expected[-1] + 2 * e**k * v1 / g)
    bounces = rec["ball.bounces"]
    seen = [rec.time[i] for i in range(1, len(bounces)) if bounces[i] > bounces[i - 1]]
    assert len(seen) >= 4  # 0.45, 1.17, 1.75, 2.21 s
    for t_seen, t_exact in zip(seen, expected, strict=False):
        # the bounce is inside the communication step that ends at t_seen
        assert t_seen - step - 1e-6 <= t_exact <= t_seen + 1e-6
    assert np.all(rec["ball.h"] >= -1e-6)


def test_a_time_event_and_termination_inside_the_step(tmp_path):
    fmu = bundled("Timer")
    rec = simulate(
        load_yaml(
            tmp_path,
            "simulation: {stop: 1.0, step: 0.1}\n"
            f"components:\n  timer: {{fmu: {fmu}, interface: me, parameters: "
            "{t_event: 0.25, t_terminate: 0.55}}\n"
            "record: {variables: [timer.y]}\n",
        )
    )
    y = dict(zip(np.round(rec.time, 6), rec["timer.y"], strict=True))
    assert y[0.2] == 0.0 and y[0.3] == 1.0  # the jump at 0.25 is seen at the step's end
    assert rec.ex.stats.status == "stopped"
    assert rec.time[-1] == pytest.approx(0.6)


def test_van_der_pol_against_solve_ivp(tmp_path):
    from scipy.integrate import solve_ivp

    mu = 2.0
    fmu = bundled("VanDerPol")
    rec = simulate(
        load_yaml(
            tmp_path,
            "simulation: {stop: 10.0, step: 0.05}\n"
            f"components:\n  vdp: {{fmu: {fmu}, interface: me, tolerance: 1.0e-9, "
            f"parameters: {{mu: {mu}}}}}\n"
            "record: {variables: [vdp.x1, vdp.x2]}\n",
        )
    )
    sol = solve_ivp(
        lambda t, x: [x[1], mu * (1 - x[0] ** 2) * x[1] - x[0]],
        (0, 10),
        [2.0, 0.0],
        t_eval=rec.time,
        rtol=1e-12,
        atol=1e-12,
        method="DOP853",
    )
    # CVode at rtol 1e-9 (restarted at each communication point); the relaxation phases of
    # mu = 2 amplify local errors: about 1e-5 at worst over 10 s
    assert np.abs(rec["vdp.x1"] - sol.y[0]).max() < 5e-5
    assert np.abs(rec["vdp.x2"] - sol.y[1]).max() < 5e-5


def test_rollback_of_a_model_exchange_component_repeats_the_step_exactly(tmp_path):
    from cosim.engine.execution import Execution

    system = load_yaml(tmp_path, me_dual_mass("2.0", ", interface: me"))
    with Execution(system) as ex:
        ex.initialize()
        ex.run_until(100_000_000)
        state = ex.get_state()
        ex.step()
        first = [ex.get(label) for label in LABELS]
        ex.set_state(state)
        ex.step()
        assert [ex.get(label) for label in LABELS] == first
