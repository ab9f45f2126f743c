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

from cosim import paths
from cosim.engine.stages import NO_STEP, round_half_away
from cosim.fmu.adapter import CTYPES, ValueType

SOURCE = Path(__file__).with_name("kernel.c")
FLAGS = ("-std=c11", "-O2", "-fPIC", "-shared", "-ffp-contract=off")
OP_NOSTEP, OP_VALUES2, OP_VALUES3, OP_STEP2, OP_STEP3 = range(5)
C_COPY, C_LINEAR, C_ROUND, C_FLOOR, C_CEIL, C_TRUNCATE, C_BOOL = range(7)
WHERE_CONN = -2
_CONVERT = {
    round_half_away: C_ROUND,
    math.floor: C_FLOOR,
    math.ceil: C_CEIL,
    int: C_TRUNCATE,
}
_CONVERT[bool] = C_BOOL
OP_DTYPE = np.dtype(
    [
        ("fn", "u8"),
        ("instance", "u8"),
        ("vr", "u8"),
        ("values", "u8"),
        ("kind", "i4"),
        ("nvr", "i4"),
        ("nvalues", "i8"),
    ]
)  # fmt: skip  (kernel.c's Op: 48 bytes)
STEP_ARGS_DTYPE = np.dtype([(f, "u8") for f in ("t", "h", "flag", "event", "terminate",
                                                "early", "last")])  # fmt: skip
CONN_DTYPE = np.dtype(
    [("dst", "u8"), ("src", "u8"), ("dst_type", "i4"), ("src_type", "i4"), ("kind", "i4"),
     ("pad", "i4"), ("gain", "f8"), ("offset", "f8")]
)  # fmt: skip
_library: Any = None
_why_not = ""


# ---------------------------------------------------------------------- cosim_run's tables
class _Group(ctypes.Structure):
    _fields_ = [
        ("store", ctypes.c_void_p),
        ("slots", ctypes.c_void_p),
        ("n", ctypes.c_int64),
        ("size", ctypes.c_int64),
        ("block", ctypes.c_void_p),
    ]


class _Rec(ctypes.Structure):
    _fields_ = [
        ("every", ctypes.c_int64),
        ("rows", ctypes.c_int64),
        ("capacity", ctypes.c_int64),
        ("last", ctypes.c_int64),
        ("time", ctypes.c_void_p),
        ("groups", ctypes.c_void_p),
        ("n_groups", ctypes.c_int64),
    ]


class _Feed(ctypes.Structure):
    _fields_ = [
        ("groups", ctypes.c_void_p),
        ("n_groups", ctypes.c_int64),
        ("first", ctypes.c_int64),
        ("rows", ctypes.c_int64),
    ]


_P, _I = ctypes.c_void_p, ctypes.c_int64


class _Run(ctypes.Structure):
    _fields_ = [
        ("stages", _P), ("conns", _P), ("ops", _P), ("phase", _P), ("start", _P),
        ("period", _I), ("t", _P), ("step_ticks", _I), ("ticks_per_second", _I),
        ("sample", _I), ("sampled", _P), ("sampled_calls", _P), ("end", _P), ("n_end", _I),
        ("recs", _P), ("n_recs", _I), ("feeds", _P), ("n_feeds", _I),
        ("n", _I), ("tick", _I), ("n_stop", _I), ("why", _I), ("where", _P), ("stop", _P),
    ]  # fmt: skip


RUN_DONE, RUN_STATUS, RUN_FULL, RUN_END = range(4)


