"""Study designs: full factorial grids, lists of cases, random and Latin-hypercube samples.

Every design becomes the same thing, a `pandas.DataFrame` with one column per parameter and one
row per case, indexed 0..n-1 by a RangeIndex named "case". Columns get pandas' inferred dtype,
so `frame[name].tolist()` gives back the Python values written (ints, floats, bools, strings
such as an FMU path or a scenario name). Samples draw uniform numbers in [0, 1) (at random, or
one per stratum for a Latin hypercube) and map them through each distribution's inverse CDF.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.qmc import LatinHypercube

from cosim.errors import ConfigError, Location, Problem
from cosim.io.locate import did_you_mean, listing

# kind -> its parameters, in the order they are written
KINDS: dict[str, tuple[str, ...]] = {
    "uniform": ("min", "max"),
    "normal": ("mean", "std"),
    "lognormal": ("mean", "std"),
    "truncnormal": ("mean", "std", "min", "max"),
}
METHODS = ("lhs", "random")
_EXAMPLE = "e.g. {uniform: [0.5, 2.0]} or {normal: {mean: 1.0, std: 0.1}}"


def _unknown(kind: str, name: str, candidates: Sequence[str]) -> str:
    """A hint for an unknown name: did you mean ..., and the names that are known."""
    close = did_you_mean(name, candidates)
    known = f"one of {listing(candidates)}"
    return f"did you mean '{close}'? ({known})" if close else f"{kind} is {known}"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _value_problems(
    kind: str, params: Mapping[str, float], name: str, loc: Location | None
) -> list[Problem]:
    """What is wrong with the values of well-formed `params` of a `kind` distribution."""
    problems = []
    std = params.get("std")
    if std is not None and std <= 0:
        problems.append(
            Problem(
                loc,
                f"the standard deviation of {name} must be > 0, got {std:g}",
                "give a positive std",
            )
        )
    lo, hi = params.get("min"), params.get("max")
    if lo is not None and hi is not None and lo >= hi:
        problems.append(
            Problem(
                loc,
                f"the range of {name} is empty: min {lo:g} >= max {hi:g}",
                "give min < max",
            )
        )
    return problems


@dataclass(frozen=True)
class Distribution:
    """One uncertain parameter: uniform, normal, lognormal or truncated normal.

    uniform {min, max}; normal {mean, std}; lognormal {mean, std} of the underlying normal
    (log-space); truncnormal {mean, std, min, max}: a normal truncated to [min, max].
    """

    kind: str
    params: dict[str, float]

    def __post_init__(self) -> None:
        """Refuse what the parser would refuse, also when constructed directly."""
        if self.kind not in KINDS:
            hint = _unknown("a distribution", self.kind, list(KINDS))
            raise ConfigError(Problem(None, f"unknown distribution '{self.kind}'", hint))
        keys = KINDS[self.kind]
        if (
            not isinstance(self.params, Mapping)
            or set(self.params) != set(keys)
            or not all(_is_number(v) for v in self.params.values())
        ):
            raise ConfigError(
                Problem(
                    None,
                    f"a {self.kind} distribution needs the numbers {', '.join(keys)}, "
                    f"got {self.params!r}",
                    f"give {', '.join(keys)}",
                )
            )
        problems = _value_problems(self.kind, self.params, f"a {self.kind} distribution", None)
        if problems:
            raise ConfigError(problems)

    @classmethod
    def parse(cls, name: str, spec: Any, loc: Location | None = None) -> Distribution:
        """The distribution of parameter `name` as written in YAML, e.g. {"uniform": [0, 1]},
        {"normal": {"mean": m, "std": s}}, {"lognormal": {"mean": m, "std": s}} or
        {"truncnormal": {"mean": m, "std": s, "min": a, "max": b}}."""
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise ConfigError(
                Problem(
                    loc,
                    f"the distribution of {name} must be one of {listing(KINDS)}, got {spec!r}",
                    f"write one kind with its parameters, {_EXAMPLE}",
                )
            )
        ((kind, args),) = spec.items()
        if kind not in KINDS:
            hint = _unknown("a distribution", str(kind), list(KINDS))
            raise ConfigError(Problem(loc, f"unknown distribution '{kind}' for {name}", hint))
        keys = KINDS[kind]
        if kind == "uniform":
            if not isinstance(args, Sequence) or isinstance(args, str) or len(args) != 2:
                raise ConfigError(
                    Problem(
                        loc,
                        f"the uniform distribution of {name} needs [min, max], got {args!r}",
                        "write uniform: [lo, hi]",
                    )
                )
            args = dict(zip(keys, args, strict=True))
        elif not isinstance(args, Mapping):
            raise ConfigError(
                Problem(
                    loc,
                    f"the {kind} distribution of {name} needs {{{', '.join(keys)}}}, got {args!r}",
                    f"write {kind}: {{{', '.join(f'{k}: ...' for k in keys)}}}",
                )
            )
        problems = []
        for key in args:
            if key not in keys:
                hint = _unknown(f"a key of {kind}", str(key), keys)
                problems.append(
                    Problem(loc, f"unknown key '{key}' in the {kind} distribution of {name}", hint)
                )
        for key in keys:
            if key not in args:
                problems.append(
                    Problem(
                        loc,
                        f"the {kind} distribution of {name} is missing '{key}'",
                        f"give {', '.join(keys)}",
                    )
                )
            elif not _is_number(args[key]):
                problems.append(
                    Problem(
                        loc,
                        f"the {key} of {name} must be a finite number, got {args[key]!r}",
                        f"write a number, e.g. {key}: 1.0",
                    )
                )
        if problems:
            raise ConfigError(problems)
        params = {key: float(args[key]) for key in keys}
        problems = _value_problems(kind, params, name, loc)
        if problems:
            raise ConfigError(problems)
        return cls(kind, params)

    def frozen(self) -> Any:
        """The scipy.stats frozen distribution (cdf, ppf, mean, ...)."""
        p = self.params
        if self.kind == "uniform":
            return stats.uniform(loc=p["min"], scale=p["max"] - p["min"])
        if self.kind == "normal":
            return stats.norm(loc=p["mean"], scale=p["std"])
        if self.kind == "lognormal":
            return stats.lognorm(s=p["std"], scale=math.exp(p["mean"]))
        a = (p["min"] - p["mean"]) / p["std"]
        b = (p["max"] - p["mean"]) / p["std"]
        return stats.truncnorm(a, b, loc=p["mean"], scale=p["std"])

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """The inverse CDF at probabilities `u` (in [0, 1])."""
        return np.asarray(self.frozen().ppf(np.asarray(u, dtype=float)), dtype=float)


@dataclass(frozen=True)
class Sample:
    """`n` cases drawn from independent distributions, by Latin hypercube ("lhs") or at random.

    The same seed gives the same cases; no seed gives fresh ones each time.
    """

    distributions: dict[str, Distribution]
    n: int
    method: str = "lhs"
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.distributions:
            problems.append(
                Problem(None, "a sample needs at least one distribution", f"give one, {_EXAMPLE}")
            )
        for name, dist in self.distributions.items():
            if not isinstance(dist, Distribution):
                problems.append(
                    Problem(
                        None,
                        f"the distribution of {name} must be a Distribution, got {dist!r}",
                        "build it with Distribution.parse(name, spec)",
                    )
                )
        if isinstance(self.n, bool) or not isinstance(self.n, numbers.Integral) or self.n < 1:
            problems.append(
                Problem(
                    None,
                    f"the sample size must be an integer >= 1, got {self.n!r}",
                    "give n: 1 or more",
                )
            )
        if self.method not in METHODS:
            hint = _unknown("a sampling method", str(self.method), METHODS)
            problems.append(Problem(None, f"unknown sampling method '{self.method}'", hint))
        if problems:
            raise ConfigError(problems)

    def cases(self) -> pd.DataFrame:
        """n rows, one column per distribution (in the given order)."""
        d, n = len(self.distributions), int(self.n)
        if self.method == "lhs":  # seed=, not rng=: rng needs scipy 1.15 and we allow 1.10
            u = LatinHypercube(d=d, seed=self.seed).random(n)
        else:
            u = np.random.default_rng(self.seed).random((n, d))
        columns = {
            name: dist.ppf(u[:, j]) for j, (name, dist) in enumerate(self.distributions.items())
        }
        return _frame(columns, n)


def _frame(columns: Mapping[str, Any], n: int) -> pd.DataFrame:
    return pd.DataFrame(dict(columns), index=pd.RangeIndex(n, name="case"))


def _names_problems(names: Sequence[Any], what: str) -> list[Problem]:
    return [
        Problem(None, f"a parameter name of {what} must be text, got {n!r}", "write 'comp.var'")
        for n in names
        if not isinstance(n, str) or not n
    ]


def factorial(levels: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Every combination of the levels, the first name varying slowest (as itertools.product)."""
    if not isinstance(levels, Mapping) or not levels:
        raise ConfigError(
            Problem(
                None,
                f"a factorial design needs at least one parameter with levels, got {levels!r}",
                "write {name: [value, ...], ...}",
            )
        )
    problems = _names_problems(list(levels), "a factorial design")
    for name, values in levels.items():
        if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
            problems.append(
                Problem(
                    None,
                    f"the levels of {name} must be a list, got {values!r}",
                    f"write {name}: [{values!r}] for one level",
                )
            )
        elif not values:
            problems.append(
                Problem(None, f"the levels of {name} are empty", "give at least one value")
            )
    if problems:
        raise ConfigError(problems)
    names = list(levels)
    rows = list(itertools.product(*(levels[name] for name in names)))
    return _frame({name: [row[j] for row in rows] for j, name in enumerate(names)}, len(rows))


