"""The run's advice (knobs.report.findings): each finding fires on a hand-made run that has the
problem and stays quiet on one that does not; messages and actions carry the run's numbers."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import knobs.report._findings as findings_module
from knobs.report import Finding, RunRecord, findings
from knobs.report._findings import (bounds, capped, coverage, ensemble, failures, fit, generalization, preflight,
                                    pruning, vault)
from knobs.trial import FrozenTrial, TrialState

SPACE = {"params": {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "width": {"type": "int", "low": 64, "high": 512, "log": True},
    "depth": {"type": "int", "low": 1, "high": 3, "log": False},
    "dropout": {"type": "float", "low": 0.0, "high": 0.4, "log": False},
    "batch_size": {"type": "choice", "options": [32, 64, 128]},
    "optimizer": {"type": "choice", "options": ["adam", "sgd"]},
}}
MIDDLE = {"lr": 3e-3, "weight_decay": 1e-4, "width": 181, "depth": 2, "dropout": 0.2, "batch_size": 64, "optimizer": "adam"}


def curve(val, train=None, lr=1e-3):
    n = len(val)
    return {"epoch": list(range(1, n + 1)), "val_loss": list(val), "train_loss": list(train or [v * 0.5 for v in val]),
            "val_accuracy": [0.9] * n, "lr": [lr] * n}


def trial(number, value, state=TrialState.COMPLETE, val=None, train=None, **config):
    attrs = {}
    if val is not None:
        best = min(range(len(val)), key=lambda i: val[i]) + 1
        attrs = {"curve": curve(val, train, config.get("lr", 1e-3)), "best_epoch": best, "epochs_run": len(val)}
    return FrozenTrial(number=number, config={**MIDDLE, **config}, state=state, value=value, started_at=100.0 + number,
                       finished_at=101.0 + number, attrs=attrs)


def record(trials, epochs=60, **summary):
    base = {"search": {"direction": "minimize", "space": SPACE}, "data": {"task": "classification", "n_classes": 10},
            "best_trial": {"number": min(trials, key=lambda t: t.value if t.value is not None else math.inf).number,
                           "metric": "val_loss"} if trials else {},
            "n_trials": len(trials), "vault": {"openings": 1}}
    return RunRecord({**base, **summary}, trials, None, [{"event": "run_start", "config": {"train": {"epochs": epochs}}}])


def many(n=20, **best_config):
    """n complete trials in the middle of the space; trial 0 the best, with ``best_config``."""
    return [trial(0, 0.1, **best_config)] + [trial(i, 0.5 + 0.01 * i) for i in range(1, n)]


def codes(found):
    return [f.code for f in found]


# ---- the search space ---------------------------------------------------------------------------

def test_best_on_a_log_bound_says_how_far_and_how_many_and_widens_it_tenfold():
    trials = many(weight_decay=0.0095)
    trials[1] = trial(1, 0.11, weight_decay=1e-2)
    [f] = bounds(record(trials))
    assert (f.code, f.severity, f.evidence["bound"], f.evidence["scale"]) == ("best_at_bound", "warning", "upper", "log")
    assert f.evidence["top_at_bound"] == 2 and f.evidence["complete_at_bound"] == 2
    assert 0 < f.evidence["distance"] < 0.05
    assert f.action == "widen weight_decay's upper bound from 0.01 to 0.1"
    assert "best weight_decay = 9.5e-3" in f.message and "2 of the top 5 trials there" in f.message


def test_a_bound_the_search_piled_trials_on_is_info_and_one_the_top_trials_crowd_is_a_warning():
    # a flat parameter: 28 of 40 trials on its upper bound, the values unrelated to it (as Bayes leaves such an axis)
    rng = np.random.default_rng(0)
    values = rng.permutation(40) / 100
    values[[0, int(np.argmin(values))]] = values[[int(np.argmin(values)), 0]]  # the best (trial 0) on the bound
    piled = [trial(i, float(values[i]), dropout=0.4 if i % 10 < 7 else 0.2) for i in range(40)]
    [f] = bounds(record(piled))
    assert f.severity == "info" and f.evidence["complete_at_bound"] == 28 and f.evidence["enrichment_p"] >= 0.1
    assert "the top no more often than the rest" in f.message
    # a parameter whose bound is better: the same 28 trials there, now the 10 best among them
    better = [trial(i, (0.01 if i % 10 < 7 else 0.5) + float(values[i]) / 10, dropout=0.4 if i % 10 < 7 else 0.2)
              for i in range(40)]
    [g] = bounds(record(better))
    top = sorted(better, key=lambda t: t.value)[:10]
    assert all(t.config["dropout"] == 0.4 for t in top)
    assert g.severity == "warning" and g.evidence["enrichment_p"] < 0.1 and "no more often" not in g.message


def test_best_inside_the_space_raises_nothing():
    assert bounds(record(many())) == []
    # 20% of the log range below the upper bound is inside, though 0.0016 is far from 0.01 linearly
    assert bounds(record(many(weight_decay=1.6e-3))) == []


def test_integer_choice_and_linear_bounds_and_natural_limits():
    found = {f.evidence["param"]: f for f in bounds(record(many(width=512, batch_size=128, dropout=0.4, depth=1)))}
    assert found["width"].action == "widen width's upper bound from 512 to 1024"
    assert found["batch_size"].action == "add 256 to batch_size's options"
    assert found["dropout"].action == "widen dropout's upper bound from 0.4 to 0.6"
    assert found["depth"].action == "fix depth = 1 (a natural limit) and drop it from [search.space]"
    assert all(f.severity == "info" for f in found.values())  # only the best sits there
    lower = {f.evidence["param"]: f for f in bounds(record(many(dropout=0.0, batch_size=32, lr=1e-4, width=64)))}
    assert lower["dropout"].action.startswith("fix dropout = 0 (a natural limit)")
    assert lower["batch_size"].action == "add 16 to batch_size's options"
    assert lower["lr"].action == "widen lr's lower bound from 1e-4 to 1e-5"
    assert lower["width"].action == "widen width's lower bound from 64 to 32"
    assert "optimizer" not in found  # an unordered choice has no edge


def test_few_trials_for_the_dimension():
    [f] = coverage(record(many(8)))
    assert f.code == "few_trials" and f.evidence == {"complete": 8, "params": 7, "wanted": 70, "n_trials": 8}
    assert f.action.startswith("raise search.n_trials to 70")
    assert coverage(record(many(70))) == []


def test_many_failures_with_one_reason_are_grouped_with_the_rates_that_diverged():
    trials = many(10) + [trial(10 + i, None, TrialState.FAILED, lr=lr) for i, lr in enumerate((0.05, 0.08, 0.09))]
    trials = [t if t.state is not TrialState.FAILED else
              FrozenTrial(t.number, t.config, t.state, None, attrs={"fail_reason": f"Diverged: loss nan at step {7 * t.number}"})
              for t in trials]
    [f] = failures(record(trials))
    assert f.code == "failures" and f.severity == "warning" and f.evidence["with_this_reason"] == 3
    assert "3 of 13 trials failed with: Diverged: loss nan at step 70" in f.message
    assert f.action == "lower lr's upper bound below 0.05 (the smallest rate that diverged), or set clip_grad_norm"
    one = many(40) + [FrozenTrial(40, MIDDLE, TrialState.FAILED, attrs={"fail_reason": "ValueError: x"})]
    assert failures(record(one)) == []


def test_most_trials_pruned():
    pruned = [FrozenTrial(i, MIDDLE, TrialState.PRUNED, 0.9, intermediate={1: 1.0, 2: 0.9}) for i in range(2, 10)]
    [f] = pruning(record([trial(0, 0.1), trial(1, 0.2), *pruned]))
    assert f.code == "most_pruned" and f.evidence["pruned"] == 8 and f.evidence["median_step"] == 2
    assert pruning(record([*many(7), *pruned[:3]])) == []


# ---- training ----------------------------------------------------------------------------------

def improving(n=10):
    return [1.0 - 0.05 * e for e in range(n)]


def test_trials_capped_while_improving_at_low_lr():
    trials = many(10)
    trials[0] = trial(0, 0.55, val=improving(), lr=2e-4)  # trained all 10 epochs, best at the last
    trials[3] = trial(3, 0.56, val=improving(), lr=3e-4)
    [f] = capped(record(trials, epochs=10))
    assert f.code == "capped_while_improving" and f.evidence["trials"] == [0, 3] and f.evidence["cap"] == 10
    assert all(s < 0 for s in f.evidence["slopes"])
    assert "hit the 10-epoch cap still improving" in f.message and f.message.endswith("all at lr ≤ 3e-4")
    assert f.action == "raise train.epochs from 10 to 20, or raise lr's lower bound from 1e-4 to 1e-3"
    assert "/epoch over the last 5 epochs)" in f.message
    short = many(10)
    short[0] = trial(0, 0.55, val=improving(3), lr=2e-4)  # a 3-epoch run: its slope is over 3 epochs, not 5
    [f] = capped(record(short, epochs=3))
    assert "/epoch over the last 3 epochs)" in f.message and f.evidence["window"] == 3


def test_a_trial_that_stopped_early_or_flattened_is_not_capped():
    flat = [1.0, 0.6, 0.5, 0.45, 0.45, 0.46, 0.45, 0.47, 0.46, 0.46]
    trials = many(10)
    trials[0] = trial(0, 0.45, val=flat)
    trials[1] = trial(1, 0.5, val=improving(8))  # stopped before the cap of 10
    assert capped(record(trials, epochs=10)) == []


def test_the_best_trial_overfit_after_its_best_epoch():
    val = [1.0, 0.6, 0.4, 0.35, 0.4, 0.5, 0.6, 0.7]
    train = [1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02]
    trials = many(10)
    trials[0] = trial(0, 0.35, val=val, train=train)
    [f] = fit(record(trials))
    assert f.code == "best_overfit" and f.evidence["best_epoch"] == 4 and f.severity == "info"
    assert f.message.startswith("the best trial #0 overfit after epoch 4: validation loss 0.35 → 0.55")
    assert "raise weight_decay (best 1e-4 of ≤ 0.01) or dropout (best 0.2 of ≤ 0.4)" in f.action
    big_gap = trial(0, 0.2, val=[v + 0.35 for v in val], train=train)  # gap 0.5 ≥ 0.1 ln 10
    assert fit(record([big_gap, *trials[1:]]))[0].severity == "warning"


def test_a_best_trial_that_kept_improving_did_not_overfit_or_underfit():
    trials = many(10)
    trials[0] = trial(0, 0.2, val=[1.0, 0.5, 0.3, 0.2, 0.21, 0.2], train=[1.0, 0.4, 0.2, 0.1, 0.09, 0.09])
    assert fit(record(trials)) == []


def test_the_best_trial_underfit_against_ln_c():
    trials = many(10)
    trials[0] = trial(0, 0.2, val=[2.0, 1.5, 1.2], train=[2.1, 1.6, 1.1])
    [f] = fit(record(trials))
    assert f.code == "best_underfit" and f.evidence["chance_loss"] == pytest.approx(math.log(10))
    assert "48% of the chance loss 2.3" in f.message


# ---- the final model ---------------------------------------------------------------------------

def metrics(accuracy, log_loss, n=270):
    return {"n": n, "accuracy": accuracy, "log_loss": log_loss}


def test_an_ensemble_that_bought_no_accuracy_for_its_cost():
    summary = {"final_model": "ensemble",
               "single": {"trial": 0, "val": metrics(0.97, 0.093), "test": metrics(0.9741, 0.132)},
               "ensemble": {"members": [0, 1, 2, 3], "weights": [0.5, 0.5, 0.0, 0.0],
                            "val": metrics(0.97, 0.078), "test": metrics(0.9778, 0.101)}}
    [f] = ensemble(record(many(), **summary))
    assert f.code == "ensemble_no_gain" and f.severity == "warning" and f.evidence["cost"] == 2
    assert "bought no accuracy for 2× the prediction cost: +1/270 test rows, +0/270 validation rows" in f.message
    assert f.action == "set ensemble.enabled = false (unless its lower log loss, 0.132 → 0.101 on test, is worth 2×)"


def test_an_ensemble_that_gained_beyond_noise():
    summary = {"final_model": "ensemble",
               "single": {"trial": 0, "val": metrics(0.90, 0.3), "test": metrics(0.90, 0.3)},
               "ensemble": {"members": [0, 1, 2], "weights": [0.4, 0.3, 0.3], "val": metrics(0.93, 0.2),
                            "test": metrics(0.94, 0.2)}}
    [f] = ensemble(record(many(), **summary))
    assert f.code == "ensemble_gain" and f.severity == "info" and f.evidence["test_rows_gained"] == 11


def test_a_validation_to_test_gap_beyond_noise():
    summary = {"final_model": "single", "test": metrics(0.93, 0.3),
               "single": {"trial": 0, "val": metrics(0.99, 0.05), "test": metrics(0.93, 0.3)}}
    [f] = generalization(record(many(), **summary))
    assert f.code == "val_test_gap" and f.severity == "warning" and f.evidence["z"] > 1.96
    low, high = f.evidence["test_interval"]
    assert low < 0.93 < high and "data.folds" in f.action
    same = {**summary, "test": metrics(0.978, 0.1), "single": {"val": metrics(0.97, 0.09), "test": metrics(0.978, 0.1)}}
    assert generalization(record(many(), **same)) == []


def test_a_reopened_vault_is_an_error_and_listed_first():
    found = findings(record(many(8, weight_decay=1e-2), vault={"openings": 2}))
    assert found[0].code == "vault_reopened" and found[0].severity == "error"
    order = [findings_module.SEVERITIES.index(f.severity) for f in found]
    assert order == sorted(order, reverse=True)
    assert vault(record(many())) == []


def test_findings_of_a_run_just_started_or_empty():
    assert findings(RunRecord({}, ())) == []
    assert findings(RunRecord({"search": {"space": SPACE}}, [FrozenTrial(0, MIDDLE)])) == []


def test_a_finding_is_json_and_one_line():
    f = Finding("few_trials", "info", "8 complete trials", {"complete": 8}, "raise search.n_trials")
    assert f.to_dict() == {"code": "few_trials", "severity": "info", "message": "8 complete trials",
                           "evidence": {"complete": 8}, "action": "raise search.n_trials"}
    assert f.line() == "info: 8 complete trials → raise search.n_trials"


def test_thresholds_restate_the_diagnosis_and_the_doctests_hold():
    from knobs.diagnose._training import OVERFIT_GAP, SWING
    assert (findings_module.OVERFIT_GAP, findings_module.SWING) == (OVERFIT_GAP, SWING)
    assert doctest.testmod(findings_module).failed == 0


def test_a_failed_preflight_check_is_repeated_with_its_fix():
    checks = [{"name": "constant_features", "passed": False, "severity": "warning", "measured": {"n_constant": 4},
               "expected": "every feature varies in training",
               "message": "4 of 64 features are constant over the train rows; they carry no signal — drop them"},
              {"name": "initial_loss", "passed": True, "severity": "error", "measured": {}, "expected": "", "message": "ok"}]
    [f] = preflight(record(many(), preflight=checks))
    assert (f.code, f.severity, f.action, f.evidence["n_constant"]) == ("preflight", "warning", "drop them", 4)
    assert f.message == "preflight check constant_features: 4 of 64 features are constant over the train rows; they carry no signal"
    assert preflight(record(many(), preflight=checks[1:])) == []


def test_imbalanced_classes_treated_by_balance_are_noted_not_warned_about():
    checks = [{"name": "class_balance", "passed": False, "severity": "warning", "measured": {"counts": [140, 28]},
               "expected": "largest / smallest class count <= 3",
               "message": "imbalanced train classes: class 0 has 5x the rows of class 1 (counts [140, 28]); use class "
                          "weights or oversample the small classes within the training split"}]
    [untreated] = preflight(record(many(), preflight=checks))
    assert untreated.severity == "warning" and "use class weights" in untreated.message
    balance = {"class_weight": "none", "sampler": "oversample", "loss": "focal", "threshold": "none"}
    [treated] = preflight(record(many(), preflight=checks, practices={"balance": balance}))
    assert treated.severity == "info" and treated.evidence["counts"] == [140, 28]
    assert "treated by [balance] (sampler = 'oversample', loss = 'focal')" in treated.message
    threshold_only = {**balance, "sampler": "none", "loss": "ce", "threshold": "f1"}  # tunes the cut, trains as is
    assert preflight(record(many(), preflight=checks, practices={"balance": threshold_only}))[0].severity == "warning"


def test_learning_rates_and_weight_decay_as_choices():
    space = {"params": {"lr": {"type": "choice", "options": [1e-4, 1e-3]},
                        "weight_decay": {"type": "choice", "options": [0.0, 1e-4]}}}
    trials = [trial(0, 0.3, val=improving(), train=[0.9 - 0.09 * e for e in range(10)], lr=1e-4, weight_decay=0.0),
              *(trial(i, 0.5 + 0.01 * i, lr=1e-3) for i in range(1, 10))]
    run = record(trials, epochs=10, search={"direction": "minimize", "space": space})
    [f] = capped(run)
    assert f.action == "raise train.epochs from 10 to 20" and "lr ≤" not in f.message
    val = [1.0, 0.6, 0.4, 0.35, 0.4, 0.5, 0.6, 0.7]
    trials[0] = trial(0, 0.3, val=val, train=[1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02], lr=1e-4, weight_decay=0.0)
    [over] = fit(record(trials, search={"direction": "minimize", "space": space}))
    assert over.action.startswith("regularize: search weight_decay or dropout")


def test_a_check_that_breaks_is_one_finding_not_a_lost_run(monkeypatch):
    def broken(run):
        raise KeyError("surprise")
    monkeypatch.setattr(findings_module, "CHECKS", (broken, findings_module.vault))
    [f] = findings(record(many()))
    assert f.code == "advice_failed" and "broken check failed: KeyError" in f.message


# ---- noise: a flat noisy curve is no overfitting; gaps for regression and k-fold runs -----------

def noisy(level, n, sigma, seed, slope=0.0):
    rng = np.random.default_rng(seed)
    return [float(level + slope * e + sigma * rng.standard_normal()) for e in range(n)]


def test_a_flat_noisy_validation_curve_is_not_called_overfitting():
    """The lowest of 30 noisy epochs sits ~2σ under the curve by chance: the old rule (later mean 5%
    above the best) called this overfitting; the rise must beat the curve's own epoch-to-epoch noise."""
    val = [1.2, 0.8, 0.6] + noisy(0.5, 27, 0.04, seed=3)
    train = [0.4 * 0.93 ** e for e in range(30)]  # still falling: memorizing
    trials = many(10)
    trials[0] = trial(0, min(val), val=val, train=train)
    k = trials[0].attrs["best_epoch"]
    after = val[k:]
    assert np.mean(after) - val[k - 1] >= findings_module.RISE * val[k - 1]  # what the old rule fired on
    assert fit(record(trials)) == []


