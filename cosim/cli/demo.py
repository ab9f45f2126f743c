"""`cosim demo ema-degradation|ema|ev`: a plant simulator, the live twin against it, the story.

The plant (systems/<demo>_plant.yaml) runs as a child process (`cosim plant`) on a free
loopback port; the twin (systems/<demo>_twin.yaml) runs here for --duration simulated seconds
against it (both clocks sped up by the demo's real-time factor), serves its own values on a
second free port and writes DIR/results.h5. The plant is then stopped with SIGINT (as Ctrl-C
would) and waited for. ema-degradation (`ema` is its alias) then calibrates the wear over
successive windows of the recording and writes DIR/twin.png, the whole story in one figure.
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cosim.cli.output import EXIT_FAILURE, EXIT_OK, default_out
from cosim.errors import BridgeError, ConfigError, Location, Problem


@dataclass(frozen=True)
class Demo:
    """One demo: its files (under systems/), clock and story."""

    text: str
    twin: str
    plant: str
    realtime: float = 1.0  # both clocks: plant and twin
    duration: float | None = None  # simulated seconds; None: the twin's own stop time
    calibrate: str | None = None  # a parameter fitted over successive windows of the run
    window: float = 10.0  # s per calibration window


_DEGRADATION = Demo(
    "aileron actuator wearing out: monitor alarm, live wear estimate, end-of-life forecast, "
    "calibration",
    "ema_degradation_twin.yaml", "ema_degradation_plant.yaml", calibrate="act.wear",
    window=8.0,
)  # fmt: skip
DEMOS: dict[str, Demo] = {
    "ema-degradation": _DEGRADATION,
    "ema": _DEGRADATION,  # the alias (the README's first command)
    "ev": Demo(
        "electric-car traction battery: resistance growth shows in the terminal voltage",
        "ev_twin.yaml",
        "ev_plant.yaml",
        duration=10.0,
    ),  # fmt: skip
}
PLANT_READY_TIMEOUT = 120.0  # s; the first run may compile the bundled FMUs
PLANT_STOP_TIMEOUT = 15.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "demo",
        choices=list(DEMOS),
        help="; ".join(f"{k}: {v.text}" for k, v in DEMOS.items() if k != "ema")
        + "; ema: ema-degradation",
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="simulated seconds of the twin's run (default: ema-degradation 32, ev 10)",
    )
    parser.add_argument(
        "--realtime",
        type=float,
        metavar="X",
        help="real-time factor of both clocks (default 1; the wear itself runs at demo speed)",
    )
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
    """The bundled systems/ folder (a checkout's, or the installed wheel's data)."""
    from cosim.paths import systems_dir as bundled

    here = bundled()
    if not (here / "ema_twin.yaml").is_file():
        raise ConfigError(
            Problem(
                Location(str(here)),
                "the demo systems (systems/ema_twin.yaml, ...) are not installed with cosim",
                "reinstall cosim from its wheel or sdist, or run from a source checkout",
            )
        )
    return here


class _PlantProcess:
    """`cosim plant` as a child process: started, waited for, stopped with SIGINT."""

    def __init__(
        self, plant_yaml: Path, endpoint: str, duration: float, realtime: float = 1.0
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "cosim",
            "plant",
            str(plant_yaml),
            "--endpoint",
            endpoint,
            "--duration",
            f"{duration:g}",
            "--realtime",
            f"{realtime:g}",
            "--quiet",
        ]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # the folder cosim/ was imported from
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
    from cosim.resolve.resolver import load as resolve_file
    from cosim.resolve.resolver import load_spec

    demo = DEMOS[args.demo]
    for name in ("duration", "realtime"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(
                Problem(Location(f"--{name}"), f"--{name} must be > 0, got {value:g}")
            )
    realtime = args.realtime or demo.realtime
    folder = systems_dir()
    plant_yaml = folder / demo.plant
    twin_yaml = folder / demo.twin
    resolve_file(plant_yaml)  # checks it and builds its bundled FMUs once, before two processes
    spec = load_spec(twin_yaml)
    sim = spec.simulation
    duration = args.duration or demo.duration or (sim.stop - sim.start)
    spec = replace(spec, simulation=replace(sim, stop=sim.start + duration))
    out = Path(args.out) if args.out else default_out(f"demo-{args.demo}")
    results = results_path(out, overwrite=args.force)
    plant_endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    serve_endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    show = not args.quiet and not args.json
    if show:
        print(f"cosim demo {args.demo}: {demo.text}", flush=True)
        print(
            f"starting the plant simulator ({plant_yaml.name}) at {plant_endpoint} "
            f"({realtime:g} x real time) ...",
            flush=True,
        )
    # the plant outlives the twin by a margin, and stops by itself should we vanish
    plant = _PlantProcess(plant_yaml, plant_endpoint, duration + 120.0 * realtime, realtime)
    code: int | None = None
    try:
        preload_live_modules()  # while the plant starts
        ready = plant.wait_ready(PLANT_READY_TIMEOUT)
        if show:
            print(ready, flush=True)
        code = run_live(
            spec, results, quiet=args.quiet or args.json, as_json=False,
            endpoint=plant_endpoint, serve_endpoint=serve_endpoint, realtime=realtime,
        )  # fmt: skip
    finally:
        plant_code = plant.stop()
        if show:
            print(f"plant simulator stopped (exit code {plant_code})", flush=True)
        if plant_code not in (0, None) and code == EXIT_OK:
            tail = "\n  ".join(plant.stderr[-10:])
            print(f"cosim: the plant simulator failed:\n  {tail}", file=sys.stderr)
            code = EXIT_FAILURE
    if code != EXIT_OK:
        return code if code is not None else EXIT_FAILURE
    from cosim.twin.story import tell

    story = tell(results, twin_yaml, demo.calibrate, demo.window, show=show)
    if story["story"].get("estimates") or story["story"].get("alarms") is not None:
        from cosim.verify.twin_plot import plot_twin

        picture = results.parent / "twin.png"
        try:
            plot_twin(results, picture, title=f"cosim demo {args.demo}")
            story["plot"] = str(picture)
            if show:
                print(f"the story in one figure: {picture}")
        except ConfigError as exc:  # nothing to plot: say so, the run itself succeeded
            if show:
                print(f"no twin plot: {exc}")
    if args.json:
        import json

        print(json.dumps(story, indent=2, default=str))
    return EXIT_OK
