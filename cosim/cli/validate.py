"""`cosim validate`: check a system file (YAML or SSP) and its FMUs; print every problem."""

from __future__ import annotations

import argparse
import json

from cosim.cli import EXIT_BAD_INPUT, EXIT_OK
from cosim.cli.output import plural
from cosim.errors import Problem
from cosim.model.spec import ResolvedSystem
from cosim.resolve.resolver import check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "system", metavar="SYSTEM.yaml", help="the system file to check (YAML, .ssp or .ssd)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="COMP.VAR=VALUE",
        help="override a parameter or start value (repeatable)",
    )
    parser.add_argument(
        "--stop",
        type=float,
        metavar="T",
        help="check with this stop time, as `cosim run --stop T` would run it",
    )
    parser.add_argument(
        "--step",
        type=float,
        metavar="H",
        help="check with this communication step, as `cosim run --step H` would run it",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _problem_json(p: Problem) -> dict:
    loc = p.loc
    return {
        "severity": p.severity,
        "file": loc.file if loc else None,
        "line": loc.line if loc else 0,
        "column": loc.col if loc else 0,
        "message": p.message,
        "hint": p.hint,
    }


def _delayed(system: ResolvedSystem) -> list[str]:
    """Connections that feed a component stepped earlier (it sees the previous step's value)."""
    position = {c: i for i, c in enumerate(system.order)}
    return [
        f"{c.spec.source} -> {c.spec.target}"
        for c in system.connections
        if c.spec is not None and position[c.source_component] > position[c.target_component]
    ]


def run(args: argparse.Namespace) -> int:
    system, problems = check(args.system, args.overrides, args.stop, step=args.step)
    if system is not None and system.spec.sweep is not None:
        from cosim.io.locate import sort_problems
        from cosim.study.sweep import sweep_problems

        problems = sort_problems(problems + sweep_problems(system))
        if any(p.severity == "error" for p in problems):
            system = None
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    valid = system is not None and errors == 0
    if args.json:
        out: dict = {
            "file": args.system,
            "valid": valid,
            "errors": errors,
            "warnings": warnings,
            "problems": [_problem_json(p) for p in problems],
        }
        if system is not None:
            out["notes"] = list(system.spec.notes)
        if system is not None:
            out["system"] = {
                "name": system.spec.name,
                "components": [c.name for c in system.components],
                "connections": len(system.connections),
                "algorithm": system.spec.simulation.algorithm,
                "order": [system.components[i].name for i in system.order],
                "delayed": _delayed(system),
            }
        print(json.dumps(out, indent=2))
        return EXIT_OK if valid else EXIT_BAD_INPUT
    for p in problems:
        print(p)
    for note in system.spec.notes if system is not None else ():
        print(f"note: {note}")
    if not valid:
        print(f"{args.system}: {plural(errors, 'error')}, {plural(warnings, 'warning')}")
        return EXIT_BAD_INPUT
    sim = system.spec.simulation
    print(
        f"{args.system}: valid ({plural(len(system.components), 'component')}, "
        f"{plural(len(system.connections), 'connection')}, {plural(warnings, 'warning')})"
    )
    if sim.algorithm == "gauss-seidel":
        order = " -> ".join(system.components[i].name for i in system.order)
        print(f"  step order: {order}")
        delayed = _delayed(system)
        if delayed:
            print("  from the previous communication point: " + ", ".join(delayed))
    return EXIT_OK
