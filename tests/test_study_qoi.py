"""Quantities of interest: each function against closed forms, the parser and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosim.errors import ConfigError, Location
from cosim.study.qoi import Qoi, evaluate_all, parse_qois, signals_needed

# --- evaluation against closed forms -------------------------------------------------------------

# sin on [0, pi]: integral 2, mean 2/pi, max 1 (at pi/2, a sample since the count is odd), min 0
SIN_T = np.linspace(0.0, math.pi, 2001)
SIN_Y = np.sin(SIN_T)
H = math.pi / 2000
# the composite trapezoid rule's error is at most h^2/12 (b - a) max|f''| = h^2/12 pi for sin
TRAPEZOID_BOUND = H**2 / 12 * math.pi


def q(text: str) -> Qoi:
    return Qoi.parse(text)


def test_integral_of_sin_is_two_within_the_trapezoid_bound() -> None:
    got = q("integral(c.v)").evaluate(SIN_T, SIN_Y)
    assert abs(got - 2.0) <= TRAPEZOID_BOUND
    assert abs(got - 2.0) > 0  # the bound is not vacuous: the rule underestimates a concave f


def test_mean_of_sin_is_two_over_pi_within_the_bound() -> None:
    got = q("mean(c.v)").evaluate(SIN_T, SIN_Y)
    assert abs(got - 2.0 / math.pi) <= TRAPEZOID_BOUND / math.pi


def test_final_min_max_of_sin() -> None:
    assert q("final(c.v)").evaluate(SIN_T, SIN_Y) == pytest.approx(0.0, abs=1e-15)
    assert q("max(c.v)").evaluate(SIN_T, SIN_Y) == pytest.approx(1.0, abs=1e-15)
    assert q("min(c.v)").evaluate(SIN_T, SIN_Y) == pytest.approx(0.0, abs=1e-15)
    y = np.array([3.0, -2.0, 7.0, 1.0])
    t = np.arange(4.0)
    assert q("min(c.v)").evaluate(t, y) == -2.0
    assert q("max(c.v)").evaluate(t, y) == 7.0
    assert q("final(c.v)").evaluate(t, y) == 1.0


def test_mean_is_time_weighted_on_a_non_uniform_grid() -> None:
    # y = 0 -> 2 on [0, 1], then 2 on [1, 3]: area 1 + 4 = 5 over 3 s (the sample average, 4/3,
    # would be wrong); the trapezoid rule is exact for this piecewise-linear signal
    t = np.array([0.0, 1.0, 3.0])
    y = np.array([0.0, 2.0, 2.0])
    assert q("integral(c.v)").evaluate(t, y) == pytest.approx(5.0, rel=1e-15)
    assert q("mean(c.v)").evaluate(t, y) == pytest.approx(5.0 / 3.0, rel=1e-15)


def test_the_span_counts_from_the_first_sample() -> None:
    t = np.array([10.0, 12.0])  # y = 1 -> 3 over 2 s: mean 2
    y = np.array([1.0, 3.0])
    assert q("mean(c.v)").evaluate(t, y) == pytest.approx(2.0, rel=1e-15)
    assert q("integral(c.v)").evaluate(t, y) == pytest.approx(4.0, rel=1e-15)


def test_crossing_of_a_linear_ramp_is_exact() -> None:
    t = np.linspace(0.0, 1.0, 11)
    y = 2.0 * t - 1.0  # reaches 0.3 at t = 0.65, inside the interval [0.6, 0.7]
    assert q("crossing(c.v, 0.3)").evaluate(t, y) == pytest.approx(0.65, abs=1e-12)
    assert q("crossing(c.v, -0.95)").evaluate(t, y) == pytest.approx(0.025, abs=1e-12)


def test_downward_crossing() -> None:
    t = np.array([0.0, 1.0, 2.0])
    y = np.array([1.0, 0.5, -1.5])  # 0 is reached a quarter into the second interval
    assert q("crossing(c.v, 0)").evaluate(t, y) == pytest.approx(1.25, abs=1e-12)


def test_crossing_takes_the_first_of_several() -> None:
    t = np.arange(5.0)
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0])  # 0.5 at 0.5, 1.5, 2.5, 3.5
    assert q("crossing(c.v, 0.5)").evaluate(t, y) == 0.5


def test_crossing_at_the_first_sample_is_its_time() -> None:
    t = np.array([5.0, 6.0, 7.0])
    y = np.array([2.0, 3.0, 1.0])  # 2 again at 6.5: the first time is the start
    assert q("crossing(c.v, 2)").evaluate(t, y) == 5.0


def test_crossing_that_touches_a_sample_is_that_samples_time() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert q("crossing(c.v, 1)").evaluate(t, np.array([0.0, 1.0, 0.0, -1.0])) == 1.0
    assert q("crossing(c.v, 2)").evaluate(t, np.array([0.0, 1.0, 2.0, 3.0])) == 2.0


def test_never_crossed_is_nan() -> None:
    t = np.linspace(0.0, 1.0, 11)
    assert math.isnan(q("crossing(c.v, 5)").evaluate(t, t))
    assert math.isnan(q("crossing(c.v, -0.1)").evaluate(t, t))


def test_crossing_skips_intervals_through_nan() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, np.nan, 1.0, 3.0])  # only [2, 3] is a real interval: 2 reached at 2.5
    assert q("crossing(c.v, 2)").evaluate(t, y) == pytest.approx(2.5, abs=1e-12)


@pytest.mark.parametrize(
    "text",
    ["final(c.v)", "min(c.v)", "max(c.v)", "mean(c.v)", "integral(c.v)", "crossing(c.v, 1)"],
)
def test_no_samples_give_nan(text: str) -> None:
    assert math.isnan(q(text).evaluate(np.array([]), np.array([])))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("final(c.v)", 4.0),
        ("min(c.v)", 4.0),
        ("max(c.v)", 4.0),
        ("mean(c.v)", 4.0),
        ("integral(c.v)", 0.0),
        ("crossing(c.v, 4)", 2.0),
    ],
)
def test_one_sample(text: str, expected: float) -> None:
    assert q(text).evaluate(np.array([2.0]), np.array([4.0])) == expected


def test_one_sample_not_at_the_level_never_crosses() -> None:
    assert math.isnan(q("crossing(c.v, 3)").evaluate(np.array([2.0]), np.array([4.0])))


def test_booleans_and_integers_are_numbers() -> None:
    t = np.array([0, 1, 2])  # integer times
    flag = np.array([False, True, True])
    assert q("integral(c.v)").evaluate(t, flag) == 1.5
    assert q("mean(c.v)").evaluate(t, flag) == 0.75
    assert q("crossing(c.v, 0.5)").evaluate(t, flag) == 0.5
    got = q("max(c.v)").evaluate(t, np.array([1, 5, 2]))
    assert got == 5.0
    assert type(got) is float


def test_time_and_values_of_other_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="equal length"):
        q("max(c.v)").evaluate(np.arange(3.0), np.arange(4.0))


# --- the parser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "function", "signal", "value"),
    [
        ("max(mass1.x1)", "max", "mass1.x1", None),
        ("  final (  mass1.x1 )  ", "final", "mass1.x1", None),
        ("min(\tbus.a.b[2]\t)", "min", "bus.a.b[2]", None),
        ("mean(A.y[1,2])", "mean", "A.y[1,2]", None),
        ("integral(c.der(x))", "integral", "c.der(x)", None),
        ("crossing(bus.a.b[2],-1.5e-3)", "crossing", "bus.a.b[2]", -1.5e-3),
        ("crossing( c.v ,  +2 )", "crossing", "c.v", 2.0),
        ("crossing(c.v, 1E+3)", "crossing", "c.v", 1000.0),
        ("crossing(c.v, .5)", "crossing", "c.v", 0.5),
        ("crossing(c.v, -7.)", "crossing", "c.v", -7.0),
        ("crossing(A.y[1,2], 0)", "crossing", "A.y[1,2]", 0.0),
    ],
)
def test_parse_and_round_trip(text: str, function: str, signal: str, value: float | None):
    got = Qoi.parse(text)
    assert (got.function, got.signal, got.value) == (function, signal, value)
    assert got.text == text.strip()
    again = Qoi.parse(str(got))
    assert again == got
    assert str(again) == str(got)


def test_equal_qois_may_be_spaced_differently() -> None:
    assert Qoi.parse("max( c.v )") == Qoi.parse("max(c.v)")
    assert Qoi.parse("crossing(c.v, 1)") != Qoi.parse("crossing(c.v, 2)")


LOC = Location("study.yaml", 9, 3)


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("maxx(c.v)", "unknown function 'maxx' in 'maxx(c.v)'", "did you mean 'max'?"),
        ("avg(c.v)", "unknown function 'avg'", "final, min, max, mean, integral, crossing"),
        ("crossing(c.v)", "crossing takes 2 arguments in 'crossing(c.v)', got 1", "value)"),
        ("max(c.v, 1)", "max takes 1 argument in 'max(c.v, 1)', got 2", "max(component.var"),
        ("crossing(c.v, 1, 2)", "crossing takes 2 arguments", "crossing(component.variable, v"),
        (
            "crossing(c.v, high)",
            "the value of 'crossing(c.v, high)' must be a number, got 'high'",
            "0.5",
        ),
        ("crossing(c.v, nan)", "must be a number, got 'nan'", "a number"),
        ("crossing(c.v, 1_000)", "must be a number, got '1_000'", "a number"),
        ("crossing(c.v, 1e999)", "must be finite, got '1e999'", "smaller"),
        ("max()", "no signal in 'max()'", "recorded signal"),
        ("max( )", "no signal in 'max( )'", "recorded signal"),
        ("max(x1)", "the signal of 'max(x1)' must be component.variable, got 'x1'", "mass1.x1"),
        ("max(.x1)", "must be component.variable, got '.x1'", "mass1.x1"),
        ("max(mass1.)", "must be component.variable, got 'mass1.'", "mass1.x1"),
        ("max(mass 1.x)", "must be component.variable, got 'mass 1.x'", "mass1.x1"),
        ("max(c.v", "malformed quantity of interest 'max(c.v': expected ')' at the end", "max("),
        ("max(c.v) + 1", "expected ')' at the end", "max(component.variable)"),
        ("max(c.v))", "its brackets do not balance", "max(component.variable)"),
        ("max(c.v[1)", "its brackets do not balance", "max(component.variable)"),
        ("c.v", "malformed quantity of interest 'c.v': expected function(", "parentheses"),
        ("", "malformed quantity of interest ''", "function name"),
        ("2*max(c.v)", "malformed quantity of interest '2*max(c.v)'", "function name"),
    ],
)
def test_parse_errors(text: str, message: str, hint: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Qoi.parse(text, LOC)
    (problem,) = excinfo.value.problems
    assert message in problem.message
    assert hint in problem.hint
    assert problem.loc == LOC


def test_parse_refuses_what_is_not_text() -> None:
    with pytest.raises(ConfigError, match="must be text, got 3"):
        Qoi.parse(3)  # type: ignore[arg-type]


def test_a_qoi_built_directly_is_checked() -> None:
    with pytest.raises(ConfigError, match="unknown function 'avg'"):
        Qoi("avg", "c.v")
    with pytest.raises(ConfigError, match="only to crossing"):
        Qoi("crossing", "c.v")
    with pytest.raises(ConfigError, match="only to crossing"):
        Qoi("max", "c.v", 1.0)


def test_parse_qois_collects_every_problem_with_its_location() -> None:
    locs = {"peak": Location("s.yaml", 2, 9), "rise": Location("s.yaml", 3, 9)}
    spec = {"peak": "maxx(c.v)", "ok": "max(c.v)", "rise": "crossing(c.v)", "n": 3}
    with pytest.raises(ConfigError) as excinfo:
        parse_qois(spec, locs)  # type: ignore[arg-type]
    problems = excinfo.value.problems
    assert [p.message for p in problems] == [
        "quantity of interest peak: unknown function 'maxx' in 'maxx(c.v)'",
        "quantity of interest rise: crossing takes 2 arguments in 'crossing(c.v)', got 1: "
        "expected crossing(component.variable, value)",
        "quantity of interest n: a quantity of interest must be text, got 3",
    ]
    assert [p.loc for p in problems] == [locs["peak"], locs["rise"], None]


def test_parse_qois_keeps_the_names_and_their_order() -> None:
    got = parse_qois({"rise": "crossing(m.x, 0.5)", "peak": "max(m.x)"})
    assert list(got) == ["rise", "peak"]
    assert got["rise"] == Qoi("crossing", "m.x", 0.5)
    assert got["peak"] == Qoi("max", "m.x")


def test_evaluate_all_gives_nan_for_a_signal_not_recorded() -> None:
    t = np.array([0.0, 1.0, 2.0])
    recorded = {"m.x": np.array([0.0, 1.0, 4.0])}
    qois = parse_qois(
        {
            "peak": "max(m.x)",
            "area": "integral(m.x)",
            "rise": "crossing(m.x, 2)",
            "gone": "max(m.y)",
        }
    )
    got = evaluate_all(qois, t, recorded.__getitem__)
    assert list(got) == ["peak", "area", "rise", "gone"]
    assert got["peak"] == 4.0
    assert got["area"] == pytest.approx(0.5 + 2.5, rel=1e-15)
    assert got["rise"] == pytest.approx(1 + 1 / 3, abs=1e-12)
    assert math.isnan(got["gone"])


def test_signals_needed_are_unique_and_in_order() -> None:
    qois = parse_qois({"a": "max(m.x)", "b": "final(s.f)", "c": "min(m.x)", "d": "mean(k.v)"})
    assert signals_needed(qois) == ["m.x", "s.f", "k.v"]
    assert signals_needed(list(qois.values())) == ["m.x", "s.f", "k.v"]
