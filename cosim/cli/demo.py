"""`cosim demo ema|ev`: start a plant simulator, run the live twin against it, print a summary.

The plant (systems/<demo>_plant.yaml) runs as a child process (`cosim plant`) on a free
loopback port; the twin (systems/<demo>_twin.yaml) runs here for --duration seconds of real
time against it, serves its own values on a second free port and writes DIR/results.h5. The
plant is then stopped with SIGINT (as Ctrl-C would) and waited for.

This module also holds `run_live`, which `cosim run` uses for systems with an `opcua:` section
or real-time pacing, and the twin summary printer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cosim.errors import BridgeError, ConfigError, CosimError, Location, Problem

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130
DEMOS = {
    "ema": "aileron electromechanical actuator: friction wear shows in the motor current",
    "ev": "electric-car traction battery: resistance growth shows in the terminal voltage",
}
PLANT_READY_TIMEOUT = 120.0  # s; the first run may compile the bundled FMUs
PLANT_STOP_TIMEOUT = 15.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("demo", choices=sorted(DEMOS), help="; ".join(
        f"{k}: {v}" for k, v in DEMOS.items()))  # fmt: skip
    parser.add_argument(
        "--duration", type=float, default=10.0, metavar="S",
        help="seconds of live twin run (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--out", metavar="DIR", help="folder for results.h5 (default: results/demo-<demo>-<time>)"
    )
    parser.add_argument("--quiet", action="store_true", help="no summary")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


# ============================================================================ helpers
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def systems_dir() -> Path:
    """The systems/ folder of this checkout (where the demo YAML files live)."""
    here = Path(__file__).resolve().parents[2] / "systems"
    if not (here / "ema_twin.yaml").is_file():
        raise ConfigError(
            Problem(
                Location(str(here)),
                "the demo systems (systems/ema_twin.yaml, ...) are not installed next to cosim",
                "run the demo from a source checkout: pip install -e '.[test]'",
            )
        )
    return here


def _default_out(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("results") / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or not math.isfinite(seconds) else f"{1e3 * seconds:.2f} ms"


def _g(x: Any, fmt: str = ".4g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


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
    served = s.get("served")
    if served:
        nodes = served.get("nodes") or []
        example = f", e.g. {nodes[0]}" if nodes else ""
        print(f"twin server: {served['endpoint']}, {served['variables']} nodes{example}")
    print(f"results: {s['results']}")
    if s.get("plot"):
        print(f"plot: {s['plot']}")


# ============================================================================ live runs
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
    out_dir: Path,
    *,
    realtime: float | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    quiet: bool = False,
    as_json: bool = False,
    endpoint: str | None = None,
    serve_endpoint: str | None = None,
    plot: bool = False,
) -> int:
    """Run `spec` through TwinRun (live OPC UA and/or real-time pacing); print; exit code.

    With `plot`, plot.png of the recorded signals is saved next to results.h5 (also after a
    failure or Ctrl-C) and its path goes into the summary.
    """
    preload_live_modules()
    from cosim.twin.runner import TwinRun

    quiet_asyncua()
    results = out_dir / "results.h5"
    twin = TwinRun(
        spec, results, realtime=realtime, endpoint=endpoint, serve_endpoint=serve_endpoint,
        attrs={"overrides": json.dumps(list(overrides))},
    )  # fmt: skip
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping or twin._ex is None:  # still connecting, or a second Ctrl-C: stop now
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
    if plot:
        from cosim.cli.run import _save_plot

        saved = _save_plot(results, spec.name, quiet=True)
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


class _PlantProcess:
    """`cosim plant` as a child process: started, waited for, stopped with SIGINT."""

    def __init__(self, plant_yaml: Path, endpoint: str, duration: float) -> None:
        cmd = [sys.executable, "-m", "cosim", "plant", str(plant_yaml), "--endpoint", endpoint,
               "--duration", f"{duration:g}", "--quiet"]  # fmt: skip
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us; we stop the plant
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True).start()

    def _pump(self, stream: Any, out: bool) -> None:
        for line in stream:
            if out:
                self.lines.put(line.rstrip("\n"))
            else:
                self.stderr.append(line.rstrip("\n"))
                del self.stderr[:-40]

    def wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BridgeError(f"the plant simulator did not start within {timeout:g} s")
            try:
                line = self.lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None:
                    time.sleep(0.2)  # let the stderr pump catch up
                    tail = "\n  ".join(self.stderr[-10:]) or "(no output)"
                    raise BridgeError(
                        f"the plant simulator exited with code {self.proc.returncode} before it "
                        f"was ready:\n  {tail}"
                    ) from None
                continue
            if " serving " in line:
                return line

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(PLANT_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def run(args: argparse.Namespace) -> int:
    from cosim.io.yaml import load_system

    if not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigError(
            Problem(Location("--duration"), f"--duration must be > 0, got {args.duration:g}")
        )
    folder = systems_dir()
    plant_yaml = folder / f"{args.demo}_plant.yaml"
    twin_yaml = folder / f"{args.demo}_twin.yaml"
    load_system(plant_yaml)  # validates it and builds the bundled FMUs once, before two processes
    spec = load_system(twin_yaml)
    sim = spec.simulation
    spec = replace(spec, simulation=replace(sim, stop=sim.start + args.duration))
    out_dir = Path(args.out) if args.out else _default_out(f"demo-{args.demo}")
    plant_endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    serve_endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    show = not args.quiet and not args.json
    if show:
        print(f"cosim demo {args.demo}: {DEMOS[args.demo]}", flush=True)
        print(f"starting the plant simulator ({plant_yaml.name}) at {plant_endpoint} ...",
              flush=True)  # fmt: skip
    # the plant outlives the twin by a margin, and stops by itself should we vanish
    plant = _PlantProcess(plant_yaml, plant_endpoint, args.duration + 120.0)
    code: int | None = None
    try:
        preload_live_modules()  # while the plant starts
        ready = plant.wait_ready(PLANT_READY_TIMEOUT)
        if show:
            print(ready, flush=True)
        code = run_live(
            spec, out_dir, quiet=args.quiet, as_json=args.json,
            endpoint=plant_endpoint, serve_endpoint=serve_endpoint,
        )  # fmt: skip
    finally:
        plant_code = plant.stop()
        if show:
            print(f"plant simulator stopped (exit code {plant_code})", flush=True)
        if plant_code not in (0, None) and code == EXIT_OK:
            tail = "\n  ".join(plant.stderr[-10:])
            print(f"cosim: the plant simulator failed:\n  {tail}", file=sys.stderr)
            code = EXIT_FAILURE
    return code if code is not None else EXIT_FAILURE
