"""Ensembles on digits: trial ensembles, snapshot ensembles, SWA, and scikit-learn members.

Data: scikit-learn's bundled digits (1,797 8x8 images), a stratified 60/20/20 train/val/test
split per seed, standardized per feature with train statistics. Every choice (top trials,
greedy weights, fitted weights, stacking) is made on validation; test is read for the figures.

Arms, per seed (all MLPs with batch norm, depth 2, Adam, batch 64, one CPU thread):

(a) a knobs Study (Random sampler, 20 trials) over lr, width and dropout, each trial trained
    with early stopping (patience 6, best weights restored) and its model kept; the average of
    the top 5 by validation loss vs the best single trial. Also on the top 5: majority vote,
    weights fitted on validation (``fit_weights``), stacking; greedy selection over all 20.
    The binomial table (``binomial_table``) of the top 5 on test is printed for the first seed.
(b) with the best trial's configuration, a snapshot ensemble (``CycleSnapshots``, M = 5 cosine
    cycles with warm restarts over 50 epochs) vs one run of 50 epochs under plain cosine
    annealing; the last snapshot alone is shown too.
(c) the same configuration at a constant learning rate for 50 epochs with ``SWA`` from epoch 26
    (batch norm recomputed at the end) vs the final weights of that same run.
(d) scikit-learn members trained on the same training split — logistic regression, random
    forest, RBF SVM with Platt-calibrated probabilities (``CalibratedClassifierCV``, what
    scikit-learn 1.9 recommends over ``SVC(probability=True)``) — plus the best net, combined by greedy selection with
    replacement (Caruana) on validation, vs the best net and each scikit-learn model alone; the
    plain average and ``fit_weights`` of the four are shown too.

Run: ``.venv/bin/python bench/ensemble.py [--seeds 5] [--trials 20]``. Prints a table, writes
bench/results/ensemble.json; the last line is one JSON object with the mean test errors.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.svm import SVC

from knobs import Float, Int, Space, Study
from knobs.data import Standardizer, load_dataset, split
from knobs.ensemble import (SWA, CycleSnapshots, SklearnMember, Stacking, TorchMember, average, binomial_table,
                            fit_weights, greedy_selection, member_probs, snapshot_schedule, vote)
from knobs.models import MLP
from knobs.search import Random
from knobs.train import Diverged, EarlyStopping, Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "ensemble.json"
SPACE = Space({"lr": Float(3e-4, 3e-2, log=True), "width": Int(32, 256, log=True), "dropout": Float(0.0, 0.5)})
EPOCHS = 50
CYCLES = 5
TOP = 5


def prepare(seed: int) -> dict[str, Any]:
    """Stratified 60/20/20 split, standardized with train statistics, as float32 tensors."""
    splits = split(load_dataset("digits"), val=0.2, test=0.2, seed=seed)
    scaler = Standardizer("feature").fit(splits.train[0])
    out = {}
    for name, (X, y) in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        out[name] = (torch.as_tensor(scaler.transform(X), dtype=torch.float32), torch.as_tensor(y, dtype=torch.long))
    return out


def build(config: dict, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MLP((64,), 10, width=int(config["width"]), depth=2, dropout=float(config["dropout"]), batch_norm=True)


def trainer(config: dict, seed: int, **kw: Any) -> Trainer:
    settings = {"optimizer": "adam", "lr": float(config["lr"]), "batch_size": 64, "device": "cpu", "seed": seed}
    return Trainer(**{**settings, **kw})


def error(probs: np.ndarray, y: torch.Tensor) -> float:
    return float(np.mean(probs.argmax(axis=1) != y.numpy()))


def nll(probs: np.ndarray, y: torch.Tensor) -> float:
    return round(float(log_loss(y.numpy(), probs, labels=list(range(probs.shape[1])))), 4)


def trial_ensembles(data: dict, seed: int, n_trials: int) -> tuple[dict, dict, TorchMember]:
    """(a): the study, its top 5 combined several ways; returns figures, the best config, the best net."""
    models: dict[int, torch.nn.Module] = {}

    def objective(config: dict, trial: Any) -> float:
        model = build(config, seed * 1000 + trial.number)
        try:
            history = trainer(config, seed * 1000 + trial.number, epochs=60,
                              early_stopping=EarlyStopping(patience=6)).fit(model, data["train"], data["val"])
        except Diverged:
            return float("nan")  # recorded as a failed trial
        models[trial.number] = model
        return float(history.best["val_loss"])

    study = Study(SPACE, sampler=Random(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    ranked = sorted((t for t in study.trials if t.value is not None and t.number in models), key=lambda t: t.value)
    members = [TorchMember(models[t.number], name=f"trial-{t.number}") for t in ranked]
    (_, y_val), (X_test, y_test) = data["val"], data["test"]
    val, test = member_probs(members, data["val"][0]), member_probs(members, X_test)
    top_val, top_test = val[:TOP], test[:TOP]
    greedy = greedy_selection(val, y_val.numpy(), size=25)
    stacking = Stacking(cv=5, seed=seed).fit(top_val, y_val.numpy())
    figures = {
        "best_single": error(top_test[0], y_test),
        "top5_average": error(average(top_test), y_test),
        "top5_vote": float(np.mean(vote(top_test) != y_test.numpy())),
        "top5_fitted_weights": error(average(top_test, fit_weights(top_val, y_val.numpy())), y_test),
        "top5_stacking": error(stacking.predict_proba(top_test), y_test),
        "greedy_all_trials": error(average(test, greedy.weights), y_test),
        "top5_member_errors": [error(p, y_test) for p in top_test],
        "binomial": binomial_table(top_test, y_test.numpy()),
    }
    return figures, ranked[0].config, members[0]


def snapshots_vs_single(data: dict, config: dict, seed: int) -> dict:
    """(b): M cosine cycles with warm restarts vs one cosine-annealed run of the same epochs."""
    snaps = CycleSnapshots()
    model = build(config, seed)
    trainer(config, seed, epochs=EPOCHS, schedule=snapshot_schedule(CYCLES, EPOCHS),
            callbacks=[snaps]).fit(model, data["train"], data["val"])
    single = build(config, seed)
    trainer(config, seed, epochs=EPOCHS, schedule="cosine").fit(single, data["train"], data["val"])
    X_test, y_test = data["test"]
    probs = member_probs(snaps.members(model), X_test)
    return {"snapshot_ensemble": error(average(probs), y_test), "last_snapshot": error(probs[-1], y_test),
            "single_run_cosine": error(TorchMember(single).predict_proba(X_test), y_test),
            "n_snapshots": len(probs)}


def swa_vs_final(data: dict, config: dict, seed: int) -> dict:
    """(c): SWA over the second half of a constant-LR run vs that run's final weights."""
    swa = SWA(start=EPOCHS // 2 + 1)
    model = build(config, seed)
    trainer(config, seed, epochs=EPOCHS, callbacks=[swa]).fit(model, data["train"], data["val"])
    X_test, y_test = data["test"]
    return {"swa": error(swa.member().predict_proba(X_test), y_test),
            "final_weights": error(TorchMember(model).predict_proba(X_test), y_test),
            "swa_n_averaged": swa.n_averaged_}


def sklearn_with_net(data: dict, best_net: TorchMember, seed: int) -> dict:
    """(d): LR, RF, SVM and the best net, combined by greedy selection on validation."""
    X_train, y_train = data["train"]
    members = [best_net,
               SklearnMember(LogisticRegression(C=0.1, max_iter=2000), n_classes=10, name="logreg"),
               SklearnMember(RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=1), n_classes=10,
                             name="forest"),
               SklearnMember(CalibratedClassifierCV(SVC(random_state=seed), ensemble=False), n_classes=10, name="svm")]
    for m in members[1:]:
        m.fit(X_train, y_train)
    (X_val, y_val), (X_test, y_test) = data["val"], data["test"]
    val, test = member_probs(members, X_val), member_probs(members, X_test)
    sel = greedy_selection(val, y_val.numpy(), size=25)
    out = {f"{m.name}": error(p, y_test) for m, p in zip(members[1:], test[1:])}
    fitted = fit_weights(val, y_val.numpy())
    out.update(net=best_net.name, best_net=error(test[0], y_test), greedy=error(average(test, sel.weights), y_test),
               average=error(average(test), y_test), fitted_weights=error(average(test, fitted), y_test),
               greedy_weights={m.name: round(float(w), 3) for m, w in zip(members, sel.weights)},
               fitted=[round(float(w), 3) for w in fitted],
               log_loss={m.name: [nll(v, y_val), nll(t, y_test)] for m, v, t in zip(members, val, test)})
    return out


