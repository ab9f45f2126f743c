"""Compare a result with a reference, signal by signal, inside a tolerance tube; return a Report.

The tube (as in the CSV-compare tool of the Modelica/FMI cross-check) is built around the
reference curve y_ref(t), the straight-line interpolation through the reference samples:

* each reference point gets a rectangle of half-width ``time_tol`` (seconds) and half-height
  ``band = max(abs_tol, rel_tol * range(y_ref))`` (the relative tolerance scales with the
  signal's range max - min over the whole reference, or with max|y_ref| for a flat signal, so
  one band height holds per signal);
* the upper envelope is ``U(t) = band + max{y_ref(s) : |s - t| <= time_tol}`` and the lower
  ``L(t) = min{...} - band``, the max/min taken over the interpolated curve (samples inside the
  window and the curve at the window's two ends), so a reference on a coarse grid still gets
  an exact tube;
* the result passes when it stays inside at every reference time (result interpolated there)
  and at every result sample inside the reference's time range (tube evaluated there), so a
  narrow spike in the result between two reference samples is caught too.

A step (event) that moves by less than ``time_tol`` stays inside the tube. NaN or Inf in the
result or reference always fails. The sliding-window max/min is O(n) on any time grid:
blocks of width 2*time_tol split every window into a suffix of one block and a prefix of the
next, and segmented running max/min give both (van Herk/Gil-Werman, vectorised with numpy).
All grid work (window indices, interpolation weights) is shared by every signal of a file pair.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from cosim.errors import ConfigError, Problem
from cosim.results.signals import SignalSet, is_glob, matches, read_signals

DEFAULT_ABS_TOL = 1e-6
DEFAULT_REL_TOL = 1e-3
# time_tol=None means this fraction of the reference's time span
DEFAULT_TIME_TOL_FRACTION = 1e-3

Source = SignalSet | str | os.PathLike[str]


@dataclass(frozen=True)
class Tolerance:
    """Tube tolerances; a None field inherits from the defaults it is layered over."""

    abs_tol: float | None = None  # in the signal's unit
    rel_tol: float | None = None  # fraction of the range max - min of y_ref (max|y_ref| if flat)
    time_tol: float | None = None  # seconds

    def over(self, base: Tolerance) -> Tolerance:
        """These tolerances, with every unset field taken from base."""
        mine = [getattr(self, f.name) for f in fields(self)]
        theirs = [getattr(base, f.name) for f in fields(self)]
        return Tolerance(*(a if a is not None else b for a, b in zip(mine, theirs, strict=True)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "tolerance") -> Tolerance:
        """From {abs_tol|abs, rel_tol|rel, time_tol|time: number}; unknown keys are an error."""
        aliases = {"abs": "abs_tol", "rel": "rel_tol", "time": "time_tol"}
        values: dict[str, float] = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if name not in ("abs_tol", "rel_tol", "time_tol"):
                raise ConfigError(
                    Problem(None, f"{where}: unknown key {key!r}", "use abs_tol, rel_tol, time_tol")
                )
            values[name] = value
        tol = cls(**values)
        tol.check(where)
        return tol

    def check(self, where: str = "tolerance") -> None:
        """ConfigError unless every set field is a finite number >= 0."""
        problems = []
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            ok = isinstance(v, int | float) and not isinstance(v, bool)
            if not ok or not math.isfinite(v) or v < 0:
                problems.append(
                    Problem(None, f"{where}: {f.name} must be a finite number >= 0, got {v!r}")
                )
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class SignalVerdict:
    """The outcome for one signal; times in seconds, deviations in the signal's unit."""

    name: str
    passed: bool
    status: str  # "pass" | "fail" | "missing"
    reasons: tuple[str, ...] = ()
    unit: str = ""
    abs_tol: float = math.nan
    rel_tol: float = math.nan
    time_tol: float = math.nan
    band: float = math.nan  # tube half-height: max(abs_tol, rel_tol * range(y_ref))
    max_deviation: float = math.nan  # largest |result - reference|
    max_deviation_time: float = math.nan
    max_excess: float = math.nan  # largest distance outside the tube (<= 0: inside)
    max_excess_time: float = math.nan
    first_failure_time: float = math.nan  # first time the result is outside the tube
    n_outside: int = 0  # checked points outside the tube
    n_checked: int = 0  # reference times + result samples checked

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Report:
    """Every signal's verdict for one result/reference pair."""

    result: str
    reference: str
    signals: tuple[SignalVerdict, ...]
    tolerance: Tolerance
    extra: tuple[str, ...] = ()  # signals only in the result: noted, not failures
    notes: tuple[str, ...] = ()
    # the time tolerance in force (s): tolerance.time_tol, or the automatic value when that is
    # None (DEFAULT_TIME_TOL_FRACTION of the reference's time span); per-signal overrides aside
    time_tol: float = math.nan

    @property
    def passed(self) -> bool:
        return bool(self.signals) and all(v.passed for v in self.signals)

    @property
    def failures(self) -> list[SignalVerdict]:
        return [v for v in self.signals if not v.passed]

    def verdict(self, name: str) -> SignalVerdict:
        for v in self.signals:
            if v.name == name:
                return v
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None."""

        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            return x

        out = {
            "result": self.result,
            "reference": self.reference,
            "passed": self.passed,
            "tolerance": asdict(self.tolerance),
            "time_tol": self.time_tol,
            "signals": [{**asdict(v), "reason": v.reason} for v in self.signals],
            "extra": list(self.extra),
            "notes": list(self.notes),
        }
        return clean(out)


@dataclass(frozen=True)
class Tube:
    """The tube's lower and upper envelope at the given times."""

    time: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    band: float


