"""`cosim run SYSTEM.yaml`: run a system, write DIR/results.h5, print progress and a summary.

Exit codes: 0 completed (or ended early by an FMU asking to terminate, status "stopped"),
1 simulation failure (the results so far stay readable),
2 bad input, 130 interrupted by Ctrl-C/SIGTERM (the run stops at the end of the current
communication step, the results file is completed and closed).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cosim.errors import ConfigError, CosimError, FmuError, Location, Problem

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130
PROGRESS_AFTER = 1.0  # seconds of wall time before a progress bar appears


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("system", metavar="SYSTEM.yaml", help="the system file")
    parser.add_argument(
        "--out", metavar="DIR", help="folder for results.h5 (default: a new folder under results/)"
    )
    parser.add_argument("--stop", type=float, metavar="T", help="stop time in seconds")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="C.V=X",
        help="override a parameter or start value, e.g. --set mass1.m1=2.0 (repeatable)",
    )
    parser.add_argument(
        "--realtime",
        type=float,
        metavar="X",
        help="pace against the wall clock: 1 = real time, 2 = twice as fast "
        "(overrides simulation.realtime)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--plot",
        action="store_true",
        help="also save plot.png of the recorded signals next to results.h5",
    )


def _out_dir(name: str, out: str | None) -> Path:
    if out:
        return Path(out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("results") / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


class _Progress:
    """Observer: a rich progress bar on a terminal, shown once a run takes longer than ~1 s."""

    def __init__(self, start: float, stop: float, enabled: bool) -> None:
        self.start, self.stop = start, stop
        self.enabled = enabled
        self._t0 = time.perf_counter()
        self._last = self._t0
        self._bar: Any = None
        self._task: Any = None

    def simulation_initialized(self, execution: Any) -> None:
        self._t0 = time.perf_counter()

    def step_complete(self, step: int, tick: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()  # ~0.1 us: cheap enough to ask on every step, even slow ones
        if now - self._last < 0.1 or now - self._t0 < PROGRESS_AFTER:
            return
        self._last = now
        t = tick / 1e9
        rtf = (t - self.start) / (now - self._t0)
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("t = {task.fields[t]:.4g} / {task.total:.4g} s"),
                BarColumn(),
                TextColumn("real-time factor {task.fields[rtf]:.3g}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("run", total=self.stop - self.start, t=t, rtf=rtf)
        self._bar.update(self._task, completed=t - self.start, t=t, rtf=rtf)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _error_info(err: BaseException | None) -> dict[str, Any] | None:
    if err is None:
        return None
    info: dict[str, Any] = {"type": type(err).__name__, "message": str(err)}
    if isinstance(err, FmuError):
        info.update(
            instance=err.instance,
            function=err.function,
            fmi_status=err.status,
            time=err.time,
            log=list(err.log),
        )
    return info


def _summary(system: Any, stats: Any, results: Path, status: str, err: Any) -> dict[str, Any]:
    seconds, share = stats.do_step_seconds(), stats.do_step_share()
    return {
        "system": system.spec.name,
        "status": status,
        "results": str(results),
        "algorithm": system.spec.simulation.algorithm,
        "start": system.start_tick / 1e9,
        "stop": system.stop_tick / 1e9,
        "step": system.step_ticks / 1e9,
        "steps": stats.steps,
        "simulated_time": stats.simulated_time,
        "wall_time": stats.wall_time,
        "init_wall_time": stats.init_wall_time,
        "real_time_factor": stats.real_time_factor,
        "components": {
            c.name: {
                "fmi_version": c.fmi_version,
                "step": c.decimation * system.step_ticks / 1e9,
                "do_step_calls": stats.do_step_calls.get(c.name, 0),
                "do_step_seconds": seconds.get(c.name, 0.0),
                "do_step_share": share.get(c.name, 0.0),
            }
            for c in system.components
        },
        "fmu_warnings": dict(getattr(stats, "fmu_warnings", {}) or {}),
        "fmu_warning_lines": dict(getattr(stats, "fmu_warning_lines", {}) or {}),
        "error": _error_info(err),
    }


def _print_summary(s: dict[str, Any]) -> None:
    rtf = s["real_time_factor"]
    rtf_text = f"{rtf:.3g}" if rtf is not None else "n/a"
    print(
        f"{s['system']}: {s['status']}, {s['steps']} steps to "
        f"t = {s['start'] + s['simulated_time']:.6g} s"
        f" in {s['wall_time']:.3g} s wall time (real-time factor {rtf_text})"
    )
    if s.get("stop_reason"):
        print(f"stopped early: {s['stop_reason']}")
    print(f"results: {s['results']}")
    width = max((len(n) for n in s["components"]), default=0)
    print("share of doStep time:")
    for name, c in s["components"].items():
        print(
            f"  {name:<{width}}  {100 * c['do_step_share']:5.1f} %  "
            f"({c['do_step_calls']} steps of {c['step']:g} s)"
        )
    for name, count in s.get("fmu_warnings", {}).items():
        if count:
            lines = s.get("fmu_warning_lines", {}).get(name) or []
            last = f" (last: {lines[-1]})" if lines else ""
            print(f"FMU warnings: {name} {count}{last}")


def run(args: argparse.Namespace) -> int:
    from cosim.engine.execution import Execution
    from cosim.engine.plan import build_plan
    from cosim.io.yaml import load_system
    from cosim.resolve.resolver import resolve_system
    from cosim.results.writer import ResultsWriter

    spec = load_system(args.system, args.overrides, stop=args.stop)  # --stop checked on the grid
    realtime = getattr(args, "realtime", None)
    if "opcua" in spec.extra or realtime is not None or spec.simulation.realtime is not None:
        from cosim.cli.demo import run_live  # live twin / real-time pacing: cosim/twin.py

        return run_live(
            spec,
            _out_dir(spec.name, args.out),
            realtime=realtime,
            overrides=args.overrides,
            quiet=args.quiet,
            as_json=args.json,
            plot=getattr(args, "plot", False),
        )
    system = resolve_system(spec)
    plan = build_plan(system)
    out_dir = _out_dir(spec.name, args.out)
    results = out_dir / "results.h5"
    try:
        writer = ResultsWriter(
            results, system, plan, attrs={"overrides": json.dumps(list(args.overrides))}
        )
    except OSError as exc:
        raise ConfigError(Problem(Location(str(results)), f"cannot write results: {exc}")) from None

    show = not args.quiet and not args.json
    progress = _Progress(
        system.start_tick / 1e9, system.stop_tick / 1e9, show and sys.stderr.isatty()
    )
    ex = Execution(system, observers=[writer, progress], plan=plan)

    interrupted = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupted
        if interrupted:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        interrupted = True
        ex.request_stop(f"interrupted by {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    error: BaseException | None = None
    try:
        with ex:
            ex.initialize()
            ex.run_until(system.stop_tick)
    except BaseException as exc:
        error = exc
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        progress.close()
        if error is not None:
            status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        elif ex.step_count < plan.n_steps:
            status = "interrupted" if interrupted else "stopped"
        else:
            status = "completed"
        writer.close(ex.stats, status, error)

    if isinstance(error, ConfigError) or (
        error is not None and not isinstance(error, CosimError | KeyboardInterrupt)
    ):
        raise error  # bad input -> 2 (in cli main); a bug -> traceback
    summary = _summary(system, ex.stats, results, status, error)
    summary["stop_reason"] = ex.stop_reason if status in ("stopped", "interrupted") else ""
    if getattr(args, "plot", False):
        plot = _save_plot(results, spec.name, quiet=True)
        summary["plot"] = str(plot) if plot else None
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        _print_summary(summary)
        if summary.get("plot"):
            print(f"plot: {summary['plot']}")
    if error is not None and not isinstance(error, KeyboardInterrupt):
        print(f"cosim: error: {error}", file=sys.stderr)
        print(f"cosim: results up to the failure are in {results}", file=sys.stderr)
        return EXIT_FAILURE
    if status == "interrupted":
        print(f"cosim: interrupted; results so far are in {results}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _save_plot(results: Path, title: str, quiet: bool = False) -> Path | None:
    """Save plot.png of every recorded signal next to results.h5 (--plot); None if impossible."""
    from cosim.results.signals import read_signals
    from cosim.verify.plot import plot_signals

    out = results.with_name("plot.png")
    try:
        plot_signals([read_signals(results)], None, out, title=title)
    except ConfigError as err:  # e.g. no rows or no signals recorded: the run itself stands
        print(f"cosim: warning: no plot: {err}", file=sys.stderr)
        return None
    if not quiet:
        print(f"plot: {out}")
    return out
