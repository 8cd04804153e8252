"""knobs.ensemble: combining, greedy selection, stacking and the binomial argument, on NumPy arrays."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from knobs.ensemble import (EnsembleReport, Selection, Stacking, average, binomial_table, diversity, fit_weights,
                            greedy_selection, majority_error, vote)
from knobs.ensemble._greedy import score
from knobs.errors import ConfigError, DataError


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def noisy_members(noises, n: int = 300, n_classes: int = 4, seed: int = 0):
    """Member i: softmax(2 * one_hot(truth) + independent N(0, noise_i) logits)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    probs = np.stack([softmax(2.0 * np.eye(n_classes)[y] + rng.normal(0, s, (n, n_classes))) for s in noises])
    return probs, y


# -- average and vote -------------------------------------------------------------------------

def test_average_is_the_mean_and_weights_are_normalized():
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    b = np.array([[0.5, 0.5], [0.6, 0.4]])
    np.testing.assert_allclose(average([a, b]), [[0.7, 0.3], [0.4, 0.6]])
    np.testing.assert_allclose(average(np.stack([a, b]), weights=[3, 1]), 0.75 * a + 0.25 * b)
    np.testing.assert_allclose(average([a, b], weights=[0.3, 0.1]), average([a, b], weights=[3, 1]))
    np.testing.assert_allclose(average([a, b], weights=[0, 2]), b)


def test_vote_majority_weights_and_probability_tie_break():
    # sample 0: classes 0, 0, 1 -> 0; sample 1: 2, 1, 2 -> 2
    p = np.array([
        [[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]],
        [[0.5, 0.4, 0.1], [0.1, 0.8, 0.1]],
        [[0.2, 0.7, 0.1], [0.3, 0.1, 0.6]],
    ])
    assert vote(p).tolist() == [0, 2]
    assert vote(p, weights=[1, 1, 5]).tolist() == [1, 2]  # the heavy member decides
    # two members tie 1-1; member 1 is far surer of class 1, so the summed probability picks 1
    tie = np.array([[[0.55, 0.45]], [[0.05, 0.95]]])
    assert vote(tie).tolist() == [1]
    assert vote(tie[::-1]).tolist() == [1]  # not decided by member or class order


def test_shape_mismatch_names_the_member():
    good = np.full((5, 3), 1 / 3)
    with pytest.raises(DataError, match=r"probs\[2\] has shape \(4, 3\).*\(5, 3\)"):
        average([good, good, np.full((4, 3), 1 / 3)])
    with pytest.raises(DataError, match=r"probs\[1\] has shape \(5, 2\)"):
        vote([good, np.full((5, 2), 0.5)])
    with pytest.raises(DataError, match=r"n_members, n_samples, n_classes"):
        average(good)  # one member's (n, c) array, not a stack
    with pytest.raises(DataError, match="empty"):
        average([])


def test_bad_probabilities_and_weights_are_named():
    good = np.full((4, 2), 0.5)
    nan = good.copy()
    nan[1, 0] = np.nan
    with pytest.raises(DataError, match=r"probs\[1\] contains NaN"):
        average([good, nan])
    with pytest.raises(DataError, match=r"probs\[0\] contains negative.*logits"):
        average([good - 1.0, good])
    with pytest.raises(DataError, match=r"probs\[1\] has rows summing"):
        average([good, good * 3])
    with pytest.raises(ConfigError, match=r"weights must have shape \(2,\)"):
        average([good, good], weights=[1, 1, 1])
    with pytest.raises(ConfigError, match="non-negative"):
        average([good, good], weights=[1, -1])
    with pytest.raises(ConfigError, match="not all zero"):
        vote([good, good], weights=[0, 0])


# -- greedy selection -------------------------------------------------------------------------

def test_greedy_picks_the_dominant_member():
    probs, y = noisy_members([2.0, 2.5, 0.05, 3.0])
    sel = greedy_selection(probs, y, size=10)
    assert isinstance(sel, Selection)
    assert sel.order[0] == 2
    assert sel.weights[2] == pytest.approx(1.0)  # adding any noisy member only hurts
    assert sel.n_used == 1 and sel.best_score == pytest.approx(score(probs[2], y, "log_loss"))


