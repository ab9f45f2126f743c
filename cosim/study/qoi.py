"""Quantities of interest: final, min, max, mean, integral and crossing of a recorded signal.

A quantity is written as text, `function(component.variable)` or, for a crossing,
`crossing(component.variable, value)`; whitespace may surround every token. The label's
variable part may hold dots, brackets and parentheses (`bus.a.b[2]`, `A.y[1,2]`, `c.der(x)`):
arguments are split at the commas outside brackets. The text is parsed by hand, never
evaluated.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cosim.errors import ConfigError, Location, Problem
from cosim.io.locate import did_you_mean, listing

# function -> its arguments after the signal
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "final": (),
    "min": (),
    "max": (),
    "mean": (),
    "integral": (),
    "crossing": ("value",),
    "verdict": (),  # verdict(monitor): the worst level a `monitors:` entry reached, 0/1/2
}
_MONITOR = re.compile(r"[A-Za-z_]\w*")
_CALL = re.compile(r"\s*(?P<name>[A-Za-z_]\w*)\s*\(")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FORM = "function(component.variable), e.g. max(mass1.x1) or crossing(mass1.x1, 0.5)"
_OPEN, _CLOSE = "([", ")]"


def _split(inner: str) -> list[str] | None:
    """`inner` split at the commas outside brackets; None if its brackets do not balance."""
    parts, start, stack = [], 0, []
    for i, char in enumerate(inner):
        if char in _OPEN:
            stack.append(_CLOSE[_OPEN.index(char)])
        elif char in _CLOSE:
            if not stack or stack.pop() != char:
                return None
        elif char == "," and not stack:
            parts.append(inner[start:i])
            start = i + 1
    if stack:
        return None
    parts.append(inner[start:])
    return parts


@dataclass(frozen=True)
class Qoi:
    """One quantity of interest: `function` of the recorded `signal` ("component.variable");
    `value` is the level of a crossing. Two Qoi are equal when they compute the same thing,
    however their text was spaced."""

    function: str
    signal: str
    value: float | None = None
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        """Refuse what the parser would refuse, also when constructed directly."""
        if self.function not in FUNCTIONS:
            raise ConfigError(
                Problem(None, f"unknown function '{self.function}'", f"one of {listing(FUNCTIONS)}")
            )
        if (self.value is None) == (self.function == "crossing"):
            raise ConfigError(
                Problem(
                    None,
                    f"{self.function}: a value is given only to crossing, got {self.value!r}",
                    "write crossing(signal, value)",
                )
            )

    @property
    def monitor(self) -> str | None:
        """The monitor a verdict QoI names (its `signal` field), else None."""
        return self.signal if self.function == "verdict" else None

    def __str__(self) -> str:
        """The canonical text, which parses back to an equal Qoi."""
        if self.function == "crossing":
            return f"crossing({self.signal}, {self.value!r})"
        return f"{self.function}({self.signal})"

    @classmethod
    def parse(cls, text: str, loc: Location | None = None) -> Qoi:
        """`final(c.v)`, `min(c.v)`, `max(c.v)`, `mean(c.v)`, `integral(c.v)` or
        `crossing(c.v, value)`."""

        def fail(message: str, hint: str) -> ConfigError:
            return ConfigError(Problem(loc, message, hint))

        if not isinstance(text, str):
            raise fail(f"a quantity of interest must be text, got {text!r}", f"write {_FORM}")
        written = text.strip()
        call = _CALL.match(written)
        if not call:
            raise fail(
                f"malformed quantity of interest '{written}': expected {_FORM}",
                "write a function name, then its arguments in parentheses",
            )
        name = call.group("name")
        if name not in FUNCTIONS:
            close = did_you_mean(name, FUNCTIONS)
            known = f"one of {listing(FUNCTIONS)}"
            raise fail(
                f"unknown function '{name}' in '{written}'",
                f"did you mean '{close}'? ({known})" if close else f"the function is {known}",
            )
        usage = f"{name}(component.variable{''.join(f', {a}' for a in FUNCTIONS[name])})"
        if not written.endswith(")"):
            raise fail(
                f"malformed quantity of interest '{written}': expected ')' at the end",
                f"write {usage}",
            )
        args = _split(written[call.end() : -1])
        if args is None:
            raise fail(
                f"malformed quantity of interest '{written}': its brackets do not balance",
                f"write {usage}",
            )
        args = [a.strip() for a in args]
        if args == [""]:
            raise fail(f"no signal in '{written}': expected {usage}", "name a recorded signal")
        wanted = 1 + len(FUNCTIONS[name])
        if len(args) != wanted:
            raise fail(
                f"{name} takes {wanted} argument{'s' if wanted > 1 else ''} in '{written}', "
                f"got {len(args)}: expected {usage}",
                f"write {usage}",
            )
        signal = args[0]
        if name == "verdict":
            if not _MONITOR.fullmatch(signal):
                raise fail(
                    f"verdict takes the name of a monitor in '{written}', got '{signal}'",
                    "write verdict(name) with a name from the monitors: section",
                )
            return cls(name, signal, None, written)
        component, dot, variable = signal.partition(".")
        if not (component and dot and variable) or any(c.isspace() for c in signal):
            raise fail(
                f"the signal of '{written}' must be component.variable, got '{signal}'",
                "name a recorded signal, e.g. mass1.x1",
            )
        value = None
        if FUNCTIONS[name]:
            if not _NUMBER.fullmatch(args[1]):
                raise fail(
                    f"the value of '{written}' must be a number, got '{args[1]}'",
                    f"write {usage} with a number such as 0.5, -2 or 1e-3",
                )
            value = float(args[1])
            if not math.isfinite(value):  # e.g. 1e999
                raise fail(
                    f"the value of '{written}' must be finite, got '{args[1]}'",
                    "write a smaller number",
                )
        return cls(name, signal, value, written)

    def evaluate(self, time: np.ndarray, values: np.ndarray) -> float:
        """The quantity of one signal sampled at `time` (NaN if there are no samples).

        integral: trapezoidal rule (exact for piecewise-linear signals); mean: the integral over
        the time span (so a non-uniform grid is weighted correctly), the sample itself if there
        is one; crossing: the first time the signal reaches `value`, linearly interpolated
        within the first interval that reaches it, NaN if it never does.
        """
        t = np.asarray(time, dtype=float)
        y = np.asarray(values, dtype=float)
        if t.ndim != 1 or t.shape != y.shape:
            raise ValueError(
                f"{self}: time and values must be 1-D and of equal length, "
                f"got shapes {t.shape} and {y.shape}"
            )
        if self.function == "verdict":
            raise ValueError(f"{self}: a verdict is evaluated by its monitor (cosim.study.runner)")
        if not len(y):
            return math.nan
        if self.function == "final":
            return float(y[-1])
        if self.function == "min":
            return float(np.min(y))
        if self.function == "max":
            return float(np.max(y))
        if self.function == "integral":
            return float(_trapezoid(y, t))
        if self.function == "mean":
            span = t[-1] - t[0]
            if len(y) == 1:
                return float(y[0])
            if span == 0:  # every sample at one instant: no time to weight by
                return float(np.mean(y))
            return float(_trapezoid(y, t) / span)
        assert self.value is not None
        return _crossing(t, y, self.value)


_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 / numpy 1


def _crossing(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """The first time `y` reaches `level`, linearly interpolated; NaN if it never does."""
    d = y - level
    if d[0] == 0:
        return float(t[0])
    s = np.sign(d)  # NaN samples have NaN sign: no interval through them counts
    hits = np.flatnonzero((s[:-1] * s[1:] < 0) | (s[1:] == 0))
    if not len(hits):
        return math.nan
    k = int(hits[0])
    if d[k + 1] == 0:
        return float(t[k + 1])
    return float(t[k] + (t[k + 1] - t[k]) * d[k] / (d[k] - d[k + 1]))


def parse_qois(spec: Mapping[str, str], locs: Mapping[str, Any] | None = None) -> dict[str, Qoi]:
    """Every quantity of interest by name; one ConfigError with every problem found."""
    locs = locs or {}
    out: dict[str, Qoi] = {}
    problems: list[Problem] = []
    for name, text in spec.items():
        loc = locs.get(name)
        if not isinstance(name, str) or not name.strip():
            problems.append(
                Problem(loc, f"a quantity of interest needs a name, got {name!r}", "name it")
            )
            continue
        try:
            out[name] = Qoi.parse(text, loc)
        except ConfigError as error:
            problems += [
                dataclasses.replace(p, message=f"quantity of interest {name}: {p.message}")
                for p in error.problems
            ]
    if problems:
        raise ConfigError(problems)
    return out


def evaluate_all(
    qois: Mapping[str, Qoi], time: np.ndarray, signal: Callable[[str], np.ndarray]
) -> dict[str, float]:
    """Each quantity of the signals `signal(label)` on `time`; NaN for a signal not recorded
    (`signal` raises KeyError)."""
    out = {}
    for name, qoi in qois.items():
        try:
            values = signal(qoi.signal)
        except KeyError:
            out[name] = math.nan
            continue
        out[name] = qoi.evaluate(time, values)
    return out


def signals_needed(qois: Mapping[str, Qoi] | Iterable[Qoi]) -> list[str]:
    """The signals a run must record for `qois`: unique, in order of first use."""
    items = qois.values() if isinstance(qois, Mapping) else qois
    return list(dict.fromkeys(q.signal for q in items))


__all__ = ["FUNCTIONS", "Qoi", "evaluate_all", "parse_qois", "signals_needed"]
