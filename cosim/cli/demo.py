"""`cosim demo ema|ev`: start a plant simulator, run the live twin against it, print a summary.

The plant (systems/<demo>_plant.yaml) runs as a child process (`cosim plant`) on a free
loopback port; the twin (systems/<demo>_twin.yaml) runs here for --duration seconds of real
time against it, serves its own values on a second free port and writes DIR/results.h5. The
plant is then stopped with SIGINT (as Ctrl-C would) and waited for.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from typing import Any

from cosim.cli.output import EXIT_FAILURE, EXIT_OK, default_out
from cosim.errors import BridgeError, ConfigError, Location, Problem

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
    parser.add_argument(
        "--force", action="store_true", help="replace results.h5 if --out already holds one"
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
    from cosim.api import results_path
    from cosim.cli.live import preload_live_modules, run_live
    from cosim.io.yaml import load_system
    from cosim.resolve.resolver import load as resolve_file

    if not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigError(
            Problem(Location("--duration"), f"--duration must be > 0, got {args.duration:g}")
        )
    folder = systems_dir()
    plant_yaml = folder / f"{args.demo}_plant.yaml"
    twin_yaml = folder / f"{args.demo}_twin.yaml"
    resolve_file(plant_yaml)  # checks it and builds its bundled FMUs once, before two processes
    spec = load_system(twin_yaml)
    sim = spec.simulation
    spec = replace(spec, simulation=replace(sim, stop=sim.start + args.duration))
    out = Path(args.out) if args.out else default_out(f"demo-{args.demo}")
    results = results_path(out, overwrite=args.force)
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
            spec, results, quiet=args.quiet, as_json=args.json,
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
