"""Check the live sections' links (opcua inputs/outputs, plant signals) against FMU variables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cosim.errors import Location, Problem
from cosim.io.locate import did_you_mean
from cosim.model.live import PlantSpec
from cosim.model.spec import ResolvedSystem, SystemSpec, VariableInfo, VarRef

if TYPE_CHECKING:
    from cosim.model.live import OpcuaSpec


def ensure_recorded(spec: SystemSpec, system: ResolvedSystem, labels: Sequence[str]) -> SystemSpec:
    """`spec` with `labels` added to its record list (so the engine gets them every step).

    Returns `spec` itself when every label is already recorded.
    """
    have = [r.label for r in system.records]
    missing = [label for label in dict.fromkeys(labels) if label not in have]
    if not missing:
        return spec
    refs = [VarRef(*label.split(".", 1)) for label in have + missing]
    return replace(spec, record=replace(spec.record, variables=tuple(refs)))


def with_records(spec: SystemSpec, labels: Sequence[str]) -> SystemSpec:
    """`spec` recording exactly `labels` (the plant records nothing else)."""
    refs = tuple(VarRef(*label.split(".", 1)) for label in dict.fromkeys(labels))
    return replace(spec, record=replace(spec.record, variables=refs))


# ============================================================================ links
@dataclass(frozen=True)
class LiveLink:
    """One opcua.inputs entry, resolved: drive an input, or watch an output."""

    index: int  # position in opcua.inputs (and in the InputBridge's buffers)
    node: str
    label: str  # "comp.var"
    component: int
    variable: VariableInfo
    role: str  # "drive" | "watch"


_SETTABLE = "an input or a tunable parameter (driven by the plant value)"
_WATCHABLE = "an output or a local variable (watched: residual = measured - predicted)"


def _lookup(
    system: ResolvedSystem, ref: VarRef, where: str, loc: Location | None, skip: Collection[str]
) -> tuple[int, VariableInfo] | Problem | None:
    names = {c.name: c for c in system.components}
    comp = names.get(ref.component)
    if comp is None and ref.component in skip:
        return None  # a broken component, reported already
    if comp is None:
        close = did_you_mean(ref.component, names, cutoff=0.6)
        hint = f"did you mean '{close}.{ref.variable}'?" if close else ""
        return Problem(loc, f"{where}: no component named '{ref.component}'", hint)
    var = comp.variables.get(ref.variable)
    if var is None:
        close = did_you_mean(ref.variable, comp.variables, cutoff=0.6)
        hint = (
            f"did you mean '{ref.component}.{close}'?"
            if close
            else f"run `cosim inspect {comp.fmu_path}` to list its variables"
        )
        return Problem(loc, f"{where}: {comp.fmu_path.name} has no variable '{ref.variable}'", hint)
    if var.kind == "string":
        return Problem(loc, f"{where}: {ref} is a String variable; live values must be numbers")
    return comp.index, var


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def resolve_links(
    system: ResolvedSystem, opcua: OpcuaSpec, skip: Collection[str] = ()
) -> tuple[tuple[LiveLink, ...], list[Problem]]:
    """Check every opcua input and output against the FMUs' variables.

    `skip`: components left out of `system` because they are broken (their links are not
    checked: their problem is reported already).
    """
    problems: list[Problem] = []
    links: list[LiveLink] = []
    driven = {
        f"{system.components[c.target_component].name}.{c.target.name}": c
        for c in system.connections
    }
    for i, item in enumerate(opcua.inputs):
        where = f"opcua.inputs[{i}].to"
        loc = item.to.loc or item.loc  # the `to:` key itself, else the list item
        found = _lookup(system, item.to, where, loc, skip)
        if found is None:
            continue
        if isinstance(found, Problem):
            problems.append(found)
            continue
        component, var = found
        label = str(item.to)
        tunable = var.causality == "parameter" and var.variability == "tunable"
        if var.causality == "input" or tunable:
            if label in driven:
                problems.append(
                    Problem(
                        loc,
                        f"{where}: {label} is already driven by a connection from "
                        f"{system.components[driven[label].source_component].name}."
                        f"{driven[label].source.name}",
                        "an input takes one source: remove the connection or the live input",
                    )
                )
                continue
            role = "drive"
        elif var.causality in ("output", "local"):
            role = "watch"
        else:
            what = var.causality if var.causality != "parameter" else f"{var.variability} parameter"
            problems.append(
                Problem(
                    loc,
                    f"{where}: {label} is {_article(what)}; a live input must go to "
                    f"{_SETTABLE} or to {_WATCHABLE}",
                    f"{_article(what)} cannot change during a run; give it a value under "
                    f"components.{item.to.component}.parameters instead"
                    if var.causality == "parameter"
                    else "",
                )
            )
            continue
        links.append(LiveLink(i, item.node, label, component, var, role))
    for i, out in enumerate(opcua.outputs):
        loc = out.source.loc or out.loc
        found = _lookup(system, out.source, f"opcua.outputs[{i}].from", loc, skip)
        if isinstance(found, Problem):
            problems.append(found)
    return tuple(links), problems


def _variable(
    system: ResolvedSystem, ref: VarRef, what: str, skip: Collection[str] = ()
) -> tuple[int, VariableInfo] | Problem | None:
    """Look `ref` up in the resolved system: (component index, variable), a Problem, or None
    for a component in `skip`."""
    comps = {c.name: c for c in system.components}
    comp = comps.get(ref.component)
    if comp is None and ref.component in skip:
        return None
    if comp is None:
        return Problem(ref.loc, f"{what}: no component named '{ref.component}'",
                       f"components: {', '.join(comps) or '(none)'}")  # fmt: skip
    var = comp.variables.get(ref.variable)
    if var is None:
        close = did_you_mean(ref.variable, comp.variables, cutoff=0.6)
        hint = f"did you mean '{ref.component}.{close}'?" if close else (
            f"run `cosim inspect {comp.fmu_path}` to list its variables")  # fmt: skip
        return Problem(ref.loc, f"{what}: {comp.fmu_path.name} has no variable "
                       f"'{ref.variable}'", hint)  # fmt: skip
    if var.kind == "string":
        return Problem(ref.loc, f"{what}: {ref} is a String variable; the plant serves and "
                       "sets numbers only")  # fmt: skip
    return comp.index, var


def _settable(
    system: ResolvedSystem, ref: VarRef, what: str, skip: Collection[str] = ()
) -> tuple[int, VariableInfo] | Problem | None:
    found = _variable(system, ref, what, skip)
    if found is None or isinstance(found, Problem):
        return found
    _, var = found
    tunable = var.causality == "parameter" and var.variability == "tunable"
    if var.causality != "input" and not tunable:
        kind = var.causality if var.causality != "parameter" else f"{var.variability} parameter"
        kind = ("an " if kind[0] in "aeiou" else "a ") + kind
        return Problem(ref.loc, f"{what}: {ref} is {kind}; only inputs and tunable parameters "
                       "can be changed while the plant runs",
                       f"give it a value under components.{ref.component}.parameters instead"
                       if var.causality == "parameter" else "")  # fmt: skip
    for c in system.connections:
        if system.components[c.target_component].name == ref.component and (
            c.target.name == ref.variable
        ):
            return Problem(ref.loc, f"{what}: {ref} is driven by a connection; the connection "
                           "would overwrite it every step", "remove the connection")  # fmt: skip
    return found


def check_plant_links(
    plant: PlantSpec, system: ResolvedSystem, skip: Collection[str] = ()
) -> list[Problem]:
    """Check the plant's links against the FMUs' variables, each problem with file:line:col.

    `serve[].from` must exist (any numeric variable); `commands[].to` and the targets of
    `set` and `ramp` faults must be unconnected inputs or tunable parameters. (Noise and
    freeze targets are served signals, checked by parse_plant.)
    """
    problems: list[Problem] = []
    for i, s in enumerate(plant.serve):
        found = _variable(system, s.source, f"plant.serve[{i}].from", skip)
        if isinstance(found, Problem):
            problems.append(found)
    for i, c in enumerate(plant.commands):
        found = _settable(system, c.target, f"plant.commands[{i}].to", skip)
        if isinstance(found, Problem):
            problems.append(found)
    for f in plant.faults:
        if f.action == "freeze":
            continue
        found = _settable(system, f.target, f.where, skip)
        if isinstance(found, Problem):
            problems.append(found)
    return problems


__all__ = [
    "LiveLink",
    "check_plant_links",
    "ensure_recorded",
    "resolve_links",
    "with_records",
]
