"""Test helpers for the engine: hand-built ResolvedSystems over fake FMUs, and YAML systems over
the bundled FMUs (written into a test's tmp_path and loaded through config + resolve)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cosim.fmu.fake import FirstOrderModel, GainModel
from cosim.model.spec import (
    ComponentSpec,
    ConnectionSpec,
    ResolvedComponent,
    ResolvedConnection,
    ResolvedEvent,
    ResolvedRecord,
    ResolvedSystem,
    SimulationSpec,
    SystemSpec,
    VariableInfo,
    VarRef,
    to_ticks,
)

_FMI2_TYPE = {"real": "Real", "integer": "Integer", "boolean": "Boolean", "string": "String"}


def var(name: str, vr: int, causality: str, kind: str = "real", unit: str | None = None):
    return VariableInfo(
        name=name,
        value_reference=vr,
        kind=kind,  # type: ignore[arg-type]
        fmi_type=_FMI2_TYPE[kind],
        causality=causality,
        variability="tunable" if causality == "parameter" else "continuous",
        unit=unit,
    )


FIRST_ORDER = {
    v.name: v
    for v in (
        var("T", FirstOrderModel.T, "parameter", unit="s"),
        var("k", FirstOrderModel.K, "parameter", unit="1"),
        var("u", FirstOrderModel.U, "input", unit="1"),
        var("y", FirstOrderModel.Y, "output", unit="1"),
    )
}
GAIN = {
    v.name: v
    for v in (
        var("k", GainModel.K, "parameter"),
        var("b", GainModel.B, "parameter"),
        var("u", GainModel.U, "input"),
        var("y", GainModel.Y, "output"),
        var("n_in", GainModel.N_IN, "input", "integer"),
        var("n_out", GainModel.N_OUT, "output", "integer"),
        var("positive", GainModel.POSITIVE, "output", "boolean"),
    )
}
FEEDTHROUGH = {"Gain": {"u": ("y", "positive"), "n_in": ("n_out",)}}


def fake_system(
    components: Sequence[tuple[str, dict[str, VariableInfo]] | tuple[str, dict, int]],
    connections: Sequence[tuple] = (),
    *,
    step: float = 1e-3,
    stop: float = 0.01,
    algorithm: str = "gauss-seidel",
    order: Sequence[int] | None = None,
    records: Sequence[str] | None = None,
    record_decimation: int = 1,
    events: Sequence[tuple[float, str, Any]] = (),
    start_values: dict[str, Any] | None = None,
) -> ResolvedSystem:
    """A ResolvedSystem over fake models, built by hand (no YAML, no model descriptions).

    components: (name, variables) or (name, variables, decimation);
    connections: ("a.y", "b.u") with optional gain, offset, feedthrough, convert.
    """
    index = {c[0]: i for i, c in enumerate(components)}
    variables = {c[0]: c[1] for c in components}

    def ref(text: str) -> tuple[int, VariableInfo]:
        comp, _, name = text.partition(".")
        return index[comp], variables[comp][name]

    sim = SimulationSpec(start=0.0, stop=stop, step=step, algorithm=algorithm)  # type: ignore[arg-type]
    comp_specs = {c[0]: ComponentSpec(c[0], "fake", Path("fake.fmu")) for c in components}
    spec = SystemSpec(
        name="fake", path=Path("fake.yaml"), text="", sha256=hashlib.sha256(b"").hexdigest(),
        simulation=sim, components=comp_specs,
    )  # fmt: skip
    starts: dict[int, list] = {}
    for text, value in (start_values or {}).items():
        i, v = ref(text)
        starts.setdefault(i, []).append((v, value))
    resolved_components = tuple(
        ResolvedComponent(
            index=i,
            name=c[0],
            spec=comp_specs[c[0]],
            fmu_path=Path("fake.fmu"),
            fmi_version="2.0",
            guid="{fake}",
            model_identifier="fake",
            model_description=None,
            variables=c[1],
            decimation=c[2] if len(c) > 2 else 1,
            start_values=tuple(starts.get(i, ())),
        )
        for i, c in enumerate(components)
    )
    conns = []
    for c in connections:
        src, dst = c[0], c[1]
        gain = c[2] if len(c) > 2 else 1.0
        offset = c[3] if len(c) > 3 else 0.0
        feedthrough = c[4] if len(c) > 4 else False
        convert = c[5] if len(c) > 5 else None
        si, sv = ref(src)
        di, dv = ref(dst)
        cspec = ConnectionSpec(
            VarRef(*src.split(".", 1)), VarRef(*dst.split(".", 1)), gain, offset, convert=convert
        )
        conns.append(ResolvedConnection(si, sv, di, dv, gain, offset, feedthrough, cspec))
    if records is None:
        records = [
            f"{c[0]}.{v.name}" for c in components for v in c[1].values() if v.causality == "output"
        ]
    recs = tuple(ResolvedRecord(ref(r)[0], ref(r)[1], r) for r in records)
    evs = tuple(
        sorted(
            (ResolvedEvent(to_ticks(t), *ref(target), value) for t, target, value in events),
            key=lambda e: e.tick,
        )
    )
    return ResolvedSystem(
        spec=spec,
        components=resolved_components,
        connections=tuple(conns),
        order=tuple(order) if order is not None else tuple(range(len(components))),
        records=recs,
        events=evs,
        start_tick=0,
        stop_tick=to_ticks(stop),
        step_ticks=to_ticks(step),
        record_decimation=record_decimation,
    )


# --------------------------------------------------------------------------- real FMUs
def bundled(name: str) -> Path:
    from cosim.library.build import bundled_fmu

    return Path(bundled_fmu(name))


def dual_mass_yaml(
    fmi: str = "2.0",
    *,
    algorithm: str = "gauss-seidel",
    step: float = 1e-3,
    stop: float = 2.0,
    record_interval: float | None = 1e-2,
    events: str = "",
    parameters1: str = "{}",
    extra: str = "",
) -> str:
    prefix = "fmi3/" if fmi == "3.0" else ""
    m1, m2 = bundled(prefix + "Mass1"), bundled(prefix + "Mass2")
    interval = f"\n  interval: {record_interval!r}" if record_interval else ""
    return f"""\
