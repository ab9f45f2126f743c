"""Master algorithms: how one communication step's operations are ordered, nothing else.

An algorithm turns the plan's schedule (stepping order, decimations) into the operations of
communication step n: a tuple of (instance, steps, publishes) in execution order, where
`steps` means "take inputs, set them, doStep" and `publishes` means "get outputs". The one
loop in cosim.engine.execution runs these operations and knows no algorithm.

Instance i steps at n when n % d_i == 0 and publishes when (n + 1) % d_i == 0 (sample and
hold on its own grid, see cosim.engine.plan).

    GaussSeidel: per instance in stepping order: step, then publish (downstream instances
                 see the outputs published in this step, as of t + h)
    Jacobi:      every stepping instance steps (all inputs as published as of t), then
                 every publishing instance publishes
"""

from __future__ import annotations

from typing import Protocol

from cosim.engine.plan import GAUSS_SEIDEL, JACOBI, Plan

Operation = tuple[int, bool, bool]  # instance, steps (transfer + set + doStep), publishes (get)


class Algorithm(Protocol):
    """Orders the operations of one communication step."""

    name: str

    def phase(self, plan: Plan, n: int) -> tuple[Operation, ...]:
        """The operations of communication step n, in execution order."""
        ...


def _due(plan: Plan, n: int) -> list[Operation]:
    out = []
    for i in plan.order.tolist():
        d = int(plan.decimation[i])
        steps, publishes = n % d == 0, (n + 1) % d == 0
        if steps or publishes:
            out.append((i, steps, publishes))
    return out


class GaussSeidel:
    """Sequential: each instance takes the freshest outputs, in topological stepping order."""

    name = "gauss-seidel"

    def phase(self, plan: Plan, n: int) -> tuple[Operation, ...]:
        return tuple(_due(plan, n))


class Jacobi:
    """Parallel: every instance steps on the outputs published as of t, then all publish."""

    name = "jacobi"

    def phase(self, plan: Plan, n: int) -> tuple[Operation, ...]:
        due = _due(plan, n)
        steps = [(i, True, False) for i, s, _ in due if s]
        gets = [(i, False, True) for i, _, g in due if g]
        return tuple(steps + gets)


ALGORITHM_OF: dict[int, Algorithm] = {JACOBI: Jacobi(), GAUSS_SEIDEL: GaussSeidel()}


def algorithm_for(plan: Plan) -> Algorithm:
    """The algorithm object of `plan.algorithm`."""
    return ALGORITHM_OF[plan.algorithm]


__all__ = ["ALGORITHM_OF", "Algorithm", "GaussSeidel", "Jacobi", "Operation", "algorithm_for"]
