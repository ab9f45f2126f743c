"""FMI 2.0 Co-Simulation adapter over fmpy's FMU2Slave: raw C calls, buffers bound once."""

from __future__ import annotations

import ctypes
import functools
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cosim.errors import FmuError
from cosim.fmu.adapter import (
    OK,
    NativeSlave,
    StatusCall,
    ValueType,
    load_library,
    select_log_categories,
)
from cosim.model.spec import VariableInfo

# ---------------------------------------------------------------- one logger for all instances
# fmpy's native proxy (it formats the variadic message) forwards to ONE Python logger; each line
# is routed to its instance through the componentEnvironment pointer, a small integer key.
_INSTANCES: weakref.WeakValueDictionary[int, Fmi2Slave] = weakref.WeakValueDictionary()
_next_key = 1
_CALLBACK_FUNCTIONS: dict[str, Any] = {}
_FMI2_TERMINATED = 3  # fmi2StatusKind: fmi2Terminated


def _dispatch(env: Any, instance_name: bytes, status: int, category: bytes, message: bytes) -> None:
    slave = _INSTANCES.get(env or 0)
    if slave is not None:
        slave.on_log(status, category, message)  # raw bytes: decoded only when read
    else:  # the proxy is process-global: lines of FMUs run by plain fmpy keep fmpy's behaviour
        from fmpy.fmi2 import printLogMessage

        printLogMessage(env, instance_name, status, category, message)


def _callbacks_struct(key: int) -> Any:
    from fmpy import calloc, free
    from fmpy.fmi2 import (
        fmi2CallbackAllocateMemoryTYPE,
        fmi2CallbackFreeMemoryTYPE,
        fmi2CallbackFunctions,
        fmi2CallbackLoggerTYPE,
    )
    from fmpy.logging import addLoggerProxy

    fns = _CALLBACK_FUNCTIONS
    if not fns:  # module-lifetime callback objects: the C side may call them at any time
        fns["logger"] = fmi2CallbackLoggerTYPE(_dispatch)
        fns["alloc"] = fmi2CallbackAllocateMemoryTYPE(calloc)
        fns["free"] = fmi2CallbackFreeMemoryTYPE(free)
    cb = fmi2CallbackFunctions()
    cb.logger = fns["logger"]
    cb.allocateMemory = fns["alloc"]
    cb.freeMemory = fns["free"]
    cb.componentEnvironment = key
    addLoggerProxy(ctypes.byref(cb))
    return cb


