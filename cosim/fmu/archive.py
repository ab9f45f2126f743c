"""Zip archives (FMUs, SSPs): open them safely (no entry unpacks outside its folder), read XML."""

from __future__ import annotations

import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cosim.errors import ConfigError, Location, Problem

MAX_UNPACKED_BYTES = 2 * 1024**3  # refuse archives that would unpack to more than 2 GiB
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def _problem(path: Path, message: str, hint: str = "") -> ConfigError:
    return ConfigError(Problem(Location(str(path)), message, hint))


@dataclass(frozen=True)
class ArchiveKind:
    """What a zip archive holds, for messages: an FMU, an SSP package, ..."""

    noun: str  # "FMU"
    article: str  # "an"
    what_it_is: str  # the hint when the file is not a zip: what such a file is
    required: str | None = None  # a member that must be at the root


FMU = ArchiveKind(
    "FMU",
    "an",
    "an FMU is a zip file with a modelDescription.xml at its root",
    "modelDescription.xml",
)
SSP = ArchiveKind("SSP", "an", "an SSP is a zip file with a SystemStructure.ssd at its root")


def check_zip(path: str | Path, kind: ArchiveKind = FMU) -> list[str]:
    """Return the member names of the zip archive at `path`, or raise ConfigError.

    Raises for a missing file, a file that is not a zip archive, a missing `kind.required`
    member, and any entry that is absolute, climbs out with `..`, uses a drive letter or
    backslash traversal, is a symbolic link, is encrypted, uses an unknown compression, or
    would make the archive unpack to more than MAX_UNPACKED_BYTES.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):  # also: a name too long, a NUL byte in the path
        raise _problem(path, "no such file", "check the path") from None
    a, noun = kind.article, kind.noun
    if not stat.S_ISREG(mode):  # /dev/zero would be read forever, a FIFO would block
        raise _problem(
            path, f"not {a} {noun}: not a regular file (a device, FIFO or socket)", kind.what_it_is
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _problem(
            path, f"not {a} {noun}: not a valid zip archive ({exc})", kind.what_it_is
        ) from None
    names = []
    total = 0
    corrupt = f"the {noun} is corrupt or malicious; refusing to open it"
    for info in infos:
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
            raise _problem(
                path,
                f"unsafe archive entry {name!r} would unpack outside the target folder",
                corrupt,
            )
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _problem(path, f"unsafe archive entry {name!r} is a symbolic link", corrupt)
        if info.flag_bits & 0x1:
            raise _problem(
                path, f"archive entry {name!r} is encrypted", f"{noun}s must not be encrypted"
            )
        if info.compress_type not in _COMPRESSIONS:
            raise _problem(
                path,
                f"archive entry {name!r} uses unsupported compression method {info.compress_type}",
                f"re-zip the {noun} with deflate",
            )
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise _problem(
                path, f"archive would unpack to more than {MAX_UNPACKED_BYTES} bytes", corrupt
            )
        names.append(name)
    if kind.required and kind.required not in names:
        raise _problem(path, f"not {a} {noun}: the archive has no {kind.required} at its root")
    return names


def check_archive(path: str | Path) -> list[str]:
    """Return the member names of the FMU at `path`, or raise ConfigError.

    Raises for a missing file, a file that is not a zip archive, a missing
    modelDescription.xml, and any entry that is absolute, climbs out with `..`,
    uses a drive letter or backslash traversal, or is a symbolic link.
    """
    path = Path(path)
    if path.is_dir():
        return _check_folder(path)
    return check_zip(path, FMU)


def _check_folder(path: Path) -> list[str]:
    """An already-unpacked FMU folder: no symlinks, nothing resolving outside the folder."""
    if not (path / "modelDescription.xml").is_file():
        raise _problem(path, "folder has no modelDescription.xml", "point to an .fmu file")
    root = path.resolve()
    names = []
    for p in path.rglob("*"):
        if p.is_symlink():
            raise _problem(
                path,
                f"unsafe entry {str(p.relative_to(path))!r} is a symbolic link",
                "refusing to use an FMU folder with links",
            )
        if root not in p.resolve().parents:
            raise _problem(path, f"unsafe entry {str(p)!r} lies outside the folder")
        names.append(str(p.relative_to(path)))
    return names


def extract(path: str | Path, target: str | Path | None = None) -> Path:
    """Check, then unpack the FMU into `target` (a new temporary folder by default)."""
    path = Path(path)
    check_archive(path)
    if path.is_dir():
        return path
    dest = Path(target) if target else Path(tempfile.mkdtemp(prefix=f"cosim_{path.stem}_"))
    return _unpack(path, dest)


def extract_zip(path: str | Path, target: str | Path, kind: ArchiveKind = FMU) -> Path:
    """Check the zip archive at `path` (check_zip), then unpack it into the folder `target`."""
    path = Path(path)
    check_zip(path, kind)
    return _unpack(path, Path(target))


def _unpack(path: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            out = (root / info.filename).resolve()
            if root != out and root not in out.parents:  # belt and braces after check_zip
                raise _problem(path, f"unsafe archive entry {info.filename!r}")
            zf.extract(info, root)
    return dest


def read_model_description(path: str | Path):
    """Check the archive, then parse its modelDescription.xml with fmpy (ConfigError on failure)."""
    from fmpy import read_model_description as _read

    path = Path(path)
    check_archive(path)
    try:
        return _read(str(path), validate=False)
    except Exception as exc:  # fmpy raises various types for broken XML
        if isinstance(exc, AttributeError):  # e.g. a root element other than fmiModelDescription
            exc = "not an FMI model description (expected root element <fmiModelDescription>)"
        raise _problem(path, f"cannot read modelDescription.xml: {exc}") from None


def interface_attributes(path: str | Path) -> dict[str, dict[str, str]]:
    """The attributes of each interface element (CoSimulation, ModelExchange, ...) as written
    in modelDescription.xml: FMI 3.0 names fmpy does not read (providesDirectionalDerivatives).
    Parsed with lxml, entities and network off; {} when the file cannot be read."""
    root = model_description_root(path)
    if root is None:
        return {}
    names = ("CoSimulation", "ModelExchange", "ScheduledExecution")
    return {child.tag: dict(child.attrib) for child in root if child.tag in names}


def clock_attributes(path: str | Path) -> dict[str, dict[str, str]]:
    """The attributes of each Clock variable (FMI 3.0) by name, as written in
    modelDescription.xml (fmpy does not read intervalDecimal); {} when unreadable."""
    root = model_description_root(path)
    if root is None:
        return {}
    variables = root.find("ModelVariables")
    if variables is None:
        return {}
    return {c.get("name", ""): dict(c.attrib) for c in variables if c.tag == "Clock"}


def model_description_root(path: str | Path) -> Any:
    """The parsed modelDescription.xml of an FMU file or folder (lxml: entities and network
    off), or None when it cannot be read."""
    from lxml import etree

    path = Path(path)
    try:
        if path.is_dir():
            data = (path / "modelDescription.xml").read_bytes()
        else:
            with zipfile.ZipFile(path) as zf:
                data = zf.read("modelDescription.xml")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        return etree.fromstring(data, parser)
    except Exception:  # reported by read_model_description
        return None
