"""`cosim test [PATHS...]`: run the regression suites of systems with a `regression:` section.

Prints one row per system (verdict, failing signals with their largest deviation, wall time).
Exit codes: 0 every system passed (or its reference was updated), 1 any failed or its run
failed, 2 bad input (a broken YAML or regression section, a missing reference, no systems).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="system YAML files or folders searched recursively for *.yaml with a "
        "regression: section (default: the current folder)",
    )
    parser.add_argument("--junit", metavar="OUT.xml", help="also write JUnit XML for CI")
    parser.add_argument(
        "--update",
        action="store_true",
        help="rewrite the references from this run (decimated to the record interval, "
        "compressed) and report what changed, instead of comparing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --update: also replace references that --update did not write "
        "(e.g. an exact solution)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        metavar="N",
        help="worker processes (default: the number of CPUs)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        default=None,
        help="wall-time bound of each FMI call, for systems that set no simulation.timeout "
        "(default 60; 0 = unbounded): a call that hangs fails its system, not the suite",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    from cosim.errors import ConfigError, Location, Problem
    from cosim.verify.regression import TEST_TIMEOUT, SuiteResult, collect_cases, run_suite

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(Problem(Location("--jobs"), f"--jobs must be >= 1, got {args.jobs}"))
    timeout = TEST_TIMEOUT if args.timeout is None else args.timeout
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ConfigError(Problem(Location("--timeout"), f"--timeout must be >= 0, got {timeout}"))
    cases, broken = collect_cases(args.paths, update=args.update)  # broken ones: reported, rest run
    if not args.json:
        what = "updating references of" if args.update else "testing"
        jobs = max(1, min(args.jobs or _cpus(), len(cases)))
        noun = "system" if len(cases) == 1 else "systems"
        skipped = f" ({len(broken)} with errors, not run)" if broken else ""
        print(f"{what} {len(cases)} {noun} on {jobs} process{'es' if jobs > 1 else ''}{skipped}")
        sys.stdout.flush()
    suite = run_suite(
        cases, jobs=args.jobs, update=args.update, force=args.force, timeout=timeout or None
    )
    if broken:
        suite = SuiteResult(suite.cases + tuple(broken), suite.wall_time, suite.jobs)
    if args.junit:
        from cosim.verify.junit import write_junit

        try:
            write_junit(suite, args.junit)
        except OSError as exc:
            raise ConfigError(
                Problem(Location(args.junit), f"cannot write JUnit XML: {exc}")
            ) from None
    if args.json:
        data = {
            "passed": suite.passed,
            "exit_code": suite.exit_code,
            "wall_time": suite.wall_time,
            "jobs": suite.jobs,
            "update": args.update,
            "junit": args.junit,
            "cases": [c.to_dict() for c in suite.cases],
        }
        print(json.dumps(data, indent=2))
    else:
        print(format_suite(suite, args.update))
        if args.junit:
            print(f"junit: {args.junit}")
    for case in suite.cases:  # errors in full (tracebacks, FMU logs) go to stderr
        if case.message and not args.json:
            print(f"{case.id}: {case.message}", file=sys.stderr)
    return suite.exit_code


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def _g(x: float) -> str:
    return format(x, ".3g") if math.isfinite(x) else "-"


def _failing(case) -> str:  # noqa: ANN001 - CaseResult
    if case.status == "error":
        first = case.message.strip().splitlines()[0] if case.message.strip() else "error"
        return first if len(first) <= 100 else first[:97] + "..."
    parts = []
    for name, dev, unit, reason in case.failing_signals:
        if math.isfinite(dev):
            parts.append(f"{name} ({_g(dev)}{' ' + unit if unit else ''})")
        else:
            parts.append(f"{name} ({reason.split(';')[0]})")
    return ", ".join(parts)


def _changes(case) -> str:  # noqa: ANN001 - CaseResult
    parts = []
    for c in case.changes:
        if c.status == "changed":
            unit = f" {c.unit}" if c.unit else ""
            inside = (
                ""
                if c.within_tolerance is None
                else (", inside tolerance" if c.within_tolerance else ", OUTSIDE tolerance")
            )
            parts.append(f"{c.name} changed (max |dev| {_g(c.max_deviation)}{unit}{inside})")
        else:
            parts.append(f"{c.name} {c.status}")
    return ", ".join(parts)


def format_suite(suite, update: bool = False) -> str:  # noqa: ANN001 - SuiteResult
    """The table: system, verdict, failing signals (or changes), wall time; then a summary."""
    head = ("system", "verdict", "wall [s]", "changes" if update else "failing signals")
    rows = []
    for c in suite.cases:
        detail = _failing(c) if c.status == "error" or not update else _changes(c)
        rows.append((c.id, c.status.upper(), f"{c.wall_time:.2f}", detail))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(3)]
    lines = []
    for r in (head, *rows):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3]]
        lines.append("  ".join(cells).rstrip())
    for c in suite.cases:
        lines += [f"note: {c.id}: {n}" for n in c.notes]
    n = len(suite.cases)
    counts: dict[str, int] = {}
    for c in suite.cases:
        counts[c.status] = counts.get(c.status, 0) + 1
    tally = ", ".join(f"{k} {v}" for k, v in counts.items())
    verdict = "PASS" if suite.passed else "FAIL"
    lines.append(
        f"{verdict}: {n} system{'s' if n != 1 else ''} ({tally}) in {suite.wall_time:.2f} s "
        f"on {suite.jobs} process{'es' if suite.jobs > 1 else ''}"
    )
    return "\n".join(lines)
