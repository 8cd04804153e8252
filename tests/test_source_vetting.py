"""Warm-start sources weighed by how well they rank this run's results (issue 17, item 6): RGPE's weight
(``knobs.search._source_vetting``) as the chance ``Bayes`` keeps a source for one suggestion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from knobs.search._bayes import Bayes
from knobs.search._history import model_history, study_labels
from knobs.search._source_vetting import (MIN_OWN, VET_FROM, keep_probability, noise_share, own_model,
                                          ranking_losses)

from test_two_task import PLANE, bowl, run_own, trials

SMOOTH = np.zeros(3, dtype=bool)


def sphere(X):
    return ((X - 0.3) ** 2).sum(axis=1)


def points(n, seed):
    return np.random.default_rng(seed).random((n, 3))


def test_ranking_losses_count_the_pairs_a_draw_orders_the_other_way():
    y = np.array([0.1, 0.2, 0.3, 0.4])
    draws = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [2.0, 1.0, 3.0, 4.0]])
    assert ranking_losses(draws, y).tolist() == [0.0, 1.0, pytest.approx(1 / 6)]


def test_ranking_losses_leave_out_pairs_of_equal_results():
    """Two runs at chance (the same error) say nothing about which config is better."""
    y = np.array([0.9, 0.9, 0.1])
    assert ranking_losses(np.array([[1.0, 0.0, -1.0]]), y).tolist() == [0.0]
    assert ranking_losses(np.array([[0.0, 1.0, 2.0]]), y).tolist() == [1.0]


def test_a_source_is_kept_while_the_run_has_too_few_results_to_rank():
    X = points(MIN_OWN - 1, 0)
    source = points(30, 1)
    assert keep_probability(X, -sphere(X), source, sphere(source), SMOOTH, np.random.default_rng(0)) == 1.0


def test_a_run_whose_results_are_all_equal_keeps_a_source_half_the_time():
    """Five runs at the same error (a region where nothing trains) confirm no source's ranking."""
    X, source = points(6, 0), points(30, 1)
    assert keep_probability(X, np.full(6, 0.9), source, sphere(source), SMOOTH, np.random.default_rng(0)) == 0.5


@pytest.mark.parametrize("seed", range(3))
def test_a_source_that_ranks_the_run_like_its_own_results_is_kept(seed):
    X, source = points(8, seed), points(40, 100 + seed)
    noisy = sphere(source) + 0.01 * np.random.default_rng(seed).standard_normal(40)
    assert keep_probability(X, sphere(X), source, noisy, SMOOTH, np.random.default_rng(seed)) > 0.9


@pytest.mark.parametrize("seed", range(3))
def test_a_reversed_source_or_one_that_is_noise_is_dropped(seed):
    """A failed source search (every result at chance: noise) has no good region to offer."""
    rng = np.random.default_rng(seed)
    X, source = points(12, seed), points(40, 100 + seed)
    assert keep_probability(X, sphere(X), source, -sphere(source), SMOOTH, rng) < 0.05
    assert keep_probability(X, sphere(X), source, rng.standard_normal(40), SMOOTH, rng) < 0.2


class Vetting(Bayes):
    """Bayes weighing its sources as early as they can be ranked (the mechanism; the default waits longer)."""

    _vet_sources = True
    _vet_from = MIN_OWN


class Unvetted(Bayes):
    _vet_sources = False


def test_vetting_draws_nothing_before_the_run_has_min_own_results():
    """A warm run's first suggestions are those of the unvetted sampler, bit for bit."""
    run = trials(bowl, n_own=MIN_OWN - 1)
    assert Vetting(seed=2).suggest(PLANE, run, n=2) == Unvetted(seed=2).suggest(PLANE, run, n=2)


def vetted_labels(sampler, run):
    history = model_history(run, "minimize", PLANE, needed=4)
    labels = study_labels(run, "minimize", PLANE, needed=4)
    kept, kept_labels, _ = sampler._vetted(PLANE, history, labels, np.random.default_rng(0))
    assert [config for config, _ in kept] == [config for (config, _), label in zip(history, labels)
                                              if label in set(kept_labels)]
    return kept_labels


