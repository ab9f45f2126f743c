"""Bind a Plan to live slaves: one Stage of bound calls per instance, and the phase table.

A Stage is everything one instance does in a communication step, as named fields that the
loop unpacks in its `for` statement (as fast as a plain tuple):

    copies     (dst, di, src, si)               dst[di] = src[si]       exact connections
    linear     (dst, di, src, si, g, o)         dst[di] = g*src[si] + o
    converted  (dst, di, src, si, g, o, cv)     dst[di] = cv(g*src[si] + o)   to integer/boolean
    sets       bound set calls (one per value type), after the transfers
    step       the bound doStep (NO_STEP for an instance that only publishes in this step)
    gets       bound get calls (one per value type)
    instance   the instance index (for status messages)

Each instance has three variants: step and publish (decimation 1), step only (n % d == 0)
and publish only ((n + 1) % d == 0). The phase table holds, for each phase n % period, the
stages of the algorithm's operations (cosim.engine.algorithms) in execution order; a timed
table holds the same stages with each doStep wrapped in a clock (see `timed_step`). Phases
hold the stages as plain tuples in Stage field order: CPython unpacks an exact tuple in a
`for` statement faster than a tuple subclass.
"""

from __future__ import annotations

import ctypes
import math
import time as _time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from cosim.engine.algorithms import Algorithm, Operation
from cosim.engine.plan import (
    CONVERT_BOOL,
    CONVERT_CEIL,
    CONVERT_FLOOR,
    CONVERT_NONE,
    CONVERT_ROUND,
    CONVERT_TRUNCATE,
    Plan,
)
from cosim.fmu.adapter import BOOLEAN, CTYPES, Slave, StatusCall, ValueType

INTEGER = frozenset(
    {
        ValueType.I8,
        ValueType.U8,
        ValueType.I16,
        ValueType.U16,
        ValueType.I32,
        ValueType.U32,
        ValueType.I64,
        ValueType.U64,
    }
)

# the doStep slot of a publish-only stage: a C-level callable that returns 0 (OK) at once
NO_STEP: StatusCall = int


def round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


CONVERTERS: dict[int, Callable[[float], Any]] = {
    CONVERT_ROUND: round_half_away,
    CONVERT_FLOOR: math.floor,
    CONVERT_CEIL: math.ceil,
    CONVERT_TRUNCATE: int,
    CONVERT_BOOL: bool,
}


def _mapper(mapping: dict[float, float], base: Callable[[float], Any]) -> Callable[[float], Any]:
    """The converter of a mapped connection: the mapped value (or the value itself), converted."""

    def convert(x: float) -> Any:
        return base(mapping.get(x, x))

    return convert


class Stage(NamedTuple):
    """One instance's part of a communication step (see the module docstring)."""

    copies: tuple[tuple[Any, int, Any, int], ...]
    linear: tuple[tuple[Any, int, Any, int, float, float], ...]
    converted: tuple[tuple[Any, int, Any, int, float, float, Callable[[float], Any]], ...]
    sets: tuple[StatusCall, ...]
    step: StatusCall
    gets: tuple[StatusCall, ...]
    instance: int


class Variants(NamedTuple):
    """An instance's stage when it steps and publishes, only steps, only publishes."""

    both: Stage
    step_only: Stage
    get_only: Stage


def store_view(stores: Sequence[Any], vtype: int, begin: int, end: int) -> Any:
    """A ctypes array over slots [begin, end) of store `vtype` (shares its memory)."""
    ctype = CTYPES[ValueType(vtype)]
    return (ctype * (end - begin)).from_buffer(stores[vtype], begin * ctypes.sizeof(ctype))


