"""Zip archives (FMUs, SSPs): open them safely (no entry unpacks outside its folder), read XML."""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cosim.errors import ConfigError, Location, Problem

MAX_UNPACKED_BYTES = 2 * 1024**3  # refuse archives that would unpack to more than 2 GiB
# A model description is parsed into Python objects (fmpy): ~3 KB and ~30 us per variable, so
# its size is bounded before it is parsed. The largest real FMUs we know of have a few 100,000
# variables in a modelDescription.xml of a few 10 MB.
MAX_MODEL_DESCRIPTION_BYTES = 256 * 1024**2
MAX_VARIABLES = 1_000_000
_VARIABLE_TAG = re.compile(
    rb"<(ScalarVariable|Float32|Float64|U?Int(?:8|16|32|64)|Boolean|String|Binary|Enumeration"
    rb"|Clock)[\s/>]"
)
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


_CHUNK = 1 << 20
# what zipfile raises for a corrupt member: a bad deflate stream, a bad CRC, a truncated file
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: Any, path: Path, noun: str):
    """Decompress one member into the binary file `out` (None: only read it), checking its
    CRC-32 and that it unpacks to the size its header says; ConfigError if it does not."""
    count = 0
    try:
        with zf.open(info) as member:
            while chunk := member.read(_CHUNK):
                count += len(chunk)
                if out is not None:
                    out.write(chunk)
    except _CORRUPT as exc:
        raise _problem(
            path,
            f"archive entry {info.filename!r} is corrupt: {exc}",
            f"the {noun} file is damaged; export or download it again",
        ) from None
    if count != info.file_size:
        raise _problem(
            path,
            f"archive entry {info.filename!r} is corrupt: it unpacks to {count} bytes, its "
            f"header says {info.file_size}",
            f"the {noun} file is damaged; export or download it again",
        )


def verify_zip(path: str | Path, kind: ArchiveKind = FMU) -> None:
    """Decompress every member of the (checked) zip archive at `path` without writing it:
    ConfigError for a corrupt deflate stream, a bad CRC-32 or a size that lies."""
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                _copy_member(zf, info, None, path, kind.noun)


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
    return _unpack(path, dest, FMU)


def extract_zip(path: str | Path, target: str | Path, kind: ArchiveKind = FMU) -> Path:
    """Check the zip archive at `path` (check_zip), then unpack it into the folder `target`."""
    path = Path(path)
    check_zip(path, kind)
    return _unpack(path, Path(target), kind)


def _unpack(path: Path, dest: Path, kind: ArchiveKind) -> Path:
    """Unpack into `dest`, every member checked (_copy_member); on any error nothing of the
    archive stays behind (`dest` removed if this call made it or it was empty)."""
    fresh = not dest.exists() or not any(dest.iterdir())
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                out = (root / info.filename).resolve()
                if root != out and root not in out.parents:  # belt and braces after check_zip
                    raise _problem(path, f"unsafe archive entry {info.filename!r}")
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with open(out, "wb") as fh:
                    _copy_member(zf, info, fh, path, kind.noun)
    except BaseException:
        if fresh:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def read_model_description(path: str | Path):
    """Check the archive, then parse its modelDescription.xml with fmpy (ConfigError on failure)."""
    from fmpy import read_model_description as _read

    path = Path(path)
    check_archive(path)
    _check_size(path)
    try:
        return _read(str(path), validate=False)
    except Exception as exc:  # fmpy raises various types for broken XML
        if isinstance(exc, AttributeError):  # e.g. a root element other than fmiModelDescription
            exc = "not an FMI model description (expected root element <fmiModelDescription>)"
        raise _problem(path, f"cannot read modelDescription.xml: {exc}") from None


def _check_size(path: Path) -> None:
    """ConfigError if modelDescription.xml is larger than MAX_MODEL_DESCRIPTION_BYTES or declares
    more than MAX_VARIABLES variables (counted in a streaming scan, before anything is parsed)."""
    hint = "cosim's limits for one FMU are in docs/limits.md"
    try:
        if path.is_dir():
            size, opened = (path / "modelDescription.xml").stat().st_size, None
        else:
            zf = zipfile.ZipFile(path)
            size, opened = zf.getinfo("modelDescription.xml").file_size, zf
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise _problem(path, f"cannot read modelDescription.xml: {exc}") from None
    try:
        if size > MAX_MODEL_DESCRIPTION_BYTES:
            raise _problem(
                path,
                f"modelDescription.xml is {size / 1024**2:.0f} MiB, more than the "
                f"{MAX_MODEL_DESCRIPTION_BYTES // 1024**2} MiB cosim reads",
                hint,
            )
        count, tail = 0, b""
        with (
            opened.open("modelDescription.xml")
            if opened
            else open(path / "modelDescription.xml", "rb") as fh
        ):
            while chunk := fh.read(_CHUNK):
                data = tail + chunk
                cut = max(len(data) - 24, 0)  # a tag starting in the last 24 bytes: next chunk
                count += sum(1 for m in _VARIABLE_TAG.finditer(data) if m.start() < cut)
                tail = data[cut:]
                if count > MAX_VARIABLES:
                    raise _problem(
                        path,
                        f"modelDescription.xml declares more than {MAX_VARIABLES:,} variables",
                        hint,
                    )
    except _CORRUPT as exc:
        raise _problem(path, f"cannot read modelDescription.xml: {exc}") from None
    finally:
        if opened is not None:
            opened.close()


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
