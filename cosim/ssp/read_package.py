"""An .ssp archive unpacked once into a content-addressed cache folder that outlives the reader."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from cosim.errors import ConfigError
from cosim.fmu.archive import SSP, extract_zip

CACHE_NAME = "cosim-ssp"


def cache_root() -> Path:
    """`<temp>/cosim-ssp` (created private to this user; another user's folder is not used)."""
    root = Path(tempfile.gettempdir()) / CACHE_NAME
    root.mkdir(mode=0o700, exist_ok=True)
    if hasattr(os, "getuid") and root.stat().st_uid != os.getuid():
        root = Path(tempfile.gettempdir()) / f"{CACHE_NAME}-{os.getuid()}"
        root.mkdir(mode=0o700, exist_ok=True)
    return root


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(path: str | Path) -> tuple[Path, str]:
    """(the folder holding the unpacked archive, its sha256); ConfigError for an unsafe archive.

    The folder is `<cache_root>/<sha256>`: the same archive is unpacked once. It is unpacked
    into a temporary sibling first and renamed into place, so a concurrent run sees either no
    folder or a complete one (the loser of a race removes its copy and uses the winner's).
    """
    path = Path(path)
    try:
        digest = sha256_file(path)
    except OSError as exc:
        from cosim.errors import Location, Problem

        raise ConfigError(
            Problem(Location(str(path)), f"cannot read the file: {exc.strerror}")
        ) from None
    root = cache_root()
    final = root / digest
    if final.is_dir():
        return final, digest
    work = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
    try:
        extract_zip(path, work / "package", SSP)
        try:
            os.rename(work / "package", final)
        except OSError:
            if not final.is_dir():  # not a lost race: a real failure
                raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return final, digest


__all__ = ["CACHE_NAME", "cache_root", "sha256_file", "unpack"]
