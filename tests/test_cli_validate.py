"""`cosim validate` and `cosim schema`, run as the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import fmpy
import h5py

from cosim.library.build import bundled_fmu

DATA = Path(__file__).parent / "data" / "validation"
ROOT = Path(__file__).resolve().parents[1]


def cosim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    # the checkout first on the path, so the command runs this tree even when not installed
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "cosim", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def at(path: Path, needle: str, nth: int = 1) -> str:
    text = path.read_text()
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{path}:{line}:{col}"


def test_a_valid_system_exits_0_and_shows_the_step_order():
    path = DATA / "dual_mass.yaml"
    result = cosim("validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{path}: valid (2 components, 3 connections, 0 warnings)",
        "  step order: mass1 -> mass2",
        "  from the previous communication point: mass2.F -> mass1.F",
    ]


def test_warnings_alone_still_exit_0():
    path = DATA / "r_unconnected.yaml"
    result = cosim("validate", str(path))
    assert result.returncode == 0
    assert f"{at(path, 'mass1:')}: warning: input mass1.F_ext is not connected" in result.stdout
    assert f"{path}: valid (2 components, 1 connection, 2 warnings)" in result.stdout


def test_every_problem_is_printed_with_location_and_hint_and_exits_2():
    path = DATA / "names.yaml"
    result = cosim("validate", str(path))
    assert result.returncode == 2
    out = result.stdout.splitlines()
    # in file order, warnings too: gain1's inputs u and n_in are connected nowhere
    first = next(i for i, line in enumerate(out) if ": error: " in line)
    assert out[first : first + 2] == [
        f"{at(path, 'gian1.y')}: error: unknown component 'gian1' in connections[1].from",
        "    hint: did you mean 'gain1.y'? components: gain1, gain2",
    ]
    assert [line for line in out[:first] if not line.startswith("    ")] == [
        f"{at(path, 'gain1:')}: warning: input gain1.{name} is not connected; it keeps its "
        f"start value {start}"
        for name, start in (("u", "0.0"), ("n_in", "0"))
    ]
    assert out[-1] == f"{path}: 5 errors, 2 warnings"
    assert sum(": error: " in line for line in out) == 5


def test_json_output():
    path = DATA / "names.yaml"
    result = cosim("validate", str(path), "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert (report["valid"], report["errors"], report["warnings"]) == (False, 5, 2)
    first = next(p for p in report["problems"] if p["severity"] == "error")
    line, col = at(path, "gian1.y").rsplit(":", 2)[1:]
    assert first == {
        "severity": "error",
        "file": str(path),
        "line": int(line),
        "column": int(col),
        "message": "unknown component 'gian1' in connections[1].from",
        "hint": "did you mean 'gain1.y'? components: gain1, gain2",
    }
    ok = json.loads(cosim("validate", str(DATA / "dual_mass.yaml"), "--json").stdout)
    assert ok["valid"] is True
    assert ok["system"]["order"] == ["mass1", "mass2"]
    assert ok["system"]["delayed"] == ["mass2.F -> mass1.F"]


def test_set_overrides_are_checked_against_the_fmu():
    path = str(DATA / "dual_mass.yaml")
    assert cosim("validate", path, "--set", "mass1.m1=2.0", "--set", "mass2.k2=5").returncode == 0
    result = cosim("validate", path, "--set", "mass1.m1=abc", "--set", "mass2.kk=1")
    assert result.returncode == 2
    assert result.stdout.splitlines()[:4] == [
        "--set mass1.m1=abc: error: mass1.m1 must be a number, got the text 'abc'",
        "    hint: mass1.m1 is of type Real",
        "--set mass2.kk=1: error: unknown variable 'kk' in component 'mass2' (model Mass2)",
        "    hint: did you mean 'mass2.k2'? settable variables of mass2: m2, k2, c2, kc, cc, x1, "
        "v1, x2, v2",
    ]


def test_a_python_tag_is_reported_not_run(tmp_path):
    path = DATA / "unsafe_tag.yaml"
    result = cosim("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert (
        f"{at(path, '!!python')}: error: YAML tag '!!python/object/apply:os.system' is not "
        "allowed" in result.stdout
    )
    assert not (tmp_path / "cosim_pwned").exists()


def test_a_missing_file_exits_2(tmp_path):
    result = cosim("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read the system file" in result.stdout


def test_schema_prints_a_draft_2020_12_json_schema():
    result = cosim("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(schema["properties"]) == [
        "name",
        "description",
        "ssp",
        "simulation",
        "components",
        "connections",
        "record",
        "events",
        "inputs",
        "opcua",
        "plant",
        "regression",
        "monitors",
        "estimate",
        "forecast",
        "sweep",
    ]
    assert schema["required"] == ["simulation", "components"]
    sim = schema["properties"]["simulation"]
    assert sim["required"] == ["stop", "step"]
    assert sim["properties"]["algorithm"]["enum"] == [
        "gauss-seidel",
        "jacobi",
        "iterative-gauss-seidel",
    ]
    connection = schema["properties"]["connections"]["items"]["properties"]
    assert connection["convert"]["enum"] == ["round", "floor", "ceil", "truncate"]


def test_a_time_beyond_64_bit_ticks_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(
        "simulation: {stop: 1.0e10, step: 1.0}\ncomponents:\n  g: {fmu: Gain}\n"
        "events:\n  - {at: 5.0, set: {g.u: 1.0}}\n"
    )
    result = cosim("validate", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"{at(path, '1.0e10')}: error: simulation.stop = 1e+10 s is beyond the largest time "
        "cosim can represent (9.22e+09 s)",
        "    hint: time is counted in integer nanoseconds (64-bit), which spans about 292 years "
        "either side of 0; use a time between -9.22e+09 and 9.22e+09 s",
    ]


def test_an_fmu_without_a_binary_for_this_platform_exits_2(tmp_path):
    with (
        zipfile.ZipFile(bundled_fmu("Gain")) as zin,
        zipfile.ZipFile(tmp_path / "source_only.fmu", "w") as zout,
    ):
        for name in zin.namelist():
            if not name.startswith("binaries/"):
                zout.writestr(name, zin.read(name))
    path = tmp_path / "nobin.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n  g: {fmu: source_only.fmu}\n"
    )
    result = cosim("validate", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"{at(path, 'source_only.fmu')}: error: source_only.fmu: the FMU has no Co-Simulation "
        f"binary for this platform ({fmpy.platform})"
    ) in result.stdout.splitlines()


def test_an_event_at_the_stop_time_is_reported_and_indeed_changes_nothing(tmp_path):
    path = tmp_path / "stop_event.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n"
        "  g: {fmu: Gain, parameters: {n_in: 0}}\n"
        "record: {variables: [g.y]}\n"
        "events:\n  - {at: 0.5, set: {g.u: 2.0}}\n  - {at: 1.0, set: {g.u: 5.0}}\n"
    )
    result = cosim("validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        f"{at(path, '{at: 1.0')}: warning: the event at t = 1 s has no effect: it is at the "
        "stop time, where the run ends"
    )
    run = cosim("run", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert run.returncode == 0, run.stdout + run.stderr
    with h5py.File(tmp_path / "out" / "results.h5", "r") as f:
        y = f["signals/g.y"][:]
    # Gain: y = k*u + b with k = 1, b = 0; u = 2 from 0.5 s on, and the 5 at 1 s never arrives
    assert y[-1] == 2.0