class Fmi2Slave(NativeSlave):
    """One FMI 2.0 Co-Simulation instance."""

    fmi_version = "2.0"
    _prefix = "fmi2"
    _type_names = {
        ValueType.F64: "Real",
        ValueType.I32: "Integer",
        ValueType.B32: "Boolean",
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
        from fmpy.fmi2 import FMU2Model, FMU2Slave

        if fmu is None:  # else fmpy's object of an earlier instance, library loaded
            kind = FMU2Model if self._model_exchange else FMU2Slave
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
        global _next_key
        self._key = _next_key
        _next_key += 1
        _INSTANCES[self._key] = self
        self._callbacks: Any = None
        # noSetFMUStatePriorToCurrentPoint of every doStep: true until a state is taken
        self._no_rollback = ctypes.c_int(1)

    @staticmethod
    def value_type(var: VariableInfo) -> ValueType:
        return {
            "real": ValueType.F64,
            "integer": ValueType.I32,
            "boolean": ValueType.B32,
            "string": ValueType.STR,
        }[var.kind]

    def instantiate(self, logging_on: bool = False) -> None:
        """fmi2Instantiate with loggingOn = true, then only the error/warning categories
        (every category when `logging_on`)."""
        self._callbacks = _callbacks_struct(self._key)
        self.keep_log_categories(
            [] if logging_on else select_log_categories(self.available_log_categories),
            keep_all=logging_on,
        )
        try:
            self._fmu.instantiate(callbacks=self._callbacks, loggingOn=True)
        except Exception:
            raise FmuError(self.name, "fmi2Instantiate", "NULL", None, self.log) from None
        self._c = ctypes.c_void_p(self._fmu.component)
        self.instantiated = True
        self._configure_logging(logging_on)

    def wants_to_terminate(self) -> bool:
        """fmi2GetBooleanStatus(fmi2Terminated), to be asked after fmi2DoStep returned Discard."""
        if self._c is None:
            return False
        value = ctypes.c_int(0)
        try:
            function = self.typed("fmi2GetBooleanStatus")
        except AttributeError:
            return False
        status = function(self._c, _FMI2_TERMINATED, ctypes.byref(value))
        return status == OK and bool(value.value)

    def enter_initialization(
        self, start: float, stop: float | None = None, tolerance: float | None = None
    ) -> None:
        self.time = start
        self.call(
            "fmi2SetupExperiment",
            tolerance is not None,
            tolerance or 0.0,
            start,
            stop is not None,
            stop if stop is not None else 0.0,
        )
        self.call("fmi2EnterInitializationMode")

    def exit_initialization(self) -> None:
        self.call("fmi2ExitInitializationMode")
        self.initialized = True

    def bind_step(self, time: ctypes.c_double, step: ctypes.c_double) -> StatusCall:
        flag = self._no_rollback  # bound once; get_state() flips its value
        call = functools.partial(self.raw("fmi2DoStep"), self._c, time, step, flag)
        return self._register(call, "fmi2DoStep", time, step, flag)

    def set_input_derivatives(self, vrs: Any, first: Any, second: Any = None) -> None:
        vr, order, values = list(vrs), [1] * len(vrs), list(first)
        if second is not None:
            vr, order, values = vr + list(vrs), order + [2] * len(vrs), values + list(second)
        n = len(vr)
        self.call(
            "fmi2SetRealInputDerivatives",
            (ctypes.c_uint * n)(*vr),
            ctypes.c_size_t(n),
            (ctypes.c_int * n)(*order),
            (ctypes.c_double * n)(*values),
        )

    def directional_derivative(self, unknowns: Any, knowns: Any, seed: Any) -> list[float]:
        nu, nk = len(unknowns), len(knowns)
        out = (ctypes.c_double * nu)()
        status = self.raw("fmi2GetDirectionalDerivative")(
            self._c,
            (ctypes.c_uint * nu)(*unknowns),
            ctypes.c_size_t(nu),
            (ctypes.c_uint * nk)(*knowns),
            ctypes.c_size_t(nk),
            (ctypes.c_double * nk)(*seed),
            out,
        )
        self.check("fmi2GetDirectionalDerivative", status)
        return list(out)

    def get_state(self) -> Any:
        """fmi2GetFMUstate; from now on doStep passes noSetFMUStatePriorToCurrentPoint = false."""
        self._no_rollback.value = 0
        state = ctypes.c_void_p()
        self.call("fmi2GetFMUstate", ctypes.byref(state))
        return state

    def set_state(self, state: Any) -> None:
        self.call("fmi2SetFMUstate", state)

    def free_state(self, state: Any) -> None:
        self.call("fmi2FreeFMUstate", ctypes.byref(state))

    def serialize_state(self, state: Any) -> bytes:
        size = ctypes.c_size_t()
        self.call("fmi2SerializedFMUstateSize", state, ctypes.byref(size))
        buf = (ctypes.c_char * size.value)()
        self.call("fmi2SerializeFMUstate", state, buf, size)
        return bytes(buf)

    def deserialize_state(self, data: bytes) -> Any:
        buf = (ctypes.c_char * len(data)).from_buffer_copy(data)
        state = ctypes.c_void_p()
        self.call("fmi2DeSerializeFMUstate", buf, ctypes.c_size_t(len(data)), ctypes.byref(state))
        return state


__all__ = ["Fmi2Slave"]
