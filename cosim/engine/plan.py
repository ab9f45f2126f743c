"""Flatten a ResolvedSystem into the arrays the step loop executes (a compiled kernel could too).

Everything the per-step path needs is a number in a numpy array; names, units and other
Python objects stay in side tables for messages and results metadata.

Values travel through one *store* per value type (F64, I32, B32, ...; see ValueType). In each
store, the slots an instance reads with its one get call per type are contiguous, and so are
the slots it writes with its one set call per type:

    store[vtype] = [ get slots of instance 0 | get slots of instance 1 | ... |
                     set slots of instance 0 | set slots of instance 1 | ... ]

A bound call is one row of `get_calls` / `set_calls`: (instance, vtype, begin, end), the slots
[begin, end) of that store, with value references `store_vr[vtype][begin:end]`.

Each connection fills one set slot:  dst := convert(gain * src + offset), where `convert` is
one of CONVERT_* (unit conversion is already folded into gain and offset), or, for a row with
a value mapping (`conn_mapping`), dst := convert(mapping.get(src, src)). Connections are
sorted by target instance; instance i's are rows conn_begin[i]:conn_begin[i+1].

Schedule (sample and hold on each instance's own grid): instance i takes its inputs and steps
at communication step n when n % decimation[i] == 0, with a step of decimation[i] * step_ticks,
and publishes its outputs (its get calls) at the end of communication step n when
(n + 1) % decimation[i] == 0, i.e. once the global time has reached the end of its own step
(both in every step when decimation[i] == 1); `order` is the stepping order (Gauss-Seidel:
topological). `schedule_period` (lcm of the decimations) is when the schedule repeats: the
algorithm (cosim.engine.algorithms) orders each phase n % period once, before the run.

Events are sorted by tick and applied before the step that starts at their tick; their values
are numbers (`ev_value`, float64), the values as written stay in `ev_values` for messages.

External inputs (`build_plan(system, inputs=...)`) are extra set slots, in the same set
regions, that an external writer (a Manipulator, Execution.set) fills between steps:
`in_slot[k]` of store `in_vtype[k]` is "<component>.<variable>" `in_labels[k]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosim.errors import ConfigError, Problem
from cosim.fmu.adapter import BOOLEAN, NUMERIC_FLOAT, ValueType
from cosim.fmu.factory import value_type
from cosim.model.spec import ResolvedComponent, ResolvedSystem, Value, VariableInfo

JACOBI, GAUSS_SEIDEL = 0, 1
ALGORITHMS = {"jacobi": JACOBI, "gauss-seidel": GAUSS_SEIDEL}

CONVERT_NONE, CONVERT_ROUND, CONVERT_FLOOR, CONVERT_CEIL, CONVERT_TRUNCATE, CONVERT_BOOL = range(6)
_CONVERT_CODES = {
    "round": CONVERT_ROUND,
    "floor": CONVERT_FLOOR,
    "ceil": CONVERT_CEIL,
    "truncate": CONVERT_TRUNCATE,
}

N_VTYPES = len(ValueType)

ValueTypeOf = Callable[[ResolvedComponent, VariableInfo], ValueType]
ExternalInput = tuple[int, VariableInfo]  # (component index, variable) driven from outside


@dataclass(frozen=True, eq=False)
class Plan:
    """The flat, precomputed description of one run. Arrays only on the per-step path."""

    # schedule
    algorithm: int  # JACOBI | GAUSS_SEIDEL
    order: np.ndarray  # int32 [n_instances]: stepping order
    decimation: np.ndarray  # int64 [n_instances]
    start_tick: int
    stop_tick: int
    step_ticks: int
    record_decimation: int
    needs_init_iteration: bool  # some connection feeds an input with direct feedthrough
    # stores
    store_size: np.ndarray  # int64 [N_VTYPES]
    store_vr: tuple[np.ndarray, ...]  # per vtype: uint32 value reference of every slot
    get_calls: np.ndarray  # int64 [G, 4]: instance, vtype, begin, end
    set_calls: np.ndarray  # int64 [S, 4]: instance, vtype, begin, end
    # connections, sorted by target instance
    conn_begin: np.ndarray  # int64 [n_instances + 1]
    conn_src_vtype: np.ndarray  # int8
    conn_src_slot: np.ndarray  # int64
    conn_dst_vtype: np.ndarray  # int8
    conn_dst_slot: np.ndarray  # int64
    conn_gain: np.ndarray  # float64
    conn_offset: np.ndarray  # float64
    conn_convert: np.ndarray  # int8 CONVERT_*
    # recording
    rec_vtype: np.ndarray  # int8 [R]
    rec_slot: np.ndarray  # int64 [R]
    # events, sorted by tick
    ev_tick: np.ndarray  # int64 [E]
    ev_instance: np.ndarray  # int32
    ev_vtype: np.ndarray  # int8
    ev_vr: np.ndarray  # uint32
    ev_value: np.ndarray  # float64 (booleans 0/1; integers exact up to 2**53; strings NaN)
    # external inputs: set slots written by manipulators / Execution.set, sent by the
    # instance's normal bound set call when it steps
    in_instance: np.ndarray  # int32 [I]
    in_vtype: np.ndarray  # int8 [I]
    in_slot: np.ndarray  # int64 [I]
    # side tables (messages, metadata, values that are not numbers)
    instance_names: tuple[str, ...]
    get_labels: tuple[tuple[str, ...], ...]  # per vtype: "<component>.<variable>" per get slot
    rec_labels: tuple[str, ...]
    rec_units: tuple[str, ...]
    rec_kinds: tuple[str, ...]
    ev_values: tuple[Value, ...]  # the events' values as written (messages; strings)
    in_labels: tuple[str, ...]  # "<component>.<variable>" per external input
    # per instance: (vtype, value reference, value), a tuple of values for a whole array
    start_values: tuple[tuple[tuple[ValueType, int, Any], ...], ...]
    # set slots of array elements no connection drives: (vtype, slot, value) before the run
    set_fill: tuple[tuple[int, int, Value], ...] = ()
    # per connection row: value mapping (source, target) pairs as numbers (booleans 0/1);
    # () = none. A mapped row's target gets the mapped value; values not listed pass unchanged
    conn_mapping: tuple[tuple[tuple[float, float], ...], ...] = ()

    @property
    def n_instances(self) -> int:
        return len(self.instance_names)

    @property
    def n_steps(self) -> int:
        """Communication steps from start to stop."""
        return -(-(self.stop_tick - self.start_tick) // self.step_ticks)

    def tick(self, step: int) -> int:
        return self.start_tick + step * self.step_ticks

    @property
    def schedule_period(self) -> int:
        """Communication steps after which the multirate schedule repeats (lcm of decimations)."""
        return math.lcm(*[int(d) for d in self.decimation]) if self.n_instances else 1


def _convert_code(src: ValueType, dst: ValueType, convert: str | None) -> int:
    if dst in NUMERIC_FLOAT:
        return CONVERT_NONE
    if dst in BOOLEAN:
        return CONVERT_NONE if src in BOOLEAN else CONVERT_BOOL
    if dst is ValueType.STR:
        return CONVERT_NONE
    # an integer target: round by default (exact for integer sources and integral gains)
    return _CONVERT_CODES.get(convert or "round", CONVERT_ROUND)


def _event_number(value: Value) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    return math.nan


def build_plan(
    system: ResolvedSystem,
    value_type: ValueTypeOf = value_type,
    inputs: Sequence[ExternalInput] = (),
) -> Plan:
    """Flatten `system`; raises ConfigError for what the engine cannot execute (e.g. strings).

    `inputs` are variables (inputs or tunable parameters) an external writer drives (live
    OPC UA values, plant commands, Execution.set): each gets a set slot in its instance's set
    region. A variable that a connection drives cannot be an external input.
    """
    comps = system.components
    n = len(comps)
    problems: list[Problem] = []

    def vt(ci: int, var: VariableInfo) -> ValueType:
        return value_type(comps[ci], var)

    # ---- which variables each instance gets (connection sources and recorded) and sets
    gets: list[dict[tuple[int, int], VariableInfo]] = [{} for _ in range(n)]  # (vtype, vr)
    sets: list[dict[tuple[int, int], VariableInfo]] = [{} for _ in range(n)]
    for c in system.connections:
        sv, dv = vt(c.source_component, c.source), vt(c.target_component, c.target)
        if ValueType.STR in (sv, dv):
            loc = c.spec.loc if c.spec else None
            problems.append(
                Problem(
                    loc,
                    f"connection {comps[c.source_component].name}.{c.source.name} -> "
                    f"{comps[c.target_component].name}.{c.target.name}: String connections "
                    "are not supported by the engine yet",
                    "remove the connection",
                )
            )
            continue
        gets[c.source_component][(sv, c.source.value_reference)] = c.source
        sets[c.target_component][(dv, c.target.value_reference)] = c.target
    externals: list[tuple[int, int, int, str]] = []  # instance, vtype, vr, label
    for ci, var in inputs:
        label = f"{comps[ci].name}.{var.name}"
        iv = vt(ci, var)
        key = (iv, var.value_reference)
        problem = ""
        if iv is ValueType.STR:
            problem = "String inputs cannot be driven from outside yet"
        elif var.array:
            problem = f"elements of the array {var.array} cannot be driven from outside yet"
        elif var.causality != "input" and not (
            var.causality == "parameter" and var.variability == "tunable"
        ):
            problem = (
                f"only inputs and tunable parameters can be driven from outside "
                f"(causality {var.causality}, variability {var.variability})"
            )
        elif key in sets[ci]:
            problem = "a connection drives it already"
        elif any(e[0] == ci and e[2] == var.value_reference for e in externals):
            continue  # listed twice: one slot
        if problem:
            problems.append(Problem(None, f"external input {label}: {problem}"))
            continue
        sets[ci][key] = var
        externals.append((ci, int(iv), var.value_reference, label))
    records = []
    for r in system.records:
        rv = vt(r.component, r.variable)
        if rv is ValueType.STR:
            continue  # strings are not recorded in the numeric results file
        gets[r.component][(rv, r.variable.value_reference)] = r.variable
        records.append((r, rv))
    if problems:
        raise ConfigError(problems)

    # ---- lay out the stores: per vtype, get region (by instance), then set region
    store_size = np.zeros(N_VTYPES, dtype=np.int64)
    get_slot: dict[tuple[int, int, int], int] = {}  # (instance, vtype, vr) -> slot
    set_slot: dict[tuple[int, int, int], int] = {}
    store_vr: list[list[int]] = [[] for _ in range(N_VTYPES)]
    get_labels: list[list[str]] = [[] for _ in range(N_VTYPES)]
    get_calls, set_calls = [], []
    fill: list[tuple[int, int, int, VariableInfo]] = []  # set slots of array elements
    for table, slots, calls, labels in (
        (gets, get_slot, get_calls, get_labels),
        (sets, set_slot, set_calls, None),
    ):
        for i in range(n):
            by_type: dict[int, list[tuple[int, VariableInfo]]] = {}
            for (t, vr), var in table[i].items():
                by_type.setdefault(int(t), []).append((vr, var))
            for t in sorted(by_type):
                begin = int(store_size[t])
                for vr, var in by_type[t]:
                    # an array element stands for its whole array: one slot per element, all
                    # moved by one get/set of the value reference (nValues = size)
                    slots[(i, t, vr)] = int(store_size[t])
                    members = _members(comps[i], var)
                    store_vr[t] += [vr] * len(members)
                    if labels is not None:
                        labels[t] += [f"{comps[i].name}.{m.name}" for m in members]
                    else:
                        fill += [(i, t, slots[(i, t, vr)] + m.element, m) for m in members]
                    store_size[t] += len(members)
                calls.append((i, t, begin, int(store_size[t])))

    # ---- connections, sorted by target instance (stable: YAML order within an instance)
    rows = []
    for c in system.connections:
        sv, dv = vt(c.source_component, c.source), vt(c.target_component, c.target)
        convert = getattr(c.spec, "convert", None) if c.spec is not None else None
        rows.append(
            (
                c.target_component,
                int(sv),
                get_slot[(c.source_component, int(sv), c.source.value_reference)]
                + c.source.element,
                int(dv),
                set_slot[(c.target_component, int(dv), c.target.value_reference)]
                + c.target.element,
                float(c.gain),
                float(c.offset),
                _convert_code(sv, dv, convert),
                tuple((float(a), float(b)) for a, b in getattr(c.spec, "mapping", ()) or ()),
            )
        )
    rows.sort(key=lambda r: r[0])
    conn_begin = np.zeros(n + 1, dtype=np.int64)
    for r in rows:
        conn_begin[r[0] + 1] += 1
    conn_begin = np.cumsum(conn_begin)

    def col(k: int, dtype: Any) -> np.ndarray:
        return np.array([r[k] for r in rows], dtype=dtype)

    # ---- events and start values
    events = sorted(system.events, key=lambda e: e.tick)
    start_values = tuple(
        tuple((vt(i, var), var.value_reference, value) for var, value in comp.start_values)
        for i, comp in enumerate(comps)
    )

    order = list(system.order) if system.order else list(range(n))
    if sorted(order) != list(range(n)):
        order = list(range(n))
    algorithm = ALGORITHMS.get(system.spec.simulation.algorithm, GAUSS_SEIDEL)
    return Plan(
        algorithm=algorithm,
        order=np.array(order, dtype=np.int32),
        decimation=np.array([max(1, int(c.decimation)) for c in comps], dtype=np.int64),
        start_tick=int(system.start_tick),
        stop_tick=int(system.stop_tick),
        step_ticks=int(system.step_ticks),
        record_decimation=max(1, int(system.record_decimation)),
        needs_init_iteration=any(c.feedthrough for c in system.connections),
        store_size=store_size,
        store_vr=tuple(np.array(v, dtype=np.uint32) for v in store_vr),
        get_calls=np.array(get_calls, dtype=np.int64).reshape(-1, 4),
        set_calls=np.array(set_calls, dtype=np.int64).reshape(-1, 4),
        conn_begin=conn_begin,
        conn_src_vtype=col(1, np.int8),
        conn_src_slot=col(2, np.int64),
        conn_dst_vtype=col(3, np.int8),
        conn_dst_slot=col(4, np.int64),
        conn_gain=col(5, np.float64),
        conn_offset=col(6, np.float64),
        conn_convert=col(7, np.int8),
        conn_mapping=tuple(r[8] for r in rows) if any(r[8] for r in rows) else (),
        rec_vtype=np.array([int(t) for _, t in records], dtype=np.int8),
        rec_slot=np.array(
            [
                get_slot[(r.component, int(t), r.variable.value_reference)] + r.variable.element
                for r, t in records
            ],
            dtype=np.int64,
        ),
        ev_tick=np.array([e.tick for e in events], dtype=np.int64),
        ev_instance=np.array([e.component for e in events], dtype=np.int32),
        ev_vtype=np.array([int(vt(e.component, e.variable)) for e in events], dtype=np.int8),
        ev_vr=np.array([e.variable.value_reference for e in events], dtype=np.uint32),
        ev_value=np.array([_event_number(e.value) for e in events], dtype=np.float64),
        in_instance=np.array([e[0] for e in externals], dtype=np.int32),
        in_vtype=np.array([e[1] for e in externals], dtype=np.int8),
        in_slot=np.array([set_slot[(e[0], e[1], e[2])] for e in externals], dtype=np.int64),
        instance_names=tuple(c.name for c in comps),
        get_labels=tuple(tuple(v) for v in get_labels),
        rec_labels=tuple(r.label for r, _ in records),
        rec_units=tuple(r.variable.unit or "" for r, _ in records),
        rec_kinds=tuple(r.variable.kind for r, _ in records),
        ev_values=tuple(e.value for e in events),
        in_labels=tuple(e[3] for e in externals),
        start_values=start_values,
        set_fill=tuple(
            (t, slot, _element_start(comps[i], var)) for i, t, slot, var in fill if var.array
        ),
    )


def _element_start(comp: ResolvedComponent, var: VariableInfo) -> Value:
    """An array element's value before any connection writes it: its `parameters:` value,
    else its start value, else zero."""
    for first, values in comp.start_values:
        if first.array == var.array and isinstance(values, tuple):
            return values[var.element]
    if var.start is not None:
        return var.start
    return False if var.kind == "boolean" else 0


def _members(comp: ResolvedComponent, var: VariableInfo) -> list[VariableInfo]:
    """The variables one get/set of `var`'s value reference moves: itself, or every element
    of its array (in row-major order)."""
    if not var.array:
        return [var]
    return [v for v in comp.variables.values() if v.array == var.array]


__all__ = [
    "ALGORITHMS",
    "CONVERT_BOOL",
    "CONVERT_CEIL",
    "CONVERT_FLOOR",
    "CONVERT_NONE",
    "CONVERT_ROUND",
    "CONVERT_TRUNCATE",
    "GAUSS_SEIDEL",
    "JACOBI",
    "ExternalInput",
    "Plan",
    "build_plan",
]
