"""FMI 3.0 Co-Simulation adapter over fmpy's FMU3Slave: raw C calls, buffers bound once."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cosim.errors import FmuError
from cosim.fmu.adapter import NativeSlave, StatusCall, ValueType, select_log_categories
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
    """One FMI 3.0 Co-Simulation instance (no event mode, no early return)."""

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
    ) -> None:
        from fmpy.fmi3 import FMU3Model, FMU3Slave

        try:
            fmu = (FMU3Model if self._model_exchange else FMU3Slave)(
                guid=guid,
                unzipDirectory=str(unzip_dir),
                modelIdentifier=model_identifier,
                instanceName=name,
            )
        except Exception as exc:  # fmpy raises plain Exception for a missing/unloadable library
            raise FmuError(name, "load shared library", f"failed ({exc})") from None
        super().__init__(name, fmu, log_size, log_categories)
        # out-arguments of fmi3DoStep, written by the FMU on every step
        self.event_handling_needed = ctypes.c_bool(False)
        self.terminate_simulation = ctypes.c_bool(False)
        self.early_return = ctypes.c_bool(False)
        self.last_successful_time = ctypes.c_double(0.0)
        # noSetFMUStatePriorToCurrentPoint of every doStep: true until a state is taken
        self._no_rollback = ctypes.c_bool(True)

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
            self._fmu.instantiate(loggingOn=True, logMessage=self._log_message)
        except Exception:
            raise FmuError(
                self.name, "fmi3InstantiateCoSimulation", "NULL", None, self.log
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
        self.time = start
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
        self.initialized = True

    def configure(self, values: Any) -> None:
        """Structural parameters: enter Configuration Mode, set them, exit it (FMI 3.0)."""
        self.call("fmi3EnterConfigurationMode")
        for vtype, (vrs, items) in values:
            self.set_values(vtype, vrs, items)
        self.call("fmi3ExitConfigurationMode")

    def _values_args(self, vr: Any, n: Any, values: Any) -> tuple[Any, ...]:
        return (vr, n, values, n)  # nValues == nValueReferences: scalar variables only

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
        return self._register(call, "fmi3DoStep", *args)

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
