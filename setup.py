"""Packaging hook: the wheel carries the bundled FMU sources and the example systems.

A checkout keeps them at the repository root (``fmus/``, ``systems/``); a wheel carries copies as
package data in ``cosim/_data/`` (see cosim/paths.py). Built FMUs are never packaged: they are
compiled on first use into the per-user cache. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# (folder under the root, glob patterns of what to carry); nothing that a build produces
DATA = {
    "fmus": ["common/*.c", "common/*.h", "models/*/*.c", "models/*/*.h", "models/*/model.yaml",
             "special/*/*.c", "special/*/*.h", "special/*/modelDescription.xml"],
    "systems": ["*.yaml", "*.csv", "references/*.h5", "references/*.py"],
}  # fmt: skip


class BuildPyWithData(build_py):
    """build_py that also copies DATA into the built package (not for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads fmus/ and systems/ in the checkout itself
        target = Path(self.build_lib) / "cosim" / "_data"
        for folder, patterns in DATA.items():
            for pattern in patterns:
                for src in sorted((ROOT / folder).glob(pattern)):
                    dst = target / folder / src.relative_to(ROOT / folder)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithData})
