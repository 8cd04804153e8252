"""`knobs run --autopilot`: the remedy table, the two questions, the keep rule, fixed trials of a
study, bad input, and the walk end to end on digits (a learning rate 100x too low, a change that
must be rejected, a run killed mid-walk that resumes without redoing finished steps)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

import knobs
from knobs.cli import main
from knobs.config import load_config, parse_config
from knobs.diagnose import CODES
from knobs.diagnose._finding import finding
from knobs.errors import ConfigError
from knobs.pipeline import Display, run
from knobs.pipeline.autopilot._gain import judge, per_row
from knobs.pipeline.autopilot._questions import answer, curve_problems
from knobs.pipeline.autopilot._remedies import KNOBS, REMEDIES, Setting, again, candidates
from knobs.search import Bayes, Random
from knobs.trial import Pruned, TrialState

torch.set_num_threads(1)

MLP = {"lr": 1e-3, "weight_decay": 0.0, "batch_size": 64, "epochs": 10, "clip_grad_norm": None,
       "width": 128, "depth": 2, "activation": "relu", "dropout": 0.0, "batch_norm": False}


def _setting(params, images=False, **defaults):
    return Setting(params=params, defaults={**MLP, **({"augment": {}} if images else {}), **defaults}, n_train=1000)


# ---- the remedy table (pure) -------------------------------------------------------------------

def test_lr_too_low_raises_the_rate_tenfold_then_threefold():
    changes = candidates(["lr_too_low"], _setting({"lr": 1e-5}))
    assert [(c.knob, c.before, c.after) for c in changes] == [("lr", {"lr": 1e-5}, {"lr": 1e-4}),
                                                              ("lr", {"lr": 1e-5}, {"lr": 3e-5})]
    assert changes[0].question == "fit" and "10x" in changes[0].reason
    down = candidates(["lr_too_high"], _setting({"lr": 0.3}))
    assert [c.after for c in down] == [{"lr": 0.03}, {"lr": 0.1}, {"clip_grad_norm": 1.0}]


def test_overfitting_regularizes_and_augments_only_images():
    tabular = candidates(["overfitting"], _setting({"dropout": 0.1, "weight_decay": 1e-4}))
    assert [c.after for c in tabular] == [{"dropout": 0.3}, {"weight_decay": 1e-3}, {"width": 64}]
    assert {c.question for c in tabular} == {"generalize"}
    images = candidates(["generalization_gap"], _setting({}, images=True))
    assert {"augment.rotation": 10.0, "augment.translate": 0.1} in [c.after for c in images]
    assert [c.after for c in images][:2] == [{"dropout": 0.2}, {"weight_decay": 1e-4}]  # none before: a first value
    augmented = candidates(["overfitting"], _setting({"augment.rotation": 5.0}, images=True))
    assert not any(c.knob == "augment" for c in augmented)  # already augmenting


def test_remedies_respect_the_model_the_caps_and_the_allowed_knobs():
    dead = candidates(["dead_relu"], _setting({"lr": 0.03}))
    assert [c.after for c in dead] == [{"lr": 0.01}, {"activation": "leaky_relu"}]
    no_activation = Setting(params={"lr": 0.03}, defaults={"lr": 1e-3})  # a family without the knob
    assert [c.knob for c in candidates(["dead_relu"], no_activation)] == ["lr"]
    assert [c.knob for c in candidates(["dead_relu"], _setting({"lr": 0.03}), allowed=["activation"])] == ["activation"]
    capped = candidates(["overfitting"], _setting({"dropout": 0.5, "width": 8}))
    assert [c.knob for c in capped] == ["weight_decay"]  # dropout at its cap, width at its floor
    assert candidates(["exploding_gradients"], _setting({"clip_grad_norm": 5.0}))[0].knob == "lr"
    batch = candidates(["noisy_loss"], Setting({"batch_size": 800}, MLP, n_train=1000))
    assert batch[0].after == {"batch_size": 1000}  # never past the training rows
    both = candidates(["underfitting", "still_improving"], _setting({}))
    assert [c.after for c in both].count({"epochs": 20}) == 1  # proposed twice, tried once
    stopped = Setting({}, MLP, n_train=1000, stopped_early=True)  # the same seed would stop at the same epoch
    assert not any(c.knob == "epochs" for c in candidates(["underfitting", "still_improving"], stopped))
    assert [c.knob for c in both][:2] == ["width", "depth"]


def test_every_code_has_remedies_or_is_reported_as_not_for_the_autopilot():
    questions = {"still_improving", "generalization_gap"}
    assert set(REMEDIES) <= set(CODES) | questions
    not_actionable = {"nonfinite_inputs", "bad_labels", "unscaled_inputs", "unscaled_target", "constant_features",
                      "split_overlap", "class_imbalance", "gradient_mismatch", "init_loss",
                      "no_nonlinearity",  # knobs' own families always put an activation between layers
                      "outputs_not_logits",  # a fix of the model's code (its last layer), no hyperparameter's
                      "no_signal",  # a fix of the data (X and y out of line)
                      "batch_mixing",  # a fix of the model's code (an axis)
                      "constant_label"}  # a fix of the data (a multi-label target the training split never varies)
    assert set(CODES) - set(REMEDIES) == not_actionable  # a new diagnosis code must be decided on here
    assert set(KNOBS) >= {"lr", "epochs", "width", "channels", "depth", "dropout", "weight_decay", "augment"}


def test_a_kept_change_is_tried_once_more_in_the_same_direction():
    assert again("cannot_overfit", "width", _setting({"width": 6})).after == {"width": 12}
    assert again("lr_too_low", "lr", _setting({"lr": 1e-4})).after == {"lr": 1e-3}
    assert again("dead_relu", "activation", _setting({"activation": "leaky_relu"})) is None  # a swap goes once
    assert again("overfitting", "width", _setting({"width": 8})) is None


# ---- the two questions (pure) ------------------------------------------------------------------

def _attrs(train, val, best, run):
    epochs = list(range(1, len(train) + 1))
    return {"curve": {"epoch": epochs, "train_loss": train, "val_loss": val}, "best_epoch": best, "epochs_run": run}


def test_curve_questions_still_improving_and_generalization_gap():
    chance = math.log(10)
    still = curve_problems(_attrs([1.0, 0.5, 0.3], [1.0, 0.6, 0.4], best=3, run=3), epoch_budget=3, chance_loss=chance)
    assert [p.code for p in still] == ["still_improving"]
    stopped = curve_problems(_attrs([1.0, 0.5, 0.3], [1.0, 0.6, 0.7], best=2, run=3), epoch_budget=10, chance_loss=chance)
    assert stopped == []
    gap = curve_problems(_attrs([0.5, 0.02, 0.01], [0.6, 0.3, 0.5], best=2, run=3), epoch_budget=10, chance_loss=chance)
    assert [p.code for p in gap] == ["generalization_gap"]  # 0.28 >= 0.1 * ln 10 = 0.23
    near = curve_problems(_attrs([0.5, 0.1, 0.01], [0.6, 0.3, 0.5], best=2, run=3), epoch_budget=10, chance_loss=chance)
    assert near == []  # 0.20 < 0.23


def test_answers_put_fitting_first_ignore_info_and_report_what_is_not_actionable():
    findings = [finding("overfitting", "warning", "gap"), finding("lr_too_low", "warning", "slow"),
                finding("noisy_loss", "info", "explained"), finding("class_imbalance", "warning", "10:1")]
    answers = answer(findings, curve_problems(_attrs([1.0, 0.5], [1.0, 0.6], 2, 2), 2, math.log(10)))
    assert not answers.fits and not answers.generalizes
    assert answers.codes == ["lr_too_low", "still_improving", "overfitting"]
    assert [p.code for p in answers.other] == ["class_imbalance"]
    assert answers.to_dict()["not_actionable"][0]["action"].startswith("Use class weights")
    healthy = answer([finding("constant_features", "info", ".")], [])
    assert healthy.fits and healthy.generalizes and healthy.codes == []  # "nothing to fix"


# ---- the keep rule (pure) ----------------------------------------------------------------------

def test_per_row_means_are_the_metrics():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=50)
    y = rng.integers(0, 3, size=50)
    assert per_row(probs, y, "val_loss", "classification").mean() == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]))
    assert per_row(probs, y, "val_accuracy", "classification").mean() == pytest.approx(np.mean(probs.argmax(1) == y))
    from sklearn.metrics import balanced_accuracy_score

    skewed = np.r_[np.zeros(40, dtype=int), y[:10]]  # imbalanced: the balanced mean weights each class alike
    assert per_row(probs, skewed, "val_balanced_accuracy", "classification").mean() == pytest.approx(
        balanced_accuracy_score(skewed, probs.argmax(1)))
    assert per_row(np.array([1.0, 2.0]), np.array([0.0, 0.0]), "val_loss", "regression").tolist() == [1.0, 4.0]


def test_a_gain_must_beat_its_paired_standard_error_and_min_gain():
    rng = np.random.default_rng(1)
    before = rng.gamma(2.0, 0.2, size=300)
    wobble = rng.normal(0.0, 0.05, size=300)
    noise = before + wobble - wobble.mean() - 0.002  # exactly 0.002 better on average; se about 0.003
    assert not judge(before, noise, "minimize").kept
    clear = judge(before, before * 0.8, "minimize")
    assert clear.kept and clear.gain == pytest.approx(0.2 * before.mean()) and clear.margin == pytest.approx(clear.se)
    assert not judge(before, before * 0.8, "minimize", min_gain=1.0).kept
    assert judge(before, noise, "minimize", margin_se=0.0).kept  # no noise margin: any gain counts
    assert judge(before, noise, "minimize", margin_se=0.5).kept  # 0.002 is about 0.7 standard errors
    acc_before, acc_after = np.r_[np.zeros(50), np.ones(250)], np.ones(300)
    assert judge(acc_before, acc_after, "maximize").kept and not judge(acc_after, acc_before, "maximize").kept


# ---- fixed trials of a study ------------------------------------------------------------------

class _AlwaysPrune:
    def prune(self, trial, trials, *, direction):
        return True


def test_ask_fixed_stores_any_config_is_never_retried_and_samplers_skip_it(tmp_path):
    space = knobs.Space({"x": knobs.Float(0.0, 1.0)})
    study = knobs.Study(space, sampler=Random(seed=0), pruner=_AlwaysPrune(), storage=f"sqlite:///{tmp_path}/s.db")
    trial = study.ask_fixed({"x": 5.0, "width": 3}, attrs={"why": "outside the space"}, prune=False)
    trial.report(1, 0.5)  # never pruned
    study.tell(trial, 0.1)
    assert study.trials[0].config == {"x": 5.0, "width": 3} and study.trials[0].attrs["fixed"] is True
    with pytest.raises(Pruned):
        study.ask_fixed({"x": 0.5}).report(1, 0.5)
    study.storage.finish_trial(study._id, 1, TrialState.FAILED, None, {"fail_reason": "abandoned: process died"})
    study.pruner = None
    study.optimize(lambda c, t: c["x"], n_trials=1)
    assert len(study.trials) == 3 and "retry_of" not in study.trials[2].attrs  # no retry of the fixed trial
    assert Bayes(seed=0).suggest(space, study.trials, 1)[0]["x"] <= 1.0  # the fixed config is left out


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, key", [({"max_steps": 0}, "autopilot.max_steps"), ({"min_gain": -0.1}, "autopilot.min_gain"),
                                      ({"margin_se": -1}, "autopilot.margin_se"), ({"max_step": 3}, "autopilot.max_step"),
                                      ({"enabled": "maybe"}, "autopilot.enabled")])
def test_bad_autopilot_values_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config({"autopilot": raw})


FAST = {"search.sampler": "random", "search.n_trials": 2, "train.epochs": 6, "train.patience": 3,
        "checks.overfit_tiny": False,
        "search.space": {"lr": 1e-5, "optimizer": "adam", "width": {"low": 16, "high": 32}, "depth": 1}}


@pytest.mark.parametrize("keys, message", [(["widht"], "unknown knob 'widht' (did you mean 'width'?)"),
                                           (["augment"], "needs image data"),
                                           (["channels"], "not a hyperparameter of model family 'mlp'"),
                                           ([], "empty")])
def test_knobs_the_run_cannot_turn_stop_it_before_any_work(tmp_path, capsys, keys, message):
    path = tmp_path / "c.toml"
    path.write_text(f"[autopilot]\nkeys = {json.dumps(keys)}\n[search.space]\nlr = 1e-3\nwidth = {{ low = 16, high = 32 }}\n")
    runs = tmp_path / "runs"
    assert main(["run", "-c", str(path), "--runs-dir", str(runs), "--autopilot", "-q"]) == 2
    err = capsys.readouterr().err
    assert "autopilot.keys" in err and message in err and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())


def test_autopilot_with_folds_is_refused_before_any_work(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[data]\nsource = \"iris\"\nfolds = 3\n[search.space]\nlr = 1e-3\nwidth = { low = 16, high = 32 }\n")
    runs = tmp_path / "runs"
    assert main(["run", "-c", str(path), "--runs-dir", str(runs), "--autopilot", "-q"]) == 2
    err = capsys.readouterr().err
    assert "data.folds = 3" in err and "autopilot" in err and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())


# ---- the walk, end to end ----------------------------------------------------------------------

def _events(path):
    return [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_autopilot_fixes_a_learning_rate_100x_too_low(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[search]\nsampler = "random"\nn_trials = 2\n[train]\nepochs = 6\npatience = 3\n'
                    '[checks]\noverfit_tiny = false\n[autopilot]\nmax_steps = 1\n'
                    '[search.space]\nlr = 1e-5\noptimizer = "adam"\nwidth = { low = 16, high = 32 }\ndepth = 1\n')
    assert main(["run", "-c", str(path), "--runs-dir", str(tmp_path / "runs"), "--name", "low", "--autopilot", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "Autopilot: val_loss" in printed and "lr_too_low" in printed and "kept" in printed
    d = tmp_path / "runs/low"
    summary = json.loads((d / "summary.json").read_text())
    ap = summary["autopilot"]
    (step,) = ap["steps"]
    assert (step["code"], step["knob"], step["before"], step["after"]) == ("lr_too_low", "lr", {"lr": 1e-5}, {"lr": 1e-4})
    assert step["kept"] and step["outcome"] == "kept" and step["gain"] > step["margin"] > 0
    assert step["value_after"] < step["value_before"] - 0.1  # validation loss clearly better
    assert ap["end"]["trial"] == step["trial"] != ap["start"]["trial"] and ap["end"]["config"]["lr"] == 1e-4
    assert ap["end"]["config"]["width"] == ap["start"]["config"]["width"]  # one change at a time
    assert ap["stopped"] == "max_steps" and not ap["rounds"][0]["fits"]
    assert summary["best_trial"]["number"] == step["trial"]  # the final evaluation sees the step's model
    assert step["trial"] in ((summary.get("ensemble") or {}).get("members") or [summary["single"]["trial"]])
    events = _events(d)
    kinds = [e["event"] for e in events]
    assert kinds.index("autopilot_start") < kinds.index("autopilot_step") < kinds.index("autopilot_end") < kinds.index("test")
    logged = next(e for e in events if e["event"] == "autopilot_step")
    assert logged["after"] == {"lr": 1e-4} and logged["kept"] is True and logged["reason"]
    assert summary["vault"]["openings"] == 1
    page = (d / "report.html").read_text()
    assert "<h3>Autopilot</h3>" in page and "lr 1e-05 → 0.0001" in page and "class='pass'>kept" in page


@pytest.mark.slow
def test_a_change_below_the_margin_is_rejected_and_the_configuration_kept(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[search]\nsampler = "random"\nn_trials = 2\n[train]\nepochs = 6\npatience = 3\n'
                    '[checks]\noverfit_tiny = false\n[autopilot]\nmax_steps = 1\nmin_gain = 100.0\n'
                    '[search.space]\nlr = 1e-5\noptimizer = "adam"\nwidth = { low = 16, high = 32 }\ndepth = 1\n')
    assert main(["tune", "-c", str(path), "--runs-dir", str(tmp_path / "runs"), "--name", "r", "--autopilot", "-q"]) == 0
    summary = json.loads((tmp_path / "runs/r/summary.json").read_text())
    ap = summary["autopilot"]
    (step,) = ap["steps"]
    assert step["outcome"] == "rejected" and not step["kept"] and step["margin"] == 100.0
    assert step["value_after"] < step["value_before"]  # better, but not by min_gain
    assert ap["end"] == ap["start"] and ap["n_kept"] == 0 and ap["kept_changes"] == []
    assert summary["test"] is None and summary["vault"]["openings"] == 0  # tune: the vault stays sealed


@pytest.mark.slow
def test_a_run_killed_mid_walk_resumes_without_redoing_finished_steps(tmp_path, monkeypatch):
    from knobs.pipeline.trials._objective import TrialObjective

    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "k",
                             "autopilot.enabled": True, "autopilot.max_steps": 2})
    original = TrialObjective.__call__

    def killed_at_step_2(self, config, trial):
        if trial.attrs.get("autopilot", {}).get("step") == 2:
            raise KeyboardInterrupt
        return original(self, config, trial)

    monkeypatch.setattr(TrialObjective, "__call__", killed_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, display=Display(quiet=True))
    monkeypatch.setattr(TrialObjective, "__call__", original)
    first = _events(tmp_path / "runs/k")
    (step1,) = [e for e in first if e["event"] == "autopilot_step"]
    assert not (tmp_path / "runs/k/summary.json").exists()

    result = run(cfg, display=Display(quiet=True))
    steps = result.summary["autopilot"]["steps"]
    assert [s["step"] for s in steps] == [1, 2] and steps[0]["trial"] == step1["trial"]
    again = _events(tmp_path / "runs/k")[len(first):]
    assert [e["step"] for e in again if e["event"] == "autopilot_step"] == [2]  # step 1 was not trained again
    assert not any(e["event"] == "epoch" and e["trial"] == step1["trial"] for e in again)
    interrupted = [t for t in knobs.Study.load(f"sqlite:///{tmp_path}/runs/k/study.db").trials
                   if t.attrs.get("fail_reason", "").startswith("interrupted")]
    assert len(interrupted) == 1 and steps[1]["trial"] > interrupted[0].number
    assert result.summary["n_trials"] == 5 and result.summary["vault"]["openings"] == 1