# --------------------------------------------------------------------------- public API
def compare(
    result: Source,
    reference: Source,
    signals: Sequence[str] | None = None,
    abs_tol: float = DEFAULT_ABS_TOL,
    rel_tol: float = DEFAULT_REL_TOL,
    time_tol: float | None = None,
    overrides: Mapping[str, Tolerance | Mapping[str, float]] | None = None,
    workers: int | None = None,
) -> Report:
    """Compare result with reference (files or SignalSets) inside tolerance tubes.

    signals: exact names or fnmatch globs; None checks every reference signal.
    time_tol: seconds; None means DEFAULT_TIME_TOL_FRACTION of the reference's time span.
    overrides: per-signal tolerances keyed by exact name or glob; exact names win, then the
    first matching glob in the given order; unset fields inherit the global tolerances.
    workers: threads checking signals side by side (numpy releases the GIL); None means 1.
    More helps only on idle cores: under load, or when comparisons already run in parallel
    processes, threads are slower.
    Raises ConfigError for unreadable input or when the two share no selected signal.
    """
    base = Tolerance(abs_tol, rel_tol, time_tol)
    base.check("tolerance")
    rules = _override_rules(overrides)
    patterns = list(signals) if signals is not None else None
    res = result if isinstance(result, SignalSet) else read_signals(result, patterns)
    ref = reference if isinstance(reference, SignalSet) else read_signals(reference, patterns)

    ref_names = ref.select(patterns)
    res_names = res.select(patterns)
    res_set, ref_set = set(res_names), set(ref_names)
    common = [n for n in ref_names if n in res_set]
    if not common:
        raise ConfigError(
            Problem(
                None,
                f"no common signals to compare: result {res.source} has {_few(res, res_names)}, "
                f"reference {ref.source} has {_few(ref, ref_names)}"
                + (f" (selection: {' '.join(patterns)})" if patterns else ""),
            )
        )

    notes = [*res.notes, *ref.notes]
    for name, why in ref.skipped.items():
        notes.append(f"{name}: not compared ({why} in the reference)")
    span = float(ref.time[-1] - ref.time[0])
    auto_time_tol = DEFAULT_TIME_TOL_FRACTION * span
    if time_tol is None:
        notes.append(f"time_tol = {auto_time_tol:.6g} s ({DEFAULT_TIME_TOL_FRACTION:g} of span)")

    grids: dict[float, _Grid] = {}
    verdicts: list[SignalVerdict | None] = []
    jobs: list[tuple[int, str, Tolerance, _Grid]] = []
    for name in ref_names:
        tol = _tolerance_for(name, rules, base)
        dt = tol.time_tol if tol.time_tol is not None else auto_time_tol
        tol = Tolerance(tol.abs_tol, tol.rel_tol, dt)
        if name not in res_set:
            verdicts.append(_missing(name, ref.unit(name), "missing in result", tol))
            continue
        grid = grids.get(dt)
        if grid is None:
            grid = grids[dt] = _Grid(ref.time, res.time, dt)
        jobs.append((len(verdicts), name, tol, grid))
        verdicts.append(None)

    def run(job: tuple[int, str, Tolerance, _Grid]) -> tuple[int, SignalVerdict]:
        return job[0], _check_signal(job[1], res, ref, job[2], job[3])

    n_workers = _workers(workers, len(jobs))
    if n_workers > 1:  # numpy releases the GIL in the heavy loops: signals run side by side
        with ThreadPoolExecutor(n_workers, thread_name_prefix="cosim-compare") as pool:
            done = list(pool.map(run, jobs))
    else:
        done = [run(job) for job in jobs]
    for i, verdict in done:
        verdicts[i] = verdict

    extra: list[str] = []
    for name in res_names:
        if name in ref_set:
            continue
        explicit = patterns is not None and name in patterns
        if explicit:  # asked for by exact name: it cannot be checked, so it fails
            verdicts.append(_missing(name, res.unit(name), "missing in reference", base))
        else:
            extra.append(name)
    for p in patterns or []:
        if not any(matches(n, p) for n in (*ref_names, *res_names)):
            what = "no signal matches" if is_glob(p) else "not found in result or reference"
            verdicts.append(_missing(p, "", what, base))
    checked = tuple(v for v in verdicts if v is not None)
    resolved = time_tol if time_tol is not None else auto_time_tol
    return Report(res.source, ref.source, checked, base, tuple(extra), tuple(notes), resolved)