def cases(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A list of cases, each a mapping parameter -> value; every case names the same
    parameters (in the first case's order)."""
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)) or not rows:
        raise ConfigError(
            Problem(
                None,
                f"a list of cases needs at least one case, got {rows!r}",
                "write [{name: value, ...}, ...]",
            )
        )
    problems = []
    first: list[str] | None = None
    first_case = 0
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(
                Problem(
                    None,
                    f"case {i} must be a mapping parameter -> value, got {row!r}",
                    "write {name: value, ...}",
                )
            )
            continue
        if first is None:
            first = list(row)
            if not first:
                problems.append(
                    Problem(None, f"case {i} sets no parameters", "write {name: value, ...}")
                )
            problems += _names_problems(first, f"case {i}")
            first_case = i
            continue
        missing = [n for n in first if n not in row]
        extra = [n for n in row if n not in first]
        if missing or extra:
            parts = [f"missing {listing(missing)}"] if missing else []
            parts += [f"extra {listing(extra)}"] if extra else []
            hint = f"every case sets the same parameters as case {first_case}: {listing(first)}"
            close = [(e, did_you_mean(str(e), missing)) for e in extra]
            typos = [f"'{e}' -> '{c}'" for e, c in close if c]
            if typos:
                hint += f" (did you mean {', '.join(typos)}?)"
            problems.append(
                Problem(
                    None,
                    f"case {i} names other parameters than case {first_case}: " + "; ".join(parts),
                    hint,
                )
            )
    if problems:
        raise ConfigError(problems)
    assert first is not None
    return _frame({name: [row[name] for row in rows] for name in first}, len(rows))


