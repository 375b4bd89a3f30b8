"""Acquisition functions on a fitted posterior; every one is maximised.

Notation (shapes in brackets):
    Z     (m, d)  candidate points in the unit cube
    mu    (m,)    posterior mean, sd (m,) posterior standard deviation
    best  ()      best (lowest) warped value observed so far
    z     (m,)    (best - mu) / sd, the standardised improvement
    h(z)  = phi(z) + z Phi(z), so that EI = sd * h(z)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy  # scipy.special loads on first use, not at every server start

from asktell.server.algorithms._gp.model import Posterior

ACQUISITIONS = ("log_ei", "ei", "ucb")
DEFAULT_UCB_BETA = 4.0  # two posterior standard deviations of optimism

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x < 0, accurate at both ends."""
    with np.errstate(divide="ignore", invalid="ignore"):  # np.where evaluates both branches
        out = np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))
    return np.asarray(out)


def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)) (m,), finite even where EI underflows to 0.

    NOTE: the three branches follow Ament et al. 2023, "Unexpected Improvements to
    Expected Improvement for Bayesian Optimization" (arXiv:2310.20708), eq. 9.
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu**2 - _LOG_SQRT_2PI) + zu * scipy.special.ndtr(zu))
    middle = (~upper) & (z > -_INV_SQRT_EPS)
    zm = z[middle]
    tail = np.log(scipy.special.erfcx(-zm / math.sqrt(2.0)) * np.abs(zm)) + _LOG_SQRT_PI_2
    out[middle] = -0.5 * zm**2 - _LOG_SQRT_2PI + _log1mexp(tail)
    far = ~(upper | middle)
    zf = z[far]
    out[far] = -0.5 * zf**2 - _LOG_SQRT_2PI - 2.0 * np.log(np.abs(zf))
    return out


def make(
    kind: str, posterior: Posterior, best: float, *, ucb_beta: float = DEFAULT_UCB_BETA
) -> Callable[[np.ndarray], np.ndarray]:
    """The acquisition `kind` ("log_ei", "ei" or "ucb") as a function Z (m, d) -> (m,)."""
    if kind not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {kind!r}")

    def acquire(Z: np.ndarray) -> np.ndarray:
        mu, var = posterior.predict(Z)
        sd = np.sqrt(var)
        if kind == "ucb":
            return np.asarray(math.sqrt(ucb_beta) * sd - mu)  # optimistic bound, negated
        z = (best - mu) / sd
        if kind == "ei":
            return np.asarray(
                sd * (np.exp(-0.5 * z**2 - _LOG_SQRT_2PI) + z * scipy.special.ndtr(z))
            )
        return np.asarray(log_h(z) + np.log(sd))

    return acquire