def tube(
    time: np.ndarray,
    values: np.ndarray,
    *,
    abs_tol: float = DEFAULT_ABS_TOL,
    rel_tol: float = DEFAULT_REL_TOL,
    time_tol: float = 0.0,
    at: np.ndarray | None = None,
) -> Tube:
    """The tolerance tube around (time, values), evaluated at `at` (default: the given times).

    `at` must be sorted and lie inside [time[0], time[-1]]; values must be finite.
    """
    t = np.asarray(time, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    q = t if at is None else np.asarray(at, dtype=np.float64)
    band = _band(y, abs_tol, rel_tol)
    win = _Windows(t, q, float(time_tol), _Blocks(t, float(time_tol)))
    lo, hi = win.envelope(y)
    return Tube(q, lo - band, hi + band, band)


# --------------------------------------------------------------------------- per signal
def _check_signal(
    name: str, res: SignalSet, ref: SignalSet, tol: Tolerance, grid: _Grid
) -> SignalVerdict:
    y_res, y_ref = res.values[name], ref.values[name]
    unit = ref.unit(name) or res.unit(name)
    reasons: list[str] = []
    bad_res = _nonfinite(y_res, res.time, "result")
    bad_ref = _nonfinite(y_ref, ref.time, "reference")
    reasons += [r for r in (bad_res, bad_ref) if r]
    ru, fu = res.unit(name), ref.unit(name)
    if ru and fu and ru != fu:
        reasons.append(f"unit differs: result [{ru}], reference [{fu}]")
    if grid.coverage_problem:
        reasons.append(grid.coverage_problem)
    common = dict(unit=unit, abs_tol=tol.abs_tol, rel_tol=tol.rel_tol, time_tol=tol.time_tol)
    if bad_ref or grid.n_checked == 0:
        if grid.n_checked == 0:
            reasons.append("result and reference do not overlap in time")
        return SignalVerdict(name, False, "fail", tuple(reasons), **common)

    band = _band(y_ref, tol.abs_tol, tol.rel_tol)
    best: dict[str, float] = {
        "dev": -1.0,
        "dev_t": math.nan,
        "exc": -math.inf,
        "exc_t": math.nan,
        "first": math.inf,
    }
    n_out = 0
    scans = grid.blocks.scans(y_ref)
    for win, at_ref in ((grid.at_ref, True), (grid.at_res, False)):
        if win is None:
            continue
        lo, hi = win.envelope(y_ref, scans)
        if at_ref:  # result interpolated onto the reference times
            y_chk = np.interp(win.q, res.time, y_res)
            y_base = y_ref[grid.ref_slice]
        else:  # result samples, reference interpolated onto them
            y_chk = y_res[grid.res_slice]
            y_base = np.interp(win.q, ref.time, y_ref)
        with np.errstate(invalid="ignore"):  # in place: these arrays are this loop's own
            excess = np.subtract(y_chk, hi, out=hi)
            np.maximum(excess, np.subtract(lo, y_chk, out=lo), out=excess)
            excess -= band  # > 0: outside the tube by that much
            dev = np.subtract(y_chk, y_base, out=lo)
            np.abs(dev, out=dev)
        if bad_res:  # non-finite points already fail the signal: keep them out of the numbers
            finite = np.isfinite(y_chk)
            excess[~finite] = -np.inf
            dev[~finite] = -1.0
        i = int(np.argmax(excess))
        if excess[i] > best["exc"]:
            best["exc"], best["exc_t"] = float(excess[i]), float(win.q[i])
        if excess[i] > 0:
            outside = excess > 0
            n_out += int(np.count_nonzero(outside))
            best["first"] = min(best["first"], float(win.q[int(np.argmax(outside))]))
        j = int(np.argmax(dev))
        if dev[j] > best["dev"]:
            best["dev"], best["dev_t"] = float(dev[j]), float(win.q[j])
    if n_out:
        reasons.insert(
            0,
            f"outside the tube at {n_out} of {grid.n_checked} points, first at "
            f"t={best['first']:.6g} s, max {best['exc']:.3g} beyond it at t={best['exc_t']:.6g} s",
        )
    passed = not reasons
    return SignalVerdict(
        name,
        passed,
        "pass" if passed else "fail",
        tuple(reasons),
        band=band,
        max_deviation=best["dev"] if best["dev"] >= 0 else math.nan,
        max_deviation_time=best["dev_t"],
        max_excess=best["exc"],
        max_excess_time=best["exc_t"],
        first_failure_time=best["first"] if n_out else math.nan,
        n_outside=n_out,
        n_checked=grid.n_checked,
        **common,
    )


def _workers(requested: int | None, jobs: int) -> int:
    return max(1, min(int(requested or 1), jobs))


def _missing(name: str, unit: str, reason: str, tol: Tolerance) -> SignalVerdict:
    return SignalVerdict(
        name,
        False,
        "missing",
        (reason,),
        unit,
        _nan(tol.abs_tol),
        _nan(tol.rel_tol),
        _nan(tol.time_tol),
    )


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _band(y: np.ndarray, abs_tol: float | None, rel_tol: float | None) -> float:
    """Tube half-height: rel_tol scales the reference's range (max - min), as the Modelica/FMI
    cross-check compare tools do, so an offset signal is judged by how much it varies; a flat
    signal (range 0) falls back to its magnitude max|y|."""
    if not y.size:
        return abs_tol or 0.0
    hi, lo = float(y.max()), float(y.min())
    scale = (hi - lo) or max(hi, -lo)
    return max(abs_tol or 0.0, (rel_tol or 0.0) * scale)


def _nonfinite(y: np.ndarray, t: np.ndarray, side: str) -> str:
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.add.reduce(y))):  # one cheap pass when all is well
            return ""
    ok = np.isfinite(y)
    if ok.all():
        return ""
    bad = np.flatnonzero(~ok)
    i = int(bad[0])
    what = "NaN" if np.isnan(y[i]) else "Inf"
    more = f" ({bad.size - 1} more non-finite values)" if bad.size > 1 else ""
    return f"{side} has {what} at t={t[i]:.6g} s{more}"


