"""GP-Bayesian optimisation, rebuilt from the history on every Ask.

The recipe, one step per function below:

1. initial design: quasi-random (scrambled Sobol, positioned at `history.n_suggested` so
   successive Asks continue one sequence) until `n_initial_trials` suggestions were made;
2. encode completed trials (and pruned ones, pessimistically) into the unit cube;
3. warp and standardise their values, then shift them below the GP's prior mean
   (`warp.below_prior_mean`: far from the trials the model expects a poor value);
4. fit a Matern 5/2 ARD GP by maximising the marginal likelihood (on at most
   `N_FIT_MAX` trials, so an Ask stays fast at thousands of trials);
5. condition it on the trials plus "lies" for configurations whose outcome is unknown
   (pending trials, suggestions already made in this call) or bad (failed trials);
6. maximise the acquisition (many quasi-random and local candidates, then L-BFGS-B);
7. decode the best candidate that repeats no known configuration.

Conditional spaces: every parameter keeps its columns; a parameter inactive in a
configuration sits at its fixed inactive encoding (`encoding.INACTIVE` in a numeric
column, an all-zero one-hot block), so trials of different branches stay comparable and
the parent's own columns tell the branches apart. Every candidate the acquisition sees
is a fixed point of decode -> re-encode: quasi-random candidates are sampled top-down,
local ones are snapped after their parent values change, and L-BFGS-B moves only the
columns active at its starting point.

The maths lives in `_gp/` on arrays only.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import asktell.server.algorithms._pareto as _pareto
from asktell.server.algorithms._gp import acquisition, model, multi, optimize
from asktell.server.algorithms._gp.warp import below_prior_mean, median, warp
from asktell.server.algorithms._seen import Seen
from asktell.server.algorithms.base import AlgorithmInfo, Deadline, History, Suggestion
from asktell.server.algorithms.encoding import Encoder
from asktell.server.algorithms.random import sobol_unit, unseen_sobol_point
from asktell.server.domain import CategoricalParam, FloatParam, Params, SearchSpace
from asktell.server.errors import InvalidArgument

N_FIT_MAX = 200  # trials used to fit hyperparameters
N_TRAIN_MAX = 1000  # trials the posterior is conditioned on
N_CANDIDATES = 1024  # quasi-random candidates per acquisition maximisation
N_LOCAL_PER_TOP = 16  # candidates perturbed around each of the best trials
N_TOP = 5
N_PICK = 256  # best-ranked candidates considered for the suggestion
# A suggestion stays this far (in the unit cube) from pending ones while a candidate allows.
PENDING_DISTANCE = 0.02
# Among pending trials one suggestion in EXPLOIT_EVERY is an exploitation pick (`_exploits`),
# which stays EXPLOIT_DISTANCE from them: it refines near the model's best guess, where a
# pending trial usually already sits. One in 8 did better than one in 2, 4, 6 or one per
# worker with 2 to 16 workers (docs/benchmarks.md).
EXPLOIT_EVERY = 8
EXPLOIT_DISTANCE = 0.005
UNSEEN_TRIES = 32  # random draws looking for an untried configuration in a small space
# In the cube; closer candidates are used only if nothing else is new. Small: converging
# means suggesting close to the incumbent (0.005 held Branin at 1e-3 regret).
MIN_DISTANCE = 1e-5
MAX_CUBE_DIMS = 200
# A multi-metric model refits from a second start only if the first calls this much noise.
SECOND_START_NOISE = 0.01  # one column per float/int, one per categorical value
# The state an Ask leaves for the next (`History.state`): each model's fitted log
# hyperparameters, which the next fit starts from (`_Fits`). A state of another format
# is ignored, so a change of its layout only costs one cold fit per study.
STATE_FORMAT = "gp-fits/1"
# After this many warm fits in a row a model is fitted from the default starts again, so a
# mode the early trials suggested cannot hold the model for the rest of the study.
WARM_FITS_MAX = 4
# From this many objectives the acquisition is a random hypervolume scalarisation's log EI
# instead of log EHVI (DTLZ2's hypervolume at 50 trials: 0.25 -> 0.45, docs/benchmarks.md).
SCALARIZE_FROM = 3

NOTE_DEADLINE_BEST = "deadline: best candidate so far"
NOTE_DEADLINE_RANDOM = "deadline: quasi-random"
NOTE_NO_NEW = "gp: no unseen candidate: quasi-random"


@dataclass(frozen=True, slots=True)
class GpSettings:
    """Settings of the GP algorithm (the contract's GpSettings); 0 means the default."""

    n_initial_trials: int = 0
    acquisition: str = "log_ei"
    ucb_beta: float = 0.0

    def __post_init__(self) -> None:
        n = self.n_initial_trials
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidArgument(
                f"algorithm gp: n_initial_trials must be an integer >= 0 (0 = default), got {n!r}"
            )
        if self.acquisition not in acquisition.ACQUISITIONS:
            raise InvalidArgument(
                f"algorithm gp: acquisition must be one of {', '.join(acquisition.ACQUISITIONS)}, "
                f"got {self.acquisition!r}"
            )
        beta = self.ucb_beta
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not beta >= 0:
            raise InvalidArgument(
                f"algorithm gp: ucb_beta must be >= 0 (0 = default), got {beta!r}"
            )
        if not math.isfinite(beta):
            raise InvalidArgument(f"algorithm gp: ucb_beta must be finite, got {beta!r}")


def default_n_initial(space: SearchSpace) -> int:
    """Quasi-random trials before the model: one more than the parameters, within [5, 20]."""
    return min(max(len(space.params) + 1, 5), 20)


def check_space(space: SearchSpace, settings: Any) -> None:
    dims = Encoder.from_space(space).n_dims
    if dims > MAX_CUBE_DIMS:
        raise InvalidArgument(
            f"algorithm gp: the space encodes to {dims} dimensions (each categorical value "
            f"counts as one); at most {MAX_CUBE_DIMS}: use fewer values, or genetic or random"
        )


def _observations(history: History) -> tuple[list[Params], np.ndarray]:
    """Configurations and values the model learns from.

    A pruned trial was stopped because it looked worse than its peers, so it enters
    with its last value or the completed trials' median, whichever is worse.
    """
    configs = [o.params for o in history.completed]
    values = [o.value for o in history.completed]
    finite = [v for v in values if math.isfinite(v)]
    floor = median(np.array(finite)) if finite else -math.inf
    for o in history.pruned:
        configs.append(o.params)
        values.append(max(o.value, floor))
    y = np.array(values, dtype=float)
    keep = np.isfinite(y)  # a NaN or infinite value carries no usable information
    return [c for c, k in zip(configs, keep, strict=True) if k], y[keep]


def _ls_prior_rate(encoder: Encoder) -> float:
    return model.ls_prior_rate(encoder.n_dims, encoder.space.conditional)


def _subset(y: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most n_max trials: the best half of the budget, then a random sample."""
    if len(y) <= n_max:
        return np.arange(len(y))
    order = np.argsort(y, kind="stable")
    n_best = n_max // 2
    rest = rng.choice(order[n_best:], size=n_max - n_best, replace=False)
    return np.sort(np.concatenate([order[:n_best], rest]))


def _candidates(encoder: Encoder, X_best: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Encoded candidates (m, d): quasi-random ones plus perturbations of the best trials."""
    n_params = len(encoder.space.params)
    U = sobol_unit(n_params, int(rng.integers(2**31)), 0, N_CANDIDATES)
    spread = np.clip(U, 0.0, 1.0) if _floats_only(encoder) else encoder.encode(encoder.from_unit(U))
    # Local candidates: small Gaussian steps on numeric columns, one value swap on categoricals.
    local = np.repeat(X_best, N_LOCAL_PER_TOP, axis=0)
    numeric = ~encoder.is_categorical
    if encoder.space.conditional:
        _fill_inactive(encoder, local, rng)
    scale = rng.choice([0.01, 0.05, 0.15], size=(len(local), 1))
    local[:, numeric] += scale * rng.standard_normal((len(local), int(numeric.sum())))
    local = np.clip(local, 0.0, 1.0)
    for param in encoder.space.params:
        if isinstance(param, CategoricalParam) and len(param.values) > 1:
            cols = encoder.columns[param.name]
            flip = rng.random(len(local)) < 1.0 / n_params
            picks = rng.integers(len(param.values), size=int(flip.sum()))
            block = np.zeros((int(flip.sum()), len(param.values)))
            block[np.arange(len(picks)), picks] = 1.0
            local[flip, cols] = block
    return np.vstack([spread, _snap(encoder, local)])


def _fill_inactive(encoder: Encoder, X: np.ndarray, rng: np.random.Generator) -> None:
    """Gives the inactive columns of X (k, d) random values, in place, so that a child a
    perturbed parent activates starts from a random value (snapping resets the others)."""
    inactive = ~encoder.active_columns(X)
    for param in encoder.space.params:
        cols = encoder.columns[param.name]
        rows = np.flatnonzero(inactive[:, cols.start])
        if not len(rows):
            continue
        if isinstance(param, CategoricalParam):
            block = np.zeros((len(rows), len(param.values)))
            block[np.arange(len(rows)), rng.integers(len(param.values), size=len(rows))] = 1.0
            X[rows, cols] = block
        else:
            X[rows, cols.start] = rng.random(len(rows))


def _floats_only(encoder: Encoder) -> bool:
    """Whether every parameter is an unconditional float: its cube column is its unit
    column (the fraction of its range, in its scale), and every point is valid."""
    space = encoder.space
    return not space.conditional and all(isinstance(p, FloatParam) for p in space.params)


def _snap(encoder: Encoder, X: np.ndarray) -> np.ndarray:
    """The encodings of the valid configurations nearest to X (k, d)."""
    if _floats_only(encoder):
        return np.asarray(np.clip(X, 0.0, 1.0))  # as decoding then re-encoding, without dicts
    return encoder.encode(encoder.decode(X))


def _train_set(
    encoder: Encoder,
    X_obs: np.ndarray,
    y_obs: np.ndarray,
    unknown: Sequence[Params],
    failed: Sequence[Params],
) -> tuple[np.ndarray, np.ndarray]:
    """Observations plus the mean value where the outcome is unknown, and the worst value
    where the trial failed (a "constant liar", Ginsbourger et al. 2010), so the model
    steers away. The multi-metric models' lies; the single objective's are `_Lies`."""
    X_parts, y_parts = [X_obs], [y_obs]
    if unknown:
        X_parts.append(encoder.encode(unknown))
        y_parts.append(np.full(len(unknown), float(np.mean(y_obs))))
    if failed:
        X_parts.append(encoder.encode(failed))
        y_parts.append(np.full(len(failed), float(np.max(y_obs))))
    return np.vstack(X_parts), np.concatenate(y_parts)


class _Lies:
    """The single-objective model's training set: observations, pending configurations
    (and this call's suggestions) with lies, failed ones with the worst value.

    An unknown outcome's lie is the model's own prediction there (a "kriging believer"),
    raised to the best value observed, so that a predicted improvement is not believed.
    The mean lie made 8 parallel workers explore until the end (Branin: 550x the
    sequential regret at 50 trials). The believer is the posterior on the observations
    alone, conditioned once per Ask; each configuration is encoded once, when it is added.
    """

    def __init__(
        self,
        encoder: Encoder,
        X_obs: np.ndarray,
        y_obs: np.ndarray,
        hyper: model.Hyperparameters,
        pending: Sequence[Params],
        failed: Sequence[Params],
    ) -> None:
        self.encoder = encoder
        self.X_obs, self.y_obs = X_obs, y_obs
        self.best = float(np.min(y_obs))
        self.X_failed = encoder.encode(failed) if failed else None
        self.y_failed = np.full(len(failed), float(np.max(y_obs)))
        self.hyper = hyper
        self._believer: model.Posterior | None = None  # conditioned when first needed
        self.X_unknown = np.zeros((0, X_obs.shape[1]))
        self.add(pending)

    def add(self, configs: Sequence[Params]) -> None:
        """Adds configurations whose outcome is unknown."""
        if configs:
            self.X_unknown = np.vstack([self.X_unknown, self.encoder.encode(configs)])

    def pending(self) -> np.ndarray | None:
        """The encoded unknown configurations (k, d), or None while there is none."""
        return self.X_unknown if len(self.X_unknown) else None

    def believer(self) -> model.Posterior:
        """The posterior on the observations alone (conditioned once, when first needed)."""
        if self._believer is None:
            self._believer = model.Posterior.condition(self.X_obs, self.y_obs, self.hyper)
        return self._believer

    def train_set(self) -> tuple[np.ndarray, np.ndarray]:
        X_parts, y_parts = [self.X_obs], [self.y_obs]
        if len(self.X_unknown):
            X_parts.append(self.X_unknown)
            y_parts.append(np.maximum(self.believer().mean(self.X_unknown), self.best))
        if self.X_failed is not None:
            X_parts.append(self.X_failed)
            y_parts.append(self.y_failed)
        return np.vstack(X_parts), np.concatenate(y_parts)


@dataclass(frozen=True, slots=True)
class _Fit:
    """One model's fitted log hyperparameters, and how many warm fits in a row led to them."""

    theta: np.ndarray
    n_warm: int


def _load_state(text: str | None) -> dict[str, _Fit]:
    """The previous Ask's fits by model key; empty when there is no usable state (none, not
    JSON, another format): a state is an optimisation, never a reason to fail an Ask."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        return {}
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        return {}
    fits = data.get("fits")
    found: dict[str, _Fit] = {}
    for key, entry in fits.items() if isinstance(fits, dict) else ():
        if not isinstance(entry, dict):
            continue
        theta, n_warm = entry.get("theta"), entry.get("n_warm", 0)
        if not isinstance(theta, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in theta
        ):
            continue
        if isinstance(n_warm, bool) or not isinstance(n_warm, int):
            continue
        array = np.array(theta, dtype=float)
        if len(array) and np.isfinite(array).all():
            found[str(key)] = _Fit(array, n_warm)
    return found


class _Fits:
    """The hyperparameter fits of one Ask: each model starts from its fit at the previous
    Ask (`model.fit_warm`) when there is one of the right shape, else from the default
    starts (`model.fit`), which also run every `WARM_FITS_MAX + 1`-th fit and whenever
    the warm fit ends worse than the default start begins."""

    def __init__(self, state: str | None) -> None:
        self.previous = _load_state(state)
        self.fitted: dict[str, _Fit] = {}

    def fit(
        self,
        key: str,
        X: np.ndarray,
        y: np.ndarray,
        deadline: Deadline,
        ls_prior_rate: float,
        second_start_noise: float | None = None,
    ) -> model.Hyperparameters:
        previous = self.previous.get(key)
        if previous is not None and previous.n_warm < WARM_FITS_MAX:
            hyper = model.fit_warm(
                X,
                y,
                previous.theta,
                should_stop=deadline.expired,
                ls_prior_rate=ls_prior_rate,
            )
            if hyper is not None:
                self.fitted[key] = _Fit(hyper.theta(), previous.n_warm + 1)
                return hyper
        hyper = model.fit(
            X,
            y,
            should_stop=deadline.expired,
            second_start_noise=second_start_noise,
            ls_prior_rate=ls_prior_rate,
        )
        self.fitted[key] = _Fit(hyper.theta(), 0)
        return hyper

    def state(self) -> str | None:
        """The state for the next Ask, or None (keep the study's) when nothing was fitted."""
        if not self.fitted:
            return None
        fits = {
            key: {"theta": [float(v) for v in fit.theta], "n_warm": fit.n_warm}
            for key, fit in sorted(self.fitted.items())
        }
        return json.dumps({"format": STATE_FORMAT, "fits": fits}, separators=(",", ":"))


def suggest(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    settings: GpSettings,
    deadline: Deadline,
    /,
) -> list[Suggestion]:
    """`n` configurations that maximise the acquisition, each accounting for the previous ones;
    the last one carries the fitted hyperparameters for the next Ask (`Suggestion.state`)."""
    fits = _Fits(history.state)
    out = _suggest(space, history, n, rng, settings, deadline, fits)
    state = fits.state()
    if out and state is not None:
        out[-1] = dataclasses.replace(out[-1], state=state)
    return out


def _suggest(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    settings: GpSettings,
    deadline: Deadline,
    fits: _Fits,
) -> list[Suggestion]:
    encoder = Encoder.from_space(space)
    seen = Seen.of_history(space, history)
    out: list[Suggestion] = []

    def add(config: Params, note: str = "") -> None:
        seen.add(config)
        out.append(Suggestion(dict(config), note))

    def quasi_random() -> Params:
        # The next point of the study's Sobol sequence (a random unseen one if taken).
        position = history.n_suggested + len(out)
        return unseen_sobol_point(encoder, history.seed, position, seen, rng, UNSEEN_TRIES)

    def fill_quasi_random(note: str) -> list[Suggestion]:
        while len(out) < n:
            add(quasi_random(), note)
        return out

    configs, values = _observations(history)
    n_initial = settings.n_initial_trials or default_n_initial(space)
    # Trials added from elsewhere (a warm start) count towards the initial design: a study
    # that starts with enough results goes to the model at once.
    in_initial_design = len(history.completed) < n_initial
    while len(out) < n and (
        (in_initial_design and history.n_suggested + len(out) < n_initial) or not configs
    ):
        add(quasi_random())
    if len(out) == n:
        return out
    if deadline.expired():
        return fill_quasi_random(NOTE_DEADLINE_RANDOM)
    if history.n_objectives > 1 or history.n_constraints > 0:
        _suggest_multi(space, history, n, rng, deadline, encoder, seen, out, quasi_random, fits)
        return out

    # Model: warp on every observation, fit on a subset, condition on at most N_TRAIN_MAX.
    y_all = below_prior_mean(warp(values))
    train = _subset(y_all, N_TRAIN_MAX, rng)
    X_obs, y_obs = encoder.encode([configs[i] for i in train]), y_all[train]
    fit_rows = _subset(y_obs, N_FIT_MAX, rng)
    hyper = fits.fit(
        "objective0", X_obs[fit_rows], y_obs[fit_rows], deadline, _ls_prior_rate(encoder)
    )
    if deadline.expired():
        return fill_quasi_random(NOTE_DEADLINE_RANDOM)

    best_rows = np.argsort(y_obs, kind="stable")[:N_TOP]
    candidates = _candidates(encoder, X_obs[best_rows], rng)
    blocks = [encoder.columns[p.name] for p in space.params if isinstance(p, CategoricalParam)]
    unknown: list[Params] = list(history.pending)
    lies = _Lies(encoder, X_obs, y_obs, hyper, unknown, history.failed)
    beta = settings.ucb_beta or acquisition.DEFAULT_UCB_BETA
    branches = _branches(encoder, candidates) if space.conditional else []
    tried = [o.params for o in history.completed + history.pruned] + list(history.failed)
    while len(out) < n:
        if deadline.expired():
            return fill_quasi_random(NOTE_DEADLINE_RANDOM)
        X_train, y_train = lies.train_set()
        X_pending = lies.pending()
        branch = _underexplored(branches, tried + unknown)
        distance = PENDING_DISTANCE
        if branch is None and X_pending is not None and _exploits(history.n_suggested + len(out)):
            acq = _negated_mean(lies.believer())
            distance = EXPLOIT_DISTANCE
        else:
            posterior = model.Posterior.condition(X_train, y_train, hyper)
            incumbent = _incumbent(posterior, y_obs)
            acq = acquisition.make(settings.acquisition, posterior, incumbent, ucb_beta=beta)
        # An under-explored branch gets the best of its space-filling candidates, unrefined:
        # with little data there, refinement runs to the corners where the variance is.
        ranked, finished = _maximize(
            acq, encoder, candidates, branches, branch, blocks, deadline, space.conditional
        )
        config = _pick(encoder, ranked, X_train, seen, branch, X_pending, distance)
        if config is None and branch is not None:
            config = _pick(encoder, ranked, X_train, seen, None, X_pending, distance)
        if config is None:
            add(quasi_random(), NOTE_NO_NEW)
        else:
            add(config, "" if finished else NOTE_DEADLINE_BEST)
        unknown.append(out[-1].params)
        lies.add(unknown[-1:])
    return out


Branch = tuple[str, ...]


def _branches(encoder: Encoder, candidates: np.ndarray) -> list[Branch]:
    """The branch of each candidate: the names of the parameters active in it."""
    active = encoder.active_params(candidates)
    names = sorted(active)
    return [tuple(n for n in names if active[n][row]) for row in range(len(candidates))]


def _underexplored(branches: list[Branch], tried: Sequence[Params]) -> Branch | None:
    """The branch the next suggestion must come from, or None for any.

    In a conditional space the model can write a branch off after a few poor random
    points: with little data in it, its own dimensions fit long lengthscales and look
    flat. So a branch (a set of active parameters the candidates reach) that holds fewer
    than min(sqrt(n), n / (2 k)) of the n configurations tried or pending (k branches)
    gets the next suggestion, still the acquisition's best inside it: a bandit's forced
    exploration, a bounded share of the budget that shrinks as sqrt(n) / n.
    """
    reachable = sorted(set(branches))
    if len(reachable) < 2:
        return None
    counts = {b: 0 for b in reachable}
    for config in tried:
        key = tuple(sorted(config))
        if key in counts:
            counts[key] += 1
    n = len(tried)
    floor = min(math.sqrt(n), n / (2 * len(reachable)))
    least = min(reachable, key=lambda b: counts[b])
    return least if counts[least] < floor else None


def _incumbent(posterior: model.Posterior, y_obs: np.ndarray) -> float:
    """The value expected improvement is measured from: the best observation, or the lowest
    posterior mean at the observations where that is higher (`posterior` is conditioned on
    the observations y_obs first, then any lies: `_Lies.train_set`).

    On a noisy objective (a cross-validated accuracy moves by a sample at a time) the best
    observation is partly luck, which the model regresses towards its neighbours; improving
    on that lucky value is likely only where the variance is large, in the cube's corners.
    On a noiseless one the two agree, and where the mean dips below every observation the
    observation is kept. Measured: the training task's mean accuracy after the design 0.962
    -> 0.966, noiseless problems unchanged within their seed spread (docs/benchmarks.md).
    """
    return max(float(y_obs.min()), float(posterior.mean_at_inputs()[: len(y_obs)].min()))


def _exploits(index: int) -> bool:
    """Whether the study's suggestion number `index` (from 0), made while other trials are
    pending (other workers' or this call's), is an exploitation pick: one in EXPLOIT_EVERY.

    Sequentially, the GP's late trials refine the incumbent, each with the latest result.
    Among pending trials every suggestion keeps away from the others, so only the one in
    flight near the best guess refines it: 8 workers reached 4.6x the sequential regret on
    Branin at 50 evaluations. The exploitation pick is the minimiser of the posterior mean
    of the observations alone, kept EXPLOIT_DISTANCE from the pending configurations.
    """
    return index % EXPLOIT_EVERY == 0


def _negated_mean(posterior: model.Posterior) -> Callable[[np.ndarray], np.ndarray]:
    """Minus the posterior mean, as an acquisition to maximise: the model's best guess."""

    def acquire(Z: np.ndarray) -> np.ndarray:
        return -posterior.mean(Z)

    return acquire


def _pick(
    encoder: Encoder,
    ranked: np.ndarray,
    X_known: np.ndarray,
    seen: Seen,
    branch: Branch | None = None,
    X_pending: np.ndarray | None = None,
    pending_distance: float = PENDING_DISTANCE,
) -> Params | None:
    """The best-ranked configuration not yet seen, preferring ones not within MIN_DISTANCE of a
    known point (a near-copy of a trial teaches the model almost nothing) nor within
    `pending_distance` of a pending one (`X_pending`: parallel workers would evaluate nearly
    the same point). With `branch`, only configurations of that branch (a categorical
    neighbour may have left it)."""
    top = ranked[:N_PICK]
    far = _min_distance(top, X_known) >= MIN_DISTANCE  # (k,)
    if X_pending is not None:
        far &= _min_distance(top, X_pending) >= pending_distance
    configs = encoder.decode(top)
    unseen = [
        i
        for i, c in enumerate(configs)
        if c not in seen and (branch is None or tuple(sorted(c)) == branch)
    ]
    for i in unseen:
        if far[i]:
            return configs[i]
    return configs[unseen[0]] if unseen else None


def _min_distance(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Each row of X's Euclidean distance to its nearest row of Y."""
    sq = (X**2).sum(1)[:, None] + (Y**2).sum(1)[None, :] - 2.0 * X @ Y.T
    return np.asarray(np.sqrt(np.maximum(sq, 0.0)).min(axis=1))


@dataclass(frozen=True, slots=True)
class _Metric:
    """One GP of a multi-objective or constrained study: its observations and threshold.

    `threshold` is None for an objective; for a constraint, the (standardised) value at
    or below which the constraint holds.
    """

    X: np.ndarray
    y: np.ndarray
    hyper: model.Hyperparameters
    threshold: float | None = None


def _objective_data(history: History) -> tuple[list[tuple[list[Params], np.ndarray]], np.ndarray]:
    """Per objective, the configurations and warped values its model learns from, and W
    (n_completed, m): each completed trial's warped objectives (NaN where not finite).

    The first objective takes pruned trials in as the single-objective model does (last
    value or the median, whichever is worse); the others know nothing of pruned trials."""
    completed = history.completed
    F = _pareto.objectives_of(completed)
    F = np.where(np.isinf(F), np.nan, F)
    W = np.full(F.shape, np.nan)
    data: list[tuple[list[Params], np.ndarray]] = []
    for j in range(F.shape[1]):
        configs = [o.params for o in completed]
        raw = list(F[:, j])
        if j == 0:
            finite = F[np.isfinite(F[:, 0]), 0]
            floor = median(finite) if len(finite) else -math.inf
            configs += [o.params for o in history.pruned]
            raw += [max(o.value, floor) for o in history.pruned]
        y_raw = np.array(raw, dtype=float)
        keep = np.isfinite(y_raw)
        y = warp(y_raw[keep], outliers_only=True)
        kept_completed = keep[: len(completed)]
        W[kept_completed, j] = y[: int(kept_completed.sum())]
        data.append(([c for c, k in zip(configs, keep, strict=True) if k], y))
    return data, W


def _constraint_data(history: History, j: int) -> tuple[list[Params], np.ndarray, float] | None:
    """The configurations, modelled values and threshold of constraint j, or None while no
    trial violated it (it then does not limit the acquisition).

    A violation v > 0 is modelled as log(1 + v / s) (s: the median violation), a satisfied
    constraint as minus the smallest of those (as far inside as the nearest violation is
    outside), then standardised: the constraint holds where the model is below the
    standardised 0."""
    configs, values = [], []
    for o in history.completed:
        if j < len(o.violations) and math.isfinite(o.violations[j]):
            configs.append(o.params)
            values.append(max(float(o.violations[j]), 0.0))
    v = np.array(values, dtype=float)
    bad = v > 0
    if not bad.any():
        return None
    s = float(median(v[bad]))
    t = np.zeros_like(v)
    t[bad] = np.log1p(v[bad] / s)
    t[~bad] = -float(t[bad].min())
    centre, scale = float(np.mean(t)), float(np.std(t))
    scale = scale if scale > 1e-12 else 1.0
    return configs, (t - centre) / scale, -centre / scale


def _fit_metric(
    encoder: Encoder,
    configs: list[Params],
    y: np.ndarray,
    rng: np.random.Generator,
    deadline: Deadline,
    fits: _Fits,
    key: str,
    threshold: float | None = None,
) -> _Metric:
    train = _subset(y, N_TRAIN_MAX, rng)
    X, y = encoder.encode([configs[i] for i in train]), y[train]
    fit_rows = _subset(y, N_FIT_MAX, rng)
    ls_rate = _ls_prior_rate(encoder)
    hyper = fits.fit(key, X[fit_rows], y[fit_rows], deadline, ls_rate, SECOND_START_NOISE)
    return _Metric(X, y, hyper, threshold)


def _suggest_multi(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    deadline: Deadline,
    encoder: Encoder,
    seen: Seen,
    out: list[Suggestion],
    quasi_random: Callable[[], Params],
    fits: _Fits,
) -> None:
    """Fills `out` up to n for a study with several objectives or with constraints.

    One GP per objective and per constraint; the acquisition is log EHVI of the feasible
    Pareto front (exact, `_gp/multi.py`; from SCALARIZE_FROM objectives, log EI of a random
    hypervolume scalarisation, see `_objective_term`) plus the log probability of
    feasibility (product over constraints); before any trial is feasible, the probability
    of feasibility alone.
    Pending trials and this call's suggestions are constant liars in every model.
    """

    def add(config: Params, note: str = "") -> None:
        seen.add(config)
        out.append(Suggestion(dict(config), note))

    def fill(note: str) -> None:
        while len(out) < n:
            add(quasi_random(), note)

    objective_data, W = _objective_data(history)
    objectives = [
        _fit_metric(encoder, configs, y, rng, deadline, fits, f"objective{j}")
        for j, (configs, y) in enumerate(objective_data)
        if len(y)
    ]
    constraints: list[_Metric] = []
    for j in range(history.n_constraints):
        found = _constraint_data(history, j)
        if found is not None:
            key = f"constraint{j}"
            metric = _fit_metric(encoder, found[0], found[1], rng, deadline, fits, key, found[2])
            constraints.append(metric)
    if deadline.expired() or len(objectives) < W.shape[1]:
        fill(NOTE_DEADLINE_RANDOM if deadline.expired() else NOTE_NO_NEW)
        return

    violation = _pareto.violation_of(history.completed)
    usable = np.isfinite(W).all(axis=1)
    feasible_rows = np.flatnonzero(usable & (violation <= 0))
    front_rows = feasible_rows[_pareto.pareto_mask(W[feasible_rows])]
    lower = upper = np.zeros((0, W.shape[1]))
    if len(front_rows):
        if W.shape[1] < SCALARIZE_FROM:
            ref = multi.ehvi_reference_point(W[front_rows])
            lower, upper = multi.decomposition(W[front_rows], ref, rng)
        top = front_rows
        if len(top) > N_TOP:
            top = np.sort(rng.choice(front_rows, size=N_TOP, replace=False))
    else:  # nothing feasible yet: search around the least violating trials
        top = np.argsort(violation, kind="stable")[:N_TOP]
    X_top = encoder.encode([history.completed[i].params for i in top])
    candidates = _candidates(encoder, X_top, rng)
    thresholds = np.array([c.threshold for c in constraints], dtype=float)
    blocks = [encoder.columns[p.name] for p in space.params if isinstance(p, CategoricalParam)]
    unknown: list[Params] = list(history.pending)
    branches = _branches(encoder, candidates) if space.conditional else []
    tried = [o.params for o in history.completed + history.pruned] + list(history.failed)
    while len(out) < n:
        if deadline.expired():
            fill(NOTE_DEADLINE_RANDOM)
            return
        trains = [_train_set(encoder, o.X, o.y, unknown, history.failed) for o in objectives]
        objective_posts = [
            model.Posterior.condition(X, y, o.hyper)
            for (X, y), o in zip(trains, objectives, strict=True)
        ]
        constraint_posts = [
            model.Posterior.condition(*_train_set(encoder, c.X, c.y, unknown, []), c.hyper)
            for c in constraints
        ]
        region: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
        if len(front_rows):
            region = _objective_term(W[front_rows], lower, upper, rng)
        acq = _multi_acquisition(objective_posts, constraint_posts, thresholds, region)
        branch = _underexplored(branches, tried + unknown)
        ranked, finished = _maximize(
            acq, encoder, candidates, branches, branch, blocks, deadline, space.conditional
        )
        X_known = trains[0][0]
        config = _pick(encoder, ranked, X_known, seen, branch)
        if config is None and branch is not None:
            config = _pick(encoder, ranked, X_known, seen)
        if config is None:
            add(quasi_random(), NOTE_NO_NEW)
        else:
            add(config, "" if finished else NOTE_DEADLINE_BEST)
        unknown.append(out[-1].params)


def _objective_term(
    front: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    rng: np.random.Generator,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(mu, sd) (c, m) -> the objectives' part of the log acquisition, for the feasible
    front (k, m) of the warped objectives.

    Up to two objectives: log EHVI over the boxes (lower, upper). From three: log EI of a
    random hypervolume scalarisation (`multi.log_ei_scalarized`), a fresh direction
    from `rng` per suggestion, from a reference point a tenth of the front's range beyond
    its nadir."""
    m = front.shape[1]
    if m < SCALARIZE_FROM:
        return lambda mu, sd: multi.log_ehvi(mu, sd, lower, upper)
    ref = multi.reference_point(front)
    weights = multi.random_weights(m, rng)
    best = float(multi.scalarize(front, ref, weights).max())
    return lambda mu, sd: multi.log_ei_scalarized(mu, sd, ref, weights, best)


def _multi_acquisition(
    objectives: list[model.Posterior],
    constraints: list[model.Posterior],
    thresholds: np.ndarray,
    region: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
) -> Callable[[np.ndarray], np.ndarray]:
    """Z (c, d) -> `region`(mu, sd) of the objectives' posteriors (`_objective_term`;
    None: no feasible front yet) plus the log probability that every constraint model
    is below its threshold."""

    def acquire(Z: np.ndarray) -> np.ndarray:
        value = np.zeros(len(Z))
        if constraints:
            mu, sd = _predict(constraints, Z)
            value += multi.log_feasibility(mu, sd, thresholds)
        if region is not None:
            mu, sd = _predict(objectives, Z)
            value += region(mu, sd)
        return value

    return acquire


def _predict(posteriors: list[model.Posterior], Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations (c, k) of k independent posteriors at Z (c, d)."""
    moments = [p.predict(Z) for p in posteriors]
    mu = np.column_stack([m for m, _ in moments])
    sd = np.sqrt(np.column_stack([v for _, v in moments]))
    return mu, sd


GP = AlgorithmInfo(
    name="gp",
    suggest=suggest,
    settings_type=GpSettings,
    needs_history=True,
    check_space=check_space,
)


def _maximize(
    acq: Any,
    encoder: Encoder,
    candidates: np.ndarray,
    branches: list[Any],
    branch: Any,
    blocks: Any,
    deadline: Deadline,
    conditional: bool,
) -> tuple[np.ndarray, bool]:
    """The acquisition's best candidates, ranked, and whether the search finished.

    An under-explored branch (not None) gets the best of its space-filling candidates,
    unrefined; otherwise every candidate is a start and the best are refined locally.
    """
    in_branch = np.array([i < N_CANDIDATES and b == branch for i, b in enumerate(branches)])
    ranked, _, finished = optimize.maximize(
        acq,
        candidates if branch is None else candidates[in_branch],
        n_local=5 if branch is None else 0,
        continuous=~encoder.is_categorical,
        blocks=blocks,
        snap=lambda X: _snap(encoder, X),
        should_stop=deadline.expired,
        active=(lambda x: encoder.active_columns(x)[0]) if conditional else None,
    )
    return ranked, finished
