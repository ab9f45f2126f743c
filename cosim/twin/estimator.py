"""Live estimation: a stochastic ensemble Kalman filter on a twin's tunable parameters."""

from __future__ import annotations

import math

import numpy as np

from cosim.model.analytics import EstimateSpec

DEFAULT_INTERVAL_STEPS = 10


class EnsembleKalmanFilter:
    """Parameters (and optionally their rates) of `members` ensemble members, updated from
    every measurement of an interval at once (perturbed observations, Evensen 2003).

    State per member: [theta_1..theta_p, rate_1..rate_r] for the parameters that have a
    `rate:`. Between updates: theta += rate * interval + N(0, q^2 interval), rate += N(0,
    q_r^2 interval), clipped to the bounds. `observe()` is called once per communication step
    with the members' predictions and the measurement; every `steps` calls it updates.
    """

    def __init__(self, spec: EstimateSpec, step: float, bounds: list[tuple[float, float]]):
        self.spec = spec
        self.n = spec.members
        self.p = len(spec.parameters)
        self.rated = [j for j, x in enumerate(spec.parameters) if x.rate is not None]
        self.q = self.p + len(self.rated)
        interval = spec.interval if spec.interval is not None else DEFAULT_INTERVAL_STEPS * step
        self.steps = max(1, round(interval / step))
        self.interval = self.steps * step
        self.m = len(spec.measurements)
        self.rng = np.random.default_rng(spec.seed)
        self.low = np.array([b[0] for b in bounds])
        self.high = np.array([b[1] for b in bounds])
        x = np.empty((self.n, self.q))
        for j, par in enumerate(spec.parameters):
            x[:, j] = par.prior_mean + par.prior_std * self.rng.standard_normal(self.n)
        for c, j in enumerate(self.rated):
            r = spec.parameters[j].rate
            assert r is not None
            x[:, self.p + c] = r.mean + r.std * self.rng.standard_normal(self.n)
        self.x = x
        self._clip()
        self.noise = np.array([m.noise for m in spec.measurements])
        self._sd_param = np.array([x.process_noise for x in spec.parameters]) * math.sqrt(
            self.interval
        )
        self._sd_rate = np.array(
            [spec.parameters[j].rate.process_noise for j in self.rated]  # type: ignore[union-attr]
        ) * math.sqrt(self.interval)
        self._pred = np.zeros((self.n, self.steps * self.m))
        self._obs = np.zeros(self.steps * self.m)
        self._k = 0
        self.updates = 0
        self.used = 0  # measurements used by the last update

    @property
    def params(self) -> np.ndarray:
        """(members, p): each member's parameter values (a view)."""
        return self.x[:, : self.p]

    def mean(self) -> np.ndarray:
        return self.x.mean(axis=0)

    def std(self) -> np.ndarray:
        return self.x.std(axis=0, ddof=1)

    def observe(self, predicted: np.ndarray, measured: np.ndarray) -> bool:
        """One step's (members, m) predictions and (m,) measurements (NaN: not usable).
        Returns True when this call updated the ensemble."""
        k = self._k
        self._pred[:, k * self.m : (k + 1) * self.m] = predicted
        self._obs[k * self.m : (k + 1) * self.m] = measured
        self._k = k + 1
        if self._k < self.steps:
            return False
        self._k = 0
        self._update()
        self._propagate()
        self.updates += 1
        return True

    def _update(self) -> None:
        ok = np.isfinite(self._obs) & np.isfinite(self._pred).all(axis=0)
        self.used = int(ok.sum())
        if not self.used:
            return
        y, pred = self._obs[ok], self._pred[:, ok]
        r = np.tile(self.noise, self.steps)[ok] ** 2
        x = self.x
        mean = x.mean(axis=0)
        infl = self.spec.inflation
        if infl != 1.0:
            x[...] = mean + infl * (x - mean)
        a = x - x.mean(axis=0)
        b = pred - pred.mean(axis=0)
        n1 = self.n - 1
        cxy = a.T @ b / n1  # (q, M)
        cyy = b.T @ b / n1
        cyy[np.diag_indices_from(cyy)] += r
        try:
            gain = np.linalg.solve(cyy, cxy.T).T  # (q, M)
        except np.linalg.LinAlgError:
            return
        perturbed = y + np.sqrt(r) * self.rng.standard_normal((self.n, len(y)))
        x += (perturbed - pred) @ gain.T
        self._clip()

    def _propagate(self) -> None:
        x, p = self.x, self.p
        for c, j in enumerate(self.rated):
            x[:, j] += x[:, p + c] * self.interval
        if self._sd_param.any():
            x[:, :p] += self._sd_param * self.rng.standard_normal((self.n, p))
        if len(self.rated) and self._sd_rate.any():
            x[:, p:] += self._sd_rate * self.rng.standard_normal((self.n, len(self.rated)))
        self._clip()

    def _clip(self) -> None:
        np.clip(self.x[:, : self.p], self.low, self.high, out=self.x[:, : self.p])


__all__ = ["DEFAULT_INTERVAL_STEPS", "EnsembleKalmanFilter"]