def _override_rules(
    overrides: Mapping[str, Tolerance | Mapping[str, float]] | None,
) -> list[tuple[str, Tolerance]]:
    rules: list[tuple[str, Tolerance]] = []
    for key, value in (overrides or {}).items():
        if isinstance(value, Tolerance):
            value.check(f"override {key!r}")
            rules.append((key, value))
        elif isinstance(value, Mapping):
            rules.append((key, Tolerance.from_mapping(value, f"override {key!r}")))
        else:
            raise ConfigError(Problem(None, f"override {key!r}: expected a mapping, got {value!r}"))
    # exact names first, then globs in their given order
    return [r for r in rules if not is_glob(r[0])] + [r for r in rules if is_glob(r[0])]


def _tolerance_for(name: str, rules: list[tuple[str, Tolerance]], base: Tolerance) -> Tolerance:
    for pattern, tol in rules:
        if matches(name, pattern):
            return tol.over(base)
    return base


def _few(signals: SignalSet, names: Sequence[str], n: int = 4) -> str:
    total = len(set(signals.available) | set(signals.names))
    if not names:
        return f"none matching (of {total})" if total else "no signals"
    shown = ", ".join(names[:n])
    return f"{len(names)} ({shown}{', ...' if len(names) > n else ''})"


# --------------------------------------------------------------------------- grid work
def _rank(a: np.ndarray, q: np.ndarray, side: str) -> np.ndarray:
    """np.searchsorted(a, q, side) for sorted a and q, in O(n + m).

    A stable sort of two concatenated sorted runs is a single timsort merge.
    """
    n, m = a.shape[0], q.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.intp)
    if side == "right":  # ties: elements of a before q
        order = np.argsort(np.concatenate((a, q)), kind="stable")
        from_a = order < n
    else:  # ties: q before elements of a
        order = np.argsort(np.concatenate((q, a)), kind="stable")
        from_a = order >= m
    counts = np.cumsum(from_a, dtype=np.intp)
    return counts[~from_a]


