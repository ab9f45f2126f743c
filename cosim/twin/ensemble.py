"""An ensemble: N copies of (part of) a twin's system in one Simulation, stepped in lockstep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from cosim.engine.readers import SignalReader
from cosim.model.spec import (
    ConnectionSpec,
    RecordSpec,
    ResolvedSystem,
    SystemSpec,
    VarRef,
)

MEMBER = "{name}_m{k}"  # component name of member k


def upstream(spec: SystemSpec, components: Sequence[str]) -> list[str]:
    """`components` and every component whose outputs reach them through connections."""
    need = set(components)
    changed = True
    while changed:
        changed = False
        for c in spec.connections:
            if c.target.component in need and c.source.component not in need:
                need.add(c.source.component)
                changed = True
    return [name for name in spec.components if name in need]


def member_label(label: str, k: int) -> str:
    comp, _, var = label.partition(".")
    return f"{MEMBER.format(name=comp, k=k)}.{var}"


def replicate(
    spec: SystemSpec,
    components: Sequence[str],
    members: int,
    parameters: Sequence[Mapping[str, Any]],
    record: Sequence[str],
) -> SystemSpec:
    """A system of `members` copies of `components` (their connections among them kept),
    member k with the start values `parameters[k]` ({"comp.var": value}) and recording
    `record` ("comp.var") of every member. Events and live sections are left out."""
    comps: dict[str, Any] = {}
    keep = set(components)
    for k in range(members):
        extra: dict[str, dict[str, Any]] = {}
        for label, value in parameters[k].items():
            comp, _, var = label.partition(".")
            extra.setdefault(comp, {})[var] = value
        for name in components:
            c = spec.components[name]
            new = MEMBER.format(name=name, k=k)
            comps[new] = replace(c, name=new, parameters={**c.parameters, **extra.get(name, {})})
    conns: list[ConnectionSpec] = []
    for c in spec.connections:
        if c.source.component in keep and c.target.component in keep:
            for k in range(members):
                conns.append(
                    replace(
                        c,
                        source=VarRef(
                            MEMBER.format(name=c.source.component, k=k), c.source.variable
                        ),
                        target=VarRef(
                            MEMBER.format(name=c.target.component, k=k), c.target.variable
                        ),
                    )
                )
    refs = tuple(
        VarRef(*member_label(label, k).split(".", 1)) for k in range(members) for label in record
    )
    return replace(
        spec,
        name=f"{spec.name}_ensemble",
        components=comps,
        connections=tuple(conns),
        record=RecordSpec(variables=refs, interval=None),
        events=(),
        extra={},
        opcua=None,
        plant=None,
        analytics=None,
        warnings=(),
    )


class Ensemble:
    """`members` copies of a twin's system, one Simulation (one engine loop over all of them).

    Each step the caller writes the driven inputs (the same for every member) and each
    member's parameters, then steps; `read(out)` gives every member's recorded signals as a
    (members, n_signals) array.
    """

    def __init__(
        self,
        spec: SystemSpec,
        members: int,
        *,
        signals: Sequence[str],
        driven: Sequence[str],
        parameters: Sequence[str],
        start: np.ndarray,
        first_values: Mapping[str, Any] | None = None,
    ) -> None:
        from cosim.resolve.resolver import resolve_system

        self.members = members
        self.signals = list(signals)
        self.parameters = list(parameters)
        wanted = [x.partition(".")[0] for x in (*self.signals, *self.parameters)]
        self.components = upstream(spec, wanted)
        keep = set(self.components)
        self.driven = [x for x in driven if x.partition(".")[0] in keep]
        self._driven_index = np.array([list(driven).index(x) for x in self.driven], dtype=int)
        firsts = {k: v for k, v in (first_values or {}).items() if k.partition(".")[0] in keep}
        starts = [
            {**firsts, **{p: float(start[k, j]) for j, p in enumerate(self.parameters)}}
            for k in range(members)
        ]
        self.spec = replicate(spec, self.components, members, starts, self.signals)
        self.system: ResolvedSystem = resolve_system(self.spec)
        self._driven_labels = [member_label(x, k) for k in range(members) for x in self.driven]
        self._param_labels = [member_label(x, k) for k in range(members) for x in self.parameters]
        self._sim: Any = None
        self._reader: SignalReader | None = None
        self._drive_view: Any = None
        self._param_view: Any = None
        self._drive_buf = np.zeros((members, len(self.driven)))
        self._drive_one = np.zeros(len(self.driven))
        self._param_buf = np.zeros((members, len(self.parameters)))
        self._signal_buf = np.zeros(members * len(self.signals))

    @property
    def plan_inputs(self) -> list[str]:
        """The labels the ensemble's plan takes as inputs (driven, then parameters)."""
        return self._driven_labels + self._param_labels

    @property
    def simulation(self) -> Any:
        return self._sim

    def open(self) -> None:
        """Instantiate and initialize every member."""
        from cosim.api import Simulation, plan_for

        plan = plan_for(self.system, self.plan_inputs)
        self._sim = Simulation(self.system, memory=False, plan=plan)
        self._sim.open()
        self._sim.initialize()
        ex = self._sim.execution
        self._reader = SignalReader(
            ex, [member_label(s, k) for k in range(self.members) for s in self.signals]
        )
        if self._driven_labels:
            self._drive_view = ex.input_view(self._driven_labels)
        if self._param_labels:
            self._param_view = ex.input_view(self._param_labels)

    def read(self, out: np.ndarray) -> None:
        """Every member's signals, shape (members, n_signals)."""
        assert self._reader is not None
        self._reader.read(self._signal_buf)
        out[...] = self._signal_buf.reshape(self.members, len(self.signals))

    def step(self, driven: np.ndarray, parameters: np.ndarray) -> None:
        """Write `driven` (the twin's driven inputs, in the order given at construction; the
        same for every member) and `parameters` (members, n_params); advance one step."""
        if self._drive_view is not None:
            np.take(driven, self._driven_index, out=self._drive_one)
            self._drive_buf[...] = self._drive_one
            self._drive_view.write(self._drive_buf.ravel())
        if self._param_view is not None:
            np.copyto(self._param_buf, parameters)
            self._param_view.write(self._param_buf.ravel())
        self._sim.step()

    @property
    def time(self) -> float:
        return self._sim.time

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()


__all__ = ["Ensemble", "member_label", "replicate", "upstream"]
