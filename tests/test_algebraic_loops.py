"""Algebraic loops solved at each communication step, against known roots.

a --> b --> c        three Algebraic FMUs, each output feeding the other two:
^  \\___/^  |        a = -(b + c),  b = (2a + 2c - 9)/3,  c = sqrt(5 - a^2 - b^2)
+-----------+        i.e. a+b+c = 0, 2a-3b+2c = 9, a^2+b^2+c^2 = 5

g1 --y--> g2 --y--> g1     two Gains: x = 2*(-x + 3), loop gain -2 (fixed point diverges)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import bundled, load_yaml, simulate

from cosim.errors import ConfigError, SimulationError

# b = -9/5 from the first two equations; then c^2 - 1.8 c + 0.74 = 0
B = -1.8
ROOTS_C = ((1.8 + math.sqrt(0.28)) / 2, (1.8 - math.sqrt(0.28)) / 2)


def three(prefix: str = "", method: str = "newton") -> str:
    # the inputs' start values are the first guess (near a root: the sqrt branch of c is
    # flat at q < 0, where Newton from a far guess can stall)
    fmu = bundled(prefix + "Algebraic")
    return f"""\
simulation: {{stop: 0.05, step: 0.01, loop_solver: {{method: {method}}}}}
components:
  a: {{fmu: {fmu}, parameters: {{c1: -1.0, c2: -1.0, u1: -1.5, u2: 1.0}}}}
  b: {{fmu: {fmu}, parameters: {{c0: -3.0, c1: 0.666666666667,
      c2: 0.666666666667, u1: 0.5, u2: 1.0}}}}
  c: {{fmu: {fmu}, parameters: {{root: true, c0: 5.0, c1: 0.0, c11: -1.0, c22: -1.0,
      u1: 0.5, u2: -1.5}}}}
connections:
  - {{from: b.y, to: a.u1}}
  - {{from: c.y, to: a.u2}}
  - {{from: a.y, to: b.u1}}
  - {{from: c.y, to: b.u2}}
  - {{from: a.y, to: c.u1}}
  - {{from: b.y, to: c.u2}}
record: {{variables: [a.y, b.y, c.y]}}
"""


@pytest.mark.parametrize("prefix", ["", "fmi3/"])
def test_three_fmus_reach_a_known_root(tmp_path, prefix):
    system = load_yaml(tmp_path, three(prefix))
    assert len(system.loops) == 1
    rec = simulate(system)
    a, b, c = rec["a.y"][-1], rec["b.y"][-1], rec["c.y"][-1]
    # tolerance 1e-10 on the loop inputs: the equations hold to ~1e-9
    assert a + b + c == pytest.approx(0.0, abs=1e-8)
    assert 2 * a - 3 * b + 2 * c == pytest.approx(9.0, abs=1e-8)
    assert a * a + b * b + c * c == pytest.approx(5.0, abs=1e-8)
    assert b == pytest.approx(B, abs=1e-8)
    assert min(abs(c - r) for r in ROOTS_C) < 1e-8
    # solved in initialization too: the first row already is the root
    assert rec["b.y"][0] == pytest.approx(B, abs=1e-8)
    stats = rec.ex.stats.loops["loop1"]
    assert stats["failures"] == 0 and stats["max_iterations"] >= 1


def gains(method: str) -> str:
    fmu = bundled("Gain")
    return f"""\
simulation: {{stop: 0.03, step: 0.01, loop_solver: {{method: {method}, max_iterations: 30}}}}
components:
  g1: {{fmu: {fmu}, parameters: {{k: 2.0}}}}
  g2: {{fmu: {fmu}, parameters: {{k: -1.0, b: 3.0}}}}
connections:
  - {{from: g1.y, to: g2.u}}
  - {{from: g2.y, to: g1.u}}
