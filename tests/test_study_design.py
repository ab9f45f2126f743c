"""Study designs: factorial grids, case lists, samples and their errors, against closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cosim.errors import ConfigError, Location
from cosim.study.design import Distribution, Sample, cases, design_frame, factorial


def _problem(excinfo: pytest.ExceptionInfo[ConfigError], fragment: str) -> str:
    """The message of the one problem that mentions `fragment` (its hint appended)."""
    found = [p for p in excinfo.value.problems if fragment in p.message]
    assert found, f"no problem mentions {fragment!r}: {excinfo.value}"
    return f"{found[0].message} | {found[0].hint}"


def uniform(lo: float, hi: float) -> Distribution:
    return Distribution("uniform", {"min": lo, "max": hi})


# --- factorial, cases, design_frame ---------------------------------------------------------


def test_factorial_is_itertools_product_first_name_slowest() -> None:
    levels = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.5, 1.5, 2.5, 3.5]}
    frame = factorial(levels)
    expected = list(itertools.product(*levels.values()))
    assert len(frame) == 3 * 2 * 4
    assert list(frame.columns) == ["a", "b", "c"]
    assert list(frame.itertuples(index=False, name=None)) == expected
    assert isinstance(frame.index, pd.RangeIndex)
    assert frame.index.name == "case"
    assert list(frame.index) == list(range(24))


def test_values_keep_their_python_types() -> None:
    frame = factorial(
        {"fmu": ["a.fmu", "b.fmu"], "n": [1, 2], "on": [True, False], "k": [0.5, 1.5]}
    )
    first = {name: frame[name].tolist()[0] for name in frame.columns}
    assert first == {"fmu": "a.fmu", "n": 1, "on": True, "k": 0.5}
    assert [type(v) for v in first.values()] == [str, int, bool, float]


def test_one_level_gives_one_case() -> None:
    frame = factorial({"scenario": ["storm"]})
    assert frame["scenario"].tolist() == ["storm"]


def test_cases_keep_the_first_case_order_and_values() -> None:
    rows = [{"b": "x.fmu", "a": 1}, {"a": 2, "b": "y.fmu"}, {"a": 3, "b": "z.fmu"}]
    frame = cases(rows)
    assert list(frame.columns) == ["b", "a"]
    assert frame["a"].tolist() == [1, 2, 3]
    assert frame["b"].tolist() == ["x.fmu", "y.fmu", "z.fmu"]
    assert frame.index.name == "case"
    assert list(frame.index) == [0, 1, 2]


def test_design_frame_dispatches_on_the_kind_of_design() -> None:
    assert design_frame({"a": [1, 2], "b": [3]})["a"].tolist() == [1, 2]
    assert design_frame([{"a": 1}, {"a": 2}])["a"].tolist() == [1, 2]
    sample = Sample({"a": uniform(0, 1)}, n=7, seed=1)
    pd.testing.assert_frame_equal(design_frame(sample), sample.cases())


def test_design_frame_copies_a_data_frame_with_a_fresh_index() -> None:
    given = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=[10, 20, 30])
    frame = design_frame(given)
    assert list(frame.index) == [0, 1, 2]
    assert frame.index.name == "case"
    frame.loc[0, "a"] = 99.0
    assert given["a"].tolist() == [1.0, 2.0, 3.0]  # a copy, not a view


# --- sampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_latin_hypercube_puts_one_point_in_each_stratum(seed: int) -> None:
    n = 50
    sample = Sample(
        {
            "a": uniform(2.0, 5.0),
            "b": uniform(-1.0, 1.0),
            "c": Distribution("normal", {"mean": 3.0, "std": 0.5}),
        },
        n=n,
        method="lhs",
        seed=seed,
    )
    frame = sample.cases()
    # the CDFs, written out here rather than taken from the code under test
    cdf = {
        "a": (frame["a"] - 2.0) / 3.0,
        "b": (frame["b"] + 1.0) / 2.0,
        "c": 0.5 * (1 + np.vectorize(math.erf)((frame["c"] - 3.0) / (0.5 * math.sqrt(2)))),
    }
    for name, p in cdf.items():
        strata = np.floor(np.asarray(p) * n).astype(int)
        assert sorted(strata) == list(range(n)), name


def test_random_sampling_is_not_stratified() -> None:
    # the chance that 50 independent uniforms fall one per stratum is 50!/50**50 ~ 3e-21
    frame = Sample({"a": uniform(0.0, 1.0)}, n=50, method="random", seed=0).cases()
    strata = np.floor(frame["a"].to_numpy() * 50).astype(int)
    assert sorted(strata) != list(range(50))


@pytest.mark.parametrize("method", ["lhs", "random"])
def test_a_seed_makes_the_cases_reproducible(method: str) -> None:
    dists = {"a": uniform(0.0, 1.0), "b": Distribution("normal", {"mean": 0.0, "std": 1.0})}
    one = Sample(dists, n=20, method=method, seed=7).cases()
    again = Sample(dists, n=20, method=method, seed=7).cases()
    other = Sample(dists, n=20, method=method, seed=8).cases()
    pd.testing.assert_frame_equal(one, again)
    assert not np.allclose(one.to_numpy(), other.to_numpy())
    assert list(one.columns) == ["a", "b"]
    assert len(one) == 20
    assert one.index.name == "case"


def test_uniform_samples_lie_in_their_range() -> None:
    frame = Sample({"a": uniform(-3.0, -2.0)}, n=1000, method="random", seed=3).cases()
    assert frame["a"].between(-3.0, -2.0).all()


N = 20000
# 5 standard errors: a correct sampler fails one check in ~1.7 million (two-sided normal tail);
# Latin hypercube means vary far less than random ones, so the bound holds for both methods.
Z = 5.0


@pytest.mark.parametrize("method", ["lhs", "random"])
def test_normal_sample_moments(method: str) -> None:
    mu, sigma = 1.5, 0.2
    x = Sample({"x": Distribution("normal", {"mean": mu, "std": sigma})}, N, method, 11).cases()
    x = x["x"].to_numpy()
    assert abs(x.mean() - mu) < Z * sigma / math.sqrt(N)  # standard error of the mean
    # standard error of the sample standard deviation of a normal: sigma / sqrt(2 (N - 1))
    assert abs(x.std(ddof=1) - sigma) < Z * sigma / math.sqrt(2 * (N - 1))


@pytest.mark.parametrize("method", ["lhs", "random"])
def test_lognormal_sample_moments(method: str) -> None:
    mu, sigma = 0.3, 0.25  # of the underlying normal
    dist = Distribution("lognormal", {"mean": mu, "std": sigma})
    x = Sample({"x": dist}, N, method, 5).cases()["x"].to_numpy()
    assert (x > 0).all()
    mean = math.exp(mu + sigma**2 / 2)
    var = (math.exp(sigma**2) - 1) * math.exp(2 * mu + sigma**2)
    assert abs(x.mean() - mean) < Z * math.sqrt(var / N)
    logs = np.log(x)  # normal(mu, sigma) if the parameters are log-space ones
    assert abs(logs.mean() - mu) < Z * sigma / math.sqrt(N)
    assert abs(logs.std(ddof=1) - sigma) < Z * sigma / math.sqrt(2 * (N - 1))


@pytest.mark.parametrize("method", ["lhs", "random"])
def test_truncnormal_stays_inside_and_has_the_truncated_mean(method: str) -> None:
    mu, sigma, lo, hi = 1.0, 2.0, 0.0, 5.0
    dist = Distribution("truncnormal", {"mean": mu, "std": sigma, "min": lo, "max": hi})
    x = Sample({"x": dist}, N, method, 2).cases()["x"].to_numpy()
    assert ((x >= lo) & (x <= hi)).all()
    a, b = (lo - mu) / sigma, (hi - mu) / sigma

    def phi(z: float) -> float:
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    def Phi(z: float) -> float:  # noqa: N802 - the standard normal CDF
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    z = Phi(b) - Phi(a)
    mean = mu + sigma * (phi(a) - phi(b)) / z  # closed form of the truncated normal's mean
    var = sigma**2 * (1 + (a * phi(a) - b * phi(b)) / z - ((phi(a) - phi(b)) / z) ** 2)
    assert mean == pytest.approx(stats.truncnorm.mean(a, b, loc=mu, scale=sigma), rel=1e-12)
    assert abs(x.mean() - mean) < Z * math.sqrt(var / N)


def test_ppf_ends_are_the_bounds_and_uniform_is_linear() -> None:
    dist = Distribution("truncnormal", {"mean": 0.0, "std": 1.0, "min": -0.5, "max": 2.0})
    assert dist.ppf(np.array([0.0, 1.0])) == pytest.approx([-0.5, 2.0], abs=1e-12)
    u = np.array([0.0, 0.25, 0.5, 1.0])
    assert uniform(2.0, 6.0).ppf(u) == pytest.approx([2.0, 3.0, 4.0, 6.0], abs=1e-12)


# --- Distribution.parse -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "params"),
    [
        ({"uniform": [0.5, 2]}, "uniform", {"min": 0.5, "max": 2.0}),
        ({"normal": {"mean": 1, "std": 0.1}}, "normal", {"mean": 1.0, "std": 0.1}),
        ({"lognormal": {"std": 0.2, "mean": 0}}, "lognormal", {"mean": 0.0, "std": 0.2}),
        (
            {"truncnormal": {"mean": 1, "std": 2, "min": 0, "max": 3}},
            "truncnormal",
            {"mean": 1.0, "std": 2.0, "min": 0.0, "max": 3.0},
        ),
    ],
)
def test_parse_accepts_the_four_forms(spec: dict, kind: str, params: dict) -> None:
    assert Distribution.parse("m", spec) == Distribution(kind, params)


LOC = Location("study.yaml", 4, 7)


@pytest.mark.parametrize(
    ("spec", "fragment", "expected"),
    [
        ({"unifrom": [0, 1]}, "unknown distribution", "did you mean 'uniform'?"),
        ({"gauss": {"mean": 0}}, "unknown distribution 'gauss' for m", "lognormal, truncnormal"),
        ({"normal": {"mean": 0, "sdt": 1}}, "unknown key 'sdt'", "did you mean 'std'?"),
        ({"normal": {"mean": 0}}, "normal distribution of m is missing 'std'", "give mean, std"),
        ({"normal": {"mean": "a", "std": 1}}, "the mean of m must be a finite number", "'a'"),
        ({"normal": {"mean": True, "std": 1}}, "the mean of m must be a finite number", "True"),
        ({"uniform": [0, "x"]}, "the max of m must be a finite number", "got 'x'"),
        (
            {"normal": {"mean": 0, "std": -1}},
            "the standard deviation of m must be > 0, got -1",
            "positive",
        ),
        ({"lognormal": {"mean": 0, "std": 0}}, "standard deviation of m must be > 0, got 0", ""),
        ({"uniform": [2, 1]}, "the range of m is empty: min 2 >= max 1", "min < max"),
        (
            {"truncnormal": {"mean": 0, "std": 1, "min": 2, "max": 2}},
            "the range of m is empty: min 2 >= max 2",
            "min < max",
        ),
        ({"uniform": [0, 1, 2]}, "uniform distribution of m needs [min, max]", "[lo, hi]"),
        ({"normal": [0, 1]}, "normal distribution of m needs {mean, std}", "normal: {mean"),
        (3.0, "the distribution of m must be one of uniform, normal", "{uniform: [0.5"),
        ({"uniform": [0, 1], "normal": {}}, "must be one of", "one kind"),
    ],
)
def test_parse_errors(spec: object, fragment: str, expected: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Distribution.parse("m", spec, LOC)
    assert expected in _problem(excinfo, fragment)
    assert all(p.loc == LOC for p in excinfo.value.problems)


def test_parse_reports_every_problem_of_one_distribution() -> None:
    spec = {"truncnormal": {"mean": 0, "std": -2, "min": 3, "max": 1}}
    with pytest.raises(ConfigError) as excinfo:
        Distribution.parse("k", spec)
    assert [p.message for p in excinfo.value.problems] == [
        "the standard deviation of k must be > 0, got -2",
        "the range of k is empty: min 3 >= max 1",
    ]


@pytest.mark.parametrize(
    ("kind", "params", "fragment"),
    [
        ("beta", {"a": 1.0}, "unknown distribution 'beta'"),
        ("normal", {"mean": 0.0}, "needs the numbers mean, std"),
        ("normal", {"mean": 0.0, "std": -1.0}, "must be > 0, got -1"),
        ("uniform", {"min": 1.0, "max": 0.0}, "min 1 >= max 0"),
    ],
)
def test_a_distribution_built_directly_is_checked_too(kind: str, params: dict, fragment: str):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        Distribution(kind, params)


# --- the other errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment", "expected"),
    [
        ({"n": 0}, "the sample size must be an integer >= 1, got 0", "n: 1 or more"),
        ({"n": 2.5}, "the sample size must be an integer >= 1, got 2.5", ""),
        ({"n": 10, "method": "lsh"}, "unknown sampling method 'lsh'", "did you mean 'lhs'?"),
        ({"n": 10, "distributions": {}}, "at least one distribution", ""),
        ({"n": 10, "distributions": {"a": [0, 1]}}, "must be a Distribution", "parse"),
    ],
)
def test_sample_errors(kwargs: dict, fragment: str, expected: str) -> None:
    kwargs = {"distributions": {"a": uniform(0.0, 1.0)}, **kwargs}
    with pytest.raises(ConfigError) as excinfo:
        Sample(**kwargs)
    assert expected in _problem(excinfo, fragment)


def test_factorial_errors_name_every_bad_parameter() -> None:
    with pytest.raises(ConfigError) as excinfo:
        factorial({"a": [], "b": [1], "c": "x.fmu", "d": []})
    messages = [p.message for p in excinfo.value.problems]
    assert messages == [
        "the levels of a are empty",
        "the levels of c must be a list, got 'x.fmu'",
        "the levels of d are empty",
    ]
    assert excinfo.value.problems[0].hint == "give at least one value"
    assert excinfo.value.problems[1].hint == "write c: ['x.fmu'] for one level"


def test_factorial_needs_a_parameter() -> None:
    with pytest.raises(ConfigError, match="at least one parameter"):
        factorial({})


def test_cases_name_the_case_and_the_missing_and_extra_parameters() -> None:
    rows = [
        {"mass1.m1": 1.0, "mass1.k": 2.0},
        {"mass1.m1": 1.5, "mass1.k": 2.0},
        {"mass1.m2": 1.0, "mass1.k": 2.0, "spring.c": 3.0},
        {"mass1.k": 2.0},
    ]
    with pytest.raises(ConfigError) as excinfo:
        cases(rows)
    problems = excinfo.value.problems
    assert [p.message for p in problems] == [
        "case 2 names other parameters than case 0: missing mass1.m1; extra mass1.m2, spring.c",
        "case 3 names other parameters than case 0: missing mass1.m1",
    ]
    assert "did you mean 'mass1.m2' -> 'mass1.m1'?" in problems[0].hint
    assert "mass1.m1, mass1.k" in problems[1].hint


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([], "needs at least one case"),
        ([{"a": 1}, 3], "case 1 must be a mapping parameter -> value, got 3"),
        ([{}], "case 0 sets no parameters"),
    ],
)
def test_cases_errors(rows: list, fragment: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        cases(rows)
    _problem(excinfo, fragment)


@pytest.mark.parametrize(
    ("design", "fragment"),
    [
        (3, "a design must be {name: [levels]}, a list of cases, a Sample or a DataFrame, got int"),
        ("a.fmu", "got str"),
        (None, "got NoneType"),
        (pd.DataFrame({"a": []}), "the design has no cases"),
        (pd.DataFrame(index=[0, 1]), "the design sets no parameters"),
        ([], "needs at least one case"),
        ({"a": []}, "the levels of a are empty"),
    ],
)
def test_design_frame_errors(design: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        design_frame(design)
    _problem(excinfo, fragment)