name: dual_mass
simulation: {{start: 0.0, stop: {stop!r}, step: {step!r}, algorithm: {algorithm}}}
components:
  mass1: {{fmu: {m1}, parameters: {parameters1}}}
  mass2: {{fmu: {m2}}}
connections:
  - {{from: mass1.x1, to: mass2.x1}}
  - {{from: mass1.v1, to: mass2.v1}}
  - {{from: mass2.F, to: mass1.F}}
record:
  variables: [mass1.x1, mass1.v1, mass2.x2, mass2.v2]{interval}
{events}{extra}"""


def load_yaml(tmp_path: Path, text: str, name: str = "system.yaml", overrides=()):
    """Write `text` to tmp_path/name and load + resolve it (ConfigError on bad input)."""
    from cosim.io.yaml import load_system
    from cosim.resolve.resolver import resolve_system

    path = tmp_path / name
    path.write_text(text)
    return resolve_system(load_system(path, overrides))


class Recorder:
    """In-memory observer: the recorded variables at every record step, as numpy arrays."""

    def __init__(self) -> None:
        self.rows: list[list[float]] = []
        self.ex = None

    def simulation_initialized(self, ex) -> None:
        import numpy as np

        self.ex = ex
        self._buf = np.zeros(len(ex.plan.rec_labels))
        self._take(ex.tick)

    def _take(self, tick: int) -> None:
        self.ex.gather_records(self._buf)
        self.rows.append([tick / 1e9, *self._buf.tolist()])

    def step_complete(self, step: int, tick: int) -> None:
        if step % self.ex.plan.record_decimation == 0:
            self._take(tick)

    @property
    def time(self):
        import numpy as np

        return np.array([r[0] for r in self.rows])

    def __getitem__(self, label: str):
        import numpy as np

        k = self.ex.plan.rec_labels.index(label) + 1
        return np.array([r[k] for r in self.rows])


def simulate(system):
    """Run `system` over the real FMUs and return its Recorder."""
    from cosim.engine.execution import Execution

    rec = Recorder()
    with Execution(system, observers=[rec]) as ex:
        ex.initialize()
        ex.run_until()
    return rec
