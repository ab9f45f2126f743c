"""Read the `sweep:` section into a SweepSpec, with a location for every problem."""

from __future__ import annotations

from typing import Any

from cosim.io.analytics import _num
from cosim.io.locate import Problems, as_dict, did_you_mean, locator
from cosim.model.spec import SystemSpec
from cosim.model.sweep import (
    DISTRIBUTIONS,
    DistributionSpec,
    SampleSpec,
    SweepSpec,
    distribution_problems,
    fmu_column,
)


def parse_sweep(spec: SystemSpec, *, file: str | None = None) -> tuple[SweepSpec | None, list]:
    """The typed section and its problems (the schema walk has checked types and keys; this
    checks names against the components, distributions, and that the design has cases)."""
    data = spec.extra.get("sweep")
    if not isinstance(data, dict):
        return None, []
    out = Problems(locator(spec.text, file or str(spec.path)))
    comps = list(spec.components)
    design = data.get("design") if isinstance(data.get("design"), dict) else {}
    locs: dict[str, Any] = {}

    def name_ok(name: Any, path: tuple) -> bool:
        if not isinstance(name, str):
            return False
        component = fmu_column(name) or name.partition(".")[0]
        locs.setdefault(name, out.at(path))
        if component in comps:
            return True
        close = did_you_mean(component, comps, cutoff=0.6)
        out.error(
            path,
            f"sweep: {name} names no component '{component}'",
            f"did you mean '{close}'?" if close else f"components: {', '.join(comps)}",
        )
        return False

    factorial: dict[str, tuple[Any, ...]] = {}
    for name, levels in as_dict(design.get("factorial")).items():
        path = ("sweep", "design", "factorial", name)
        if not name_ok(name, path) or not isinstance(levels, list):
            continue
        if not levels:
            out.error(path, f"sweep: the levels of {name} are empty", "give at least one value")
            continue
        factorial[name] = tuple(levels)

    cases: list[dict[str, Any]] = []
    raw_cases = design.get("cases")
    if isinstance(raw_cases, list):
        if not raw_cases:
            out.error(("sweep", "design", "cases"), "sweep: the list of cases is empty")
        first: list[str] | None = None
        for i, case in enumerate(raw_cases):
            path = ("sweep", "design", "cases", i)
            if not isinstance(case, dict):
                continue
            if not all(name_ok(n, (*path, n)) for n in case):
                continue
            if first is None:
                first = list(case)
            elif set(case) != set(first):
                missing = sorted(set(first) - set(case))
                extra = sorted(set(case) - set(first))
                what = "; ".join(
                    x
                    for x in (
                        f"misses {', '.join(missing)}" if missing else "",
                        f"adds {', '.join(extra)}" if extra else "",
                    )
                    if x
                )
                out.error(
                    path,
                    f"sweep: case {i} does not name the same parameters as case 0: {what}",
                    "every case sets the same parameters (the columns of the design table)",
                )
                continue
            cases.append(dict(case))

    sample = None
    raw_sample = design.get("sample")
    if isinstance(raw_sample, dict) and isinstance(raw_sample.get("parameters"), dict):
        dists: dict[str, DistributionSpec] = {}
        for name, body in raw_sample["parameters"].items():
            path = ("sweep", "design", "sample", "parameters", name)
            if not name_ok(name, path) or not isinstance(body, dict):
                continue
            dist = _distribution(name, body, path, out)
            if dist is not None:
                dists[name] = dist
        n = raw_sample.get("n")
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            sample = SampleSpec(
                n=n,
                distributions=dists,
                method=str(raw_sample.get("method", "lhs")),
                seed=raw_sample.get("seed") if isinstance(raw_sample.get("seed"), int) else None,
                loc=out.at(("sweep", "design", "sample")),
            )

    names = list(factorial) + [n for c in cases[:1] for n in c]
    names += list(sample.distributions) if sample is not None else []
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        out.error(
            ("sweep", "design"),
            f"sweep: {', '.join(twice)} appear{'s' if len(twice) == 1 else ''} in more than one "
            "part of the design",
            "each parameter belongs to one of factorial, cases and sample",
        )
    qoi = {k: v for k, v in as_dict(data.get("qoi")).items() if isinstance(v, str)}
    for label in qoi:
        locs.setdefault(f"qoi.{label}", out.at(("sweep", "qoi", label)))
    stop, timeout = data.get("stop"), data.get("timeout")
    sweep = SweepSpec(
        factorial=factorial,
        cases=tuple(cases),
        sample=sample,
        qoi=qoi,
        keep=str(data.get("keep", "qoi")),
        stop=float(stop) if _num(stop) else None,
        timeout=float(timeout) if _num(timeout) else None,
        locs=locs,
        loc=out.at(("sweep",)),
    )
    return sweep, out.items


def _distribution(name: str, body: dict, path: tuple, out: Problems) -> DistributionSpec | None:
    kinds = [k for k in body if k in DISTRIBUTIONS]
    unknown = [k for k in body if k not in DISTRIBUTIONS]
    if unknown or len(kinds) != 1:
        bad = unknown[0] if unknown else None
        close = did_you_mean(bad, list(DISTRIBUTIONS)) if bad else None
        out.error(
            (*path, bad) if bad else path,
            f"sweep: {name} needs exactly one distribution"
            + (f"; '{bad}' is not one" if bad else f", got {len(kinds)}"),
            (f"did you mean '{close}'? " if close else "")
            + "write uniform: [min, max], normal: {mean, std}, lognormal: {mean, std} or "
            "truncnormal: {mean, std, min, max}",
        )
        return None
    kind = kinds[0]
    value = body[kind]
    keys = DISTRIBUTIONS[kind]
    if kind == "uniform" and isinstance(value, list):
        if len(value) != 2 or not all(_num(v) for v in value):
            out.error((*path, kind), f"sweep: {name}: uniform needs [min, max], two numbers")
            return None
        value = {"min": value[0], "max": value[1]}
    if not isinstance(value, dict):
        out.error(
            (*path, kind),
            f"sweep: {name}: {kind} needs {{{', '.join(keys)}}}",
            f"e.g. {kind}: {{{', '.join(f'{k}: 1.0' for k in keys)}}}",
        )
        return None
    params: dict[str, float] = {}
    ok = True
    for key, v in value.items():
        if key not in keys:
            close = did_you_mean(str(key), list(keys))
            out.error(
                (*path, kind, key),
                f"sweep: {name}: {kind} has no key '{key}'",
                f"did you mean '{close}'?" if close else f"its keys: {', '.join(keys)}",
            )
            ok = False
        elif not _num(v):
            out.error((*path, kind, key), f"sweep: {name}: {kind}.{key} must be a number")
            ok = False
        else:
            params[key] = float(v)
    missing = [k for k in keys if k not in value]
    if missing:
        out.error(
            (*path, kind),
            f"sweep: {name}: {kind} misses {', '.join(missing)}",
            f"write {kind}: {{{', '.join(keys)}}}",
        )
        ok = False
    for message in distribution_problems(name, params) if ok else ():
        out.error((*path, kind), f"sweep: {message}")
        ok = False
    return DistributionSpec(kind, params, out.at(path)) if ok else None


__all__ = ["parse_sweep"]
