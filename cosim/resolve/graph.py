"""The connection graph: Gauss-Seidel step order of components and algebraic-loop detection."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def direct_feedthrough(model_description: Any) -> dict[str, tuple[str, ...]]:
    """Output name -> the inputs it depends on directly (ModelStructure/Outputs dependencies).

    An output without a `dependencies` attribute depends on every input; states and other
    knowns in a dependency list are not inputs and so are no feedthrough.
    """
    inputs = [v.name for v in model_description.modelVariables if v.causality == "input"]
    input_set = set(inputs)
    out: dict[str, tuple[str, ...]] = {}
    for unknown in model_description.outputs:
        deps = unknown.dependencies
        if deps is None:
            out[unknown.variable.name] = tuple(inputs)
        else:
            out[unknown.variable.name] = tuple(d.name for d in deps if d.name in input_set)
    return out


def _strongly_connected(
    nodes: Sequence[Any], edges: Mapping[Any, Sequence[Any]]
) -> list[list[Any]]:
    """Tarjan's strongly connected components, iterative; members in `nodes` order."""
    position = {n: i for i, n in enumerate(nodes)}
    index: dict[Any, int] = {}
    low: dict[Any, int] = {}
    on_stack: set[Any] = set()
    stack: list[Any] = []
    result: list[list[Any]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in position:
                    continue
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(edges.get(succ, ()))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    result.append(sorted(members, key=position.__getitem__))
    return result


def step_order(names: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """Gauss-Seidel order: a component steps after the components feeding its inputs.

    `edges` are (source component, target component) of the connections. Groups of components
    that feed each other in a cycle are ordered by YAML order: the first one written steps
    first (using the others' values from the previous communication point), and the rest of
    the group is ordered again the same way. Ties are broken by YAML order, so the result is
    deterministic.
    """
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        if a != b and b not in succ[a]:
            succ[a].append(b)
    return _order(list(names), succ)


def _order(names: list[str], succ: Mapping[str, list[str]]) -> list[str]:
    position = {n: i for i, n in enumerate(names)}
    members = set(names)
    groups = _strongly_connected(names, succ)
    group_of = {n: g for g, group in enumerate(groups) for n in group}
    after: dict[int, set[int]] = {g: set() for g in range(len(groups))}
    for a in names:
        for b in succ[a]:
            if b in members and group_of[a] != group_of[b]:
                after[group_of[a]].add(group_of[b])
    waiting = [0] * len(groups)  # groups before each group not yet placed
    for later in after.values():
        for g in later:
            waiting[g] += 1
    first = [position[group[0]] for group in groups]
    ready = [(first[g], g) for g in range(len(groups)) if not waiting[g]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:  # Kahn over the groups, earliest-written ready group first
        _, g = heapq.heappop(ready)
        for h in after[g]:
            waiting[h] -= 1
            if not waiting[h]:
                heapq.heappush(ready, (first[h], h))
        group = groups[g]
        if len(group) == 1:
            order.extend(group)
        else:  # a cycle: its first-written member goes first, then order the rest again
            rest = group[1:]
            sub = {n: [m for m in succ[n] if m in rest] for n in rest}
            order.append(group[0])
            order.extend(_order(rest, sub))
    return order


def cyclic_groups(names: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of components that hold a cycle (two or more members, or
    one member feeding itself), members in `names` order, groups in order of first member."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    self_fed: set[str] = set()
    for a, b in edges:
        if a == b:
            self_fed.add(a)
        elif b not in succ[a]:
            succ[a].append(b)
    position = {n: i for i, n in enumerate(names)}
    groups = [g for g in _strongly_connected(list(names), succ) if len(g) > 1 or g[0] in self_fed]
    return sorted(groups, key=lambda g: position[g[0]])


def algebraic_loops(
    components: Sequence[str],
    connections: Iterable[tuple[str, str]],
    feedthrough: Mapping[str, Mapping[str, Sequence[str]]],
) -> list[tuple[str, ...]]:
    """Every cycle of direct-feedthrough connections, one per strongly connected group.

    `connections` are ("comp.var", "comp.var") pairs (source output, target input);
    `feedthrough[component][output]` lists the inputs that output depends on directly.
    Each loop is returned as a closed path starting at an input, e.g.
    ("gain1.u", "gain1.y", "gain2.u", "gain2.y", "gain1.u").
    """
    succ: dict[str, list[str]] = {}
    nodes: list[str] = []

    def add(a: str, b: str) -> None:
        for n in (a, b):
            if n not in succ:
                succ[n] = []
                nodes.append(n)
        if b not in succ[a]:
            succ[a].append(b)

    inputs: set[str] = set()
    for src, dst in connections:
        add(src, dst)
        inputs.add(dst)
    for comp in components:
        for output, deps in feedthrough.get(comp, {}).items():
            for inp in deps:
                add(f"{comp}.{inp}", f"{comp}.{output}")
    rank = {c: i for i, c in enumerate(components)}
    seen = {n: i for i, n in enumerate(nodes)}

    def key(node: str) -> tuple[int, int]:
        return rank.get(node.partition(".")[0], len(rank)), seen[node]

    loops = []
    for group in _strongly_connected(nodes, succ):
        if len(group) < 2:
            continue
        members = set(group)
        # a cycle inside one FMU's declared dependencies (outputs on outputs: a broken model
        # description) has no input to start from
        start = min((n for n in group if n in inputs), key=key, default=None) or min(group, key=key)
        loops.append(_shortest_cycle(start, succ, members))
    return sorted(loops, key=lambda path: key(path[0]))


def _shortest_cycle(start: str, succ: Mapping[str, list[str]], members: set[str]) -> tuple:
    """Breadth-first search from `start` back to itself inside one strongly connected group."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in succ[node]:
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return (*reversed(path), start)
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError("a strongly connected group always has a cycle")


__all__ = ["algebraic_loops", "cyclic_groups", "direct_feedthrough", "step_order"]
