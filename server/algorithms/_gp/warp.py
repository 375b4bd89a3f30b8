"""Output warping: the objective values the GP is fitted on.

    y_raw (n,) observed values, lower is better, any scale
    y     (n,) warped values: bad half log-compressed, then standardised

NOTE: a few terrible trials (a diverged training run, Rosenbrock's walls) would
otherwise dominate the standardisation and flatten the model where the good
trials are; compressing values above the median is a monotone fix in the spirit
of Vizier's output warping. Order is preserved, so the best trial stays the best.
"""

from __future__ import annotations

import numpy as np


def warp(y_raw: np.ndarray) -> np.ndarray:
    """Warped, standardised copy of `y_raw` (n,), finite for any finite input."""
    y = np.asarray(y_raw, dtype=float) - float(np.median(y_raw))
    extent = float(np.max(np.abs(y))) if len(y) else 0.0
    if extent > 0.0:
        y = y / extent  # scale-free from here on, so 1e300 or 1e-300 objectives are fine
    if len(y) >= 3:
        median = float(np.median(y))
        spread = median - float(y.min())
        if spread <= 0.0:
            spread = float(np.std(y))
        if spread > 0.0:
            bad = y > median
            y[bad] = median + spread * np.log1p((y[bad] - median) / spread)
    centre = float(np.mean(y))
    scale = float(np.std(y))
    if not np.isfinite(scale) or scale <= 1e-12 * max(1.0, abs(centre)):
        scale = 1.0  # constant values (or one trial): nothing to scale
    return (y - centre) / scale