def test_bayes_drops_a_reversed_source_and_keeps_an_agreeing_one():
    reversed_run = trials(lambda c: -bowl(c), n_own=12)
    agreeing_run = trials(bowl, n_own=6)
    assert set(vetted_labels(Vetting(seed=0), reversed_run)) == {0}
    assert set(vetted_labels(Vetting(seed=0), agreeing_run)) == {0, 1}


def test_vetting_leaves_a_cold_run_bit_for_bit():
    cold = [t for t in trials(bowl, n_own=8) if "warm_start" not in t.attrs]
    assert Vetting(seed=3).suggest(PLANE, cold, n=2) == Unvetted(seed=3).suggest(PLANE, cold, n=2)


@pytest.mark.parametrize("seed", range(2))
def test_a_run_warm_started_from_a_reversed_source_finds_the_optimum(seed):
    """Without vetting, the reversed source keeps pulling the pooled model to its own optimum (the run's
    worst corner: best loss 0.15-0.49 after 20 trials); vetted, the run's own results take over once they
    rank themselves (0.0002-0.0004)."""
    fed = trials(lambda c: -bowl(c), n_own=0, seed=seed)
    assert min(bowl(t.config) for t in run_own(Unvetted(seed=seed), fed, 20)) > 0.1
    assert min(bowl(t.config) for t in run_own(Vetting(seed=seed), fed, 20)) < 0.01


def test_by_default_sources_are_weighed_from_the_runs_vet_from_th_result():
    """The first ``VET_FROM`` trials follow the source unweighed (where it is worth most); then a reversed one goes."""
    early = trials(lambda c: -bowl(c), n_own=VET_FROM - 1)
    assert Bayes(seed=4).suggest(PLANE, early, n=2) == Unvetted(seed=4).suggest(PLANE, early, n=2)
    late = trials(lambda c: -bowl(c), n_own=VET_FROM + 5)
    assert set(vetted_labels(Bayes(seed=0), late)) == {0}


def test_a_source_is_fitted_once_a_run_and_the_runs_own_fit_starts_from_its_last(monkeypatch):
    """Vetting every suggestion refits nothing the run did not change: the source's GP (its own points and losses,
    warped on their own) is fitted once; the run's own GP starts from its previous hyperparameters, which a
    resumed sampler gets back from its state."""
    from knobs.search import _source_vetting as sv

    fits, starts = [], []
    fit_source, fit_own = sv.source_model, sv.own_model
    monkeypatch.setattr(sv, "source_model", lambda *a, **k: fits.append(1) or fit_source(*a, **k))
    monkeypatch.setattr(sv, "own_model", lambda *a, **k: starts.append(a[4] if len(a) > 4 else None) or fit_own(*a, **k))
    run = trials(bowl, n_own=8)
    sampler = Vetting(seed=5)
    run_own(sampler, run, 3)  # three suggestions: the run's own results grow, the source's do not
    assert len(fits) == 1 and starts[0] is None and all(s is not None for s in starts[1:])
    state = sampler.state_dict()
    assert np.allclose(state["vet_raw"], sampler._vet_raw)
    resumed = Vetting(seed=5)
    resumed.load_state_dict(state)
    assert np.allclose(resumed._vet_raw, sampler._vet_raw)
    del state["vet_raw"]  # a state saved before vetting kept its fit: the next own fit starts from the centre
    older = Vetting(seed=5)
    older.load_state_dict(state)
    assert older._vet_raw is None


def clustered(n, seed, width=0.005, d=3):
    """``n`` points in a box of side ``width`` around 0.7, 0.3, ...: where a warm run's trials gather (the
    source's best region)."""
    return np.resize([0.7, 0.3], d) + width * (np.random.default_rng(seed).random((n, d)) - 0.5)