class _Blocks:
    """Reference samples cut into blocks of width 2*time_tol, with buffers for segmented scans."""

    def __init__(self, t: np.ndarray, time_tol: float) -> None:
        self.t = t
        self.n = t.shape[0]
        self.time_tol = time_tol
        if time_tol > 0:
            self.width = 2.0 * time_tol
            self.ids = np.floor((t - t[0]) / self.width)
        else:  # a window is one instant: a block is a run of equal times
            self.width = 0.0
            self.ids = np.concatenate(([0.0], np.cumsum(np.diff(t) != 0, dtype=np.float64)))
        self._local = threading.local()  # scan buffers, one set per worker thread

    def _buffers(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
        # segmented running max via complex numbers: numpy orders them lexicographically, and
        # block ids never decrease, so max.accumulate(id + 1j*y).imag restarts at every block.
        # One extra element, its own block holding -inf, is the answer for "no samples here".
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            n = self.n
            fwd = np.empty(n + 1, dtype=np.complex128)
            fwd.real[:n] = self.ids
            fwd[n] = complex(np.inf, -np.inf)
            bwd = np.empty(n + 1, dtype=np.complex128)  # reversed, sentinel first
            bwd.real[1:] = -self.ids[::-1]
            bwd[0] = complex(-np.inf, -np.inf)
            bufs = [np.empty_like(fwd) for _ in range(4)]
            buffers = self._local.buffers = (fwd, bwd, bufs, np.zeros(n))
        return buffers

    def scans(self, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """Running max of y and of -y per block: from its start (prefix) and to its end (suffix).

        Returns views (prefix_max, suffix_max, prefix_max_neg, suffix_max_neg) of length n + 1
        (index n holds -inf), and the steps dy[i] = y[i+1] - y[i], all in this thread's
        buffers, which its next call overwrites.
        """
        n = self.n
        fwd, bwd, bufs, dy = self._buffers()
        np.subtract(y[1:], y[:-1], out=dy[:-1])
        out = []
        for k, sign in enumerate((1.0, -1.0)):
            np.multiply(y, sign, out=fwd.imag[:n])
            out.append(np.maximum.accumulate(fwd, out=bufs[2 * k]).imag)
            np.multiply(y[::-1], sign, out=bwd.imag[1:])
            out.append(np.maximum.accumulate(bwd, out=bufs[2 * k + 1]).imag[::-1])
        return out[0], out[1], out[2], out[3], dy


class _Windows:
    """For sorted query times q: which reference samples lie within ±time_tol, precomputed."""

    def __init__(self, t: np.ndarray, q: np.ndarray, time_tol: float, blocks: _Blocks) -> None:
        self.q = q
        self.blocks = blocks
        n = t.shape[0]
        a = np.maximum(q - time_tol, t[0])
        b = np.minimum(q + time_tol, t[-1])
        lo = _rank(t, a, "left")  # first sample >= a
        hi = _rank(t, b, "right") - 1  # last sample <= b
        nonempty = lo <= hi
        lo, hi = np.minimum(lo, n - 1), np.clip(hi, 0, n - 1)
        if time_tol > 0:
            # the one block boundary T_k inside the window (a, b]: samples [lo, split) are a
            # suffix of block k-1 and [split, hi] a prefix of block k
            k = np.floor((q + time_tol - t[0]) / blocks.width)
            split = _rank(blocks.ids, k, "left")  # first sample of block k
        else:  # the window is the instant q: its samples are one run of equal times
            k = blocks.ids[hi]
            split = lo
        self.has_left = nonempty & (lo < split)
        self.has_right = nonempty & (hi >= split)
        # rounding at a block edge can put a window's samples in other blocks: those go apart
        ids = blocks.ids
        bad = (self.has_left & (ids[lo] != k - 1)) | (self.has_right & (ids[hi] != k))
        self.slow = np.flatnonzero(bad)
        self.slow_lo, self.slow_hi = lo[self.slow], hi[self.slow]
        # where to read the suffix / prefix scans; index n is the -inf sentinel
        self.i_left = np.where(self.has_left, lo, n)
        self.i_right = np.where(self.has_right, hi, n)
        # the interpolated curve at the window's two ends: y[j] + w * (y[j1] - y[j])
        self.ends = [self._interp_index(t, e) for e in (a, b)]

    @staticmethod
    def _interp_index(t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = t.shape[0]
        if n == 1:
            zero = np.zeros(x.shape, dtype=np.intp)
            return zero, zero, np.zeros(x.shape)
        j = np.clip(_rank(t, x, "right") - 1, 0, n - 2)
        t0, t1 = t[j], t[j + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(t1 > t0, (x - t0) / (t1 - t0), 0.0)
        return j, j + 1, np.clip(w, 0.0, 1.0)

    def envelope(
        self, y: np.ndarray, scans: tuple[np.ndarray, ...] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """min and max of the interpolated reference over each query's window.

        scans: self.blocks.scans(y), when the caller already has them for another query set.
        """
        pmax, smax, pneg, sneg, dy = scans if scans is not None else self.blocks.scans(y)
        hi = smax.take(self.i_left)
        np.maximum(hi, pmax.take(self.i_right), out=hi)
        neg = sneg.take(self.i_left)  # -min
        np.maximum(neg, pneg.take(self.i_right), out=neg)
        lo = np.negative(neg, out=neg)
        for j, _, w in self.ends:  # y[j] + w * (y[j+1] - y[j]); w = 0 where j+1 does not exist
            ye = dy.take(j)
            ye *= w
            ye += y.take(j)
            np.maximum(hi, ye, out=hi)
            np.minimum(lo, ye, out=lo)
        if self.slow.size:  # reduceat over [lo, hi + 1) pairs; y gets one dummy element at the end
            s = self.slow
            pairs = np.stack((self.slow_lo, self.slow_hi + 1), axis=1).ravel()
            y_ext = np.append(y, 0.0)
            hi[s] = np.maximum.reduceat(y_ext, pairs)[::2]
            lo[s] = np.minimum.reduceat(y_ext, pairs)[::2]
            for j, j1, w in self.ends:  # the two interpolated ends again
                y0 = y[j[s]]
                ye_s = y0 + w[s] * (y[j1[s]] - y0)
                hi[s] = np.maximum(hi[s], ye_s)
                lo[s] = np.minimum(lo[s], ye_s)
        return lo, hi


@dataclass
class _Grid:
    """Everything about a (reference time, result time, time_tol) triple that signals share."""

    t_ref: np.ndarray
    t_res: np.ndarray
    time_tol: float
    ref_slice: slice = field(init=False)
    res_slice: slice = field(init=False)
    at_ref: _Windows | None = field(init=False)
    at_res: _Windows | None = field(init=False)
    blocks: _Blocks = field(init=False)
    n_checked: int = field(init=False)
    coverage_problem: str = field(init=False)

    def __post_init__(self) -> None:
        t, r, dt = self.t_ref, self.t_res, self.time_tol
        # reference times the result covers; result samples inside the reference's range
        i0, i1 = np.searchsorted(t, r[0], "left"), np.searchsorted(t, r[-1], "right")
        k0, k1 = np.searchsorted(r, t[0], "left"), np.searchsorted(r, t[-1], "right")
        self.ref_slice, self.res_slice = slice(int(i0), int(i1)), slice(int(k0), int(k1))
        self.blocks = blocks = _Blocks(t, dt)
        q_ref, q_res = t[self.ref_slice], r[self.res_slice]
        if t.shape == r.shape and np.array_equal(t, r):  # one grid: check its points once
            q_res = r[:0]
        self.at_ref = _Windows(t, q_ref, dt, blocks) if q_ref.size else None
        self.at_res = _Windows(t, q_res, dt, blocks) if q_res.size else None
        self.n_checked = int(q_ref.size + q_res.size)
        slack = dt + 1e-12 * max(abs(t[0]), abs(t[-1]), 1.0)
        if r[0] > t[0] + slack or r[-1] < t[-1] - slack:
            self.coverage_problem = (
                f"result covers t=[{r[0]:.6g}, {r[-1]:.6g}] s but the reference spans "
                f"[{t[0]:.6g}, {t[-1]:.6g}] s"
            )
        else:
            self.coverage_problem = ""


__all__ = [
    "DEFAULT_ABS_TOL",
    "DEFAULT_REL_TOL",
    "DEFAULT_TIME_TOL_FRACTION",
    "Report",
    "SignalVerdict",
    "Tolerance",
    "Tube",
    "compare",
    "tube",
]
