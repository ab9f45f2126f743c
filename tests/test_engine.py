"""Master-algorithm unit tests over pure-Python fake FMUs (cosim.fmu.fake): stepping order,
Jacobi vs Gauss-Seidel data flow, the multirate tick schedule, event timing, transforms,
initialization iteration, failure handling and stopping.

Expected values are computed here from the models' exact discrete recursions, never taken
from the engine.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import ROUND_HALF_UP, Decimal

import pytest
from engine_helpers import FIRST_ORDER, GAIN, fake_system

from cosim.engine.execution import Execution
from cosim.errors import FmuError, SimulationError
from cosim.fmu.adapter import ERROR, WARNING, select_log_categories
from cosim.fmu.fake import FakeSlave, FirstOrderModel, GainModel, fake_factory
from cosim.model.spec import TICKS_PER_SECOND

H = 1e-3


def execution(system, models, **kwargs):  # kwargs: fake_factory's failure injection
    factory = fake_factory(models, **kwargs)
    return Execution(system, slave_factory=factory), factory.trace


def first_order(**kw):
    return lambda: FirstOrderModel(**kw)


# --------------------------------------------------------------------------- data flow
@pytest.mark.parametrize(
    ("algorithm", "order"),
    [("gauss-seidel", (0, 1, 2)), ("jacobi", (0, 1, 2)), ("gauss-seidel", (2, 1, 0))],
)
def test_chain_follows_the_algorithms_data_flow(algorithm, order):
    """A -> B -> C, first-order lags (T = 0.1 s), A.u = 1.

    Gauss-Seidel in order A, B, C hands each instance its upstream output of the same step;
    Jacobi (and Gauss-Seidel in the reverse order) hands it the output of the previous step.
    """
    T = 0.1
    system = fake_system(
        [("A", FIRST_ORDER), ("B", FIRST_ORDER), ("C", FIRST_ORDER)],
        [("A.y", "B.u"), ("B.y", "C.u")],
        algorithm=algorithm,
        order=order,
        stop=20 * H,
    )
    models = {"A": first_order(T=T, u=1.0), "B": first_order(T=T), "C": first_order(T=T)}
    ex, _ = execution(system, models)
    a = math.exp(-H / T)
    fresh = algorithm == "gauss-seidel" and order == (0, 1, 2)
    ya = yb = yc = 0.0
    with ex:
        ex.initialize()
        for _ in range(20):
            ex.step()
            na = a * ya + (1 - a) * 1.0
            nb = a * yb + (1 - a) * (na if fresh else ya)
            nc = a * yc + (1 - a) * (nb if fresh else yb)
            ya, yb, yc = na, nb, nc
            # exact recursion evaluated in the same floating-point operations: 1e-14 is rounding
            assert ex.value("A.y") == pytest.approx(ya, abs=1e-14)
            assert ex.value("B.y") == pytest.approx(yb, abs=1e-14)
            assert ex.value("C.y") == pytest.approx(yc, abs=1e-14)


def _calls(trace):
    return [e[:2] for e in trace if e[0] in ("set", "step", "get")]


@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_call_order_within_a_step(algorithm):
    """
    A -> B -> C

    Gauss-Seidel: per instance in order set, doStep, get. Jacobi: every set and doStep, then
    every get. One set and one get call per instance and type.
    """
    system = fake_system(
        [("A", FIRST_ORDER), ("B", FIRST_ORDER), ("C", FIRST_ORDER)],
        [("A.y", "B.u"), ("B.y", "C.u")],
        algorithm=algorithm,
        stop=3 * H,
    )
    ex, trace = execution(system, {n: first_order() for n in "ABC"})
    with ex:
        ex.initialize()
        del trace[:]
        ex.step()
    calls = _calls(trace)
    if algorithm == "gauss-seidel":
        expected = [("step", "A"), ("get", "A"), ("set", "B"), ("step", "B"), ("get", "B"),
                    ("set", "C"), ("step", "C"), ("get", "C")]  # fmt: skip
    else:
        expected = [("step", "A"), ("set", "B"), ("step", "B"), ("set", "C"), ("step", "C"),
                    ("get", "A"), ("get", "B"), ("get", "C")]  # fmt: skip
    assert calls == expected
    # after the step, the FMUs are terminated and freed (the `with` block)
    assert [e[:2] for e in trace[-6:]] == [
        ("terminate", "A"), ("free", "A"), ("terminate", "B"), ("free", "B"),
        ("terminate", "C"), ("free", "C"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- multirate
@pytest.mark.parametrize("precomputed", [True, False])
@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_multirate_tick_schedule(algorithm, precomputed, monkeypatch):
    """A (every step), B (every 2nd), C (every 3rd): instance i sets its inputs and steps at n
    when n % decimation == 0, from t = n*h with a step of decimation*h, and publishes (gets)
    its outputs at the end of step n when (n + 1) % decimation == 0 (sample and hold).
    Same schedule whether the phases are precomputed or (long hyperperiods) built per step."""
    if not precomputed:
        monkeypatch.setattr("cosim.engine.execution.MAX_SCHEDULE_PERIOD", 1)
    decimation = {"A": 1, "B": 2, "C": 3}
    system = fake_system(
        [("A", FIRST_ORDER, 1), ("B", FIRST_ORDER, 2), ("C", FIRST_ORDER, 3)],
        [("A.y", "B.u"), ("B.y", "C.u")],
        algorithm=algorithm,
        stop=12 * H,
    )
    ex, trace = execution(system, {n: first_order() for n in "ABC"})
    with ex:
        ex.initialize()
        assert (ex._phases is not None) == precomputed
        del trace[:]
        assert ex.run_until(system.stop_tick)
        stats = ex.stats
    steps = [(e[1], e[2], e[3]) for e in trace if e[0] == "step"]
    expected = [
        (name, n * H, d * H) for n in range(12) for name, d in decimation.items() if n % d == 0
    ]
    assert [s[0] for s in steps] == [e[0] for e in expected]
    for (name, t, h), (_, te, he) in zip(steps, expected, strict=True):
        assert t == pytest.approx(te, abs=1e-15) and h == pytest.approx(he, abs=1e-15), name
    assert stats.do_step_calls == {"A": 12, "B": 6, "C": 4}

    # the whole call sequence, written out from the rule in the module docstring
    calls = []
    for n in range(12):
        stepping = [c for c, d in decimation.items() if n % d == 0]
        publishing = [c for c, d in decimation.items() if (n + 1) % d == 0]
        for c in decimation:
            if c in stepping:
                calls += ([] if c == "A" else [("set", c)]) + [("step", c)]
            if algorithm == "gauss-seidel" and c in publishing:
                calls.append(("get", c))
        if algorithm == "jacobi":
            calls += [("get", c) for c in publishing]
    assert _calls(trace) == calls


@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_multirate_values_hold_between_slow_steps(algorithm):
    """A fast lag (every step) feeds a slow one (every 4th step). The slow instance's input is
    A's output as published when it steps (Gauss-Seidel: after A's step at the same tick;
    Jacobi: before it), held for 4h; its output changes only when the global time reaches the
    end of its step, and shows the value of its last completed step in between."""
    T = 0.01
    system = fake_system(
        [("A", FIRST_ORDER, 1), ("B", FIRST_ORDER, 4)],
        [("A.y", "B.u")],
        algorithm=algorithm,
        stop=16 * H,
    )
    ex, _ = execution(system, {"A": first_order(T=T, u=1.0), "B": first_order(T=T)})
    a, a4 = math.exp(-H / T), math.exp(-4 * H / T)
    ya = state_b = yb = 0.0
    with ex:
        ex.initialize()
        for n in range(16):
            ex.step()
            ya_before, ya = ya, a * ya + (1 - a)
            if n % 4 == 0:  # B steps from n*h with the held input
                u = ya if algorithm == "gauss-seidel" else ya_before
                state_b = a4 * state_b + (1 - a4) * u
            if (n + 1) % 4 == 0:  # ... and publishes when the time reaches (n + 1)*h
                yb = state_b
            # same floating-point operations as the fake's exact update: 1e-14 is rounding
            assert ex.value("A.y") == pytest.approx(ya, abs=1e-14)
            assert ex.value("B.y") == pytest.approx(yb, abs=1e-14), n


@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_fast_instance_sees_a_slow_upstream_only_on_its_grid(algorithm):
    """B (every 3rd step, u = 1) feeds A (every step), B first. A's input at step n is B's
    output as published as of (n + 1)*h (Gauss-Seidel) or n*h (Jacobi): y_B at the last
    multiple of 3h at or before that time, never a value from B's future."""
    T = 0.01
    system = fake_system(
        [("B", FIRST_ORDER, 3), ("A", FIRST_ORDER, 1)],
        [("B.y", "A.u")],
        algorithm=algorithm,
        stop=12 * H,
    )
    ex, trace = execution(system, {"B": first_order(T=T, u=1.0), "A": first_order(T=T)})
    with ex:
        ex.initialize()
        del trace[:]
        ex.run_until()
    a3 = math.exp(-3 * H / T)
    yb = [0.0]  # y_B(3k*h), by its exact recursion with u = 1
    for _ in range(5):
        yb.append(a3 * yb[-1] + (1 - a3))
    seen = [e[3][0][1] for e in trace if e[0] == "set" and e[1] == "A"]
    as_of = [(n + 1) if algorithm == "gauss-seidel" else n for n in range(12)]
    assert seen == pytest.approx([yb[m // 3] for m in as_of], abs=1e-15)


# --------------------------------------------------------------------------- events
def test_event_is_applied_before_the_step_that_starts_at_its_time():
    """A.u := 1 at t = 5h: the set happens after the step starting at 4h and before the step
    starting at 5h, so y stays 0 up to 5h and then follows the lag."""
    T = 0.01
    system = fake_system([("A", FIRST_ORDER)], events=[(5 * H, "A.u", 1.0)], stop=10 * H)
    ex, trace = execution(system, {"A": first_order(T=T)})
    with ex:
        ex.initialize()
        values = []
        for _ in range(10):
            ex.step()
            values.append(ex.value("A.y"))
    kinds = [(e[0], round(e[2] / H)) for e in trace if e[0] in ("step", "set_values")]
    k = kinds.index(("set_values", 5))
    assert kinds[k - 1] == ("step", 4) and kinds[k + 1] == ("step", 5)
    a = math.exp(-H / T)
    expected, y = [], 0.0
    for n in range(10):
        y = a * y + (1 - a) * (1.0 if n >= 5 else 0.0)
        expected.append(y)
    assert values == pytest.approx(expected, abs=1e-14)


def test_events_at_the_same_tick_apply_in_file_order_and_at_start():
    system = fake_system(
        [("A", FIRST_ORDER)],
        events=[(0.0, "A.k", 3.0), (2 * H, "A.u", 1.0), (2 * H, "A.u", 2.0)],
        stop=3 * H,
    )
    ex, trace = execution(system, {"A": first_order(T=1.0)})
    with ex:
        ex.initialize()
        ex.run_until()
    sets = [(e[2], e[3]) for e in trace if e[0] == "set_values"]
    assert [round(t / H) for t, _ in sets] == [0, 2, 2]
    assert [s for _, s in sets] == [((2, 3.0),), ((3, 1.0),), ((3, 2.0),)]


# --------------------------------------------------------------------------- transforms
def test_linear_transform_on_a_connection():
    """B.u := 2*A.y + 1 with A.y = 2.5 (Gain with b = 2.5, u = 0)."""
    system = fake_system([("A", GAIN), ("B", GAIN)], [("A.y", "B.u", 2.0, 1.0, True)], stop=H)
    ex, _ = execution(system, {"A": lambda: GainModel(k=1, b=2.5), "B": lambda: GainModel()})
    with ex:
        ex.initialize()
        assert ex.value("B.y") == 6.0  # already agreed in initialization mode
        ex.step()
        assert ex.value("B.y") == 6.0


def _round_half_away(x: float) -> int:
    return int(Decimal(repr(x)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("x", [2.5, 2.4, -2.5, -2.6, 7.0])
@pytest.mark.parametrize(
    ("convert", "reference"),
    [("round", _round_half_away), ("floor", math.floor), ("ceil", math.ceil),
     ("truncate", math.trunc)],
)  # fmt: skip
def test_real_to_integer_conversion(x, convert, reference):
    system = fake_system(
        [("A", GAIN), ("B", GAIN)], [("A.y", "B.n_in", 1.0, 0.0, True, convert)], stop=H
    )
    ex, _ = execution(system, {"A": lambda: GainModel(k=1, b=x), "B": lambda: GainModel()})
    with ex:
        ex.initialize()
        ex.step()
        assert ex.value("B.n_out") == reference(x)


def test_integer_to_real_and_boolean_outputs():
    system = fake_system(
        [("A", GAIN), ("B", GAIN)],
        [("A.n_out", "B.u", 0.5, 0.0, True)],
        start_values={"A.n_in": 7},
        stop=H,
    )
    ex, _ = execution(system, {"A": lambda: GainModel(), "B": lambda: GainModel()})
    with ex:
        ex.initialize()
        ex.step()
        assert ex.value("B.y") == 3.5
        assert ex.value("B.positive") is True or ex.value("B.positive") == 1


# --------------------------------------------------------------------------- initialization
def test_initialization_iterates_a_feedthrough_loop_to_its_fixed_point():
    """
    A.y = 0.5*A.u + 1 --> B.u ;  B.y = 0.5*B.u --> A.u      (both direct feedthrough)

    Fixed point: yA = 0.5*yB + 1, yB = 0.5*yA  =>  yA = 4/3, yB = 2/3.
    """
    system = fake_system(
        [("A", GAIN), ("B", GAIN)],
        [("A.y", "B.u", 1.0, 0.0, True), ("B.y", "A.u", 1.0, 0.0, True)],
        stop=H,
    )
    ex, _ = execution(system, {"A": lambda: GainModel(0.5, 1.0), "B": lambda: GainModel(0.5)})
    with ex:
        ex.initialize()
        # fixed-point iteration stops at a relative change of 1e-10 and contracts by 1/4 per pass
        assert ex.value("A.y") == pytest.approx(4 / 3, rel=1e-9)
        assert ex.value("B.y") == pytest.approx(2 / 3, rel=1e-9)


def test_initialization_reports_a_diverging_loop():
    system = fake_system(
        [("A", GAIN), ("B", GAIN)],
        [("A.y", "B.u", 1.0, 0.0, True), ("B.y", "A.u", 1.0, 0.0, True)],
        stop=H,
    )
    ex, trace = execution(system, {"A": lambda: GainModel(2.0, 1.0), "B": lambda: GainModel(2.0)})
    with pytest.raises(SimulationError, match=r"did not converge in 100 iterations: .*A\.y"), ex:
        ex.initialize()
    assert sorted(e[1] for e in trace if e[0] == "free") == ["A", "B"]


# --------------------------------------------------------------------------- failures, stop
@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_fmu_failure_names_instance_function_time_and_log_and_frees_all(algorithm):
    system = fake_system(
        [("A", FIRST_ORDER), ("B", FIRST_ORDER), ("C", FIRST_ORDER)],
        [("A.y", "B.u"), ("B.y", "C.u")],
        algorithm=algorithm,
        stop=10 * H,
    )
    ex, trace = execution(system, {n: first_order() for n in "ABC"}, B=3 * H)
    with pytest.raises(FmuError) as info, ex:
        ex.initialize()
        ex.run_until()
    err = info.value
    assert (err.instance, err.function, err.status) == ("B", "fmi2DoStep", "Error")
    assert err.time == pytest.approx(3 * H, abs=1e-15)
    assert any("injected failure" in line for line in err.log)
    assert "B: fmi2DoStep returned Error at t=0.003 s" in str(err)
    assert ex.step_count == 3 and ex.stats.status == "failed"
    assert sorted(e[1] for e in trace if e[0] == "free") == ["A", "B", "C"]
    assert sorted(e[1] for e in trace if e[0] == "terminate") == ["A", "C"]


def test_failure_at_exit_initialization_frees_everything():
    system = fake_system([("A", FIRST_ORDER), ("B", FIRST_ORDER)], [("A.y", "B.u")])
    ex, trace = execution(system, {"A": first_order(), "B": first_order(T=-1.0)})
    with pytest.raises(FmuError, match="fmi2ExitInitializationMode") as info, ex:
        ex.initialize()
    assert "invalid parameter T = -1 s" in "\n".join(info.value.log)
    assert sorted(e[1] for e in trace if e[0] == "free") == ["A", "B"]


class _StopAt:
    def __init__(self, step):
        self.step, self.ex, self.seen = step, None, []

    def simulation_initialized(self, ex):
        self.ex = ex

    def step_complete(self, step, tick):
        self.seen.append((step, tick))
        if step == self.step:
            self.ex.request_stop()


def test_stop_request_ends_the_run_at_the_end_of_the_current_step():
    system = fake_system([("A", FIRST_ORDER)], stop=10 * H)
    obs = _StopAt(3)
    ex = Execution(system, slave_factory=fake_factory({"A": first_order()}), observers=[obs])
    with ex:
        ex.initialize()
        assert ex.run_until() is False
    assert ex.step_count == 3 and ex.stats.status == "stopped"
    assert obs.seen == [(n, round(n * H * TICKS_PER_SECOND)) for n in (1, 2, 3)]
    assert ex.stats.simulated_time == pytest.approx(3 * H)


def test_run_until_an_intermediate_tick_then_the_stop():
    system = fake_system([("A", FIRST_ORDER)], stop=10 * H)
    ex, _ = execution(system, {"A": first_order()})
    with ex:
        ex.initialize()
        assert ex.run_until(system.start_tick + 4 * system.step_ticks)
        assert ex.step_count == 4
        assert ex.run_until()
        assert ex.step_count == 10 and ex.stats.status == "completed"


# --------------------------------------------------------------------------- FMI status rules
@pytest.mark.parametrize("algorithm", ["gauss-seidel", "jacobi"])
def test_discard_with_terminated_ends_the_run_cleanly(algorithm):
    """FMI 2.0: doStep returns Discard and fmi2GetBooleanStatus(fmi2Terminated) is true: the
    slave wants to end the simulation. The communication step completes, the run stops with
    status "stopped", every instance is terminated (allowed after Discard) and freed, and no
    further doStep reaches any instance."""
    system = fake_system(
        [("A", FIRST_ORDER), ("B", FIRST_ORDER), ("C", FIRST_ORDER)],
        [("A.y", "B.u"), ("B.y", "C.u")],
        algorithm=algorithm,
        stop=10 * H,
    )
    ex, trace = execution(
        system, {n: first_order() for n in "ABC"}, B=3 * H, fail_status={"B": 2}, terminated="B"
    )
    with ex:
        ex.initialize()
        assert ex.run_until() is False
        assert ex.step_count == 4 and ex.stats.status == "stopped"
        assert ex.run_until() is False and ex.step_count == 4  # no doStep after the end
    assert "B: fmi2DoStep returned Discard at t=0.003 s" in ex.stop_reason
    assert "terminate the simulation" in ex.stop_reason
    assert ("terminated?", "B") in trace
    assert max(e[2] for e in trace if e[0] == "step") == pytest.approx(3 * H)
    assert sorted(e[1] for e in trace if e[0] == "terminate") == ["A", "B", "C"]
    assert sorted(e[1] for e in trace if e[0] == "free") == ["A", "B", "C"]


def test_discard_without_terminated_fails_but_terminate_is_allowed():
    system = fake_system([("A", FIRST_ORDER), ("B", FIRST_ORDER)], [("A.y", "B.u")], stop=10 * H)
    ex, trace = execution(system, {n: first_order() for n in "AB"}, B=2 * H, fail_status={"B": 2})
    with pytest.raises(FmuError) as info, ex:
        ex.initialize()
        ex.run_until()
    assert (info.value.instance, info.value.status) == ("B", "Discard")
    assert ex.stats.status == "failed"
    assert sorted(e[1] for e in trace if e[0] == "terminate") == ["A", "B"]
    assert sorted(e[1] for e in trace if e[0] == "free") == ["A", "B"]


def test_fatal_instance_gets_no_further_call():
    """After Fatal, FMI forbids every further call to the instance, even FreeInstance: it is
    abandoned; the others are terminated and freed as usual."""
    system = fake_system([("A", FIRST_ORDER), ("B", FIRST_ORDER)], [("A.y", "B.u")], stop=10 * H)
    ex, trace = execution(system, {n: first_order() for n in "AB"}, B=2 * H, fail_status={"B": 4})
    with pytest.raises(FmuError) as info, ex:
        ex.initialize()
        ex.run_until()
    assert (info.value.instance, info.value.status) == ("B", "Fatal")
    after = trace[[k for k, e in enumerate(trace) if e[0] == "step" and e[1] == "B"][-1] + 1 :]
    assert [e[:2] for e in after if e[1] == "B"] == [("abandon", "B")]
    assert [e[0] for e in after if e[1] == "A"] == ["terminate", "free"]


class _Chatty(FakeSlave):
    """Logs one OK line and one Warning line per doStep (as raw bytes, like the C callback)
    and returns Warning from every doStep."""

    def bind_step(self, time, step):
        inner = super().bind_step(time, step)

        def do_step():
            status = inner()
            self.on_log(0, b"logAll", b"computing step")
            self.on_log(WARNING, b"logStatusWarning", b"clipped at t=%.3f \xff" % time.value)
            return status or WARNING

        return self._register(do_step, "fmi2DoStep")


def test_fmu_warnings_are_counted_and_the_log_stays_bounded():
    """20,000 steps of an FMU that logs twice per step: OK lines (no error category kept) are
    dropped, warnings counted, the log keeps its last 200 lines, the summary its last 5, and
    memory does not grow with the number of steps."""
    import tracemalloc

    system = fake_system([("A", FIRST_ORDER)], stop=30_000 * H)
    # the fake's own call trace would grow: keep only its last entry
    factory = fake_factory({"A": first_order()}, deque(maxlen=1), slave_class=_Chatty)
    with Execution(system, slave_factory=factory) as ex:
        ex.initialize()
        ex.run_until(ex.plan.tick(1000))

        def net(steps: int) -> int:
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            ex.run_until(ex.plan.tick(ex.step_count + steps))
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            return sum(s.size_diff for s in after.compare_to(before, "filename"))

        small, large = net(1_000), net(18_000)
        slave = ex.slaves[0]
        stats = ex.stats
    assert large - small < 4096, (small, large)  # 17,000 more lines would be > 1 MB
    n = 20_000
    assert stats.fmu_warnings == {"A": n} and stats.fmu_warning_returns == {"A": n}
    assert len(slave.log) == 200 and all(line.startswith("[Warning]") for line in slave.log)
    last = [f"[Warning] logStatusWarning: clipped at t={k * H:.3f} \ufffd" for k in range(n - 5, n)]
    assert stats.fmu_warning_lines == {"A": last}
    assert stats.as_dict()["fmu_warnings"] == {"A": n}


def test_log_filter_keeps_warnings_and_selected_categories():
    slave = FakeSlave("A", FirstOrderModel())
    slave.keep_log_categories(["logStatusError"])
    slave.on_log(0, b"logEvents", b"event at t=1")  # OK, other category: dropped
    slave.on_log(0, b"logStatusError", b"an OK-status line of an error category")
    slave.on_log(WARNING, b"logEvents", b"a warning in any category")
    slave.on_log(ERROR, "logStatusError", "from Python: str is fine too")
    assert slave.log == [
        "[OK] logStatusError: an OK-status line of an error category",
        "[Warning] logEvents: a warning in any category",
        "[Error] logStatusError: from Python: str is fine too",
    ]
    assert slave.warning_count == 1


def test_selected_log_categories():
    """FMI 2.0 section 2.1.5 standard names plus tool-specific ones, by name or description."""
    categories = [
        ("logEvents", None),
        ("logSingularLinearSystems", None),
        ("logNonlinearSystems", "Log nonlinear systems"),
        ("logStatusWarning", None),
        ("logStatusDiscard", None),
        ("logStatusError", None),
        ("logStatusFatal", None),
        ("logAll", "Log everything"),
        ("solver", "Fatal ERRORS of the solver"),
        ("io", "Warnings of the file reader"),
    ]
    assert select_log_categories(categories) == [
        "logStatusWarning", "logStatusDiscard", "logStatusError", "logStatusFatal", "solver",
        "io",
    ]  # fmt: skip
    assert select_log_categories([("logEvents", None), ("logAll", None)]) == []
