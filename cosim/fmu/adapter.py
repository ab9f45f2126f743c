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

Status rules (FMI 2.0 section 2.1.3, FMI 3.0 section 2.2.4), applied by `may_terminate` and
`must_not_call`: after Discard the instance may still be terminated; after Error it is only
freed; after Fatal no function of the instance is called again, not even fmiXFreeInstance
(FMI 2.0 extends that to every instance of the same FMU: see `library_key`).

FMU log: instances are created with loggingOn = true, then restricted to the model
description's error/warning categories (`select_log_categories`, applied with
fmiXSetDebugLogging); FMI lets an FMU skip the logger entirely when loggingOn is false, so
with it off a third-party FMU's FmuError would carry no log lines. A line is kept when its
status is Warning or worse or its category is one of the selected ones; kept lines live in a
bounded deque as the raw values the callback received and are decoded only when read
(`log`), so a chatty FMU costs one filtered callback per line and no memory growth.
Warning lines are also counted (`warning_count`) with the last few kept (`warnings`).
"""

from __future__ import annotations

import ctypes
import functools
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum
from typing import Any

import numpy as np

from cosim.errors import FmuError
from cosim.model.spec import VariableInfo

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


def load_library(name: str, make: Callable[[], Any]) -> Any:
    """fmpy's FMU object from `make()`, or FmuError naming the instance; the working folder
    survives a failed load (fmpy changes into binaries/ while it loads and may not change
    back, which would break every later FMU of the process once the folder is removed)."""
    import os

    cwd = os.getcwd()
    try:
        return make()
    except Exception as exc:  # fmpy raises plain Exception for a missing/unloadable library
        raise FmuError(name, "load shared library", f"failed ({exc})") from None
    finally:
        try:
            moved = os.getcwd() != cwd
        except OSError:  # the folder it was left in is gone
            moved = True
        if moved:
            os.chdir(cwd)


def status_name(status: int) -> str:
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"illegal status {status}"


LOG_CATEGORY_WORDS = ("error", "warning", "fatal", "discard", "status")
WARNING_LINES = 5  # the last warning lines each instance keeps for the run summary


def select_log_categories(categories: Iterable[Any]) -> list[str]:
    """The names of the log categories to enable: those whose name or description mentions
    error, warning, fatal, discard or status (case-insensitive), in model-description order.

    `categories` holds fmpy `Category` objects (`name`, `description`) or (name, description)
    pairs.
    """
    out = []
    for c in categories:
        name, description = c if isinstance(c, tuple) else (c.name, c.description)
        text = f"{name or ''} {description or ''}".lower()
        if name and any(word in text for word in LOG_CATEGORY_WORDS):
            out.append(str(name))
    return out


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def _format(entry: tuple[int, str | bytes | None, str | bytes | None]) -> str:
    status, category, message = entry
    return f"[{status_name(status)}] {_text(category)}: {_text(message)}".rstrip()


class Slave(ABC):
    """One FMU instance. Subclasses implement one FMI version (or a pure-Python fake)."""

    fmi_version: str = ""

    def __init__(self, name: str, log_size: int = 200) -> None:
        self.name = name
        # raw (status, category, message) of kept log lines; decoded only when read (`log`)
        self._log: deque[tuple[int, Any, Any]] = deque(maxlen=log_size)
        self._warnings: deque[tuple[int, Any, Any]] = deque(maxlen=WARNING_LINES)
        self.warning_count = 0  # log lines with status Warning
        self.log_categories: list[str] = []  # the categories enabled with fmiXSetDebugLogging
        self._keep_categories: frozenset[str | bytes] = frozenset()
        self._keep_all = False
        self.time: float | None = None  # last communication point known to the adapter
        self._call_names: dict[int, str] = {}  # id(bound call) -> FMI function name
        self._keep: list[Any] = []  # buffers referenced by bound calls (kept alive)
        self.instantiated = False
        self.initialized = False  # exit_initialization succeeded
        self.terminated = False
        self.failed = False  # an FMI call returned Discard/Error/Fatal
        self.worst_status = OK  # the worst status an FMI call of this instance returned
        # instances that share one loaded binary share its fate after Fatal (FMI 2.0)
        self.library_key: Any = None

    # ------------------------------------------------------------------ log
    @property
    def log(self) -> list[str]:
        """The kept log lines, oldest first, as "[Status] category: message"."""
        return [_format(e) for e in self._log]

    @property
    def warnings(self) -> list[str]:
        """The last few log lines with status Warning."""
        return [_format(e) for e in self._warnings]

    def keep_log_categories(self, categories: Iterable[str], keep_all: bool = False) -> None:
        """Keep lines of these categories at any status (others: only Warning or worse)."""
        names = [str(c) for c in categories]
        self._keep_categories = frozenset(names + [n.encode("utf-8") for n in names])
        self._keep_all = keep_all

    def on_log(
        self, status: int, category: str | bytes | None, message: str | bytes | None
    ) -> None:
        """Capture one FMU log line (called from the FMU's logger callback; never decodes)."""
        if status < WARNING and not self._keep_all and category not in self._keep_categories:
            return
        entry = (status, category, message)
        self._log.append(entry)
        if status == WARNING:
            self.warning_count += 1
            self._warnings.append(entry)

    # ------------------------------------------------------------------ status rules
    @property
    def fatal(self) -> bool:
        return self.worst_status == FATAL

    def may_terminate(self) -> bool:
        """fmiXTerminate is allowed: initialized, not terminated, and no status worse than
        Discard (after Discard, FMI allows terminating; after Error or Fatal it does not)."""
        if not self.initialized or self.terminated or self.fatal:
            return False
        return not self.failed or self.worst_status == DISCARD

    def wants_to_terminate(self) -> bool:
        """After a doStep returned Discard: does the instance ask to end the simulation?
        (FMI 2.0 fmi2GetBooleanStatus(fmi2Terminated), FMI 3.0 terminateSimulation)."""
        return False

    def abandon(self) -> None:  # noqa: B027 (a no-op for slaves without resources)
        """Give the instance up without any further FMI call (after Fatal)."""

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

    def configure(self, values: Sequence[tuple[ValueType, tuple[list[int], list[Any]]]]) -> None:
        """Set structural parameters (FMI 3.0: in Configuration Mode; else like set_values)."""
        for vtype, (vrs, items) in values:
            self.set_values(vtype, vrs, items)

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
    def get_values(
        self, vtype: ValueType, vrs: Sequence[int], count: int | None = None
    ) -> list[Any]:
        """Get values outside the hot path (`count` values in all: more than len(vrs) for
        FMI 3.0 arrays); raises FmuError."""

    def set_input_derivatives(
        self, vrs: Sequence[int], first: Sequence[float], second: Sequence[float] | None = None
    ) -> None:
        """First (and second) derivatives of Real inputs over the next doStep (FMI 2.0
        canInterpolateInputs: fmi2SetRealInputDerivatives); FmuError where not supported."""
        raise FmuError(self.name, "setRealInputDerivatives", "not supported", self.time, self.log)

    def directional_derivative(
        self, unknowns: Sequence[int], knowns: Sequence[int], seed: Sequence[float]
    ) -> list[float]:
        """The derivatives of the Real `unknowns` along `seed` over the Real `knowns` (FMI 2.0
        fmi2GetDirectionalDerivative, FMI 3.0 fmi3GetDirectionalDerivative); FmuError where
        not supported."""
        raise self.error("GetDirectionalDerivative", ERROR)

    def get_state(self) -> Any:
        raise FmuError(self.name, "getFMUState", "not supported", self.time, self.log)

    def set_state(self, state: Any) -> None:
        raise FmuError(self.name, "setFMUState", "not supported", self.time, self.log)

    def free_state(self, state: Any) -> None:
        raise FmuError(self.name, "freeFMUState", "not supported", self.time, self.log)

    def serialize_state(self, state: Any) -> bytes:
        """The bytes of an FMU state (canSerializeFMUstate), to restore in another instance."""
        raise FmuError(self.name, "serializeFMUState", "not supported", self.time, self.log)

    def deserialize_state(self, data: bytes) -> Any:
        """A new FMU state of this instance from serialize_state() bytes (free it when done)."""
        raise FmuError(self.name, "deserializeFMUState", "not supported", self.time, self.log)

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
        """The FmuError for a bad status of `function` (a name or a bound call); records the
        status for the termination rules (`may_terminate`, `fatal`)."""
        if not isinstance(function, str):
            function = self.function_name(function)
        if time is None:
            time = self.time
        if status > WARNING or status < OK:
            self.failed = True
            # an illegal status counts as Error; Pending (never requested) too
            rank = status if status in (DISCARD, ERROR, FATAL) else ERROR
            self.worst_status = max(self.worst_status, rank)
        return FmuError(self.name, function, status_name(status), time, self.log)

    def check(self, function: str, status: int, time: float | None = None) -> int:
        """The one checkpoint: raise FmuError for Discard, Error, Fatal (or illegal) status."""
        if status > WARNING or status < OK:
            raise self.error(function, status, time)
        return status


def _per_value(vrs: Sequence[int], count: int) -> list[int]:
    """`vrs` as one value reference per value: a single array reference repeated `count`
    times (set_values / get_values of a whole FMI 3.0 array), else as given."""
    if len(vrs) == 1 and count > 1:
        return [vrs[0]] * count
    return list(vrs)


class NativeSlave(Slave):
    """Shared machinery of the adapters over fmpy's low-level classes (FMU2Slave, FMU3Slave).

    Hot-path calls use private ctypes function objects without argtypes, called with
    arguments converted once at bind time (pre-typed ctypes objects): about half the cost of a
    call through argtypes conversion. Other calls use fmpy's typed function objects.
    """

    _prefix = ""  # "fmi2" | "fmi3"
    _type_names: dict[ValueType, str] = {}

    def __init__(
        self, name: str, fmu: Any, log_size: int = 200, log_categories: Iterable[Any] = ()
    ) -> None:
        super().__init__(name, log_size)
        self._fmu = fmu
        self._c: ctypes.c_void_p | None = None
        self._raw: dict[str, Any] = {}
        self._freed = False
        self.available_log_categories = list(log_categories)
        self.library_key = (str(getattr(fmu, "unzipDirectory", id(fmu))), self._model_id(fmu))

    @staticmethod
    def _model_id(fmu: Any) -> str:
        return str(getattr(fmu, "modelIdentifier", ""))

    def _configure_logging(self, verbose: bool) -> None:
        """After instantiation with loggingOn = true: enable only the error/warning categories
        (all of them when `verbose`, or when the model description names none that match)."""
        selected = [] if verbose else select_log_categories(self.available_log_categories)
        self.keep_log_categories(selected, keep_all=verbose)
        if not selected:
            return  # loggingOn = true without categories: every line reaches on_log's filter
        names = (ctypes.c_char_p * len(selected))(*[c.encode("utf-8") for c in selected])
        status = self.typed(f"{self._prefix}SetDebugLogging")(self._c, True, len(selected), names)
        if status <= WARNING:
            self.log_categories = selected
        else:  # the categories were refused: keep every category on, filter in on_log
            self.keep_log_categories([], keep_all=False)
            self.typed(f"{self._prefix}SetDebugLogging")(self._c, True, 0, None)

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

    def _values_args(self, vr: Any, n: Any, values: Any, count: Any) -> tuple[Any, ...]:
        return (vr, n, values)  # FMI 2.0: one value per value reference

    def _bind_values(
        self, verb: str, vtype: ValueType, vrs: Sequence[int], values: Any
    ) -> StatusCall:
        if self._c is None:
            raise self.error(f"{self._prefix}{verb}", ERROR)
        try:
            function = f"{self._prefix}{verb}{self._type_names[vtype]}"
        except KeyError:
            raise self.error(f"{self._prefix}{verb} ({vtype.name})", ERROR) from None
        # the slots of an FMI 3.0 array repeat its value reference once per element: the
        # call names it once and moves nValues = len(values) values
        vrs = [v for k, v in enumerate(vrs) if k == 0 or vrs[k - 1] != v]
        vr = (ctypes.c_uint32 * len(vrs))(*vrs)
        n = ctypes.c_size_t(len(vrs))
        args = self._values_args(vr, n, values, ctypes.c_size_t(len(values)))
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
        buf = (CTYPES[vtype] * len(values))(*values)
        call = self._bind_values("Set", vtype, _per_value(vrs, len(values)), buf)
        try:
            self.check(self.function_name(call), call())
        finally:
            self._forget(call)

    def get_values(
        self, vtype: ValueType, vrs: Sequence[int], count: int | None = None
    ) -> list[Any]:
        buf = (CTYPES[vtype] * (len(vrs) if count is None else count))()
        call = self._bind_values("Get", vtype, _per_value(vrs, len(buf)), buf)
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
        if self.fatal:  # no further call, not even fmiXFreeInstance
            self.abandon()
            return
        self._freed = True
        freed = False
        try:
            if self._c is not None:
                self.typed(f"{self._prefix}FreeInstance")(self._c)
            freed = True
        finally:
            self._c = None
            self._raw.clear()
            self._keep.clear()
            release = getattr(self, "release", None)
            if release is not None and freed and self.worst_status <= WARNING:
                release(self._fmu)  # the factory keeps the loaded library for the next run
            else:
                self._fmu.freeLibrary()

    def abandon(self) -> None:
        """Drop the instance without FreeInstance and keep the library loaded (its state may
        be corrupted; unloading could run its destructors): a deliberate, bounded leak."""
        if self._freed:
            return
        self._freed = True
        _ABANDONED.append((self._fmu, self._c, self._keep))  # callbacks and buffers stay alive
        self._c = None
        self._raw.clear()
        self._keep = []


_ABANDONED: list[Any] = []  # FMUs given up after Fatal: never unloaded


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
    "LOG_CATEGORY_WORDS",
    "STATUS_NAMES",
    "Slave",
    "StatusCall",
    "ValueType",
    "WARNING",
    "select_log_categories",
    "status_name",
]
