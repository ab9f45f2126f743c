"""Read the twin's `monitors:`, `estimate:` and `forecast:` sections into an AnalyticsSpec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cosim.io.locate import Problems, as_dict, as_list, did_you_mean, finite_number, locator
from cosim.io.schema import INDICATORS
from cosim.model.analytics import (
    AnalyticsSpec,
    EstimatedParameter,
    EstimateSpec,
    ForecastSpec,
    ForecastTarget,
    Measurement,
    MonitorSpec,
    Profile,
    RateSpec,
)
from cosim.model.spec import SystemSpec, to_ticks

DEFAULT_HORIZON = 60.0  # s, forecast.horizon when not written


def _num(x: Any) -> bool:
    return finite_number(x)


def _float(x: Any, default: float) -> float:
    """`x` as a float if it is a finite number, else `default` (the schema walk reported it)."""
    return float(x) if _num(x) else default


def parse_analytics(spec: SystemSpec, *, file: str | None = None) -> tuple[AnalyticsSpec, list]:
    """The typed sections and their problems (the schema walk has checked types and keys;
    this checks what it cannot: one indicator per monitor, levels, names, profiles)."""
    file = file or str(spec.path)
    located = locator(spec.text, file)
    out = Problems(located)
    comps = list(spec.components)
    monitors = _monitors(spec.extra.get("monitors"), out, comps)
    estimate = _estimate(spec, out, comps)
    forecast = _forecast(spec.extra.get("forecast"), out, comps)
    names = {p.label for p in estimate.parameters} if estimate is not None else set()
    for i, m in enumerate(monitors):
        if m.kind == "estimate" and m.label not in names:
            out.error(
                ("monitors", i, "estimate"),
                f"monitors[{i}].estimate: {m.label} is not an estimated parameter",
                "list it under estimate.parameters, or watch its residual instead",
            )
    return AnalyticsSpec(tuple(monitors), estimate, forecast), out.items


def _ref_ok(value: Any, path: Sequence[str | int], out: Problems, comps: list[str]) -> bool:
    if not isinstance(value, str) or "." not in value:
        return False  # the schema walk reported it
    comp = value.partition(".")[0]
    if comp in comps:
        return True
    close = did_you_mean(comp, comps, cutoff=0.6)
    out.error(
        path,
        f"{out.where(path)}: no component named '{comp}'",
        f"did you mean '{close}'?" if close else f"components: {', '.join(comps)}",
    )
    return False


def _monitors(data: Any, out: Problems, comps: list[str]) -> list[MonitorSpec]:
    if not isinstance(data, list):
        return []
    found: list[MonitorSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        path = ("monitors", i)
        name = item["name"]
        if name in seen:
            out.error(
                (*path, "name"),
                f"monitors[{i}]: the name '{name}' is used twice",
                "give every monitor its own name",
            )
            continue
        seen.add(name)
        kinds = [k for k in INDICATORS if k in item]
        if len(kinds) != 1:
            out.error(
                path,
                f"monitors[{i}] ({name}) needs exactly one indicator, got "
                f"{len(kinds)}" + (f" ({', '.join(kinds)})" if kinds else ""),
                "write one of residual: comp.var, signal: comp.var, measured: comp.var "
                "or estimate: comp.var",
            )
            continue
        kind = kinds[0]
        if not _ref_ok(item[kind], (*path, kind), out, comps):
            continue
        filt = item.get("filter", "none")
        window = item.get("window")
        if filt in ("mean", "ewma") and not _num(window):
            out.error(
                path,
                f"monitors[{i}] ({name}): filter {filt} needs window: (seconds)",
                "e.g. window: 2.0",
            )
            continue
        warning, alarm = item.get("warning"), item.get("alarm")
        if not _num(warning) and not _num(alarm):
            out.error(path, f"monitors[{i}] ({name}) has no level", "add warning: and/or alarm:")
            continue
        direction = item.get("direction", "above")
        if _num(warning) and _num(alarm):
            worse = alarm >= warning if direction == "above" else alarm <= warning
            if not worse:
                out.error(
                    (*path, "alarm"),
                    f"monitors[{i}] ({name}): the alarm level {alarm:g} "
                    f"is not beyond the warning level {warning:g} ({direction})",
                    "with direction above, alarm >= warning; with below, alarm <= warning",
                )
                continue
        bad = False
        for key in ("hysteresis", "min_duration", "drift"):
            v = item.get(key, 0.0)
            if _num(v) and v < 0:
                out.error((*path, key), f"monitors[{i}].{key} must be >= 0, got {v:g}")
                bad = True
        if bad:
            continue
        found.append(
            MonitorSpec(
                name=name,
                kind=kind,
                label=item[kind],
                transform=item.get("transform", "none"),
                filter=filt,
                window=float(window) if _num(window) else None,
                target=_float(item.get("target"), 0.0),
                drift=_float(item.get("drift"), 0.0),
                direction=direction,
                warning=float(warning) if _num(warning) else None,
                alarm=float(alarm) if _num(alarm) else None,
                hysteresis=_float(item.get("hysteresis"), 0.0),
                min_duration=_float(item.get("min_duration"), 0.0),
                message=str(item.get("message", "")),
                loc=out.at(path),
            )
        )
    return found


def _estimate(spec: SystemSpec, out: Problems, comps: list[str]) -> EstimateSpec | None:
    data = spec.extra.get("estimate")
    if not isinstance(data, dict):
        return None
    ok = True
    params: list[EstimatedParameter] = []
    for i, item in enumerate(as_list(data.get("parameters"))):
        path = ("estimate", "parameters", i)
        if not isinstance(item, dict) or not _ref_ok(item.get("name"), (*path, "name"), out, comps):
            ok = False
            continue
        prior = as_dict(item.get("prior"))
        if not (_num(prior.get("mean")) and _num(prior.get("std"))):
            ok = False
            continue
        low, high = item.get("min"), item.get("max")
        if _num(low) and _num(high) and low >= high:
            out.error(path, f"estimate.parameters[{i}]: min {low:g} is not below max {high:g}")
            ok = False
            continue
        q = item.get("process_noise", 0.0)
        if _num(q) and q < 0:
            out.error(
                (*path, "process_noise"),
                f"estimate.parameters[{i}].process_noise must be >= 0, got {q:g}",
            )
            ok = False
            continue
        rate = item.get("rate")
        rspec = None
        if isinstance(rate, dict) and _num(rate.get("std")):
            rspec = RateSpec(
                _float(rate.get("mean"), 0.0),
                float(rate["std"]),
                abs(_float(rate.get("process_noise"), 0.0)),
            )
        if item["name"] in {p.label for p in params}:
            out.error((*path, "name"), f"estimate.parameters[{i}]: {item['name']} is listed twice")
            ok = False
            continue
        params.append(
            EstimatedParameter(
                label=item["name"],
                prior_mean=float(prior["mean"]),
                prior_std=float(prior["std"]),
                process_noise=float(q) if _num(q) else 0.0,
                low=float(low) if _num(low) else None,
                high=float(high) if _num(high) else None,
                rate=rspec,
                truth=item.get("truth") if isinstance(item.get("truth"), str) else None,
                loc=out.at(path),
            )
        )
    meas: list[Measurement] = []
    for i, item in enumerate(as_list(data.get("measurements"))):
        path = ("estimate", "measurements", i)
        if not isinstance(item, dict) or not _ref_ok(
            item.get("signal"), (*path, "signal"), out, comps
        ):
            ok = False
            continue
        if _num(item.get("noise")):
            meas.append(Measurement(item["signal"], float(item["noise"]), out.at(path)))
    where = ("estimate",)
    if isinstance(data.get("parameters"), list) and not data["parameters"]:
        out.error((*where, "parameters"), "estimate.parameters is empty", "name one parameter")
        ok = False
    if isinstance(data.get("measurements"), list) and not data["measurements"]:
        out.error(
            (*where, "measurements"),
            "estimate.measurements is empty",
            "name the watched signals to compare",
        )
        ok = False
    inflation = data.get("inflation", 1.0)
    if _num(inflation) and not 1.0 <= inflation <= 10.0:
        out.error(
            (*where, "inflation"), f"estimate.inflation must be between 1 and 10, got {inflation:g}"
        )
        ok = False
    interval = data.get("interval")
    step = spec.simulation.step
    if _num(interval) and _num(step) and step > 0:
        n = round(interval / step)
        if n < 1 or abs(to_ticks(interval) - n * to_ticks(step)) > n:
            out.error(
                (*where, "interval"),
                f"estimate.interval = {interval:g} s is not a "
                f"multiple of simulation.step = {step:g} s",
                f"use {max(1, n) * step:.12g}",
            )
            ok = False
    members = data.get("members", 20)
    if not ok or not params or not meas or not isinstance(members, int):
        return None
    return EstimateSpec(
        parameters=tuple(params),
        measurements=tuple(meas),
        method=data.get("method", "enkf"),
        members=members,
        interval=float(interval) if _num(interval) else None,
        seed=int(data.get("seed", 0)) if isinstance(data.get("seed", 0), int) else 0,
        inflation=float(inflation) if _num(inflation) else 1.0,
        loc=out.at(where),
    )


def _profile(data: Any, path: tuple, out: Problems, comps: list[str]) -> Profile | None:
    if not isinstance(data, dict) or not isinstance(data.get("time"), list):
        return None
    t = data["time"]
    if not t or not all(_num(x) for x in t):
        out.error((*path, "time"), f"{out.where(path)}.time must be a list of numbers")
        return None
    if any(b <= a for a, b in zip(t, t[1:], strict=False)) or t[0] < 0:
        out.error((*path, "time"), f"{out.where(path)}.time must start at >= 0 and increase")
        return None
    values = []
    for label, v in as_dict(data.get("values")).items():
        if not _ref_ok(label, (*path, "values", label), out, comps):
            return None
        if not isinstance(v, list) or len(v) != len(t) or not all(_num(x) for x in v):
            out.error(
                (*path, "values", label),
                f"{out.where(path)}.values.{label} must be {len(t)} numbers, one per time",
            )
            return None
        values.append((label, tuple(float(x) for x in v)))
    if not values:
        out.error(path, f"{out.where(path)} has no values", "values: {comp.var: [...]}")
        return None
    return Profile(tuple(float(x) for x in t), tuple(values), bool(data.get("repeat", False)))


def _forecast(data: Any, out: Problems, comps: list[str]) -> ForecastSpec | None:
    if not isinstance(data, dict):
        return None
    ok = True
    cycles = []
    for name, prof in as_dict(data.get("duty_cycles")).items():
        p = _profile(prof, ("forecast", "duty_cycles", name), out, comps)
        if p is None:
            ok = False
        else:
            cycles.append((str(name), p))
    scenario = data.get("scenario", "hold")
    if isinstance(scenario, str) and scenario != "hold" and scenario not in dict(cycles):
        names = ["hold", *dict(cycles)]
        close = did_you_mean(scenario, names, cutoff=0.5)
        out.error(
            ("forecast", "scenario"),
            f"forecast.scenario: no duty cycle named '{scenario}'",
            (f"did you mean '{close}'? " if close else "") + f"choose {', '.join(names)}",
        )
        ok = False
    targets: list[ForecastTarget] = []
    for i, item in enumerate(as_list(data.get("targets"))):
        path = ("forecast", "targets", i)
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            ok = False
            continue
        if not _ref_ok(item.get("variable"), (*path, "variable"), out, comps):
            ok = False
            continue
        sides = [k for k in ("above", "below") if _num(item.get(k))]
        if len(sides) != 1:
            out.error(
                path,
                f"forecast.targets[{i}] ({item['name']}) needs exactly one of above: or below:",
                "e.g. above: 150.0",
            )
            ok = False
            continue
        stat, window = item.get("statistic", "value"), item.get("window")
        if stat != "value" and not _num(window):
            out.error(path, f"forecast.targets[{i}]: statistic {stat} needs window: (seconds)")
            ok = False
            continue
        if item["name"] in {t.name for t in targets}:
            out.error(
                (*path, "name"), f"forecast.targets[{i}]: the name '{item['name']}' is used twice"
            )
            ok = False
            continue
        tc = item.get("true_crossing")
        targets.append(
            ForecastTarget(
                name=item["name"],
                label=item["variable"],
                threshold=float(item[sides[0]]),
                direction=sides[0],
                statistic=stat,
                window=float(window) if _num(window) else None,
                true_crossing=float(tc) if _num(tc) else None,
                loc=out.at(path),
            )
        )
    if isinstance(data.get("targets"), list) and not data["targets"]:
        out.error(("forecast", "targets"), "forecast.targets is empty", "name one target")
        ok = False
    if not ok or not targets:
        return None
    horizon = data.get("horizon", DEFAULT_HORIZON)
    every = data.get("every")
    return ForecastSpec(
        targets=tuple(targets),
        horizon=float(horizon) if _num(horizon) else DEFAULT_HORIZON,
        every=float(every) if _num(every) else None,
        scenario=scenario if isinstance(scenario, str) else "hold",
        duty_cycles=tuple(cycles),
        loc=out.at(("forecast",)),
    )


__all__ = ["DEFAULT_HORIZON", "parse_analytics"]
