"""``Bayes``: Gaussian-process Bayesian optimization (the sampler shell around ``_gp``).

Each suggestion: encode the history in the unit cube (one coordinate per parameter), warp the
losses (power transform, robust to diverged runs), fit a Matérn-5/2 ARD GP by marginal
likelihood (warm-started from the previous fit), pretend the running trials returned the GP's
own prediction (the kriging believer: noise-free, and a believed improvement lowers EI's
incumbent, so a batch and the busy workers spread out), and maximize log-EI / log-PI / UCB over
the mixed space. The first ``n_initial`` points come from a scrambled Sobol sequence.

Conditional spaces: inactive numeric parameters sit at 0.5 (as ``Space.to_unit`` encodes them), a
constant the GP ignores between points that both lack the parameter; an inactive choice gets
``INACTIVE_CHOICE``, a code no option has, so it is its own state (mismatch 1 from every option,
0 from another inactive point). The acquisition optimizer applies the same rule to every
candidate, so nothing falls back to random sampling.

Example:
    >>> from knobs.space import Float, Space
    >>> from knobs.search._bayes import Bayes
    >>> space = Space({"x": Float(-5.0, 5.0)})
    >>> Bayes(seed=0).suggest(space, [])[0]["x"] != 0.0
    True
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from knobs.errors import ConfigError
from knobs.search._base import (Sampler, _valid, check_number, check_request, check_seed,
                                config_key, fresh_configs)
from knobs.search._history import WARM_START, model_history, study_labels
from knobs.search._blas import blas_threads
from knobs.search._gp import acquisition as acq
from knobs.search._gp import gp as gpm
from knobs.search._gp import optimize, transforms
from knobs.search._random import sobol_points
from knobs.search import _source_vetting
from knobs.search._source_vetting import MIN_OWN, VET_FROM, keep_probability
from knobs.search._two_task import POOLED, matched_pool, study_input
from knobs.space import Space
from knobs.trial import FrozenTrial, TrialState

__all__ = ["Bayes"]

# NOTE: integer / stepped axes with more levels than this are relaxed to the real line in the
# acquisition search and rounded when decoded (the next fit sees the rounded value).
MAX_LEVELS = 4096
N_INCUMBENTS = 5
PERTURB_SCALES = np.array([0.01, 0.05, 0.2])
# NOTE: with few points the marginal likelihood is multimodal (smooth trend vs. short
# lengthscales); extra starts drawn from the prior are cheap there and pointless later.
N_RANDOM_STARTS = 2
RANDOM_STARTS_BELOW = 40
# NOTE: the GP's coordinate of an inactive choice. The space's 0.5 is, for an odd number of
# options, the middle option's code ((k + 0.5) / n), so under the mismatch distance an inactive
# point was the same as every point with the middle option active and unlike the others: a bias
# set by the order of the options. Any code no option has works (mismatch compares exactly).
INACTIVE_CHOICE = -1.0
# NOTE: the range of the GP's posterior mean and standard deviation along an axis at a suggestion (standardized warped
# losses: the run's spread is 1) under which the axis is flat there and its coordinate is drawn at random (``_fill_flat``).
FLAT_TOL = 0.05


def _levels(param: Any) -> np.ndarray | None:
    """The unit coordinates a parameter can really take, or None for a continuous axis."""
    if param.kind == "choice":
        k = len(param.options)
        return (np.arange(k) + 0.5) / k
    if param.kind == "int":
        values = range(param.low, param.high + 1, param.step)
    elif param.step is not None:
        count = int(math.floor((param.high - param.low) / param.step + 1e-8)) + 1
        values = [param.from_unit((k + 0.5) / count) for k in range(min(count, MAX_LEVELS + 1))]
    else:
        return None
    if len(values) > MAX_LEVELS:
        return None
    return np.unique([param.to_unit(v) for v in values])


class _Coding:
    """How a space looks to the GP: categorical axes, discrete levels, activation rules."""

    def __init__(self, space: Space) -> None:
        params = [space[name] for name in space.names]
        index = {name: j for j, name in enumerate(space.names)}
        self.is_cat = np.array([p.kind == "choice" for p in params])
        self.levels = [_levels(p) for p in params]
        self.conditions = [
            [(index[parent], np.array([space[parent].to_unit(v) for v in values]))
             for parent, values in p.when.items()]
            for p in params
        ]
        self.inactive = np.where(self.is_cat, INACTIVE_CHOICE, 0.5)

    def canonical(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Evaluable points as the GP sees them and the coordinates a gradient step may move (not
        choices)."""
        U, active = transforms.apply_conditions(transforms.snap(U, self.levels), self.conditions,
                                                self.inactive)
        return U, active & ~self.is_cat

    def encode(self, U: np.ndarray) -> np.ndarray:
        """Evaluated points (``Space.to_unit``) as the GP sees them: inactive choices at
        ``INACTIVE_CHOICE``, the rest unchanged; columns past the space's (the study axis) too."""
        d = len(self.inactive)
        out = U.copy()
        out[:, :d] = transforms.apply_conditions(U[:, :d], self.conditions, self.inactive)[0]
        return out

    def prior(self, base: gpm.Prior) -> gpm.Prior:
        """The GP prior for these inputs (``_two_task`` adds its study axis's)."""
        return base


