"""`knobs run` on a segmentation of real images: every ink pixel of a handwritten digit labelled with its digit.

scikit-learn's 8 × 8 digits (offline), as ``bench/dense_tasks.py`` builds them: a pixel of value ≥ 4 is its digit's
class, every other pixel background (11 classes; a pixel's class needs the whole image). 70% of the images train
(knobs holds out its validation rows from them), 30% are the official test set. The same small fully convolutional
model (three 3 × 3 convolutions, dilations 1 / 2 / 4) three ways, scored by ``knobs.metrics.segmentation_metrics``:

- ``knobs run``: that model as ``model.builder``, its width, dropout-free depth fixed, learning rate, weight decay and
  optimizer searched by Bayes over ``--trials`` trials, early stopping on the validation loss;
- the same model trained once with knobs' Trainer at PyTorch's usual defaults (Adam, lr 1e-3, batch 64) for the
  run's epoch cap, 60;
- the best a pixel alone can do: ink → the most frequent digit, background otherwise.

    .venv/bin/python bench/segmentation_run.py [--seeds 3] [--trials 12] [--augment] [--out bench/results/segmentation_run.json]

``--augment`` adds a fourth arm: the same ``knobs run`` with ``augment.translate = 0.125`` (each training image shifted
by up to a pixel, its mask with it: ``knobs.augment.ImageAugment`` moves masks with their images).

The last printed line is one JSON object with every figure (mean and per seed); ``--out`` writes it too.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import knobs
from knobs.metrics import segmentation_metrics
from knobs.train import Trainer

from _seeded import arms_parser, compare_arms, emit

INK = 4.0
BACKGROUND = 10
SHOWN = ("mean_iou", "accuracy", "balanced_accuracy", "macro_f1")


def fcn(params, info) -> nn.Module:
    """Three 3 × 3 convolutions (dilations 1, 2, 4: a receptive field over the whole 8 × 8 image), a 1 × 1 head."""
    width = int(params.get("width", 32))
    return nn.Sequential(nn.Conv2d(info.input_shape[0], width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
                         nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.ReLU(),
                         nn.Conv2d(width, info.n_classes, 1))


def task(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    data = load_digits()
    X = (data.images / 16.0).astype(np.float32)[:, None]
    masks = np.where(data.images >= INK, data.target[:, None, None], BACKGROUND).astype(np.int64)
    X_train, X_test, m_train, m_test = train_test_split(X, masks, test_size=0.3, random_state=seed,
                                                        stratify=data.target)
    return (X_train, m_train), (X_test, m_test)


#: ``--augment``'s arm: every training batch's images shifted by up to one pixel (an eighth of 8), masks with them
SHIFTS = {"translate": 0.125}


def knobs_arm(train, test, seed: int, runs: str, *, trials: int, augment: dict | None = None
              ) -> tuple[dict[str, dict], float]:
    start = time.perf_counter()
    result = knobs.run(model=fcn, data={"train": train, "test": test}, quiet=True, runs_dir=runs, seed=seed,
                       n_trials=trials, name=f"seg-{seed}{'-aug' if augment else ''}", epochs=60,
                       space={"lr": knobs.Float(3e-4, 3e-2, log=True), "weight_decay": knobs.Float(1e-6, 1e-2, log=True),
                              "optimizer": knobs.Choice(["adam", "adamw", "nesterov"]), "width": 32},
                       **({"augment": augment} if augment else {}))
    name = "knobs run (searched, masks shifted with their images)" if augment else "knobs run (searched)"
    return {name: result.summary["test"]}, time.perf_counter() - start


def defaults_arm(train, test, seed: int, runs: str) -> tuple[dict[str, dict], float]:
    start = time.perf_counter()
    torch.manual_seed(seed)
    info = knobs.ModelInfo((1, 8, 8), "segmentation", 11)
    model = fcn({}, info)
    Trainer(optimizer="adam", lr=1e-3, epochs=60, batch_size=64, seed=seed).fit(model, (train[0], train[1]))
    with torch.no_grad():
        proba = torch.softmax(model.eval()(torch.as_tensor(test[0])), dim=1).double().numpy()
    return {"the same model, PyTorch defaults": segmentation_metrics(test[1], proba)}, time.perf_counter() - start


def pixel_arm(train, test, seed: int, runs: str) -> tuple[dict[str, dict], float]:
    start = time.perf_counter()
    ink = train[1][train[1] != BACKGROUND]
    common = np.bincount(ink, minlength=BACKGROUND).argmax()
    guess = np.where(test[0][:, 0] * 16 >= INK, common, BACKGROUND)
    proba = np.eye(11)[guess].transpose(0, 3, 1, 2) * 0.98 + 0.02 / 11
    return {"a pixel alone (ink → the commonest digit)": segmentation_metrics(test[1], proba)}, time.perf_counter() - start


def main() -> None:
    parser = arms_parser(__doc__)
    parser.add_argument("--augment", action="store_true",
                        help="add an arm: knobs run with each batch shifted by up to a pixel, masks moved with images")
    args = parser.parse_args()
    torch.set_num_threads(1)
    arms = {"knobs": lambda tr, te, s, runs: knobs_arm(tr, te, s, runs, trials=args.trials),
            "defaults": defaults_arm, "pixel": pixel_arm}
    if args.augment:
        arms["knobs, shifted"] = lambda tr, te, s, runs: knobs_arm(tr, te, s, runs, trials=args.trials, augment=SHIFTS)
    means, per_seed = compare_arms(arms, task, args.seeds, SHOWN)
    emit({"bench": "segmentation_run", "seeds": args.seeds, "trials": args.trials, "mean": means,
          "per_seed": per_seed}, args.out)


if __name__ == "__main__":
    main()
