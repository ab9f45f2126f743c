"""Both master algorithms run through the one loop body: the dual-mass system over the bundled
FMUs against the exact co-simulation recursion of each algorithm, computed here from the
matrix exponentials of the two subsystems with their inputs held over each step.

    mass1 --x1, v1--> mass2          Gauss-Seidel (mass1 first): mass2 steps on the x1, v1
      ^                 |            mass1 published in the same step;
      +-------F---------+            Jacobi: both step on the values published as of t.

The FMUs integrate with RK4 sub-steps <= 1e-4 s (local error ~(h w)^5, far below 1e-11 m over
2 s), so the engine must match the recursion to 1e-11, while Jacobi and Gauss-Seidel differ by
~1e-2 m: a swapped order or a stale value would show.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import dual_mass_yaml, load_yaml
from scipy.linalg import expm

from cosim.engine.execution import Execution

m1, k1, c1 = 1.0, 10.0, 0.2
m2, k2, c2, kc, cc = 1.0, 10.0, 0.5, 20.0, 0.3
H, STOP, EVERY = 1e-3, 2.0, 10  # communication step, horizon, record every 10th step


def _held(a: np.ndarray, b: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """z(t + h) = E z(t) + G u for z' = a z + b u with u held: exp of the augmented matrix."""
    n, m = b.shape
    aug = np.zeros((n + m, n + m))
    aug[:n, :n], aug[:n, n:] = a, b
    e = expm(aug * h)
    return e[:n, :n], e[:n, n:]


# mass1: z1 = (x1, v1), input F;  mass2: z2 = (x2, v2), inputs (x1, v1), output F
E1, G1 = _held(np.array([[0, 1], [-k1 / m1, -c1 / m1]]), np.array([[0], [1 / m1]]), H)
E2, G2 = _held(
    np.array([[0, 1], [-(k2 + kc) / m2, -(c2 + cc) / m2]]),
    np.array([[0, 0], [kc / m2, cc / m2]]),
    H,
)


def force(z2: np.ndarray, z1_held: np.ndarray) -> float:
    return kc * (z2[0] - z1_held[0]) + cc * (z2[1] - z1_held[1])


def reference(algorithm: str, steps: int) -> np.ndarray:
    """Rows (x1, v1, x2, v2) at every EVERY-th step, from the algorithm's data flow."""
    z1, z2 = np.array([0.0, 0.0]), np.array([0.5, 0.0])
    f = force(z2, z1)  # agreed in initialization mode
    rows = [np.concatenate([z1, z2])]
    for n in range(1, steps + 1):
        z1_new = E1 @ z1 + G1[:, 0] * f
        u2 = z1_new if algorithm == "gauss-seidel" else z1  # what mass2 is set to
        z2 = E2 @ z2 + G2 @ u2
        f = force(z2, u2)  # F is published from mass2's state and its held inputs
        z1 = z1_new
        if n % EVERY == 0:
            rows.append(np.concatenate([z1, z2]))
    return np.array(rows)


class _Rows:
    def simulation_initialized(self, ex):
        self.ex, self.rows = ex, []
        self.buf = np.zeros(len(ex.plan.rec_labels))
        self._take()

    def _take(self):
        self.ex.gather_records(self.buf)
        self.rows.append(self.buf.copy())

    def step_complete(self, step, tick):
        if step % EVERY == 0:
            self._take()


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_dual_mass_follows_the_algorithms_exact_recursion(tmp_path, fmi, algorithm):
    text = dual_mass_yaml(fmi, algorithm=algorithm, step=H, stop=STOP, record_interval=None)
    system = load_yaml(tmp_path, text)
    rows = _Rows()
    with Execution(system, observers=[rows]) as ex:
        assert [ex.plan.instance_names[i] for i in ex.plan.order] == ["mass1", "mass2"]
        assert ex.plan.rec_labels == ("mass1.x1", "mass1.v1", "mass2.x2", "mass2.v2")
        ex.initialize()
        ex.run_until()
    got = np.array(rows.rows)
    steps = round(STOP / H)
    ref = reference(algorithm, steps)
    other = reference("jacobi" if algorithm == "gauss-seidel" else "gauss-seidel", steps)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-11
    assert np.abs(got - other).max() > 1e-3  # the two algorithms are told apart
