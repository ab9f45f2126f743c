"""io.locate: node path -> file:line:col, did-you-mean, and the problem collector."""

from __future__ import annotations

from cosim.errors import Location, Problem
from cosim.io.locate import Locator, Problems, did_you_mean, locator, sort_problems, where

TEXT = """\
opcua:
  endpoint: opc.tcp://127.0.0.1:4840
  inputs:
    - {node: "ns=2;s=A", to: m.u}
    - node: "ns=2;s=B"
      to: m.v
"""


def test_keys_values_and_list_items_are_located():
    loc = Locator(TEXT, "t.yaml")
    assert loc.key("opcua", "endpoint") == Location("t.yaml", 2, 3)
    assert loc.value("opcua", "endpoint") == Location("t.yaml", 2, 13)
    assert loc.key("opcua", "inputs", 0) == Location("t.yaml", 4, 7)  # the item itself
    assert loc.key("opcua", "inputs", 0, "to") == Location("t.yaml", 4, 26)
    assert loc.value("opcua", "inputs", 1, "to") == Location("t.yaml", 6, 11)
    assert loc("opcua", "inputs", 1, "node") == Location("t.yaml", 5, 7)  # __call__ is key


def test_a_path_not_written_falls_back_to_its_nearest_ancestor_then_the_file():
    loc = Locator(TEXT, "t.yaml")
    assert loc.key("opcua", "inputs", 1, "stale_after") == Location("t.yaml", 5, 7)
    assert loc.key("opcua", "inputs", 7) == Location("t.yaml", 3, 3)
    assert loc.key("plant") == Location("t.yaml")
    assert Locator("a: [", "bad.yaml").key("a") == Location("bad.yaml")  # broken YAML
    assert not loc.has("opcua", "serve") and loc.has("opcua", "inputs", 1, "to")


def test_the_index_is_built_once_per_document():
    assert locator(TEXT, "t.yaml") is locator(TEXT, "t.yaml")
    assert locator(TEXT, "t.yaml") is not locator(TEXT, "u.yaml")


def test_did_you_mean_takes_the_closest_candidate_above_the_cutoff():
    assert did_you_mean("endpont", ["serve", "endpoint"]) == "endpoint"
    assert did_you_mean("xyz", ["endpoint", "serve"]) is None
    # ratio("ab", "abcd") = 2*2/6 = 0.67: in at the default 0.5, out at 0.7
    assert did_you_mean("ab", ["abcd"]) == "abcd"
    assert did_you_mean("ab", ["abcd"], cutoff=0.7) is None
    assert did_you_mean("ab", ["abx", "aby"]) == "abx"  # ties: the first listed


def test_problems_place_paths_inside_their_section_and_sort_in_file_order():
    problems = Problems(Locator(TEXT, "t.yaml"), ("opcua",))
    problems.warn(("inputs", 1, "to"), "late")
    problems.error(("endpoint",), "early", "a hint")
    problems.error(Location("--stop"), "no line")
    assert problems.where(("inputs", 0, "to")) == "opcua.inputs[0].to"
    assert problems.has_errors and len(problems) == 3
    assert [str(p.loc) for p in problems.sorted()] == ["t.yaml:2:3", "t.yaml:6:7", "--stop"]
    assert problems.warnings == (Problem(Location("t.yaml", 6, 7), "late", "", "warning"),)
    assert Problems().at(("a",)) is None  # no locator: no location


def test_where_writes_paths_as_messages_do():
    assert where(("plant", "faults", 0, "ramp", "act.wear")) == "plant.faults[0].ramp.act.wear"
    assert sort_problems([]) == []


def test_reading_a_system_composes_its_yaml_once_for_every_section(tmp_path, monkeypatch):
    """The reader's composed document is the index the opcua and plant parsers use."""
    import yaml

    from cosim.io.yaml import read_system

    path = tmp_path / "live.yaml"
    path.write_text(
        "simulation: {stop: 1.0, step: 0.1}\ncomponents:\n  g: {fmu: Gain}\n"
        "opcua:\n  endpoint: opc.tcp://127.0.0.1:4840\n"
        '  inputs: [{node: "ns=2;s=U", to: g.u}]\n'
        'plant:\n  serve: [{from: g.y, nodee: "ns=2;s=Y"}]\n'
    )
    calls = []
    compose = yaml.compose
    monkeypatch.setattr(yaml, "compose", lambda *a, **k: calls.append(1) or compose(*a, **k))
    spec, problems = read_system(path)
    assert len(calls) == 1
    assert str(spec.opcua.inputs[0].to.loc) == f"{path}:6:31"
    assert [str(p).splitlines()[0] for p in problems] == [
        f"{path}:8:11: error: plant.serve[0] must be "
        "{from: comp.var, node: \"ns=2;s=...\"}, got {'from': 'g.y', 'nodee': 'ns=2;s=Y'}"
    ]