def test_greedy_beats_the_best_single_member_on_independent_noise():
    probs, y = noisy_members([1.0, 1.2, 1.5, 2.0, 1.1, 3.0])
    best_single = min(score(p, y, "log_loss") for p in probs)
    sel = greedy_selection(probs, y, size=25)
    assert sel.best_score < best_single - 0.01  # measured: 0.531 -> 0.513
    assert sel.weights.sum() == pytest.approx(1.0)
    assert sel.counts.sum() == sel.n_used and len(sel.order) == len(sel.val_score) == 25
    assert np.bincount(sel.order[:sel.n_used], minlength=6).tolist() == sel.counts.tolist()
    # the reported score is the score of the weighted average it returns
    assert score(average(probs, sel.weights), y, "log_loss") == pytest.approx(sel.best_score)
    assert sel.val_score[0] == pytest.approx(best_single)
    json.dumps(sel.to_dict())


def test_greedy_is_deterministic_and_seeded_ties_are_reproducible():
    probs, y = noisy_members([1.0, 1.2, 1.5, 1.0], seed=3)
    probs = np.concatenate([probs, probs[:1]])  # member 4 duplicates member 0: exact ties
    a, b = greedy_selection(list(probs), y), greedy_selection(probs, y)
    assert a.order == b.order and np.array_equal(a.weights, b.weights)
    assert 4 not in a.order  # without a seed, ties go to the lowest index
    s1, s2 = greedy_selection(probs, y, seed=7), greedy_selection(probs, y, seed=7)
    assert s1.order == s2.order
    assert s1.best_score == pytest.approx(a.best_score)


def test_greedy_accuracy_init_best_and_patience():
    probs, y = noisy_members([1.0, 1.2, 1.5, 2.0, 1.1], seed=1)
    singles = [score(p, y, "accuracy") for p in probs]
    sel = greedy_selection(probs, y, size=15, metric="accuracy")
    assert sel.best_score >= max(singles) and sel.metric == "accuracy"
    ranked = np.argsort([score(p, y, "log_loss") for p in probs], kind="stable")
    assert greedy_selection(probs, y, size=8, init_best=3).order[:3] == ranked[:3].tolist()
    short = greedy_selection(probs, y, size=200, patience=5)
    assert len(short.order) < 200
    assert len(short.order) - short.n_used == 5


def test_greedy_rejects_bad_arguments():
    probs, y = noisy_members([1.0, 1.5])
    with pytest.raises(ConfigError, match="metric"):
        greedy_selection(probs, y, metric="auc")
    with pytest.raises(ConfigError, match="size"):
        greedy_selection(probs, y, size=0)
    with pytest.raises(ConfigError, match="init_best"):
        greedy_selection(probs, y, init_best=3)
    with pytest.raises(ConfigError, match="patience"):
        greedy_selection(probs, y, patience=0)
    with pytest.raises(DataError, match=r"y_val holds labels in \[1, 4\]; expected 0 .. 3"):
        greedy_selection(probs, np.where(y == 0, 4, y))
    with pytest.raises(DataError, match=r"y_val must have shape \(300,\)"):
        greedy_selection(probs, y[:-1])
    with pytest.raises(DataError, match="integer"):
        greedy_selection(probs, y.astype(float))


# -- weights fitted on the simplex ------------------------------------------------------------

def test_fit_weights_finds_the_grid_minimum_of_the_validation_log_loss():
    probs, y = noisy_members([1.0, 1.4, 2.0], n=400, seed=4)
    w = fit_weights(probs, y)
    assert w.shape == (3,) and (w >= 0).all() and w.sum() == pytest.approx(1.0)
    grid = [np.array([a, b, 1 - a - b]) / 1.0 for a in np.linspace(0, 1, 101) for b in np.linspace(0, 1 - a, 101)]
    best_on_grid = min(score(average(probs, g), y, "log_loss") for g in grid)
    fitted = score(average(probs, w), y, "log_loss")
    assert fitted <= best_on_grid + 1e-9  # the convex optimum is at least as good as any grid point
    assert fitted < score(average(probs), y, "log_loss") - 1e-4  # better than equal weights here
    assert w[0] > w[1] > w[2]  # the least noisy member weighs most


def test_fit_weights_gives_a_useless_member_no_weight_and_a_lone_member_all():
    probs, y = noisy_members([1.0, 1.2], n=300, seed=5)
    useless = np.full((1, 300, 4), 0.25)
    w = fit_weights(np.concatenate([probs, useless]), y)
    assert w[2] < 1e-6
    np.testing.assert_array_equal(fit_weights(probs[:1], y), [1.0])
    dominant, y2 = noisy_members([2.5, 0.05], seed=6)
    assert fit_weights(dominant, y2)[1] > 0.99  # never worse than the best single member


