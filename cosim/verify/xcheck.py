"""The FMI cross-check procedure: find the test FMUs of a cross-check tree, run, compare, judge.

The layout read (github.com/modelica/fmi-cross-check, rules 4.1, section 9.1)::

    fmus/<FMI version>/<cs|me>/<platform>/<Tool>/<ToolVersion>/<Model>/
        <Model>.fmu         the FMU (or <Model>.nofmu when it cannot be published)
        <Model>_ref.csv     the exporter's reference: "time","<var>",...; one row per sample
        <Model>_in.csv      optional inputs, same format (linear interpolation between rows)
        <Model>_ref.opt     StartTime, StopTime, StepSize (0 = variable step), RelTol as
                            `key, value` lines; optional AbsTol, SolverType, OutputIntervalLength
        notCompliantWithLatestRules   present when the submission breaks the latest rules

A folder below `fmus/` (or `Tool/ToolVersion/Model`, or one model folder) is accepted too; what
the path does not say (FMI version, interface, platform) comes from the FMU and this machine.

What is written per FMU (rules 9.2.3/9.2.4), under `out`::

    results/<FMI version>/<cs|me>/<platform>/cosim/<cosim version>/<Tool>/<ToolVersion>/<Model>/
        passed | failed | rejected    one empty file: the verdict
        <Model>_out.csv               the result, the reference's columns, plain quoted header
        README.md                     how it was run; for failed/rejected, why

Verdicts: `passed` = the run reached StopTime and every reference signal stayed inside its
tolerance tube; `failed` = it ran (or tried to) and did not: an FMU error or crash, a result
outside the tube, too short or not finite; `rejected` = cosim cannot or will not run this test
case (an FMI version or interface it does not support, a platform other than this machine's, no
binary for it, a broken archive, or test files that break the rules: no or bad _ref.opt/_ref.csv,
a reference or input column that is not a variable of the FMU). Folders marked
notCompliantWithLatestRules are `skipped` (nothing written), as the cross-check scripts do.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.errors import ConfigError, CosimError, Location, Problem
from cosim.verify.compare import Report, compare

if TYPE_CHECKING:
    from cosim.api import System

PASSED, FAILED, REJECTED, SKIPPED = "passed", "failed", "rejected", "skipped"
VERDICTS = (PASSED, FAILED, REJECTED)
NOT_COMPLIANT = "notCompliantWithLatestRules"
IMPORTER = "cosim"
COMPONENT = "fmu"  # the component name of the FMU in the one-component system

# Tube tolerances: the cross-check's CSV compare tool (csv-compare, "tube" method) is run with
# ToleranceX = ToleranceY = 2e-3, relative to the reference's time span and each signal's range.
DEFAULT_REL_TOL = 2e-3
DEFAULT_TIME_TOL_FRACTION = 2e-3
DEFAULT_ABS_TOL = 1e-6  # the band's floor, for a reference that is identically zero

FMI_TYPES = ("cs", "me")
OPT_REQUIRED = ("StartTime", "StopTime", "StepSize", "RelTol")
OPT_NUMERIC = (*OPT_REQUIRED, "AbsTol", "OutputIntervalLength")
README_NAMES = ("ReadMe.txt", "README.txt", "ReadMe.md", "README.md", "readme.txt", "readme.md")
# cross-check platform names -> the FMI 3.0 platform tuples of the same machines
PLATFORM_TUPLES = {
    "linux64": "x86_64-linux",
    "linux32": "x86-linux",
    "win64": "x86_64-windows",
    "win32": "x86-windows",
    "darwin64": "x86_64-darwin",
}
_VERSION = re.compile(r"^\d+\.\d+$")
MAX_STEPS_FOR_VARIABLE = 100_000  # StepSize 0: the output grid is at most this fine


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Options:
    """The `_ref.opt` options (seconds; rel_tol the solver tolerance; 0 step = variable)."""

    start: float
    stop: float
    step: float
    rel_tol: float
    abs_tol: float | None = None
    solver: str = ""
    output_interval: float | None = None
    source: str = ""  # the file they were read from


@dataclass(frozen=True)
class Case:
    """One test FMU of a cross-check tree (a model folder)."""

    folder: Path
    model: str
    fmu: Path | None  # None: no FMU in the folder (a .nofmu, or nothing)
    fmi_version: str  # "2.0", "3.0", ...; "" if neither the path nor the FMU says
    fmi_type: str  # "cs" | "me" | "" (from the FMU when the path does not say)
    platform: str
    tool: str
    tool_version: str
    from_path: bool = True  # version/type/platform read from a full cross-check path
    not_compliant: bool = False

    @property
    def id(self) -> str:
        """`<version>/<type>/<platform>/<Tool>/<ToolVersion>/<Model>`, as in the repository."""
        parts = (self.fmi_version, self.fmi_type, self.platform, self.tool, self.tool_version)
        return "/".join([*(p or "?" for p in parts), self.model])

    def file(self, suffix: str) -> Path:
        return self.folder / f"{self.model}{suffix}"

    def result_dir(self, out: str | os.PathLike[str], version: str) -> Path:
        """The result folder the rules ask for, under out/results/."""
        return (
            Path(out)
            / "results"
            / (self.fmi_version or "unknown")
            / (self.fmi_type or "unknown")
            / (self.platform or "unknown")
            / IMPORTER
            / version
            / self.tool
            / self.tool_version
            / self.model
        )


@dataclass(frozen=True)
class CaseResult:
    """The verdict of one case: passed | failed | rejected | skipped, with why and the numbers."""

    case: Case
    verdict: str
    reason: str = ""
    report: Report | None = None
    result_dir: Path | None = None
    wall_time: float = 0.0
    notes: tuple[str, ...] = ()
    step: float = math.nan
    options: Options | None = None
    # the recorded result (time, [(reference column, values)]) until it is written
    data: tuple[np.ndarray, list[tuple[str, np.ndarray]]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def worst(self) -> tuple[str, float, float] | None:
        """(signal, max |dev|, max excess over the band / band) of the worst signal compared."""
        if self.report is None or not self.report.signals:
            return None
        v = max(self.report.signals, key=lambda s: _finite(s.max_excess, -math.inf))
        return v.name, v.max_deviation, v.max_excess

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        c = self.case
        return {
            "id": c.id,
            "model": c.model,
            "fmi_version": c.fmi_version,
            "fmi_type": c.fmi_type,
            "platform": c.platform,
            "tool": c.tool,
            "tool_version": c.tool_version,
            "folder": str(c.folder),
            "verdict": self.verdict,
            "reason": self.reason,
            "wall_time": self.wall_time,
            "step": _finite(self.step, None),
            "result_dir": str(self.result_dir) if self.result_dir else None,
            "notes": list(self.notes),
            "comparison": self.report.to_dict() if self.report is not None else None,
        }


@dataclass(frozen=True)
class Settings:
    """How cases are run and judged (the tube tolerances, the importer's version)."""

    rel_tol: float = DEFAULT_REL_TOL
    abs_tol: float = DEFAULT_ABS_TOL
    time_tol_fraction: float = DEFAULT_TIME_TOL_FRACTION
    version: str = ""  # cosim's version in the result path; "" = the installed one
    platform: str = ""  # this machine's cross-check platform; "" = as fmpy names it

    def resolved(self) -> Settings:
        import fmpy

        from cosim import __version__

        return replace(
            self, version=self.version or __version__, platform=self.platform or fmpy.platform
        )


class _Reject(Exception):
    """cosim will not run this case; the message says why."""


# --------------------------------------------------------------------------- finding cases
def find_cases(root: str | os.PathLike[str]) -> list[Case]:
    """Every model folder under root (a cross-check tree, a part of one, or one model folder).

    A model folder holds `<Model>.fmu`, `<Model>.nofmu` or `<Model>_ref.csv` (the folder's name
    is the model's); a folder with exactly one .fmu of another name counts too. ConfigError when
    root is not a folder."""
    base = Path(root)
    if not base.is_dir():
        what = "does not exist" if not base.exists() else "is not a folder"
        raise ConfigError(
            Problem(
                Location(str(base)), f"{what}", "pass a cross-check tree (the folder with fmus/)"
            )
        )
    base = base.resolve()
    cases: list[Case] = []
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if Path(folder).name == "results" and Path(folder) != base:
            dirs[:] = []  # another importer's results, not test FMUs
            continue
        case = _case_in(Path(folder), set(files), base)
        if case is not None:
            cases.append(case)
    return cases


def _case_in(folder: Path, files: set[str], base: Path) -> Case | None:
    name = folder.name
    fmus = sorted(f for f in files if f.lower().endswith(".fmu"))
    if f"{name}.fmu" in files:
        model, fmu = name, folder / f"{name}.fmu"
    elif len(fmus) == 1:
        model, fmu = fmus[0][: -len(".fmu")], folder / fmus[0]
    elif f"{name}.nofmu" in files or f"{name}_ref.csv" in files:
        model, fmu = name, None
    else:
        return None
    parts = folder.parts
    # .../<FMI version>/<cs|me>/<platform>/<Tool>/<ToolVersion>/<Model> (below fmus/ or not)
    full = len(parts) >= 6 and parts[-5] in FMI_TYPES and _VERSION.match(parts[-6]) is not None
    if full:
        version, fmi_type, platform, tool, tool_version = parts[-6:-1]
    else:  # Tool/ToolVersion/Model, or a model folder on its own: the rest from the FMU
        version, fmi_type, platform = "", "", ""
        tool = parts[-3] if len(parts) >= 3 else "unknown"
        tool_version = parts[-2] if len(parts) >= 2 else "unknown"
    return Case(
        folder,
        model,
        fmu,
        version,
        fmi_type,
        platform,
        tool,
        tool_version,
        from_path=full,
        not_compliant=NOT_COMPLIANT in files,
    )


# --------------------------------------------------------------------------- options
def read_options(path: str | os.PathLike[str]) -> Options:
    """Read a `_ref.opt` file (`key, value` lines, `//` comments); ConfigError lists every
    problem with its line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as err:
        raise ConfigError(
            Problem(Location(str(p)), f"cannot read: {err.strerror or err}")
        ) from None
    return _parse_options(text, str(p), strict=True)


def _parse_options(text: str, source: str, strict: bool) -> Options:
    """strict: every non-blank line must be `key, value` (a _ref.opt); else (a ReadMe) only
    lines that are one are read."""
    values: dict[str, float] = {}
    solver = ""
    problems: list[Problem] = []
    known = {k.lower(): k for k in (*OPT_NUMERIC, "SolverType")}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        key, sep, value = (s.strip() for s in line.partition(","))
        if strict and not sep:
            problems.append(
                Problem(Location(source, n, 1), f"expected 'key, value', got {raw.strip()!r}")
            )
            continue
        name = known.get(key.lower().lstrip("-*| ").rstrip("|: "))
        if name is None:
            continue  # an option cosim does not use, or a ReadMe line
        if name == "SolverType":
            solver = value
            continue
        try:
            number = float(value.split()[0].rstrip("|")) if value else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            problems.append(
                Problem(Location(source, n, 1), f"{name}: not a finite number: {value!r}")
            )
            continue
        values[name] = number
    missing = [k for k in OPT_REQUIRED if k not in values]
    if missing and (strict or values):
        problems.append(
            Problem(
                Location(source),
                f"missing {', '.join(missing)}",
                "a _ref.opt holds StartTime, StopTime, StepSize and RelTol lines",
            )
        )
    if not values and not strict:
        raise ConfigError(Problem(Location(source), "holds no StartTime/StopTime/StepSize/RelTol"))
    if not problems:
        t0, t1, h = values["StartTime"], values["StopTime"], values["StepSize"]
        if not t1 > t0:
            problems.append(Problem(Location(source), f"StartTime {t0:g} is not below StopTime"))
        elif not 0 <= h <= t1 - t0:
            problems.append(
                Problem(Location(source), f"StepSize {h:g} is not in [0, StopTime - StartTime]")
            )
        if values["RelTol"] < 0:
            problems.append(Problem(Location(source), "RelTol is negative"))
    if problems:
        raise ConfigError(problems)
    out_int = values.get("OutputIntervalLength")
    return Options(
        values["StartTime"],
        values["StopTime"],
        values["StepSize"],
        values["RelTol"],
        values.get("AbsTol"),
        solver,
        out_int if out_int and out_int > 0 else None,
        source,
    )


def case_options(case: Case) -> tuple[Options, list[str]]:
    """The case's options: `<Model>_ref.opt`, else key/value lines in its ReadMe (older
    submissions); ConfigError when neither holds them."""
    opt = case.file("_ref.opt")
    if opt.is_file():
        return read_options(opt), []
    for name in README_NAMES:
        readme = case.folder / name
        if readme.is_file():
            try:
                text = readme.read_text(encoding="utf-8-sig", errors="replace")
                return _parse_options(text, str(readme), strict=False), [
                    f"no {opt.name}: options read from {name}"
                ]
            except (ConfigError, OSError):
                continue
    raise ConfigError(
        Problem(
            Location(str(opt)),
            "no such file (the cross-check rules require it)",
            "write StartTime, StopTime, StepSize and RelTol lines, e.g. 'StopTime, 10'",
        )
    )


# --------------------------------------------------------------------------- one case
def run_case(
    case: Case,
    out: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
) -> CaseResult:
    """Run one case and judge it; with out, write its result folder. Never raises for what is
    in the folder: every problem becomes a verdict with its reason."""
    settings = (settings or Settings()).resolved()
    t0 = time.perf_counter()
    if case.not_compliant:
        return CaseResult(case, SKIPPED, f"marked {NOT_COMPLIANT}")
    try:
        result = _judge(case, settings)
    except _Verdict as v:
        result = CaseResult(v.case, v.verdict, v.reason, notes=v.notes)
    # messages name files by their full path: inside the case's own folder, the name is enough
    reason = result.reason.replace(f"{case.folder}{os.sep}", "")
    result = replace(result, reason=reason, wall_time=time.perf_counter() - t0)
    if out is not None:
        try:
            result = write_result(result, out, settings)
        except OSError as err:  # the output folder, not the case: the whole run stops
            where = err.filename or out
            raise ConfigError(
                Problem(Location(str(where)), f"cannot write results: {err.strerror or err}")
            ) from None
    return result


class _Verdict(Exception):
    """A case decided before its comparison: rejected or failed, with the reason."""

    def __init__(self, case: Case, verdict: str, reason: str, notes: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.case, self.verdict, self.reason, self.notes = case, verdict, reason, tuple(notes)


def _judge(case: Case, settings: Settings) -> CaseResult:
    try:
        case, md = _describe(case, settings)
    except _Verdict:
        raise
    except _Reject as why:
        raise _Verdict(case, REJECTED, str(why)) from None
    except ConfigError as err:
        raise _Verdict(case, REJECTED, _problems_text(err)) from None
    except Exception as err:  # noqa: BLE001 - whatever the archive holds: never a traceback
        raise _Verdict(case, REJECTED, f"cannot read the FMU: {_error_text(err)}") from None
    notes: list[str] = []
    try:
        prepared = _prepare(case, md, notes)
    except _Reject as why:
        raise _Verdict(case, REJECTED, str(why), notes) from None
    except ConfigError as err:  # the test files break the rules, or cosim refuses the FMU
        raise _Verdict(case, REJECTED, _problems_text(err), notes) from None
    except Exception as err:  # noqa: BLE001
        raise _Verdict(case, REJECTED, _error_text(err), notes) from None
    try:
        return _run(case, prepared, settings, notes)
    except _Reject as why:
        raise _Verdict(case, REJECTED, str(why), notes) from None
    except Exception as err:  # noqa: BLE001 - an FMU error or crash: the case failed
        raise _Verdict(case, FAILED, _error_text(err), notes) from None


def _describe(case: Case, settings: Settings) -> tuple[Case, Any]:
    """Read the model description; fill in what the path did not say; refuse what cosim cannot
    run (FMI version, interface, platform)."""
    from cosim.fmu.archive import read_model_description

    if case.fmu is None:
        nofmu = case.file(".nofmu")
        raise _Reject(
            f"the FMU is not provided ({nofmu.name}; its README says how to get it)"
            if nofmu.exists()
            else f"no {case.model}.fmu in the folder"
        )
    md = read_model_description(case.fmu)
    version = str(getattr(md, "fmiVersion", "") or "")
    interfaces = [
        t
        for t, attr in (("cs", "coSimulation"), ("me", "modelExchange"))
        if getattr(md, attr, None) is not None
    ]
    filled = replace(
        case,
        fmi_version=case.fmi_version or _short_version(version),
        fmi_type=case.fmi_type or (interfaces[0] if interfaces else ""),
        platform=case.platform or _host_platform(version, settings.platform),
    )
    if case.fmi_version and _major(case.fmi_version) != _major(version):
        raise _Verdict(
            filled, REJECTED, f"the folder says FMI {case.fmi_version}, the FMU is FMI {version}"
        )
    if _major(version) not in ("2", "3"):
        raise _Verdict(filled, REJECTED, f"FMI {version or '?'}: cosim runs FMI 2.0 and 3.0 FMUs")
    if filled.fmi_type not in interfaces:
        name = {"cs": "Co-Simulation", "me": "Model Exchange"}.get(filled.fmi_type, "a known")
        have = " and ".join(interfaces) or "neither Co-Simulation nor Model Exchange"
        raise _Verdict(filled, REJECTED, f"the FMU has no {name} interface (it has {have})")
    if not _runs_here(filled.platform, version, settings.platform):
        raise _Verdict(
            filled,
            REJECTED,
            f"a test for platform {filled.platform}; cosim runs here on {settings.platform}",
        )
    return filled, md


@dataclass(frozen=True)
class _Prepared:
    options: Options
    reference: Any  # SignalSet
    signals: tuple[str, ...]
    inputs: Path | None
    step: float


def _prepare(case: Case, md: Any, notes: list[str]) -> _Prepared:
    """The options, the reference and the inputs, checked against the rules and the FMU."""
    from cosim.results.signals import read_signals

    options, opt_notes = case_options(case)
    notes += opt_notes
    ref_path = case.file("_ref.csv")
    if not ref_path.is_file():
        raise _Reject(f"no {ref_path.name} (the cross-check rules require a reference)")
    ref = read_signals(ref_path)
    notes += [f"{n}: not compared ({why} in the reference)" for n, why in ref.skipped.items()]
    variables = {v.name: v for v in md.modelVariables}
    unknown = [n for n in ref.names if n not in variables]
    if unknown:
        raise _Reject(f"{ref_path.name} names {_listing(unknown)}: not variables of the FMU")
    strings = [n for n in ref.names if getattr(variables[n], "type", "") == "String"]
    notes += [f"{n}: a String variable, not compared" for n in strings]
    signals = tuple(n for n in ref.names if n not in strings)
    if not signals:
        raise _Reject(f"{ref_path.name} holds no numeric signal to compare")
    in_file = case.file("_in.csv")
    inputs = in_file if in_file.is_file() else None
    if inputs is not None:
        sig = read_signals(inputs)
        bad = [n for n in sig.names if getattr(variables.get(n), "causality", None) != "input"]
        if bad:
            raise _Reject(f"{inputs.name} names {_listing(bad)}: not inputs of the FMU")
    elif any(getattr(v, "causality", "") == "input" for v in variables.values()):
        notes.append(f"the FMU has inputs but there is no {in_file.name}: start values used")
    if options.start < float(ref.time[0]) - 1e-9 or options.stop > float(ref.time[-1]) + 1e-9:
        notes.append(
            f"the reference covers {ref.time[0]:g}..{ref.time[-1]:g} s, "
            f"not StartTime..StopTime ({options.start:g}..{options.stop:g} s)"
        )
    step = _step(options, ref.time)
    if options.step == 0:
        notes.append(f"StepSize 0 (variable step): communication step {step:.6g} s")
    return _Prepared(options, ref, signals, inputs, step)


def _run(case: Case, p: _Prepared, settings: Settings, notes: list[str]) -> CaseResult:
    """Simulate, then compare with the reference inside the tubes."""
    from cosim.results.signals import from_arrays

    try:
        system = _system(case, p.options, p.step, p.signals, p.inputs)
    except ConfigError as err:  # cosim refuses the FMU at load (no binary, ...)
        raise _Reject(_problems_text(err)) from None
    results = system.simulate()
    columns = [(n, np.asarray(results[f"{COMPONENT}.{n}"])) for n in p.signals]
    res = from_arrays(results.time, dict(columns), source=str(case.fmu))
    span = p.options.stop - p.options.start
    report = compare(
        res,
        p.reference,
        signals=list(p.signals),
        abs_tol=settings.abs_tol,
        rel_tol=settings.rel_tol,
        time_tol=settings.time_tol_fraction * span,
    )
    base = CaseResult(
        case,
        PASSED,
        report=report,
        notes=tuple(notes),
        step=p.step,
        options=p.options,
        data=(np.asarray(results.time), columns),
    )
    short = _too_short(res.time, p.options)
    if short:
        return replace(base, verdict=FAILED, reason=short)
    if not report.passed:
        return replace(base, verdict=FAILED, reason=_failure_reason(report))
    return replace(base, reason=f"{len(report.signals)} signals inside the tube")


def _system(
    case: Case, options: Options, step: float, signals: Sequence[str], inputs: Path | None
) -> System:
    """The FMU as a one-component system: the options' times and tolerance, the interface of
    the folder, the reference's variables recorded, and `_in.csv` driving the inputs (columns
    named after them; linear for continuous Reals, else the previous value; ends held)."""
    from cosim.api import System

    assert case.fmu is not None
    simulation: dict[str, Any] = {"start": options.start, "stop": options.stop, "step": step}
    if options.rel_tol > 0:
        simulation["tolerance"] = options.rel_tol
    data: dict[str, Any] = {
        "name": case.model,
        "description": f"cross-check {case.id}",
        "simulation": simulation,
        "components": {COMPONENT: {"fmu": str(case.fmu), "interface": case.fmi_type}},
        "record": {"variables": [f"{COMPONENT}.{n}" for n in signals]},
    }
    if inputs is not None:
        data["inputs"] = [{"file": str(inputs), "component": COMPONENT, "outside": "hold"}]
    return System.from_dict(data, base_dir=case.fmu.parent)


def _step(options: Options, ref_time: np.ndarray) -> float:
    """The communication step: StepSize; for 0 (variable step) OutputIntervalLength, else the
    reference's typical sample spacing, kept within span/MAX_STEPS_FOR_VARIABLE and span/100."""
    span = options.stop - options.start
    if options.step > 0:
        return options.step
    if options.output_interval:
        return min(options.output_interval, span)
    dt = np.diff(ref_time)
    dt = dt[dt > 0]
    typical = float(np.median(dt)) if dt.size else span / 500
    return min(max(typical, span / MAX_STEPS_FOR_VARIABLE), span / 100)


