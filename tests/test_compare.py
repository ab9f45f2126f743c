"""Tests of the tolerance-tube comparison (cosim.verify.compare), signal reader and `cosim compare`.

Test data is written with numpy + h5py following the results.h5 contract (/time, /signals/<name>
with a `unit` attribute) and as CSV, from closed-form signals, so every expected deviation is
known in advance (an injected offset, a known event shift, a known spike).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pytest

from cosim.errors import ConfigError
from cosim.results.signals import from_arrays, read_signals
from cosim.verify.compare import Tolerance, compare, tube

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers
def write_h5(path: Path, t: np.ndarray, signals: dict, units: dict | None = None) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("time", data=np.asarray(t, dtype=np.float64))
        group = f.create_group("signals", track_order=True)
        for name, values in signals.items():
            ds = group.create_dataset(name, data=np.asarray(values))
            ds.attrs["unit"] = (units or {}).get(name, "")
    return path


def write_csv(path: Path, t: np.ndarray, signals: dict, units: dict | None = None) -> Path:
    names = list(signals)
    header = ["time"] + [f"{n} [{units[n]}]" if units and n in units else n for n in names]
    data = np.column_stack([t, *(signals[n] for n in names)])
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        np.savetxt(f, data, delimiter=",", fmt="%.17g")
    return path


def write(path: Path, t: np.ndarray, signals: dict, units: dict | None = None) -> Path:
    return (write_csv if path.suffix == ".csv" else write_h5)(path, t, signals, units)


def cosim(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "Agg",
    }
    return subprocess.run(
        [sys.executable, "-m", "cosim", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


T = np.linspace(0.0, 10.0, 1001)  # 10 ms grid
UNITS = {"mass1.x1": "m", "mass1.v1": "m/s"}


def oscillator(t: np.ndarray) -> dict[str, np.ndarray]:
    """x = sin(w t), v = w cos(w t) with w = 2 rad/s: max|x| = 1, max|v| = 2."""
    w = 2.0
    return {"mass1.x1": np.sin(w * t), "mass1.v1": w * np.cos(w * t)}


# --------------------------------------------------------------------------- offsets
@pytest.mark.parametrize("fmt", [".h5", ".csv"])
@pytest.mark.parametrize(("factor", "passes"), [(0.5, True), (0.9, True), (1.5, False), (5, False)])
def test_offset_inside_tolerance_passes_and_beyond_fails(
    tmp_path: Path, fmt: str, factor: float, passes: bool
) -> None:
    # rel_tol 1e-3 of max|x| (about 1) gives the band (abs_tol 1e-6 is smaller): an offset of
    # factor * band on x1 over t in [4, 6] s passes exactly when factor < 1; v1 is untouched
    ref = oscillator(T)
    res = oscillator(T)
    band = 1e-3 * np.ptp(ref["mass1.x1"])  # rel_tol scales the reference's range max - min
    window = (T >= 4.0) & (T <= 6.0)
    res["mass1.x1"] = res["mass1.x1"] + factor * band * window
    r = write(tmp_path / f"result{fmt}", T, res, UNITS)
    f = write(tmp_path / f"reference{fmt}", T, ref, UNITS)

    report = compare(r, f, abs_tol=1e-6, rel_tol=1e-3, time_tol=0.0)

    x1 = report.verdict("mass1.x1")
    assert x1.passed is passes
    assert report.verdict("mass1.v1").passed
    assert report.passed is passes
    assert x1.band == pytest.approx(band, rel=1e-12)
    assert x1.n_checked == T.size  # one shared grid: each point checked once
    # the largest deviation is the injected offset, somewhere inside the window
    assert x1.max_deviation == pytest.approx(factor * band, rel=1e-9)
    assert 4.0 <= x1.max_deviation_time <= 6.0
    if not passes:
        assert x1.first_failure_time == pytest.approx(4.0, abs=1e-9)
        assert x1.max_excess == pytest.approx((factor - 1) * band, rel=1e-6)
        assert "outside the tube" in x1.reason


def test_relative_tolerance_scales_with_the_range() -> None:
    # v1 spans about [-2, 2] (range ~4), x1 about [-1, 1] (range ~2): rel_tol 1e-3 gives bands of
    # ~4e-3 and ~2e-3, so an offset of 3e-3 passes on v1 but fails on x1
    ref = from_arrays(T, oscillator(T), UNITS)
    res_values = {k: v + 3e-3 for k, v in oscillator(T).items()}
    report = compare(from_arrays(T, res_values, UNITS), ref, abs_tol=0.0, rel_tol=1e-3, time_tol=0)
    v1 = oscillator(T)["mass1.v1"]
    assert report.verdict("mass1.v1").band == pytest.approx(1e-3 * np.ptp(v1), rel=1e-12)
    assert report.verdict("mass1.v1").passed
    assert not report.verdict("mass1.x1").passed


def test_relative_tolerance_of_an_offset_signal_uses_its_range_not_its_magnitude() -> None:
    # a temperature of 300 K varying by +-1 K: a 20 % larger swing must fail at rel_tol 1e-3
    # (range 2 K -> band 2 mK), although it is tiny against the 300 K magnitude
    t = np.linspace(0.0, 10.0, 1001)
    ref = from_arrays(t, {"T": 300.0 + np.sin(t)}, {"T": "K"})
    res = from_arrays(t, {"T": 300.0 + 1.2 * np.sin(t)}, {"T": "K"})
    verdict = compare(res, ref, abs_tol=0.0, rel_tol=1e-3, time_tol=0).verdict("T")
    assert verdict.band == pytest.approx(1e-3 * np.ptp(300.0 + np.sin(t)), rel=1e-12)
    assert not verdict.passed


def test_flat_signal_band_falls_back_to_its_magnitude() -> None:
    t = np.linspace(0.0, 1.0, 11)
    ref = from_arrays(t, {"p": np.full(t.size, 5.0)}, {"p": "1"})
    verdict = compare(ref, ref, abs_tol=0.0, rel_tol=1e-3, time_tol=0).verdict("p")
    assert verdict.band == pytest.approx(5e-3)
    assert verdict.passed


# --------------------------------------------------------------------------- events
def step_signal(t: np.ndarray, t_event: float) -> np.ndarray:
    """0.5 before the event, 1.5 from it on."""
    return 0.5 + 1.0 * (t >= t_event)


@pytest.mark.parametrize(
    ("shift", "time_tol", "passes"),
    [
        (0.02, 0.05, True),  # late by less than time_tol
        (-0.03, 0.05, True),  # early by less than time_tol
        (0.1, 0.05, False),  # late by twice time_tol
        (-0.2, 0.05, False),
        (0.02, 0.0, False),  # no time tolerance: any shift of a step fails
    ],
)
def test_event_shift_below_time_tolerance_passes(
    shift: float, time_tol: float, passes: bool
) -> None:
    # 1 ms grids on both sides: the step's linear ramp is 1 ms wide, so a shift plus one sample
    # must fit in time_tol; 0.02 + 0.001 < 0.05 and 0.1 > 0.05 + 0.001
    t = np.linspace(0.0, 10.0, 10001)
    ref = from_arrays(t, {"s.y": step_signal(t, 5.0)})
    res = from_arrays(t, {"s.y": step_signal(t, 5.0 + shift)})
    report = compare(res, ref, abs_tol=1e-6, rel_tol=1e-3, time_tol=time_tol)
    v = report.verdict("s.y")
    assert v.passed is passes
    # the largest raw deviation is the full step height, at the event, pass or fail
    assert v.max_deviation == pytest.approx(1.0, abs=1e-9)
    assert min(5.0, 5.0 + shift) - 1e-3 <= v.max_deviation_time <= max(5.0, 5.0 + shift) + 1e-3


def test_event_shift_on_different_grids() -> None:
    # reference on 1 ms, result on an irregular grid of about 2.5 ms; the step moves by 10 ms
    t = np.linspace(0.0, 10.0, 10001)
    rng = np.random.default_rng(7)
    r = np.sort(np.concatenate(([0.0, 10.0], rng.uniform(0.0, 10.0, 4000))))
    ref = from_arrays(t, {"s.y": step_signal(t, 5.0)})
    res = from_arrays(r, {"s.y": step_signal(r, 5.01)})
    gap = float(np.max(np.diff(r)))  # the result's widest sample interval
    assert compare(res, ref, time_tol=0.01 + gap + 1e-3).passed
    assert not compare(res, ref, time_tol=0.005).passed


# --------------------------------------------------------------------------- grids
def test_different_grids_compare() -> None:
    # the same closed form on a 10 ms reference grid and an irregular result grid: the only
    # difference is linear interpolation, at most h^2/8 * max|y''| on either grid (h its widest
    # sample interval; max|v''| = w^3 = 8 is the larger): that bound must pass, 1e-6 must not
    rng = np.random.default_rng(3)
    r = np.sort(np.concatenate(([0.0, 10.0], rng.uniform(0.0, 10.0, 2500))))
    ref = from_arrays(T, oscillator(T), UNITS)
    res = from_arrays(r, oscillator(r), UNITS)
    h = max(np.diff(T).max(), np.diff(r).max())
    bound = h**2 / 8 * 2.0**3
    good = compare(res, ref, abs_tol=bound * 1.001, rel_tol=0.0, time_tol=0.0)
    assert good.passed, [v.reason for v in good.failures]
    assert good.verdict("mass1.x1").n_checked == T.size + r.size
    assert good.verdict("mass1.v1").max_deviation <= bound
    assert not compare(res, ref, abs_tol=1e-6, rel_tol=0.0, time_tol=0.0).passed


def test_coarse_result_on_fine_reference() -> None:
    # result on a 100 ms grid: linear interpolation error at most 0.01/8 * 4 = 5e-3 for x
    ref = from_arrays(T, oscillator(T), UNITS)
    coarse = T[::10]
    res = from_arrays(coarse, oscillator(coarse), UNITS)
    assert compare(res, ref, signals=["mass1.x1"], abs_tol=6e-3, rel_tol=0, time_tol=0).passed
    assert not compare(res, ref, signals=["mass1.x1"], abs_tol=1e-3, rel_tol=0, time_tol=0).passed


def test_narrow_spike_between_reference_samples_is_caught() -> None:
    # one extra result sample 4.5 ms after t=5 s, 0.1 too high: no reference sample sees it,
    # only the check of result samples against the tube can
    r = np.sort(np.concatenate((T, [5.0045])))
    y = np.sin(2.0 * r)
    y[np.searchsorted(r, 5.0045)] += 0.1
    ref = from_arrays(T, {"x": np.sin(2.0 * T)})
    report = compare(from_arrays(r, {"x": y}), ref, abs_tol=1e-3, rel_tol=0, time_tol=1e-3)
    v = report.verdict("x")
    assert not v.passed
    assert v.max_excess_time == pytest.approx(5.0045)
    assert v.max_deviation == pytest.approx(0.1, abs=1e-3)


def test_result_shorter_than_reference_fails() -> None:
    ref = from_arrays(T, oscillator(T), UNITS)
    short = T[T <= 8.0]
    report = compare(from_arrays(short, oscillator(short), UNITS), ref, time_tol=0.01)
    assert not report.passed
    assert all("covers" in v.reason for v in report.signals)


# --------------------------------------------------------------------------- NaN / Inf
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_result_fails(bad: float) -> None:
    res = oscillator(T)
    i = int(np.searchsorted(T, 3.0))
    res["mass1.x1"] = res["mass1.x1"].copy()
    res["mass1.x1"][i] = bad
    # huge tolerances: the value itself would pass, the non-finite sample alone must fail it
    report = compare(
        from_arrays(T, res, UNITS), from_arrays(T, oscillator(T), UNITS), abs_tol=1e9, rel_tol=0
    )
    v = report.verdict("mass1.x1")
    assert not v.passed
    assert ("NaN" if np.isnan(bad) else "Inf") in v.reason
    assert "t=3 s" in v.reason
    assert report.verdict("mass1.v1").passed


def test_nan_in_reference_fails() -> None:
    ref = oscillator(T)
    ref["mass1.v1"] = ref["mass1.v1"].copy()
    ref["mass1.v1"][10] = np.nan
    report = compare(from_arrays(T, oscillator(T), UNITS), from_arrays(T, ref, UNITS))
    assert not report.verdict("mass1.v1").passed
    assert "reference has NaN" in report.verdict("mass1.v1").reason


# --------------------------------------------------------------------------- selection
def test_missing_signals_are_reported(tmp_path: Path) -> None:
    t = T
    ref = write_h5(tmp_path / "ref.h5", t, {"a.x": t, "b.x": 2 * t, "c.x": 3 * t})
    res = write_h5(tmp_path / "res.h5", t, {"a.x": t, "b.x": 2 * t, "d.x": 4 * t})
    report = compare(res, ref)
    assert [(v.name, v.status) for v in report.signals] == [
        ("a.x", "pass"),
        ("b.x", "pass"),
        ("c.x", "missing"),
    ]
    assert report.verdict("c.x").reason == "missing in result"
    assert report.extra == ("d.x",)  # noted, not a failure
    assert not report.passed

    # asked for by exact name but only in the result: it cannot be checked, so it fails
    explicit = compare(res, ref, signals=["a.x", "d.x"])
    assert explicit.verdict("d.x").reason == "missing in reference"
    assert explicit.verdict("a.x").passed
    # a pattern that matches nothing anywhere fails too, so a typo never checks nothing
    typo = compare(res, ref, signals=["a.*", "zz*"])
    assert typo.verdict("zz*").reason == "no signal matches"
    assert not typo.passed


def test_selection_by_name_and_glob() -> None:
    t = T
    sig = {"mass1.x1": t, "mass1.v1": t, "mass2.x2": t, "mass2.v2": t}
    ref, res = from_arrays(t, sig), from_arrays(t, {**sig, "mass2.v2": t + 1})
    report = compare(res, ref, signals=["mass1.*", "mass2.x2"])
    assert [v.name for v in report.signals] == ["mass1.x1", "mass1.v1", "mass2.x2"]
    assert report.passed  # mass2.v2 differs but is not selected
    assert not compare(res, ref, signals=["mass2.?2"]).passed


def test_no_common_signals_is_a_config_error() -> None:
    ref = from_arrays(T, {"a.x": T})
    res = from_arrays(T, {"b.x": T})
    with pytest.raises(ConfigError, match="no common signals"):
        compare(res, ref)


def test_overrides_exact_name_beats_glob() -> None:
    ref = from_arrays(T, oscillator(T))
    res = from_arrays(T, {k: v + 0.01 for k, v in oscillator(T).items()})
    base = dict(abs_tol=1e-3, rel_tol=0.0, time_tol=0.0)
    assert not compare(res, ref, **base).passed
    loose = compare(res, ref, **base, overrides={"mass1.*": {"abs": 0.02}})
    assert loose.passed
    assert loose.verdict("mass1.x1").abs_tol == 0.02
    mixed = compare(
        res,
        ref,
        **base,
        overrides={"mass1.*": {"abs_tol": 0.02}, "mass1.v1": Tolerance(abs_tol=0.005)},
    )
    assert mixed.verdict("mass1.x1").passed
    assert not mixed.verdict("mass1.v1").passed
    assert mixed.verdict("mass1.v1").rel_tol == 0.0  # unset fields inherit
    with pytest.raises(ConfigError, match="unknown key"):
        compare(res, ref, overrides={"mass1.x1": {"absolute": 1.0}})
    with pytest.raises(ConfigError, match=">= 0"):
        compare(res, ref, abs_tol=-1.0)


def test_threads_give_the_same_verdicts() -> None:
    # several signals, some failing: checking them side by side must not change any number
    rng = np.random.default_rng(11)
    t = np.linspace(0.0, 10.0, 20001)
    ref = {f"c{k}.y": np.sin((k + 1) * t) for k in range(6)}
    res = {
        f"c{k}.y": y + rng.normal(0.0, 1e-4 if k < 3 else 5e-3, t.size)
        for k, y in enumerate(ref.values())
    }
    a, b = from_arrays(t, res), from_arrays(t, ref)
    one = compare(a, b, abs_tol=5e-3, time_tol=1e-3, workers=1)
    two = compare(a, b, abs_tol=5e-3, time_tol=1e-3, workers=2)
    assert one.to_dict() == two.to_dict()  # NaN-free form of every verdict
    assert [v.passed for v in one.signals] == [True] * 3 + [False] * 3


def test_unit_mismatch_fails() -> None:
    ref = from_arrays(T, {"v.speed": T}, {"v.speed": "m/s"})
    res = from_arrays(T, {"v.speed": T}, {"v.speed": "km/h"})
    v = compare(res, ref).verdict("v.speed")
    assert not v.passed
    assert "unit differs" in v.reason


# --------------------------------------------------------------------------- the tube itself
def brute_force_tube(t, y, q, dt, band):
    """Independent tube: for each query, min/max of the piecewise-linear curve over [q-dt, q+dt]
    (samples inside, plus the curve at both window ends), widened by band."""
    lo, hi = np.empty(q.size), np.empty(q.size)
    for i, x in enumerate(q):
        a, b = max(x - dt, t[0]), min(x + dt, t[-1])
        inside = y[(t >= a) & (t <= b)]
        ends = np.interp([a, b], t, y)
        values = np.concatenate((inside, ends))
        lo[i], hi[i] = values.min() - band, values.max() + band
    return lo, hi


@pytest.mark.parametrize("time_tol", [0.0, 0.003, 0.05, 0.4, 3.0])
def test_tube_matches_brute_force_on_irregular_grids(time_tol: float) -> None:
    # irregular grids with repeated times (events) and queries between and on samples
    rng = np.random.default_rng(int(time_tol * 1000))
    for _ in range(40):
        n = int(rng.integers(1, 80))
        t = np.sort(np.round(rng.uniform(0.0, 5.0, n), int(rng.integers(1, 4))))
        y = rng.standard_normal(n)
        q = np.sort(np.concatenate((t, rng.uniform(t[0], t[-1], 25))))
        got = tube(t, y, abs_tol=0.01, rel_tol=0.0, time_tol=time_tol, at=q)
        lo, hi = brute_force_tube(t, y, q, time_tol, 0.01)
        np.testing.assert_allclose(got.lower, lo, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.upper, hi, rtol=0, atol=1e-12)


def test_tube_on_large_time_offsets() -> None:
    # times near 1e6 s with a step that is not a power of two: rounding at block edges must
    # not change the envelope
    t = 1e6 + np.arange(500) * 0.01
    y = np.random.default_rng(0).standard_normal(500)
    q = np.sort(np.concatenate((t, t[:-1] + 0.0037)))
    for dt in (0.01, 0.015, 0.03, 0.1):
        got = tube(t, y, abs_tol=0.0, rel_tol=0.0, time_tol=dt, at=q)
        lo, hi = brute_force_tube(t, y, q, dt, 0.0)
        np.testing.assert_allclose(got.lower, lo, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.upper, hi, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- reading files
def test_csv_units_and_h5_agree(tmp_path: Path) -> None:
    sig = oscillator(T)
    h5 = read_signals(write_h5(tmp_path / "a.h5", T, sig, UNITS))
    csv = read_signals(write_csv(tmp_path / "a.csv", T, sig, UNITS))
    assert csv.units == h5.units == UNITS
    for name in sig:
        np.testing.assert_array_equal(csv.values[name], h5.values[name])  # %.17g round-trips
    assert compare(csv.source, h5.source, abs_tol=0, rel_tol=0, time_tol=0).passed


def test_csv_from_other_tools(tmp_path: Path) -> None:
    # quoted names, semicolons, array elements that look like units, and a unit in brackets
    path = tmp_path / "other.csv"
    path.write_text('"Time";"x[1]";"der(x) [m/s]"\n0;1;2\n1;3;4\n')
    s = read_signals(path)
    assert s.names == ["x[1]", "der(x)"]
    assert s.units == {"x[1]": "", "der(x)": "m/s"}
    np.testing.assert_array_equal(s.values["x[1]"], [1.0, 3.0])


def test_integer_and_boolean_datasets_compare(tmp_path: Path) -> None:
    t = np.arange(10.0)
    ref = write_h5(tmp_path / "r.h5", t, {"g.n_out": np.arange(10), "g.positive": t > 4})
    res = write_h5(tmp_path / "s.h5", t, {"g.n_out": np.arange(10), "g.positive": t > 5})
    report = compare(res, ref, time_tol=0.0)
    assert report.verdict("g.n_out").passed
    assert not report.verdict("g.positive").passed


def test_time_going_backwards_is_a_config_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "back.csv", np.array([0.0, 1.0, 0.5]), {"x": np.zeros(3)})
    with pytest.raises(ConfigError, match="time goes backwards at row 2"):
        read_signals(path)


# --------------------------------------------------------------------------- CLI
@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A result whose x1 is 0.05 off from t=4 s on (fails) and whose v1 matches (passes)."""
    res = oscillator(T)
    res["mass1.x1"] = res["mass1.x1"] + 0.05 * (T >= 4.0)
    return (
        write_h5(tmp_path / "result.h5", T, res, UNITS),
        write_csv(tmp_path / "reference.csv", T, oscillator(T), UNITS),
    )


