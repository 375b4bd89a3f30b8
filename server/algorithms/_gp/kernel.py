"""Matern 5/2 kernel with automatic relevance determination (one lengthscale per column).

Notation (shapes in brackets):
    X  (n, d)   points in the unit cube, one row per point
    Z  (m, d)   other points
    ls (d,)     lengthscales
    s2 ()       signal variance (kernel amplitude)
    r  (n, m)   scaled distance sqrt(sum_j (x_j - z_j)^2 / ls_j^2)

    k(r) = s2 * (1 + sqrt(5) r + 5/3 r^2) * exp(-sqrt(5) r)
"""

from __future__ import annotations

import numpy as np

SQRT5 = np.sqrt(5.0)


def scaled_sq_dist(X: np.ndarray, Z: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """r^2 (n, m): squared distances after dividing each column by its lengthscale."""
    Xs, Zs = X / ls, Z / ls
    r2 = (Xs**2).sum(1)[:, None] + (Zs**2).sum(1)[None, :] - 2.0 * Xs @ Zs.T
    return np.asarray(np.maximum(r2, 0.0))  # cancellation can make it slightly negative


def matern52(X: np.ndarray, Z: np.ndarray, ls: np.ndarray, s2: float) -> np.ndarray:
    """K (n, m) = k(X, Z)."""
    r = np.sqrt(scaled_sq_dist(X, Z, ls))
    return np.asarray(s2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r**2) * np.exp(-SQRT5 * r))


def matern52_with_grad(X: np.ndarray, ls: np.ndarray, s2: float) -> tuple[np.ndarray, np.ndarray]:
    """K (n, n) and G (n, n), where dK/dlog(ls_j) = G * (x_j - z_j)^2 / ls_j^2 elementwise.

    From dk/dr = -5/3 s2 r (1 + sqrt(5) r) exp(-sqrt(5) r) and dr/dlog(ls_j) = -(x_j - z_j)^2 /
    (ls_j^2 r): G = 5/3 s2 (1 + sqrt(5) r) exp(-sqrt(5) r).
    """
    r = np.sqrt(scaled_sq_dist(X, X, ls))
    e = np.exp(-SQRT5 * r)
    K = s2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r**2) * e
    G = (5.0 / 3.0) * s2 * (1.0 + SQRT5 * r) * e
    return K, G


def contract_lengthscale_grad(X: np.ndarray, ls: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(d,) sum_ab M_ab (x_aj - x_bj)^2 / ls_j^2 for a symmetric M (n, n), no (n, n, d) array.

    Expanding the square: sum_ab M_ab (x_aj^2 + x_bj^2 - 2 x_aj x_bj) = 2 m.x_j^2 - 2 x_j.M x_j,
    with m the row sums of M.
    """
    rows = M.sum(axis=1)  # (n,)
    quad = (X * (M @ X)).sum(axis=0)  # (d,)
    return np.asarray(2.0 * (rows @ X**2 - quad) / ls**2)
