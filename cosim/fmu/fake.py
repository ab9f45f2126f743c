"""Pure-Python fake FMU instances, only for unit tests of the master algorithm.

A FakeSlave behaves like an FMI 2.0 Co-Simulation instance (F64/I32/B32 buffers, the same
bound-call protocol, the same communication-point check as the bundled FMUs) and appends every
call to a shared `trace` list, so tests can assert the exact order of sets, steps and gets.
FMU states (get_state / set_state) are copies of the model's values and time.
An injected failure returns a chosen status (Error by default; Discard, optionally with the
"terminated" flag FMI 2.0 reports through fmi2GetBooleanStatus; Fatal).
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cosim.fmu.adapter import ERROR, OK, Slave, StatusCall, ValueType, status_name
from cosim.fmu.fmi2 import Fmi2Slave
from cosim.model.spec import VariableInfo

Trace = list[tuple]


class FakeModel:
    """Variables by value reference; `evaluate` computes outputs, `advance` integrates states."""

    def __init__(self, values: dict[int, Any]) -> None:
        self.values = dict(values)

    def evaluate(self, v: dict[int, Any]) -> None:
        """Outputs from inputs, parameters and states (direct feedthrough lives here)."""

    def advance(self, v: dict[int, Any], t: float, h: float) -> None:
        """States from t to t + h with the inputs held constant."""

    def check(self, v: dict[int, Any]) -> str | None:
        """A message if the parameters are invalid (the step then returns Error)."""
        return None


class FirstOrderModel(FakeModel):
    """T*dy/dt = k*u - y, advanced exactly for a held input. VRs: T=1, k=2, u=3, y=4."""

    T, K, U, Y = 1, 2, 3, 4

    def __init__(self, T: float = 1.0, k: float = 1.0, u: float = 0.0, y: float = 0.0) -> None:
        super().__init__({self.T: T, self.K: k, self.U: u, self.Y: y})

    def advance(self, v: dict[int, Any], t: float, h: float) -> None:
        a = math.exp(-h / v[self.T])
        v[self.Y] = a * v[self.Y] + (1.0 - a) * v[self.K] * v[self.U]

    def check(self, v: dict[int, Any]) -> str | None:
        return None if v[self.T] > 0 else f"invalid parameter T = {v[self.T]:g} s"


class GainModel(FakeModel):
    """y = k*u + b (direct feedthrough); n_out = n_in; positive = u > 0.

    VRs: k=1, b=2, u=3, y=4 (Real); n_in=1001, n_out=1002 (Integer); positive=2001 (Boolean).
    """

    K, B, U, Y, N_IN, N_OUT, POSITIVE = 1, 2, 3, 4, 1001, 1002, 2001

    def __init__(self, k: float = 1.0, b: float = 0.0) -> None:
        super().__init__(
            {
                self.K: k,
                self.B: b,
                self.U: 0.0,
                self.Y: b,
                self.N_IN: 0,
                self.N_OUT: 0,
                self.POSITIVE: 0,
            }  # fmt: skip
        )

    def evaluate(self, v: dict[int, Any]) -> None:
        v[self.Y] = v[self.K] * v[self.U] + v[self.B]
        v[self.N_OUT] = v[self.N_IN]
        v[self.POSITIVE] = 1 if v[self.U] > 0 else 0


class FakeSlave(Slave):
    """One fake instance over a FakeModel; every call is appended to `trace`."""

    fmi_version = "2.0"

    def __init__(
        self,
        name: str,
        model: FakeModel,
        trace: Trace | None = None,
        fail_step_at: float | None = None,
        fail_status: int = ERROR,
        terminated: bool = False,
    ) -> None:
        super().__init__(name)
        self.model = model
        self.trace: Trace = trace if trace is not None else []
        self.fail_step_at = fail_step_at
        self.fail_status = fail_status
        self.terminated_flag = terminated  # what fmi2GetBooleanStatus(fmi2Terminated) reports
        self.t = 0.0
        self.freed = False

    @staticmethod
    def value_type(var: VariableInfo) -> ValueType:
        return Fmi2Slave.value_type(var)

    def _eval(self) -> None:
        self.model.evaluate(self.model.values)

    def instantiate(self, logging_on: bool = False) -> None:
        self.trace.append(("instantiate", self.name))
        self.instantiated = True

    def enter_initialization(
        self, start: float, stop: float | None = None, tolerance: float | None = None
    ) -> None:
        self.t = self.time = start
        self.trace.append(("enter_initialization", self.name, start))

    def exit_initialization(self) -> None:
        self.trace.append(("exit_initialization", self.name))
        message = self.model.check(self.model.values)
        if message:
            self.on_log(ERROR, "logStatusError", message)
            self.check("fmi2ExitInitializationMode", ERROR)
        self.initialized = True

    def bind_get(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        vrs = list(vrs)
        v = self.model.values

        def get() -> int:
            self._eval()
            for k, vr in enumerate(vrs):
                values[k] = v[vr]
            self.trace.append(("get", self.name, self.t, tuple(vrs)))
            return OK

        return self._register(get, "fmi2Get" + vtype.name)

    def bind_set(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        vrs = list(vrs)
        v = self.model.values

        def set_() -> int:
            for k, vr in enumerate(vrs):
                v[vr] = values[k]
            self.trace.append(("set", self.name, self.t, tuple((vr, v[vr]) for vr in vrs)))
            return OK

        return self._register(set_, "fmi2Set" + vtype.name)

    def bind_step(self, time: ctypes.c_double, step: ctypes.c_double) -> StatusCall:
        def do_step() -> int:
            t, h = time.value, step.value
            self.trace.append(("step", self.name, t, h))
            if abs(t - self.t) > 1e-9 * (1.0 + abs(t)):
                self.on_log(
                    ERROR, "logStatusError", f"communication point {t} != FMU time {self.t}"
                )
                return ERROR
            message = self.model.check(self.model.values)
            if self.fail_step_at is not None and t >= self.fail_step_at - 1e-12:
                status = self.fail_status
                category = "logStatus" + status_name(status)
                self.on_log(status, category, f"injected failure at t={t:g}")
                return status
            if message:
                self.on_log(ERROR, "logStatusError", message)
                return ERROR
            self.model.advance(self.model.values, t, h)
            self.t = t + h
            return OK

        return self._register(do_step, "fmi2DoStep")

    def set_values(self, vtype: ValueType, vrs: Sequence[int], values: Sequence[Any]) -> None:
        for vr, value in zip(vrs, values, strict=True):
            self.model.values[vr] = value
        self.trace.append(("set_values", self.name, self.t, tuple(zip(vrs, values, strict=True))))

    def get_values(
        self, vtype: ValueType, vrs: Sequence[int], count: int | None = None
    ) -> list[Any]:
        self._eval()
        return [self.model.values[vr] for vr in vrs]

    def get_state(self) -> Any:
        """A copy of the model's values and the FMU time (like fmi2GetFMUstate)."""
        self.trace.append(("get_state", self.name, self.t))
        return (dict(self.model.values), self.t)

    def set_state(self, state: Any) -> None:
        values, t = state
        self.model.values.clear()
        self.model.values.update(values)
        self.t = t
        self.trace.append(("set_state", self.name, t))

    def free_state(self, state: Any) -> None:
        self.trace.append(("free_state", self.name))

    def wants_to_terminate(self) -> bool:
        self.trace.append(("terminated?", self.name))
        return self.terminated_flag

    def terminate(self) -> None:
        self.terminated = True
        self.trace.append(("terminate", self.name))

    def free(self) -> None:
        self.freed = True
        self.trace.append(("free", self.name))

    def abandon(self) -> None:
        self.trace.append(("abandon", self.name))


def fake_factory(
    models: dict[str, Callable[[], FakeModel]],
    trace: Trace | None = None,
    *,
    fail_status: dict[str, int] | None = None,
    terminated: Iterable[str] = (),
    slave_class: type[FakeSlave] | None = None,
    **fail: float,
) -> Callable[[Any], FakeSlave]:
    """A slave factory for Execution: component name -> FakeSlave over a fresh model.

    `fail` maps a component name to the time from which its doStep returns `fail_status[name]`
    (default Error); components in `terminated` then report fmi2Terminated = true.
    """
    trace = trace if trace is not None else []
    statuses = fail_status or {}
    ending = set(terminated)
    cls = slave_class or FakeSlave

    def create(component: Any) -> FakeSlave:
        name = component.name
        return cls(
            name,
            models[name](),
            trace,
            fail_step_at=fail.get(name),
            fail_status=statuses.get(name, ERROR),
            terminated=name in ending,
        )

    create.trace = trace  # type: ignore[attr-defined]
    return create


__all__ = ["FakeModel", "FakeSlave", "FirstOrderModel", "GainModel", "fake_factory"]