def design_frame(design: Any) -> pd.DataFrame:
    """Any design as the cases to run: {name: [levels]} (full factorial), a DataFrame (its
    rows), a Sample (drawn) or a list of {name: value} (the cases)."""
    if isinstance(design, pd.DataFrame):
        frame = design.copy()
        frame.index = pd.RangeIndex(len(frame), name="case")
    elif isinstance(design, Sample):
        frame = design.cases()
    elif isinstance(design, Mapping):
        frame = factorial(design)
    elif isinstance(design, Sequence) and not isinstance(design, (str, bytes)):
        frame = cases(design)
    else:
        raise ConfigError(
            Problem(
                None,
                f"a design must be {{name: [levels]}}, a list of cases, a Sample or a "
                f"DataFrame, got {type(design).__name__}",
                "write e.g. {mass1.m1: [1.0, 2.0]} or [{mass1.m1: 1.0}, {mass1.m1: 2.0}]",
            )
        )
    if len(frame.index) == 0:
        raise ConfigError(Problem(None, "the design has no cases", "give at least one case"))
    if len(frame.columns) == 0:
        raise ConfigError(
            Problem(None, "the design sets no parameters", "give at least one parameter")
        )
    return frame


__all__ = ["KINDS", "METHODS", "Distribution", "Sample", "cases", "design_frame", "factorial"]
