"""`cosim schema`: print the JSON Schema of the system YAML format (for editors such as VS Code)."""

from __future__ import annotations

import argparse
import json

from cosim.io.schema import json_schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Save it, e.g. `cosim schema > cosim-system.schema.json`, and point VS Code's YAML "
        "extension at it (yaml.schemas) or start a system file with "
        "`# yaml-language-server: $schema=cosim-system.schema.json`."
    )


def run(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0