def _groups(pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Any:
    """kernel Groups of (store view, int64 slots, [rows, slots] block of the store's dtype)."""
    out = (_Group * max(1, len(pairs)))()
    for g, (store, slots, block) in zip(out, pairs, strict=False):
        if (
            block.dtype != store.dtype
            or not block.flags.c_contiguous
            or slots.dtype != np.int64
            or not slots.flags.c_contiguous
            or block.ndim != 2
            or block.shape[1] != len(slots)
        ):
            raise ValueError("a block the kernel cannot copy")  # a programming error
        g.store, g.slots = store.ctypes.data, slots.ctypes.data
        g.n, g.size, g.block = len(slots), store.dtype.itemsize, block.ctypes.data
    return out


class Unsupported(Exception):
    """The plan has an operation the kernel does not run (the message says which)."""


def cache_dir() -> Path:
    """Where the kernel is built: the per-user cache (cosim.paths; else the temp folder)."""
    return paths.cache_dir()


def kernel() -> tuple[Any, str]:
    """(the loaded kernel, "") or (None, why not: no C compiler, a failed build)."""
    global _library, _why_not
    if _library is not None or _why_not:
        return _library, _why_not
    source = SOURCE.read_bytes()
    salt = " ".join(FLAGS) + "\n" + paths.compiler_id()
    key = hashlib.sha256(source + salt.encode()).hexdigest()[:16]
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
        lib.cosim_phase.argtypes = [ctypes.c_void_p] * 4 + [
            ctypes.c_int64,
            ctypes.c_void_p,
        ]
        lib.cosim_phase_timed.restype = ctypes.c_int64
        lib.cosim_phase_timed.argtypes = [ctypes.c_void_p] * 4 + [
            ctypes.c_int64,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.cosim_run.restype = ctypes.c_int64
        lib.cosim_run.argtypes = [ctypes.c_void_p]
        lib.cosim_progress.restype = ctypes.c_void_p
        lib.cosim_progress.argtypes = []
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
        self.live: Any = None  # the recorder table of the chunk that runs (live_rows)
        self.stop = ctypes.c_int64(0)  # nonzero: cosim_run returns after the current step
        self.op_calls: list[tuple[int, Any]] = []  # per op: (instance, the bound call)
        stages, conns, ops = [], [], []
        self._keep: list[Any] = []  # objects the tables point into
        self._step_rows: list[tuple[int, ...]] = []  # doStep arguments (STEP_ARGS_DTYPE)
        for phase in phases:
            for stage in phase:
                if id(stage) in self.stage_index:
                    continue
                self.stage_index[id(stage)] = len(stages)
                stages.append(self._stage(stage, conns, ops))
        self.stages = np.array(stages, dtype=np.int32).reshape(-1, 8)
        self.conns = np.array(conns, dtype=CONN_DTYPE)
        self.ops = np.array(ops, dtype=OP_DTYPE)
        self.step_args = np.array(self._step_rows, dtype=STEP_ARGS_DTYPE)
        steps = np.flatnonzero(np.isin(self.ops["kind"], (OP_STEP2, OP_STEP3)))
        self.ops["vr"][steps] = self.step_args.ctypes.data + self.ops["vr"][steps] * (
            STEP_ARGS_DTYPE.itemsize
        )  # the op's index into step_args -> the address of its row
        self._pack_value_references()
        self.phases = [
            np.array([self.stage_index[id(s)] for s in phase], dtype=np.int64) for phase in phases
        ]
        self.where = np.zeros(2, dtype=np.int64)
        lib, _ = kernel()
        self._lib = lib
        self._run: _Run | None = None
        self.sampled = np.zeros(len(slaves), dtype=np.float64)  # doStep seconds, sampled steps
        self.sampled_calls = np.zeros(len(slaves), dtype=np.int64)
        self.rows: list[tuple[int, int]] = []  # after steps(): each recorder's (rows, last step)
        run = lib.cosim_phase
        fixed = (self.stages.ctypes.data, self.conns.ctypes.data, self.ops.ctypes.data)
        where = self.where.ctypes.data
        self._calls = [
            functools.partial(run, *fixed, ph.ctypes.data, len(ph), where) for ph in self.phases
        ]
        clocks = (self.sampled.ctypes.data, self.sampled_calls.ctypes.data)
        timed = lib.cosim_phase_timed
        self._timed_calls = [
            functools.partial(timed, *fixed, ph.ctypes.data, len(ph), where, *clocks)
            for ph in self.phases
        ]

    def progress(self) -> Any:
        """The kernel's call record of this thread (cosim_progress: the op it is in, the calls
        begun), to watch from another thread: (address, ops base address, op size)."""
        return self._lib.cosim_progress(), self.ops.ctypes.data, OP_DTYPE.itemsize

    def run(self, k: int) -> int:
        """Run phase k; 0, or the first status that is not OK (see `where`)."""
        return self._calls[k]()

    def run_timed(self, k: int) -> int:
        """run(k) with each doStep's wall time added to sampled / sampled_calls."""
        return self._timed_calls[k]()

    def bind_run(
        self,
        t_cell: Any,
        step_ticks: int,
        ticks_per_second: int,
        sample: int,
        end: Sequence[Any],
    ) -> None:
        """Fix what cosim_run reads of the Execution: the communication point cell, the grid,
        the timing sample and the FMI 3.0 terminateSimulation flags (ctypes c_bool)."""
        r = _Run()
        r.stages, r.conns, r.ops = (a.ctypes.data for a in (self.stages, self.conns, self.ops))
        flat = np.concatenate(self.phases) if self.phases else np.zeros(0, dtype=np.int64)
        start = np.cumsum([0, *(len(ph) for ph in self.phases)], dtype=np.int64)
        ends = (ctypes.c_void_p * max(1, len(end)))(*(ctypes.addressof(f) for f in end))
        self._keep += [flat, start, ends]
        r.phase, r.start, r.period = (
            flat.ctypes.data,
            start.ctypes.data,
            len(self.phases),
        )
        r.t = ctypes.addressof(t_cell)
        r.step_ticks, r.ticks_per_second, r.sample = (
            step_ticks,
            ticks_per_second,
            sample,
        )
        r.sampled, r.sampled_calls = (
            self.sampled.ctypes.data,
            self.sampled_calls.ctypes.data,
        )
        r.end, r.n_end = ctypes.addressof(ends), len(end)
        r.where = self.where.ctypes.data
        r.stop = ctypes.addressof(self.stop)
        self._run = r

    def steps(
        self,
        n: int,
        tick: int,
        n_stop: int,
        recs: Sequence[tuple],
        feeds: Sequence[tuple],
    ) -> tuple[int, int, int]:
        """Steps n .. n_stop - 1 from `tick` in C (bind_run first): recs are the recorders'
        (every, rows, capacity, time column, [(store, slots, block)]), feeds the input blocks'
        (first step, [(store, slots, [rows, slots] values)]). Returns (status, step count,
        tick) where the kernel stopped; `rows` then holds each recorder's (rows, last step)."""
        r = self._run
        assert r is not None, "bind_run() first"
        keep = []
        rec_table = (_Rec * max(1, len(recs)))()
        for rec, (every, rows, capacity, time, pairs) in zip(rec_table, recs, strict=False):
            groups = _groups(pairs)
            keep.append(groups)
            rec.every, rec.rows, rec.capacity, rec.last = every, rows, capacity, -1
            rec.time, rec.groups, rec.n_groups = (
                time.ctypes.data,
                ctypes.addressof(groups),
                len(pairs),
            )
        feed_table = (_Feed * max(1, len(feeds)))()
        for feed, (first, pairs) in zip(feed_table, feeds, strict=False):
            groups = _groups(pairs)
            keep.append(groups)
            feed.groups, feed.n_groups = ctypes.addressof(groups), len(pairs)
            feed.first, feed.rows = first, min(len(p[2]) for p in pairs) if pairs else 0
        r.recs, r.n_recs = ctypes.addressof(rec_table), len(recs)
        r.feeds, r.n_feeds = ctypes.addressof(feed_table), len(feeds)
        r.n, r.tick, r.n_stop = n, tick, n_stop
        self.live = rec_table  # read by another thread while a call is stuck (live_rows)
        status = self._lib.cosim_run(ctypes.addressof(r))
        self.live = None
        self.rows = [(rec.rows, rec.last) for rec in rec_table[: len(recs)]]
        return status, r.n, r.tick

    def live_rows(self) -> list[int] | None:
        """While a chunk runs: the rows each recorder's block holds so far (the kernel counts a
        row when it is complete); None between chunks. For the watchdog's emergency close."""
        table = self.live
        return None if table is None else [rec.rows for rec in table]

    # ------------------------------------------------------------------ building the tables
    def _pack_value_references(self) -> None:
        """Point every get/set op at a copy of its value references in one contiguous array
        (the same values: FMI value references are 32-bit in 2.0 and 3.0), instead of at the
        bound calls' small ctypes arrays scattered over the heap: at 1,000 instances the
        kernel's tables then stay in cache."""
        ops = self.ops
        rows = np.flatnonzero(np.isin(ops["kind"], (OP_VALUES2, OP_VALUES3))).tolist()
        chunks = [ctypes.string_at(int(ops["vr"][k]), 4 * int(ops["nvr"][k])) for k in rows]
        self.value_references = np.frombuffer(b"".join(chunks) or b"\0\0\0\0", dtype=np.uint32)
        base, offset = self.value_references.ctypes.data, 0
        for k, chunk in zip(rows, chunks, strict=True):
            ops["vr"][k] = base + offset
            offset += len(chunk)

    def _slot(self, store: Any, index: int) -> tuple[int, int]:
        vt = self._stores.get(id(store))
        if vt is None:
            raise Unsupported("a connection outside the stores")
        return self._base[id(store)] + index * ctypes.sizeof(CTYPES[vt]), int(vt)

    def _stage(self, stage: tuple, conns: list, ops: list) -> list[int]:
        copies, linear, converted, sets, step, gets, _ = stage
        conn0 = len(conns)
        for d, di, s, si in copies:
            conns.append((*self._pair(d, di, s, si), C_COPY, 0, 1.0, 0.0))
        for d, di, s, si, g, o in linear:
            conns.append((*self._pair(d, di, s, si), C_LINEAR, 0, float(g), float(o)))
        for d, di, s, si, g, o, cv in converted:
            kind = _CONVERT.get(cv)
            if kind is None:
                raise Unsupported("a value mapping on a connection")
            conns.append((*self._pair(d, di, s, si), kind, 0, float(g), float(o)))
        conn1 = len(conns)
        set0 = len(ops)
        ops.extend(self._values(call) for call in sets)
        set1 = step_op = len(ops)
        ops.append(self._step(step))
        get0 = len(ops)
        ops.extend(self._values(call) for call in gets)
        instance = int(stage[6])
        self.op_calls += [(instance, c) for c in (*sets, step, *gets)]
        return [conn0, conn1, set0, set1, step_op, get0, len(ops), instance]

    def _pair(self, d: Any, di: int, s: Any, si: int) -> tuple[int, int, int, int]:
        dst, dst_type = self._slot(d, di)
        src, src_type = self._slot(s, si)
        if ValueType.STR in (dst_type, src_type):
            raise Unsupported("a String connection")
        return dst, src, dst_type, src_type

    def _values(self, call: Any) -> tuple[int, ...]:
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
        addresses = (fn, _address(c), _address(vr), _address(values))
        return (*addresses, kind, int(n.value), int(count.value))

    def _step(self, step: Any) -> tuple[int, ...]:
        if step is NO_STEP:
            return (0, 0, 0, 0, OP_NOSTEP, 0, 0)
        fn, args = _raw(step)
        self._keep.append(args)
        if len(args) == 4:  # FMI 2.0: (c, t, h, noSetFMUStatePriorToCurrentPoint)
            c, t, h, flag = args
            kind, cells = OP_STEP2, (t, h, flag)
        elif len(args) == 8:  # FMI 3.0: (c, t, h, noSet..., &event, &terminate, &early, &last)
            c, *cells = args
            kind = OP_STEP3
        else:
            raise Unsupported("a doStep call of an unknown shape")
        row = tuple(_address(x) for x in cells)
        self._step_rows.append(row + (0,) * (7 - len(row)))
        return (fn, _address(c), len(self._step_rows) - 1, 0, kind, 0, 0)


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
