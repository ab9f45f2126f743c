"""`cosim convert`: an SSP package (.ssp or .ssd) as a system YAML, its FMUs copied beside it."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from cosim.cli import EXIT_OK
from cosim.cli.output import plural
from cosim.errors import ConfigError, Location, Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ssp", metavar="SYSTEM.ssp", help="the SSP package (.ssp) or .ssd to read")
    parser.add_argument(
        "-o", "--out", required=True, metavar="SYSTEM.yaml", help="the system YAML to write"
    )
    parser.add_argument("--force", action="store_true", help="replace the YAML if it exists")
    parser.add_argument(
        "--step",
        type=float,
        metavar="H",
        help="communication step in seconds (replaces the SSP's step annotation)",
    )


def fmu_folder(out: Path) -> Path:
    """Where the FMUs of an archive go: `<yaml stem>_fmus/` beside the YAML."""
    return out.with_name(f"{out.stem}_fmus")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(args: argparse.Namespace) -> int:
    from cosim.io.dump import dump_system
    from cosim.resolve.resolver import check
    from cosim.ssp.read import is_ssp

    source, out = Path(args.ssp), Path(args.out)
    if not is_ssp(source):
        raise ConfigError(
            Problem(Location(args.ssp), "not an SSP file", "give an .ssp package or an .ssd file")
        )
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(
            Problem(Location(args.out), "the output must be a .yaml file", "e.g. -o system.yaml")
        )
    if out.exists() and not args.force:
        raise ConfigError(
            Problem(Location(args.out), "already exists", "pass --force to replace it")
        )
    system, problems = check(source, step=args.step)
    if system is None:
        raise ConfigError(problems)
    for p in problems:  # warnings only
        print(p, file=sys.stderr)
    spec = system.spec
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = fmu_folder(out)
    package = source.suffix.lower() == ".ssp"
    texts: dict[str, str] = {}
    copied: dict[str, str] = {}  # digest -> relative text
    taken: set[str] = set()
    for name, comp in spec.components.items():
        fmu = Path(comp.fmu_path)
        if not package:
            texts[name] = Path(os.path.relpath(fmu.resolve(), out.parent.resolve())).as_posix()
            continue
        digest = _digest(fmu)
        if digest not in copied:
            stem, n = fmu.stem, 1
            file = fmu.name
            while file in taken:
                n += 1
                file = f"{stem}_{n}{fmu.suffix}"
            taken.add(file)
            folder.mkdir(exist_ok=True)
            shutil.copyfile(fmu, folder / file)
            copied[digest] = f"{folder.name}/{file}"
        texts[name] = copied[digest]
    header = [f"written by cosim convert from {source.name}"]
    header += [f"note: {n}" for n in spec.notes]
    text = dump_system(spec, lambda c: texts[c.name], "\n".join(header))
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    for note in spec.notes:
        print(f"note: {note}")
    where = f"; FMUs in {folder}" if copied else ""
    print(
        f"wrote {out} ({plural(len(spec.components), 'component')}, "
        f"{plural(len(spec.connections), 'connection')}){where}"
    )
    return EXIT_OK
