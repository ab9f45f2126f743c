"""Reading system YAML: each structural rule reports its exact message at its file:line:col."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import pytest

from cosim.errors import ConfigError
from cosim.io.schema import SCHEMA
from cosim.io.yaml import check_stop_override, load_system, parse_ref, read_system, with_stop
from cosim.model.spec import VarRef
from cosim.resolve.resolver import check

DATA = Path(__file__).parent / "data" / "validation"
ROOT = Path(__file__).resolve().parents[1]


def at(path: Path, needle: str, nth: int = 1, skip: str = "") -> str:
    """`file:line:col` of the nth occurrence of `skip + needle` in the file, pointing at `needle`
    (1-based, as editors show)."""
    text = path.read_text()
    index = -1
    for _ in range(nth):
        index = text.index(skip + needle, index + 1)
    index += len(skip)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{path}:{line}:{col}"


def first_lines(problems) -> list[str]:
    return [str(p).splitlines()[0] for p in problems]


def problems_of(name: str, overrides=()) -> list:
    return read_system(DATA / name, overrides)[1]


# --------------------------------------------------------------------------- a valid file
def test_the_issue_example_reads_into_a_system_spec():
    path = DATA / "dual_mass.yaml"
    spec = load_system(path)
    assert spec.name == "dual_mass_oscillator"
    assert spec.description == "Two masses coupled by a spring-damper, split into two FMUs."
    assert spec.path == path.resolve()
    assert spec.text == path.read_text()
    assert spec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    sim = spec.simulation
    assert (sim.start, sim.stop, sim.step, sim.algorithm, sim.realtime) == (
        0.0,
        15.0,
        1e-3,
        "gauss-seidel",
        None,
    )
    assert list(spec.components) == ["mass1", "mass2"]
    mass1, mass2 = spec.components.values()
    assert mass1.fmu == "../../../fmus/Mass1.fmu"
    assert mass1.fmu_path == (ROOT / "fmus" / "Mass1.fmu").resolve()
    assert mass2.fmu_path == (ROOT / "fmus" / "Mass2.fmu").resolve()
    assert mass1.parameters == {"m1": 1.0}
    assert str(mass1.parameter_locs["m1"]) == at(path, "m1: 1.0")
    assert (mass1.step, mass2.step) == (1e-3, None)
    assert str(mass1.loc) == at(path, "mass1:")
    assert str(mass1.fmu_loc) == at(path, "../../../fmus/Mass1.fmu")
    links = [(str(c.source), str(c.target), c.gain, c.offset, c.convert) for c in spec.connections]
    assert links == [
        ("mass1.x1", "mass2.x1", 1.0, 0.0, None),
        ("mass1.v1", "mass2.v1", 1.0, 0.0, None),
        ("mass2.F", "mass1.F", 1.0, 0.0, None),
    ]
    assert str(spec.connections[2].source.loc) == at(path, "mass2.F")
    assert str(spec.connections[2].target.loc) == at(path, "mass1.F")
    assert [str(v) for v in spec.record.variables] == ["mass1.x1", "mass2.x2"]
    assert spec.record.interval == 1e-2
    assert len(spec.events) == 1
    assert spec.events[0].at == 5.0
    assert dict(spec.events[0].set) == {VarRef("mass1", "F_ext"): 10.0}
    assert spec.extra == {}
    assert spec.warnings == ()


def test_yaml_1_2_floats_anchors_merge_keys_and_later_sections():
    spec = load_system(DATA / "features.yaml")
    assert spec.name == "features"  # default: the file name
    assert (spec.simulation.start, spec.simulation.stop, spec.simulation.step) == (0.0, 0.2, 0.01)
    assert spec.simulation.realtime == 1
    assert spec.simulation.algorithm == "gauss-seidel"
    first, second = spec.components.values()
    assert first.parameters == {"k": 2.0, "b": -1}
    assert second.fmu == "Gain"  # merged from the anchor
    assert second.parameters == {"k": 0.5}  # an explicit key beats the merged one
    assert spec.extra == {
        "opcua": {"endpoint": "opc.tcp://localhost:4840"},
        "plant": {"serve": [{"from": "second.y", "node": "ns=2;s=Plant.Y"}]},
        "regression": {"reference": "references/features.h5", "signals": ["second.y"]},
    }
    # the live sections are typed too
    assert spec.opcua.endpoint == "opc.tcp://localhost:4840" and spec.opcua.inputs == ()
    (served,) = spec.plant.serve
    assert (str(served.source), served.node) == ("second.y", "ns=2;s=Plant.Y")
    assert str(served.source.loc) == at(DATA / "features.yaml", "from: second.y")
    assert spec.plant.endpoint == "opc.tcp://127.0.0.1:4840"  # the default


@pytest.mark.parametrize(
    ("text", "component", "variable"),
    [
        ("mass1.x1", "mass1", "x1"),
        ("mass2.der(x2)", "mass2", "der(x2)"),
        ("plant.body.pos[1]", "plant", "body.pos[1]"),
    ],
)
def test_a_reference_splits_at_the_first_dot(text, component, variable):
    ref = parse_ref(text)
    assert (ref.component, ref.variable, str(ref)) == (component, variable, text)


# --------------------------------------------------------------------------- YAML level
def test_python_tags_are_errors_and_never_run(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.chdir(tmp_path)
    path = DATA / "unsafe_tag.yaml"
    problems = problems_of("unsafe_tag.yaml")
    assert first_lines(problems) == [
        f"{at(path, '!!python')}: error: YAML tag '!!python/object/apply:os.system' is not allowed",
        f"{at(path, '!custom')}: error: YAML tag '!custom' is not allowed",
    ]
    assert problems[0].hint == (
        "system files hold plain data (mappings, lists, text, numbers, true/false); remove the tag"
    )
    assert calls == []
    assert not (tmp_path / "cosim_pwned").exists()


def test_yaml_syntax_error_points_at_the_problem():
    path = DATA / "yaml_syntax.yaml"
    spec, problems = read_system(path)
    assert spec is None
    # the parser notices at the end of the file (line 6) that the `{` on line 5 never closed
    assert first_lines(problems) == [
        f"{path}:6:1: error: invalid YAML: expected ',' or '}}', but got '<stream end>' "
        f"(while parsing a flow mapping at {at(path, '{fmu').split(':', 1)[1]})"
    ]


def test_duplicate_keys():
    path = DATA / "duplicate_keys.yaml"
    problems = problems_of("duplicate_keys.yaml")
    assert first_lines(problems) == [
        f"{at(path, 'gain:', 2)}: error: duplicate key 'gain' in components"
    ]
    assert problems[0].hint == f"'gain' is already given at {at(path, 'gain:')}; keep one of them"


def test_empty_file_and_a_file_that_is_not_a_mapping(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert first_lines(read_system(empty)[1]) == [f"{empty}:1:1: error: the file is empty"]
    listed = tmp_path / "list.yaml"
    listed.write_text("- simulation\n- components\n")
    assert first_lines(read_system(listed)[1]) == [
        f"{listed}:1:1: error: the file must be a mapping, got a list"
    ]
    missing = tmp_path / "missing.yaml"
    assert first_lines(read_system(missing)[1]) == [
        f"{missing}: error: cannot read the system file: No such file or directory"
    ]


def test_a_file_that_cannot_be_read_gets_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = read_system("missing.yaml")[1]
    assert first_lines(missing) == [
        "missing.yaml: error: cannot read the system file: No such file or directory"
    ]
    assert missing[0].hint == (
        f"check the path; a relative path starts from the current folder {Path.cwd()}"
    )
    (tmp_path / "folder.yaml").mkdir()
    folder = read_system("folder.yaml")[1]
    assert first_lines(folder) == [
        "folder.yaml: error: cannot read the system file: Is a directory"
    ]
    assert folder[0].hint == "give the system .yaml file, not a folder"
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    latin1 = read_system("latin1.yaml")[1]
    assert first_lines(latin1) == [
        "latin1.yaml: error: cannot read the system file: 'utf-8' codec can't decode byte 0xe9 "
        "in position 9: invalid continuation byte"
    ]
    assert latin1[0].hint == "save the file as UTF-8 text"


def test_keys_that_are_not_text_and_merges_of_non_mappings():
    path = DATA / "yaml_keys.yaml"
    problems = problems_of("yaml_keys.yaml")
    assert first_lines(problems) == [
        f"{at(path, 'not-a-mapping')}: error: '<<' must merge a mapping",
        f"{at(path, '[a, b]')}: error: a key must be plain text",
    ]
    assert [p.hint for p in problems] == [
        "give a mapping or an alias of one, e.g. <<: *defaults with defaults: &defaults "
        "{fmu: Gain}, or a list of such aliases",
        "write the key as a plain name such as mass1: or m1:; a list, a mapping or a tagged "
        "value cannot be a key",
    ]


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    begin = time.perf_counter()
    problems = read_system(path)[1]
    assert time.perf_counter() - begin < 5.0  # expanding it fully would take ~10^9 nodes
    assert first_lines(problems) == [
        f"{path}:1:1: error: the document is too large once its aliases are expanded"
    ]


# --------------------------------------------------------------------------- schema level
def test_unknown_keys_suggest_the_closest_allowed_key():
    path = DATA / "unknown_keys.yaml"
    problems = problems_of("unknown_keys.yaml")
    assert first_lines(problems) == [
        f"{at(path, 'algoritm')}: error: unknown key 'algoritm' in simulation",
        f"{at(path, 'paramters')}: error: unknown key 'paramters' in components.gain",
        f"{at(path, 'gian')}: error: unknown key 'gian' in connections[0]",
        f"{at(path, 'evnets')}: error: unknown key 'evnets' at the top level",
    ]
    assert [p.hint for p in problems] == [
        "did you mean 'algorithm'? allowed keys: start, stop, step, algorithm, tolerance, "
        "extrapolation, algebraic_loops, loop_solver, step_control, realtime, isolation, "
        "timeout, engine",
        "did you mean 'parameters'? allowed keys: fmu, description, parameters, step, "
        "interface, solver, tolerance, max_step, isolation, timeout",
        "did you mean 'gain'? allowed keys: from, to, gain, offset, extrapolation, convert, "
        "unit_conversion, mapping",
        "did you mean 'events'? allowed keys: name, description, ssp, simulation, components, "
        "connections, record, events, inputs, opcua, plant, regression, monitors, estimate, "
        "forecast, sweep",
    ]


def test_wrong_types():
    path = DATA / "wrong_types.yaml"
    problems = problems_of("wrong_types.yaml")
    assert first_lines(problems) == [
        f"{at(path, 'fast')}: error: simulation.step must be a number, got the text 'fast'",
        f"{at(path, '3')}: error: components.gain.fmu must be text, got the number 3",
        f"{at(path, '{a: 1}')}: error: components.gain.parameters.k must be a number, "
        "true/false, text or a list, got a mapping",
        f"{at(path, 'twice')}: error: connections[0].gain must be a number, got the text 'twice'",
        f"{at(path, 'gain.y', 2)}: error: record.variables must be a list, got the text 'gain.y'",
        f"{at(path, 'soon')}: error: events[0].at must be a number, got the text 'soon'",
    ]
    # the hint is the key's description from the schema
    assert (
        problems[0].hint == SCHEMA["properties"]["simulation"]["properties"]["step"]["description"]
    )


def test_required_keys():
    path = DATA / "required.yaml"
    problems = problems_of("required.yaml")
    assert first_lines(problems) == [
        f"{at(path, 'simulation:')}: error: simulation is missing the key 'stop'",
        f"{at(path, 'gain:')}: error: components.gain is missing the key 'fmu'",
        f"{at(path, '{from')}: error: connections[0] is missing the key 'to'",
        f"{at(path, '{set')}: error: events[0] is missing the key 'at'",
    ]
    assert problems[1].hint.startswith("The FMU: a path ending in .fmu")
    path = DATA / "no_sections.yaml"
    assert first_lines(problems_of("no_sections.yaml")) == [
        f"{path}:1:1: error: the file is missing the key 'simulation'",
        f"{path}:1:1: error: the file is missing the key 'components'",
    ]


def test_numbers_that_must_be_positive():
    path = DATA / "numbers.yaml"
    assert first_lines(problems_of("numbers.yaml")) == [
        f"{at(path, '0', skip='step: ')}: error: simulation.step must be greater than 0, got 0",
        f"{at(path, '0', skip='realtime: ')}: error: simulation.realtime must be greater than 0, "
        "got 0",
        f"{at(path, '-1.0e-3')}: error: components.gain.step must be greater than 0, got -0.001",
        f"{at(path, '0', skip='interval: ')}: error: record.interval must be greater than 0, got 0",
    ]


def test_enumerations_suggest_the_closest_choice():
    path = DATA / "enums.yaml"
    problems = problems_of("enums.yaml")
    assert first_lines(problems) == [
        f"{at(path, 'gauss')}: error: simulation.algorithm must be one of gauss-seidel, jacobi, "
        "iterative-gauss-seidel, got the text 'gauss'",
        f"{at(path, 'rounding')}: error: connections[0].convert must be one of round, floor, "
        "ceil, truncate, got the text 'rounding'",
    ]
    assert [p.hint for p in problems] == ["did you mean 'gauss-seidel'?", "did you mean 'round'?"]


def test_name_and_reference_patterns():
    path = DATA / "patterns.yaml"
    assert first_lines(problems_of("patterns.yaml")) == [
        f"{at(path, 'mass-1')}: error: components: 'mass-1' must start with a letter or _ and "
        "contain only letters, digits and _",
        f"{at(path, 'gain,')}: error: connections[0].from must be written component.variable "
        "(e.g. mass1.x1), got 'gain'",
        f"{at(path, 'gain:', 2)}: error: events[0].set: 'gain' must be written "
        "component.variable (e.g. mass1.x1)",
    ]


# --------------------------------------------------------------------------- semantic level
def test_stop_must_be_after_start():
    path = DATA / "time_span.yaml"
    problems = problems_of("time_span.yaml")
    assert first_lines(problems) == [
        f"{at(path, '1.0')}: error: simulation.stop (1) must be greater than simulation.start (2)"
    ]


def test_a_run_length_off_the_step_grid_is_allowed():
    # the last communication step is shorter, as in fmpy and other importers
    assert problems_of("multiples.yaml") == []


def test_step_hints_name_valid_multiples_exactly(tmp_path):
    # with start 1e-5 and step 1e6, a `.12g` hint rounded both suggestions off the grid
    path = tmp_path / "hint.yaml"
    path.write_text(
        "simulation: {start: 1.0e-5, stop: 1.0e8, step: 1.0e6}\n"
        "components:\n  g: {fmu: Gain, step: 2.5e6}\n"
    )
    problems = [p for p in check(path)[1] if p.severity == "error"]
    assert len(problems) == 1
    hint = problems[0].hint
    values = [float(v) for v in re.findall(r"step: (\S+)", hint.replace(" or ", " "))]
    assert len(values) == 2
    for value in values:  # each suggestion is a multiple of the step, to the tick
        ticks = round(value * 1e9)
        assert ticks % round(1.0e6 * 1e9) == 0, hint


def test_component_steps_record_interval_and_event_times():
    path = DATA / "steps.yaml"
    problems = problems_of("steps.yaml")
    assert first_lines(problems) == [
        f"{at(path, '2.5e-3')}: error: components.odd.step = 0.0025 s is not an integer "
        "multiple of simulation.step = 0.001 s",
        f"{at(path, '1.5e-3')}: error: record.interval = 0.0015 s is not an integer multiple "
        "of simulation.step = 0.001 s",
        f"{at(path, '0.5')}: error: events[2].at = 0.5 s is outside the simulation time [1, 2] s",
        f"{at(path, '2.5,')}: error: events[3].at = 2.5 s is outside the simulation time [1, 2] s",
    ]
    assert [p.hint for p in problems[:2]] == [
        "use step: 0.002 or step: 0.003",
        "use interval: 0.001 or interval: 0.002",
    ]


TIME_RANGE_HINT = (
    "time is counted in integer nanoseconds (64-bit), which spans about 292 years either side "
    "of 0; use a time between -9.22e+09 and 9.22e+09 s"
)
SPAN_HINT = (
    "time is counted in integer nanoseconds (64-bit), so a run lasts at most 9.22e+09 s (about "
    "292 years); move start and stop closer together"
)


def test_times_beyond_64_bit_ticks_are_errors_not_crashes():
    # 2**63 ns = 9.223e9 s: the largest tick count a signed 64-bit integer holds
    path = DATA / "time_range.yaml"
    problems = problems_of("time_range.yaml")
    beyond = "time cosim can represent"
    assert first_lines(problems) == [
        f"{at(path, '-1.0e10')}: error: simulation.start = -1e+10 s is beyond the smallest "
        f"{beyond} (-9.22e+09 s)",
        f"{at(path, '1.0e300')}: error: simulation.stop = 1e+300 s is beyond the largest "
        f"{beyond} (9.22e+09 s)",
        f"{at(path, '1.0e10', skip='step: ')}: error: simulation.step = 1e+10 s is beyond the "
        f"largest {beyond} (9.22e+09 s)",
        f"{at(path, '2.0e10')}: error: components.gain.step = 2e+10 s is beyond the largest "
        f"{beyond} (9.22e+09 s)",
        f"{at(path, '1.0e11')}: error: record.interval = 1e+11 s is beyond the largest "
        f"{beyond} (9.22e+09 s)",
        f"{at(path, '1.0e10', skip='at: ')}: error: events[0].at = 1e+10 s is beyond the "
        f"largest {beyond} (9.22e+09 s)",
        f"{at(path, '-.inf')}: error: events[1].at must be a finite number, got -inf",
    ]
    assert [p.hint for p in problems[:6]] == [TIME_RANGE_HINT] * 6


def test_a_run_longer_than_64_bit_ticks_is_an_error():
    path = DATA / "long_run.yaml"
    problems = problems_of("long_run.yaml")
    assert first_lines(problems) == [
        f"{at(path, '5.0e9', skip='stop: ')}: error: simulation.stop - simulation.start = "
        "1e+10 s is longer than the longest run cosim can represent (9.22e+09 s)"
    ]
    assert problems[0].hint == SPAN_HINT


def test_times_just_inside_the_tick_range_are_accepted(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(
        "simulation: {start: -9.2e9, stop: 0.0, step: 1.0e6}\n"
        "components:\n  g: {fmu: Gain, step: 2.0e6}\n"
        "events:\n  - {at: -1.0e9, set: {g.u: 1.0}}\n"
    )
    spec = load_system(path)
    assert (spec.simulation.start, spec.simulation.stop) == (-9.2e9, 0.0)


@pytest.mark.parametrize(
    ("stop", "message", "hint"),
    [
        (float("nan"), "--stop must be a finite number of seconds, got nan", ""),
        (float("-inf"), "--stop must be a finite number of seconds, got -inf", ""),
        (
            1e300,
            "--stop = 1e+300 s is beyond the largest time cosim can represent (9.22e+09 s)",
            TIME_RANGE_HINT,
        ),
        (
            0.0,
            "--stop 0 must be greater than simulation.start (0)",
            "--stop is the end time of the run in seconds",
        ),
    ],
)
def test_a_stop_time_from_the_command_line_follows_the_rules_of_the_file(stop, message, hint):
    spec = load_system(DATA / "dual_mass.yaml")
    problems = check_stop_override(spec, stop)
    assert [(str(p.loc), p.severity, p.message, p.hint) for p in problems] == [
        ("--stop", "error", message, hint)
    ]
    with pytest.raises(ConfigError) as caught:
        load_system(DATA / "dual_mass.yaml", stop=stop)
    assert str(caught.value).splitlines()[0] == f"--stop: error: {message}"


def test_a_valid_stop_time_from_the_command_line_replaces_the_files(tmp_path):
    spec = load_system(DATA / "dual_mass.yaml", stop=2.5)
    assert spec.simulation.stop == 2.5
    assert spec.simulation.step == 1e-3  # the rest is the file's
    original = load_system(DATA / "dual_mass.yaml")
    assert check_stop_override(original, 2.5) == []
    assert with_stop(original, None) is original
    assert with_stop(original, 2.5) == spec
    # the run's length is checked too: from -5e9 s, a stop at 5e9 s is 1e10 s of run
    path = tmp_path / "early.yaml"
    path.write_text(
        "simulation: {start: -5.0e9, stop: 1.0, step: 1.0}\ncomponents: {g: {fmu: Gain}}\n"
    )
    (problem,) = check_stop_override(load_system(path), 5.0e9)
    assert (str(problem.loc), problem.message, problem.hint) == (
        "--stop",
        "--stop 5e+09 - simulation.start = 1e+10 s is longer than the longest run cosim can "
        "represent (9.22e+09 s)",
        SPAN_HINT,
    )


def test_a_step_within_one_tick_of_a_multiple_is_accepted(tmp_path):
    # 1/3 s is 333333333 ns; 1 s = 3 steps of it to within one nanosecond tick
    path = tmp_path / "thirds.yaml"
    path.write_text(
        "simulation: {stop: 2.0, step: 0.3333333333333333}\n"
        "components:\n  g: {fmu: Gain, step: 1.0}\n"
    )
    spec = load_system(path)
    assert spec.components["g"].step == 1.0


def test_unknown_components_and_an_input_driven_twice():
    path = DATA / "names.yaml"
    problems = problems_of("names.yaml")
    assert first_lines(problems) == [
        f"{at(path, 'gian1.y')}: error: unknown component 'gian1' in connections[1].from",
        f"{at(path, 'gain2.u', 2)}: error: input gain2.u is driven twice",
        f"{at(path, 'gain3.y')}: error: unknown component 'gain3' in record.variables[1]",
        f"{at(path, 'gain1.y', 3)}: error: gain1.y is listed twice in record.variables",
        f"{at(path, 'gainn.k')}: error: unknown component 'gainn' in events[0].set",
    ]
    assert problems[0].hint == "did you mean 'gain1.y'? components: gain1, gain2"
    assert problems[1].hint == (
        f"it is already the target of the connection at {at(path, 'gain2.u')}; "
        "an input takes one connection"
    )


def test_fmu_not_found_suggests_a_bundled_name():
    from cosim.resolve.resolver import validate

    path = DATA / "fmu_not_found.yaml"
    assert problems_of("fmu_not_found.yaml") == []  # reading YAML looks up no FMU
    problems = [p for p in validate(path) if p.severity == "error"]
    assert first_lines(problems) == [
        f"{at(path, 'Mass3')}: error: FMU not found: Mass3",
        f"{at(path, 'models/Nope.fmu')}: error: FMU not found: models/Nope.fmu",
    ]
    assert problems[0].hint.startswith(
        f"did you mean 'Mass1'? looked for {DATA.resolve() / 'Mass3'}; "
    )
    assert problems[1].hint.startswith(
        f"looked for {DATA.resolve() / 'models' / 'Nope.fmu'}; a path ending in .fmu is "
        "relative to this file's folder; bundled FMUs: "
    )


def test_reading_yaml_never_reaches_the_fmu_library():
    """`fmu: Mass1` is kept as text; the library (and gcc) is reached only when resolving."""
    code = (
        "import sys; from cosim.io.yaml import load_system; "
        f"spec = load_system({str(DATA / 'dual_mass.yaml')!r}); "
        "print(sorted(m for m in sys.modules if m.startswith('cosim.library')))"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- --set overrides
def test_overrides_are_read_as_yaml_scalars_and_replace_the_file():
    spec = load_system(
        DATA / "dual_mass.yaml",
        ["mass1.m1=2.5", "mass2.k2=12", "mass2.cc=1e-1", "mass1.flag=true", "mass1.tag=abc"],
    )
    assert spec.components["mass1"].parameters == {
        "m1": 2.5,
        "flag": True,
        "tag": "abc",
    }
    assert spec.components["mass2"].parameters == {"k2": 12, "cc": 0.1}
    assert isinstance(spec.components["mass2"].parameters["k2"], int)
    assert str(spec.components["mass1"].parameter_locs["m1"]) == "--set mass1.m1=2.5"


def test_bad_overrides():
    problems = problems_of(
        "dual_mass.yaml",
        ["nonsense", "mass3.m1=1", "mass1.m1=", "mass1.m1=[1, 2]", "mass1.m1=!!python/name:os"],
    )
    assert first_lines(problems) == [
        "--set nonsense: error: a parameter override must look like component.variable=value",
        "--set mass3.m1=1: error: unknown component 'mass3'",
        "--set mass1.m1=: error: a parameter override must look like component.variable=value",
        "--set mass1.m1=[1, 2]: error: cannot read the value '[1, 2]'",
        "--set mass1.m1=!!python/name:os: error: cannot read the value '!!python/name:os'",
    ]
    assert problems[1].hint == "did you mean 'mass1.m1'? components: mass1, mass2"


def test_load_system_raises_one_error_with_every_problem():
    with pytest.raises(ConfigError) as caught:
        load_system(DATA / "wrong_types.yaml")
    assert len(caught.value.errors) == 6
    assert str(caught.value).count("error:") == 6


# --------------------------------------------------------------------------- schema & docs
def _walk(schema: dict, path: str = ""):
    for key, sub in schema.get("properties", {}).items():
        yield f"{path}.{key}" if path else key, sub
        yield from _walk(sub, f"{path}.{key}" if path else key)
    for word in ("items", "additionalProperties"):
        if isinstance(schema.get(word), dict):
            yield from _walk(schema[word], f"{path}[]")


def test_every_key_has_a_description_and_is_documented():
    docs = (ROOT / "docs" / "systems.md").read_text()
    keys = list(_walk(SCHEMA))
    assert len(keys) > 25
    for name, sub in keys:
        assert sub.get("description"), name
        assert f"`{name.rsplit('.', 1)[-1]}`" in docs, name