def bind_stages(
    plan: Plan,
    slaves: Sequence[Slave],
    stores: Sequence[Any],
    t_cell: ctypes.c_double,
    h_cells: Sequence[ctypes.c_double],
) -> list[Stage]:
    """Each instance's full stage: connection transfers, bound sets, bound step, bound gets."""
    n = plan.n_instances
    sets: list[list[StatusCall]] = [[] for _ in range(n)]
    gets: list[list[StatusCall]] = [[] for _ in range(n)]
    for rows, out, bind in ((plan.set_calls, sets, "bind_set"), (plan.get_calls, gets, "bind_get")):
        for i, t, b, e in rows.tolist():
            vrs = plan.store_vr[t][b:e].tolist()
            out[i].append(getattr(slaves[i], bind)(ValueType(t), vrs, store_view(stores, t, b, e)))
    stages = []
    for i in range(n):
        copies, linear, converted = [], [], []
        for k in range(int(plan.conn_begin[i]), int(plan.conn_begin[i + 1])):
            sv, dv = ValueType(int(plan.conn_src_vtype[k])), ValueType(int(plan.conn_dst_vtype[k]))
            src, dst = stores[sv], stores[dv]
            ss, ds = int(plan.conn_src_slot[k]), int(plan.conn_dst_slot[k])
            g, o = float(plan.conn_gain[k]), float(plan.conn_offset[k])
            cv = int(plan.conn_convert[k])
            exact = cv == CONVERT_NONE or (
                (sv in INTEGER or sv in BOOLEAN) and (dv in INTEGER or dv in BOOLEAN)
            )
            mapping = plan.conn_mapping[k] if plan.conn_mapping else ()
            if mapping:  # a value mapping: dst = convert(mapping.get(src, src))
                base = CONVERTERS.get(cv, bool if dv in BOOLEAN else round_half_away)
                converted.append((dst, ds, src, ss, 1.0, 0.0, _mapper(dict(mapping), base)))
            elif g == 1.0 and o == 0.0 and exact:
                copies.append((dst, ds, src, ss))
            elif cv == CONVERT_NONE:
                linear.append((dst, ds, src, ss, g, o))
            else:
                converted.append((dst, ds, src, ss, g, o, CONVERTERS[cv]))
        step = slaves[i].bind_step(t_cell, h_cells[i])
        stages.append(
            Stage(
                tuple(copies),
                tuple(linear),
                tuple(converted),
                tuple(sets[i]),
                step,
                tuple(gets[i]),
                i,
            )  # fmt: skip
        )
    return stages


def variants(stage: Stage) -> Variants:
    return Variants(
        stage,
        stage._replace(gets=()),
        Stage((), (), (), (), NO_STEP, stage.gets, stage.instance),
    )


def timed_step(
    step: StatusCall, i: int, sampled: list[float], calls: list[int]
) -> Callable[[], int]:
    """`step` with its wall time added to sampled[i] and its call counted in calls[i]."""
    clock = _time.perf_counter

    def timed() -> int:
        c0 = clock()
        status = step()
        sampled[i] += clock() - c0
        calls[i] += 1
        return status

    return timed


def phase_stages(ops: Sequence[Operation], table: Sequence[Variants]) -> tuple[tuple, ...]:
    """The stages of one phase's operations, picked from each instance's variants, as plain
    tuples in Stage field order (the loop unpacks exact tuples faster than a NamedTuple)."""
    out = []
    for i, steps, publishes in ops:
        v = table[i]
        stage = v.both if steps and publishes else v.step_only if steps else v.get_only
        out.append(tuple(stage))
    return tuple(out)


def phase_table(
    plan: Plan, algorithm: Algorithm, table: Sequence[Variants], max_period: int
) -> list[tuple[tuple, ...]] | None:
    """The stages of every phase n % period (None when the period exceeds `max_period`: the
    loop then builds each step's phase as it goes)."""
    period = plan.schedule_period
    if period > max_period:
        return None
    return [phase_stages(algorithm.phase(plan, k), table) for k in range(period)]


__all__ = [
    "CONVERTERS",
    "INTEGER",
    "NO_STEP",
    "Stage",
    "Variants",
    "bind_stages",
    "phase_stages",
    "phase_table",
    "round_half_away",
    "store_view",
    "timed_step",
    "variants",
]
