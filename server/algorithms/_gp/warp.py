"""Output warping: the objective values the GP is fitted on.

    y_raw (n,) observed values, lower is better, any finite scale (1e-300 to 1e308)
    y     (n,) warped values: bad half log-compressed, then standardised

NOTE: a few terrible trials (a diverged training run, Rosenbrock's walls) would
otherwise dominate the standardisation and flatten the model where the good
trials are; compressing values above the median is a monotone fix in the spirit
of Vizier's output warping. Order is preserved, so the best trial stays the best.
"""

from __future__ import annotations

import numpy as np

# Spreads below this, relative to the unit extent values are scaled to, are rounding noise.
NEGLIGIBLE = 1e-12


def median(values: np.ndarray) -> float:
    """The median of finite `values` (n >= 1), finite however large they are.

    np.median averages the two middle values as (a + b) / 2, which overflows to inf
    for a = b = 1e308; halving each first cannot.
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    lower, upper = float(ordered[(len(ordered) - 1) // 2]), float(ordered[len(ordered) // 2])
    return min(max(lower / 2.0 + upper / 2.0, lower), upper)


def _scaled(y: np.ndarray) -> np.ndarray:
    """y divided by its largest magnitude, so within [-1, 1] (unchanged if all zero)."""
    extent = float(np.max(np.abs(y)))
    return y / extent if extent > 0.0 else y


def warp(y_raw: np.ndarray) -> np.ndarray:
    """Warped, standardised copy of `y_raw` (n,), finite for any finite input."""
    y = np.array(y_raw, dtype=float)
    if not len(y):
        return y
    # Scale before subtracting anything: 1e308 - (-1e308) overflows, 1 - (-1) does not.
    y = _scaled(y)
    y = _scaled(y - median(y))
    if len(y) >= 3:
        middle = median(y)
        spread = middle - float(y.min())
        if spread <= NEGLIGIBLE:
            # The good half is (nearly) one value: dividing by its spread would blow the bad
            # half up (a bad 1 over a spread of 1e-300 is 1e300), so use the overall spread.
            spread = float(np.std(y))
        if spread > NEGLIGIBLE:
            bad = y > middle
            y[bad] = middle + spread * np.log1p((y[bad] - middle) / spread)
    centre = float(np.mean(y))
    scale = float(np.std(y))
    if not np.isfinite(scale) or scale <= NEGLIGIBLE * max(1.0, abs(centre)):
        scale = 1.0  # constant values (or one trial): nothing to scale
    return (y - centre) / scale
