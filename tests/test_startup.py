"""Start-up stays lean: each `cosim` command imports only what its own work needs (issue 8, #11).

Each test runs `python -m cosim ...` in a subprocess that writes the names in `sys.modules` at
exit (every module the process loaded); no time is judged here, bench/startup.py measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cosim.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DUAL_MASS = ROOT / "systems" / "dual_mass_oscillator.yaml"
# third-party packages that take tens to hundreds of milliseconds to import
HEAVY = {"numpy", "fmpy", "h5py", "yaml", "rich", "asyncua", "scipy", "matplotlib", "lxml"}
COMMAND_MODULES = {f"cosim.cli.{name.replace('-', '_')}" for name in COMMANDS}
# `python -m cosim ARGS`, then the loaded modules into the file argv[1] (also after SystemExit)
_WRAPPER = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "cosim"
runpy.run_module("cosim", run_name="__main__", alter_sys=True)
"""


def cosim_imports(
    tmp_path: Path, *args: str | Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -m cosim ARGS`; the process and every module it had loaded at exit."""
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(out), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},  # argparse: one help line per command
    )
    modules = set(json.loads(out.read_text()))
    assert "cosim.cli" in modules, proc.stderr[-2000:]
    return proc, modules


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_command_and_no_heavy_package(flag: str, tmp_path: Path) -> None:
    proc, modules = cosim_imports(tmp_path, flag)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert roots(modules) & HEAVY == set()
    assert {m for m in modules if m.startswith("cosim.")} <= {"cosim.cli", "cosim.errors"}


def test_help_lists_every_command_with_its_one_line_help(tmp_path: Path) -> None:
    proc, _ = cosim_imports(tmp_path, "--help")
    lines = [" ".join(line.split()) for line in proc.stdout.splitlines()]
    for name, help_text in COMMANDS.items():
        assert f"{name} {help_text}" in lines, proc.stdout


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    proc, _ = cosim_imports(tmp_path, "--version")
    from importlib.metadata import version

    assert proc.stdout.strip() == f"cosim {version('cosim')}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_help_builds_only_that_command(name: str, tmp_path: Path) -> None:
    proc, modules = cosim_imports(tmp_path, name, "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"usage: cosim {name} ")
    assert COMMANDS[name] in " ".join(proc.stdout.split())  # the description
    assert modules & COMMAND_MODULES == {f"cosim.cli.{name.replace('-', '_')}"}


def test_an_unknown_command_still_lists_every_command_and_exits_2(tmp_path: Path) -> None:
    proc, modules = cosim_imports(tmp_path, "bogus")
    assert proc.returncode == 2
    assert "invalid choice: 'bogus'" in proc.stderr
    assert all(repr(name) in proc.stderr for name in COMMANDS)
    assert modules & COMMAND_MODULES == set()


def test_validate_imports_no_results_plot_gui_or_opcua_package(tmp_path: Path) -> None:
    proc, modules = cosim_imports(tmp_path, "validate", DUAL_MASS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "valid" in proc.stdout
    assert roots(modules) & {"h5py", "rich", "asyncua", "scipy", "matplotlib"} == set()
    assert modules & COMMAND_MODULES == {"cosim.cli.validate"}


def test_run_of_an_offline_system_imports_no_plot_or_opcua_package(tmp_path: Path) -> None:
    proc, modules = cosim_imports(tmp_path, "run", DUAL_MASS, "--out", tmp_path / "out", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "out" / "results.h5").is_file()
    assert roots(modules) & {"asyncua", "scipy", "matplotlib"} == set()
    assert modules & COMMAND_MODULES == {"cosim.cli.run"}