def _too_short(t: np.ndarray, options: Options) -> str:
    eps = 1e-9 * max(1.0, abs(options.stop))
    if t.size < 2:
        return "the result has fewer than two samples"
    if t[0] > options.start + eps:
        return f"the result starts at {t[0]:g} s, after StartTime {options.start:g} s"
    if t[-1] < options.stop - eps:
        return f"the result ends at {t[-1]:g} s, before StopTime {options.stop:g} s"
    return ""


def _failure_reason(report: Report) -> str:
    bad = report.failures
    parts = []
    for v in bad[:3]:
        dev = f"max |dev| {v.max_deviation:.3g}" if math.isfinite(v.max_deviation) else v.status
        parts.append(f"{v.name} ({dev}, band {v.band:.3g}: {v.reason})")
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    noun = "signal" if len(bad) == 1 else "signals"
    return f"{len(bad)} {noun} outside the tube: " + "; ".join(parts) + more


# --------------------------------------------------------------------------- writing
def write_result(
    result: CaseResult, out: str | os.PathLike[str], settings: Settings | None = None
) -> CaseResult:
    """Write the case's result folder (verdict file, _out.csv, README.md); returns the result
    with its folder set and its data dropped. A skipped case writes nothing."""
    settings = (settings or Settings()).resolved()
    if result.verdict not in VERDICTS:
        return replace(result, data=None)
    case = result.case
    folder = case.result_dir(out, settings.version)
    folder.mkdir(parents=True, exist_ok=True)
    for name in VERDICTS:  # a rerun replaces the verdict, never adds a second one
        (folder / name).unlink(missing_ok=True)
    (folder / result.verdict).write_bytes(b"")
    out_csv = folder / f"{case.model}_out.csv"
    if result.data is not None:
        write_out_csv(out_csv, *result.data)
    else:
        out_csv.unlink(missing_ok=True)
    (folder / "README.md").write_text(readme_text(result, settings), encoding="utf-8")
    return replace(result, result_dir=folder, data=None)


