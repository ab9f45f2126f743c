"""Manipulators write through the plan's external-input slots; observers read; the pacer is a
run option. Call order per step: manipulators -> (sets, doStep, gets) -> observers -> pacer.

    ramp manipulator --u (slot)--> fo (FirstOrder)  --y--> recorded
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from engine_helpers import FIRST_ORDER, bundled, fake_system, load_yaml

from cosim.engine.execution import Execution
from cosim.engine.plan import build_plan
from cosim.errors import ConfigError
from cosim.fmu.adapter import ValueType
from cosim.fmu.fake import FirstOrderModel, fake_factory
from cosim.model.spec import TICKS_PER_SECOND
from cosim.realtime import Pacer

H = 1e-3
T, K, RATE = 0.2, 2.0, 0.5  # time constant, gain, ramp slope (1/s)

RAMP_YAML = """\
name: ramp
simulation: {{start: 0.0, stop: 1.0, step: {h!r}}}
components:
  fo: {{fmu: {fmu}, parameters: {{T: {T!r}, k: {K!r}}}}}
record: {{variables: [fo.y]}}
"""


class Ramp:
    """u := RATE * t at the start of every communication step (held over the step)."""

    def __init__(self, label: str = "fo.u") -> None:
        self.label = label
        self.buf = np.zeros(1)

    def simulation_initialized(self, ex) -> None:
        self.view = ex.input_view([self.label])

    def before_step(self, step: int, tick: int) -> None:
        self.buf[0] = RATE * tick / TICKS_PER_SECOND
        self.view.write(self.buf)


class Ys:
    def simulation_initialized(self, ex) -> None:
        self.ex, self.y = ex, [ex.value("fo.y")]

    def step_complete(self, step: int, tick: int) -> None:
        self.y.append(self.ex.value("fo.y"))


def ramp_system(tmp_path):
    system = load_yaml(tmp_path, RAMP_YAML.format(h=H, fmu=bundled("FirstOrder"), T=T, K=K))
    return system, build_plan(system, inputs=[(0, system.components[0].variables["u"])])


def test_manipulator_ramp_drives_a_first_order_lag(tmp_path):
    """The ramp's value at tick n reaches the FMU in step n: y follows the exact recursion
    y[n+1] = a*y[n] + (1 - a)*K*RATE*n*h (a = e^(-h/T)) to 1e-10 (the FMU's RK4 at
    h/T = 0.005: local error ~(h/T)^5/120 = 3e-14, ~3e-11 over 1000 steps), and the continuous ramp
    response K*RATE*(t - T*(1 - e^(-t/T))) within K*RATE*h (the hold lags it by h/2; a
    value applied one step late would lag by 3h/2)."""
    system, plan = ramp_system(tmp_path)
    assert plan.in_labels == ("fo.u",)
    ys = Ys()
    with Execution(system, plan=plan, manipulators=[Ramp()], observers=[ys]) as ex:
        ex.initialize()
        ex.run_until()
        # the FMU itself holds the last value the slot sent: the one for the last step's start
        u_vr = system.components[0].variables["u"].value_reference
        u_fmu = ex.slaves[0].get_values(ValueType.F64, [u_vr])[0]
        assert u_fmu == RATE * (ex.step_count - 1) * H
        assert ex.get("fo.u") == u_fmu
    y = np.array(ys.y)
    a = math.exp(-H / T)
    exact = [0.0]
    for n in range(len(y) - 1):
        exact.append(a * exact[-1] + (1 - a) * K * RATE * n * H)
    np.testing.assert_allclose(y, exact, rtol=0, atol=1e-10)
    t = np.arange(len(y)) * H
    continuous = K * RATE * (t - T * (1 - np.exp(-t / T)))
    assert np.abs(y - continuous).max() < K * RATE * H
    assert np.abs(y - continuous).max() > K * RATE * H / 4  # the hold's lag is really there


def test_call_order_manipulator_step_observer_pacer():
    """Per step: manipulator.before_step, the slot's bound set (no set_values), doStep, get,
    observer.step_complete, pacer.wait."""
    system = fake_system([("A", FIRST_ORDER)], stop=3 * H)
    plan = build_plan(system, inputs=[(0, FIRST_ORDER["u"])])
    factory = fake_factory({"A": lambda: FirstOrderModel(T=0.1)})
    trace = factory.trace

    class Writer:
        def simulation_initialized(self, ex):
            self.view = ex.input_view(["A.u"])
            trace.append(("m.init",))

        def before_step(self, step, tick):
            trace.append(("before_step", step))
            self.view.write([10.0 + step])

    class Reader:
        def simulation_initialized(self, ex):
            trace.append(("o.init",))

        def step_complete(self, step, tick):
            trace.append(("step_complete", step))

    class Clock:
        def start(self):
            trace.append(("pacer.start",))

        def wait(self):
            trace.append(("wait",))

    ex = Execution(system, plan=plan, slave_factory=factory, manipulators=[Writer()],
                   observers=[Reader()], pacer=Clock())  # fmt: skip
    with ex:
        ex.initialize()
        k = len(trace) - 2
        ex.run_until()
    assert trace[k:k + 2] == [("m.init",), ("o.init",)]  # fmt: skip
    calls = [e[:2] if e[0] not in ("set",) else ("set", e[3]) for e in trace[k + 2 :]]
    expected = [("pacer.start",)]
    for n in range(3):
        expected += [("before_step", n), ("set", ((FirstOrderModel.U, 10.0 + n),)),
                     ("step", "A"), ("get", "A"), ("step_complete", n + 1), ("wait",)]  # fmt: skip
    assert calls[: len(expected)] == expected
    assert not any(e[0] == "set_values" for e in trace[k:])


def test_external_inputs_are_checked_when_the_plan_is_built():
    system = fake_system([("A", FIRST_ORDER), ("B", FIRST_ORDER)], [("A.y", "B.u")])
    with pytest.raises(ConfigError) as info:
        build_plan(system, inputs=[(1, FIRST_ORDER["u"]), (0, FIRST_ORDER["y"])])
    text = str(info.value)
    assert "external input B.u: a connection drives it already" in text
    assert "external input A.y: only inputs and tunable parameters" in text
    plan = build_plan(system, inputs=[(0, FIRST_ORDER["u"]), (0, FIRST_ORDER["T"])])
    assert plan.in_labels == ("A.u", "A.T")
    factory = fake_factory({"A": FirstOrderModel, "B": FirstOrderModel})
    ex = Execution(system, plan=plan, slave_factory=factory)
    with ex, pytest.raises(KeyError, match="B.k: not an external input"):
        ex.initialize()
        ex.input_view(["A.u", "B.k"])


def test_input_slots_start_at_the_fmus_values():
    """Before any manipulator writes, the slot holds what the FMU had (start values too), so
    the first bound set does not reset the input."""
    system = fake_system([("A", FIRST_ORDER)], start_values={"A.u": 0.25}, stop=2 * H)
    plan = build_plan(system, inputs=[(0, FIRST_ORDER["u"]), (0, FIRST_ORDER["T"])])
    ex = Execution(system, plan=plan, slave_factory=fake_factory({"A": FirstOrderModel}))
    with ex:
        ex.initialize()
        np.testing.assert_array_equal(ex.input_view(["A.u", "A.T"]).read(), [0.25, 1.0])
        ex.step()
        a = math.exp(-H / 1.0)
        assert ex.value("A.y") == pytest.approx((1 - a) * 0.25, abs=1e-15)


def test_pacer_run_option_keeps_the_loop_in_real_time():
    """Pacer(h, factor 1) as a run option: 100 steps of 1 ms take at least 0.1 s wall time and
    every step is paced (never ahead of its deadline; how late depends on the machine's load)."""
    system = fake_system([("A", FIRST_ORDER)], stop=100 * H)
    pacer = Pacer(H, 1.0)
    ex = Execution(system, slave_factory=fake_factory({"A": FirstOrderModel}), pacer=pacer)
    with ex:
        ex.initialize()
        t0 = time.perf_counter()
        ex.run_until()
        wall = time.perf_counter() - t0
    assert wall >= 0.1 - 1e-3
    stats = pacer.stats()
    assert stats.steps == 100
    assert 0.0 < stats.realtime_factor <= 1.0 + 1e-9
