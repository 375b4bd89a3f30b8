"""Multi-objective and constrained acquisition: log expected hypervolume improvement (EHVI)
times the probability of feasibility, on one independent GP per metric.

Notation (shapes in brackets), every objective lower is better:
    P      (k, m)  the current Pareto front (feasible, non-dominated observed values)
    ref    (m,)    the hypervolume reference point, worse than every front point
    lower, upper (B, m)  boxes whose union is the non-dominated region
                   {z <= ref : no p in P with p <= z}; lower may be -inf
    mu, sd (c, m)  posterior mean and standard deviation of each objective at c points

Because the objectives' posteriors are independent and the hypervolume a point y adds is
the volume of {z in the non-dominated region : y <= z}, its expectation is exact:

    EHVI = sum_boxes prod_j integral_{l_j}^{u_j} Phi((z - mu_j) / sd_j) dz
         = sum_boxes prod_j sd_j (psi((u_j - mu_j) / sd_j) - psi((l_j - mu_j) / sd_j))

with psi(t) = phi(t) + t Phi(t) (the `h` of expected improvement, psi' = Phi). With one
objective the only box is (-inf, best) and this is expected improvement itself. It is
computed in log space (log-sum-exp over boxes) so that it stays finite and informative
where the improvement underflows, as log EI does.

With three or more objectives the GP uses log EI of a random hypervolume scalarisation
instead (`log_ei_scalarized`, Golovin and Zhang 2020): a fresh direction per suggestion
aims it at one part of the front, where EHVI kept rewarding the cube's corners.
"""

from __future__ import annotations

import math

import numpy as np
import scipy  # scipy.special loads on first use, not at every server start

from asktell.server.algorithms._gp.acquisition import _log1mexp, log_h

MAX_BOXES = 4096  # a larger decomposition (4+ objectives, big fronts) uses a thinned front
# Log EHVI's reference point lies this many times the front's range beyond its nadir
# (`ehvi_reference_point`).
EHVI_REF_MARGIN = 1.0


def _nondominated(P: np.ndarray) -> np.ndarray:
    """The rows of P (k, m) that no other row weakly dominates (duplicates kept once)."""
    if len(P) <= 1:
        return P
    P = np.unique(P, axis=0)
    le = np.asarray((P[:, None, :] <= P[None, :, :]).all(axis=2))
    np.fill_diagonal(le, False)
    return P[~le.any(axis=0)]


