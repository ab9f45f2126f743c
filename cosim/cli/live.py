"""Live runs from the command line (`cosim run` of a twin, `cosim demo`): run, print, exit code."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

from cosim.cli.output import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, problem_dict, save_plot
from cosim.cli.output import g as _g
from cosim.cli.output import ms as _ms
from cosim.errors import CosimError


def print_twin_summary(s: dict[str, Any]) -> None:
    """The human-readable summary of a twin run (TwinResult.summary())."""
    print(
        f"{s['system']}: {s['status']}, {s['steps']} steps to "
        f"t = {s['start'] + s['simulated_time']:.6g} s in {s['wall_time']:.3g} s wall time"
    )
    if s.get("stop_reason") and s["status"] != "completed":
        print(f"stopped early: {s['stop_reason']}")
    pacing = s.get("pacing")
    if s.get("realtime_target"):
        line = (
            f"real time: target factor {s['realtime_target']:g}, measured "
            f"{_g(s['realtime_factor'])}"
        )
        if pacing:
            line += (
                f"; overruns {pacing['overruns']}, lateness p50 {_ms(pacing['p50_lateness_s'])}, "
                f"p99 {_ms(pacing['p99_lateness_s'])}, max {_ms(pacing['max_lateness_s'])}"
            )
        print(line)
    else:
        print(f"as fast as possible: real-time factor {_g(s['realtime_factor'])}")
    if s.get("plant"):
        gaps = s.get("gaps") or []
        line = f"plant: {s['plant']}, {len(s['inputs'])} live input(s)"
        line += f", {len(gaps)} connection gap(s), {s.get('reconnects', 0)} reconnect(s)"
        if s.get("writes_sent") or s.get("write_errors"):
            line += f", {s['writes_sent']} write(s) sent, {s['write_errors']} failed"
        print(line)
        lost = [
            f"{text} {s[key]}"
            for key, text in (
                ("samples_dropped", "raw samples dropped (ring full)"),
                ("non_finite", "non-finite values ignored"),
                ("queue_overflows", "client queue overflows"),
            )
            if s.get(key)
        ]
        if lost:
            print(f"  {', '.join(lost)}")
        for g in gaps:
            dur = g.get("duration")
            print(
                f"  gap: {_g(dur, '.2f')} s from t = {_g(g.get('sim_start'), '.2f')} s "
                f"to {_g(g.get('sim_end'), '.2f')} s ({g.get('reason', '')})"
            )
        for p in s.get("pauses") or []:
            print(f"  paused at t = {p['sim_time']:.2f} s for {p['end'] - p['start']:.2f} s")
        if s["inputs"]:
            width = max(len(f"{i['node']} -> {i['to']}") for i in s["inputs"])
            print(f"  {'live input':<{width}}  role    samples  stale steps")
            for i in s["inputs"]:
                name = f"{i['node']} -> {i['to']}"
                print(
                    f"  {name:<{width}}  {i['role']:<6} {i['samples']:>8}  {i['stale_steps']:>6}"
                    f" ({100 * i['stale_fraction']:.1f} %)"
                )
        if s.get("bridge_error"):
            print(f"  plant problem: {s['bridge_error']}")
    residuals = s.get("residuals") or {}
    if residuals:
        width = max(len(k) + len(v.get("unit", "")) + 3 for k, v in residuals.items())
        print("residuals, measured - predicted:")
        print(f"  {'signal':<{width}}  {'mean':>10} {'rms':>10} {'max |r|':>10}   rms first third"
              " -> last third")  # fmt: skip
        for label, r in residuals.items():
            name = f"{label} [{r.get('unit', '')}]".replace(" []", "")
            if not r.get("n"):
                print(f"  {name:<{width}}  no values received")
                continue
            trend = f"{r['rms_first_third']:.4g} -> {r['rms_last_third']:.4g}"
            if r.get("rising"):
                trend += f"  RISING x{r['ratio']:.1f}: maintenance hint"
            print(
                f"  {name:<{width}}  {r['mean']:>10.4g} {r['rms']:>10.4g} {r['max_abs']:>10.4g}"
                f"   {trend}"
            )
    print_analytics(s)
    if s.get("verdict"):
        print(f"verdict: {s['verdict']}")
    served = s.get("served")
    if served:
        nodes = served.get("nodes") or []
        example = f", e.g. {nodes[0]}" if nodes else ""
        print(f"twin server: {served['endpoint']}, {served['variables']} nodes{example}")
    print(f"results: {s['results']}")
    if s.get("plot"):
        print(f"plot: {s['plot']}")


def print_analytics(s: dict[str, Any]) -> None:
    """Monitors, estimates and the last forecast of a twin run's summary."""
    for name, m in (s.get("monitors") or {}).items():
        events = m.get("events") or []
        first = next((e for e in events if e["event"] == "raised"), None)
        line = f"monitor {name}: {m['level'].upper()} now (value {_g(m['value'])})"
        if first:
            line += f"; first {first['level']} at t = {first['time']:.4g} s"
        line += f"; {len(events)} level change(s)"
        print(line)
    for label, e in (s.get("estimates") or {}).items():
        line = f"estimate {label} = {e['mean']:.4g} +- {e['std']:.2g} (1 sigma)"
        if "rate_mean" in e:
            line += f", rate {e['rate_mean']:.3g} +- {e['rate_std']:.2g} /s"
        print(line + f", {e['updates']} update(s)")
    f = s.get("forecast")
    if f:
        for t in f["targets"]:
            where = f"forecast at t = {f['made_at']:.4g} s, {f['horizon']:g} s ahead"
            if t["median"] is not None and math.isfinite(t["median"]):
                high = t["high"]
                hi = f"{high:.4g}" if high is not None and math.isfinite(high) else "beyond"
                print(f"{where}: {t['question']} at t = {t['median']:.4g} s "
                      f"(90 % interval {t['low']:.4g} .. {hi} s), remaining useful life "
                      f"{t['rul_median']:.4g} s")  # fmt: skip
            else:
                print(f"{where}: {t['question']} not within the horizon "
                      f"({100 * t['crossed']:.0f} % of members cross)")  # fmt: skip
        print(f"  forecast speed: {_g(f['realtime_factor'], '.3g')} x real time")


