"""`cosim export results.h5 --csv out.csv`: write a results file as CSV (time first)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="results.h5", help="a results file from `cosim run`")
    parser.add_argument(
        "--csv",
        metavar="OUT.csv",
        required=True,
        help="write this CSV file: a header `time [s],<component>.<variable> [unit],...` "
        "(units in brackets; none for a signal without a unit), then one row per sample",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    from cosim.results.writer import export_csv

    rows = export_csv(args.results, args.csv)
    if not args.quiet:
        print(f"wrote {rows} rows to {args.csv}")
    return 0
