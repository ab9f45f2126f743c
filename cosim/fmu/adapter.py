"""The slave protocol: one FMU instance behind version-neutral calls, with buffers bound once.

Call order (every adapter, every FMI version)::

    instantiate() → set_values(...)* → enter_initialization(start)
        → (set_values / get_values)* → exit_initialization()
        → (bound sets → bound step → bound gets)*          # the hot path
        → terminate() → free()

The hot path never goes through Python-level FMI wrappers: `bind_get` / `bind_set` /
`bind_step` return zero-argument callables over the raw C functions, with the instance
pointer, value-reference array, count and value buffer fixed at bind time. Each returns the
raw FMI status (an int); the caller compares it with `WARNING` and, on anything worse,
raises `slave.error(call, time)`, the single checkpoint that turns a status into `FmuError`
carrying the FMU's own log lines.
"""

from __future__ import annotations

import ctypes
import functools
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any

import numpy as np

from cosim.errors import FmuError
from cosim.spec import VariableInfo

OK, WARNING, DISCARD, ERROR, FATAL, PENDING = range(6)
STATUS_NAMES = ("OK", "Warning", "Discard", "Error", "Fatal", "Pending")

StatusCall = Callable[[], int]


class ValueType(IntEnum):
    """The C type a value travels in between the engine and an FMU (one buffer per type)."""

    F64 = 0  # fmi2Real, fmi3Float64
    F32 = 1  # fmi3Float32
    I32 = 2  # fmi2Integer / fmi2 Enumeration, fmi3Int32
    I64 = 3  # fmi3Int64 / fmi3 Enumeration
    I8 = 4
    U8 = 5
    I16 = 6
    U16 = 7
    U32 = 8
    U64 = 9
    B32 = 10  # fmi2Boolean (int)
    B8 = 11  # fmi3Boolean (bool)
    STR = 12  # fmi2String / fmi3String (never on the per-step path)


CTYPES: dict[ValueType, Any] = {
    ValueType.F64: ctypes.c_double,
    ValueType.F32: ctypes.c_float,
    ValueType.I32: ctypes.c_int32,
    ValueType.I64: ctypes.c_int64,
    ValueType.I8: ctypes.c_int8,
    ValueType.U8: ctypes.c_uint8,
    ValueType.I16: ctypes.c_int16,
    ValueType.U16: ctypes.c_uint16,
    ValueType.U32: ctypes.c_uint32,
    ValueType.U64: ctypes.c_uint64,
    ValueType.B32: ctypes.c_int32,
    ValueType.B8: ctypes.c_bool,
    ValueType.STR: ctypes.c_char_p,
}

DTYPES: dict[ValueType, np.dtype] = {
    vt: np.dtype(ct) for vt, ct in CTYPES.items() if vt is not ValueType.STR
}

NUMERIC_FLOAT = frozenset({ValueType.F64, ValueType.F32})
BOOLEAN = frozenset({ValueType.B32, ValueType.B8})


def status_name(status: int) -> str:
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"illegal status {status}"


