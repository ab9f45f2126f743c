"""Regression suites: find systems with a `regression:` section, run each, compare to its reference.

A system opts in with a top-level section (paths relative to the YAML file)::

    regression:
      reference: references/dual_mass_oscillator.h5   # .h5/.hdf5 (results.h5 layout) or .csv
      abs_tol: 1.0e-6        # band floor, in each signal's unit    (default 1e-6)
      rel_tol: 1.0e-2        # band = max(abs_tol, rel_tol*range(y_ref)) (default 1e-3)
      time_tol: 0.0          # seconds events may move (default: 1e-3 of the reference's span)
      signals: [mass1.x1, mass2.*]                     # names or globs (default: every recorded)
      tolerances:                                      # per-signal overrides, name or glob
        mass2.x2: {rel_tol: 2.0e-2}

`run_suite` runs every case in its own worker process (a crash inside an FMU takes down only
that worker; the cases it held are re-run one by one so the crash is pinned to its system),
writes each run's results.h5 into a temporary folder and compares it with the reference through
`compare()`. With ``update=True`` the references are rewritten instead: the chosen
signals, decimated to the record interval, as a gzip+shuffle compressed HDF5 file that follows
the results.h5 contract (/time, /signals/<name> with a `unit` attribute); each case reports per
signal what changed against the old reference ("new", "changed" with the largest deviation,
"unchanged", "removed"), and a reference whose data did not change is not rewritten.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import tempfile
import time as _time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cosim.errors import ConfigError, CosimError, Location, Problem
from cosim.io.locate import Locator, Problems, did_you_mean, locator, sort_problems
from cosim.results.signals import is_glob, matches, select_names
from cosim.verify.compare import DEFAULT_ABS_TOL, DEFAULT_REL_TOL, Report, Tolerance

SECTION = "regression"
KEYS = ("reference", "abs_tol", "rel_tol", "time_tol", "signals", "tolerances")
TOLERANCE_KEYS = ("abs_tol", "rel_tol", "time_tol")
REFERENCE_SUFFIXES = (".h5", ".hdf5", ".csv")
YAML_SUFFIXES = (".yaml", ".yml")
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 9
_TOP_LEVEL_KEY = re.compile(rf"^{SECTION}\s*:", re.MULTILINE)

# case statuses
PASS, FAIL, ERROR, UPDATED, UNCHANGED = "pass", "fail", "error", "updated", "unchanged"


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class RegressionSpec:
    """One system's `regression:` section, checked; `reference` is an absolute path."""

    reference: Path
    tolerance: Tolerance  # abs_tol and rel_tol always set; time_tol None = automatic
    signals: tuple[str, ...] | None = None  # names or globs; None = every recorded signal
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)  # per-signal overrides
    loc: Location | None = None  # where `regression:` is written
    reference_loc: Location | None = None  # where `reference:` is written


@dataclass(frozen=True)
class RegressionCase:
    """A system that opted in: its YAML file, its name and its checked regression section."""

    id: str  # unique within a suite: the system name (plus the file when names repeat)
    name: str
    path: Path
    regression: RegressionSpec


