"""What a run cost: steps, wall time, real-time factor, each instance's share of doStep."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunStatistics:
    """What a run cost: steps, wall time, real-time factor, each instance's share of doStep."""

    steps: int = 0
    start_time: float = 0.0
    simulated_time: float = 0.0  # seconds of simulated time advanced by the step loop
    init_wall_time: float = 0.0
    wall_time: float = 0.0  # seconds spent in the step loop
    do_step_sampled: dict[str, float] = field(default_factory=dict)  # seconds, sampled steps
    do_step_calls: dict[str, int] = field(default_factory=dict)  # all doStep calls
    do_step_sampled_calls: dict[str, int] = field(default_factory=dict)
    status: str = "created"  # created | initialized | running | completed | stopped | failed
    # FMU warnings, only instances that had any: log lines with status Warning, calls that
    # returned Warning, and the last few warning lines
    fmu_warnings: dict[str, int] = field(default_factory=dict)
    fmu_warning_returns: dict[str, int] = field(default_factory=dict)
    fmu_warning_lines: dict[str, list[str]] = field(default_factory=dict)
    # variable communication step (simulation.step_control): accepted and rejected steps,
    # smallest and largest step in seconds; empty for a fixed step
    step_control: dict[str, Any] = field(default_factory=dict)
    # per-step series written as datasets under /statistics in results.h5 (not in as_dict):
    # "step_sizes" (accepted steps, seconds), "loops/<name>/iterations", ...
    datasets: dict[str, Any] = field(default_factory=dict)
    # algebraic loops by name: path, iterations (total, max and mean per step), max residual,
    # failures
    loops: dict[str, dict[str, Any]] = field(default_factory=dict)
    # which loop ran the steps: "native" (the compiled kernel) or "python", and why python
    engine: str = "python"
    engine_reason: str = ""
    # native: steps run in chunks of many steps per kernel call, and those calls (the other
    # steps went one by one: events, shortened last steps, hooks that need every step)
    kernel_steps: int = 0
    kernel_calls: int = 0

    @property
    def real_time_factor(self) -> float | None:
        """Simulated seconds per wall-clock second (> 1: faster than real time)."""
        return self.simulated_time / self.wall_time if self.wall_time > 0 else None

    def do_step_seconds(self) -> dict[str, float]:
        """Estimated wall time in doStep per instance (sampled time scaled to all calls)."""
        out = {}
        for name, sampled in self.do_step_sampled.items():
            k = self.do_step_sampled_calls.get(name, 0)
            out[name] = sampled * self.do_step_calls.get(name, 0) / k if k else 0.0
        return out

    def do_step_share(self) -> dict[str, float]:
        seconds = self.do_step_seconds()
        total = sum(seconds.values())
        return {name: (s / total if total > 0 else 0.0) for name, s in seconds.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "steps": self.steps,
            "simulated_time": self.simulated_time,
            "wall_time": self.wall_time,
            "init_wall_time": self.init_wall_time,
            "real_time_factor": self.real_time_factor,
            "do_step_seconds": self.do_step_seconds(),
            "do_step_share": self.do_step_share(),
            "fmu_warnings": dict(self.fmu_warnings),
            "fmu_warning_returns": dict(self.fmu_warning_returns),
            "fmu_warning_lines": {k: list(v) for k, v in self.fmu_warning_lines.items()},
            **({"step_control": dict(self.step_control)} if self.step_control else {}),
            **({"loops": {k: dict(v) for k, v in self.loops.items()}} if self.loops else {}),
        }


__all__ = ["RunStatistics"]
