"""The `sweep:` section as typed values: design parts, quantities of interest, what to keep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cosim.errors import Location

SAMPLE_METHODS = ("lhs", "random")
KEEP = ("qoi", "full")
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {  # kind -> its keys
    "uniform": ("min", "max"),
    "normal": ("mean", "std"),
    "lognormal": ("mean", "std"),  # of the underlying normal (log space)
    "truncnormal": ("mean", "std", "min", "max"),
}
FMU_SUFFIX = ".fmu"  # a design column `components.<name>.fmu` varies a component's FMU


def fmu_column(name: str) -> str | None:
    """The component a design column `components.<name>.fmu` varies the FMU of, else None."""
    if name.startswith("components.") and name.endswith(FMU_SUFFIX):
        component = name[len("components.") : -len(FMU_SUFFIX)]
        return component or None
    return None


def distribution_problems(name: str, params: Mapping[str, Any]) -> list[str]:
    """What is wrong with a distribution (empty: nothing): a std <= 0, an empty range."""
    out = []
    std = params.get("std")
    if isinstance(std, int | float) and std <= 0:
        out.append(f"the standard deviation of {name} must be > 0, got {std:g}")
    low, high = params.get("min"), params.get("max")
    if isinstance(low, int | float) and isinstance(high, int | float) and low >= high:
        out.append(f"the range of {name} is empty: min {low:g} >= max {high:g}")
    return out


@dataclass(frozen=True)
class DistributionSpec:
    """One sampled parameter: uniform {min, max}, normal / lognormal {mean, std}, truncnormal
    {mean, std, min, max}."""

    kind: str
    params: Mapping[str, float]
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SampleSpec:
    """A random or Latin-hypercube sample of `n` cases."""

    n: int
    distributions: Mapping[str, DistributionSpec]
    method: str = "lhs"
    seed: int | None = None
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SweepSpec:
    """A study: the cases are the product of its design parts (a factorial grid, a list of
    cases, a sample: any of them, crossed); each run keeps its quantities of interest."""

    factorial: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    cases: tuple[Mapping[str, Any], ...] = ()
    sample: SampleSpec | None = None
    qoi: Mapping[str, str] = field(default_factory=dict)  # label -> expression
    keep: str = "qoi"  # qoi | full: also the full signals of every run
    stop: float | None = None  # overrides simulation.stop
    timeout: float | None = None  # wall seconds per run; a run over it fails
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False)  # name -> where
    loc: Location | None = field(default=None, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        """Every design column, in the order written: factorial, cases, sample."""
        out = list(self.factorial)
        for case in self.cases:
            out += [k for k in case if k not in out]
        if self.sample is not None:
            out += [k for k in self.sample.distributions if k not in out]
        return tuple(out)


__all__ = [
    "DISTRIBUTIONS",
    "FMU_SUFFIX",
    "KEEP",
    "SAMPLE_METHODS",
    "DistributionSpec",
    "SampleSpec",
    "SweepSpec",
    "distribution_problems",
    "fmu_column",
]
