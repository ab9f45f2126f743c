"""`cosim calibrate SYSTEM.yaml --data REC --params a.p,b.q`: fit parameters to plant data.

Exit codes: 0 the fit converged, 1 the optimizer did not converge or the model failed,
2 bad input (missing file, unknown parameter, no overlapping signals ...).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from cosim.cli.output import EXIT_FAILURE, EXIT_OK
from cosim.errors import ConfigError, Location, Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("system", metavar="SYSTEM.yaml", help="the system (twin) file")
    parser.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="recorded plant data: a twin results.h5 (/twin) or a CSV `time [s],comp.var,...`",
    )
    parser.add_argument(
        "--params",
        required=True,
        metavar="C.P,...",
        help="the tunable or fixed parameters to fit, e.g. act.wear,act.T_c0",
    )
    parser.add_argument(
        "--bounds",
        metavar="C.P=LO:HI,...",
        help="bounds per parameter (either side may be empty; default: the variable's min/max)",
    )
    parser.add_argument(
        "--start",
        metavar="C.P=X,...",
        help="start values (default: the system's current values)",
    )
    parser.add_argument(
        "--sigma",
        metavar="C.V=S,...",
        help="noise standard deviation of measured signals (default: estimated from the data)",
    )
    parser.add_argument(
        "--window", metavar="START:STOP", help="fit the rows between these times only (seconds)"
    )
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="worker processes (default: min(n_params + 1, CPUs))"
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the simulations on this Dask cluster (the executor of cosim sweep)",
    )
    parser.add_argument(
        "--max-nfev", type=int, default=100, metavar="N", help="residual evaluations at most"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="write calibration.json, .yaml and .png into this folder"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="residual plot (PNG; default: calibration.png in --out, else the current folder)",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _number(text: str, option: str, label: str) -> float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(Problem(Location(option), f"{label}: {text!r} is not a number")) from None
    if math.isnan(value):
        raise ConfigError(Problem(Location(option), f"{label}: NaN is not a value"))
    return value


def _assignments(text: str | None, option: str) -> dict[str, str]:
    """`a.p=x,b.q=y` -> {"a.p": "x", "b.q": "y"} (ConfigError naming the option if bad)."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        label, eq, value = item.partition("=")
        label = label.strip()
        if not eq or not label:
            raise ConfigError(Problem(Location(option), f"{item.strip()!r} is not comp.var=VALUE"))
        if label in out:
            raise ConfigError(Problem(Location(option), f"{label} is given twice"))
        out[label] = value
    return out


def _span(text: str, option: str, label: str) -> tuple[float | None, float | None]:
    lo, colon, hi = text.partition(":")
    if not colon:
        raise ConfigError(Problem(Location(option), f"{label}: {text!r} is not LO:HI"))
    return _number(lo, option, label), _number(hi, option, label)


def _values(text: str | None, option: str) -> dict[str, float]:
    out = {}
    for label, value in _assignments(text, option).items():
        x = _number(value, option, label)
        if x is None or not math.isfinite(x):
            raise ConfigError(Problem(Location(option), f"{label}: give a finite number"))
        out[label] = x
    return out


def _print(cal: Any, plot: Path | None) -> None:
    state = "converged" if cal.converged else "NOT converged"
    print(
        f"calibration {state}: {cal.message} ({cal.nfev} evaluations, "
        f"{cal.simulations} simulations, {cal.n_residuals} residuals)"
    )
    width = max(len(n) for n in cal.names)
    for name, v, se, x0, unit in zip(
        cal.names, cal.values, cal.std_errors, cal.start, cal.units, strict=True
    ):
        rel = f" ({100 * se / abs(v):.2g} %)" if v != 0 and math.isfinite(se) else ""
        u = f" {unit}" if unit and unit != "1" else ""
        print(f"  {name:<{width}} = {v:.6g} ± {se:.3g}{u}{rel}   (start {x0:.6g})")
    if len(cal.names) > 1:
        print("correlation:")
        for name, row in zip(cal.names, cal.correlation, strict=True):
            print(f"  {name:<{width}} " + " ".join(f"{x:+7.3f}" for x in row))
    print("residuals (RMS, sigma):")
    lw = max(len(s.label) for s in cal.signals)
    for s in cal.signals:
        est = " estimated" if s.sigma_estimated else ""
        print(f"  {s.label:<{lw}}  {s.rms:.4g} {s.unit}  (sigma {s.sigma:.4g}{est})")
    if cal.driven:
        print(f"replayed inputs: {', '.join(cal.driven)}")
    if cal.ignored:
        print(f"not in the system (ignored): {', '.join(cal.ignored)}")
    print("paste into the system YAML:")
    print("  " + cal.yaml_fragment().rstrip("\n").replace("\n", "\n  "))
    if plot is not None:
        print(f"plot: {plot}")


def run(args: argparse.Namespace) -> int:
    from cosim.twin.calibrate import calibrate

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(Problem(Location("--jobs"), f"--jobs must be >= 1, got {args.jobs}"))
    if args.max_nfev < 1:
        raise ConfigError(Problem(Location("--max-nfev"), "--max-nfev must be >= 1"))
    bounds = {k: _span(v, "--bounds", k) for k, v in _assignments(args.bounds, "--bounds").items()}
    window = _span(args.window, "--window", "--window") if args.window else None
    cluster = None
    if args.scheduler:
        from cosim.study.executor import DaskExecutor

        cluster = DaskExecutor(args.scheduler)
    try:
        cal = calibrate(
            args.system,
            args.data,
            args.params,
            bounds=bounds or None,
            sigma=_values(args.sigma, "--sigma") or None,
            window=window,
            start=_values(args.start, "--start") or None,
            jobs=args.jobs,
            max_nfev=args.max_nfev,
            executor=cluster.futures() if cluster is not None else None,
        )
    finally:
        if cluster is not None:
            cluster.close()
    out = Path(args.out) if args.out else None
    plot: Path | None = None
    if not args.no_plot:
        target = Path(args.plot) if args.plot else (out or Path.cwd()) / "calibration.png"
        try:
            plot = cal.plot(target)
        except OSError as exc:
            print(f"cosim: warning: no plot: {exc}", file=sys.stderr)
    summary = cal.to_dict()
    summary["system"] = str(args.system)
    summary["data"] = str(args.data)
    summary["plot"] = str(plot) if plot else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "calibration.json").write_text(json.dumps(summary, indent=2) + "\n")
            (out / "calibration.yaml").write_text(cal.yaml_fragment())
        except OSError as exc:
            raise ConfigError(Problem(Location(str(out)), f"cannot write: {exc}")) from None
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        _print(cal, plot)
    if not cal.converged:
        print(f"cosim: error: the fit did not converge: {cal.message}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
