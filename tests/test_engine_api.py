"""The step-by-step API of Execution: get, set, get_state / set_state / free_state.

Values are checked against the fakes' exact recursions or against a second pass of the same
run, never against numbers the engine produced in the same call.

    mass1 --x1, v1--> mass2          (state round trips over the bundled FMUs)
      ^                 |
      +-------F---------+
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from engine_helpers import FIRST_ORDER, GAIN, dual_mass_yaml, fake_system, load_yaml, var

from cosim.engine.execution import Execution
from cosim.engine.plan import build_plan
from cosim.errors import ConfigError, FmuError, SimulationError
from cosim.fmu.fake import FirstOrderModel, GainModel, fake_factory

H = 1e-3


def fake(system, models, plan=None):
    factory = fake_factory(models)
    return Execution(system, plan=plan, slave_factory=factory), factory.trace


# --------------------------------------------------------------------------- get
def test_get_reads_stores_and_other_variables_from_the_fmu():
    """A.y is recorded (from the store), A.T is a parameter no one reads (get_values);
    Gain's integer and boolean outputs come back as int and bool."""
    system = fake_system(
        [("A", FIRST_ORDER), ("G", GAIN)], records=["A.y", "G.n_out", "G.positive"], stop=5 * H
    )
    ex, _ = fake(system, {"A": lambda: FirstOrderModel(T=0.5, u=1.0), "G": lambda: GainModel()})
    with ex:
        ex.initialize()
        ex.run_until()
        a = math.exp(-H / 0.5)
        y = 0.0
        for _ in range(5):
            y = a * y + (1 - a)
        assert ex.get("A.y") == pytest.approx(y, abs=1e-15)
        assert ex.get("A.T") == 0.5 and ex.get("A.u") == 1.0
        n_out, positive = ex.get("G.n_out"), ex.get("G.positive")
        assert type(n_out) is int and n_out == 0
        assert type(positive) is bool and positive is False
        with pytest.raises(KeyError, match="no component 'X'"):
            ex.get("X.y")
        with pytest.raises(KeyError, match="component 'A' has no variable 'z'"):
            ex.get("A.z")


def test_get_on_the_bundled_dual_mass(tmp_path):
    system = load_yaml(tmp_path, dual_mass_yaml("2.0", stop=0.1))
    with Execution(system) as ex:
        ex.initialize()
        assert ex.get("mass2.x2") == 0.5  # start value
        assert ex.get("mass2.F") == pytest.approx(20.0 * 0.5)  # kc*(x2 - x1), agreed at init
        assert ex.get("mass2.kc") == 20.0  # a parameter, straight from the FMU
        ex.run_until()
        assert ex.get("mass2.x2") == ex.value("mass2.x2")


# --------------------------------------------------------------------------- set
def test_set_without_a_slot_is_sent_before_the_next_step():
    """A.u := 1 after 3 steps, then 3 more: the set_values call lands between the step at 2h
    and the step at 3h, and y follows the lag from there on."""
    T = 0.1
    system = fake_system([("A", FIRST_ORDER)], stop=6 * H)
    ex, trace = fake(system, {"A": lambda: FirstOrderModel(T=T)})
    with ex:
        ex.initialize()
        ex.run_until(ex.plan.tick(3))
        ex.set("A.u", 1)
        assert not any(e[0] == "set_values" for e in trace)  # not yet: before the next step
        ex.run_until()
        y = ex.get("A.y")
    kinds = [(e[0], round(e[2] / H)) for e in trace if e[0] in ("step", "set_values")]
    k = kinds.index(("set_values", 3))
    assert kinds[k - 1] == ("step", 2) and kinds[k + 1] == ("step", 3)
    sent = next(e for e in trace if e[0] == "set_values" and e[2] > 0)
    assert sent[3] == ((FirstOrderModel.U, 1.0),) and type(sent[3][0][1]) is float
    a = math.exp(-H / T)
    assert y == pytest.approx(1 - a**3, abs=1e-15)


def test_set_with_a_slot_goes_through_the_bound_set():
    system = fake_system([("A", FIRST_ORDER)], stop=2 * H)
    plan = build_plan(system, inputs=[(0, FIRST_ORDER["u"])])
    ex, trace = fake(system, {"A": lambda: FirstOrderModel(T=0.1)}, plan=plan)
    with ex:
        ex.initialize()
        ex.set("A.u", 2.0)
        assert ex.get("A.u") == 2.0  # the slot, before any step
        ex.step()
    assert ("set", "A", 0.0, ((FirstOrderModel.U, 2.0),)) in trace
    assert not any(e[0] == "set_values" and e[2] > 0 for e in trace)


def test_set_before_initialize_becomes_a_start_value():
    system = fake_system([("A", FIRST_ORDER)], stop=H)
    ex, trace = fake(system, {"A": lambda: FirstOrderModel(u=1.0)})
    with ex:
        ex.set("A.T", 0.25)
        ex.initialize()
        ex.step()
        assert ex.get("A.y") == pytest.approx(1 - math.exp(-H / 0.25), abs=1e-15)
    first = [e[0] for e in trace]
    assert first.index("set_values") < first.index("enter_initialization")