class Slave(ABC):
    """One FMU instance. Subclasses implement one FMI version (or a pure-Python fake)."""

    fmi_version: str = ""

    def __init__(self, name: str, log_size: int = 200) -> None:
        self.name = name
        self.log: deque[str] = deque(maxlen=log_size)
        self.time: float | None = None  # last communication point known to the adapter
        self._call_names: dict[int, str] = {}  # id(bound call) -> FMI function name
        self._keep: list[Any] = []  # buffers referenced by bound calls (kept alive)
        self.instantiated = False
        self.initialized = False  # exit_initialization succeeded
        self.terminated = False
        self.failed = False  # an FMI call returned Discard/Error/Fatal: do not terminate

    # ------------------------------------------------------------------ version specifics
    @staticmethod
    @abstractmethod
    def value_type(var: VariableInfo) -> ValueType:
        """The buffer type this FMI version uses for `var`."""

    @abstractmethod
    def instantiate(self, logging_on: bool = False) -> None: ...

    @abstractmethod
    def enter_initialization(
        self, start: float, stop: float | None = None, tolerance: float | None = None
    ) -> None: ...

    @abstractmethod
    def exit_initialization(self) -> None: ...

    @abstractmethod
    def bind_get(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        """A call that fills `values` (a ctypes array of CTYPES[vtype]) for `vrs`."""

    @abstractmethod
    def bind_set(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        """A call that sends `values` (a ctypes array of CTYPES[vtype]) to `vrs`."""

    @abstractmethod
    def bind_step(self, time: ctypes.c_double, step: ctypes.c_double) -> StatusCall:
        """A doStep call reading the communication point and step size from the two cells."""

    @abstractmethod
    def set_values(self, vtype: ValueType, vrs: Sequence[int], values: Sequence[Any]) -> None:
        """Set values outside the hot path (start values, events); raises FmuError."""

    @abstractmethod
    def get_values(self, vtype: ValueType, vrs: Sequence[int]) -> list[Any]:
        """Get values outside the hot path; raises FmuError."""

    def get_state(self) -> Any:
        raise FmuError(self.name, "getFMUState", "not supported", self.time, list(self.log))

    def set_state(self, state: Any) -> None:
        raise FmuError(self.name, "setFMUState", "not supported", self.time, list(self.log))

    def free_state(self, state: Any) -> None:
        raise FmuError(self.name, "freeFMUState", "not supported", self.time, list(self.log))

    @abstractmethod
    def terminate(self) -> None: ...

    @abstractmethod
    def free(self) -> None:
        """Free the instance and release the library; safe to call once in any state."""

    # ------------------------------------------------------------------ checkpoint
    def _register(self, call: StatusCall, function: str, *keep: Any) -> StatusCall:
        self._call_names[id(call)] = function
        self._keep.append((call, keep))
        return call

    def function_name(self, call: StatusCall) -> str:
        return self._call_names.get(id(call), "?")

    def error(self, function: str | StatusCall, status: int, time: float | None = None) -> FmuError:
        """The FmuError for a bad status of `function` (a name or a bound call)."""
        if not isinstance(function, str):
            function = self.function_name(function)
        if time is None:
            time = self.time
        return FmuError(self.name, function, status_name(status), time, list(self.log))

    def check(self, function: str, status: int, time: float | None = None) -> int:
        """The one checkpoint: raise FmuError for Discard, Error, Fatal (or illegal) status."""
        if status > WARNING or status < OK:
            self.failed = True
            raise self.error(function, status, time)
        return status

    def on_log(self, status: int, category: str, message: str) -> None:
        """Capture one FMU log line (called from the FMU's logger callback)."""
        self.log.append(f"[{status_name(status)}] {category}: {message}".rstrip())


class NativeSlave(Slave):
    """Shared machinery of the adapters over fmpy's low-level classes (FMU2Slave, FMU3Slave).

    Hot-path calls use private ctypes function objects without argtypes, called with
    arguments converted once at bind time (pre-typed ctypes objects): about half the cost of a
    call through argtypes conversion. Other calls use fmpy's typed function objects.
    """

    _prefix = ""  # "fmi2" | "fmi3"
    _type_names: dict[ValueType, str] = {}

    def __init__(self, name: str, fmu: Any, log_size: int = 200) -> None:
        super().__init__(name, log_size)
        self._fmu = fmu
        self._c: ctypes.c_void_p | None = None
        self._raw: dict[str, Any] = {}
        self._freed = False

    def raw(self, function: str) -> Any:
        """A private function object for `function` with no argtypes (arguments are pre-typed)."""
        f = self._raw.get(function)
        if f is None:
            f = self._fmu.dll[function]  # __getitem__ builds a new object; fmpy's stay untouched
            f.restype = ctypes.c_int
            f.argtypes = None
            self._raw[function] = f
        return f

    def typed(self, function: str) -> Any:
        """fmpy's function object for `function`, with argtypes (for calls off the hot path)."""
        return getattr(self._fmu.dll, function)

    def call(self, function: str, *args: Any) -> int:
        """Call a typed FMI function on this instance and pass its status through the checkpoint."""
        return self.check(function, self.typed(function)(self._c, *args))

    def _values_args(self, vr: Any, n: Any, values: Any) -> tuple[Any, ...]:
        return (vr, n, values)

    def _bind_values(
        self, verb: str, vtype: ValueType, vrs: Sequence[int], values: Any
    ) -> StatusCall:
        if self._c is None:
            raise self.error(f"{self._prefix}{verb}", ERROR)
        try:
            function = f"{self._prefix}{verb}{self._type_names[vtype]}"
        except KeyError:
            raise self.error(f"{self._prefix}{verb} ({vtype.name})", ERROR) from None
        vr = (ctypes.c_uint32 * len(vrs))(*vrs)
        n = ctypes.c_size_t(len(vrs))
        args = self._values_args(vr, n, values)
        call = functools.partial(self.raw(function), self._c, *args)
        return self._register(call, function, *args)

    def bind_get(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        return self._bind_values("Get", vtype, vrs, values)

    def bind_set(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        return self._bind_values("Set", vtype, vrs, values)

    def _forget(self, call: StatusCall) -> None:
        self._call_names.pop(id(call), None)
        self._keep = [k for k in self._keep if k[0] is not call]

    def set_values(self, vtype: ValueType, vrs: Sequence[int], values: Sequence[Any]) -> None:
        if vtype is ValueType.STR:
            values = [str(v).encode("utf-8") for v in values]
        elif vtype in BOOLEAN:
            values = [bool(v) for v in values]
        buf = (CTYPES[vtype] * len(vrs))(*values)
        call = self._bind_values("Set", vtype, vrs, buf)
        try:
            self.check(self.function_name(call), call())
        finally:
            self._forget(call)

    def get_values(self, vtype: ValueType, vrs: Sequence[int]) -> list[Any]:
        buf = (CTYPES[vtype] * len(vrs))()
        call = self._bind_values("Get", vtype, vrs, buf)
        try:
            self.check(self.function_name(call), call())
        finally:
            self._forget(call)
        if vtype is ValueType.STR:
            return [(b or b"").decode("utf-8", "replace") for b in buf]
        if vtype in BOOLEAN:
            return [bool(v) for v in buf]
        return list(buf)

    def terminate(self) -> None:
        self.terminated = True
        self.call(f"{self._prefix}Terminate")

    def free(self) -> None:
        if self._freed:
            return
        self._freed = True
        try:
            if self._c is not None:
                self.typed(f"{self._prefix}FreeInstance")(self._c)
        finally:
            self._c = None
            self._raw.clear()
            self._keep.clear()
            self._fmu.freeLibrary()


__all__ = [
    "BOOLEAN",
    "CTYPES",
    "DTYPES",
    "DISCARD",
    "ERROR",
    "FATAL",
    "NUMERIC_FLOAT",
    "NativeSlave",
    "OK",
    "STATUS_NAMES",
    "Slave",
    "StatusCall",
    "ValueType",
    "WARNING",
    "status_name",
]
