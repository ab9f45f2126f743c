"""`cosim compare RESULT REFERENCE`: check a result against a reference in tolerance tubes."""

from __future__ import annotations

import argparse
import json
import math

from cosim.verify.compare import DEFAULT_ABS_TOL, DEFAULT_REL_TOL, DEFAULT_TIME_TOL_FRACTION, Report

EXIT_OK, EXIT_FAILURE = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", metavar="RESULT", help="results.h5 or CSV to check")
    parser.add_argument("reference", metavar="REFERENCE", help="results.h5 or CSV to check against")
    parser.add_argument(
        "--signals",
        nargs="+",
        action="extend",
        metavar="NAME_OR_GLOB",
        help="signals to check, exact names or globs like 'mass*.x?' (default: every signal "
        "of the reference)",
    )
    parser.add_argument(
        "--abs-tol",
        type=float,
        default=DEFAULT_ABS_TOL,
        metavar="X",
        help=f"absolute tolerance in the signal's unit (default {DEFAULT_ABS_TOL:g})",
    )
    parser.add_argument(
        "--rel-tol",
        type=float,
        default=DEFAULT_REL_TOL,
        metavar="X",
        help="relative tolerance, a fraction of each reference signal's range max - min "
        f"(of max|value| for a flat signal; default {DEFAULT_REL_TOL:g})",
    )
    parser.add_argument(
        "--time-tol",
        type=float,
        default=None,
        metavar="S",
        help="time tolerance in seconds: events may shift this much "
        f"(default {DEFAULT_TIME_TOL_FRACTION:g} of the reference's time span)",
    )
    parser.add_argument(
        "--report", metavar="DIR", help="write DIR/index.html with a plot per failing signal"
    )
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")


def run(args: argparse.Namespace) -> int:
    from cosim.results.signals import read_signals
    from cosim.verify.compare import compare

    result = read_signals(args.result, args.signals)
    reference = read_signals(args.reference, args.signals)
    report = compare(
        result,
        reference,
        signals=args.signals,
        abs_tol=args.abs_tol,
        rel_tol=args.rel_tol,
        time_tol=args.time_tol,
    )
    index = None
    if args.report:
        from cosim.verify.report import write_report

        index = write_report(report, result, reference, args.report)
    if args.json:
        data = report.to_dict()
        data["report"] = str(index) if index else None
        print(json.dumps(data, indent=2))
    else:
        print(format_table(report))
        if index:
            print(f"report: {index}")
    return EXIT_OK if report.passed else EXIT_FAILURE


def _g(x: float, fmt: str = ".4g") -> str:
    return format(x, fmt) if math.isfinite(x) else "-"


def format_table(report: Report) -> str:
    """The per-signal table and a summary line, as plain text for terminals and CI logs."""
    head = ("", "signal", "max |dev|", "at t [s]", "band", "unit", "reason")
    rows = [
        (
            "PASS" if v.passed else v.status.upper(),
            v.name,
            _g(v.max_deviation),
            _g(v.max_deviation_time, ".6g"),
            _g(v.band),
            v.unit or "-",
            v.reason,
        )
        for v in report.signals
    ]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head) - 1)]
    lines = []
    for r in (head, *rows):
        cells = [
            r[i].rjust(widths[i]) if i in (2, 3, 4) else r[i].ljust(widths[i]) for i in range(6)
        ]
        lines.append("  ".join([*cells, r[6]]).rstrip())
    tol = report.tolerance
    n_fail = len(report.failures)
    time_tol = f"{report.time_tol:g} s" + (" (auto)" if tol.time_tol is None else "")
    lines.append(
        f"{'PASS' if report.passed else 'FAIL'}: {len(report.signals)} signals, "
        f"{len(report.signals) - n_fail} passed, {n_fail} failed "
        f"(abs_tol {tol.abs_tol:g}, rel_tol {tol.rel_tol:g}, time_tol {time_tol})"
    )
    if report.extra:
        lines.append(f"only in the result, not checked: {', '.join(report.extra)}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
