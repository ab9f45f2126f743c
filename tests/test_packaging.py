"""The installed layout (issue 15): a wheel carries the FMU sources and systems, builds go to the
user cache. The real wheel is built and installed by .ci/wheel-smoke; here the package is laid
out as a wheel lays it out (cosim/ with its _data/ copied by setup.py's DATA patterns), outside
the checkout, and used through the real CLI in subprocesses.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _data_patterns() -> dict[str, list[str]]:
    """setup.py's DATA: which files of fmus/ and systems/ a wheel carries."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DATA":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no DATA")


def _carried(folder: str, patterns: list[str]) -> set[Path]:
    return {p for pattern in patterns for p in (ROOT / folder).glob(pattern)}


def _tracked(folder: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if line]


def test_the_wheel_carries_every_source_of_the_fmu_library_and_every_system() -> None:
    if not (ROOT / ".git").exists():
        pytest.fail("not a git checkout: the tracked files cannot be listed")
    data = _data_patterns()
    missing = []
    for folder in data:
        carried = _carried(folder, data[folder])
        for path in _tracked(folder):
            if path.suffix != ".fmu" and path not in carried:
                missing.append(str(path.relative_to(ROOT)))
    assert missing == [], f"add patterns to setup.py's DATA for: {missing}"
    assert (ROOT / "fmus/models/Mass1/model.c") in _carried("fmus", data["fmus"])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """cosim laid out as in site-packages, in a folder outside the checkout."""
    tmp = tmp_path_factory.mktemp("site")
    site = tmp / "site"
    shutil.copytree(ROOT / "cosim", site / "cosim", ignore=shutil.ignore_patterns("__pycache__"))
    data = _data_patterns()
    for folder, patterns in data.items():
        for src in _carried(folder, patterns):
            dst = site / "cosim" / "_data" / folder / src.relative_to(ROOT / folder)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return {"tmp": tmp, "site": site, "cache": tmp / "cache"}


def _cosim(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ, PYTHONPATH=str(installed["site"]), COSIM_CACHE_DIR=str(installed["cache"])
    )
    env.pop("COSIM_FMUS_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "cosim", *args],
        cwd=installed["tmp"], env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_an_installed_package_builds_bundled_fmus_into_the_user_cache(installed) -> None:
    done = _cosim(installed, "inspect", "Mass1", "--json")
    assert done.returncode == 0, done.stderr
    path = Path(json.loads(done.stdout)["path"])
    assert path.is_file() and path.is_relative_to(installed["cache"] / "fmus"), path
    assert not (installed["site"] / "cosim" / "_data" / "fmus" / "Mass1.fmu").exists()
    where = _cosim(installed, "examples", "--json")
    rows = {r["name"]: Path(r["path"]) for r in json.loads(where.stdout)}
    assert rows["dual_mass_oscillator"].is_relative_to(installed["site"] / "cosim" / "_data")


def test_an_installed_package_runs_a_bundled_example_and_its_regression(installed) -> None:
    out = installed["tmp"] / "run"
    done = _cosim(installed, "run", "--example", "dual_mass_oscillator", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / "results.h5").is_file()
    # the example names its FMUs as ../fmus/Mass1.fmu: they resolve to the cache's builds
    assert (installed["cache"] / "fmus").is_dir()
    system = installed["site"] / "cosim" / "_data" / "systems" / "dual_mass_oscillator.yaml"
    verdict = _cosim(installed, "test", str(system))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert "PASS" in verdict.stdout


def test_run_names_one_system(tmp_path: Path) -> None:
    env = dict(os.environ)
    for args, expected in (
        (["run"], "give one system"),
        (["run", "x.yaml", "--example", "dual_mass_oscillator"], "not both"),
        (["run", "--example", "dual_mass"], "did you mean 'dual_mass_oscillator'"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cosim", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr
