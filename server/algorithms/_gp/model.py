"""GP regression: posterior given hyperparameters, and MAP fitting of the hyperparameters.

Notation (shapes in brackets):
    X  (n, d)   training inputs in the unit cube
    y  (n,)     training outputs, already standardised (mean 0, unit spread)
    Z  (m, d)   query points
    theta (d+2,) log hyperparameters: [log ls_1 .. log ls_d, log s2, log noise]
    K  (n, n)   k(X, X) + (noise + jitter) I
    L  (n, n)   lower Cholesky factor of K
    alpha (n,)  K^-1 y

The prior mean is 0 (y is standardised; a single objective's values are shifted below it,
`warp.below_prior_mean`). Fitting maximises log p(y | theta) + log p(theta) (the priors:
`_neg_log_posterior`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy  # scipy.linalg and scipy.optimize load on first use, not at every server start

from asktell.server.algorithms._gp.kernel import (
    contract_lengthscale_grad,
    matern52,
    matern52_with_grad,
)

LOG_LS_BOUNDS = (math.log(5e-3), math.log(50.0))
LOG_S2_BOUNDS = (math.log(1e-2), math.log(1e2))
# The noise floor (of standardised values) limits how finely the posterior mean can place
# a noiseless optimum: at 1e-6 it smooths over differences below about 1e-3 of the values'
# spread, and Branin stopped near regret 2e-4 at 50 trials; at 1e-10 the mean's minimum
# sits on the true one (docs/benchmarks.md, "GP, third round").
LOG_NOISE_BOUNDS = (math.log(1e-10), math.log(1.0))
LOG_S2_PRIOR = (0.0, 1.5)
# Gamma(shape, rate) prior on the noise variance (of standardised values): its density
# barely grows towards zero noise (shape - 1 = 0.1 per nat), so a noiseless objective
# fits a noise near the lower bound and the model can exploit, while rate 30 still lets
# a noisy one fit its noise. A log-normal prior centred on 1e-3 held a noise floor that
# stopped convergence at 50 trials (docs/benchmarks.md, GP ablations).
NOISE_GAMMA = (1.1, 30.0)
# Lengthscale prior: log p(ls) = -LS_PRIOR_RATE (ls^2 + 1 / ls^2), peaked at 1 (the
# cube's width) and steep on both sides: unlike a log-normal it keeps a relevant
# dimension from fitting an "irrelevant" lengthscale of 10 after a few flat trials,
# which froze Hartmann6 in a local optimum.
LS_PRIOR_RATE = 0.1
# In a conditional space an inactive parameter's column sits outside the cube (at -1),
# so distances between branches reach 2: a flatter lengthscale prior lets the model
# keep branches apart (measured on tests/unit/algorithms/test_conditional.py's tree).
LS_PRIOR_RATE_CONDITIONAL = 0.03
# Above this many cube dimensions the rate falls as (STEEP_PRIOR_DIMS / d)^2: with 50
# trials in 10 dimensions the steep prior held Ackley-10's lengthscales near 1, and a
# flatter one let the model see the bowl (regret @50 15.4 -> 14.0 over 60 seeds; the
# rate was chosen on 2- to 6-dimensional problems, where it is unchanged).
STEEP_PRIOR_DIMS = 6


def ls_prior_rate(n_dims: int, conditional: bool) -> float:
    """The lengthscale prior's rate for a cube of `n_dims` columns."""
    if conditional:
        return LS_PRIOR_RATE_CONDITIONAL
    return LS_PRIOR_RATE * min(1.0, STEEP_PRIOR_DIMS / max(n_dims, 1)) ** 2


# L-BFGS-B stops once an iteration gains less than this fraction of the value: scipy's
# default for the fits from the default starts, a coarser one for a warm fit (`fit_warm`).
LBFGSB_FTOL = 2.220446049250313e-09
WARM_FTOL = 1e-7


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """Kernel lengthscales ls (d,), signal variance s2 and observation noise variance."""

    ls: np.ndarray
    s2: float
    noise: float

    @classmethod
    def from_theta(cls, theta: np.ndarray) -> Hyperparameters:
        return cls(np.exp(theta[:-2]), float(np.exp(theta[-2])), float(np.exp(theta[-1])))

    def theta(self) -> np.ndarray:
        """The log hyperparameters (d+2,), as `from_theta` takes them."""
        return np.asarray(np.log(np.concatenate([self.ls, [self.s2, self.noise]])))


