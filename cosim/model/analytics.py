"""The twin's analytics sections as typed values: monitors, estimate and forecast."""

from __future__ import annotations

from dataclasses import dataclass, field

from cosim.errors import Location


@dataclass(frozen=True)
class MonitorSpec:
    """One health monitor: indicator -> transform -> filter -> warning/alarm levels."""

    name: str
    kind: str  # residual | signal | measured | estimate
    label: str  # comp.var of the indicator
    transform: str = "none"  # none | abs | square
    filter: str = "none"  # none | mean | ewma | cusum
    window: float | None = None  # s: mean window / EWMA time constant
    target: float = 0.0  # CUSUM
    drift: float = 0.0  # CUSUM
    direction: str = "above"  # above | below
    warning: float | None = None
    alarm: float | None = None
    hysteresis: float = 0.0
    min_duration: float = 0.0
    message: str = ""
    loc: Location | None = field(default=None, compare=False)

    @property
    def indicator(self) -> str:
        return f"{self.kind} {self.label}"


@dataclass(frozen=True)
class RateSpec:
    """The tracked rate of change of an estimated parameter (unit/s)."""

    mean: float = 0.0
    std: float = 1.0
    process_noise: float = 0.0


@dataclass(frozen=True)
class EstimatedParameter:
    """One parameter the ensemble Kalman filter tracks."""

    label: str
    prior_mean: float
    prior_std: float
    process_noise: float = 0.0
    low: float | None = None
    high: float | None = None
    rate: RateSpec | None = None
    truth: str | None = None  # a plant node with the true value (evaluation only)
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Measurement:
    """A watched signal the filter compares, with its noise standard deviation."""

    label: str
    noise: float
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EstimateSpec:
    """The `estimate:` section."""

    parameters: tuple[EstimatedParameter, ...]
    measurements: tuple[Measurement, ...]
    method: str = "enkf"
    members: int = 20
    interval: float | None = None  # s; None = 10 communication steps
    seed: int = 0
    inflation: float = 1.0
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Profile:
    """Driven inputs over time (s from the forecast's start), linear between points."""

    time: tuple[float, ...]
    values: tuple[tuple[str, tuple[float, ...]], ...]
    repeat: bool = False


@dataclass(frozen=True)
class ForecastTarget:
    """When does `label`'s statistic cross the threshold?"""

    name: str
    label: str
    threshold: float
    direction: str  # above | below
    statistic: str = "value"  # value | mean | rms | max_abs
    window: float | None = None
    true_crossing: float | None = None
    loc: Location | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        stat = "" if self.statistic == "value" else f"{self.statistic} over {self.window:g} s of "
        return f"{stat}{self.label} {self.direction} {self.threshold:g}"


@dataclass(frozen=True)
class ForecastSpec:
    """The `forecast:` section."""

    targets: tuple[ForecastTarget, ...]
    horizon: float = 60.0
    every: float | None = None
    scenario: str = "hold"
    duty_cycles: tuple[tuple[str, Profile], ...] = ()
    loc: Location | None = field(default=None, compare=False)

    def profile(self, name: str | None = None) -> Profile | None:
        """The scenario's profile (None: hold the current inputs)."""
        wanted = self.scenario if name is None else name
        return dict(self.duty_cycles).get(wanted)


@dataclass(frozen=True)
class AnalyticsSpec:
    """Everything a twin computes on top of coupling: monitors, estimation, forecasts."""

    monitors: tuple[MonitorSpec, ...] = ()
    estimate: EstimateSpec | None = None
    forecast: ForecastSpec | None = None

    def __bool__(self) -> bool:
        return bool(self.monitors) or self.estimate is not None or self.forecast is not None


__all__ = [
    "AnalyticsSpec",
    "EstimateSpec",
    "EstimatedParameter",
    "ForecastSpec",
    "ForecastTarget",
    "Measurement",
    "MonitorSpec",
    "Profile",
    "RateSpec",
]