def write_out_csv(
    path: str | os.PathLike[str], t: np.ndarray, columns: Sequence[tuple[str, np.ndarray]]
) -> Path:
    """A CSV by the cross-check's CSV rules (Appendix B): a header of double-quoted variable
    names exactly as in the model description ("time" first, no units), unquoted C numbers,
    booleans as 0/1; reals with 17 significant digits."""
    from cosim.results.csv import write_rows

    path = Path(path)
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(
        ["time", *(n for n, _ in columns)]
    )
    write_rows(buf, np.asarray(t, dtype=np.float64), [np.asarray(v) for _, v in columns])
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return path


def readme_text(result: CaseResult, settings: Settings) -> str:
    """The result folder's README.md: how the FMU was run and, unless it passed, why not."""
    c, o = result.case, result.options
    kind = {"cs": "Co-Simulation", "me": "Model Exchange"}.get(c.fmi_type, c.fmi_type or "?")
    lines = [
        f"# {c.model}: {result.verdict}",
        "",
        f"Imported with cosim {settings.version} (`cosim xcheck`), FMI {c.fmi_version or '?'} "
        f"{kind}, platform {c.platform or '?'}; exported by {c.tool} {c.tool_version}.",
        "",
    ]
    if o is not None:
        tol = f", relative tolerance {o.rel_tol:g}" if o.rel_tol > 0 else ""
        lines += [
            f"- run: {o.start:g} .. {o.stop:g} s, communication step {result.step:.6g} s{tol}"
            + (" (Model Exchange: CVODE)" if c.fmi_type == "me" else ""),
            f"- options from `{Path(o.source).name}`",
        ]
    if result.report is not None:
        span = (o.stop - o.start) if o is not None else math.nan
        lines += [
            f"- tube: band max({settings.abs_tol:g}, {settings.rel_tol:g} x range of each "
            f"reference signal), time tolerance {settings.time_tol_fraction:g} x "
            f"{span:g} s = {result.report.time_tol:.6g} s",
            "",
            "| signal | verdict | max abs deviation | at t [s] | band |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for v in result.report.signals:
            lines.append(
                f"| `{v.name}` | {'pass' if v.passed else v.status} | {_g(v.max_deviation)} "
                f"| {_g(v.max_deviation_time, '.6g')} | {_g(v.band)} |"
            )
    if result.verdict != PASSED:
        lines += ["", "## Why", "", result.reason or result.verdict]
    if result.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in result.notes)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the whole tree