def smooth_log_lengthscale(d: int) -> float:
    """The log lengthscale the smooth fit starts from in a d-dimensional cube.

    NOTE: it grows with sqrt(d) so that high-dimensional models start smooth, as in
    Hvarfner et al. 2024, "Vanilla Bayesian Optimization Performs Great in High
    Dimensions" (arXiv:2402.02229), from a base (0.3 sqrt(d)) shorter than theirs.
    """
    return math.log(0.3) + 0.5 * math.log(max(d, 1))


def cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of K, adding diagonal jitter until it succeeds."""
    scale = float(np.mean(np.diag(K))) or 1.0
    jitter = 0.0
    for _ in range(8):
        try:
            return np.linalg.cholesky(K + jitter * np.eye(len(K)))
        except np.linalg.LinAlgError:
            jitter = 1e-9 * scale if jitter == 0.0 else jitter * 10.0
    # Last resort: a heavily regularised factor is still a usable (very smooth) model.
    return np.linalg.cholesky(K + 1e-2 * scale * np.eye(len(K)))


@dataclass(frozen=True, slots=True)
class Posterior:
    """A GP conditioned on (X, y) with fixed hyperparameters."""

    X: np.ndarray
    hyper: Hyperparameters
    L: np.ndarray
    alpha: np.ndarray

    @classmethod
    def condition(cls, X: np.ndarray, y: np.ndarray, hyper: Hyperparameters) -> Posterior:
        K = matern52(X, X, hyper.ls, hyper.s2) + hyper.noise * np.eye(len(X))
        L = cholesky(K)
        # A factor LAPACK returned is finite, so are y and the kernel of points in the cube:
        # scipy's finiteness checks (a pass over each matrix) were 15 % of an Ask at 1,000 trials.
        alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
        return cls(X, hyper, L, alpha)

    def mean_at_inputs(self) -> np.ndarray:
        """Posterior mean (n,) at the training inputs X, without a kernel matrix: K alpha is y,
        so k(X, X) alpha is y - noise alpha (exact up to the jitter `cholesky` may add)."""
        y = self.L @ (self.L.T @ self.alpha)
        return np.asarray(y - self.hyper.noise * self.alpha)

    def mean(self, Z: np.ndarray) -> np.ndarray:
        """Posterior mean (m,) at Z (m, d), as `predict` gives it."""
        return np.asarray(matern52(Z, self.X, self.hyper.ls, self.hyper.s2) @ self.alpha)

    def predict(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean (m,) and variance (m,) of the latent function at Z (m, d)."""
        Ks = matern52(Z, self.X, self.hyper.ls, self.hyper.s2)  # (m, n)
        mean = Ks @ self.alpha
        V = scipy.linalg.solve_triangular(self.L, Ks.T, lower=True, check_finite=False)  # (n, m)
        var = self.hyper.s2 - (V**2).sum(axis=0)
        return mean, np.maximum(var, 1e-12 * self.hyper.s2)


def _neg_log_posterior(
    theta: np.ndarray, X: np.ndarray, y: np.ndarray, ls_rate: float = LS_PRIOR_RATE
) -> tuple[float, np.ndarray]:
    """-(log marginal likelihood + log prior) and its gradient in theta (d+2,)."""
    n = len(X)
    hyper = Hyperparameters.from_theta(theta)
    K0, G = matern52_with_grad(X, hyper.ls, hyper.s2)
    K = K0 + (hyper.noise + 1e-9 * hyper.s2) * np.eye(n)
    try:
        L = np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)  # L-BFGS-B backs off from the unstable point
    alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
    log_ml = -0.5 * y @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * math.log(2 * math.pi)
    # d log p / d theta_i = 1/2 tr((alpha alpha^T - K^-1) dK/dtheta_i)
    K_inv, _ = scipy.linalg.lapack.dpotri(L, lower=1)  # from the factor: cheaper than a solve
    K_inv = np.tril(K_inv) + np.tril(K_inv, -1).T
    W = np.outer(alpha, alpha) - K_inv
    grad = np.empty_like(theta)
    grad[:-2] = 0.5 * contract_lengthscale_grad(X, hyper.ls, W * G)
    grad[-2] = 0.5 * float((W * K0).sum())
    grad[-1] = 0.5 * hyper.noise * float(np.trace(W))
    # Priors, in the log hyperparameters: log-normal on s2, Gamma on the noise variance,
    # -ls_rate (ls^2 + ls^-2) on each lengthscale.
    log_s2, log_noise = theta[-2], theta[-1]
    s2_mean, s2_sd = LOG_S2_PRIOR
    shape, rate = NOISE_GAMMA
    up, down = np.exp(2.0 * theta[:-2]), np.exp(-2.0 * theta[:-2])
    log_prior = (
        -0.5 * ((log_s2 - s2_mean) / s2_sd) ** 2
        + (shape - 1.0) * log_noise
        - rate * hyper.noise
        - ls_rate * float((up + down).sum())
    )
    grad[-2] -= (log_s2 - s2_mean) / s2_sd**2
    grad[-1] += (shape - 1.0) - rate * hyper.noise
    grad[:-2] -= 2.0 * ls_rate * (up - down)
    return -(log_ml + log_prior), -grad


