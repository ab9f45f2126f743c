"""Variable communication step with error control (simulation.step_control), on the dual-mass
oscillator's transient (an initial displacement that decays), against its exact solution.

    mass1 --x1, v1--> mass2
      ^                 |
      +-------F---------+
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from engine_helpers import dual_mass_yaml, load_yaml, simulate
from test_dual_mass import LABELS, exact

import cosim

HORIZON = 10.0


def controlled(tolerance: float, extra: str = "") -> str:
    text = dual_mass_yaml(step=1e-3, stop=HORIZON, record_interval=None)
    return text.replace(
        "algorithm: gauss-seidel}",
        f"algorithm: gauss-seidel, step_control: {{tolerance: {tolerance}{extra}}}}}",
    )


def error(rec) -> float:
    got = np.column_stack([rec[label] for label in LABELS])
    return float(np.abs(got - exact(rec.time)).max())


def test_fewer_steps_than_a_fixed_step_for_the_same_error(tmp_path):
    rec = simulate(load_yaml(tmp_path, controlled(1e-4)))
    stats = rec.ex.stats.step_control
    e_var, n_var = error(rec), stats["accepted"]
    assert rec.time[-1] == pytest.approx(HORIZON, abs=1e-9)
    steps = np.diff(rec.time)
    assert steps.max() > 5 * steps.min()  # a non-uniform grid: small in the transient
    # the fixed step that reaches the same error (Gauss-Seidel is first order: halving the step
    # halves the error, so the first fixed step at or below e_var needs about as many steps
    # as the error ratio says)
    n_fixed = None
    for h in (1e-2, 5e-3, 2e-3, 1e-3, 5e-4):
        fixed = simulate(
            load_yaml(tmp_path, dual_mass_yaml(step=h, stop=HORIZON, record_interval=None))
        )
        if error(fixed) <= e_var:
            n_fixed = round(HORIZON / h)
            break
    print(
        f"\nstep control: error {e_var:.3g} with {n_var} accepted steps "
        f"({stats['rejected']} rejected, step {stats['min_step']:.3g}..{stats['max_step']:.3g} s); "
        f"fixed step: {n_fixed} steps for the same error"
    )
    assert n_fixed is not None and n_var < n_fixed
    # each accepted step costs three steps (one full, two halves) plus the rejected ones:
    # even counted that way the controller does less work here
    assert 3 * (n_var + stats["rejected"]) < n_fixed


def test_a_tighter_tolerance_gives_a_smaller_error(tmp_path):
    loose = simulate(load_yaml(tmp_path, controlled(1e-3)))
    tight = simulate(load_yaml(tmp_path, controlled(1e-5)))
    assert error(tight) < 0.5 * error(loose)
    assert tight.ex.stats.step_control["accepted"] > loose.ex.stats.step_control["accepted"]


def test_steps_stay_within_min_and_max_and_land_on_events(tmp_path):
    text = controlled(1e-3, ", min: 0.002, max: 0.05")
    text += "events:\n  - {at: 1.2345, set: {mass1.F_ext: 1.0}}\n"
    rec = simulate(load_yaml(tmp_path, text))
    steps = np.diff(rec.time)
    # every step but the ones shortened to land on the event and the stop is within [min, max]
    assert steps.max() <= 0.05 + 1e-12
    assert np.sum(steps < 0.002 - 1e-12) <= 2
    assert np.any(np.abs(rec.time - 1.2345) < 1e-12)


def test_results_file_holds_the_non_uniform_grid_and_the_statistics(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_text(controlled(1e-4))
    out = tmp_path / "out"
    res = cosim.simulate(path, out=out)
    assert res.status == "completed"
    with h5py.File(out / "results.h5") as f:
        time = f["time"][:]
        stats = json.loads(f.attrs["statistics"])
        sizes = f["statistics/step_sizes"][:]
    assert stats["step_control"]["accepted"] == len(time) - 1
    np.testing.assert_allclose(sizes, np.diff(time), atol=1e-12)
    assert np.diff(time).min() < np.diff(time).max() / 5


def test_step_control_refuses_what_it_cannot_do(tmp_path):
    from cosim.errors import ConfigError

    text = controlled(1e-3).replace("mass2: {", "mass2: {step: 0.002, ")
    with pytest.raises(ConfigError) as caught:
        load_yaml(tmp_path, text)
    assert "multirate" in str(caught.value)
    text = controlled(1e-3).replace(
        "algorithm: gauss-seidel,", "algorithm: gauss-seidel, realtime: 1,"
    )
    with pytest.raises(ConfigError) as caught:
        load_yaml(tmp_path, text)
    assert "realtime" in str(caught.value)
