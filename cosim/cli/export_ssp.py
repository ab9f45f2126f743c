"""`cosim export-ssp SYSTEM.yaml -o OUT.ssp`: write a system as a standard SSP 1.0 package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cosim.cli import EXIT_OK
from cosim.errors import ConfigError, Location, Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("system", metavar="SYSTEM.yaml", help="the system file to export")
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="OUT.ssp",
        help="the SSP package to write (SystemStructure.ssd, the parameter set and the FMUs)",
    )
    parser.add_argument("--force", action="store_true", help="replace OUT.ssp if it exists")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="COMP.VAR=VALUE",
        help="override a parameter or start value before exporting (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    from cosim.api import System
    from cosim.cli.output import plural, print_warnings
    from cosim.ssp.write import write_ssp

    out = Path(args.out)
    if out.exists() and not out.is_dir() and not args.force:  # before the work of resolving
        raise ConfigError(
            Problem(
                Location(str(out)),
                "the output file exists already",
                "pass --force to replace it, or choose another name with -o",
            )
        )
    system = System.from_file(args.system, overrides=args.overrides)
    print_warnings(system.warnings)
    warnings = write_ssp(system.resolved, out, overwrite=args.force)
    print_warnings(warnings)
    if not args.quiet:
        resolved = system.resolved
        parameters = sum(len(c.spec.parameters) for c in resolved.components)
        print(
            f"wrote {out}: {plural(len(resolved.components), 'component')}, "
            f"{plural(len(resolved.connections), 'connection')}, "
            f"{plural(parameters, 'parameter value')}"
            + (f"; {plural(len(warnings), 'item')} left out (see above)" if warnings else ""),
            file=sys.stdout,
        )
    return EXIT_OK