def _bounds(d: int) -> list[tuple[float, float]]:
    return [LOG_LS_BOUNDS] * d + [LOG_S2_BOUNDS, LOG_NOISE_BOUNDS]


def _smooth_start(d: int) -> np.ndarray:
    return np.concatenate([np.full(d, smooth_log_lengthscale(d)), [0.0, math.log(1e-3)]])


def _minimize(
    theta0: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    ls_prior_rate: float,
    n_max_iter: int,
    should_stop: Callable[[], bool],
    ftol: float = LBFGSB_FTOL,
) -> scipy.optimize.OptimizeResult:
    """One L-BFGS-B run on the negative log posterior from theta0 (clipped to the bounds);
    it stops once an iteration gains less than `ftol` of the value."""
    bounds = _bounds(X.shape[1])
    theta0 = np.clip(theta0, [b[0] for b in bounds], [b[1] for b in bounds])

    def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        if should_stop():
            raise StopIteration

    return scipy.optimize.minimize(
        _neg_log_posterior,
        theta0,
        args=(X, y, ls_prior_rate),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options={"maxiter": n_max_iter, "ftol": ftol},
    )


def fit_warm(
    X: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    *,
    n_max_iter: int = 60,
    should_stop: Callable[[], bool] = lambda: False,
    ls_prior_rate: float = LS_PRIOR_RATE,
) -> Hyperparameters | None:
    """MAP hyperparameters by one L-BFGS-B run from `theta` (d+2,), the log hyperparameters of
    an earlier fit on (almost) the same trials; None when that is no use and `fit` must run:
    `theta` has another shape or is not finite, or the run ends at a worse log posterior than
    the point `fit`'s smooth start begins at (one evaluation), a sign that the earlier fit
    was a mode the data has since left.

    A study's successive Asks fit nearly the same trials, so the earlier optimum is close:
    the run takes a few iterations instead of two starts of up to `n_max_iter`. It stops
    once an iteration gains less than `WARM_FTOL` of the value (about 1e-5 nats at 100
    trials) instead of scipy's 2.2e-9, which the runs from the default starts keep.
    """
    d = X.shape[1]
    theta = np.asarray(theta, dtype=float)
    if theta.shape != (d + 2,) or not np.isfinite(theta).all():
        return None
    result = _minimize(theta, X, y, ls_prior_rate, n_max_iter, should_stop, WARM_FTOL)
    baseline, _ = _neg_log_posterior(_smooth_start(d), X, y, ls_prior_rate)
    if not np.isfinite(result.fun) or result.fun > baseline:
        return None
    return Hyperparameters.from_theta(np.asarray(result.x))


def fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_max_iter: int = 60,
    should_stop: Callable[[], bool] = lambda: False,
    second_start_noise: float | None = None,
    ls_prior_rate: float = LS_PRIOR_RATE,
) -> Hyperparameters:
    """MAP hyperparameters for (X, y) by L-BFGS-B from two starts (smooth and wiggly).

    `should_stop` is polled between iterations; the best point so far is returned. With
    `second_start_noise`, the wiggly start runs only when the smooth one ends with a noise
    variance above that fraction of the signal variance (the failure it guards against:
    everything called noise); the multi-metric models use it to fit several models in
    about the time of two. `ls_prior_rate`: the lengthscale prior's weight (see
    `_neg_log_posterior`).
    """
    d = X.shape[1]
    starts = [
        _smooth_start(d),
        # A short-lengthscale start: the smooth one can get stuck calling everything noise.
        np.concatenate([np.full(d, math.log(0.1 * math.sqrt(d))), [0.0, math.log(1e-4)]]),
    ]
    best_theta, best_value = starts[0], math.inf
    for start in starts:
        if should_stop():
            break
        result = _minimize(start, X, y, ls_prior_rate, n_max_iter, should_stop)
        if result.fun < best_value:
            best_theta, best_value = result.x, float(result.fun)
        if second_start_noise is not None:
            fitted = Hyperparameters.from_theta(np.asarray(best_theta))
            if fitted.noise <= second_start_noise * fitted.s2:
                break
    return Hyperparameters.from_theta(np.asarray(best_theta))
