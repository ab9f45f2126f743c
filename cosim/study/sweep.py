"""Run a study: check the design against the system, ship it once, run every case, keep QoIs.

    design + system -> checked cases (names must be settable variables or FMU variants)
        -> Payload (the system and its FMUs, once) -> executor -> Outcomes as runs finish
        -> journal line per run (resume skips those) -> study table -> sweep.h5

A failing run is a row with status failed and its error; it never stops the study.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cosim.errors import ConfigError, Problem
from cosim.model.sweep import SweepSpec, fmu_column
from cosim.study.runner import Outcome, Payload, fmu_key

ProgressHook = Callable[[int, int, Outcome | None], None]  # (done, total, latest)


def design_of(sweep: SweepSpec) -> Any:
    """The cases of a `sweep:` section: its parts crossed (factorial x cases x sample)."""
    from cosim.study.design import Distribution, Sample, cases, factorial

    parts = []
    if sweep.factorial:
        parts.append(factorial({k: list(v) for k, v in sweep.factorial.items()}))
    if sweep.cases:
        parts.append(cases(list(sweep.cases)))
    if sweep.sample is not None:
        dists = {
            name: Distribution(d.kind, dict(d.params))
            for name, d in sweep.sample.distributions.items()
        }
        sample = Sample(dists, sweep.sample.n, sweep.sample.method, sweep.sample.seed)
        parts.append(sample.cases())
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.merge(part, how="cross")
    frame = frame.reset_index(drop=True)
    frame.index.name = "case"
    return frame


def check_design(system: Any, frame: Any, locs: Mapping[str, Any] | None = None) -> None:
    """ConfigError listing every design column that names no settable variable (did you mean)
    and every FMU variant that does not exist."""
    from cosim.io.locate import did_you_mean
    from cosim.resolve.fmus import find_fmu
    from cosim.resolve.resolver import not_settable

    locs = locs or {}
    problems = []
    resolved_system = getattr(system, "resolved", system)  # a System or a ResolvedSystem
    resolved = {c.name: c for c in resolved_system.components}
    for name in frame.columns:
        loc = locs.get(name)
        component = fmu_column(name)
        if component is not None:
            if component not in resolved:
                problems.append(Problem(loc, f"sweep: no component '{component}' for {name}"))
                continue
            base = system.spec.components[component].base_dir or Path.cwd()
            for value in sorted({str(v) for v in frame[name]}):
                if not find_fmu(value, base).exists():
                    problems.append(
                        Problem(loc, f"sweep: {name}: no FMU {value!r}", "check the path")
                    )
            continue
        comp_name, _, variable = name.partition(".")
        comp = resolved.get(comp_name)
        if comp is None:
            close = did_you_mean(comp_name, list(resolved))
            problems.append(
                Problem(
                    loc,
                    f"sweep: {name} names no component '{comp_name}'",
                    f"did you mean '{close}'?" if close else f"components: {', '.join(resolved)}",
                )
            )
            continue
        var = comp.variables.get(variable)
        why = not_settable(var) if var is not None else None
        if var is None or why:
            settable = [n for n, v in comp.variables.items() if not not_settable(v)]
            close = did_you_mean(variable, settable)
            message = (
                f"sweep: {name} is an unknown variable of {comp_name}"
                if var is None
                else f"sweep: {name} cannot be set: {why}"
            )
            hint = (f"did you mean '{comp_name}.{close}'? " if close else "") + (
                "a design varies parameters, inputs and start values"
            )
            problems.append(Problem(loc, message, hint))
    if problems:
        raise ConfigError(problems)


def sweep_problems(system: Any) -> list[Problem]:
    """Every problem of the `sweep:` section that needs the FMUs: design names that are no
    settable variable, FMU variants that do not exist, malformed quantities of interest."""
    from cosim.study.qoi import parse_qois

    spec = system.spec.sweep
    if spec is None:
        return []
    import pandas as pd

    problems: list[Problem] = []
    columns: dict[str, list[Any]] = {name: [] for name in spec.names}
    for name, levels in spec.factorial.items():
        columns[name] += list(levels)
    for case in spec.cases:
        for name, value in case.items():
            columns[name].append(value)
    rows = max((len(v) for v in columns.values()), default=0) or 1
    padded = {
        k: (v or [0.0]) + [(v or [0.0])[-1]] * (rows - len(v or [0.0])) for k, v in columns.items()
    }
    try:
        check_design(system, pd.DataFrame(padded), spec.locs)
    except ConfigError as exc:
        problems += exc.problems
    locs = {k: spec.locs.get(f"qoi.{k}") for k in spec.qoi}
    try:
        qois = parse_qois(spec.qoi, locs)
    except ConfigError as exc:
        return problems + exc.problems
    return problems + qoi_problems(system, qois, locs)


def qoi_problems(system: Any, qois: Mapping[str, Any], locs: Mapping[str, Any]) -> list[Problem]:
    """A quantity of interest of a signal the system does not have (it would be NaN)."""
    from cosim.io.locate import did_you_mean

    resolved = getattr(system, "resolved", system)
    variables = {c.name: c.variables for c in resolved.components}
    labels = [f"{c}.{v}" for c, vs in variables.items() for v, var in vs.items()]
    problems = []
    analytics = getattr(system, "spec", None) and system.spec.analytics
    monitors = {m.name: m for m in (analytics.monitors if analytics else ())}
    for label, q in qois.items():
        if q.function == "verdict":
            m = monitors.get(q.signal)
            if m is None or m.kind != "signal":
                close = did_you_mean(q.signal, list(monitors))
                what = "no monitor of the system" if m is None else f"a {m.kind} monitor"
                problems.append(
                    Problem(
                        locs.get(label),
                        f"quantity of interest {label}: {q.signal} is {what}",
                        (f"did you mean '{close}'? " if close and m is None else "")
                        + "a verdict needs a monitor with signal: component.variable under "
                        "monitors: (residual and measured monitors need the live plant)",
                    )
                )
            continue
        component, _, variable = q.signal.partition(".")
        if variable in variables.get(component, {}):
            continue
        close = did_you_mean(q.signal, labels)
        problems.append(
            Problem(
                locs.get(label),
                f"quantity of interest {label}: {q.signal} is no variable of the system",
                f"did you mean '{close}'?" if close else "write component.variable",
            )
        )
    return problems


def payload_for(
    system: Any, frame: Any, qois: Mapping[str, Any], *, stop: float | None, timeout: float | None,
    keep_full: bool,
) -> Payload:  # fmt: skip
    """The study as it travels to workers: the system and the FMU files by content key."""
    from cosim.resolve.fmus import find_fmu
    from cosim.study.qoi import signals_needed

    fmus: dict[str, bytes] = {}
    components = {}
    for comp in system.resolved.components:
        key = fmu_key(comp.fmu_path)
        fmus.setdefault(key, Path(comp.fmu_path).read_bytes())
        components[comp.name] = replace(system.spec.components[comp.name], fmu=key)
    variants: dict[str, str] = {}
    for name in frame.columns:
        component = fmu_column(name)
        if component is None:
            continue
        base = system.spec.components[component].base_dir or Path.cwd()
        for value in {str(v) for v in frame[name]}:
            path = find_fmu(value, base)
            key = fmu_key(path)
            fmus.setdefault(key, path.read_bytes())
            variants[value] = key
    tables: dict[str, bytes] = {}  # input tables travel like FMUs, by content
    inputs = []
    for table in system.spec.inputs:
        name = f"{fmu_key(table.path)}{table.path.suffix}"
        tables.setdefault(name, table.path.read_bytes())
        inputs.append(replace(table, path=Path(name)))
    spec = replace(system.spec, components=components, inputs=tuple(inputs))
    analytics = system.spec.analytics
    monitors = {m.name: m for m in (analytics.monitors if analytics is not None else ())}
    used = {q.signal: monitors[q.signal] for q in qois.values() if q.function == "verdict"}
    plain = {k: q for k, q in qois.items() if q.function != "verdict"}
    record: tuple[str, ...] = tuple(
        dict.fromkeys([*signals_needed(plain), *(m.label for m in used.values())])
    )
    if keep_full:
        recorded = [r.label for r in system.resolved.records]
        record = tuple(dict.fromkeys([*recorded, *record]))
    h = hashlib.sha256()
    h.update(system.spec.sha256.encode())
    for key in sorted(fmus) + sorted(tables):
        h.update(key.encode())
    h.update(frame.to_csv().encode())
    h.update(json.dumps({k: getattr(q, "text", str(q)) for k, q in qois.items()}).encode())
    h.update(repr((stop, keep_full)).encode())
    return Payload(
        study=h.hexdigest()[:24],
        spec=spec,
        fmus=fmus,
        variants=variants,
        qoi=dict(qois),
        stop=stop,
        timeout=timeout,
        keep_full=keep_full,
        record=record,
        monitors=used,
        tables=tables,
    )


def run_study(
    system: Any,
    frame: Any,
    qois: Mapping[str, Any],
    *,
    executor: Any = None,
    stop: float | None = None,
    timeout: float | None = None,
    keep_full: bool = False,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    progress: ProgressHook | None = None,
    locs: Mapping[str, Any] | None = None,
) -> Any:
    """Run every case of `frame` (resume: those the journal in `out` lacks) and return the
    study table; with `out`, also sweep.h5 there (on Ctrl-C too, with the runs so far)."""
    from cosim.study.executor import make_executor
    from cosim.study.store import Journal, outcome_record, table, write_sweep_h5

    check_design(system, frame, locs)
    bad = qoi_problems(system, qois, {})
    if bad:
        raise ConfigError(bad)
    payload = payload_for(system, frame, qois, stop=stop, timeout=timeout, keep_full=keep_full)
    journal = Journal(out, payload.study, resume=resume, force=force) if out is not None else None
    done: dict[int, dict[str, Any]] = dict(journal.done) if journal is not None else {}
    cases = [
        (int(k), {c: row[c] for c in frame.columns})
        for k, row in frame.iterrows()
        if int(k) not in done
    ]
    runner = make_executor(executor)
    outcomes: dict[int, Outcome] = {}
    started = time.time()
    try:
        if progress is not None:
            progress(len(done), len(frame), None)
        for outcome in runner.run(payload, cases):
            if outcome.case in done:  # a batch rerun after a worker died: keep the first
                continue
            record = journal.append(outcome) if journal is not None else outcome_record(outcome)
            done[outcome.case] = record
            outcomes[outcome.case] = outcome
            if progress is not None:
                progress(len(done), len(frame), outcome)
    finally:
        if runner is not executor:
            runner.close()
        if journal is not None:
            for case, record in journal.close().items():
                done.setdefault(case, record)
        result = table(frame, done, qois)
        if out is not None:
            attrs = {
                "study": payload.study,
                "system": system.spec.name or "",
                "created": started,
                "executor": getattr(runner, "description", ""),
                "qoi": json.dumps({k: getattr(q, "text", str(q)) for k, q in qois.items()}),
            }
            write_sweep_h5(out, result, list(frame.columns), list(qois), done, attrs)
    result.attrs["design"] = list(frame.columns)
    result.attrs["qoi"] = list(qois)
    result.attrs["outcomes"] = outcomes
    return result


def sweep(
    system: Any,
    design: Any,
    qoi: Mapping[str, str] | None = None,
    stop: float | None = None,
    executor: Any = None,
    *,
    out: str | os.PathLike[str] | None = None,
    keep: str = "qoi",
    timeout: float | None = None,
    resume: bool = False,
    force: bool = False,
    progress: ProgressHook | None = None,
) -> Any:
    """Run `system` once per case of `design`; a DataFrame, one row per case: a column per
    design parameter, a column per QoI, then status, error and wall_time.

    `system`: a System or a YAML path. `design`: {name: [values]} (the full factorial), a
    DataFrame of cases, a list of case dicts, or a cosim.study.design.Sample. Names are
    "component.variable" (parameters, inputs, start values) or "components.<name>.fmu" (FMU
    variants). `qoi`: {label: "final(c.v)" | "min(c.v)" | "max(c.v)" | "mean(c.v)" |
    "integral(c.v)" | "crossing(c.v, value)"}. `executor`: None (local processes, one per
    core), a number of local processes, "tcp://host:port" (a running Dask scheduler),
    "local-cluster" (a Dask LocalCluster), or an executor object. With `out`, the study is
    journalled there (`resume` continues it) and sweep.h5 is written. Scripts that use local
    processes need the `if __name__ == "__main__":` guard (worker processes are spawned).
    """
    from cosim.api import System
    from cosim.study.design import design_frame
    from cosim.study.qoi import Qoi, parse_qois

    if not isinstance(system, System):
        system = System.from_file(system)
    if keep not in ("qoi", "full"):
        raise ConfigError(Problem(None, f"keep must be 'qoi' or 'full', got {keep!r}"))
    frame = design_frame(design)
    frame.index.name = "case"
    texts = {k: v for k, v in (qoi or {}).items() if not isinstance(v, Qoi)}
    qois = {**parse_qois(texts), **{k: v for k, v in (qoi or {}).items() if isinstance(v, Qoi)}}
    qois = {k: qois[k] for k in (qoi or {})}
    return run_study(
        system, frame, qois, executor=executor, stop=stop, timeout=timeout,
        keep_full=keep == "full", out=out, resume=resume, force=force, progress=progress,
    )  # fmt: skip


def sweep_file(
    path: str | os.PathLike[str],
    *,
    executor: Any = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    progress: ProgressHook | None = None,
) -> Any:
    """Run the `sweep:` section of a system file (ConfigError, with locations, if it has none
    or it is wrong)."""
    from cosim.api import System
    from cosim.errors import Location
    from cosim.study.qoi import parse_qois

    system = System.from_file(path)
    spec = system.spec.sweep
    if spec is None:
        raise ConfigError(
            Problem(
                Location(str(path)),
                "the system has no sweep: section",
                "add sweep: {design: {factorial: {component.variable: [values]}}, qoi: {...}} "
                "(docs/sweeps.md)",
            )
        )
    problems = sweep_problems(system)
    if problems:
        raise ConfigError(problems)
    frame = design_of(spec)
    qois = parse_qois(spec.qoi, {k: spec.locs.get(f"qoi.{k}") for k in spec.qoi})
    return run_study(
        system, frame, qois, executor=executor, stop=spec.stop, timeout=spec.timeout,
        keep_full=spec.keep == "full", out=out, resume=resume, force=force, progress=progress,
        locs=spec.locs,
    )  # fmt: skip


__all__ = [
    "check_design",
    "design_of",
    "payload_for",
    "run_study",
    "sweep",
    "sweep_file",
    "sweep_problems",
]