def test_set_before_initialize_of_a_slot_input_is_its_start_value():
    """The slot starts at the FMU's value after initialization mode, which is the set value."""
    system = fake_system([("A", FIRST_ORDER)], stop=H)
    plan = build_plan(system, inputs=[(0, FIRST_ORDER["u"])])
    ex, _ = fake(system, {"A": lambda: FirstOrderModel(T=0.1)}, plan=plan)
    with ex:
        ex.set("A.u", 3.0)
        ex.initialize()
        assert ex.get("A.u") == 3.0
        ex.step()
        assert ex.get("A.y") == pytest.approx(3.0 * (1 - math.exp(-H / 0.1)), abs=1e-15)


def test_set_refuses_outputs_and_fixed_parameters_during_a_run():
    fixed = dataclasses.replace(var("T", FirstOrderModel.T, "parameter"), variability="fixed")
    system = fake_system([("A", {**FIRST_ORDER, "T": fixed})], stop=H)
    ex, _ = fake(system, {"A": FirstOrderModel})
    with ex:
        ex.initialize()
        with pytest.raises(ConfigError, match="cannot set A.y: it is a continuous output"):
            ex.set("A.y", 1.0)
        with pytest.raises(ConfigError, match="cannot set A.T: it is a fixed parameter"):
            ex.set("A.T", 1.0)
        with pytest.raises(KeyError):
            ex.set("A.nothing", 1.0)


# --------------------------------------------------------------------------- state
class Rows:
    def simulation_initialized(self, ex):
        self.ex, self.rows = ex, []
        self.buf = np.zeros(len(ex.plan.rec_labels))

    def step_complete(self, step, tick):
        self.ex.gather_records(self.buf)
        self.rows.append((step, tick, *self.buf.tolist()))


EVENT = "events:\n  - {at: 0.7, set: {mass1.F_ext: 5.0}}\n"


@pytest.mark.parametrize("fmi", ["2.0", "3.0"])
@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_state_round_trip_repeats_the_run_bit_for_bit(tmp_path, fmi, algorithm):
    """s = get_state() at 0.5 s; run to 1 s (through an event at 0.7 s); set_state(s); run to
    1 s again: every recorded value, step and tick is identical, the event fires again, and
    the values right after set_state are those at 0.5 s."""
    text = dual_mass_yaml(fmi, algorithm=algorithm, stop=1.5, events=EVENT)
    rows = Rows()
    with Execution(load_yaml(tmp_path, text), observers=[rows]) as ex:
        ex.initialize()
        ex.run_until(ex.plan.tick(500))
        at_half = [ex.get(label) for label in ex.plan.rec_labels]
        state = ex.get_state()
        # from now on doStep may be rolled back: noSetFMUStatePriorToCurrentPoint is false
        assert all(not s._no_rollback.value for s in ex.slaves)
        ex.run_until(ex.plan.tick(1000))
        first = rows.rows[-500:]
        assert ex.get("mass1.F_ext") == 5.0
        ex.set_state(state)
        assert (ex.step_count, ex.time) == (500, 0.5)
        assert [ex.get(label) for label in ex.plan.rec_labels] == at_half
        assert ex.get("mass1.F_ext") == 0.0  # the FMU is back before the event ...
        ex.run_until(ex.plan.tick(1000))
        assert ex.get("mass1.F_ext") == 5.0  # ... which fired again
        second = rows.rows[-500:]
        ex.free_state(state)
        ex.free_state(state)  # idempotent
        with pytest.raises(SimulationError, match="freed"):
            ex.set_state(state)
        ex.get_state()  # left for close() to free
        ex.run_until()
        assert ex.stats.status == "completed"
    assert first == second
    assert [r[0] for r in first] == list(range(501, 1001))


def test_state_needs_can_get_and_set_fmu_state():
    system = fake_system([("A", FIRST_ORDER), ("B", FIRST_ORDER)], stop=2 * H)
    md = SimpleNamespace(coSimulation=SimpleNamespace(canGetAndSetFMUstate=False))
    comps = (system.components[0], dataclasses.replace(system.components[1],
                                                       model_description=md))  # fmt: skip
    system = dataclasses.replace(system, components=comps)
    ex, _ = fake(system, {"A": FirstOrderModel, "B": FirstOrderModel})
    with ex:
        ex.initialize()
        with pytest.raises(SimulationError, match=r"B \(fake.fmu\) cannot get and set its FMU"):
            ex.get_state()


def test_close_frees_states_still_held():
    system = fake_system([("A", FIRST_ORDER)], stop=2 * H)
    ex, trace = fake(system, {"A": FirstOrderModel})
    with ex:
        ex.initialize()
        ex.get_state()
        ex.step()
        s2 = ex.get_state()
        ex.free_state(s2)
    names = [e[0] for e in trace]
    assert names.count("free_state") == 2
    assert names.index("free_state", names.index("step")) < names.index("free")


def test_close_after_an_error_frees_no_state_of_the_failed_instance():
    """B's doStep returns Error: FMI then allows only fmi2FreeInstance on B (which releases
    its states); A's state is freed as usual."""
    system = fake_system([("A", FIRST_ORDER), ("B", FIRST_ORDER)], [("A.y", "B.u")], stop=9 * H)
    factory = fake_factory({"A": FirstOrderModel, "B": FirstOrderModel}, B=3 * H)
    ex = Execution(system, slave_factory=factory)
    with pytest.raises(FmuError, match="B: fmi2DoStep returned Error"), ex:
        ex.initialize()
        ex.get_state()
        ex.run_until()
    freed = [e[1] for e in factory.trace if e[0] == "free_state"]
    assert freed == ["A"]
    assert sorted(e[1] for e in factory.trace if e[0] == "free") == ["A", "B"]
