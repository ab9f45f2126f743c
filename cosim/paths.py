"""Where cosim's own files live: the bundled data (FMU sources, systems) and the per-user cache.

A source checkout (a clone, ``pip install -e``) keeps its data at the repository root:
``fmus/`` (the FMU library's C sources, built in place) and ``systems/``. An installed wheel
carries the same two folders as package data in ``cosim/_data/``; what it builds (the bundled
FMUs, the step kernel) goes to the per-user cache, never into site-packages, which may be
read-only. Builds are keyed by a hash of their sources and of the compiler (`compiler_id`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
CACHE_VARIABLES = ("COSIM_CACHE_DIR", "COSIM_CACHE")  # the second: the name before issue 15


def checkout_root() -> Path | None:
    """The repository root when cosim runs from a source checkout, else None."""
    root = _PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "fmus" / "models").is_dir():
        return root
    return None


def data_dir() -> Path:
    """The folder holding ``fmus/`` and ``systems/``: the checkout's root or the wheel's data."""
    return checkout_root() or _PACKAGE / "_data"


def systems_dir() -> Path:
    """The bundled example systems (``systems/*.yaml``)."""
    return data_dir() / "systems"


def examples() -> dict[str, Path]:
    """The bundled example systems by name (the file name without ``.yaml``), sorted."""
    folder = systems_dir()
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    return {f.stem: f for f in files}


def cache_dir() -> Path:
    """The per-user cache: COSIM_CACHE_DIR (or COSIM_CACHE), else the platform's user cache."""
    for name in CACHE_VARIABLES:
        if os.environ.get(name):
            return Path(os.environ[name])
    try:
        import platformdirs

        return Path(platformdirs.user_cache_path("cosim"))
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        return Path.home() / ".cache" / "cosim"


@functools.cache
def compiler_id() -> str:
    """Which C compiler builds run with (CC, else gcc): its path and `--version`; "" if none."""
    cc = shutil.which(os.environ.get("CC", "gcc"))
    if cc is None:
        return ""
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{os.path.realpath(cc)}\n{out.strip()}"


__all__ = ["cache_dir", "checkout_root", "compiler_id", "data_dir", "examples", "systems_dir"]
