"""The connection graph: Gauss-Seidel step order and algebraic loops."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from fmpy import read_model_description

from cosim.library import build as library
from cosim.resolve.graph import algebraic_loops, direct_feedthrough, step_order

GAIN = {"y": ("u",), "n_out": ("n_in",), "positive": ("u",)}  # as Gain declares it
LAG = {"y": ()}  # FirstOrder: the output is a state


# --------------------------------------------------------------------------- feedthrough
@pytest.mark.parametrize("prefix", ["", "fmi3/"], ids=["fmi2", "fmi3"])
def test_direct_feedthrough_from_bundled_model_structures(prefix):
    def of(name):
        path = library.bundled_fmu(prefix + name)
        return direct_feedthrough(read_model_description(str(path), validate=False))

    # Mass2: F = kc*(x2 - x1) + cc*(v2 - v1) reads the inputs x1, v1; x2, v2 are states
    assert of("Mass2") == {"x2": (), "v2": (), "F": ("x1", "v1")}
    assert of("Mass1") == {"x1": (), "v1": ()}
    assert of("Gain") == GAIN
    assert of("FirstOrder") == LAG


def test_an_output_without_dependencies_depends_on_every_input():
    def var(name, causality):
        return SimpleNamespace(name=name, causality=causality)

    a, b, y, z = var("a", "input"), var("b", "input"), var("y", "output"), var("z", "output")
    md = SimpleNamespace(
        modelVariables=[a, b, y, z],
        outputs=[
            SimpleNamespace(variable=y, dependencies=None),
            SimpleNamespace(variable=z, dependencies=[]),
        ],
    )
    assert direct_feedthrough(md) == {"y": ("a", "b"), "z": ()}


# --------------------------------------------------------------------------- step order
def test_a_chain_written_backwards_steps_forwards():
    assert step_order(["c", "b", "a"], [("a", "b"), ("b", "c")]) == ["a", "b", "c"]


def test_unconnected_components_keep_their_yaml_order():
    assert step_order(["z", "a", "m"], []) == ["z", "a", "m"]


def test_a_cycle_starts_with_its_first_written_component():
    assert step_order(["mass1", "mass2"], [("mass1", "mass2"), ("mass2", "mass1")]) == [
        "mass1",
        "mass2",
    ]
    assert step_order(["mass2", "mass1"], [("mass1", "mass2"), ("mass2", "mass1")]) == [
        "mass2",
        "mass1",
    ]


def test_a_cycle_steps_before_what_it_feeds_and_after_what_feeds_it():
    # src -> (a <-> b) -> sink, written in the worst order
    edges = [("src", "a"), ("a", "b"), ("b", "a"), ("b", "sink")]
    assert step_order(["sink", "b", "a", "src"], edges) == ["src", "b", "a", "sink"]


def test_inside_a_cycle_the_rest_is_ordered_again():
    # a -> b -> c -> a: after a goes first, b feeds c, so b before c whatever the YAML order
    assert step_order(["a", "c", "b"], [("a", "b"), ("b", "c"), ("c", "a")]) == ["a", "b", "c"]


def _reference_order(names, edges):
    """Kahn's algorithm, always taking the earliest-written ready component (DAGs only)."""
    preds = {n: {a for a, b in edges if b == n and a != n} for n in names}
    order = []
    while len(order) < len(names):
        ready = [n for n in names if n not in order and preds[n] <= set(order)]
        order.append(ready[0])
    return order


@pytest.mark.parametrize("seed", range(20))
def test_acyclic_graphs_get_the_earliest_written_topological_order(seed):
    rng = random.Random(seed)
    names = [f"c{i}" for i in range(12)]
    rank = names[:]
    rng.shuffle(rank)  # a hidden topological ranking; edges only go up in it
    edges = [
        (a, b) for a in names for b in names if rank.index(a) < rank.index(b) and rng.random() < 0.2
    ]
    rng.shuffle(names)  # the YAML order
    order = step_order(names, edges)
    assert sorted(order) == sorted(names)
    assert all(order.index(a) < order.index(b) for a, b in edges)
    assert order == _reference_order(names, edges)


# --------------------------------------------------------------------------- algebraic loops
def test_two_gains_in_a_ring_are_an_algebraic_loop():
    loops = algebraic_loops(
        ["gain1", "gain2"],
        [("gain2.y", "gain1.u"), ("gain1.y", "gain2.u")],
        {"gain1": GAIN, "gain2": GAIN},
    )
    assert loops == [("gain1.u", "gain1.y", "gain2.u", "gain2.y", "gain1.u")]


def test_a_component_feeding_itself_through_feedthrough_is_a_loop():
    loops = algebraic_loops(["g"], [("g.n_out", "g.n_in")], {"g": GAIN})
    assert loops == [("g.n_in", "g.n_out", "g.n_in")]


def test_a_state_in_the_ring_breaks_the_loop():
    loops = algebraic_loops(
        ["gain", "lag"],
        [("gain.y", "lag.u"), ("lag.y", "gain.u")],
        {"gain": GAIN, "lag": LAG},
    )
    assert loops == []


def test_a_ring_of_connections_is_no_loop_unless_the_outputs_read_those_inputs():
    # gain1.y -> gain2.u, but gain2.n_out (fed back) depends on gain2.n_in, not on gain2.u
    loops = algebraic_loops(
        ["gain1", "gain2"],
        [("gain1.y", "gain2.u"), ("gain2.n_out", "gain1.u")],
        {"gain1": GAIN, "gain2": GAIN},
    )
    assert loops == []


def test_every_separate_loop_is_reported_in_yaml_order():
    loops = algebraic_loops(
        ["a", "b", "c"],
        [("c.y", "c.u"), ("b.n_out", "a.n_in"), ("a.n_out", "b.n_in")],
        {"a": GAIN, "b": GAIN, "c": GAIN},
    )
    assert loops == [("a.n_in", "a.n_out", "b.n_in", "b.n_out", "a.n_in"), ("c.u", "c.y", "c.u")]


def test_the_shortest_ring_through_the_first_input_is_named():
    # a.y feeds both b.u and c.u; b.y -> a.u closes a short ring, c.y -> b.n_in goes nowhere back
    loops = algebraic_loops(
        ["a", "b", "c"],
        [("a.y", "b.u"), ("a.y", "c.u"), ("b.y", "a.u"), ("c.y", "b.n_in")],
        {"a": GAIN, "b": GAIN, "c": GAIN},
    )
    assert loops == [("a.u", "a.y", "b.u", "b.y", "a.u")]