def test_a_true_overfit_under_the_same_noise_is_still_found():
    val = [1.2, 0.8, 0.6, 0.5] + noisy(0.52, 16, 0.04, seed=3, slope=0.03)
    train = [0.4 * 0.85 ** e for e in range(20)]
    trials = many(10)
    trials[0] = trial(0, min(val), val=val, train=train)
    [f] = fit(record(trials))
    assert f.code == "best_overfit" and f.evidence["val_rise"] > f.evidence["rise_needed"] > 0
    assert 0.02 < f.evidence["val_noise"] < 0.08 and "epoch-to-epoch noise ±" in f.message


def regression(rmse, n, interval=None):
    split = {"n": n, "rmse": rmse, "mae": rmse * 0.8, "r2": 0.5}
    if interval:
        split["intervals"] = {"rmse": list(interval), "r2": [0.4, 0.6]}
    return split


def test_a_regression_runs_validation_to_test_gap_is_read_on_rmse_with_its_interval():
    reg = {"data": {"task": "regression", "n": 1000}, "final_model": "single"}
    test = regression(60.0, 200, interval=(55.0, 65.0))
    summary = {**reg, "test": test, "single": {"trial": 0, "val": regression(48.0, 200), "test": test}}
    [f] = generalization(record(many(), **summary))
    assert f.code == "val_test_gap" and f.severity == "warning" and f.evidence["metric"] == "rmse"
    assert f.evidence["test_interval"] == [55.0, 65.0] and f.evidence["z"] > 1.96
    low, high = f.evidence["val_interval"]
    assert low < 48.0 < high and high - low == pytest.approx(10.0)  # the test's width, n_val = n_test
    assert "validation RMSE 48 (" in f.message and "test 60 (55–65)" in f.message
    close = {**summary, "single": {"trial": 0, "val": regression(58.0, 200), "test": test}}
    assert generalization(record(many(), **close)) == []
    no_interval = {**summary, "test": regression(60.0, 200), "single": {"val": regression(48.0, 200)}}
    assert generalization(record(many(), **no_interval)) == []  # no noise known: nothing claimed


