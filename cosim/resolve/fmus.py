"""FMU lookup: a component's `fmu:` text (a bundled name or a path) to an FMU file on disk.

The one place, besides the CLI, that reaches cosim.library: a bundled name such as ``Mass1``
(or a path to a bundled FMU's output, such as ``../fmus/Mass1.fmu``) is built on first use.
Reading YAML never does this; resolving a system does.
"""

from __future__ import annotations

import os
from pathlib import Path

from cosim.errors import ConfigError, CosimError, Problem
from cosim.io.locate import did_you_mean, listing
from cosim.model.spec import ComponentSpec


def _library():
    try:
        from cosim.library import build as library
    except ModuleNotFoundError as exc:  # an installation without the FMU sources
        if exc.name != "cosim.library.build":
            raise
        return None
    return library


def bundled_names() -> list[str]:
    """Every bundled FMU name (empty without the library)."""
    library = _library()
    return list(library.bundled_names()) if library is not None else []


def find_fmu(text: str, base_dir: Path) -> Path:
    """The FMU file that `text` names, relative to `base_dir`; CosimError if a build fails.

    The path need not exist: fmu_problems reports a missing one.
    """
    library = _library()
    if library is not None:
        return Path(library.resolve_fmu(text, base_dir)).resolve()
    path = Path(text)
    return (path if path.is_absolute() else base_dir / path).resolve()


def fmu_file(text: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None = None) -> Path:
    """The file of an FMU named on the command line: a bundled name (built first if missing or
    stale; ConfigError with the closest name if unknown) or a path (from `base_dir`)."""
    text = os.fspath(text)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    path = find_fmu(text, base)
    library = _library()
    bare = not text.endswith(".fmu") and "/" not in text.replace("fmi3/", "", 1)
    if library is not None and not path.exists() and bare:
        raise library.unknown_name(text)  # e.g. `Mas1`: suggest the closest bundled name
    return path


def locate_fmu(comp: ComponentSpec) -> tuple[Path | None, list[Problem]]:
    """The FMU file of `comp` (None if missing or unbuildable) and the problems, at `fmu:`."""
    loc = comp.fmu_loc or comp.loc
    try:
        # built in code, the path is given; else the `fmu:` text names it
        path = Path(comp.fmu_path) if comp.base_dir is None else find_fmu(comp.fmu, comp.base_dir)
        if path.exists():
            return path, []
    except CosimError as exc:
        found = exc.problems if isinstance(exc, ConfigError) else [Problem(None, str(exc))]
        return None, [Problem(loc, p.message, p.hint) for p in found]
    except (OSError, ValueError) as exc:  # a name too long for the system, a NUL byte
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [Problem(loc, f"cannot use the FMU path {comp.fmu!r}: {why}", "")]
    names = bundled_names()
    close = did_you_mean(comp.fmu, names) if names else None
    hint = (
        (f"did you mean '{close}'? " if close else "")
        + f"looked for {path}; a path ending in .fmu is relative to this file's folder"
        + (f"; bundled FMUs: {listing(names)}" if names else "")
    )
    return None, [Problem(loc, f"FMU not found: {comp.fmu}", hint)]


__all__ = ["bundled_names", "find_fmu", "fmu_file", "locate_fmu"]
