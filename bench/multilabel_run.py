"""`knobs run` on a multi-label image task: which digits does a strip of handwritten digits hold?

Why this task: no multi-label set ships offline, so one is composed from real images. Each example is a strip of
one to three of scikit-learn's 8 × 8 handwritten digits side by side (8 × 24 pixels, empty slots blank), labelled
with the set of digits it shows (10 labels; a strip may repeat a digit). Its labels are not a function of one class:
a row carries one, two or three of them, in any slot. Training strips are drawn from 70% of the digit images, test
strips from the other 30% (no image on both sides), so the test set is an official one, sealed as it is.

Compared on the same strips, every model fit on the same training rows (knobs holds out its validation rows from
them; the baselines fit on all of them) and scored by the same ``knobs.metrics.multilabel_metrics``:

- ``knobs run``: the default MLP family and space, Bayes, ``--trials`` trials, its ensemble when validation chooses it;
  scored at 0.5, and with a threshold per label tuned on validation for its F1 (``balance.threshold = "f1"``, the
  same run: "a threshold per label");
- ``knobs run``, ``model.family = "convnet"`` (its default space), both ways;
- one logistic regression per label (scikit-learn's ``OneVsRestClassifier``, standardized pixels);
- scikit-learn's ``MLPClassifier`` (multi-label output, its defaults: 100 hidden units, Adam, up to 200 epochs).

    .venv/bin/python bench/multilabel_run.py [--seeds 3] [--trials 12] [--strips 4000] [--rare] [--out bench/results/multilabel_run.json]

``--rare`` makes digits 7, 8 and 9 rare labels (their images drawn 1/20 as often: each on about 1% of the strips) and
compares what knobs offers for them: a threshold per label tuned on validation, and each label's positives weighed
in the loss (``balance.class_weight = "balanced"``), alone and together.

The last printed line is one JSON object with every figure (mean and per seed); ``--out`` writes it too.
"""

from __future__ import annotations

import functools
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import knobs
from knobs.metrics import multilabel_metrics

from _seeded import arms_parser, compare_arms, emit

SLOTS = 3
SHOWN = ("macro_f1", "micro_f1", "subset_accuracy", "accuracy", "roc_auc")


#: ``--rare``: digits 7, 8 and 9 are drawn this much less often than the others (each on about 1% of the strips)
RARE = (7, 8, 9)
RARE_WEIGHT = 0.05


def strips(images: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator,
           rare: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` strips of one to three digit images (random slots, the rest blank) and their 10 labels; ``rare``: the
    images of ``RARE`` digits drawn ``RARE_WEIGHT`` as often as the others."""
    X = np.zeros((n, 1, 8, 8 * SLOTS), np.float32)
    Y = np.zeros((n, 10), np.float32)
    weight = np.where(np.isin(classes, RARE), RARE_WEIGHT, 1.0) if rare else np.ones(len(classes))
    for i in range(n):
        count = rng.integers(1, SLOTS + 1)
        for slot in rng.choice(SLOTS, size=count, replace=False):
            j = rng.choice(len(images), p=weight / weight.sum())
            X[i, 0, :, 8 * slot:8 * slot + 8] = images[j] / 16.0
            Y[i, classes[j]] = 1.0
    return X, Y


def task(seed: int, n: int, rare: bool = False) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    data = load_digits()
    train_img, test_img, train_cls, test_cls = train_test_split(data.images, data.target, test_size=0.3,
                                                                random_state=seed, stratify=data.target)
    rng = np.random.default_rng(seed)
    return strips(train_img, train_cls, n, rng, rare), strips(test_img, test_cls, n // 3, rng, rare)


def knobs_run(train, test, seed: int, trials: int, family: str, runs: str, weighted: bool = False
              ) -> tuple[dict[str, dict], float]:
    """The final model's test metrics at 0.5, and with each label's threshold tuned on validation for its F1
    (``balance.threshold = "f1"``: the same search, model and vault opening, the cut decided on validation);
    ``weighted``: each label's positives weighed by its negatives over positives (``balance.class_weight``)."""
    start = time.perf_counter()
    name = f"knobs run ({family}{', labels weighted' if weighted else ''})"
    result = knobs.run(model=family, data={"train": train, "test": test}, quiet=True, runs_dir=runs, seed=seed,
                       n_trials=trials, name=f"{family}-{seed}-{int(weighted)}",
                       **{"balance.threshold": "f1", **({"balance.class_weight": "balanced"} if weighted else {})})
    return ({name: result.summary["test"], f"{name}, a threshold per label": result.summary["threshold"]["test"]},
            time.perf_counter() - start)


def _knobs_arm(train, test, seed: int, runs: str, *, trials: int, family: str, weighted: bool):
    return knobs_run(train, test, seed, trials, family, runs, weighted)


def baseline(name: str, model, train, test) -> tuple[dict[str, dict], float]:
    """Fit on the training strips (standardized), score the test strips' probabilities at 0.5."""
    start = time.perf_counter()
    scaler = StandardScaler().fit(train[0].reshape(len(train[0]), -1))
    model.fit(scaler.transform(train[0].reshape(len(train[0]), -1)), train[1].astype(int))
    proba = np.asarray(model.predict_proba(scaler.transform(test[0].reshape(len(test[0]), -1))))
    return {name: multilabel_metrics(test[1], proba)}, time.perf_counter() - start


def main() -> None:
    parser = arms_parser(__doc__)
    parser.add_argument("--strips", type=int, default=4000, help="training strips (test: a third as many)")
    parser.add_argument("--rare", action="store_true", help="digits 7, 8, 9 rare (about 1%% of the strips each); "
                                                                "the ConvNet arm is left out, a label-weighted MLP run added")
    args = parser.parse_args()
    runs_of = [("mlp", False), ("mlp", True)] if args.rare else [("mlp", False), ("convnet", False)]
    arms = {
        **{f"{family}{weighted}": functools.partial(_knobs_arm, trials=args.trials, family=family, weighted=weighted)
           for family, weighted in runs_of},
        "logreg": lambda tr, te, s, runs: baseline("logistic regression per label",
                                                   OneVsRestClassifier(LogisticRegression(max_iter=2000)), tr, te),
        "sk_mlp": lambda tr, te, s, runs: baseline("sklearn MLPClassifier", MLPClassifier(random_state=s, max_iter=200),
                                                   tr, te),
    }
    means, per_seed = compare_arms(arms, lambda seed: task(seed, args.strips, args.rare), args.seeds, SHOWN)
    emit({"bench": "multilabel_run", "rare": args.rare, "seeds": args.seeds, "trials": args.trials, "strips": args.strips,
          "test_strips": args.strips // 3, "mean": means, "per_seed": per_seed}, args.out)


if __name__ == "__main__":
    main()
