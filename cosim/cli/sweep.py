"""`cosim sweep`: run the sweep: section of a system on local processes or a Dask cluster."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from cosim.cli import EXIT_FAILURE, EXIT_OK
from cosim.errors import ConfigError, Location, Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("system", metavar="SYSTEM.yaml", help="a system file with a sweep: section")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: every core)"
    )
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run on the Dask cluster of this running scheduler (`dask scheduler`)",
    )
    where.add_argument(
        "--cluster",
        choices=["local"],
        help="start a Dask LocalCluster for the study (one worker per core, or --workers)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="folder for sweep.h5 and the run journal (default: sweep/)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the study in --out: skip finished runs"
    )
    parser.add_argument("--force", action="store_true", help="replace a study already in --out")
    parser.add_argument("--plot", action="store_true", help="also write sweep.png in --out")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


class _Progress:
    """A rich progress bar with runs/s and the ETA (stderr, only on a terminal)."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.bar: Any = None
        self.task: Any = None
        self.failed = 0
        self.t0 = time.perf_counter()
        self.start_done = 0

    def __call__(self, done: int, total: int, outcome: Any) -> None:
        if outcome is not None and outcome.status == "failed":
            self.failed += 1
        if not self.show:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.start_done = done
            self.bar = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("failed {task.fields[failed]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("sweep", total=total, completed=done, rate="", failed=0)
        elapsed = time.perf_counter() - self.t0
        rate = (done - self.start_done) / elapsed if elapsed > 0 else 0.0
        self.bar.update(self.task, completed=done, rate=f"{rate:.1f} runs/s", failed=self.failed)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run(args: argparse.Namespace) -> int:
    from cosim.study.analysis import plot_study, sensitivity, summary
    from cosim.study.executor import DaskExecutor, LocalExecutor
    from cosim.study.sweep import sweep_file

    if args.workers is not None and args.workers < 1:
        raise ConfigError(
            Problem(Location("--workers"), f"--workers must be >= 1, got {args.workers}")
        )
    if args.scheduler:
        executor: Any = DaskExecutor(args.scheduler)
    elif args.cluster:
        executor = DaskExecutor(None, args.workers)
    else:
        executor = LocalExecutor(args.workers)
    out = Path(args.out or "sweep")
    progress = _Progress(not (args.quiet or args.json) and sys.stderr.isatty())
    t0 = time.perf_counter()
    try:
        frame = sweep_file(
            args.system, executor=executor, out=out, resume=args.resume, force=args.force,
            progress=progress,
        )  # fmt: skip
    finally:
        progress.close()
        executor.close()
    wall = time.perf_counter() - t0
    design, qoi = list(frame.attrs["design"]), list(frame.attrs["qoi"])
    counts = frame["status"].value_counts().to_dict()
    plot = None
    if args.plot:
        plot = plot_study(frame, design, qoi, out / "sweep.png")
    report = {
        "system": str(args.system),
        "results": str(out / "sweep.h5"),
        "cases": len(frame),
        "status": counts,
        "wall_time": wall,
        "executor": executor.description,
        "summary": json.loads(summary(frame, qoi).to_json(orient="index")) if qoi else {},
        "sensitivity": json.loads(sensitivity(frame, design, qoi).to_json(orient="index"))
        if qoi
        else {},
        "failed": [
            {"case": int(k), "error": str(row["error"]).splitlines()[-1] if row["error"] else ""}
            for k, row in frame[frame["status"] == "failed"].head(10).iterrows()
        ],
        "plot": str(plot) if plot else None,
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    elif not args.quiet:
        _print(report, frame, design, qoi)
    return EXIT_OK if counts.get("failed", 0) == 0 else EXIT_FAILURE


def _print(report: dict[str, Any], frame: Any, design: list[str], qoi: list[str]) -> None:
    import pandas as pd

    done = report["status"]
    rate = report["cases"] / report["wall_time"] if report["wall_time"] > 0 else 0.0
    print(
        f"sweep: {report['cases']} cases on {report['executor']} in {report['wall_time']:.1f} s "
        f"({rate:.1f} runs/s): " + ", ".join(f"{v} {k}" for k, v in sorted(done.items()))
    )
    print(f"results: {report['results']}")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        if qoi:
            from cosim.study.analysis import sensitivity, summary

            print("\nquantities of interest (completed runs):")
            print(summary(frame, qoi).to_string(float_format=lambda v: f"{v:.4g}"))
            sens = sensitivity(frame, design, qoi)
            if sens.shape[1] > 2:
                print("\nsensitivity (standardised regression coefficients; r2 of the linear fit):")
                print(sens.to_string(float_format=lambda v: f"{v:.3g}"))
    for item in report["failed"]:
        print(f"case {item['case']} failed: {item['error']}")
    if report["plot"]:
        print(f"plot: {report['plot']}")
