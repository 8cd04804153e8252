"""Warm-start sources weighed by how well they rank this run's results (issue 17, item 6): RGPE's weight
(``knobs.search._source_vetting``) as the chance ``Bayes`` keeps a source for one suggestion."""

from __future__ import annotations

import numpy as np
import pytest

from knobs.search._bayes import Bayes
from knobs.search._history import model_history, study_labels
from knobs.search._source_vetting import MIN_OWN, VET_FROM, keep_probability, ranking_losses

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
    kept, kept_labels = sampler._vetted(PLANE, history, labels, np.random.default_rng(0))
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
