"""What the command modules print in common: progress, warnings, plots, out folders, exit codes."""

from __future__ import annotations

import math
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cosim.errors import ConfigError, Location, Problem

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
PROGRESS_AFTER = 1.0  # seconds of wall time before a progress bar appears


def default_out(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("results") / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def example_system(name: str) -> Path:
    """The file of the bundled example system `name` (`cosim examples`); ConfigError if unknown."""
    from cosim.io.locate import did_you_mean, listing
    from cosim.paths import examples

    found = examples()
    if name in found:
        return found[name]
    close = did_you_mean(name, found)
    hint = (f"did you mean {close!r}? " if close else "") + f"examples: {listing(found, 30)}"
    raise ConfigError(Problem(Location("--example"), f"unknown example system {name!r}", hint))


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or not math.isfinite(seconds) else f"{1e3 * seconds:.2f} ms"


def g(x: Any, fmt: str = ".4g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """ "1 component", "2 components"."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


def problem_dict(p: Problem) -> dict[str, Any]:
    """A Problem as JSON data (for --json)."""
    return {
        "location": str(p.loc) if p.loc else None,
        "severity": p.severity,
        "message": p.message,
        "hint": p.hint,
    }


def print_warnings(problems: Any) -> None:
    """Every warning of a system (events moved to the grid, unconnected inputs ...) on stderr."""
    for p in problems:
        print(str(p), file=sys.stderr)


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere), 10 ms resolution."""
    try:
        import os

        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Progress:
    """Observer: a rich progress bar on a terminal, shown once a run takes longer than ~1 s."""

    every_step = False  # redrawn between the compiled loop's chunks (a few ms apart)

    def __init__(self, start: float, stop: float, enabled: bool, step: float = 0.0) -> None:
        self.start, self.stop = start, stop
        self.enabled = enabled
        # times with as many decimals as the communication step has (no "1e+04 s")
        self._decimals = min(6, max(0, -math.floor(math.log10(step)))) if step > 0 else 3
        self._t0 = time.perf_counter()
        self._last = self._t0
        self._bar: Any = None
        self._task: Any = None

    def _t(self, t: float) -> str:
        return f"{t:.{self._decimals}f}"

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
                TextColumn("t = {task.fields[t]} / {task.fields[stop]} s"),
                BarColumn(),
                TextColumn("real-time factor {task.fields[rtf]:.3g}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                "run", total=self.stop - self.start, t=self._t(t), stop=self._t(self.stop), rtf=rtf
            )
        self._bar.update(self._task, completed=t - self.start, t=self._t(t), rtf=rtf)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def save_plot(results: Path, title: str, quiet: bool = False) -> Path | None:
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
