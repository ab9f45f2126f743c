"""`cosim inspect FMU [--json]`: print an FMU's interfaces, capabilities and variables."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from cosim.cli import EXIT_BAD_INPUT, EXIT_OK
from cosim.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

_CAUSALITIES = ("independent", "structuralParameter", "parameter", "calculatedParameter")
_CAUSALITIES += ("input", "output", "local")
_CAUSALITY_RANK = {c: i for i, c in enumerate(_CAUSALITIES)}  # row order of the variables table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "fmu",
        metavar="FMU",
        help="an .fmu file, or a bundled FMU name such as Mass1 (FMI 2.0) or fmi3/Mass1 (FMI 3.0)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (keys documented in cosim/fmu/inspect.py)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cosim.fmu.inspect import inspect_fmu
    from cosim.resolve.fmus import fmu_file

    try:
        report = inspect_fmu(fmu_file(args.fmu))
    except ConfigError as err:  # one line on stderr, whatever the problem says
        print(one_line(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        console = Console(highlight=False)
        if not console.is_terminal:  # piped: long lines beat descriptions wrapped into slivers
            console = Console(highlight=False, width=max(console.width, 160))
        print_report(report, console)
    return EXIT_OK


def one_line(err: ConfigError) -> str:
    """Every problem of `err` on a single line: `cosim inspect: <where>: <what> (hint: <how>)`."""
    parts = []
    for p in err.problems:
        text = f"{p.loc}: {p.message}" if p.loc else p.message
        if p.hint:
            text += f" (hint: {p.hint})"
        parts.append(" ".join(text.split()))
    return "cosim inspect: error: " + "; ".join(parts)


def print_report(r: dict[str, Any], console: Console) -> None:
    """Render an inspection report (see cosim.fmu.inspect) as text."""
    from rich import box
    from rich.table import Table

    from cosim.fmu.inspect import CAPABILITIES

    major = 3 if str(r["fmiVersion"]).startswith("3") else 2
    console.print(f"[bold]{r['modelName']}[/bold]  FMI {r['fmiVersion']}")
    if r["description"]:
        console.print(r["description"])
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("path", r["path"])
    head.add_row("instantiationToken" if major == 3 else "guid", r["guid"] or "-")
    head.add_row("generation tool", _text(r["generationTool"]))
    for key in ("generationDateAndTime", "author", "version", "license"):
        if r[key]:
            head.add_row(key, str(r[key]))
    interfaces = r["interfaces"]
    head.add_row(
        "interfaces",
        ", ".join(f"{name} ({i['modelIdentifier']})" for name, i in interfaces.items()) or "-",
    )
    de = r["defaultExperiment"]
    head.add_row(
        "default experiment",
        ", ".join(
            f"{k} {_text(de[k])}" for k in ("startTime", "stopTime", "stepSize", "tolerance")
        ),
    )
    head.add_row(
        "continuous states",
        f"{r['numberOfContinuousStates']}, event indicators {r['numberOfEventIndicators']}",
    )
    console.print(head)

    caps = Table(title="Capabilities", box=box.SIMPLE, title_justify="left")
    caps.add_column("capability")
    for name in interfaces:
        caps.add_column(name)
    keys: list[str] = []
    for name in interfaces:
        for key, sources in CAPABILITIES[name].items():
            if sources[major - 2] is not None and key not in keys:
                keys.append(key)
    for key in keys:
        caps.add_row(key, *(_text(i["capabilities"].get(key, "")) for i in interfaces.values()))
    console.print(caps)

    variables = sorted(r["variables"], key=lambda v: _CAUSALITY_RANK.get(v["causality"], 99))
    table = Table(title=f"Variables ({len(variables)})", box=box.SIMPLE, title_justify="left")
    for col in ("name", "causality", "variability", "type", "unit", "start"):
        table.add_column(col, no_wrap=True)
    table.add_column("description")
    for v in variables:
        table.add_row(
            v["name"],
            v["causality"],
            v["variability"],
            v["type"],
            _text(v["unit"]),
            _text(v["start"]),
            _text(v["description"]),
        )
    console.print(table)

    deps = [v for v in r["variables"] if v["causality"] == "output"]
    if deps:
        dt = Table(title="Output dependencies", box=box.SIMPLE, title_justify="left")
        dt.add_column("output", no_wrap=True)
        dt.add_column("depends on")
        for v in deps:
            d = v["dependencies"]
            dt.add_row(v["name"], "not declared" if d is None else ", ".join(d) or "nothing")
        console.print(dt)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return " ".join(_text(x) for x in value)
    return str(value)