def test_cli_pass_and_fail_exit_codes(pair: tuple[Path, Path]) -> None:
    res, ref = pair
    ok = cosim("compare", str(res), str(ref), "--signals", "mass1.v1")
    assert ok.returncode == 0, ok.stderr
    assert "PASS" in ok.stdout and "mass1.v1" in ok.stdout

    bad = cosim("compare", str(res), str(ref), "--abs-tol", "1e-3", "--time-tol", "0.01")
    assert bad.returncode == 1, bad.stderr
    row = next(line for line in bad.stdout.splitlines() if "mass1.x1" in line)
    assert row.startswith("FAIL")
    assert "0.05" in row  # the injected offset is the largest deviation
    assert "first at t=4 s" in row

    loose = cosim("compare", str(res), str(ref), "--abs-tol", "0.06")
    assert loose.returncode == 0, loose.stdout


def test_cli_json(pair: tuple[Path, Path]) -> None:
    res, ref = pair
    proc = cosim("compare", str(res), str(ref), "--json", "--abs-tol", "1e-3")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    by_name = {s["name"]: s for s in data["signals"]}
    assert by_name["mass1.x1"]["passed"] is False
    assert by_name["mass1.x1"]["max_deviation"] == pytest.approx(0.05, rel=1e-9)
    assert by_name["mass1.v1"]["passed"] is True
    assert data["passed"] is False


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources += [v for k, v in attrs if k == "src" and v]