def boxes(P: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lower, upper (B, m): disjoint boxes covering the region below `ref` that no point of
    P weakly dominates, by slicing along the last objective (O(k^(m-1)) boxes)."""
    m = len(ref)
    P = _nondominated(P[(ref > P).all(axis=1)]) if len(P) else P.reshape(0, m)
    if m == 1:
        top = min(float(P.min()), float(ref[0])) if len(P) else float(ref[0])
        return np.array([[-np.inf]]), np.array([[top]])
    lows, highs = [], []
    cuts = np.unique(P[:, -1]) if len(P) else np.zeros(0)
    edges = np.concatenate([[-np.inf], cuts, [ref[-1]]])
    for i in range(len(edges) - 1):
        a, b = edges[i], edges[i + 1]
        if not a < b:
            continue
        active = P[P[:, -1] <= a][:, :-1] if i > 0 else np.zeros((0, m - 1))
        lo, hi = boxes(active, ref[:-1])
        lows.append(np.column_stack([lo, np.full(len(lo), a)]))
        highs.append(np.column_stack([hi, np.full(len(hi), b)]))
    lower, upper = np.vstack(lows), np.vstack(highs)
    keep = (upper > lower).all(axis=1)
    return lower[keep], upper[keep]


def thin(P: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """At most n_max rows of P, drawn without replacement (the front for a bounded box count)."""
    if len(P) <= n_max:
        return P
    return P[np.sort(rng.choice(len(P), size=n_max, replace=False))]


def decomposition(
    P: np.ndarray, ref: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`boxes(P, ref)`, from a thinned front when the full one would exceed MAX_BOXES."""
    P = _nondominated(P[(ref > P).all(axis=1)]) if len(P) else P
    m = len(ref)
    if m >= 3:
        n_max = max(2, int(MAX_BOXES ** (1.0 / (m - 1))))
        P = thin(P, n_max, rng)
    return boxes(P, ref)


def log_ehvi(mu: np.ndarray, sd: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """log EHVI (c,) of points with independent Gaussian objectives mu, sd (c, m)."""
    mu3, sd3 = mu[:, None, :], sd[:, None, :]  # (c, 1, m) against boxes (1, B, m)
    log_upper = log_h((upper[None, :, :] - mu3) / sd3)
    finite = np.isfinite(lower)[None, :, :] & np.ones_like(log_upper, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_lower = log_h(np.where(finite, (lower[None, :, :] - mu3) / sd3, 0.0))
        gap = np.where(finite, _log1mexp(np.minimum(log_lower - log_upper, -1e-300)), 0.0)
    terms = (log_upper + gap + np.log(sd3)).sum(axis=2)  # (c, B)
    return np.asarray(scipy.special.logsumexp(terms, axis=1))


def log_feasibility(mu: np.ndarray, sd: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """log P(every constraint model's value <= its threshold) (c,), for mu, sd (c, q)."""
    if mu.shape[1] == 0:
        return np.zeros(len(mu))
    return np.asarray(scipy.special.log_ndtr((thresholds[None, :] - mu) / sd).sum(axis=1))


def reference_point(Y: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """ref (m,): `margin` times each objective's observed range beyond its worst value in
    Y (n, m) (one unit where the range is empty)."""
    worst, best = Y.max(axis=0), Y.min(axis=0)
    extent = worst - best
    return np.asarray(worst + np.where(extent > 0, margin * extent, 1.0))


def ehvi_reference_point(front: np.ndarray) -> np.ndarray:
    """ref (m,) for log EHVI: EHVI_REF_MARGIN times the front's (k, m) range beyond its nadir.

    From the front, not from every observed value: beyond the worst observed values (a
    tenth of their range), a point that only extrapolates one objective past the front's
    ideal was worth the whole observed range of the other, however bad it was there, and
    the model's uncertainty about a bounded objective there kept paying (ZDT1: 23 of 43
    model-based trials at f1 = 0 with f2 = 4.6, four times the front's worst). Far enough
    that the front can widen: at a tenth of its range it stayed narrow (ZDT1 hypervolume
    at 50 trials 114.0, against 120.64 at one range; docs/benchmarks.md).
    """
    return reference_point(front, EHVI_REF_MARGIN)


def hypervolume(P: np.ndarray, ref: np.ndarray) -> float:
    """The volume (minimisation) that P (k, m) dominates below `ref`, from the box
    decomposition of a box bounded below by P's ideal point (for checks and tests)."""
    P = P[(ref > P).all(axis=1)]
    if not len(P):
        return 0.0
    ideal = P.min(axis=0)
    lower, upper = boxes(P, ref)
    lower = np.maximum(lower, ideal)
    free = float(np.prod(np.maximum(upper - lower, 0.0), axis=1).sum())
    return float(math.prod(ref - ideal)) - free


# ------------------------------------------------------- random hypervolume scalarisations
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)
_GL_NODES, _GL_WEIGHTS = (_GL_NODES + 1.0) / 2.0, _GL_WEIGHTS / 2.0  # on [0, 1]


def random_weights(m: int, rng: np.random.Generator) -> np.ndarray:
    """A direction (m,) drawn uniformly from the positive part of the unit sphere."""
    w = np.abs(rng.standard_normal(m))
    w = np.maximum(w, 1e-6)
    return np.asarray(w / np.linalg.norm(w))


def scalarize(Y: np.ndarray, ref: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """s (n,) = min_j (ref_j - Y_j) / w_j for Y (n, m), higher is better: how far one can go
    from `ref` towards the ideal along -w and still be dominated by y."""
    return np.asarray(((ref[None, :] - Y) / weights[None, :]).min(axis=1))


def log_ei_scalarized(
    mu: np.ndarray, sd: np.ndarray, ref: np.ndarray, weights: np.ndarray, best: float
) -> np.ndarray:
    """log E[max(0, s(y) - best)] (c,) for independent Gaussian objectives mu, sd (c, m).

    s(y) = min_j A_j with A_j = (ref_j - y_j) / w_j independent Gaussians (mean a_j, sd
    b_j), so P(s > t) = prod_j Phi((a_j - t) / b_j) and the expectation is the integral of
    that product over t > best: log-concave and decreasing, integrated by 48-point
    Gauss-Legendre in log space over [best, best + R], R covering its support."""
    a = (ref[None, :] - mu) / weights[None, :]
    b = sd / weights[None, :]
    z = (a - best) / b
    with np.errstate(over="ignore", divide="ignore"):
        # -d/dt log P(s > t) at best: the integrand's decay rate there.
        rate = (np.exp(_log_phi(z) - scipy.special.log_ndtr(z)) / b).sum(axis=1)
        upper = (a + 6.0 * b).min(axis=1)
        R = np.minimum(20.0 / rate, np.maximum(upper - best, 0.0) + 2.0 * b.min(axis=1))
    t = best + R[:, None] * _GL_NODES[None, :]  # (c, K)
    log_p = scipy.special.log_ndtr((a[:, None, :] - t[:, :, None]) / b[:, None, :]).sum(axis=2)
    return np.asarray(
        np.log(R) + scipy.special.logsumexp(log_p + np.log(_GL_WEIGHTS)[None, :], axis=1)
    )


def _log_phi(z: np.ndarray) -> np.ndarray:
    return np.asarray(-0.5 * z**2 - 0.5 * math.log(2.0 * math.pi))
