"""A SystemSpec as system YAML text: the inverse of io.yaml."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml

from cosim.model.inputs import InputTableSpec
from cosim.model.spec import (
    ComponentSpec,
    ConnectionSpec,
    LoopSolverSpec,
    SimulationSpec,
    SystemSpec,
    VarRef,
)


class _Dumper(yaml.SafeDumper):
    """The safe dumper without aliases. It writes a float as its repr() (the shortest text
    that reads back as the same double; 1e-05 as 1.0e-05, YAML 1.1), so values round-trip."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _simulation(sim: SimulationSpec) -> dict[str, Any]:
    d = SimulationSpec()
    out: dict[str, Any] = {"start": sim.start, "stop": sim.stop, "step": sim.step}
    if sim.algorithm != d.algorithm:
        out["algorithm"] = sim.algorithm
    if sim.tolerance is not None:
        out["tolerance"] = sim.tolerance
    if sim.extrapolation != d.extrapolation:
        out["extrapolation"] = sim.extrapolation
    if sim.algebraic_loops is not None:
        out["algebraic_loops"] = sim.algebraic_loops
    if sim.loop_solver != LoopSolverSpec():
        ls = sim.loop_solver
        out["loop_solver"] = {
            "method": ls.method,
            "tolerance": ls.tolerance,
            "max_iterations": ls.max_iterations,
            "relaxation": ls.relaxation,
        }
    if sim.step_control is not None:
        sc = sim.step_control
        out["step_control"] = {"tolerance": sc.tolerance}
        if sc.min is not None:
            out["step_control"]["min"] = sc.min
        if sc.max is not None:
            out["step_control"]["max"] = sc.max
    if sim.realtime is not None:
        out["realtime"] = sim.realtime
    if sim.engine is not None:
        out["engine"] = sim.engine
    return out


def _component(comp: ComponentSpec, fmu: str) -> dict[str, Any]:
    out: dict[str, Any] = {"fmu": fmu}
    if comp.parameters:
        out["parameters"] = {k: _plain(v) for k, v in comp.parameters.items()}
    for key in ("step", "interface", "solver", "tolerance", "max_step"):
        value = getattr(comp, key)
        if value is not None:
            out[key] = value
    return out


def _connection(conn: ConnectionSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"from": str(conn.source), "to": str(conn.target)}
    if conn.gain != 1.0:
        out["gain"] = conn.gain
    if conn.offset != 0.0:
        out["offset"] = conn.offset
    if conn.convert is not None:
        out["convert"] = conn.convert
    if conn.extrapolation is not None:
        out["extrapolation"] = conn.extrapolation
    if not conn.unit_conversion:
        out["unit_conversion"] = False
    if conn.mapping:
        out["mapping"] = [{"from": _plain(s), "to": _plain(t)} for s, t in conn.mapping]
    return out


def _table(table: InputTableSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"file": str(table.path)}  # absolute: the YAML may live elsewhere
    if table.component is not None:
        out["component"] = table.component
    else:
        out["map"] = {column: str(ref) for column, ref in table.map.items()}
    for key, default in (("interpolation", "auto"), ("outside", "error"), ("time", None)):
        if getattr(table, key) != default:
            out[key] = getattr(table, key)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, VarRef):
        return str(value)
    return value


def system_data(
    spec: SystemSpec, fmu_text: Callable[[ComponentSpec], str] | None = None
) -> dict[str, Any]:
    """The YAML document of `spec` as plain data (`fmu_text` gives each component's `fmu:`)."""
    text = fmu_text or (lambda c: c.fmu)
    out: dict[str, Any] = {"name": spec.name}
    if spec.description:
        out["description"] = spec.description
    out["simulation"] = _simulation(spec.simulation)
    out["components"] = {name: _component(c, text(c)) for name, c in spec.components.items()}
    if spec.connections:
        out["connections"] = [_connection(c) for c in spec.connections]
    record: dict[str, Any] = {}
    if spec.record.variables is not None:
        record["variables"] = [str(v) for v in spec.record.variables]
    if spec.record.interval is not None:
        record["interval"] = spec.record.interval
    if record:
        out["record"] = record
    if spec.events:
        out["events"] = [
            {"at": e.at, "set": {str(k): _plain(v) for k, v in e.set.items()}} for e in spec.events
        ]
    if spec.inputs:
        out["inputs"] = [_table(t) for t in spec.inputs]
    for key, value in spec.extra.items():  # the live/test/study sections are kept as plain data
        out.setdefault(key, _plain(value))
    return out


def dump_system(
    spec: SystemSpec,
    fmu_text: Callable[[ComponentSpec], str] | None = None,
    header: str = "",
) -> str:
    """`spec` as system YAML text that io.yaml reads back into the same spec.

    Floats are written so they read back bit for bit. `fmu_text` gives each component's
    `fmu:` (default: as the spec holds it); `header` becomes leading `#` comment lines.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    body = yaml.dump(
        system_data(spec, fmu_text),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return "\n".join(lines) + ("\n" if lines else "") + body


__all__ = ["dump_system", "system_data"]