def print_binomial(rows: list[dict]) -> None:
    print("  binomial argument, top trials on test (first n members, best first):")
    print("     n  mean member err  disagreement  err corr  vote err (measured)  vote err (independent)")
    for r in rows:
        corr = "   -  " if r["error_correlation"] is None else f"{r['error_correlation']:6.3f}"
        print(f"  {r['n']:4d}  {r['mean_member_error']:15.4f}  {r['pairwise_disagreement']:12.4f}  {corr:>8s}  "
              f"{r['majority_vote_error']:19.4f}  {r['independent_majority_error']:22.4f}")


def one_seed(seed: int, n_trials: int) -> dict:
    start = time.perf_counter()
    data = prepare(seed)
    trials, config, best_net = trial_ensembles(data, seed, n_trials)
    row = {"seed": seed, "best_config": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in config.items()},
           "trials": trials, "snapshots": snapshots_vs_single(data, config, seed),
           "swa": swa_vs_final(data, config, seed), "sklearn": sklearn_with_net(data, best_net, seed)}
    row["wall_s"] = round(time.perf_counter() - start, 1)
    return row


def print_row(row: dict) -> None:
    t, s, w, k = row["trials"], row["snapshots"], row["swa"], row["sklearn"]
    print(f"seed {row['seed']}  ({row['wall_s']} s)  best config {row['best_config']}")
    print(f"  (a) best single {t['best_single']:.4f} | top-5 average {t['top5_average']:.4f}  vote "
          f"{t['top5_vote']:.4f}  fitted weights {t['top5_fitted_weights']:.4f}  stacking {t['top5_stacking']:.4f}"
          f" | greedy over all trials {t['greedy_all_trials']:.4f}")
    print(f"  (b) one cosine run {s['single_run_cosine']:.4f} | snapshot ensemble ({s['n_snapshots']}) "
          f"{s['snapshot_ensemble']:.4f}  last snapshot {s['last_snapshot']:.4f}")
    print(f"  (c) final weights {w['final_weights']:.4f} | SWA ({w['swa_n_averaged']} epochs) {w['swa']:.4f}")
    print(f"  (d) best net {k['best_net']:.4f}  logreg {k['logreg']:.4f}  forest {k['forest']:.4f}  svm "
          f"{k['svm']:.4f} | greedy {k['greedy']:.4f}  weights {k['greedy_weights']} | average {k['average']:.4f}  "
          f"fitted weights {k['fitted_weights']:.4f} {k['fitted']}")
    print(f"      log loss [val, test]: {k['log_loss']}", flush=True)


