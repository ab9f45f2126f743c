"""Open FMU archives safely: reject entries that would unpack outside the target folder."""

from __future__ import annotations

import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from cosim.errors import ConfigError, Location, Problem


def _problem(path: Path, message: str, hint: str = "") -> ConfigError:
    return ConfigError(Problem(Location(str(path)), message, hint))


def check_archive(path: str | Path) -> list[str]:
    """Return the member names of the FMU at `path`, or raise ConfigError.

    Raises for a missing file, a file that is not a zip archive, a missing
    modelDescription.xml, and any entry that is absolute, climbs out with `..`,
    uses a drive letter or backslash traversal, or is a symbolic link.
    """
    path = Path(path)
    if not path.exists():
        raise _problem(path, "no such file", "check the path; relative paths are relative to the YAML file")
    if path.is_dir():
        if not (path / "modelDescription.xml").is_file():
            raise _problem(path, "folder has no modelDescription.xml", "point to an .fmu file")
        return [str(p.relative_to(path)) for p in path.rglob("*")]
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _problem(path, f"not an FMU: not a valid zip archive ({exc})",
                       "an FMU is a zip file with a modelDescription.xml at its root") from None
    names = []
    for info in infos:
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if (
            pure.is_absolute()
            or ".." in pure.parts
            or (pure.parts and ":" in pure.parts[0])
        ):
            raise _problem(path, f"unsafe archive entry {name!r} would unpack outside the target folder",
                           "the FMU is corrupt or malicious; refusing to open it")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _problem(path, f"unsafe archive entry {name!r} is a symbolic link",
                           "the FMU is corrupt or malicious; refusing to open it")
        names.append(name)
    if "modelDescription.xml" not in names:
        raise _problem(path, "not an FMU: the archive has no modelDescription.xml at its root")
    return names


def extract(path: str | Path, target: str | Path | None = None) -> Path:
    """Check, then unpack the FMU into `target` (a new temporary folder by default)."""
    path = Path(path)
    check_archive(path)
    if path.is_dir():
        return path
    dest = Path(target) if target else Path(tempfile.mkdtemp(prefix=f"cosim_{path.stem}_"))
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            out = (root / info.filename).resolve()
            if root != out and root not in out.parents:  # belt and braces after check_archive
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
        raise _problem(path, f"cannot read modelDescription.xml: {exc}") from None
