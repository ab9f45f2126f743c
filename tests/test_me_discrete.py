"""Discrete inputs of Model Exchange components change in Event Mode, as FMI requires.

    table n, hold --> Integrator (ME or CS)      y' = k*(u + n) unless hold
    Gain.n_out ----> Integrator.n                 (a discrete connection)

The bundled FMUs refuse Integer and Boolean values in Continuous-Time Mode (fmus/common:
core_check_discrete), so a master that sets them there fails the run. The reference is the
closed form: the integral of a piecewise-constant input, exact up to the solver's rounding.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import cosim
from cosim.errors import FmuError

TABLE = "time,n,hold\n0,0,0\n0.5,0,0\n0.5,2,0\n0.8,2,0\n0.8,2,1\n1,2,1\n"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmi", ["", "fmi3/"], ids=["fmi2", "fmi3"])
@pytest.mark.parametrize("interface", ["me", "cs"])
def test_table_driven_discrete_inputs_give_the_closed_form(tmp_path, fmi, interface):
    (tmp_path / "in.csv").write_text(TABLE)
    path = write(
        tmp_path / "system.yaml",
        f"""
        simulation: {{stop: 1, step: 0.1}}
        components:
          a: {{fmu: {fmi}Integrator, interface: {interface}}}
        inputs:
          - {{file: in.csv, map: {{n: a.n, hold: a.hold}}}}
        events:
          - {{at: 0.2, set: {{a.k: 3.0}}}}
        record: {{variables: [a.y, a.events]}}
        """,
    )
    res = cosim.load(path).simulate()
    t = np.round(np.asarray(res.time), 12)
    # k = 3 from 0.2 s; n = 2 on [0.5, 0.8), hold from 0.8 s: y = 3*2*(t - 0.5) there
    expected = np.clip(t - 0.5, 0.0, 0.3) * 6.0
    np.testing.assert_allclose(res["a.y"], expected, rtol=0, atol=1e-12)
    # Model Exchange: the parameter event, n's change and hold's change are three events;
    # Co-Simulation: the FMU has no event updates of its own
    assert res["a.events"][-1] == (3 if interface == "me" else 0)


def test_a_discrete_connection_into_model_exchange(tmp_path):
    (tmp_path / "n.csv").write_text("time,n\n0,1\n0.3,1\n0.3,4\n1,4\n")
    path = write(
        tmp_path / "system.yaml",
        """
        simulation: {stop: 1, step: 0.1}
        components:
          g: {fmu: Gain}
          a: {fmu: Integrator, interface: me}
        connections:
          - {from: g.n_out, to: a.n}
        inputs:
          - {file: n.csv, map: {n: g.n_in}}
        """,
    )
    res = cosim.load(path).simulate()
    # Gauss-Seidel: a sees g's n_out of the same step: n = 1 on [0, 0.3), 4 from 0.3 s
    assert res["a.y"][-1] == pytest.approx(1 * 0.3 + 4 * 0.7, abs=1e-12)
    assert res["a.events"][-1] == 1


def test_setting_a_discrete_input_in_continuous_time_mode_is_refused_by_the_fmu(tmp_path):
    """The check is real: the FMU itself refuses what the adapter avoids."""
    from cosim.fmu.adapter import ValueType

    path = write(
        tmp_path / "system.yaml",
        """
        simulation: {stop: 1, step: 0.1}
        components:
          a: {fmu: Integrator, interface: me}
        """,
    )
    with cosim.load(path).execution() as sim:
        sim.initialize()
        sim.step()
        slave = sim.execution.slaves[0]
        vr = sim.system.components[0].variables["n"].value_reference
        raw = super(type(slave).__mro__[1], slave)  # the plain set, without Event Mode
        with pytest.raises(FmuError, match="must not be called in Continuous-Time Mode"):
            raw.set_values(ValueType.I32, [vr], [5])