def headline(rows: list[dict], n_trials: int, wall: float) -> dict:
    def mean(part: str, key: str) -> float:
        return round(statistics.mean(r[part][key] for r in rows), 4)

    figures = {
        "bench": "ensemble", "data": "digits", "seeds": len(rows), "trials": n_trials, "metric": "test_error",
        "best_single_trial": mean("trials", "best_single"), "top5_average": mean("trials", "top5_average"),
        "top5_vote": mean("trials", "top5_vote"), "top5_fitted_weights": mean("trials", "top5_fitted_weights"),
        "top5_stacking": mean("trials", "top5_stacking"), "greedy_all_trials": mean("trials", "greedy_all_trials"),
        "single_run_cosine": mean("snapshots", "single_run_cosine"),
        "snapshot_ensemble_5_cycles": mean("snapshots", "snapshot_ensemble"),
        "last_snapshot": mean("snapshots", "last_snapshot"),
        "final_weights_constant_lr": mean("swa", "final_weights"), "swa": mean("swa", "swa"),
        "best_net": mean("sklearn", "best_net"), "logreg": mean("sklearn", "logreg"),
        "random_forest": mean("sklearn", "forest"), "svm": mean("sklearn", "svm"),
        "greedy_sklearn_plus_net": mean("sklearn", "greedy"), "average_sklearn_plus_net": mean("sklearn", "average"),
        "fitted_weights_sklearn_plus_net": mean("sklearn", "fitted_weights"),
        "best_net_log_loss_val": net_log_loss(rows, 0), "best_net_log_loss_test": net_log_loss(rows, 1),
        "wall_s": round(wall, 1),
    }
    return figures


def net_log_loss(rows: list[dict], split_index: int) -> float:
    """Mean over seeds of the best net's log loss on validation (0) or test (1)."""
    return round(statistics.mean(r["sklearn"]["log_loss"][r["sklearn"]["net"]][split_index] for r in rows), 4)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        rows.append(one_seed(seed, args.trials))
        print_row(rows[-1])
        if seed == 0:
            print_binomial(rows[-1]["trials"]["binomial"])
    figures = headline(rows, args.trials, time.perf_counter() - start)
    print(f"\nmean test error over {len(rows)} seeds:")
    pairs = [("best single trial", "best_single_trial"), ("top-5 average", "top5_average"),
             ("one cosine run", "single_run_cosine"), ("snapshot ensemble (5 cycles)", "snapshot_ensemble_5_cycles"),
             ("final weights (constant LR)", "final_weights_constant_lr"), ("SWA", "swa"),
             ("best net", "best_net"), ("SVM", "svm"), ("greedy: LR + RF + SVM + net", "greedy_sklearn_plus_net"),
             ("average: LR + RF + SVM + net", "average_sklearn_plus_net")]
    for label, key in pairs:
        print(f"  {label:32s} {figures[key]:.4f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"headline": figures, "rows": rows}, indent=1))
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