@dataclass(frozen=True)
class SignalChange:
    """What `update` did to one reference signal."""

    name: str
    status: str  # "new" | "changed" | "unchanged" | "removed"
    unit: str = ""
    max_deviation: float = math.nan  # largest |new - old| (tube check points), signal's unit
    max_deviation_time: float = math.nan
    within_tolerance: bool | None = None  # would the new data pass against the old reference?


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: a verdict, the comparison or the update, and the wall time."""

    id: str
    name: str
    path: str
    status: str  # pass | fail | error | updated | unchanged
    wall_time: float = 0.0  # seconds: run + compare (or update)
    report: Report | None = None
    message: str = ""  # why the case errored (or a note)
    bad_input: bool = False  # the error was a ConfigError (the system or its section is wrong)
    changes: tuple[SignalChange, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status in (PASS, UPDATED, UNCHANGED)

    @property
    def failing_signals(self) -> list[tuple[str, float, str, str]]:
        """(name, max deviation, unit, reason) of every failing signal."""
        if self.report is None:
            return []
        return [(v.name, v.max_deviation, v.unit, v.reason) for v in self.report.failures]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""

        def num(x: float) -> float | None:
            return x if isinstance(x, float) and math.isfinite(x) else None

        return {
            "id": self.id,
            "system": self.name,
            "path": self.path,
            "status": self.status,
            "passed": self.passed,
            "wall_time": self.wall_time,
            "message": self.message,
            "bad_input": self.bad_input,
            "failing_signals": [
                {"name": n, "max_deviation": num(d), "unit": u, "reason": r}
                for n, d, u, r in self.failing_signals
            ],
            "comparison": self.report.to_dict() if self.report is not None else None,
            "changes": [
                {
                    "name": c.name,
                    "status": c.status,
                    "unit": c.unit,
                    "max_deviation": num(c.max_deviation),
                    "max_deviation_time": num(c.max_deviation_time),
                    "within_tolerance": c.within_tolerance,
                }
                for c in self.changes
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class SuiteResult:
    """Every case's result, in the order the cases were given."""

    cases: tuple[CaseResult, ...]
    wall_time: float = 0.0
    jobs: int = 1

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def bad_input(self) -> bool:
        return any(c.bad_input for c in self.cases)

    @property
    def exit_code(self) -> int:
        """0 every case passed (or was updated), 2 any case had bad input, else 1."""
        if self.bad_input:
            return 2
        return 0 if self.passed else 1


