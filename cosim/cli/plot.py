"""`cosim plot RESULT... [SIGNAL-or-GLOB...] -o plot.png`: plot signals; `--twin`: a twin run."""

from __future__ import annotations

import argparse
from pathlib import Path

RESULT_SUFFIXES = (".h5", ".hdf5", ".csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "items",
        nargs="+",
        metavar="RESULT_OR_SIGNAL",
        help="result files (results.h5 or CSV; several overlay) followed by signal names or "
        "globs like 'mass1.*' (default: every signal)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="plot.png",
        metavar="FILE",
        help="image to write (default plot.png)",
    )
    parser.add_argument(
        "--by",
        choices=("unit", "signal"),
        default="unit",
        help="one subplot per unit (default) or per signal",
    )
    parser.add_argument("--title", help="figure title")
    parser.add_argument(
        "--twin",
        action="store_true",
        help="plot a twin run's /twin groups of one results.h5 (measured vs predicted, "
        "residuals, monitors and alarms, estimates, forecasts); signals restrict the first two",
    )


def split_items(items: list[str]) -> tuple[list[str], list[str]]:
    """Result files (existing files, or names ending .h5/.hdf5/.csv) and signal patterns."""
    files, patterns = [], []
    for item in items:
        is_file = item.lower().endswith(RESULT_SUFFIXES) or Path(item).is_file()
        (files if is_file else patterns).append(item)
    return files, patterns


def run(args: argparse.Namespace) -> int:
    from cosim.errors import ConfigError, Problem
    from cosim.results.signals import read_signals
    from cosim.verify.plot import plot_signals

    files, patterns = split_items(args.items)
    if not files:
        raise ConfigError(
            Problem(None, "no result file given", "cosim plot results.h5 [SIGNAL...] -o plot.png")
        )
    if args.twin:
        return run_twin(files, patterns, args)
    sets = [read_signals(f, patterns or None) for f in files]
    fig = plot_signals(sets, patterns or None, args.output, by=args.by, title=args.title)
    n_lines = sum(len(ax.get_lines()) for ax in fig.axes)
    print(f"wrote {args.output} ({n_lines} lines from {len(files)} file(s))")
    return 0


def run_twin(files: list[str], patterns: list[str], args: argparse.Namespace) -> int:
    from cosim.errors import ConfigError, Problem
    from cosim.verify.twin_plot import plot_twin

    if len(files) != 1:
        raise ConfigError(
            Problem(
                None,
                f"--twin plots one results file, got {len(files)}: {', '.join(files)}",
                "cosim plot results.h5 --twin [SIGNAL...] -o twin.png",
            )
        )
    fig = plot_twin(files[0], args.output, title=args.title, signals=patterns or None)
    print(f"wrote {args.output} ({len(fig.axes)} twin panels from {files[0]})")
    return 0
