"""The `cosim` command line: the only place that prints; maps exceptions to exit codes.

Each sub-command lives in its own module ``cosim/cli/<name>.py`` exposing
``add_arguments(parser)`` and ``run(args) -> int``. Exit codes: 0 success,
1 simulation/FMU/bridge failure, 2 bad input (ConfigError), 130 interrupted.

Start-up is kept short: `main` imports only the module of the command given on the command
line (``cosim --version`` and ``cosim --help`` import none: the help lines come from
`COMMANDS`), and command modules import their heavy dependencies inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence

from cosim import __version__
from cosim.errors import ConfigError, CosimError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

# name -> one-line help; the module cosim.cli.<name> implements it
COMMANDS: dict[str, str] = {
    "inspect": "show an FMU's interfaces, capabilities and variables",
    "fmus": "list and build the bundled FMU library",
    "examples": "list the bundled example systems (run one with `cosim run --example NAME`)",
    "schema": "print the JSON Schema of the system YAML format",
    "validate": "check a system YAML against the schema and its FMUs",
    "run": "run a system and write results.h5",
    "export": "export results.h5 to CSV",
    "compare": "compare a result with a reference inside a tolerance tube",
    "plot": "plot signals from one or more results",
    "test": "run regression suites of systems with a regression: section",
    "plant": "run a plant simulator: a system in real time behind an OPC UA server",
    "demo": "live digital-twin demo: plant simulator + twin over OPC UA (ema or ev)",
    "calibrate": "fit tunable parameters to recorded plant data",
    "forecast": "ask a running twin for its remaining useful life",
    "sweep": "run a parameter study (sweep: section) on local processes or a Dask cluster",
    "convert": "convert an SSP package (.ssp or .ssd) into a system YAML",
    "export-ssp": "export a system as an SSP package (.ssp) another SSP tool can run",
    "xcheck": "run the FMI cross-check procedure on a folder laid out like the cross-check repo",
}


class _Formatter(argparse.HelpFormatter):
    """argparse measures subcommand names one indent short (CPython 3.11): a name longer than
    the rest would put its help on the next line."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action._get_subactions():
                width = len(self._format_action_invocation(sub)) + self._current_indent + 4
                self._action_max_length = max(self._action_max_length, width)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on bad usage: keep that, no traceback
        self.print_usage(sys.stderr)
        print(f"cosim: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def command_in(argv: Sequence[str]) -> str | None:
    """The command named by `argv` (its first word that is not an option), if it is one."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The `cosim` parser: every command is listed, only those in `commands` get their arguments.

    `commands=None` builds them all. A command left out still parses (to an empty namespace),
    so `cosim --help` and "invalid choice" errors list every command without importing any.
    """
    chosen = set(COMMANDS) if commands is None else set(commands)
    parser = _Parser(
        prog="cosim",
        description="FMI co-simulation and live OPC UA digital twin.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"cosim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name in chosen:
            module = importlib.import_module(f"cosim.cli.{name.replace('-', '_')}")
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def print_problems(err: ConfigError) -> None:
    for problem in err.problems:
        print(str(problem), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_in(argv)
    parser = build_parser([command] if command else [])
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