def test_cli_html_report_contains_plots(pair: tuple[Path, Path], tmp_path: Path) -> None:
    res, ref = pair
    out = tmp_path / "report"
    proc = cosim("compare", str(res), str(ref), "--abs-tol", "1e-3", "--report", str(out))
    assert proc.returncode == 1, proc.stderr
    index = out / "index.html"
    page = index.read_text()
    parser = _Images()
    parser.feed(page)
    # one plot: the failing x1 (reference, tube, result); none for the passing v1
    assert len(parser.sources) == 1
    image = out / parser.sources[0]
    assert "mass1.x1" in parser.sources[0]
    assert image.read_bytes()[:8] == PNG_SIGNATURE
    assert image.stat().st_size > 10_000
    assert "mass1.v1" in page and "PASS" in page


CORRUPT = {
    "empty.h5": b"",
    "empty.csv": b"",
    "garbage.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 100,
    "header_only.csv": b"time,x\n",
    "letters.csv": b"time,x\n0,1\n1,abc\n",
    "binary.csv": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_cli_corrupt_or_empty_file_exits_2(tmp_path: Path, name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(CORRUPT[name])
    ref = write_h5(tmp_path / "ref.h5", T, oscillator(T), UNITS)
    proc = cosim("compare", str(bad), str(ref))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], proc.stderr


def test_cli_missing_file_and_no_common_signals_exit_2(tmp_path: Path) -> None:
    ref = write_h5(tmp_path / "ref.h5", T, {"a.x": T})
    other = write_h5(tmp_path / "other.h5", T, {"b.x": T})
    missing = cosim("compare", str(tmp_path / "nope.h5"), str(ref))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    disjoint = cosim("compare", str(other), str(ref))
    assert disjoint.returncode == 2 and "no common signals" in disjoint.stderr
    assert "Traceback" not in missing.stderr + disjoint.stderr


# --------------------------------------------------------------------------- wording
STALE = ("largest |value|", "of max|reference|", "reference's max|value|")


def test_rel_tol_is_described_by_the_range_everywhere(pair: tuple[Path, Path], tmp_path) -> None:
    """The code scales rel_tol by the reference's range (test above); the help text, the HTML
    report and docs/regression.md say so, and none says "largest |value|"."""
    help_text = " ".join(cosim("compare", "--help").stdout.split())
    assert "fraction of each reference signal's range max - min" in help_text
    res, ref = pair
    cosim("compare", str(res), str(ref), "--abs-tol", "1e-3", "--report", str(tmp_path / "r"))
    page = " ".join((tmp_path / "r" / "index.html").read_text().split())
    assert "rel_tol=0.001 (of the reference's range max - min" in page
    docs = (ROOT / "docs" / "regression.md").read_text()
    for text in (help_text, page, docs):
        assert not [s for s in STALE if s in text]


def test_report_prints_the_resolved_time_tolerance(pair: tuple[Path, Path], tmp_path) -> None:
    """Without --time-tol the tolerance is 1e-3 of the reference's 10 s span: 0.01 s, printed
    as a number in the HTML report and the summary line, not as "auto s"."""
    res, ref = pair
    out = tmp_path / "r"
    proc = cosim("compare", str(res), str(ref), "--abs-tol", "1e-3", "--report", str(out))
    assert proc.returncode == 1
    page = " ".join((out / "index.html").read_text().split())
    assert "time_tol=0.01 s (automatic: 0.001 of the reference's time span)" in page
    assert "auto s" not in page
    assert "time_tol 0.01 s (auto))" in proc.stdout
    report = compare(res, ref, abs_tol=1e-3)
    assert report.time_tol == pytest.approx(1e-3 * (T[-1] - T[0]), rel=1e-12)
    assert report.tolerance.time_tol is None and report.to_dict()["time_tol"] == report.time_tol
    explicit = compare(res, ref, abs_tol=1e-3, time_tol=0.25)
    assert explicit.time_tol == 0.25
    from cosim.verify.report import write_report

    write_report(explicit, read_signals(res), read_signals(ref), tmp_path / "e")
    page = " ".join((tmp_path / "e" / "index.html").read_text().split())
    assert "time_tol=0.25 s." in page
