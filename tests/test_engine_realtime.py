"""cosim.realtime: the Pacer's deadlines from one fixed start and its lateness statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosim.realtime import LatenessHistogram, Pacer


def test_histogram_quantile_is_a_tight_upper_bound():
    """Against numpy's nearest-rank quantile of the same samples: never below it, at most one
    bin (10^(1/20), 12 %) above, and capped at the largest sample."""
    rng = np.random.default_rng(7)
    samples = np.exp(rng.uniform(math.log(2e-6), math.log(0.5), 5000))
    hist = LatenessHistogram()
    for x in samples:
        hist.add(float(x))
    for q in (0.5, 0.9, 0.99, 1.0):
        exact = float(np.quantile(samples, q, method="inverted_cdf"))
        got = hist.quantile(q)
        assert exact <= got <= exact * 10 ** (1 / LatenessHistogram.BINS_PER_DECADE) + 1e-15
    assert hist.quantile(1.0) == samples.max()
    assert LatenessHistogram().quantile(0.99) == 0.0


class _Clock:
    """A fake clock: now() returns the scripted times; sleeping is not needed (deadlines past)."""

    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def test_pacer_deadlines_do_not_drift_after_a_late_step():
    """h = 10 ms at factor 2 (5 ms per step): step 1 finishes 12 ms late; the deadlines after
    it stay at t0 + k*5 ms, so step 2's lateness is measured from 10 ms (not from 17 + 5 ms);
    both steps ended after their deadlines: two overruns."""
    pacer = Pacer(0.01, factor=2.0)
    # start at 0; each wait() reads now twice (before sleeping, after): no sleep when late
    pacer.now = _Clock([0.0, 0.017, 0.017, 0.0171, 0.0171])
    pacer.start()
    assert pacer.wait() == pytest.approx(0.012)  # deadline 5 ms, woke at 17 ms
    assert pacer.wait() == pytest.approx(0.0071)  # deadline 10 ms, not 22 ms
    assert pacer.overruns == 2 and pacer.max_lateness == pytest.approx(0.012)
    assert pacer.p99_lateness >= 0.012