def test_fit_weights_rejects_bad_input():
    probs, y = noisy_members([1.0, 1.5])
    with pytest.raises(ConfigError, match="tol must be a number > 0"):
        fit_weights(probs, y, tol=0)
    with pytest.raises(ConfigError, match="max_iter must be an integer >= 1"):
        fit_weights(probs, y, max_iter=0)
    with pytest.raises(DataError, match=r"y_val must have shape \(300,\)"):
        fit_weights(probs, y[:10])


# -- the binomial argument and diversity ------------------------------------------------------

def brute_force_majority_error(n: int, p: float) -> float:
    total = 0.0
    for wrong in itertools.product([0, 1], repeat=n):
        k = sum(wrong)
        prob = p ** k * (1 - p) ** (n - k)
        total += prob * (1.0 if 2 * k > n else 0.5 if 2 * k == n else 0.0)
    return total


@pytest.mark.parametrize("n", range(1, 8))
@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.5, 0.7])
def test_majority_error_matches_enumeration(n, p):
    assert majority_error(n, p) == pytest.approx(brute_force_majority_error(n, p), abs=1e-12)


def test_majority_error_shrinks_below_p_for_odd_ensembles():
    for p in (0.05, 0.2, 0.45):
        errors = [majority_error(n, p) for n in (1, 3, 5, 11, 21)]
        assert errors[0] == pytest.approx(p)
        assert all(e < p for e in errors[1:])
        assert errors == sorted(errors, reverse=True)
    assert majority_error(21, 0.3) == pytest.approx(0.0264, abs=1e-4)
    with pytest.raises(ConfigError, match="n must be an integer"):
        majority_error(0, 0.3)
    with pytest.raises(ConfigError, match="p must be a probability"):
        majority_error(3, 1.5)


def test_diversity_of_identical_members_is_zero():
    probs, y = noisy_members([1.5], seed=2)
    d = diversity(np.repeat(probs, 3, axis=0), y)
    assert d["pairwise_disagreement"] == 0.0
    assert d["majority_vote_error"] == pytest.approx(d["member_errors"][0])
    assert d["error_correlation"] == pytest.approx(1.0)
    json.dumps(d)


def test_diversity_on_hand_made_labels():
    labels = np.array([[0, 1, 1], [0, 1, 0], [1, 1, 0]])
    d = diversity(labels, np.array([0, 1, 0]))
    assert d["member_errors"] == pytest.approx([1 / 3, 0.0, 1 / 3])
    assert d["pairwise_disagreement"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 3) / 3)
    assert d["majority_vote_error"] == 0.0  # each member errs on a different row: the vote fixes all
    assert d["independent_majority_error"] == pytest.approx(majority_error(3, 2 / 9))
    # a 1-1 tie that includes the truth is wrong half the time, as in majority_error
    assert diversity([np.array([0]), np.array([1])], np.array([0]))["majority_vote_error"] == 0.5
    with pytest.raises(DataError, match=r"probs_or_labels\[1\]"):
        diversity([np.array([0, 1]), np.array([0.0, 1.0])], np.array([0, 1]))


def test_binomial_table_sets_the_prediction_beside_the_measurement():
    rng = np.random.default_rng(1)
    y = np.zeros(20_000, dtype=int)
    labels = (rng.random((7, 20_000)) < 0.3).astype(int)  # independent members, each wrong w.p. 0.3
    rows = binomial_table(labels, y, sizes=[1, 3, 5, 7])
    assert [r["n"] for r in rows] == [1, 3, 5, 7]
    for r in rows:
        assert r["independent_majority_error"] == pytest.approx(majority_error(r["n"], r["mean_member_error"]))
        assert r["majority_vote_error"] == pytest.approx(r["independent_majority_error"], abs=0.012)
        assert r["mean_member_error"] == pytest.approx(0.3, abs=0.01) and len(r["member_errors"]) == r["n"]
    assert rows[0]["pairwise_disagreement"] == 0.0
    assert rows[-1]["pairwise_disagreement"] == pytest.approx(2 * 0.3 * 0.7, abs=0.01)  # P(one wrong, other right)
    # correlated members (copies of one with a little noise) vote no better than one member
    base = rng.random(20_000) < 0.3
    copies = np.stack([base ^ (rng.random(20_000) < 0.02) for _ in range(7)]).astype(int)
    last = binomial_table(copies, y)[-1]
    assert last["n"] == 7 and last["error_correlation"] > 0.8
    assert last["majority_vote_error"] == pytest.approx(base.mean(), abs=0.01)  # measured: 0.299
    assert last["majority_vote_error"] > 2 * last["independent_majority_error"]  # binomial promise: 0.136
    json.dumps(rows)
    with pytest.raises(ConfigError, match=r"sizes must be integers in \[1, 7\]"):
        binomial_table(labels, y, sizes=[0, 3])
    with pytest.raises(ConfigError, match="sizes"):
        binomial_table(labels, y, sizes=[8])


