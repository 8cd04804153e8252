"""The study input: a warm-started ``Bayes`` models an earlier study as a related task, not as its own.

Why: the pooled warm start standardizes each study's losses and fits one GP on all of them, so a
source that favours another region keeps pulling the search there for the whole run (seed 2 of
``bench/warm_start.py``: 600 rows and 10 epochs favour one-layer networks, the full data three
layers). Here every point gets one more input, its study's code, a categorical axis (Hamming
distance) with its own ARD lengthscale ``l`` fitted by marginal likelihood like the others. At the
same config this run and a source then correlate by ``matern52(1 / l**2)``: a two-task GP in the
spirit of the intrinsic coregionalization model, with the task correlation restricted to [0, 1]
and learned from how far the run's own results agree with what the source predicts for them. A
source the run contradicts (shifted optimum, reversed ranking) is fitted a short ``l`` and stops
counting; one the run confirms keeps a long one and keeps guiding. Candidates are always scored as
this run's points (the axis has one level, this run's code), and this run's losses are first matched
to the sources' level and spread at its points (``StudyInput.targets``).

Off by default (``Bayes._two_task``): on the real-training benchmark it reached the cold start's
40-trial score sooner than the pooled warm start on seeds 0-2 and ended lower on all three, but on
seeds 3-5 it fell behind, and over six seeds its mean best is the higher (docs/benchmarks.md, "A
two-task GP" and "Six seeds").

The prior on that lengthscale is centred at ``STUDY_LS`` (correlation 0.83 at the same config),
not at the other axes' centre (0.5: correlation 0.14): a source is fed because its user believes it
related, and the run's first few results cannot measure agreement yet.

No source, or no result of the run's own yet (nothing to tell the studies apart): ``study_input``
returns ``POOLED``, whose every method is the identity, so a cold run's suggestions are unchanged
bit for bit and a warm run's first suggestion follows the sources alone.

Example:
    >>> import numpy as np
    >>> study = study_input([0, 0, 1, 1])
    >>> study.inputs(np.array([[0.2], [0.4], [0.2], [0.6]]))[:, 1].tolist()
    [0.0, 0.0, 1.0, 1.0]
    >>> study_input([1, 1]) is POOLED
    True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from knobs.search._gp import gp as gpm
from knobs.search._gp.kernel import matern52

__all__ = ["STUDY_LS", "RUN_CODE", "MIN_BIAS_POINTS", "POOLED", "study_input", "StudyInput",
           "study_correlation", "source_bias", "match_to_sources", "matched_pool"]

#: centre of the log-normal prior on the study axis's lengthscale (its spread is the other axes').
STUDY_LS = 2.0
#: the study axis's coordinate of this run's points (and of every candidate); sources get (0, 1].
RUN_CODE = 0.0
#: this run's results needed before ``source_bias`` corrects the sources (fewer: no correction).
MIN_BIAS_POINTS = 3


class _Pooled:
    """No study input: the inputs, space, coding and incumbent as ``Bayes`` builds them."""

    def inputs(self, X: np.ndarray) -> np.ndarray:
        return X

    def space(self, space: Any) -> Any:
        return space

    def coding(self, coding: Any) -> Any:
        return coding

    def targets(self, X: np.ndarray, z: np.ndarray, is_cat: np.ndarray, prior: Any) -> np.ndarray:
        return z

    def best(self, z: np.ndarray) -> float:
        return float(z.min())


POOLED = _Pooled()


def study_input(labels: Sequence[int], per_axis: bool = False) -> "StudyInput | _Pooled":
    """The study input for history pairs from these studies (``_history.study_labels``: 0 this
    run, 1, 2, ... sources); ``POOLED`` unless both this run and a source are present.
    ``per_axis``: correct the sources by ``source_bias`` first (``Bayes._two_task_per_axis``)."""
    labels = np.asarray(labels, dtype=int)
    if not (labels == 0).any() or not (labels > 0).any():
        return POOLED
    return StudyInput(labels, per_axis)


class StudyInput:
    """How the GP sees studies as tasks: one more categorical axis, pinned to this run for candidates."""

    def __init__(self, labels: np.ndarray, per_axis: bool = False) -> None:
        self.labels = labels
        self.per_axis = per_axis
        self.codes = np.where(labels == 0, RUN_CODE, labels / labels.max())

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """The history's unit-cube points (n, d) with their study's code appended: (n, d + 1)."""
        return np.column_stack([X, self.codes])

    def targets(self, X: np.ndarray, z: np.ndarray, is_cat: np.ndarray, prior: Any) -> np.ndarray:
        """The warped losses with this run's shifted to where the sources put its configs: by the
        mean gap between a GP fitted on the sources alone, at this run's points, and this run's.

        Why: each study is standardized on its own, and a run the sources guide into their good
        region standardizes its (good) results to about 0, where the sources, which also sampled
        bad regions, put them well below 0. The study axis read that offset as disagreement and
        cut the source off from the run's first result (bench/warm_start.py, related seed 1:
        correlation 0.38 after one result, 0.13 to 0.39 from the fifth). After the match the axis measures
        disagreement in shape, not in level.

        Args:
            X: ``inputs``'s points, study axis last. is_cat, prior: the coding's and GP prior of
                the space's own axes.
        """
        own = self.labels == 0
        U, d = X[:, :-1], X.shape[1] - 1
        out, mean = match_to_sources(U, z, own, is_cat[:d], prior)
        if self.per_axis and own.sum() >= MIN_BIAS_POINTS:
            out[~own] += source_bias(U[own], out[own] - mean, U[~own], is_cat[:d], prior)
        return out

    def space(self, space: Any) -> "_RunSpace":
        return _RunSpace(space)

    def coding(self, coding: Any) -> "_StudyCoding":
        return _StudyCoding(coding)

    def best(self, z: np.ndarray) -> float:
        """The incumbent EI / PI improve on: this run's best, not a source's (another scale and task)."""
        return float(z[self.labels == 0].min())


class _RunSpace:
    """The search space as the GP sees this run's points: configs encode with this run's code,
    and the code is dropped when a point decodes."""

    def __init__(self, space: Any) -> None:
        self.base = space

    def to_unit_many(self, configs: Sequence[dict]) -> np.ndarray:
        U = self.base.to_unit_many(configs)
        return np.column_stack([U, np.full(len(U), RUN_CODE)])

    def from_unit(self, u: np.ndarray) -> dict:
        return self.base.from_unit(np.asarray(u)[:-1])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


class _StudyCoding:
    """A space's coding plus the study axis: categorical, one level (this run), never moved."""

    def __init__(self, coding: Any) -> None:
        self.base = coding
        self.is_cat = np.append(coding.is_cat, True)
        self.levels = [*coding.levels, np.array([RUN_CODE])]

    def canonical(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        V, free = self.base.canonical(U[:, :-1])
        return (np.column_stack([V, np.full(len(V), RUN_CODE)]),
                np.column_stack([free, np.zeros(len(V), dtype=bool)]))

    def prior(self, base: Any) -> "_StudyPrior":
        return _StudyPrior(self.base.prior(base))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


class _StudyPrior:
    """The GP prior with the study axis's lengthscale centred at ``STUDY_LS``; the rest unchanged."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def loc(self, d: int) -> np.ndarray:
        return np.append(np.broadcast_to(self.base.loc(d - 1), (d - 1,)), np.log(STUDY_LS))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)



def match_to_sources(U: np.ndarray, z: np.ndarray, own: np.ndarray, is_cat: np.ndarray,
                     prior: Any) -> tuple[np.ndarray, np.ndarray]:
    """The warped losses with this run's (``own``) moved to the sources' level and spread at its
    points, and that level: the mean of a GP fitted on the sources alone, predicted at them.

    Why: each study is standardized on its own (``_history.model_history``), and a run the sources
    guide into their good region standardizes its good results to about 0, where the sources, which
    also sampled bad regions, put the same quality well below 0. Matched, the run's results keep
    their own ranking but sit where the sources say its configs lie, so a model of both sees one
    function, not an offset between studies.

    Args:
        U: unit-cube points of the space's own axes (n, d). z: their warped losses (n,).
        own: which points are this run's. is_cat, prior: the space's categorical axes, the GP prior.
    """
    d = U.shape[1]
    source = gpm.fit(U[~own], z[~own], is_cat, [gpm.default_raw(d, prior)], prior)
    mean, _ = gpm.posterior(source, U[own])
    mine = z[own]
    spread = mine.std()
    scale = mean.std() / spread if spread > 0 else 1.0
    out = z.copy()
    out[own] = mean.mean() + scale * (mine - mine.mean())
    return out, mean


def matched_pool(labels: Sequence[int]) -> "_MatchedPool | _Pooled":
    """The pooled model (one GP, no study axis) with this run's losses matched to the sources'
    (``match_to_sources``); ``POOLED`` unless both this run and a source are present, so a cold run
    and a warm run's first suggestion are the plain pooled model's bit for bit.

    ``Bayes``'s default (``Bayes._pooled_matched``): on six seeds of bench/warm_start.py it met the
    related target on 4 (plain pooling 3) with lower mean bests at 20 and 40 trials, related and
    unrelated, and lost at most 2 validation rows against cold from the unrelated source
    (docs/benchmarks.md, "Level matching and the sources' best first")."""
    labels = np.asarray(labels, dtype=int)
    if not (labels == 0).any() or not (labels > 0).any():
        return POOLED
    return _MatchedPool(labels == 0)


class _MatchedPool(_Pooled):
    """One GP on every study's points, this run's losses first matched to the sources' level."""

    def __init__(self, own: np.ndarray) -> None:
        self.own = own

    def targets(self, X: np.ndarray, z: np.ndarray, is_cat: np.ndarray, prior: Any) -> np.ndarray:
        return match_to_sources(X, z, self.own, is_cat, prior)[0]


def study_correlation(model: Any) -> float:
    """How far a GP fitted on ``StudyInput.inputs`` lets a source count at the same config: its
    correlation with this run there (1: as the run's own results; 0: not at all)."""
    return float(matern52(model.inv_ls2[-1]))


def source_bias(U_run: np.ndarray, residual: np.ndarray, U_source: np.ndarray, is_cat: np.ndarray,
                prior: Any) -> np.ndarray:
    """How far the run differs from the sources, predicted at the sources' points: the mean of a
    GP with its own ARD lengthscales fitted on the run's residuals (its losses minus the sources'
    prediction at its points), to be added to the sources' losses.

    Why: the study axis's one correlation measures agreement over the whole space, so a source
    right about lr and weight decay but wrong about depth (bench/warm_start.py, related seed 2) is
    either trusted on depth too or cut off on every axis. Modelling the difference as its own GP,
    as multi-fidelity co-kriging does (Kennedy and O'Hagan 2000, with the scale already matched by
    ``StudyInput.targets``), lets it depend on one axis: a short lengthscale on depth, long ones on
    the rest, so a few of the run's results move the sources' losses along depth only and the
    corrected source, agreeing again, keeps guiding lr and weight decay. A difference the run's
    results cannot tell from noise fits flat and corrects by about 0.

    Off by default (``Bayes._two_task_per_axis``): it took related seed 2 to cold's score at trial
    12 instead of 30, but related seed 1 stalled from trial 11 at a worse score, and on synthetic
    sources (a reversed one, one wrong on a continuous axis) the corrected source is fitted a
    correlation near 1, so the study axis no longer cuts it off (docs/benchmarks.md, "Agreement
    per axis").

    Args:
        U_run, U_source: unit-cube points of the run and of the sources (the space's axes only).
        residual: the run's matched losses minus the sources' GP mean at ``U_run``.
        is_cat, prior: the space's categorical axes and the GP's hyperparameter prior.
    """
    d = U_run.shape[1]
    model = gpm.fit(U_run, residual, is_cat, [gpm.default_raw(d, prior)], prior)
    mean, _ = gpm.posterior(model, U_source)
    return mean