def folds(accuracies=None, losses=None):
    n = len(accuracies or losses)
    return {"per_fold": [{"val_loss": (losses or [0.3] * n)[i], **({"val_accuracy": accuracies[i]} if accuracies else {}),
                          "best_epoch": 5, "epochs_run": 8} for i in range(n)]}


def test_a_k_fold_runs_gap_compares_the_folds_mean_with_the_refits_test():
    base = {"final_model": "refit", "data": {"task": "classification", "n_classes": 10, "n": 1797}}
    summary = {**base, "cv": folds([0.97, 0.98, 0.975, 0.972, 0.978]), "test": metrics(0.92, 0.3)}
    [f] = generalization(record(many(), **summary))
    assert f.evidence["source"] == "k-fold" and f.evidence["n_val"] == 1797 - 270
    assert "binomial" in f.evidence["val_interval_method"] and "cross-validated accuracy 0.9750" in f.message
    assert "folds" in f.action and f.severity == "warning"
    spread = {**summary, "cv": folds([0.99, 0.90, 0.99, 0.90, 0.99])}  # folds this unsure: the test fits
    assert generalization(record(many(), **spread)) == []


def test_a_k_fold_regression_runs_gap_is_read_on_r2():
    base = {"final_model": "refit", "data": {"task": "regression", "n": 500}}
    test = {"n": 100, "rmse": 50.0, "r2": 0.40, "intervals": {"r2": [0.30, 0.50], "rmse": [45.0, 55.0]}}
    summary = {**base, "cv": folds(losses=[0.28, 0.30, 0.26, 0.31, 0.29]), "test": test}  # R² ≈ 0.71 over folds
    [f] = generalization(record(many(), **summary))
    assert f.evidence["metric"] == "r2" and f.evidence["val_r2"] == pytest.approx(0.712)
    assert f.evidence["test_interval"] == [0.30, 0.50] and f.severity == "warning"
    near = {**summary, "test": {**test, "r2": 0.70, "intervals": {"r2": [0.6, 0.8]}}}
    assert generalization(record(many(), **near)) == []


def test_the_learning_curves_draw_the_balanced_accuracy_a_run_searched_on():
    from knobs.report._figures import learning_curves

    curve = {"epoch": [1, 2], "train_loss": [0.7, 0.5], "val_loss": [0.6, 0.5], "val_accuracy": [0.8, 0.85],
             "val_balanced_accuracy": [0.6, 0.7], "lr": [1e-3, 1e-3]}
    names = [trace.name for trace in learning_curves(curve, 2, 0).data]
    assert "validation balanced accuracy" in names and "validation accuracy" in names
    assert "validation balanced accuracy" not in [t.name for t in learning_curves({**curve, "val_balanced_accuracy": [None, None]}, 2, 0).data]