# imported before a live run arms its Ctrl-C handler (see preload_live_modules)
_LIVE_MODULES = (
    "h5py", "fmpy.fmi2", "fmpy.fmi3", "asyncua", "asyncua.common.utils", "wait_for2",
    "cosim.engine.execution", "cosim.fmu.fmi2", "cosim.fmu.fmi3", "cosim.engine.plan",
    "cosim.results.writer", "cosim.opcua", "cosim.twin.runner",
)  # fmt: skip


def preload_live_modules() -> None:
    """Import what a live run imports lazily, before Ctrl-C can interrupt it.

    A KeyboardInterrupt that passes through exec() of source text (dataclasses and attrs build
    their methods that way while a module is imported) is remembered by CPython as unhandled:
    under `python -m cosim` the process then ends by SIGINT (status -2) although cosim handled
    the Ctrl-C and returned 130. With every import done up front, a Ctrl-C during start-up
    lands outside imports.
    """
    import contextlib
    import importlib

    for name in _LIVE_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def quiet_asyncua() -> None:
    """asyncua logs every connection loss with a traceback; cosim reports each in one line."""
    import logging

    if not os.environ.get("COSIM_DEBUG_OPCUA"):
        logging.getLogger("asyncua").setLevel(logging.CRITICAL)


def run_live(
    spec: Any,
    results: Path,
    *,
    realtime: float | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    quiet: bool = False,
    as_json: bool = False,
    endpoint: str | None = None,
    serve_endpoint: str | None = None,
    plot: bool = False,
    warnings: Any = (),
    plant: Any = None,
) -> int:
    """Run `spec` through TwinRun (live OPC UA and/or real-time pacing) into the file
    `results`; print; return the exit code.

    With `plot`, plot.png of the recorded signals is saved next to results.h5 (also after a
    failure or Ctrl-C) and its path goes into the summary; `warnings` (Problems found while
    loading the system) go into the JSON summary.
    """
    preload_live_modules()
    from cosim.twin.runner import TwinRun

    quiet_asyncua()
    twin = TwinRun(
        spec, results, realtime=realtime, endpoint=endpoint, serve_endpoint=serve_endpoint,
        attrs={"overrides": json.dumps(list(overrides))}, plant=plant,
    )  # fmt: skip
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping or twin._sim is None:  # still connecting, or a second Ctrl-C: stop now
            raise KeyboardInterrupt
        stopping = True
        twin.request_stop(f"interrupted by {signal.Signals(signum).name}")

    def on_ready(info: dict[str, Any]) -> None:
        if quiet or as_json:
            return
        parts = []
        if info.get("plant"):
            parts.append(f"plant {info['plant']}")
        if info.get("served"):
            parts.append(f"serving at {info['served']['endpoint']}")
        if twin.realtime:
            parts.append(f"real-time factor {twin.realtime:g}")
        stop = twin.system.stop_tick / 1e9
        print(f"{spec.name}: running to t = {stop:g} s ({', '.join(parts)}); Ctrl-C stops",
              flush=True)  # fmt: skip

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = twin.run(on_ready=on_ready)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    error = result.error
    if error is not None and not isinstance(error, CosimError | KeyboardInterrupt):
        raise error  # a bug: traceback
    summary = result.summary()
    summary["warnings"] = [problem_dict(p) for p in warnings]
    if plot:
        saved = save_plot(results, spec.name, quiet=True)
        summary["plot"] = str(saved) if saved else None
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    elif not quiet:
        print_twin_summary(summary)
    if error is not None and not isinstance(error, KeyboardInterrupt):
        print(f"cosim: error: {error}", file=sys.stderr)
        print(f"cosim: results up to here are in {results}", file=sys.stderr)
        return EXIT_FAILURE
    if result.status == "interrupted":
        print(f"cosim: interrupted; results so far are in {results}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
