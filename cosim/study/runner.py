"""One study run on a worker: the case's system from a cached base, simulated, reduced to QoIs.

A study travels to a worker once as a `Payload`: the base SystemSpec with every FMU replaced
by a key, and the FMU files' bytes by key (FMU variants of the design included). The worker
writes each FMU once into its own cache folder, resolves the base system once and keeps it
(`_systems`, per study id), so a run costs `with_parameters` (about 2 ms) plus the simulation.
Its FMUs are unpacked once per worker: derived systems share the base's unpacked folders.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cosim.errors import CosimError
from cosim.model.refs import VarRef
from cosim.model.spec import RecordSpec, SystemSpec
from cosim.model.sweep import fmu_column


@dataclass(frozen=True)
class Payload:
    """Everything a worker needs to run any case of one study."""

    study: str  # the study id (a hash of the system, the FMUs and the design)
    spec: SystemSpec  # components' `fmu` are keys of `fmus`
    fmus: Mapping[str, bytes]  # key -> FMU file
    variants: Mapping[str, str]  # FMU text written in the design -> key
    qoi: Mapping[str, Any]  # label -> cosim.study.qoi.Qoi
    stop: float | None = None
    timeout: float | None = None
    keep_full: bool = False
    record: tuple[str, ...] = field(default=())  # what each run records (QoI signals, or all)
    monitors: Mapping[str, Any] = field(default_factory=dict)  # verdict QoIs: name -> MonitorSpec
    tables: Mapping[str, bytes] = field(default_factory=dict)  # inputs: file name -> its bytes


@dataclass
class Outcome:
    """What one run sends back: its QoIs or its error."""

    case: int
    status: str  # completed | stopped | failed
    qoi: dict[str, float]
    error: str = ""
    wall_time: float = 0.0
    worker: str = ""
    time: np.ndarray | None = None  # keep: full
    signals: dict[str, np.ndarray] | None = None


def fmu_key(path: Path) -> str:
    """A content key for an FMU file: its SHA-256 (the same FMU travels once)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


class _Timeout(CosimError):
    """A run took longer than the study's timeout."""


class _Clock:
    """An observer that stops a run past its wall-clock budget (checked at every call)."""

    every_step = False  # checked between the compiled loop's chunks (a few ms apart)

    def __init__(self, budget: float | None) -> None:
        self.deadline = time.monotonic() + budget if budget else math.inf
        self.budget = budget

    def simulation_initialized(self, execution: Any) -> None:
        del execution

    def step_complete(self, step: int, tick: int) -> None:
        if time.monotonic() > self.deadline:
            raise _Timeout(f"timeout: the run took longer than {self.budget:g} s of wall time")


_systems: dict[tuple[str, str], Any] = {}  # (study, FMU variant key set) -> System
_folders: dict[str, Path] = {}  # study -> its FMU cache folder on this worker


def _folder(payload: Payload) -> Path:
    folder = _folders.get(payload.study)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix=f"cosim_study_{payload.study[:8]}_"))
        for key, data in payload.fmus.items():
            (folder / f"{key}.fmu").write_bytes(data)
        for name, data in payload.tables.items():  # spec.inputs name them, content-keyed
            (folder / name).write_bytes(data)
        _folders[payload.study] = folder
    return folder


def _system(payload: Payload, fmus: Mapping[str, str]) -> Any:
    """The base system with `fmus` (component -> key) in place, resolved once per worker."""
    from cosim.api import System

    cache = (payload.study, tuple(sorted(fmus.items())))
    system = _systems.get(cache)
    if system is None:
        folder = _folder(payload)
        spec = payload.spec
        components = {}
        for name, comp in spec.components.items():
            path = folder / f"{fmus.get(name, comp.fmu)}.fmu"
            components[name] = replace(comp, fmu=str(path), fmu_path=path, base_dir=None)
        record = RecordSpec(
            variables=tuple(VarRef(*label.split(".", 1)) for label in payload.record) or None,
            interval=spec.record.interval,
        )
        inputs = tuple(replace(t, path=folder / t.path.name) for t in spec.inputs)
        spec = replace(spec, components=components, record=record, inputs=inputs)
        if payload.stop is not None:
            from cosim.io.yaml import with_stop

            spec = with_stop(spec, payload.stop)
        system = System.from_spec(spec)
        _systems[cache] = system
    return system


def run_case(payload: Payload, case: int, values: Mapping[str, Any]) -> Outcome:
    """Run one case (never raises: a failure is an Outcome with status failed)."""
    from cosim.study.qoi import evaluate_all

    t0 = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    try:
        fmus = {}
        parameters = {}
        for name, value in values.items():
            component = fmu_column(name)
            if component is not None:
                fmus[component] = payload.variants[str(value)]
            else:
                parameters[name] = _python(value)
        system = _system(payload, fmus).with_parameters(parameters)
        with system.execution(memory=True, observers=[_Clock(payload.timeout)]) as ex:
            ex.initialize()
            ex.run_until()
        results = ex.results
        status = ex.status
        time_ = np.asarray(results.time)
        plain = {k: q for k, q in payload.qoi.items() if q.function != "verdict"}
        qoi = evaluate_all(plain, time_, lambda k: results[k])
        for label, q in payload.qoi.items():
            if q.function == "verdict":
                qoi[label] = _verdict(payload.monitors[q.signal], time_, results)
        qoi = {label: qoi[label] for label in payload.qoi}
        out = Outcome(case, status, qoi, wall_time=time.perf_counter() - t0, worker=worker)
        if payload.keep_full:
            out.time = np.asarray(results.time)
            out.signals = {k: np.asarray(results[k]) for k in results.names}
        return out
    except Exception as exc:  # a failing run fails the case, never the study
        message = str(exc) if isinstance(exc, CosimError) else traceback.format_exc(limit=3)
        return Outcome(
            case,
            "failed",
            {label: math.nan for label in payload.qoi},
            error=message.strip(),
            wall_time=time.perf_counter() - t0,
            worker=worker,
        )


def _verdict(spec: Any, time_: np.ndarray, results: Any) -> float:
    """The worst level (0 normal, 1 warning, 2 alarm) a `signal` monitor reaches over the
    recorded samples of its indicator, fed as the twin feeds it (one sample per row)."""
    from cosim.twin.monitors import Monitor

    values = np.asarray(results[spec.label], dtype=float)
    if len(time_) < 2:
        return math.nan
    monitor = Monitor(spec, float(time_[1] - time_[0]))
    worst = 0
    for t, x in zip(time_.tolist(), values.tolist(), strict=True):
        monitor.update(x, t)
        worst = max(worst, monitor.level)
    return float(worst)


def _python(value: Any) -> Any:
    """A design value as the plain Python value `parameters:` takes (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def run_cases(payload: Payload, cases: Sequence[tuple[int, Mapping[str, Any]]]) -> list[Outcome]:
    """Several cases in a row (one task: less scheduling per run)."""
    return [run_case(payload, k, v) for k, v in cases]


__all__ = ["Outcome", "Payload", "fmu_key", "run_case", "run_cases"]
