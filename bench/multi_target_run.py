"""`knobs run` regressing several targets at once, on real images: complete the right half of a handwritten digit.

Why this task: no multi-target regression set ships offline, so one is made from scikit-learn's 8 × 8 digits. The
inputs are an image's left four columns (32 pixels), the targets its right four (32 values, 0–16): a regression of
32 correlated outputs whose answer needs the digit's shape, not a pixel's neighbours alone. 70% of the images train
(knobs holds out its validation rows from them; the baselines fit on all of them), 30% are the official test set.

Compared on the same rows and scored by the same ``knobs.metrics.regression_metrics`` (R² and RMSE per target
column, then their means over the columns):

- ``knobs run``: the default MLP family and space, Bayes, ``--trials`` trials (each target standardized on its own);
- ridge regression (scikit-learn's ``RidgeCV``, its alphas chosen by leave-one-out on the training rows);
- scikit-learn's ``MLPRegressor`` (its defaults: 100 hidden units, Adam, up to 200 epochs, standardized inputs).

    .venv/bin/python bench/multi_target_run.py [--seeds 3] [--trials 12] [--out bench/results/multi_target_run.json]

The last printed line is one JSON object with every figure (mean and per seed); ``--out`` writes it too.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

import knobs
from knobs.metrics import regression_metrics

from _seeded import arms_parser, compare_arms, emit

SHOWN = ("r2", "rmse", "mae")


def halves(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((X_train, Y_train), (X_test, Y_test))``: left half → right half of each digit image."""
    data = load_digits()
    images = data.images.astype(np.float32)
    X, Y = images[:, :, :4].reshape(len(images), -1), images[:, :, 4:].reshape(len(images), -1)
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.3, random_state=seed, stratify=data.target)
    return (X_train, Y_train), (X_test, Y_test)


def knobs_run(train, test, seed: int, trials: int, runs: str) -> tuple[dict[str, dict], float]:
    start = time.perf_counter()
    result = knobs.run(data={"train": train, "test": test}, quiet=True, runs_dir=runs, seed=seed, n_trials=trials,
                       name=f"halves-{seed}")
    return {"knobs run (mlp)": result.summary["test"]}, time.perf_counter() - start


def baseline(name: str, model, train, test) -> tuple[dict[str, dict], float]:
    """Fit on the standardized training inputs, score the test targets in their own units."""
    start = time.perf_counter()
    scaler = StandardScaler().fit(train[0])
    model.fit(scaler.transform(train[0]), train[1])
    return {name: regression_metrics(test[1], model.predict(scaler.transform(test[0])))}, time.perf_counter() - start


def main() -> None:
    parser = arms_parser(__doc__)
    args = parser.parse_args()
    arms = {
        "knobs": lambda tr, te, s, runs: knobs_run(tr, te, s, args.trials, runs),
        "ridge": lambda tr, te, s, runs: baseline("ridge (RidgeCV)", RidgeCV(alphas=np.logspace(-3, 3, 13)), tr, te),
        "mlp": lambda tr, te, s, runs: baseline("sklearn MLPRegressor", MLPRegressor(random_state=s, max_iter=200),
                                                tr, te),
    }
    means, per_seed = compare_arms(arms, halves, args.seeds, SHOWN)
    emit({"bench": "multi_target_run", "seeds": args.seeds, "trials": args.trials, "targets": 32, "mean": means,
          "per_seed": per_seed}, args.out)


if __name__ == "__main__":
    main()
