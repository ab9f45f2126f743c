"""FMI 3.0 Co-Simulation adapter over fmpy's FMU3Slave: raw C calls, buffers bound once."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cosim.errors import FmuError
from cosim.fmu.adapter import (
    ERROR,
    WARNING,
    NativeSlave,
    StatusCall,
    ValueType,
    load_library,
    select_log_categories,
)
from cosim.model.spec import VariableInfo

_BY_FMI_TYPE = {
    "Float64": ValueType.F64,
    "Float32": ValueType.F32,
    "Int8": ValueType.I8,
    "UInt8": ValueType.U8,
    "Int16": ValueType.I16,
    "UInt16": ValueType.U16,
    "Int32": ValueType.I32,
    "UInt32": ValueType.U32,
    "Int64": ValueType.I64,
    "UInt64": ValueType.U64,
    "Enumeration": ValueType.I64,
    "Boolean": ValueType.B8,
    "String": ValueType.STR,
}
_BY_KIND = {
    "real": ValueType.F64,
    "integer": ValueType.I32,
    "boolean": ValueType.B8,
    "string": ValueType.STR,
}


class Fmi3Slave(NativeSlave):
    """One FMI 3.0 Co-Simulation instance (Event Mode for clocked FMUs; no early return)."""

    fmi_version = "3.0"
    _prefix = "fmi3"
    _type_names = {
        ValueType.F64: "Float64",
        ValueType.F32: "Float32",
        ValueType.I8: "Int8",
        ValueType.U8: "UInt8",
        ValueType.I16: "Int16",
        ValueType.U16: "UInt16",
        ValueType.I32: "Int32",
        ValueType.U32: "UInt32",
        ValueType.I64: "Int64",
        ValueType.U64: "UInt64",
        ValueType.B8: "Boolean",
        ValueType.STR: "String",
    }

    _model_exchange = False  # cosim.fmu.me: the Model Exchange interface of the same FMU

    def __init__(
        self,
        name: str,
        unzip_dir: str | Path,
        model_identifier: str,
        guid: str,
        log_size: int = 200,
        log_categories: Iterable[Any] = (),
        fmu: Any = None,
    ) -> None:
        from fmpy.fmi3 import FMU3Model, FMU3Slave

        if fmu is None:  # else fmpy's object of an earlier instance, library loaded
            kind = FMU3Model if self._model_exchange else FMU3Slave
            fmu = load_library(
                name,
                lambda: kind(
                    guid=guid,
                    unzipDirectory=str(unzip_dir),
                    modelIdentifier=model_identifier,
                    instanceName=name,
                ),
            )
        super().__init__(name, fmu, log_size, log_categories)
        # out-arguments of fmi3DoStep, written by the FMU on every step
        self.event_handling_needed = ctypes.c_bool(False)
        self.terminate_simulation = ctypes.c_bool(False)
        self.early_return = ctypes.c_bool(False)
        self.last_successful_time = ctypes.c_double(0.0)
        # noSetFMUStatePriorToCurrentPoint of every doStep: true until a state is taken
        self._no_rollback = ctypes.c_bool(True)
        # Event Mode (eventModeUsed): periodic input clocks (vr, interval, shift) to activate
        self.event_mode = False
        self.clocks: list[tuple[int, float, float]] = []
        self.start_time = 0.0
        self.event_count = 0  # Event Mode entries after initialization

    def use_event_mode(self, clocks: Iterable[tuple[int, float, float]]) -> None:
        """Instantiate with eventModeUsed and activate these periodic input clocks at their
        ticks: at each communication point where one ticks (or where fmi3DoStep asks for event
        handling) the instance enters Event Mode, gets fmi3SetClock and fmi3UpdateDiscreteStates
        until its discrete states settle, and returns to Step Mode (FMI 3.0 section 4.2)."""
        self.event_mode = True
        self.clocks = list(clocks)

    @staticmethod
    def value_type(var: VariableInfo) -> ValueType:
        return _BY_FMI_TYPE.get(var.fmi_type) or _BY_KIND[var.kind]

    def _log_message(self, env: Any, status: int, category: bytes, message: bytes) -> None:
        self.on_log(status, category, message)  # raw bytes: decoded only when read

    def instantiate(self, logging_on: bool = False) -> None:
        """fmi3InstantiateCoSimulation with loggingOn = true, then only the error/warning
        categories (every category when `logging_on`)."""
        self.keep_log_categories(
            [] if logging_on else select_log_categories(self.available_log_categories),
            keep_all=logging_on,
        )
        try:
            extra = {"eventModeUsed": True} if self.event_mode else {}
            self._fmu.instantiate(loggingOn=True, logMessage=self._log_message, **extra)
        except Exception:
            function = "ModelExchange" if self._model_exchange else "CoSimulation"
            raise FmuError(
                self.name, f"fmi3Instantiate{function}", "NULL", None, self.log
            ) from None
        self._c = ctypes.c_void_p(self._fmu.component)
        self.instantiated = True
        self._configure_logging(logging_on)

    def wants_to_terminate(self) -> bool:
        """The terminateSimulation out-argument of the last fmi3DoStep."""
        return bool(self.terminate_simulation.value)

    def enter_initialization(
        self, start: float, stop: float | None = None, tolerance: float | None = None
    ) -> None:
        self.time = self.start_time = start
        self.call(
            "fmi3EnterInitializationMode",
            tolerance is not None,
            tolerance or 0.0,
            start,
            stop is not None,
            stop if stop is not None else 0.0,
        )

    def exit_initialization(self) -> None:
        self.call("fmi3ExitInitializationMode")
        if self.event_mode:  # Initialization Mode -> Event Mode: the start time's events
            self._event_iteration(self._ticking(self.start_time))
            self.call("fmi3EnterStepMode")
        self.initialized = True

    def _ticking(self, t: float) -> list[int]:
        """The input clocks that tick at time `t`."""
        out = []
        for vr, interval, shift in self.clocks:
            k = round((t - self.start_time - shift) / interval)
            at = self.start_time + shift + k * interval
            if k >= 0 and abs(t - at) <= 1e-9 * max(1.0, abs(t)):
                out.append(vr)
        return out

    def _event_iteration(self, clocks: list[int]) -> None:
        """In Event Mode: activate `clocks`, then fmi3UpdateDiscreteStates until the discrete
        states settle (at most 100 rounds)."""
        if clocks:
            n = len(clocks)
            self.call(
                "fmi3SetClock", (ctypes.c_uint32 * n)(*clocks), ctypes.c_size_t(n),
                (ctypes.c_bool * n)(*([True] * n)),
            )  # fmt: skip
        again, terminate = ctypes.c_bool(True), ctypes.c_bool(False)
        flags = [ctypes.c_bool(False) for _ in range(3)]
        next_time = ctypes.c_double(0.0)
        update = self.raw("fmi3UpdateDiscreteStates")
        for _ in range(100):
            status = update(
                self._c, ctypes.byref(again), ctypes.byref(terminate),
                *(ctypes.byref(f) for f in flags), ctypes.byref(next_time),
            )  # fmt: skip
            self.check("fmi3UpdateDiscreteStates", status, self.time)
            if terminate.value:
                self.terminate_simulation.value = True
            if not again.value or terminate.value:
                return
        raise self.error("fmi3UpdateDiscreteStates", ERROR, self.time)

    def _step_with_events(self, do_step: Any, time: ctypes.c_double, step: ctypes.c_double) -> int:
        status = do_step()
        if status > WARNING or self.terminate_simulation.value:
            return status
        t = time.value + step.value
        clocks = self._ticking(t)
        if clocks or self.event_handling_needed.value:
            self.time = t
            self.call("fmi3EnterEventMode")
            self.event_count += 1
            self._event_iteration(clocks)
            if not self.terminate_simulation.value:
                self.call("fmi3EnterStepMode")
        return status

    def configure(self, values: Any) -> None:
        """Structural parameters: enter Configuration Mode, set them, exit it (FMI 3.0)."""
        self.call("fmi3EnterConfigurationMode")
        for vtype, (vrs, items) in values:
            self.set_values(vtype, vrs, items)
        self.call("fmi3ExitConfigurationMode")

    def _values_args(self, vr: Any, n: Any, values: Any, count: Any) -> tuple[Any, ...]:
        return (vr, n, values, count)  # nValues: more than nValueReferences with arrays

    def bind_step(self, time: ctypes.c_double, step: ctypes.c_double) -> StatusCall:
        args = (
            time,
            step,
            self._no_rollback,  # bound once; get_state() flips its value
            ctypes.byref(self.event_handling_needed),
            ctypes.byref(self.terminate_simulation),
            ctypes.byref(self.early_return),
            ctypes.byref(self.last_successful_time),
        )
        call = functools.partial(self.raw("fmi3DoStep"), self._c, *args)
        if self.event_mode:  # Python wraps the raw call: only for FMUs run in Event Mode
            call = functools.partial(self._step_with_events, call, time, step)
        return self._register(call, "fmi3DoStep", *args)

    def directional_derivative(self, unknowns: Any, knowns: Any, seed: Any) -> list[float]:
        nu, nk = len(unknowns), len(knowns)
        out = (ctypes.c_double * nu)()
        status = self.raw("fmi3GetDirectionalDerivative")(
            self._c,
            (ctypes.c_uint32 * nu)(*unknowns),
            ctypes.c_size_t(nu),
            (ctypes.c_uint32 * nk)(*knowns),
            ctypes.c_size_t(nk),
            (ctypes.c_double * nk)(*seed),
            ctypes.c_size_t(nk),
            out,
            ctypes.c_size_t(nu),
        )
        self.check("fmi3GetDirectionalDerivative", status)
        return list(out)

    def get_state(self) -> Any:
        """fmi3GetFMUState; from now on doStep passes noSetFMUStatePriorToCurrentPoint = false."""
        self._no_rollback.value = False
        state = ctypes.c_void_p()
        self.call("fmi3GetFMUState", ctypes.byref(state))
        return state

    def set_state(self, state: Any) -> None:
        self.call("fmi3SetFMUState", state)

    def free_state(self, state: Any) -> None:
        self.call("fmi3FreeFMUState", ctypes.byref(state))

    def serialize_state(self, state: Any) -> bytes:
        size = ctypes.c_size_t()
        self.call("fmi3SerializedFMUStateSize", state, ctypes.byref(size))
        buf = (ctypes.c_uint8 * size.value)()
        self.call("fmi3SerializeFMUState", state, buf, size)
        return bytes(buf)

    def deserialize_state(self, data: bytes) -> Any:
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        state = ctypes.c_void_p()
        self.call("fmi3DeserializeFMUState", buf, ctypes.c_size_t(len(data)), ctypes.byref(state))
        return state


__all__ = ["Fmi3Slave"]
