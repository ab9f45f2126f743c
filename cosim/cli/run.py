"""`cosim run SYSTEM.yaml|X.fmu`: run a system (or one FMU), write DIR/results.h5, print a summary.

Exit codes: 0 completed (or ended early by an FMU asking to terminate, status "stopped"),
1 simulation failure (the results so far stay readable),
2 bad input, 130 interrupted by Ctrl-C/SIGTERM (the run stops at the end of the current
communication step, the results file is completed and closed).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path
from typing import Any

from cosim.cli.output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Progress,
    default_out,
    example_system,
    plural,
    print_warnings,
    problem_dict,
    process_age,
    save_plot,
)
from cosim.errors import ConfigError, CosimError, FmuError, Location, Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "system",
        metavar="SYSTEM.yaml",
        nargs="?",
        help="the system file, or one FMU (X.fmu) to run alone",
    )
    parser.add_argument(
        "--example",
        metavar="NAME",
        help="run a bundled example system instead of a file (`cosim examples` lists them)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="folder for results.h5 (default: a new folder under results/)"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace results.h5 if --out already holds one"
    )
    parser.add_argument("--stop", type=float, metavar="T", help="stop time in seconds")
    parser.add_argument(
        "--step",
        type=float,
        metavar="H",
        help="communication step in seconds: replaces simulation.step (YAML), an SSP's step "
        "annotation, or an FMU's default experiment",
    )
    parser.add_argument(
        "--inputs",
        metavar="X_in.csv",
        help="an FMU run alone: drive its inputs from this table (CSV or HDF5, columns named "
        "after the inputs, time first: the FMI cross-check _in.csv convention)",
    )
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
    parser.add_argument(
        "--plant",
        metavar="PLANT.yaml",
        help="offline twin run: step this plant simulator (a system with plant:) in the twin's "
        "own loop instead of connecting over OPC UA (deterministic, as fast as possible unless "
        "--realtime)",
    )
    parser.add_argument(
        "--engine",
        choices=("native", "python"),
        help="the step loop: the compiled kernel (native, the default where it builds) or "
        "Python (overrides simulation.engine; both give the same results bit for bit)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--plot",
        action="store_true",
        help="also save plot.png of the recorded signals next to results.h5",
    )


class _FirstStep:
    """Observer: the process age at the end of the first communication step (start-up cost)."""

    every_step = False  # the compiled loop's first chunk is one step

    def __init__(self) -> None:
        self.age: float | None = None

    def simulation_initialized(self, execution: Any) -> None:
        pass

    def step_complete(self, step: int, tick: int) -> None:
        if self.age is None:
            self.age = process_age()


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
        "engine": getattr(stats, "engine", "python"),
        "engine_reason": getattr(stats, "engine_reason", ""),
        "kernel_steps": getattr(stats, "kernel_steps", 0),
        "kernel_calls": getattr(stats, "kernel_calls", 0),
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
                "interface": c.interface,
                **({"solver": c.solver} if c.solver else {}),
                "step": c.decimation * system.step_ticks / 1e9,
                "do_step_calls": stats.do_step_calls.get(c.name, 0),
                "do_step_seconds": seconds.get(c.name, 0.0),
                "do_step_share": share.get(c.name, 0.0),
            }
            for c in system.components
        },
        "fmu_warnings": dict(getattr(stats, "fmu_warnings", {}) or {}),
        "fmu_warning_lines": dict(getattr(stats, "fmu_warning_lines", {}) or {}),
        "lagging": [
            f"{system.connections[k].spec.source} -> {system.connections[k].spec.target}"
            for k in getattr(system, "lagging", ())
            if system.connections[k].spec is not None
        ],
        "loops": dict(getattr(stats, "loops", {}) or {}),
        "step_control": dict(getattr(stats, "step_control", {}) or {}),
        "error": _error_info(err),
    }


def _print_summary(s: dict[str, Any]) -> None:
    rtf = s["real_time_factor"]
    rtf_text = f"{rtf:.3g}" if rtf is not None else "n/a"
    print(
        f"{s['system']}: {s['status']}, {plural(s['steps'], 'step')} to "
        f"t = {s['start'] + s['simulated_time']:.6g} s"
        f" in {s['wall_time']:.3g} s wall time (real-time factor {rtf_text})"
    )
    if s.get("stop_reason"):
        print(f"stopped early: {s['stop_reason']}")
    print(f"results: {s['results']}")
    why = f" ({s['engine_reason']})" if s.get("engine_reason") else ""
    if s.get("engine") == "native" and s.get("steps"):
        k, calls = s.get("kernel_steps", 0), plural(s.get("kernel_calls", 0), "kernel call")
        why = (
            f" (all steps in {calls})"
            if k == s["steps"]
            else f" ({k} of the steps in {calls}, the others one by one: events, the last "
            "steps, hooks that need every step)"
        )
    print(f"step loop: {s.get('engine', 'python')}{why}")
    width = max((len(n) for n in s["components"]), default=0)
    print("share of doStep time:")
    for name, c in s["components"].items():
        print(
            f"  {name:<{width}}  {100 * c['do_step_share']:5.1f} %  "
            f"({plural(c['do_step_calls'], 'step')} of {c['step']:g} s)"
        )
    if s.get("lagging"):
        print(
            "lagging by one communication step (a cycle of direct feedthrough): "
            + ", ".join(s["lagging"])
        )
    for name, loop in s.get("loops", {}).items():
        if isinstance(loop, dict):
            print(
                f"loop {name}: {loop.get('iterations', 0)} iterations "
                f"(max {loop.get('max_iterations', 0)} per step), max residual "
                f"{loop.get('max_residual', 0.0):.3g}, failures {loop.get('failures', 0)}"
                + (f"; {loop['method']}" if loop.get("method") else "")
                + (f" ({loop['jacobian']} Jacobian)" if loop.get("jacobian") else "")
            )
    control = s.get("step_control")
    if control:
        print(
            f"step control: {plural(control['accepted'], 'step')} accepted, "
            f"{control['rejected']} rejected, step {control['min_step']:.3g} .. "
            f"{control['max_step']:.3g} s (tolerance {control['tolerance']:g})"
        )
    for name, count in s.get("fmu_warnings", {}).items():
        if count:
            lines = s.get("fmu_warning_lines", {}).get(name) or []
            last = f" (last: {lines[-1]})" if lines else ""
            print(f"FMU warnings: {name} {count}{last}")
    if s.get("warnings"):
        print(f"{plural(len(s['warnings']), 'warning')} about the system (listed on stderr)")


def load(args: argparse.Namespace) -> Any:
    """The System that `cosim run` runs: a YAML file, or one FMU with its default experiment."""
    from cosim.api import System

    example = getattr(args, "example", None)
    if (args.system is None) == (example is None):
        raise ConfigError(
            Problem(
                Location("SYSTEM.yaml"),
                "give one system: a file or --example NAME"
                if example is None
                else "give a system file or --example NAME, not both",
                "`cosim examples` lists the bundled systems",
            )
        )
    if example is not None:
        args.system = str(example_system(example))
    path = Path(args.system)
    step = getattr(args, "step", None)
    inputs = getattr(args, "inputs", None)
    if path.suffix.lower() == ".fmu":
        return System.from_fmu(
            path, stop=args.stop, step=step, overrides=args.overrides, inputs=inputs
        )
    if inputs is not None:
        raise ConfigError(
            Problem(
                Location("--inputs"),
                "--inputs applies to an FMU run alone",
                "a system file drives inputs from tables in its inputs: section",
            )
        )
    return System.from_file(path, overrides=args.overrides, stop=args.stop, step=step)


def run(args: argparse.Namespace) -> int:
    from cosim.api import results_path

    system = load(args)
    spec = system.spec
    show = not args.quiet and not args.json
    if show:
        print_warnings(system.warnings)
        for note in spec.notes:
            print(f"note: {note}", file=sys.stderr)
    realtime = getattr(args, "realtime", None)
    if realtime is not None and not (math.isfinite(realtime) and realtime > 0):
        raise ConfigError(
            Problem(Location("--realtime"), f"--realtime must be > 0, got {realtime:g}")
        )
    out = Path(args.out) if args.out else default_out(spec.name)
    results = results_path(out, overwrite=getattr(args, "force", False))
    plant = None
    if getattr(args, "plant", None):
        from cosim.api import System

        plant = System.from_file(args.plant).spec
        if "opcua" not in spec.extra:
            raise ConfigError(
                Problem(Location(str(args.system)), "--plant needs a twin: this system has no "
                        "opcua: section", "run the twin's YAML (the one with opcua.inputs)")
            )  # fmt: skip
    if "opcua" in spec.extra or realtime is not None or spec.simulation.realtime is not None:
        from cosim.cli.live import run_live  # live twin / real-time pacing: cosim/twin/

        if getattr(args, "engine", None):
            from dataclasses import replace

            spec = replace(spec, simulation=replace(spec.simulation, engine=args.engine))

        return run_live(
            spec,
            results,
            realtime=realtime,
            overrides=args.overrides,
            quiet=args.quiet,
            as_json=args.json,
            plot=getattr(args, "plot", False),
            warnings=system.warnings,
            plant=plant,
        )
    resolved = system.resolved
    progress = Progress(system.start, system.stop, show and sys.stderr.isatty(), step=system.step)
    first = _FirstStep()
    sim = system.execution(
        results,
        memory=False,
        overwrite=True,  # checked above
        observers=[progress, first],
        attrs={"overrides": json.dumps(list(args.overrides))},
        **({"engine": args.engine} if getattr(args, "engine", None) else {}),
    )

    interrupted = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupted
        sim.execution.watchdog.handled()  # the step thread is alive: no emergency exit
        if interrupted:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        interrupted = True
        sim.request_stop(f"interrupted by {signal.Signals(signum).name}", interrupted=True)

    def on_fatal(status: str, code: int, message: str) -> None:
        """The watchdog's exit: an FMU call is stuck (a signal came, or it overran its
        timeout and never returned). Close the results without it, say so, end."""
        from cosim.engine.watchdog import exit_now

        progress.close()
        sim.execution.abandon(status, message)
        print(f"cosim: error: {message}" if code != EXIT_INTERRUPTED else f"cosim: {message}",
              file=sys.stderr)  # fmt: skip
        print(f"cosim: results so far are in {results} (status {status})", file=sys.stderr)
        exit_now(code)

    caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in caught}
    error: BaseException | None = None
    try:
        with sim:
            sim.execution.watch(signals=True, on_fatal=on_fatal)
            sim.initialize()
            sim.run_until()
    except BaseException as exc:
        error = exc
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        progress.close()
    status = sim.status
    if isinstance(error, ConfigError) or (
        error is not None and not isinstance(error, CosimError | KeyboardInterrupt)
    ):
        raise error  # bad input -> 2 (in cli main); a bug -> traceback
    summary = _summary(resolved, sim.stats, results, status, error)
    summary["stop_reason"] = sim.stop_reason if status in ("stopped", "interrupted") else ""
    summary["warnings"] = [problem_dict(p) for p in system.warnings]
    summary["notes"] = list(spec.notes)
    summary["time_to_first_step"] = first.age
    if getattr(args, "plot", False):
        plot = save_plot(results, spec.name, quiet=True)
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