@pytest.mark.parametrize("seed", range(3))
def test_the_noise_share_says_how_gathered_the_points_are_more_than_whether_the_results_follow_them(seed):
    """(The losses warped as ``Bayes`` warps them before its GP sees them.) Points gathered in a box of side 0.005
    read as noise, about 0.42 of the variance (where the noise prior meets the lengthscale and signal priors),
    whether their results are at chance or follow a smooth bowl; spread over the box, a bowl reads as signal, and
    so do results at chance (on short lengthscales). So the share marks a run gathered in one small region, not a
    failed one; in a box of side 0.1-0.2, results at chance read either way (0.01-0.49 over 30 seeds)."""
    from knobs.search._gp.transforms import power_warp

    chance = 0.9 + 0.01 * np.random.default_rng(seed).standard_normal(20)
    for X, high in ((clustered(20, seed), True), (points(20, seed), False)):
        assert (noise_share(own_model(X, power_warp(chance), SMOOTH)) > 0.4) == high
        assert (noise_share(own_model(X, power_warp(sphere(X)), SMOOTH)) > 0.4) == high


class DropOnNoise(Vetting):
    """Every source dropped while the run's own results read as noise, and two design points for it
    (``Bayes._drop_on_noise``, ``_design_on_noise``)."""

    _drop_on_noise = 0.4
    _design_on_noise = 2
    _own_design_offset = 8


def chance(c):
    """A run at chance: its errors owe nothing to the config (a failed source's region)."""
    return 0.9 + 0.01 * math.sin(1e4 * (c["x"] + 2.0 * c["y"]))


def gathered_run(own_loss, n_own=20):
    """A source's trials (on the bowl) and ``n_own`` of this run's, gathered around the source's best."""
    from knobs.trial import FrozenTrial, TrialState

    fed = trials(bowl, n_own=0)
    configs = [PLANE.from_unit(u) for u in clustered(n_own, 7, d=2)]
    return fed + [FrozenTrial(i, c, TrialState.COMPLETE, own_loss(c)) for i, c in enumerate(configs)]


def test_a_run_whose_results_read_as_noise_drops_an_agreeing_source_without_a_draw_and_explores():
    from knobs.search._random import sobol_points
    from knobs.trial import FrozenTrial, TrialState

    run = gathered_run(chance)
    history = model_history(run, "minimize", PLANE, needed=4)
    labels = study_labels(run, "minimize", PLANE, needed=4)
    draws = [np.random.default_rng(k) for k in range(8)]
    plain = [Vetting(seed=0)._vetted(PLANE, history, labels, rng) for rng in draws]
    assert any(set(kept) == {0, 1} for _, kept, _ in plain)  # the draws keep the source at times
    assert not any(noisy for _, _, noisy in plain)
    assert all(set(kept) == {0} and noisy for _, kept, noisy in
               (DropOnNoise(seed=0)._vetted(PLANE, history, labels, rng) for rng in draws))
    sampler = DropOnNoise(seed=0)
    suggested = sampler.suggest(PLANE, run, n=3)
    design = [PLANE.from_unit(u) for u in sobol_points(len(PLANE), sampler._design_seed, 8, 2)]
    assert suggested[:2] == design  # the design's two points, then the run's own GP without the source
    done = run + [FrozenTrial(100 + i, c, TrialState.COMPLETE, chance(c)) for i, c in enumerate(design)]
    assert DropOnNoise(seed=0).suggest(PLANE, done, n=1)[0] not in design


def test_a_run_whose_results_follow_its_inputs_is_vetted_as_without_the_noise_trigger():
    """Below the share, the vetting's draws and the suggestions are the default's bit for bit."""
    for run in (trials(bowl, n_own=6), trials(lambda c: -bowl(c), n_own=12)):
        assert DropOnNoise(seed=3).suggest(PLANE, run, n=2) == Vetting(seed=3).suggest(PLANE, run, n=2)
