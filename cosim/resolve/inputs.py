"""Resolve the `inputs:` tables against the FMUs: targets, units, interpolation, time range."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cosim.errors import ConfigError, Location
from cosim.io.tables import Table, read_table
from cosim.model.inputs import InputTableSpec, ResolvedInputTable
from cosim.model.refs import VarRef
from cosim.model.spec import TICKS_PER_SECOND, VariableInfo, to_seconds
from cosim.resolve.units import conversion

_SETTABLE = "inputs and tunable parameters"


def table_targets(spec: InputTableSpec, table: Table | None = None) -> dict[str, VarRef]:
    """Column -> the variable it drives (with `component:`, every column but the time)."""
    if spec.component is None:
        return dict(spec.map)
    loc = spec.key_locs.get("component", spec.loc)
    names = list(table.columns) if table is not None else []
    return {name: VarRef(spec.component, name, loc) for name in names}


def continuous(var: VariableInfo) -> bool:
    """Whether a column driving `var` is interpolated linearly under `interpolation: auto`."""
    return var.kind == "real" and var.variability == "continuous"


def resolve_inputs(
    resolver: Any,
    start_tick: int,
    stop_tick: int,
    step_ticks: int,
    connected: Mapping[str, Any],
) -> tuple[ResolvedInputTable, ...]:
    """Every `inputs:` table resolved; problems go to `resolver` (its error/warn/lookup/infos).

    `connected` holds the inputs other sources write (label -> the connection, or the name of
    the live section that drives it): a table may not drive those, nor an input another table
    or an event drives.
    """
    out: list[ResolvedInputTable] = []
    driven: dict[str, Location | None] = {}
    by_event = {str(ref): ref.loc for event in resolver.spec.events for ref in event.set}
    for spec in resolver.spec.inputs:
        file_loc = spec.key_locs.get("file", spec.loc)
        try:
            table = read_table(spec.path, time=spec.time)
        except ConfigError as err:
            for p in err.problems:
                if p.loc is not None and p.loc.line:  # a place in the table itself
                    resolver.error(p.loc, p.message, p.hint)
                else:
                    resolver.error(file_loc, f"{spec.file}: {p.message}", p.hint)
            continue
        targets = table_targets(spec, table)
        if spec.component is not None:
            info = resolver.infos.get(spec.component)
            if info is None:
                continue  # the component is broken, and reported
            targets = {c: r for c, r in targets.items() if _is_input(info.variables.get(c))}
            if not targets:
                inputs = [n for n, v in info.variables.items() if v.causality == "input"]
                resolver.error(
                    file_loc,
                    f"{spec.file}: no column is named after an input of {spec.component}",
                    f"inputs of {spec.component}: {', '.join(inputs) or 'none'}; columns: "
                    + ", ".join(table.columns),
                )
                continue
        labels, columns, values, linear = [], [], [], []
        for column, ref in targets.items():
            var = _target(resolver, spec, table, column, ref, connected, driven, by_event)
            if var is None:
                continue
            unit = table.units.get(column, "")
            info = resolver.infos[ref.component]
            try:
                gain, offset = conversion(unit, var.unit, info.units, info.units)
            except ConfigError as err:
                p = err.problems[0]
                resolver.error(
                    spec.key_locs.get(f"map.{column}", file_loc),
                    f"{spec.file}: column {column} [{unit}] cannot drive {ref} [{var.unit}]: "
                    + p.message,
                    p.hint,
                )
                continue
            mode = spec.interpolation
            if mode == "linear" and var.kind != "real":
                resolver.error(
                    spec.key_locs.get("interpolation", spec.loc),
                    f"interpolation: linear cannot drive {ref} ({var.fmi_type})",
                    "Integers, Booleans and enumerations take the previous value; use "
                    "interpolation: auto",
                )
                continue
            driven[str(ref)] = ref.loc or file_loc
            labels.append(str(ref))
            columns.append(column)
            values.append(gain * table.columns[column] + offset)
            linear.append(continuous(var) if mode == "auto" else mode == "linear")
        if not labels:
            continue
        ticks = np.rint(table.time * TICKS_PER_SECOND).astype(np.int64)
        if not _covers(resolver, spec, table, ticks, start_tick, stop_tick):
            continue
        if resolver.spec.simulation.step_control is None:
            _off_grid(resolver, spec, table, ticks, values, linear, start_tick, step_ticks)
        out.append(
            ResolvedInputTable(
                spec=spec,
                labels=tuple(labels),
                columns=tuple(columns),
                ticks=ticks,
                values=np.ascontiguousarray(np.stack(values, axis=1)),
                linear=tuple(linear),
            )
        )
    return tuple(out)


def _is_input(var: VariableInfo | None) -> bool:
    return var is not None and var.causality == "input"


def _target(
    resolver: Any,
    spec: InputTableSpec,
    table: Table,
    column: str,
    ref: VarRef,
    connected: Mapping[str, Any],
    driven: Mapping[str, Location | None],
    by_event: Mapping[str, Location | None],
) -> VariableInfo | None:
    """The variable a column drives, or None (reported)."""
    where = spec.key_locs.get(f"map.{column}", ref.loc or spec.loc)
    if column not in table.columns:
        from cosim.io.locate import did_you_mean

        close = did_you_mean(column, list(table.columns))
        resolver.error(
            spec.key_locs.get("map", where),
            f"{spec.file} has no column {column!r}",
            f"did you mean {close!r}?" if close else f"columns: {', '.join(table.columns)}",
        )
        return None
    var = resolver.lookup(ref, "input")
    if var is None:
        return None
    tunable = var.causality == "parameter" and var.variability == "tunable"
    if var.causality != "input" and not tunable:
        resolver.error(
            where,
            f"{ref} cannot be driven by a table: it is a {var.variability} {var.causality}",
            f"tables drive {_SETTABLE}",
        )
        return None
    if var.kind == "string" or var.array:
        what = "a String" if var.kind == "string" else f"an element of the array {var.array}"
        resolver.error(where, f"{ref} cannot be driven by a table: it is {what}",
                       "tables drive numeric scalar variables")  # fmt: skip
        return None
    label = str(ref)
    for others, what in ((connected, "the connection at "), (driven, "the table entry at ")):
        if label in others:
            other = others[label]
            by = other if isinstance(other, str) else f"{what}{getattr(other, 'loc', other)}"
            resolver.error(where, f"{ref} is already driven by {by}",
                           "an input takes one source: remove one of them")  # fmt: skip
            return None
    if label in by_event:
        resolver.error(
            where,
            f"{ref} is driven by this table and changed by the event at {by_event[label]}",
            "the table would overwrite the event at the next step: remove one of them",
        )
        return None
    return var


def _off_grid(
    resolver: Any,
    spec: InputTableSpec,
    table: Table,
    ticks: np.ndarray,
    values: list[np.ndarray],
    linear: list[bool],
    start_tick: int,
    step_ticks: int,
) -> None:
    """Warn once per table about step changes between communication points."""
    jumps = np.zeros(len(ticks), dtype=bool)
    jumps[1:] = ticks[1:] == ticks[:-1]  # a repeated time
    for column, is_linear in zip(values, linear, strict=True):
        if not is_linear:  # a held column changes in steps wherever its value changes
            jumps[1:] |= column[1:] != column[:-1]
    off = jumps & ((ticks - start_tick) % step_ticks != 0)
    if not off.any():
        return
    rows = np.flatnonzero(off)
    first = int(rows[0])
    resolver.warn(
        table.where(first),
        f"{spec.file}: {len(rows)} step change(s) fall between communication points, the "
        f"first at t = {to_seconds(int(ticks[first])):g} s; each reaches the FMUs at the next "
        "communication point",
        "put step changes on the simulation.step grid, or use a smaller step",
    )


def _covers(
    resolver: Any,
    spec: InputTableSpec,
    table: Table,
    ticks: np.ndarray,
    start_tick: int,
    stop_tick: int,
) -> bool:
    """Whether the table spans start..stop (or `outside: hold` lets it hold its ends)."""
    if spec.outside == "hold":
        return True
    ok = True
    span = f"{to_seconds(int(ticks[0])):g} .. {to_seconds(int(ticks[-1])):g} s"
    run = f"{to_seconds(start_tick):g} .. {to_seconds(stop_tick):g} s"
    hint = "extend the table, change simulation.start/stop, or set outside: hold"
    if ticks[0] > start_tick:
        resolver.error(
            table.where(0),
            f"the table starts after the simulation: it covers {span}, the run {run}",
            hint,
        )
        ok = False
    if ticks[-1] < stop_tick:
        resolver.error(
            table.where(len(ticks) - 1),
            f"the table ends before the simulation: it covers {span}, the run {run}",
            hint,
        )
        ok = False
    return ok


__all__ = ["continuous", "resolve_inputs", "table_targets"]