# --------------------------------------------------------------------------- discovery
def find_systems(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """YAML files with a top-level `regression:` key: given files, and *.yaml/*.yml under folders.

    Folders are searched recursively (hidden folders skipped) and files without the section are
    left out silently; a file given by name must exist and have the section (else ConfigError).
    """
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(_yaml_files(path)):
                if file not in found and has_regression_section(file):
                    found.append(file)
        elif path.is_file():
            if not has_regression_section(path):
                problems.append(
                    Problem(
                        Location(str(path)),
                        f"no top-level '{SECTION}:' section",
                        "add one (see docs/regression.md) or pass a folder to search",
                    )
                )
            elif path not in found:
                found.append(path)
        else:
            problems.append(Problem(Location(str(path)), "no such file or folder"))
    if problems:
        raise ConfigError(problems)
    return found


def _yaml_files(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in files:
            if name.endswith(YAML_SUFFIXES):
                yield Path(root) / name


def has_regression_section(path: Path) -> bool:
    """Cheap test (no YAML parsing) for a top-level `regression:` key."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return path.suffix in YAML_SUFFIXES  # let the loader report the problem
    return bool(_TOP_LEVEL_KEY.search(text))


def load_cases(
    paths: Iterable[str | os.PathLike[str]], *, update: bool = False
) -> list[RegressionCase]:
    """Every regression case under `paths`, checked; one ConfigError holding every problem.

    Without `update`, a missing reference file is a problem (create it with update=True).
    Raises ConfigError when nothing is found.
    """
    paths = list(paths)
    files = find_systems(paths)
    if not files:
        where = ", ".join(str(p) for p in paths)
        raise ConfigError(
            Problem(
                None,
                f"no system with a '{SECTION}:' section under {where}",
                "add a regression: section to a system YAML (see docs/regression.md)",
            )
        )
    cases: list[RegressionCase] = []
    problems: list[Problem] = []
    for file in files:
        try:
            cases.append(load_case(file, update=update))
        except ConfigError as err:
            problems += err.problems
    if problems:
        raise ConfigError(sort_problems(problems))
    return _unique_ids(cases)


def collect_cases(
    paths: Iterable[str | os.PathLike[str]], *, update: bool = False
) -> tuple[list[RegressionCase], list[CaseResult]]:
    """Like load_cases, but a broken system does not stop the others: (cases, broken), where
    each broken file is an "error" CaseResult with bad_input=True and its problems as message.

    Raises ConfigError only when nothing is found at all.
    """
    paths = list(paths)
    files = find_systems(paths)
    if not files:
        load_cases(paths, update=update)  # raises the "nothing found" error
    cases: list[RegressionCase] = []
    broken: list[CaseResult] = []
    for file in files:
        try:
            cases.append(load_case(file, update=update))
        except ConfigError as err:
            broken.append(
                CaseResult(
                    id=file.stem,
                    name=file.stem,
                    path=str(file),
                    status=ERROR,
                    message=str(err),
                    bad_input=True,
                )
            )
    return _unique_ids(cases), broken


def _unique_ids(cases: list[RegressionCase]) -> list[RegressionCase]:
    counts: dict[str, int] = {}
    for c in cases:
        counts[c.name] = counts.get(c.name, 0) + 1
    out = []
    for c in cases:
        if counts[c.name] > 1:
            c = RegressionCase(f"{c.name} ({c.path})", c.name, c.path, c.regression)
        out.append(c)
    return out


def load_case(path: str | os.PathLike[str], *, update: bool = False) -> RegressionCase:
    """Load one system YAML and check its `regression:` section (ConfigError with locations)."""
    from cosim.resolve.resolver import load_spec

    path = Path(path)
    spec = load_spec(path)
    if SECTION not in spec.extra:
        raise ConfigError(Problem(Location(str(path)), f"no top-level '{SECTION}:' section"))
    locs = locator(spec.text, str(path))
    recorded = (
        [str(r) for r in spec.record.variables] if spec.record.variables is not None else None
    )
    regression = parse_regression(
        spec.extra[SECTION], path.resolve().parent, locs, recorded=recorded, update=update
    )
    if "opcua" in spec.extra:
        raise ConfigError(
            Problem(
                locs.key(SECTION),
                "a system with an 'opcua:' section cannot be regression-tested offline",
                "test the offline part of the system in its own YAML file",
            )
        )
    return RegressionCase(spec.name, spec.name, path, regression)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _describe(v: Any) -> str:
    from cosim.io.yaml import describe

    return describe(v)


def parse_regression(
    data: Any,
    base_dir: Path,
    locs: Locator | None = None,
    *,
    recorded: Sequence[str] | None = None,
    update: bool = False,
) -> RegressionSpec:
    """Check a `regression:` section's plain data; raise ConfigError with every problem.

    base_dir: the YAML file's folder (the reference path is relative to it). recorded: the
    system's record.variables when listed explicitly, to check plain signal names against.
    """
    locs = locs or Locator("", "<regression>")
    collect = Problems(locs)
    error = collect.error

    top = (SECTION,)
    if not isinstance(data, dict) or not data:
        error(
            locs.key(*top),
            f"{SECTION} must be a mapping with at least 'reference:', got {_describe(data)}",
            f"keys: {', '.join(KEYS)}",
        )
        raise ConfigError(collect.items)
    for key in data:
        if key not in KEYS:
            close = did_you_mean(str(key), KEYS)
            error(
                locs.key(*top, key),
                f"unknown key '{key}' in {SECTION}",
                (f"did you mean '{close}'? " if close else "") + f"allowed keys: {', '.join(KEYS)}",
            )

    # reference
    reference: Path | None = None
    ref_text = data.get("reference")
    ref_loc = locs.value(*top, "reference") if "reference" in data else locs.key(*top)
    if "reference" not in data:
        error(
            locs.key(*top),
            f"{SECTION} is missing the key 'reference'",
            "the reference results file, relative to this YAML file, e.g. "
            "reference: references/<system>.h5",
        )
    elif not isinstance(ref_text, str) or not ref_text.strip():
        error(ref_loc, f"{SECTION}.reference must be a file path, got {_describe(ref_text)}")
    elif not ref_text.lower().endswith(REFERENCE_SUFFIXES):
        error(
            ref_loc,
            f"{SECTION}.reference must end in {', '.join(REFERENCE_SUFFIXES)}, got '{ref_text}'",
            "a results.h5-style HDF5 file or a CSV file (first column time)",
        )
    else:
        reference = (base_dir / ref_text).resolve()
        if reference.is_dir():
            error(ref_loc, f"{SECTION}.reference is a folder: {reference}")
        elif update and reference.suffix.lower() == ".csv":
            error(
                ref_loc,
                f"--update writes HDF5, but {SECTION}.reference is a CSV file: '{ref_text}'",
                "point reference: at a .h5 file to let cosim maintain it",
            )
        elif not update and not reference.exists():
            error(
                ref_loc,
                f"reference file not found: {reference}",
                f"create it deliberately with `cosim test --update {locs.file}`",
            )

    # global tolerances
    values: dict[str, float | None] = {}
    defaults = {"abs_tol": DEFAULT_ABS_TOL, "rel_tol": DEFAULT_REL_TOL, "time_tol": None}
    for key, default in defaults.items():
        v = data.get(key, default)
        if key == "time_tol" and v is None:
            values[key] = None
        elif not _is_number(v) or not math.isfinite(v) or v < 0:
            error(
                locs.value(*top, key),
                f"{SECTION}.{key} must be a finite number >= 0, got {_describe(v)}",
                _TOL_HINTS[key],
            )
        else:
            values[key] = float(v)

    # signals
    signals: tuple[str, ...] | None = None
    raw_signals = data.get("signals")
    if raw_signals is not None:
        if isinstance(raw_signals, str):
            raw_signals = [raw_signals]
            loc_of = lambda i: locs.value(*top, "signals")  # noqa: E731
        else:
            loc_of = lambda i: locs.value(*top, "signals", i)  # noqa: E731
        if not isinstance(raw_signals, list) or not raw_signals:
            error(
                locs.value(*top, "signals"),
                f"{SECTION}.signals must be a non-empty list of names or globs, "
                f"got {_describe(raw_signals)}",
                "e.g. signals: [mass1.x1, mass2.*]; leave it out to check every recorded signal",
            )
        else:
            names: list[str] = []
            for i, item in enumerate(raw_signals):
                if not isinstance(item, str) or not item.strip():
                    error(
                        loc_of(i),
                        f"{SECTION}.signals[{i}] must be a name or glob, got {_describe(item)}",
                    )
                elif item in names:
                    error(loc_of(i), f"{SECTION}.signals lists '{item}' twice")
                elif recorded is not None and not is_glob(item) and item not in recorded:
                    close = did_you_mean(item, recorded)
                    error(
                        loc_of(i),
                        f"{SECTION}.signals[{i}] '{item}' is not recorded",
                        (f"did you mean '{close}'? " if close else "")
                        + f"record.variables: {', '.join(recorded)}",
                    )
                elif recorded is not None and is_glob(item) and not select_names(recorded, [item]):
                    error(
                        loc_of(i),
                        f"{SECTION}.signals[{i}] '{item}' matches no recorded variable",
                        f"record.variables: {', '.join(recorded)}",
                    )
                else:
                    names.append(item)
            signals = tuple(names)

    # per-signal tolerances
    overrides: dict[str, Tolerance] = {}
    raw_tols = data.get("tolerances")
    if raw_tols is not None:
        tpath = (*top, "tolerances")
        if not isinstance(raw_tols, dict):
            error(
                locs.value(*tpath),
                f"{SECTION}.tolerances must be a mapping {{signal or glob: {{abs_tol, rel_tol, "
                f"time_tol}}}}, got {_describe(raw_tols)}",
                "e.g. tolerances: {mass2.x2: {rel_tol: 2.0e-2}}",
            )
        else:
            for name, tol in raw_tols.items():
                t = _parse_override(str(name), tol, tpath, locs, error, signals, recorded)
                if t is not None:
                    overrides[str(name)] = t

    collect.raise_errors()
    assert reference is not None
    tolerance = Tolerance(values["abs_tol"], values["rel_tol"], values["time_tol"])
    return RegressionSpec(
        reference=reference,
        tolerance=tolerance,
        signals=signals,
        tolerances=overrides,
        loc=locs.key(*top),
        reference_loc=ref_loc,
    )


_TOL_HINTS = {
    "abs_tol": "the band's floor, in each signal's unit",
    "rel_tol": "a fraction of each reference signal's range max - min (max|value| if flat)",
    "time_tol": "seconds an event may move; leave it out for 1e-3 of the reference's span",
}


def _parse_override(
    name: str,
    tol: Any,
    tpath: tuple,
    locs: Locator,
    error: Callable[..., None],
    signals: tuple[str, ...] | None,
    recorded: Sequence[str] | None,
) -> Tolerance | None:
    where = f"{SECTION}.tolerances.{name}"
    ok = True
    if not is_glob(name):
        pool = list(signals) if signals is not None else None
        if pool is not None and not any(matches(name, p) for p in pool):
            close = did_you_mean(name, pool)
            error(
                locs.key(*tpath, name),
                f"{SECTION}.tolerances: '{name}' is not among the checked signals",
                (f"did you mean '{close}'? " if close else "") + f"signals: {', '.join(pool)}",
            )
            ok = False
        elif pool is None and recorded is not None and name not in recorded:
            close = did_you_mean(name, recorded)
            error(
                locs.key(*tpath, name),
                f"{SECTION}.tolerances: '{name}' is not recorded",
                (f"did you mean '{close}'? " if close else "")
                + f"record.variables: {', '.join(recorded)}",
            )
            ok = False
    if not isinstance(tol, dict) or not tol:
        error(
            locs.value(*tpath, name),
            f"{where} must be a mapping of {', '.join(TOLERANCE_KEYS)}, got {_describe(tol)}",
            f"e.g. {name}: {{rel_tol: 1.0e-2}}",
        )
        return None
    fields: dict[str, float | None] = {}
    for key, v in tol.items():
        if key not in TOLERANCE_KEYS:
            close = did_you_mean(str(key), TOLERANCE_KEYS)
            error(
                locs.key(*tpath, name, key),
                f"unknown key '{key}' in {where}",
                (f"did you mean '{close}'? " if close else "")
                + f"allowed keys: {', '.join(TOLERANCE_KEYS)}",
            )
            ok = False
        elif not _is_number(v) or not math.isfinite(v) or v < 0:
            error(
                locs.value(*tpath, name, key),
                f"{where}.{key} must be a finite number >= 0, got {_describe(v)}",
                _TOL_HINTS[key],
            )
            ok = False
        else:
            fields[key] = float(v)
    return Tolerance(**fields) if ok else None


# --------------------------------------------------------------------------- one case
TEST_TIMEOUT = 60.0  # s: `cosim test` bounds each FMI call of a system that sets no timeout


def run_case(
    case: RegressionCase,
    work_dir: str | os.PathLike[str],
    update: bool = False,
    force: bool = False,
    timeout: float | None = None,
) -> CaseResult:
    """Run one case in this process: simulate into work_dir/results.h5, then compare or update.

    Never raises for a problem of the case itself: errors become a CaseResult with status
    "error" (bad_input=True for a ConfigError).
    """
    t0 = _time.perf_counter()
    common = {"id": case.id, "name": case.name, "path": str(case.path)}
    try:
        results = simulate(case, work_dir, timeout)
        if update:
            changes, written = update_reference(case, results, force=force)
            status = UPDATED if written else UNCHANGED
            return CaseResult(
                status=status, wall_time=_time.perf_counter() - t0, changes=changes, **common
            )
        report = compare_case(case, results)
        notes = _unused_overrides(case, report)
        return CaseResult(
            status=PASS if report.passed else FAIL,
            wall_time=_time.perf_counter() - t0,
            report=report,
            notes=notes,
            **common,
        )
    except ConfigError as err:
        message, bad = str(err), True
    except CosimError as err:
        message, bad = str(err), False
    except Exception:  # a bug: keep the suite going, show the traceback for this case
        message, bad = traceback.format_exc().rstrip(), False
    return CaseResult(
        status=ERROR,
        wall_time=_time.perf_counter() - t0,
        message=message,
        bad_input=bad,
        **common,
    )


def simulate(
    case: RegressionCase, work_dir: str | os.PathLike[str], timeout: float | None = None
) -> Path:
    """Run the case's system offline (no pacing) to its stop time; return its results.h5 path.

    Raises ConfigError for a bad system, FmuError/SimulationError when the run fails (the
    results file is then closed with status "failed"). `timeout` bounds each FMI call of the
    components that set none: an overrun fails the case; a call that never returns ends this
    worker process after writing why to work_dir/FATAL (run_suite reports it).
    """
    from cosim.api import System

    work = Path(work_dir)
    results = work / "results.h5"
    with System.from_file(case.path).execution(results, memory=False, overwrite=True) as run:
        ex = run.execution
        if timeout:
            ex.timeouts[:] = [t or timeout for t in ex.timeouts]
            ex.watch(on_fatal=lambda status, code, message: _fatal(ex, work, status, message))
        run.initialize()
        run.run_until()
    return results


FATAL = "FATAL"  # the file a worker leaves when it ends itself (a call that never returned)


def _fatal(ex: Any, work: Path, status: str, message: str) -> None:
    from cosim.engine.watchdog import exit_now

    ex.abandon(status, message)
    (work / FATAL).write_text(message + "\n", encoding="utf-8")
    exit_now(1)


def compare_case(case: RegressionCase, results: str | os.PathLike[str]) -> Report:
    """Compare a results file with the case's reference, using the case's tolerances."""
    from cosim.verify.compare import compare

    reg = case.regression
    tol = reg.tolerance
    return compare(
        results,
        reg.reference,
        signals=list(reg.signals) if reg.signals is not None else None,
        abs_tol=tol.abs_tol if tol.abs_tol is not None else DEFAULT_ABS_TOL,
        rel_tol=tol.rel_tol if tol.rel_tol is not None else DEFAULT_REL_TOL,
        time_tol=tol.time_tol,
        overrides=dict(reg.tolerances),
    )


def _unused_overrides(case: RegressionCase, report: Report) -> tuple[str, ...]:
    names = [v.name for v in report.signals]
    return tuple(
        f"tolerances: '{key}' matches no checked signal"
        for key in case.regression.tolerances
        if not any(matches(n, key) for n in names)
    )


# --------------------------------------------------------------------------- references
def decimation_mask(time: np.ndarray, interval: float | None) -> np.ndarray:
    """Rows to keep: the first sample on each multiple of `interval` from time[0], and the last.

    With no (or a non-positive) interval every row is kept.
    """
    t = np.asarray(time, dtype=np.float64)
    n = t.shape[0]
    if n == 0 or interval is None or not interval > 0:
        return np.ones(n, dtype=bool)
    k = np.rint((t - t[0]) / interval)
    on_grid = np.abs(t - t[0] - k * interval) <= 1e-6 * interval
    keep = np.zeros(n, dtype=bool)
    grid_rows = np.flatnonzero(on_grid)
    if grid_rows.size:
        _, first = np.unique(k[grid_rows], return_index=True)
        keep[grid_rows[first]] = True
    keep[-1] = True
    return keep


def write_reference_file(
    path: str | os.PathLike[str],
    time: np.ndarray,
    signals: Mapping[str, np.ndarray],
    units: Mapping[str, str] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write a compressed reference in the results.h5 layout; replaces `path` atomically.

    /time (float64, s) and /signals/<name> (dtype kept, `unit` attribute), every dataset
    gzip-compressed with the shuffle filter and without timestamps (rewriting the same data
    does not churn the bytes). Needs an HDF5 1.10+ reader. attrs go to the file's attributes.
    """
    import h5py

    path = Path(path)
    t = np.asarray(time, dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = max(1, t.shape[0])
    opts = {
        "compression": COMPRESSION,
        "compression_opts": COMPRESSION_LEVEL,
        "shuffle": True,
        "chunks": (min(n, 1 << 15),),
        "track_times": False,
    }
    try:
        # HDF5 1.10 object formats: about 20 % smaller than the 1.8-compatible default
        with h5py.File(tmp, "w", track_order=True, libver=("v110", "latest")) as f:
            ds = f.create_dataset("time", data=t, **opts)
            ds.attrs["unit"] = "s"
            group = f.create_group("signals", track_order=True)
            for name, values in signals.items():
                arr = np.asarray(values)
                if arr.shape != t.shape:
                    raise ConfigError(
                        Problem(
                            Location(str(path)),
                            f"signal {name!r} has shape {arr.shape}, time has {t.shape}",
                        )
                    )
                from cosim.results.writer import dataset_name

                ds = group.create_dataset(dataset_name(name), data=arr, **opts)
                ds.attrs["unit"] = (units or {}).get(name, "")
                ds.attrs["name"] = name
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read_recorded(
    results: Path, patterns: Sequence[str] | None
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, str], float | None]:
    """time, {name: values (dtype kept)}, units, record interval of a results.h5."""
    import h5py

    with h5py.File(results, "r") as f:
        t = f["time"][()]
        from cosim.results.writer import signal_label  # "/" and "%" are escaped in dataset names

        group = f["signals"]
        keys = {signal_label(k): k for k in group}
        numeric = [
            n for n, k in keys.items() if group[k].ndim == 1 and group[k].dtype.kind in "fiub"
        ]
        chosen = select_names(numeric, patterns)
        missing = [p for p in patterns or [] if not any(matches(n, p) for n in numeric)]
        if missing:
            raise ConfigError(
                Problem(
                    None,
                    f"{SECTION}.signals: {', '.join(missing)} "
                    f"{'matches' if len(missing) == 1 else 'match'} no recorded signal",
                    f"recorded: {', '.join(numeric) or 'none'}",
                )
            )
        values = {n: group[keys[n]][()] for n in chosen}
        units = {}
        for n in chosen:
            u = group[keys[n]].attrs.get("unit", "")
            units[n] = u.decode() if isinstance(u, bytes) else str(u)
        interval = f.attrs.get("record_interval")
    return t, values, units, float(interval) if interval is not None else None


UPDATE_SOURCE = "cosim test --update"  # the `source` attribute of references cosim wrote


def _protected_source(path: Path) -> str | None:
    """The `source` of a reference that `--update` did not write (e.g. an exact solution)."""
    if path.suffix.lower() not in (".h5", ".hdf5"):
        return None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            source = f.attrs.get("source")
    except OSError:
        return None
    if isinstance(source, bytes):
        source = source.decode(errors="replace")
    if source is None or str(source).startswith(UPDATE_SOURCE):
        return None
    return str(source)


def update_reference(
    case: RegressionCase, results: str | os.PathLike[str], force: bool = False
) -> tuple[tuple[SignalChange, ...], bool]:
    """Rewrite the case's reference from a results file; (per-signal changes, file written?).

    Keeps the regression signals only, decimated to the record interval. When every signal,
    the time grid and the units are identical to the old reference, the file is left alone.
    A reference that `--update` did not write itself (its `source` attribute says otherwise,
    e.g. an exact solution) is only replaced with `force`.
    """
    from cosim import __version__
    from cosim.results.signals import from_arrays, read_signals
    from cosim.verify.compare import compare

    reg = case.regression
    patterns = list(reg.signals) if reg.signals is not None else None
    t, values, units, interval = _read_recorded(Path(results), patterns)
    keep = decimation_mask(t, interval)
    t = t[keep]
    values = {n: v[keep] for n, v in values.items()}

    protected = _protected_source(reg.reference) if reg.reference.exists() else None
    if protected is not None and not force:
        raise ConfigError(
            Problem(
                Location(str(case.path)),
                f"refusing to overwrite {reg.reference.name}: it was not written by "
                f"`cosim test --update` (source: {protected})",
                "it is an independent reference; pass --force to replace it with this run",
            )
        )
    old = None
    old_note = ""
    if reg.reference.exists():
        try:
            old = read_signals(reg.reference)
        except ConfigError as err:
            old_note = f"old reference unreadable, replaced: {err}"

    changes: list[SignalChange] = []
    if old is None:
        changes = [SignalChange(n, "new", units[n]) for n in values]
    else:
        new_set = from_arrays(t, values, units, source="<new>")
        common = [n for n in values if n in old.values]
        report = None
        if common:
            tol = reg.tolerance
            report = compare(
                new_set,
                old,
                signals=common,
                abs_tol=tol.abs_tol if tol.abs_tol is not None else DEFAULT_ABS_TOL,
                rel_tol=tol.rel_tol if tol.rel_tol is not None else DEFAULT_REL_TOL,
                time_tol=tol.time_tol,
                overrides=dict(reg.tolerances),
            )
        same_grid = old.time.shape == t.shape and np.array_equal(old.time, t)
        for n in values:
            if n not in old.values:
                changes.append(SignalChange(n, "new", units[n]))
                continue
            v = report.verdict(n) if report is not None else None
            identical = (
                same_grid
                and np.array_equal(old.values[n], np.asarray(values[n], dtype=np.float64))
                and old.unit(n) == units[n]
            )
            changes.append(
                SignalChange(
                    n,
                    "unchanged" if identical else "changed",
                    units[n],
                    max_deviation=0.0 if identical else (v.max_deviation if v else math.nan),
                    max_deviation_time=math.nan if identical or v is None else v.max_deviation_time,
                    within_tolerance=True if identical else (v.passed if v else None),
                )
            )
        for n in old.values:
            if n not in values:
                changes.append(SignalChange(n, "removed", old.unit(n)))
    if old is not None and all(c.status == "unchanged" for c in changes):
        return tuple(changes), False
    attrs = {
        "system_name": case.name,
        "source": f"{UPDATE_SOURCE} {case.path.name}",
        "cosim_version": __version__,
        "record_interval": interval if interval is not None else math.nan,
    }
    if old_note:
        attrs["note"] = old_note
    write_reference_file(reg.reference, t, values, units, attrs)
    return tuple(changes), True


# --------------------------------------------------------------------------- the suite
def run_suite(
    cases: Sequence[RegressionCase],
    *,
    jobs: int | None = None,
    update: bool = False,
    on_result: Callable[[CaseResult], None] | None = None,
    force: bool = False,
    timeout: float | None = TEST_TIMEOUT,
) -> SuiteResult:
    """Run every case, each in a worker process (at most `jobs`, default os.cpu_count()).

    on_result is called in this process as each case finishes. Results come back in case order.
    Workers are spawned (fresh interpreters), so a script calling this needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    if jobs is not None and jobs < 1:
        raise ConfigError(Problem(Location("--jobs"), f"--jobs must be >= 1, got {jobs}"))
    t0 = _time.perf_counter()
    n_jobs = max(1, min(jobs or os.cpu_count() or 1, len(cases)))
    done: dict[str, CaseResult] = {}
    ctx = multiprocessing.get_context("spawn")  # no inherited threads, locks or loaded FMUs

    def finish(result: CaseResult) -> None:
        done[result.id] = result
        if on_result is not None:
            on_result(result)

    with tempfile.TemporaryDirectory(prefix="cosim-test-") as tmp:
        dirs = {c.id: Path(tmp) / f"{i:03d}-{_safe(c.name)}" for i, c in enumerate(cases)}
        for d in dirs.values():
            d.mkdir()
        crashed: list[RegressionCase] = []
        if cases:
            with ProcessPoolExecutor(n_jobs, mp_context=ctx) as pool:
                futures: dict[Future[CaseResult], RegressionCase] = {
                    pool.submit(run_case, c, dirs[c.id], update, force, timeout): c for c in cases
                }
                for fut in as_completed(futures):
                    case = futures[fut]
                    try:
                        finish(fut.result())
                    except BrokenProcessPool:
                        crashed.append(case)
        # a worker died (e.g. a segfault in an FMU): every case it took down failed with it;
        # run those again one at a time so the crash lands on the right system
        for case in sorted(crashed, key=lambda c: list(cases).index(c)):
            t1 = _time.perf_counter()
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                try:
                    job = pool.submit(run_case, case, dirs[case.id], update, force, timeout)
                    result = job.result()
                except BrokenProcessPool:
                    fatal = dirs[case.id] / FATAL
                    why = (
                        fatal.read_text(encoding="utf-8").strip()
                        if fatal.is_file()
                        else "the process running this system died (a crash inside an FMU?)"
                    )
                    result = CaseResult(
                        case.id,
                        case.name,
                        str(case.path),
                        ERROR,
                        wall_time=_time.perf_counter() - t1,
                        message=why,
                    )
            finish(result)
    ordered = tuple(done[c.id] for c in cases)
    return SuiteResult(ordered, wall_time=_time.perf_counter() - t0, jobs=n_jobs)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "system"


__all__ = [
    "CaseResult",
    "RegressionCase",
    "RegressionSpec",
    "SignalChange",
    "SuiteResult",
    "collect_cases",
    "compare_case",
    "decimation_mask",
    "find_systems",
    "has_regression_section",
    "load_case",
    "load_cases",
    "parse_regression",
    "run_case",
    "run_suite",
    "simulate",
    "update_reference",
    "write_reference_file",
]