Progress = Callable[[CaseResult], None]


def run_xcheck(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Find every case under root, run and judge each (in `workers` processes if >= 1: an FMU
    that crashes its process fails only its own case; None or 0: in this process), write
    their result folders under out.

    ConfigError when root is not a folder or holds no FMU."""
    settings = (settings or Settings()).resolved()
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(Problem(Location(str(out)), "is a file, expected a folder for results"))
    cases = find_cases(root)
    if not any(c.fmu is not None for c in cases):
        listed = f" ({len(cases)} model folders without one)" if cases else ""
        raise ConfigError(
            Problem(
                Location(str(root)),
                f"no FMUs found{listed}",
                "pass a cross-check tree: fmus/<FMI version>/<cs|me>/<platform>/<Tool>/"
                "<ToolVersion>/<Model>/<Model>.fmu",
            )
        )
    report = progress or (lambda r: None)
    results: dict[int, CaseResult] = {}
    if workers:
        _run_in_processes(cases, out, settings, workers, results, report)
    else:
        for i, case in enumerate(cases):
            results[i] = run_case(case, out, settings)
            report(results[i])
    return [results[i] for i in range(len(cases))]


def _run_in_processes(
    cases: Sequence[Case],
    out: str | os.PathLike[str] | None,
    settings: Settings,
    workers: int,
    results: dict[int, CaseResult],
    report: Progress,
) -> None:
    """Cases on a process pool; after a worker died, the cases it took down with it are run
    again one process each, so only the case that crashes its process fails."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    pending = list(range(len(cases)))
    alone = False
    while pending:
        batch, pending = pending, []
        groups = [[i] for i in batch] if alone else [batch]
        for group in groups:
            n = 1 if alone else min(workers, len(group))
            with ProcessPoolExecutor(n, mp_context=ctx) as pool:
                futures: dict[int, Future[CaseResult]] = {
                    i: pool.submit(run_case, cases[i], out, settings) for i in group
                }
                for i, fut in futures.items():
                    try:
                        results[i] = fut.result()
                    except BrokenProcessPool:
                        if not alone:
                            pending.append(i)
                            continue
                        results[i] = _crashed(cases[i], out, settings)
                    except Exception as err:  # noqa: BLE001 - e.g. a result that cannot be pickled
                        results[i] = CaseResult(cases[i], FAILED, _error_text(err))
                    report(results[i])
        alone = True


def _crashed(case: Case, out: str | os.PathLike[str] | None, settings: Settings) -> CaseResult:
    result = CaseResult(case, FAILED, "the process running the FMU died (the FMU crashed it)")
    return write_result(result, out, settings) if out is not None else result


def summary(results: Sequence[CaseResult]) -> dict[str, int]:
    """How many cases got each verdict."""
    counts = {v: 0 for v in (*VERDICTS, SKIPPED)}
    for r in results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    return counts


def exit_code(results: Sequence[CaseResult], strict: bool = False) -> int:
    """0 when every case passed (rejected and skipped ones too, unless strict), else 1."""
    bad = {FAILED, REJECTED} if strict else {FAILED}
    return 1 if any(r.verdict in bad for r in results) else 0


# --------------------------------------------------------------------------- JUnit
def write_junit(
    results: Sequence[CaseResult], path: str | os.PathLike[str], strict: bool = False
) -> Path:
    """JUnit XML through verify's writer: one testcase per FMU (name = its cross-check id);
    failed -> <failure>; rejected and skipped -> <skipped> (with strict, rejected -> <error>)."""
    from cosim.verify.junit import to_xml
    from cosim.verify.regression import ERROR, FAIL, PASS
    from cosim.verify.regression import CaseResult as JunitCase

    cases = []
    for r in results:
        if r.verdict == PASSED:
            status = PASS
        elif r.verdict == FAILED:
            status = FAIL
        elif r.verdict == REJECTED and strict:
            status = ERROR
        else:
            status = r.verdict  # rejected / skipped: marked <skipped> below
        cases.append(
            JunitCase(
                id=r.case.id,
                name=r.case.model,
                path=r.case.id,
                status=status,
                wall_time=r.wall_time,
                report=r.report,
                message=r.reason,
                bad_input=r.verdict == REJECTED,
                notes=r.notes,
            )
        )
    tree = to_xml(cases, name="cosim xcheck")
    import xml.etree.ElementTree as ET

    suite = tree.getroot().find("testsuite")
    assert suite is not None
    n_skipped = 0
    for tc, case in zip(suite.findall("testcase"), cases, strict=True):
        if case.status in (REJECTED, SKIPPED):
            n_skipped += 1
            el = ET.Element("skipped", {"message": f"{case.status}: {case.message}"})
            tc.insert(0, el)
    suite.set("skipped", str(n_skipped))
    ET.indent(tree.getroot())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


# --------------------------------------------------------------------------- helpers
def _major(version: str) -> str:
    return version.strip().split(".")[0] if version else ""


def _short_version(version: str) -> str:
    """ "2.0" -> "2.0", "3.0-beta.2" -> "3.0": the cross-check's folder name."""
    m = re.match(r"^\s*(\d+)(?:\.(\d+))?", version or "")
    return f"{m.group(1)}.{m.group(2) or 0}" if m else ""


def _host_platform(version: str, host: str) -> str:
    return PLATFORM_TUPLES.get(host, host) if _major(version) == "3" else host


def _runs_here(platform: str, version: str, host: str) -> bool:
    """The case's platform is this machine's (either naming), or c-code (sources: cosim
    tries, and refuses it at load without a binary for here)."""
    return platform in (host, PLATFORM_TUPLES.get(host, host), "c-code")


def _listing(names: Sequence[str], n: int = 4) -> str:
    shown = ", ".join(repr(x) for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _problems_text(err: ConfigError) -> str:
    errors = [p for p in err.problems if p.severity == "error"] or err.problems
    return "; ".join(_first_lines(str(p), 2).replace("\n    ", " ") for p in errors[:3]) + (
        f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    )


def _error_text(err: BaseException) -> str:
    if isinstance(err, ConfigError):
        return _problems_text(err)
    text = _first_lines(str(err))
    return text if isinstance(err, CosimError) else f"{type(err).__name__}: {text}"


def _first_lines(text: str, n: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[:n]) if lines else ""


def _finite(x: float, default: Any) -> Any:
    return x if isinstance(x, float) and math.isfinite(x) else default


def _g(x: float, fmt: str = ".4g") -> str:
    return format(x, fmt) if isinstance(x, float | int) and math.isfinite(x) else "-"


__all__ = [
    "Case",
    "CaseResult",
    "Options",
    "Settings",
    "exit_code",
    "find_cases",
    "read_options",
    "run_case",
    "run_xcheck",
    "summary",
    "write_junit",
    "write_out_csv",
    "write_result",
]
