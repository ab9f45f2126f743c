"""`cosim fmus [--build] [--force]`: list the bundled FMU library and build it from fmus/."""

from __future__ import annotations

import argparse
import time

from cosim.cli import EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--build", action="store_true", help="build every bundled FMU that is missing or stale"
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild every bundled FMU, even if up to date"
    )


def run(args: argparse.Namespace) -> int:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from cosim.library import build as library

    build_seconds: dict[str, float] = {}
    if args.build or args.force:
        for name in library.bundled_names():
            t0 = time.perf_counter()
            library.build(name, force=args.force)
            build_seconds[name] = time.perf_counter() - t0
    table = Table(box=box.SIMPLE)
    for col in ("name", "FMI", "interfaces", "status"):
        table.add_column(col, no_wrap=True)
    if build_seconds:
        table.add_column("build (s)", justify="right")
    table.add_column("path", no_wrap=True)
    for name in library.bundled_names():
        row = [name, "3.0" if name.startswith("fmi3/") else "2.0", *_state(name)]
        if build_seconds:
            row.append(f"{build_seconds[name]:.2f}")
        row.append(str(library.output_path(name)))
        table.add_row(*row)
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: never cut names or paths
        console = Console(highlight=False, width=max(console.width, 160))
    console.print(table)
    if build_seconds:
        console.print(f"total {sum(build_seconds.values()):.2f} s")
    return EXIT_OK


def _state(name: str) -> tuple[str, str]:
    """(interfaces, status) of bundled FMU `name`; interfaces come from the built archive."""
    from cosim.fmu.archive import read_model_description
    from cosim.library import build as library

    path = library.output_path(name)
    if not path.is_file():
        return "-", "not built"
    md = read_model_description(path)
    interfaces = [
        label
        for label, present in (("CS", md.coSimulation), ("ME", md.modelExchange))
        if present is not None
    ]
    return "+".join(interfaces), "stale" if library.is_stale(name) else "built"
