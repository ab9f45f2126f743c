"""`cosim export-ssp`: not implemented yet (issue 12)."""

from __future__ import annotations

import argparse

from cosim.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs="*")


def run(args: argparse.Namespace) -> int:
    raise ConfigError("not implemented yet")
