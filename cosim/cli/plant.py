"""`cosim plant PLANT.yaml`: run a plant simulator (a system in real time behind an OPC UA server).

Prints one line "plant <name>: serving ... at <endpoint>" once clients can connect (scripts and
`cosim demo` wait for it), then a status line every few seconds unless --quiet. Ctrl-C (or
SIGTERM) stops it cleanly at the end of the current communication step: exit 0.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from typing import Any

from cosim.errors import ConfigError, Location, Problem

STATUS_EVERY = 5.0  # seconds of wall time between status lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("system", metavar="PLANT.yaml", help="a system file with a plant: section")
    parser.add_argument(
        "--endpoint", metavar="URL", help="serve here instead of plant.endpoint, "
        "e.g. opc.tcp://127.0.0.1:4840"
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S simulated seconds "
        "(default: run until Ctrl-C)"
    )  # fmt: skip
    parser.add_argument(
        "--realtime", type=float, metavar="X", help="real-time factor (default "
        "simulation.realtime, else 1)"
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="only the ready line and errors")


def run(args: argparse.Namespace) -> int:
    from cosim.cli.live import quiet_asyncua
    from cosim.plant.simulator import Plant, PlantStatus
    from cosim.resolve.resolver import load_spec

    for name in ("duration", "realtime"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(
                Problem(Location(f"--{name}"), f"--{name} must be > 0, got {value:g}")
            )
    quiet_asyncua()
    plant = Plant(load_spec(args.system), endpoint=args.endpoint, realtime=args.realtime)
    seen_faults = 0

    def on_ready(p: Plant) -> None:
        served, commands = p.variables()
        print(
            f"plant {p.system.spec.name}: serving {len(served)} signal(s) and {len(commands)} "
            f"command(s) at {p.endpoint} (real-time factor {p.realtime:g}; Ctrl-C stops)",
            flush=True,
        )
        if not args.quiet:
            for v in served:
                print(f"  {v.node:<40} {v.description}")
            for v in commands:
                print(f"  {v.node:<40} {v.description} (writable, start {v.initial:g})")
            sys.stdout.flush()

    last = [-math.inf]

    def progress(s: PlantStatus) -> None:
        nonlocal seen_faults
        if args.quiet:
            return
        for fault in s.active_faults[seen_faults:]:
            print(f"fault: {fault}", flush=True)
        seen_faults = len(s.active_faults)
        if s.wall_time - last[0] >= STATUS_EVERY:
            last[0] = s.wall_time
            print(
                f"t = {s.sim_time:.1f} s  real-time factor {s.realtime_factor:.4f}  "
                f"overruns {s.overruns}  command updates {s.commands_received}",
                flush=True,
            )

    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        stopping = True
        plant.request_stop(f"stopped by {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = plant.run(args.duration, on_ready=on_ready, progress=progress)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if result.error is not None and not isinstance(result.error, KeyboardInterrupt):
        print(f"cosim: plant error: {result.error}", file=sys.stderr)
        return 1
    if not args.quiet:
        p = result.pacing
        lateness = (
            f"; overruns {p.overruns}, lateness p99 {1e3 * p.p99_lateness:.2f} ms, "
            f"max {1e3 * p.max_lateness:.2f} ms"
            if p is not None
            else ""
        )
        print(f"plant stopped at t = {result.sim_time:.2f} s after {result.steps} steps{lateness}")
    return 0
