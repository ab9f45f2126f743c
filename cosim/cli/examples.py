"""`cosim examples [--json]`: list the bundled example systems, their descriptions and files."""

from __future__ import annotations

import argparse
import json

import yaml

from cosim.cli.output import EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Run one with `cosim run --example NAME`; pass its path to any other command "
        "(validate, test, sweep, plant)."
    )
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def _description(path) -> str:
    """The first sentence of the system's `description:` ("" if it has none or does not read)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    text = data.get("description", "") if isinstance(data, dict) else ""
    text = " ".join(str(text).split())
    first = text.split(". ")[0].rstrip(".") + "." if text else ""
    return first if len(first) <= 90 else first[:89].rstrip() + "…"


def run(args: argparse.Namespace) -> int:
    from cosim.paths import examples

    found = examples()
    rows = [{"name": n, "description": _description(p), "path": str(p)} for n, p in found.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE)
    for col in ("name", "description", "path"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["description"], row["path"])
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 160))
    console.print(table)
    return EXIT_OK
