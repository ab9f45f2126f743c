"""`cosim xcheck DIR`: run the FMI cross-check procedure over a cross-check tree, print a table."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

EXIT_OK, EXIT_FAILURE = 0, 1
REASON_WIDTH = 110  # the table cuts reasons here; README.md, --json and JUnit hold them whole
_MARK = {"passed": "PASS", "failed": "FAIL", "rejected": "REJECT", "skipped": "SKIP"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cosim.verify.xcheck import DEFAULT_ABS_TOL, DEFAULT_REL_TOL, DEFAULT_TIME_TOL_FRACTION

    parser.add_argument(
        "dir",
        metavar="DIR",
        help="a cross-check tree (fmus/<FMI version>/<cs|me>/<platform>/<Tool>/<ToolVersion>/"
        "<Model>/), any folder below it, Tool/ToolVersion/Model, or one model folder",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="xcheck-results",
        help="where results/<FMI version>/<cs|me>/<platform>/cosim/<version>/... go "
        "(default ./xcheck-results)",
    )
    parser.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="rejected FMUs fail the run too (exit 1; <error> in the JUnit XML)",
    )
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N FMUs side by side, each in a process of its own (an FMU that crashes its "
        "process fails only itself); default: one per core; 0: one at a time in this process "
        "(no protection from a crashing FMU)",
    )
    parser.add_argument(
        "--rel-tol",
        type=float,
        default=DEFAULT_REL_TOL,
        metavar="X",
        help=f"tube height: a fraction of each reference signal's range (default "
        f"{DEFAULT_REL_TOL:g}, the cross-check compare tool's)",
    )
    parser.add_argument(
        "--time-tol",
        type=float,
        default=DEFAULT_TIME_TOL_FRACTION,
        metavar="X",
        help=f"tube width: a fraction of StopTime - StartTime (default "
        f"{DEFAULT_TIME_TOL_FRACTION:g})",
    )
    parser.add_argument(
        "--abs-tol",
        type=float,
        default=DEFAULT_ABS_TOL,
        metavar="X",
        help=f"the tube height's floor, in each signal's unit (default {DEFAULT_ABS_TOL:g})",
    )


def run(args: argparse.Namespace) -> int:
    from cosim.errors import ConfigError, Problem
    from cosim.verify.xcheck import Settings, exit_code, run_xcheck, write_junit

    bad = [
        Problem(None, f"--{name}: must be a finite number >= 0, got {value!r}")
        for name, value in (
            ("rel-tol", args.rel_tol),
            ("time-tol", args.time_tol),
            ("abs-tol", args.abs_tol),
        )
        if not (math.isfinite(value) and value >= 0)
    ]
    if args.workers is not None and args.workers < 0:
        bad.append(Problem(None, f"--workers: must be 0 or more, got {args.workers}"))
    if bad:
        raise ConfigError(bad)
    settings = Settings(rel_tol=args.rel_tol, abs_tol=args.abs_tol, time_tol_fraction=args.time_tol)

    def progress(r: Any) -> None:
        if not args.json:
            print(f"{_MARK.get(r.verdict, r.verdict):6}  {r.case.id}", file=sys.stderr, flush=True)

    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    results = run_xcheck(args.dir, args.out, settings, workers=workers, progress=progress)
    junit = write_junit(results, args.junit, strict=args.strict) if args.junit else None
    if args.json:
        print(
            json.dumps(
                {
                    "results": [r.to_dict() for r in results],
                    "summary": _counts(results),
                    "out": args.out,
                    "junit": str(junit) if junit else None,
                },
                indent=2,
            )
        )
    else:
        print(format_table(results))
        print(f"results: {args.out}" + (f", JUnit: {junit}" if junit else ""))
    return EXIT_FAILURE if exit_code(results, args.strict) else EXIT_OK


def _counts(results: Any) -> dict[str, int]:
    from cosim.verify.xcheck import summary

    return summary(results)


def _g(x: float, fmt: str = ".3g") -> str:
    return format(x, fmt) if isinstance(x, float) and math.isfinite(x) else "-"


def _cut(text: str, n: int = REASON_WIDTH) -> str:
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def format_table(results: Any) -> str:
    """One row per FMU: verdict, FMI version, type, platform, exporting tool, model, run time,
    the signal closest to (or furthest outside) its tube, and why it did not pass."""
    head = (
        "",
        "FMI",
        "type",
        "platform",
        "exported by",
        "model",
        "time [s]",
        "worst signal",
        "reason",
    )
    rows = []
    for r in results:
        c = r.case
        worst = r.worst
        if worst is not None:
            name, dev, _ = worst
            worst_text = f"{name} |dev| {_g(dev)}"
        else:
            worst_text = "-"
        reason = r.reason.splitlines()[0] if r.reason else ""
        rows.append(
            (
                _MARK.get(r.verdict, r.verdict.upper()),
                c.fmi_version or "?",
                c.fmi_type or "?",
                c.platform or "?",
                f"{c.tool} {c.tool_version}",
                c.model,
                f"{r.wall_time:.2f}",
                worst_text,
                _cut(reason) if r.verdict != "passed" else "",
            )
        )
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head) - 1)]
    lines = []
    for row in (head, *rows):
        cells = [row[i].rjust(widths[i]) if i == 6 else row[i].ljust(widths[i]) for i in range(8)]
        lines.append("  ".join([*cells, row[8]]).rstrip())
    counts = _counts(results)
    parts = [f"{counts[k]} {k}" for k in ("passed", "failed", "rejected", "skipped") if counts[k]]
    lines.append(f"{len(results)} FMUs: " + ", ".join(parts))
    return "\n".join(lines)
