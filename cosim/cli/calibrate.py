"""`cosim calibrate`: placeholder until the command lands (exits 2)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs="*")


def run(args: argparse.Namespace) -> int:
    from cosim.errors import ConfigError, Problem

    raise ConfigError(Problem(None, "cosim calibrate is not available in this build yet"))
