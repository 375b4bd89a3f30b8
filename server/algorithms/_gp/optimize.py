"""Maximising an acquisition over a mixed cube: many candidates, then local refinement.

Notation (shapes in brackets):
    acq        Z (m, d) -> (m,), higher is better
    candidates (m, d) valid encoded points (one-hot blocks exact, integers snapped)
    continuous (d,) bool, columns L-BFGS-B may move (floats and relaxed integers)
    blocks     slices of the one-hot columns of each categorical parameter
    snap       X (k, d) -> (k, d), decode then re-encode: the nearest valid encoded points
    active     x (d,) -> (d,) bool, the columns of the parameters active at x (conditional
               spaces; None when every parameter is always active)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy  # scipy.optimize loads on first use, not at every server start

Acquisition = Callable[[np.ndarray], np.ndarray]

_FD_STEP = 1e-6


def _refine(
    acq: Acquisition, x0: np.ndarray, continuous: np.ndarray, n_max_iter: int
) -> np.ndarray:
    """x0 (d,) moved uphill along its continuous columns by L-BFGS-B, inside [0, 1]."""
    free = np.flatnonzero(continuous)

    def negative_with_grad(u: np.ndarray) -> tuple[float, np.ndarray]:
        # One batched call gives the value and a forward-difference gradient: (k+1, d) rows.
        batch = np.repeat(x0[None, :], len(free) + 1, axis=0)
        batch[:, free] = u
        batch[np.arange(1, len(free) + 1), free] += _FD_STEP
        values = acq(batch)
        return -float(values[0]), -(values[1:] - values[0]) / _FD_STEP

    result = scipy.optimize.minimize(
        negative_with_grad,
        x0[free],
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * len(free),
        options={"maxiter": n_max_iter},
    )
    x = x0.copy()
    x[free] = result.x
    return x


def _categorical_neighbours(x: np.ndarray, blocks: list[slice]) -> np.ndarray:
    """Every point (k, d) that differs from x (d,) in the value of one categorical parameter."""
    rows = []
    for block in blocks:
        for j in range(block.start, block.stop):
            if x[j] < 0.5:
                y = x.copy()
                y[block] = 0.0
                y[j] = 1.0
                rows.append(y)
    return np.array(rows).reshape(-1, len(x))


def maximize(
    acq: Acquisition,
    candidates: np.ndarray,
    *,
    continuous: np.ndarray,
    blocks: list[slice],
    snap: Callable[[np.ndarray], np.ndarray],
    n_local: int = 5,
    n_max_iter: int = 30,
    should_stop: Callable[[], bool] = lambda: False,
    active: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Points (k, d) ranked by acquisition (k,), best first, and whether refinement finished.

    The candidates are scored first; the best `n_local` are refined (continuous columns
    by L-BFGS-B, then snapped; categorical values by trying each neighbour once). All
    scored points come back, so the caller can skip ones it must not repeat.
    `should_stop` is polled between refinements; what was scored so far is returned.

    In a conditional space (`active` given) L-BFGS-B moves only the continuous columns
    active at the point, and every categorical neighbour is snapped, so that a changed
    parent drops its inactive children to their fixed encoding and gives newly active
    ones a value: every scored point is a fixed point of `snap`.
    """
    scores = acq(candidates)
    points, values = [candidates], [scores]
    finished = True
    for index in np.argsort(-scores)[:n_local]:
        if should_stop():
            finished = False
            break
        x = candidates[index]
        free = continuous if active is None else continuous & active(x)
        if free.any():
            x = snap(_refine(acq, x, free, n_max_iter)[None, :])[0]
        local = np.vstack([x[None, :], _categorical_neighbours(x, blocks)])
        if active is not None:
            local = snap(local)
        local_scores = acq(local)
        best = local[int(np.argmax(local_scores))]
        # One more pass from the best neighbour lets two categorical changes combine.
        if blocks and not np.array_equal(best, x):
            more = _categorical_neighbours(best, blocks)
            if active is not None:
                more = snap(more)
            local, local_scores = (
                np.vstack([local, more]),
                np.concatenate([local_scores, acq(more)]),
            )
        points.append(local)
        values.append(local_scores)
    X, y = np.vstack(points), np.concatenate(values)
    order = np.argsort(-y, kind="stable")
    return X[order], y[order], finished
