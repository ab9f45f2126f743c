"""Importer conformance: what cosim passes to FMUs and how it steps, checked on bundled FMUs
against closed forms (the defects found running FMUs exported by other tools).

    mass1 --x1, v1--> mass2        (the dual-mass oscillator, tests/test_dual_mass.py)
      ^                 |
      +-------F---------+
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import dual_mass_yaml, load_yaml, simulate
from test_dual_mass import LABELS, exact

import cosim


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
def test_a_stop_off_the_step_grid_ends_with_a_shorter_step(tmp_path, fmi):
    # stop 1.005 with step 0.01: 100 full steps, then one of 0.005 s; the run ends exactly at
    # the stop time and the last values match the exact solution there (the Gauss-Seidel
    # coupling error at h = 0.01 is about 1e-2 over a second: the tolerance below)
    system = load_yaml(tmp_path, dual_mass_yaml(fmi, step=0.01, stop=1.005, record_interval=None))
    rec = simulate(system)
    assert rec.time[-1] == pytest.approx(1.005, abs=1e-12)
    assert np.all(np.diff(rec.time) > 0)
    assert rec.time[-2] == pytest.approx(1.0, abs=1e-12)
    got = np.array([rec[label][-1] for label in LABELS])
    prev = np.array([rec[label][-2] for label in LABELS])
    ref, before = exact(np.array([1.005]))[0], exact(np.array([1.0]))[0]
    # the last step advanced the state by 0.005 s, not 0.01 s: its increment matches the exact
    # increment over 0.005 s to within the coupling error of one step (O(h) relative: 30 %)
    # and is far from the exact increment over a full step
    increment, exact_half = got - prev, ref - before
    exact_full = exact(np.array([1.01]))[0] - before
    assert np.linalg.norm(increment - exact_half) < 0.3 * np.linalg.norm(exact_half)
    assert np.linalg.norm(increment - exact_full) > 0.5 * np.linalg.norm(exact_half)


def test_the_api_runs_to_a_stop_off_the_grid(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_text(dual_mass_yaml(step=0.01, stop=0.255, record_interval=None))
    result = cosim.load(path).simulate()
    assert result.time[-1] == pytest.approx(0.255, abs=1e-12)
    assert result.status == "completed"
