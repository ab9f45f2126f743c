"""The hand-written test FMUs in fmus/special/: compile, zip and rebuild them when stale.

Each one is a folder ``fmus/special/<Name>/`` with a hand-written ``modelDescription.xml`` and
one C file that implements the FMI API directly. They exercise FMI features the generated
bundled library does not (every FMI 3 type, arrays, structural parameters, clocks, Scheduled
Execution, a modelIdentifier that does not match the binary), for the importer's conformance
tests. They are named ``special/<Name>`` and built like the bundled FMUs:

    fmus/special/<Name>.fmu     modelDescription.xml + binaries/<platform>/<Name>.so

The binary is always named after the folder, not after the modelIdentifier: for every FMU but
``special/BadId2`` the two are the same (a test checks it). The C file gets the
instantiationToken (FMI 3.0) or guid (FMI 2.0) of its modelDescription.xml as ``MODEL_TOKEN``.
An FMU is rebuilt when the hash of its folder, this module or the FMI headers changes.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from cosim.errors import ConfigError, Location, Problem
from cosim.library.build import (
    BUILD_DIR,
    FMUS_DIR,
    build_lock,
    files_hash,
    fmi_headers,
    stamp_is_current,
    stamp_text,
)

SPECIAL_DIR = FMUS_DIR / "special"
PREFIX = "special/"
_PLATFORMS = {"2": "linux64", "3": "x86_64-linux"}


def special_names() -> list[str]:
    """Every hand-written test FMU name, `special/<Name>`, sorted."""
    if not SPECIAL_DIR.is_dir():
        return []
    folders = (p for p in SPECIAL_DIR.iterdir() if (p / "modelDescription.xml").is_file())
    return sorted(PREFIX + p.name for p in folders)


def _folder(name: str) -> Path:
    if name not in special_names():
        raise unknown_name(name)
    return SPECIAL_DIR / name[len(PREFIX) :]


def unknown_name(name: str) -> ConfigError:
    """The error for a `special/...` name that has no folder, with the closest name."""
    names = special_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"special FMUs: {', '.join(names)}"
    return ConfigError(Problem(None, f"unknown special FMU {name!r}", hint))


def output_path(name: str) -> Path:
    """Where the FMU `special/<Name>` is written: ``special/<Name>.fmu`` in the build folder."""
    return BUILD_DIR / "special" / f"{name[len(PREFIX) :]}.fmu"


def stamp_path(name: str) -> Path:
    """The file holding the source hash the FMU `name` was last built from."""
    return BUILD_DIR / ".build" / f"special.{name[len(PREFIX) :]}.sha256"


def source_hash(name: str) -> str:
    """The hash of everything the FMU `name` is made of."""
    files = sorted(_folder(name).glob("*")) + [Path(__file__)]
    return files_hash(files + sorted(fmi_headers().glob("fmi*.h")))


def is_stale(name: str) -> bool:
    """Whether the FMU `name` is missing or was built from other sources."""
    out, stamp = output_path(name), stamp_path(name)
    if not out.is_file() or not stamp.is_file():
        return True
    return not stamp_is_current(stamp, source_hash(name))


def _description_facts(xml: Path) -> tuple[str, str]:
    """The FMI major version ("2" or "3") and the instantiation token of a model description."""
    try:
        root = ElementTree.parse(xml).getroot()
    except ElementTree.ParseError as exc:
        raise ConfigError(Problem(Location(str(xml)), f"not well-formed XML: {exc}")) from None
    version = root.get("fmiVersion", "").split(".")[0]
    token = root.get("instantiationToken" if version == "3" else "guid")
    if version not in _PLATFORMS or not token:
        raise ConfigError(
            Problem(
                Location(str(xml)),
                f"expected fmiVersion 2.0 or 3.0 with a guid/instantiationToken, got "
                f"fmiVersion={root.get('fmiVersion')!r}",
            )
        )
    return version, token


def _c_file(folder: Path) -> Path:
    sources = sorted(folder.glob("*.c"))
    if len(sources) != 1:
        found = ", ".join(p.name for p in sources) or "none"
        raise ConfigError(Problem(Location(str(folder)), f"expected one C file, found {found}"))
    return sources[0]


def build(name: str, force: bool = False) -> Path:
    """Build the FMU `special/<Name>` if missing or stale (or `force`); return its path."""
    folder = _folder(name)
    out = output_path(name)
    with build_lock():
        if not force and not is_stale(name):
            return out
        digest = source_hash(name)
        xml = folder / "modelDescription.xml"
        version, token = _description_facts(xml)
        source = _c_file(folder)
        platform = _PLATFORMS[version]
        with tempfile.TemporaryDirectory(prefix=f"cosim_special_{folder.name}_") as tmp:
            binary = Path(tmp) / f"{folder.name}.so"
            cmd = [
                os.environ.get("CC", "gcc"),
                "-shared",
                "-fPIC",
                "-O2",
                "-std=gnu11",
                "-Wall",
                "-fvisibility=default",
                f"-I{fmi_headers()}",
                f"-DMODEL_TOKEN={_c_string(token)}",
                str(source),
                "-o",
                str(binary),
                "-lm",
            ]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as exc:  # no compiler at all
                raise ConfigError(
                    Problem(
                        Location(str(source)),
                        f"cannot build {name}: cannot run the C compiler {cmd[0]}: "
                        f"{exc.strerror or exc}",
                        "install gcc, or name the compiler in the CC environment variable",
                    )
                ) from None
            if proc.returncode != 0:
                raise ConfigError(
                    Problem(
                        Location(str(source)),
                        f"building special FMU {name} failed:\n{proc.stderr}",
                        "is gcc installed?",
                    )
                )
            partial = out.with_suffix(".fmu.partial")
            out.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.write(xml, "modelDescription.xml")
                zf.write(binary, f"binaries/{platform}/{folder.name}.so")
            os.replace(partial, out)
            stamp_path(name).write_text(stamp_text(digest))
    return out


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_all(force: bool = False) -> list[Path]:
    """Build every special FMU; return their paths."""
    return [build(n, force=force) for n in special_names()]


__all__ = [
    "build",
    "build_all",
    "is_stale",
    "output_path",
    "source_hash",
    "special_names",
    "stamp_path",
    "unknown_name",
]
