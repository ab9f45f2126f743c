"""One complete problem list: `cosim validate`, resolve.check/load (behind `cosim run`) agree.

seven.yaml::

    massX (unknown) ──► mass2.v1      + 6 other mistakes, 3 warnings
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cosim.errors import ConfigError
from cosim.io.yaml import load_system
from cosim.resolve.resolver import check, load, validate

DATA = Path(__file__).parent / "data" / "validation"
ROOT = Path(__file__).resolve().parents[1]
SEVEN = DATA / "seven.yaml"


def at(path: Path, needle: str) -> str:
    text = path.read_text()
    index = text.index(needle)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{path}:{line}:{col}"


def first_lines(problems, severity: str) -> list[str]:
    return [str(p).splitlines()[0] for p in problems if p.severity == severity]


# the mistakes planted in seven.yaml, in file order (Mass1 inputs: F, F_ext; Mass2: x1, v1)
SEVEN_ERRORS = [
    ("algoritm", "unknown key 'algoritm' in simulation"),
    ("m_typo", "unknown variable 'm_typo' in component 'mass1' (model Mass1)"),
    ("mass2.x_in", "unknown variable 'x_in' in component 'mass2' (model Mass2)"),
    ("massX.x1", "unknown component 'massX' in connections[1].from"),
    ("mass2.x_nope", "unknown variable 'x_nope' in component 'mass2' (model Mass2)"),
    ("mass1.bogus", "unknown variable 'bogus' in component 'mass1' (model Mass1)"),
    ("from: mass2.x9", "plant.serve[0].from: Mass2.fmu has no variable 'x9'"),
]
SEVEN_WARNINGS = [
    ("mass1:", "input mass1.F_ext is not connected; it keeps its start value 0.0"),
    ("mass2:", "input mass2.x1 is not connected; it keeps its start value 0.0"),
    (
        "{at: 5.0005",
        "the event at t = 5.0005 s is not on the communication grid; it is applied at t = 5 s",
    ),
]


def test_an_unknown_component_hides_none_of_the_other_problems():
    problems = validate(SEVEN)
    assert first_lines(problems, "error") == [
        f"{at(SEVEN, needle)}: error: {message}" for needle, message in SEVEN_ERRORS
    ]
    # warnings come too, while errors exist (mass2.v1 is driven by the broken connection)
    assert first_lines(problems, "warning") == [
        f"{at(SEVEN, needle)}: warning: {message}" for needle, message in SEVEN_WARNINGS
    ]
    lines = [(p.loc.line, p.loc.col) for p in problems]
    assert lines == sorted(lines)  # one list, in file order


def test_load_raises_the_same_complete_list_as_validate():
    """resolve.load is what `cosim run` raises: the same problems as `cosim validate`."""
    with pytest.raises(ConfigError) as caught:
        load(SEVEN)
    assert [str(p) for p in caught.value.problems] == [str(p) for p in validate(SEVEN)]
    assert len(caught.value.errors) == len(SEVEN_ERRORS)


def test_cosim_validate_prints_all_seven_errors_and_the_warnings():
    result = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", str(SEVEN)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    out = result.stdout.splitlines()
    assert sum(": error: " in line for line in out) == len(SEVEN_ERRORS)
    assert sum(": warning: " in line for line in out) == len(SEVEN_WARNINGS)
    assert out[-1] == f"{SEVEN}: 7 errors, 3 warnings"


STOP = """\
simulation: {stop: 1.0, step: 0.1}
components:
  mass: {fmu: Mass1, parameters: {F: 0.0}}
events:
  - {at: 0.5, set: {mass.F_ext: 1.0}}
  - {at: 0.8, set: {mass.F_ext: 2.0}}
"""


def test_events_after_the_stop_override_are_dropped_with_a_warning(tmp_path: Path):
    path = tmp_path / "stop.yaml"
    path.write_text(STOP)
    expected = (
        f"{at(path, '{at: 0.8')}: warning: the event at t = 0.8 s is after the stop time "
        "t = 0.6 s; it is not applied"
    )
    spec = load_system(path, stop=0.6)
    assert [e.at for e in spec.events] == [0.5]
    assert [str(w).splitlines()[0] for w in spec.warnings] == [expected]
    system, problems = check(path, stop=0.6)
    assert system is not None and system.stop_tick == 600_000_000
    assert [str(w).splitlines()[0] for w in system.warnings] == [expected]
    assert [str(p).splitlines()[0] for p in problems] == [expected]  # once, not twice
    # without --stop, both events stay and nothing is said
    assert check(path)[1] == []


def test_a_bad_stop_override_is_one_more_problem_in_the_list(tmp_path: Path):
    path = tmp_path / "stop.yaml"
    path.write_text(STOP.replace("mass.F_ext: 2.0", "mass.F_nope: 2.0"))
    system, problems = check(path, stop=-0.65)
    assert system is None
    assert [str(p).splitlines()[0] for p in problems] == [
        f"{at(path, 'mass.F_nope')}: error: unknown variable 'F_nope' in component 'mass' "
        "(model Mass1)",
        "--stop: error: --stop -0.65 must be greater than simulation.start (0)",
    ]


def test_cosim_validate_stop_lists_the_dropped_events(tmp_path: Path):
    path = tmp_path / "stop.yaml"
    path.write_text(STOP)
    result = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", str(path), "--stop", "0.6"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        f"{at(path, '{at: 0.8')}: warning: the event at t = 0.8 s is after the stop time "
        "t = 0.6 s; it is not applied"
    )
    assert f"{path}: valid (1 component, 0 connections, 1 warning)" in result.stdout


LIVE = """\
simulation: {stop: 1.0, step: 0.1}
components:
  g: {fmu: Gain}
opcua:
  endpoint: opc.tcp://127.0.0.1:4840
  inputs: [{node: "ns=2;s=Plant.U", to: g.u}]
"""


def test_an_input_the_plant_drives_is_not_reported_unconnected(tmp_path: Path):
    """Gain has two inputs, u and n_in: the live one (u) is driven, n_in keeps its start."""
    path = tmp_path / "live.yaml"
    path.write_text(LIVE)
    spec = load_system(path)
    assert [str(i.to) for i in spec.opcua.inputs] == ["g.u"]
    from cosim.resolve.resolver import resolve_system

    for warnings in (resolve_system(spec).warnings, check(path)[1]):
        assert [w.message for w in warnings] == [
            "input g.n_in is not connected; it keeps its start value 0"
        ]
