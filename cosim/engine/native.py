"""The compiled phase body (kernel.c): built with gcc on first use, bound to one Execution.

`native_phases(phases, stores, slaves)` turns a phase table whose every operation is a raw
FMI call (FMI 2.0/3.0 Co-Simulation bound get/set/doStep, connection transfers) into the
kernel's flat tables, or gives the reason it cannot (a Model Exchange instance, an FMU run in
Event Mode, an algebraic loop, input extrapolation, a value mapping ...): the Python loop then
runs. The kernel is built once per source version into a cache folder (a stale build is
rebuilt; the file is written and renamed, so concurrent builds are safe).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cosim.engine.stages import NO_STEP, round_half_away
from cosim.fmu.adapter import CTYPES, ValueType

SOURCE = Path(__file__).with_name("kernel.c")
FLAGS = ("-std=c11", "-O2", "-fPIC", "-shared", "-ffp-contract=off")
OP_NOSTEP, OP_VALUES2, OP_VALUES3, OP_STEP2, OP_STEP3 = range(5)
C_COPY, C_LINEAR, C_ROUND, C_FLOOR, C_CEIL, C_TRUNCATE, C_BOOL = range(7)
WHERE_CONN = -2
_CONVERT = {round_half_away: C_ROUND, math.floor: C_FLOOR, math.ceil: C_CEIL, int: C_TRUNCATE}
_CONVERT[bool] = C_BOOL
_OP = 14  # 8-byte fields of kernel.c's Op
CONN_DTYPE = np.dtype(
    [("dst", "u8"), ("src", "u8"), ("dst_type", "i8"), ("src_type", "i8"), ("kind", "i8"),
     ("gain", "f8"), ("offset", "f8")]
)  # fmt: skip
_library: Any = None
_why_not = ""


class Unsupported(Exception):
    """The plan has an operation the kernel does not run (the message says which)."""


def cache_dir() -> Path:
    """Where the kernel is built: COSIM_CACHE, else ~/.cache/cosim (else the temp folder)."""
    base = os.environ.get("COSIM_CACHE") or os.path.join(Path.home(), ".cache", "cosim")
    return Path(base)


def kernel() -> tuple[Any, str]:
    """(the loaded kernel, "") or (None, why not: no C compiler, a failed build)."""
    global _library, _why_not
    if _library is not None or _why_not:
        return _library, _why_not
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join(FLAGS).encode()).hexdigest()[:16]
    gcc = shutil.which(os.environ.get("CC", "gcc"))
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / "cosim-cache"):
        target = folder / f"kernel-{key}.so"
        try:
            if not target.exists():
                if gcc is None:
                    _why_not = "no C compiler (gcc) found: the Python loop runs"
                    return None, _why_not
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".so")
                os.close(fd)
                done = subprocess.run(
                    [gcc, *FLAGS, "-o", tmp, str(SOURCE), "-lm"],
                    capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                if done.returncode:
                    os.unlink(tmp)
                    _why_not = f"the kernel did not build: {done.stderr.strip()[:300]}"
                    return None, _why_not
                os.replace(tmp, target)
            lib = ctypes.CDLL(str(target))
        except OSError:
            continue  # a folder we cannot write: try the next one
        lib.cosim_phase.restype = ctypes.c_int64
        lib.cosim_phase.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64, ctypes.c_void_p]
        _library = lib
        return lib, ""
    _why_not = "no writable folder to build the kernel in: the Python loop runs"
    return None, _why_not


def _address(x: Any) -> int:
    if isinstance(x, int):
        return x
    if isinstance(x, ctypes.c_void_p):
        return x.value or 0
    obj = getattr(x, "_obj", None)  # ctypes.byref(...)
    return ctypes.addressof(obj if obj is not None else x)


def _raw(call: Any) -> tuple[int, tuple]:
    """(function address, arguments) of a bound raw FMI call, or Unsupported."""
    if not isinstance(call, functools.partial) or call.keywords:
        raise Unsupported("an operation that is Python code (Model Exchange, Event Mode, ...)")
    func = call.func
    if not isinstance(func, ctypes._CFuncPtr) or func.argtypes:  # type: ignore[attr-defined]
        raise Unsupported("an operation that is not a raw FMI call")
    return ctypes.cast(func, ctypes.c_void_p).value or 0, call.args


class NativePhases:
    """One Execution's phase table in the kernel's tables; `run(k)` runs phase k in C."""

    def __init__(self, phases: Sequence[tuple], stores: Sequence[Any], slaves: Sequence[Any]):
        self._stores = {id(s): ValueType(t) for t, s in enumerate(stores) if s is not None}
        self._base = {id(s): ctypes.addressof(s) for s in stores if s is not None}
        self.stage_index: dict[int, int] = {}
        stages, conns, ops = [], [], []
        self._keep: list[Any] = []  # objects the tables point into
        for phase in phases:
            for stage in phase:
                if id(stage) in self.stage_index:
                    continue
                self.stage_index[id(stage)] = len(stages)
                stages.append(self._stage(stage, conns, ops))
        self.stages = np.array(stages, dtype=np.int64).reshape(-1, 7)
        self.conns = np.array(conns, dtype=CONN_DTYPE)
        self.ops = np.array(ops, dtype=np.uint64).reshape(-1, _OP)
        self.phases = [
            np.array([self.stage_index[id(s)] for s in phase], dtype=np.int64) for phase in phases
        ]
        self.where = np.zeros(2, dtype=np.int64)
        lib, _ = kernel()
        run = lib.cosim_phase
        fixed = (self.stages.ctypes.data, self.conns.ctypes.data, self.ops.ctypes.data)
        where = self.where.ctypes.data
        self._calls = [
            functools.partial(run, *fixed, ph.ctypes.data, len(ph), where) for ph in self.phases
        ]

    def run(self, k: int) -> int:
        """Run phase k; 0, or the first status that is not OK (see `where`)."""
        return self._calls[k]()

    # ------------------------------------------------------------------ building the tables
    def _slot(self, store: Any, index: int) -> tuple[int, int]:
        vt = self._stores.get(id(store))
        if vt is None:
            raise Unsupported("a connection outside the stores")
        return self._base[id(store)] + index * ctypes.sizeof(CTYPES[vt]), int(vt)

    def _stage(self, stage: tuple, conns: list, ops: list) -> list[int]:
        copies, linear, converted, sets, step, gets, _ = stage
        conn0 = len(conns)
        for d, di, s, si in copies:
            conns.append((*self._pair(d, di, s, si), C_COPY, 1.0, 0.0))
        for d, di, s, si, g, o in linear:
            conns.append((*self._pair(d, di, s, si), C_LINEAR, float(g), float(o)))
        for d, di, s, si, g, o, cv in converted:
            kind = _CONVERT.get(cv)
            if kind is None:
                raise Unsupported("a value mapping on a connection")
            conns.append((*self._pair(d, di, s, si), kind, float(g), float(o)))
        conn1 = len(conns)
        set0 = len(ops)
        ops.extend(self._values(call) for call in sets)
        set1 = step_op = len(ops)
        ops.append(self._step(step))
        get0 = len(ops)
        ops.extend(self._values(call) for call in gets)
        return [conn0, conn1, set0, set1, step_op, get0, len(ops)]

    def _pair(self, d: Any, di: int, s: Any, si: int) -> tuple[int, int, int, int]:
        dst, dst_type = self._slot(d, di)
        src, src_type = self._slot(s, si)
        if ValueType.STR in (dst_type, src_type):
            raise Unsupported("a String connection")
        return dst, src, dst_type, src_type

    def _values(self, call: Any) -> list[int]:
        fn, args = _raw(call)
        if len(args) == 4:  # FMI 2.0: (c, vr, nvr, values)
            c, vr, n, values = args
            kind, count = OP_VALUES2, n
        elif len(args) == 5:  # FMI 3.0: (c, vr, nvr, values, nValues)
            c, vr, n, values, count = args
            kind = OP_VALUES3
        else:
            raise Unsupported("a get/set call of an unknown shape")
        self._keep.append(args)
        row = [kind, fn, _address(c), _address(vr), int(n.value), _address(values)]
        return row + [int(count.value)] + [0] * (_OP - 7)

    def _step(self, step: Any) -> list[int]:
        if step is NO_STEP:
            return [OP_NOSTEP] + [0] * (_OP - 1)
        fn, args = _raw(step)
        self._keep.append(args)
        if len(args) == 4:  # FMI 2.0: (c, t, h, noSetFMUStatePriorToCurrentPoint)
            c, t, h, flag = args
            return [OP_STEP2, fn, _address(c), 0, 0, 0, 0, _address(t), _address(h)] + [
                _address(flag),
                0,
                0,
                0,
                0,
            ]
        if len(args) == 8:  # FMI 3.0: (c, t, h, noSet..., &event, &terminate, &early, &last)
            c, t, h, flag, *out = args
            return [OP_STEP3, fn, _address(c), 0, 0, 0, 0, _address(t), _address(h)] + [
                _address(flag),
                *(_address(x) for x in out),
            ]
        raise Unsupported("a doStep call of an unknown shape")


def native_phases(
    phases: Sequence[tuple] | None, stores: Sequence[Any], slaves: Sequence[Any]
) -> tuple[NativePhases | None, str]:
    """(the kernel's tables for `phases`, "") or (None, why the Python loop runs)."""
    if phases is None:
        return None, "the schedule repeats too rarely for a precomputed phase table"
    lib, why = kernel()
    if lib is None:
        return None, why
    try:
        return NativePhases(phases, stores, slaves), ""
    except Unsupported as exc:
        return None, f"the plan has {exc}: the Python loop runs"


__all__ = ["NativePhases", "cache_dir", "kernel", "native_phases"]
