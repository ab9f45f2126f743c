"""Check the twin's analytics sections against the FMUs' variables and the live links."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from cosim.errors import Problem
from cosim.io.locate import did_you_mean
from cosim.model.analytics import AnalyticsSpec
from cosim.model.spec import ResolvedSystem, VariableInfo, VarRef
from cosim.resolve.live import LiveLink, _lookup


def check_analytics(
    analytics: AnalyticsSpec,
    system: ResolvedSystem,
    links: Sequence[LiveLink],
    skip: Collection[str] = (),
) -> list[Problem]:
    """Every analytics reference that does not fit: indicators, parameters, measurements,
    targets and duty cycles (each at its file:line:col)."""
    problems: list[Problem] = []
    watched = [x.label for x in links if x.role == "watch"]
    driven = [x.label for x in links if x.role == "drive"]

    def find(label: str, where: str, loc) -> VariableInfo | None:  # noqa: ANN001
        comp, _, var = label.partition(".")
        found = _lookup(system, VarRef(comp, var, loc), where, loc, skip)
        if isinstance(found, Problem):
            problems.append(found)
            return None
        return None if found is None else found[1]

    def watch(label: str, where: str, loc) -> None:  # noqa: ANN001
        if label in watched:
            return
        close = did_you_mean(label, watched, cutoff=0.6)
        problems.append(
            Problem(
                loc,
                f"{where}: {label} is not a watched signal (no opcua input goes to it)",
                f"did you mean '{close}'?"
                if close
                else (
                    f"watched signals: {', '.join(watched)}"
                    if watched
                    else "add an opcua input from the plant's node to this output"
                ),
            )
        )

    for i, m in enumerate(analytics.monitors):
        where = f"monitors[{i}].{m.kind}"
        if m.kind in ("residual", "measured"):
            watch(m.label, where, m.loc)
        elif m.kind == "signal":
            find(m.label, where, m.loc)
    est = analytics.estimate
    params: list[str] = []
    if est is not None:
        for i, p in enumerate(est.parameters):
            where = f"estimate.parameters[{i}].name"
            var = find(p.label, where, p.loc)
            if var is None:
                continue
            tunable = var.causality == "parameter" and var.variability == "tunable"
            if not (tunable or var.causality == "input") or var.kind != "real":
                problems.append(
                    Problem(
                        p.loc,
                        f"{where}: {p.label} is {var.causality} ({var.variability}, "
                        f"{var.fmi_type}); the filter tracks Real tunable parameters or inputs",
                        "choose a parameter with variability tunable",
                    )
                )
            elif p.label in driven:
                problems.append(
                    Problem(
                        p.loc,
                        f"{where}: {p.label} is driven by an opcua "
                        "input; it cannot also be estimated",
                    )
                )
            params.append(p.label)
        for i, m in enumerate(est.measurements):
            watch(m.label, f"estimate.measurements[{i}].signal", m.loc)
    fc = analytics.forecast
    if fc is not None:
        for i, t in enumerate(fc.targets):
            if t.label not in params:
                find(t.label, f"forecast.targets[{i}].variable", t.loc)
        for name, prof in fc.duty_cycles:
            for label, _ in prof.values:
                if label not in driven:
                    problems.append(
                        Problem(
                            fc.loc,
                            f"forecast.duty_cycles.{name}: {label} is not a driven input "
                            "(an opcua input to an FMU input)",
                            f"driven inputs: {', '.join(driven)}" if driven else "",
                        )
                    )
    return problems


__all__ = ["check_analytics"]
