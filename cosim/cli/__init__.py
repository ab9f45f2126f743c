"""The `cosim` command line: the only place that prints; maps exceptions to exit codes.

Each sub-command lives in its own module ``cosim/cli/<name>.py`` exposing
``add_arguments(parser)`` and ``run(args) -> int``. Exit codes: 0 success,
1 simulation/FMU/bridge failure, 2 bad input (ConfigError), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cosim import __version__
from cosim.errors import ConfigError, CosimError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

# name -> one-line help; the module cosim.cli.<name> implements it
COMMANDS: dict[str, str] = {
    "inspect": "show an FMU's interfaces, capabilities and variables",
    "fmus": "list and build the bundled FMU library",
    "schema": "print the JSON Schema of the system YAML format",
    "validate": "check a system YAML against the schema and its FMUs",
    "run": "run a system and write results.h5",
    "export": "export results.h5 to CSV",
    "compare": "compare a result with a reference inside a tolerance tube",
    "plot": "plot signals from one or more results",
    "test": "run regression suites of systems with a regression: section",
    "plant": "run a plant simulator: a system in real time behind an OPC UA server",
    "demo": "live digital-twin demo: plant simulator + twin over OPC UA (ema or ev)",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on bad usage: keep that, no traceback
        self.print_usage(sys.stderr)
        print(f"cosim: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cosim", description="FMI co-simulation and live OPC UA digital twin.")
    parser.add_argument("--version", action="version", version=f"cosim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"cosim.cli.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def print_problems(err: ConfigError) -> None:
    for problem in err.problems:
        print(str(problem), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args._module.run(args) or 0)
    except ConfigError as err:
        print_problems(err)
        return EXIT_BAD_INPUT
    except CosimError as err:
        print(f"cosim: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("cosim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `cosim inspect X --json | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