def test_independent_members_vote_close_to_the_binomial_prediction():
    rng = np.random.default_rng(0)
    y = np.zeros(20_000, dtype=int)
    labels = (rng.random((5, 20_000)) < 0.3).astype(int)  # binary, each wrong w.p. 0.3, independently
    d = diversity(labels, y)
    assert d["majority_vote_error"] == pytest.approx(majority_error(5, 0.3), abs=0.01)
    assert abs(d["error_correlation"]) < 0.03


# -- stacking and the report ------------------------------------------------------------------

def test_stacking_beats_a_random_member_out_of_fold():
    probs, y = noisy_members([1.0, 1.5, 2.0, 2.5], n=300)
    st = Stacking(C=1.0, cv=5, seed=0).fit(probs, y)
    member = np.random.default_rng(0).integers(len(probs))
    assert st.cv_log_loss_ < score(probs[member], y, "log_loss")
    assert st.cv_accuracy_ > score(probs[member], y, "accuracy")
    test_probs, _ = noisy_members([1.0, 1.5, 2.0, 2.5], n=50, seed=9)
    out = st.predict_proba(test_probs)
    assert out.shape == (50, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert st.oof_proba_.shape == (300, 4)


def test_stacking_errors_and_unseen_classes():
    probs, y = noisy_members([1.0, 1.5], n=60, n_classes=3)
    with pytest.raises(ConfigError, match="before fit"):
        Stacking().predict_proba(probs)
    st = Stacking(cv=3).fit(probs, y)
    with pytest.raises(DataError, match="fitted on 2 members x 3 classes"):
        st.predict_proba(probs[:1])
    with pytest.raises(ConfigError, match="C must be"):
        Stacking(C=0).fit(probs, y)
    with pytest.raises(DataError, match=r"class \d has 1 validation rows, fewer than cv=3"):
        Stacking(cv=3).fit(probs, np.r_[np.zeros(59, int), [1]])
    y_no_2 = np.where(y == 2, 0, y)
    fitted = Stacking(cv=3).fit(probs, y_no_2)
    assert np.all(fitted.predict_proba(probs)[:, 2] == 0.0)


def test_report_compares_combiners_and_is_json_able():
    probs, y = noisy_members([1.0, 1.2, 1.5, 2.0], n=240)
    report = EnsembleReport.from_predictions(probs, y, names=["a", "b", "c", "d"], size=15)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["single_best"]["member"] == "a" and d["cv"] == 5
    assert d["greedy"]["log_loss"] <= d["single_best"]["log_loss"] + 1e-12
    assert sum(d["greedy"]["weights"]) == pytest.approx(1.0)
    assert d["average"]["log_loss"] == d["average"]["cv_log_loss"]  # nothing fitted, nothing flattered
    assert d["stacking"]["cv_log_loss"] >= d["stacking"]["log_loss"]  # in-sample is optimistic
    assert d["weighted"]["log_loss"] <= d["average"]["log_loss"] + 1e-12  # optimal free weights, in-sample
    assert sum(d["weighted"]["weights"]) == pytest.approx(1.0)
    assert d["weighted"]["cv_log_loss"] >= d["weighted"]["log_loss"] - 1e-3
    assert [r["n"] for r in d["binomial"]] == [1, 2, 3, 4]
    assert d["best"] in ("single_best", "average", "greedy", "weighted", "stacking")
    losses = {k: d[k]["cv_log_loss"] for k in ("single_best", "average", "greedy", "weighted", "stacking")}
    assert losses[d["best"]] == min(losses.values())
    assert d["diversity"]["n_members"] == 4
    with pytest.raises(ConfigError, match="names has 2 entries"):
        EnsembleReport.from_predictions(probs, y, names=["a", "b"])


def test_report_without_folds_when_a_class_is_too_rare():
    probs, y = noisy_members([1.0, 1.5], n=40, n_classes=2)
    y = np.r_[np.zeros(39, int), [1]]
    report = EnsembleReport.from_predictions(probs, y)
    assert report.cv is None and report.stacking is None
    assert report.greedy["cv_log_loss"] is None and report.weighted["cv_log_loss"] is None
    assert report.best in ("single_best", "average", "greedy", "weighted")