class Bayes(Sampler):
    """Bayesian optimization with a Gaussian process (Matérn-5/2 ARD) surrogate.

    Args:
        acquisition: ``"ei"`` (expected improvement, optimized as log-EI), ``"pi"`` (probability
            of improvement, as log-PI) or ``"ucb"`` (mean minus ``kappa`` standard deviations).
        xi: EI / PI margin, in units of the standardized loss: improvements smaller than this
            count as none, nudging the search away from the incumbent.
        kappa: UCB exploration weight.
        n_initial: Sobol points before the GP takes over; None means ``min(10, max(4, d + 1))``
            for d parameters. The GP needs at least 2 complete results whatever this says.
        warp: output warping before the fit: ``"power"`` (Yeo-Johnson, HEBO's choice), ``"rank"``
            (normal scores of the ranks) or ``"standardize"``.
        n_candidates: quasi-random candidates scored per suggestion (a power of 2 suits Sobol).
        n_local: best candidates polished by L-BFGS-B.
        blas_threads: BLAS threads while a suggestion is computed (1: the GP's small systems gain
            nothing from more, and lose much when other processes train on the cores; None: leave
            NumPy's setting alone).
        seed: seed of the sampler's random generator (Sobol scrambles, candidate pools).

    Example:
        >>> from knobs.space import Float, Space
        >>> Bayes(acquisition="ucb", kappa=2.0, seed=1).suggest(Space({"lr": Float(1e-4, 1.0, log=True)}), [], n=2)[1]["lr"] > 0
        True
    """

    # NOTE: the GP's hyperparameter prior, a class attribute so a benchmark can try another one
    # on an instance (bench/bayes_levers.py) without a public option nobody should need.
    _prior = gpm.Prior()
    # NOTE: how the kriging believer treats a believed result: as a candidate incumbent for EI,
    # and as a noise-free value of the GP. Both on won batches of 4 (docs/benchmarks.md,
    # "Batches of 4"); class attributes so bench/bayes_levers.py can switch them off.
    _believer_incumbent = True
    _believer_exact = True
    # NOTE: off: warm starts as a two-task GP (``_two_task``) instead of one pooled GP. Ahead of pooling
    # on seeds 0-2 of bench/warm_start.py, behind it on seeds 3-5 (six-seed means: docs/benchmarks.md,
    # "Six seeds"); a class attribute so bench/warm_start.py can compare the two on an instance.
    _two_task = False
    # NOTE: off: the two-task GP's sources corrected per axis first (``_two_task.source_bias``).
    # It met the related target on 3 of 3 seeds (2 without) but stalled one, and follows a
    # reversed synthetic source further (docs/benchmarks.md, "Agreement per axis"); like ``_two_task``.
    _two_task_per_axis = False
    # NOTE: on: the pooled GP with this run's losses matched to the sources' level (``_two_task.matched_pool``):
    # lower six-seed means than plain pooling, related and unrelated (docs/benchmarks.md, "Level matching and the
    # sources' best first").
    _pooled_matched = True
    # NOTE: on: from the run's ``_vet_from``-th result, each suggestion keeps a warm-start source with the chance
    # that it ranks this run's results better than the run's own leave-one-out GP does (RGPE's weight,
    # ``_source_vetting``); a dropped source leaves that suggestion to the run's own trials. From the 20th result
    # (``VET_FROM``) every arm of both warm-start benchmarks ended level or ahead at 40 trials; from the 5th
    # (``MIN_OWN``) it lost the check set's Fashion-MNIST-from-digits arm at 20 (docs/benchmarks.md, "Sources
    # weighed by how they rank the run"). Class attributes so a benchmark can move or switch them.
    _vet_sources = True
    _vet_from = VET_FROM
    # NOTE: on: a suggestion's coordinates on axes the GP holds flat there (``_fill_flat``: its mean and standard
    # deviation vary by less than ``FLAT_TOL`` along the axis) drawn at random instead of where the acquisition put
    # them, which was a bound nearly every time (a parameter that does nothing sat on a bound in 21-28 of 30 model-guided
    # trials; 2-4 with it). Level with the default before it on the dev set (docs/benchmarks.md, "A flat parameter
    # drawn at random"); None switches it off.
    _flat_fill: float | None = FLAT_TOL
    # NOTE: levers measured and taken out, their code at the commit named (docs/architecture.md lists each with its
    # docs/benchmarks.md section): an EI margin grown by leave-one-out misses (``_loo_margin``), a minimum distance
    # from the model's points (``_min_distance``), redrawn unused coordinates in local steps (``_redraw_inactive``),
    # the sources' best configs first (``_sources_first``), the run's own design points while warm (``_own_design``),
    # a dropped source's suggestions to that design (``_design_on_drop``): b0c980d; a noise trigger for failed sources
    # (``_drop_on_noise``): 5cc555e; a warm run's first results at the posterior mean's minimum (``_warm_greedy``):
    # b0e1f63; the sources' best config first, measured again on the vetted default (``_sources_first = 1``): 672fb1a;
    # a Thompson draw over the acquisition's best candidates (``_thompson_top``, ``_thompson_gap``): b593ec2.

    def __init__(self, acquisition: str = "ei", xi: float = 0.01, kappa: float = 2.0,
                 n_initial: int | None = None, warp: str = "power", n_candidates: int = 2048,
                 n_local: int = 10, seed: int | None = None, blas_threads: int | None = 1) -> None:
        self.acquisition = acquisition
        self.xi = xi
        self.kappa = kappa
        self.n_initial = n_initial
        self.warp = warp
        self.n_candidates = n_candidates
        self.n_local = n_local
        self.seed = seed
        self.blas_threads = blas_threads
        self._rng: np.random.Generator | None = None
        self._design_seed: int | None = None
        self._raw: np.ndarray | None = None
        self._vet_raw: np.ndarray | None = None  # the run's own vetting GP's last hyperparameters
        self._source_models: dict[int, gpm.GP] = {}

    # -- public contract -------------------------------------------------------------------
    def suggest(self, space: Space, trials: Sequence[FrozenTrial], n: int = 1, *,
                direction: str = "minimize") -> list[dict[str, Any]]:
        trials = check_request(space, trials, n, direction)
        self._check_args()
        rng = self._generator()
        needed = max(2, self._n_initial(len(space)))
        history = model_history(trials, direction, space, needed)  # pruned and warm-start trials too
        taken = {config_key(t.config) for t in trials if WARM_START not in t.attrs}  # an earlier best may rerun
        if len(history) < needed:
            return self._design(space, len(trials), n, taken)
        # NOTE: a cold run has one study: no labels, so its history is not walked a second time.
        warm = ((self._two_task or self._pooled_matched or self._vet_sources)
                and any(WARM_START in t.attrs for t in trials))
        labels = study_labels(trials, direction, space, needed) if warm else []
        # NOTE: the vetting's GP fits and joint draws too run under the pinned BLAS threads (outside, they took
        # twice as long on two cores: 155 against 73 ms a suggestion at 40 + 40 trials; the same suggestions).
        with blas_threads(self.blas_threads):
            if warm and self._vet_sources:
                history, labels = self._vetted(space, history, labels, rng)
            study = (study_input(labels, self._two_task_per_axis) if self._two_task
                     else matched_pool(labels) if self._pooled_matched else POOLED)
            return self._suggest_from_model(space, trials, history, taken, n, rng, study)

    def _suggest_from_model(self, space: Space, trials: Sequence[FrozenTrial], history: list,
                            taken: set, n: int, rng: np.random.Generator,
                            study=POOLED) -> list[dict[str, Any]]:
        coding = study.coding(_Coding(space))
        # NOTE: U in the space's encoding (where perturbations of the incumbents start, so a
        # choice a perturbation activates takes the value it always did), X as the GP sees it.
        U = study.inputs(space.to_unit_many([c for c, _ in history], validated=True))
        X = coding.encode(U)
        z = study.targets(X, transforms.WARPS[self.warp](np.array([loss for _, loss in history])),
                          coding.is_cat, self._prior)
        space = study.space(space)  # this run's points from here on
        model, best = self._fit(X, z, coding, rng), study.best(z)
        running = [t.config for t in trials if t.state == TrialState.RUNNING
                   and _valid(space, t.config)]
        if running:
            model, best = self._believe(model, coding.encode(space.to_unit_many(running)), best)
        out = []
        for _ in range(n):
            u = self._pick(model, coding, U[np.argsort(z)[:N_INCUMBENTS]], best, space, taken, rng)
            out.append(space.from_unit(u))
            model, best = self._believe(model, u[None, :], best)
        return out

    def state_dict(self) -> dict[str, Any]:
        self._generator()
        return {"rng": self._rng.bit_generator.state, "design_seed": self._design_seed,
                "raw": None if self._raw is None else [float(v) for v in self._raw],
                "vet_raw": None if self._vet_raw is None else [float(v) for v in self._vet_raw]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        missing = {"rng", "design_seed", "raw"} - set(state)
        if missing:
            raise ConfigError(f"Bayes state is missing keys {sorted(missing)}; expected the "
                              f"output of Bayes.state_dict()")
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ConfigError(f"Bayes state 'rng' is not a numpy PCG64 state ({e})") from None
        self._rng, self._design_seed = rng, int(state["design_seed"])
        self._raw = None if state["raw"] is None else np.asarray(state["raw"], dtype=float)
        # NOTE: optional (a state saved before vetting started its fits from the last one has none)
        vet_raw = state.get("vet_raw")
        self._vet_raw = None if vet_raw is None else np.asarray(vet_raw, dtype=float)

    # -- steps -----------------------------------------------------------------------------
    def _check_args(self) -> None:
        if self.acquisition not in acq.ACQUISITIONS:
            raise ConfigError(f"Bayes acquisition must be one of {sorted(acq.ACQUISITIONS)}, "
                              f"got {self.acquisition!r}")
        if self.warp not in transforms.WARPS:
            raise ConfigError(f"Bayes warp must be one of {sorted(transforms.WARPS)}, "
                              f"got {self.warp!r}")
        check_number(self.xi, "Bayes xi", 0.0, math.inf)
        check_number(self.kappa, "Bayes kappa", 0.0, math.inf)
        check_number(self.n_candidates, "Bayes n_candidates", 1, 2**20, integer=True)
        check_number(self.n_local, "Bayes n_local", 1, 1024, integer=True)
        if self.n_initial is not None:
            check_number(self.n_initial, "Bayes n_initial", 1, 2**20, integer=True)
        check_seed(self.seed)
        if self.blas_threads is not None:
            check_number(self.blas_threads, "Bayes blas_threads", 1, 1024, integer=True)

    def _generator(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
            self._design_seed = int(self._rng.integers(2**63))
        return self._rng

    def _n_initial(self, d: int) -> int:
        return min(10, max(4, d + 1)) if self.n_initial is None else self.n_initial

    def _vetted(self, space: Space, history: list, labels: list[int],
                rng: np.random.Generator) -> tuple[list, list[int]]:
        """``history`` and ``labels`` without the sources this suggestion drops (``_vet_sources``); as
        they are, and nothing drawn from ``rng``, while the run has fewer than ``_vet_from`` results.

        NOTE: each model sees its own study's losses warped on their own, as RGPE fits its base models: the
        source's GP then depends on the source alone and is fitted once a run (``_source_models``), and the run's
        own GP starts from its last fit (``_vet_raw``), so vetting costs two draws and one short fit."""
        if labels.count(0) < max(MIN_OWN, self._vet_from):
            return history, labels
        coding = _Coding(space)
        X = coding.encode(space.to_unit_many([c for c, _ in history], validated=True))
        losses = np.array([loss for _, loss in history])
        warp = transforms.WARPS[self.warp]
        study = np.asarray(labels)
        own = study == 0
        y_own = warp(losses[own])
        start = self._vet_raw if self._vet_raw is not None and len(self._vet_raw) == X.shape[1] + 2 else None
        own_gp = _source_vetting.own_model(X[own], y_own, coding.is_cat, self._prior, start)
        self._vet_raw = own_gp.raw
        kept = {0}
        for s in np.unique(study[~own]):
            rows = study == s
            source = self._source_model(int(s), X[rows], warp(losses[rows]), coding)
            if rng.random() < keep_probability(X[own], y_own, X[rows], source.y, coding.is_cat, rng, self._prior,
                                               source=source, own=own_gp):
                kept.add(int(s))
        rows = [i for i, label in enumerate(labels) if label in kept]
        return [history[i] for i in rows], [labels[i] for i in rows]

    def _source_model(self, label: int, X: np.ndarray, y: np.ndarray, coding: _Coding) -> gpm.GP:
        """The GP of source ``label`` on these points and warped losses: the one fitted before if they are the
        same (a source's trials do not change during a run), else fitted now."""
        cached = self._source_models.get(label)
        if cached is not None and np.array_equal(cached.X, X) and np.array_equal(cached.y, y):
            return cached
        self._source_models[label] = model = _source_vetting.source_model(X, y, coding.is_cat, self._prior)
        return model

    def _design(self, space: Space, start: int, n: int, taken: set) -> list[dict[str, Any]]:
        """Sobol points ``start, start + 1, ...`` of this sampler's scrambled sequence.

        NOTE: position = number of trials so far, so a resumed or parallel study continues the
        sequence. Points already taken (small discrete spaces) are skipped; once the space is
        used up, repeats are returned (as ``Random`` does) so the study can go on.
        """
        configs = [space.from_unit(u) for u in sobol_points(len(space), self._design_seed,
                                                              start, n + 16)]
        fresh = fresh_configs(lambda m: configs, taken, n, tries=1)
        return fresh + configs[:n - len(fresh)]

    def _fit(self, X: np.ndarray, z: np.ndarray, coding: _Coding,
             rng: np.random.Generator) -> gpm.GP:
        d = X.shape[1]
        prior = coding.prior(self._prior)
        starts = [gpm.default_raw(d, prior)]
        if self._raw is not None and len(self._raw) == len(starts[0]):
            starts.insert(0, self._raw)
        if len(X) < RANDOM_STARTS_BELOW:
            for _ in range(N_RANDOM_STARTS):
                start = gpm.default_raw(d, prior).copy()
                start[:d] += rng.normal(scale=prior.ls_scale, size=d)
                starts.append(start)
        model = gpm.fit(X, z, coding.is_cat, starts, prior)
        self._raw = model.raw
        return model

    def _believe(self, model: gpm.GP, U: np.ndarray, best: float) -> tuple[gpm.GP, float]:
        """The kriging believer at U (running or just-picked points) and the incumbent it implies."""
        model, believed = _kriging_believer(model, U, self._believer_exact)
        return model, (min(best, believed) if self._believer_incumbent else best)

    def _pick(self, model: gpm.GP, coding: _Coding, incumbents: np.ndarray, best: float,
              space: Space, taken: set, rng: np.random.Generator) -> np.ndarray:
        """The best-scoring candidate whose config is not taken (then marked taken); the best
        one regardless when the space is used up."""
        score, score_grad = _scorers(model, self.acquisition,
                                     self.kappa if self.acquisition == "ucb" else self.xi, best)
        sobol = sobol_points(model.X.shape[1], int(rng.integers(2**63)), 0, self.n_candidates)
        pool = np.vstack([sobol, _perturb(incumbents, coding, rng)])
        scale = np.minimum(model.lengthscales, 1.0)
        candidates, _ = optimize.maximize(score, score_grad, coding.canonical, pool,
                                          coding.levels, scale, n_local=self.n_local)
        return self._first_untaken(model, coding, candidates, space, taken, rng)

    def _first_untaken(self, model: gpm.GP, coding: _Coding, candidates: np.ndarray, space: Space, taken: set,
                       rng: np.random.Generator) -> np.ndarray:
        """The first of ``candidates`` (best first), flat axes filled, whose config is not taken (then marked taken);
        the first one regardless when the space is used up."""
        for u in candidates:
            if self._flat_fill is not None:
                u = _fill_flat(model, coding, u, self._flat_fill, rng)
            key = config_key(space.from_unit(u))
            if key not in taken:
                taken.add(key)
                return u
        return candidates[0]


FLAT_GRID = np.linspace(0.0, 1.0, 11)


def _fill_flat(model: gpm.GP, coding: _Coding, u: np.ndarray, tol: float, rng: np.random.Generator) -> np.ndarray:
    """``u`` with each free axis along which the GP's posterior mean and standard deviation both vary by less than
    ``tol`` (standardized units) at ``u`` redrawn uniformly: Dropout-BO's random fill (Li et al. 2017), decided by the
    model at the point instead of at random.

    NOTE: late in a run EI is tiny everywhere, and log-EI, which the acquisition maximizes, grows by nats along a flat
    axis toward the bounds, where the standard deviation is larger by a few thousandths: traced on a 3-D search
    (a parameter that does nothing, lengthscale 17), its mean varied by 0.009 and its sd by 0.0015 along that axis
    while log-EI varied by 8 nats, and 21-28 of 30 model-guided trials sat on its bounds.
    """
    _, free = coding.canonical(u[None, :])
    axes = np.flatnonzero(free[0])
    if not len(axes):
        return u
    points = np.repeat(u[None, :], len(axes) * len(FLAT_GRID), axis=0)
    points[np.arange(len(points)), np.repeat(axes, len(FLAT_GRID))] = np.tile(FLAT_GRID, len(axes))
    points, _ = coding.canonical(points)
    mean, var = gpm.posterior(model, points)
    mean, sd = mean.reshape(len(axes), -1), np.sqrt(var).reshape(len(axes), -1)
    flat = axes[(np.ptp(mean, axis=1) < tol) & (np.ptp(sd, axis=1) < tol)]
    if not len(flat):
        return u
    out = u.copy()
    out[flat] = rng.random(len(flat))
    return coding.canonical(out[None, :])[0][0]


def _kriging_believer(model: gpm.GP, U: np.ndarray, exact: bool = False) -> tuple[gpm.GP, float]:
    """Kriging believer: condition on the GP's own mean at U (running or just-picked points),
    as noise-free values when ``exact``; also the lowest believed value (a candidate incumbent).

    NOTE: the mean leaves the prediction unchanged but shrinks the variance around U, so EI
    there collapses and the next pick moves away, but only once the incumbent is lowered to
    the believed value: where the mean promises an improvement, EI = best - mean stays high
    with no variance at all, and the rest of a batch lands next to the first pick (the batches
    of 4 on Hartmann-6 did: 4 points within 0.02 of each other). Noise-free conditioning
    (as q-EI's fantasies are latent values) also removes the noise's variance left at U.
    """
    mean, _ = gpm.posterior(model, U)
    return gpm.condition(model, U, mean, exact=exact), float(mean.min())


def _scorers(model: gpm.GP, name: str, param: float, best: float):
    """Acquisition value, and value with gradient, as functions of unit-cube points."""
    fn = acq.ACQUISITIONS[name]

    def score(U: np.ndarray) -> np.ndarray:
        mean, var = gpm.posterior(model, U)
        return fn(mean, np.sqrt(var), best, param)[0]

    def score_grad(U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var, dmean, dvar = gpm.posterior_grad(model, U)
        std = np.sqrt(var)
        value, d_mean, d_std = fn(mean, std, best, param)
        return value, d_mean[:, None] * dmean + (d_std / (2.0 * std))[:, None] * dvar

    return score, score_grad


def _perturb(incumbents: np.ndarray, coding: _Coding, rng: np.random.Generator,
             per_point: int = 64) -> np.ndarray:
    """Local candidates around the best points: Gaussian steps on numeric axes (integers snap to
    nearby levels later), and each categorical axis redrawn with probability 1/d.

    NOTE: a coordinate the incumbent does not use (a conditional parameter its parent excludes) stays at the
    space's 0.5, so a step that turns it on tries its middle value first; redrawing it was measured and left out
    (docs/benchmarks.md, "A conditional parameter turned on by a local step")."""
    base = np.repeat(incumbents, per_point, axis=0)
    steps = rng.normal(size=base.shape) * rng.choice(PERTURB_SCALES, size=(len(base), 1))
    out = np.where(coding.is_cat, base, base + steps)
    flip = coding.is_cat & (rng.random(base.shape) < 1.0 / max(base.shape[1], 2))
    out[flip] = rng.random(int(flip.sum()))
    return np.clip(out, 0.0, 1.0)