record: {{variables: [g1.y, g2.y]}}
"""


def test_a_loop_whose_fixed_point_iteration_diverges_is_solved_by_newton(tmp_path):
    # x = g1.y = 2 * g2.y = 2 * (3 - x): x = 2, g2.y = 1
    rec = simulate(load_yaml(tmp_path, gains("newton")))
    np.testing.assert_allclose(rec["g1.y"], 2.0, atol=1e-9)
    np.testing.assert_allclose(rec["g2.y"], 1.0, atol=1e-9)


def test_plain_fixed_point_iteration_fails_clearly_on_it(tmp_path):
    text = gains("fixed-point").replace(
        "max_iterations: 30}", "max_iterations: 30, relaxation: 1.0}"
    )
    with pytest.raises(SimulationError) as caught:
        simulate(load_yaml(tmp_path, text))
    assert "did not converge" in str(caught.value) and "g1" in str(caught.value)


def test_relaxed_fixed_point_iteration_converges(tmp_path):
    # u + w (G(u) - u) with G's Jacobian [[0, 2], [-1, 0]] (eigenvalues +-i*sqrt(2)): the
    # iteration matrix has modulus sqrt(1 - 2w + 3w^2) < 1 for 0 < w < 2/3 (0.82 at w = 1/3),
    # so 1e-10 takes about 120 iterations
    text = gains("fixed-point").replace(
        "max_iterations: 30}", "max_iterations: 300, relaxation: 0.3333}"
    )
    rec = simulate(load_yaml(tmp_path, text))
    np.testing.assert_allclose(rec["g1.y"], 2.0, atol=1e-8)


def test_algebraic_loops_error_keeps_the_old_refusal(tmp_path):
    text = gains("newton").replace("simulation: {", "simulation: {algebraic_loops: error, ")
    with pytest.raises(ConfigError) as caught:
        load_yaml(tmp_path, text)
    assert "algebraic loop: g1.u -> g1.y -> g2.u -> g2.y -> g1.u" in str(caught.value)


def test_jacobi_runs_the_cycle_and_names_the_lagging_edges(tmp_path):
    text = gains("newton").replace("simulation: {", "simulation: {algorithm: jacobi, ")
    system = load_yaml(tmp_path, text)
    assert system.loops == ()
    lagging = {
        f"{system.connections[k].spec.source}->{system.connections[k].spec.target}"
        for k in system.lagging
    }
    assert lagging == {"g1.y->g2.u", "g2.y->g1.u"}


@pytest.mark.parametrize("prefix", ["", "fmi3/"])
def test_newton_uses_directional_derivatives_where_every_member_provides_them(tmp_path, prefix):
    # the Algebraic FMUs provide directional derivatives: Newton takes its Jacobian from them
    # (no extra loop evaluation per column) and reaches the same root
    from cosim.engine.loops import LoopSolver

    system = load_yaml(tmp_path, three(prefix))
    rec = simulate(system)
    stats = rec.ex.stats.loops["loop1"]
    assert stats["jacobian"] == "directional" and stats["failures"] == 0
    a, b, c = rec["a.y"][-1], rec["b.y"][-1], rec["c.y"][-1]
    assert a + b + c == pytest.approx(0.0, abs=1e-8)
    assert a * a + b * b + c * c == pytest.approx(5.0, abs=1e-8)
    # the directional Jacobian agrees with a finite-difference one of r(u) = g(u) - u, taken
    # in initialization mode (no doStep: the members are algebraic)
    from cosim.engine.execution import Execution

    with Execution(system) as ex:
        ex.initialize()
        solver = next(s for s in ex._loops if isinstance(s, LoopSolver))
        jac = solver._jacobian()
        u = solver._g()
        r0 = solver._evaluate(u, None, 0.0, False)
        fd = np.empty_like(jac)
        for j in range(len(u)):
            shifted = u.copy()
            shifted[j] += 1e-7
            fd[:, j] = (solver._evaluate(shifted, None, 0.0, False) - r0) / 1e-7
    # the finite-difference error is ~1e-7 times the second derivatives (O(1) here)
    np.testing.assert_allclose(jac, fd, atol=1e-5)
    assert np.abs(jac + np.eye(len(u))).max() > 0.5  # not the bare -I
