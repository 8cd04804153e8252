"""Faults from outside: faulty training programs catalogued by published fault studies, rebuilt in
PyTorch as a user writes them — an ``nn.Module``, DataLoaders, a loss and a ``Trainer`` — on small
real data, for ``knobs.diagnose(model, train_loader, val_loader, trainer=...)``.

Why a second zoo: tests/zoo.py was written by the people who wrote the rules, one planted fault
per setup. These programs come from others' catalogues of faults that users really made:

- AUTOTRAINER (Zhang et al., ICSE 2021): its five training problems — vanishing gradient,
  exploding gradient, dying ReLU, oscillating loss, slow convergence — with their root causes
  (activation and init, learning rate, batch size, optimizer), and its demo cases
  (``demo_case/Oscillating_Loss_Case``: repaired by switching the optimizer to Adam). Its
  "circle" and "blob" data are scikit-learn's ``make_circles`` / ``make_blobs``.
- DeepDiagnosis (Wardat et al., ICSE 2022): its symptoms — exploding tensor, unchanged weight,
  saturated activation, dead node, out of range (an output activation whose range does not fit
  the loss), loss not decreasing, invalid (NaN) loss — each with the root cause it reports.
- DeepFD (Cao et al., ICSE 2022): its fault labels loss / opt / lr / act / epoch, and its
  StackOverflow subjects 31556268 (labelled loss = mse, lr = 0.1, epochs) and 59282996
  (labelled epoch: too few epochs).
- UMLAUT (Schoop et al., CHI 2021): its heuristics — inputs not normalized, image pixels not in
  [0, 1], missing activation between layers, softmax before a loss that expects logits,
  overfitting.
- Humbatova et al., "Taxonomy of real faults in deep learning systems" (ICSE 2020): training
  faults — suboptimal learning rate and batch size, missing normalisation / preprocessing of
  the training data, unbalanced training data, wrong loss function, wrong weight initialisation.

Each ``Program`` names its source and fault, and records the codes that are right for it:
``expect`` is a tuple of slots (a set of codes, any one of which fills the slot: the faults the
source labels, one slot each), ``right`` the other codes whose advice also fixes it (a symptom
of the same cause). Every other warning or error is a wrong finding. Healthy programs are the
sources' fixed versions: no slot, and any finding is wrong.

Data: scikit-learn's digits (8x8 images), breast cancer, wine, ``make_circles`` and ``make_blobs``
(AUTOTRAINER's circle and blob); a 2,000-row subset of Fashion-MNIST where the Debian package
``dataset-fashion-mnist`` is installed (those programs are skipped elsewhere, ``needs="fashion"``).

Used by tests/test_diagnose_outside.py (a subset) and bench/diagnose_outside.py (all).
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_blobs, make_circles
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from knobs.train import Trainer

__all__ = ["FASHION", "PROGRAMS", "Program", "available", "faulty", "healthy"]

FASHION = Path("/usr/share/datasets/fashion-mnist")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Program:
    """One user's training program: ``diagnose(*program.build())`` diagnoses it."""

    name: str
    source: str
    fault: str
    build: Callable[[], tuple[nn.Module, DataLoader, DataLoader, Trainer]]
    expect: tuple[frozenset[str], ...] = ()
    right: frozenset[str] = frozenset()
    needs: str | None = None

    @property
    def healthy(self) -> bool:
        return not self.expect

    @property
    def right_codes(self) -> frozenset[str]:
        """Every code that is right for this program."""
        return frozenset().union(*self.expect, self.right)

    def __call__(self) -> tuple[nn.Module, DataLoader, DataLoader, Trainer]:
        torch.manual_seed(0)
        return self.build()


# ---- data, as a user loads it -------------------------------------------------------------------

def _split(X: np.ndarray, y: np.ndarray, seed: int = 0) -> Arrays:
    Xt, Xv, yt, yv = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    return Xt, Xv, yt, yv


@functools.cache
def digits_raw() -> Arrays:
    """Pixels 0..16, as scikit-learn gives them, flattened."""
    data = load_digits()
    return _split(data.data.astype(np.float32), data.target)


def standardized(arrays: Arrays) -> Arrays:
    Xt, Xv, yt, yv = arrays
    scaler = StandardScaler().fit(Xt)
    return scaler.transform(Xt).astype(np.float32), scaler.transform(Xv).astype(np.float32), yt, yv


def digits() -> Arrays:
    return standardized(digits_raw())


def digits_images() -> Arrays:
    """Pixels scaled to [0, 1] (/16), shaped (n, 1, 8, 8)."""
    Xt, Xv, yt, yv = digits_raw()
    return (Xt / 16).reshape(-1, 1, 8, 8), (Xv / 16).reshape(-1, 1, 8, 8), yt, yv


@functools.cache
def cancer_raw() -> Arrays:
    data = load_breast_cancer()
    return _split(data.data.astype(np.float32), data.target)


def cancer() -> Arrays:
    return standardized(cancer_raw())


@functools.cache
def wine_raw() -> Arrays:
    data = load_wine()
    return _split(data.data.astype(np.float32), data.target)


@functools.cache
def circles() -> Arrays:
    """AUTOTRAINER's "circle" data: two noisy concentric rings."""
    X, y = make_circles(n_samples=800, noise=0.08, factor=0.5, random_state=0)
    return _split(X.astype(np.float32), y)


@functools.cache
def blobs() -> Arrays:
    """AUTOTRAINER's "blob" data: three Gaussian blobs in 2-D (standardized)."""
    X, y = make_blobs(n_samples=900, centers=3, n_features=2, cluster_std=1.5, random_state=0)
    return standardized(_split(X.astype(np.float32), y))


@functools.cache
def fashion_raw(n_train: int = 1200, n_val: int = 400) -> Arrays:
    """A seeded subset of Fashion-MNIST's training images, pixels 0..255, 2x2-averaged to
    (n, 1, 14, 14) so a CPU diagnoses it in seconds."""
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    rows = np.random.default_rng(0).choice(len(labels), n_train + n_val, replace=False)
    X = images[rows].astype(np.float32).reshape(-1, 1, 14, 2, 14, 2).mean(axis=(3, 5))
    y = labels[rows]
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


def fashion() -> Arrays:
    Xt, Xv, yt, yv = fashion_raw()
    return Xt / 255, Xv / 255, yt, yv


def loaders(arrays: Arrays, batch_size: int = 32) -> tuple[DataLoader, DataLoader]:
    Xt, Xv, yt, yv = arrays
    train = TensorDataset(torch.as_tensor(np.asarray(Xt, np.float32)), torch.as_tensor(yt, dtype=torch.long))
    val = TensorDataset(torch.as_tensor(np.asarray(Xv, np.float32)), torch.as_tensor(yv, dtype=torch.long))
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)),
            DataLoader(val, batch_size=256))


# ---- models, as users write them ----------------------------------------------------------------

class MLP(nn.Module):
    """A plain multi-layer perceptron: ``layers`` hidden layers of ``width`` units."""

    def __init__(self, d_in: int, n_out: int, width: int = 64, layers: int = 2,
                 activation: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(d_in if i == 0 else width, width), activation()]
        self.hidden = nn.Sequential(*blocks)
        self.out = nn.Linear(width if layers else d_in, n_out)

    def forward(self, x):
        return self.out(self.hidden(x.flatten(1)))


class SmallCNN(nn.Module):
    """Two conv blocks and a linear classifier, the tutorials' first CNN."""

    def __init__(self, channels: int = 1, side: int = 14, n_out: int = 10, softmax: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(16 * (side // 4) ** 2, n_out)
        self.softmax = nn.Softmax(dim=1) if softmax else None

    def forward(self, x):
        out = self.classifier(self.features(x).flatten(1))
        return self.softmax(out) if self.softmax is not None else out


class ReLUOutput(nn.Module):
    """A classifier whose logits pass through a ReLU (the output's range cut at 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = MLP(64, 10, width=64, layers=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.net(x))


class SoftmaxHidden(nn.Module):
    """Hidden layers activated by softmax instead of ReLU (each layer's units sum to one)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 64), nn.Softmax(dim=1), nn.Linear(64, 64), nn.Softmax(dim=1),
                                 nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


def zero_init(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        nn.init.zeros_(p)
    return model


def normal_init(model: nn.Module, std: float) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)
    return model


def mse_on_softmax(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MSE between the softmax of the outputs and one-hot labels (Keras' loss='mse' on a softmax
    classifier)."""
    onehot = nn.functional.one_hot(targets, outputs.shape[1]).float()
    return nn.functional.mse_loss(outputs.softmax(dim=1), onehot)


def imbalanced(arrays: Arrays, ratio: int = 15) -> Arrays:
    """The minority class cut to 1/ratio of the majority in training (validation as collected)."""
    Xt, Xv, yt, yv = arrays
    major, minor = np.flatnonzero(yt == 1), np.flatnonzero(yt == 0)
    keep = np.concatenate([major, minor[: len(major) // ratio]])
    return Xt[keep], Xv, yt[keep], yv


def few_rows(arrays: Arrays, per_class: int) -> Arrays:
    Xt, Xv, yt, yv = arrays
    keep = np.concatenate([np.flatnonzero(yt == c)[:per_class] for c in np.unique(yt)])
    return Xt[keep], Xv, yt[keep], yv


def program(model: nn.Module, arrays: Arrays, batch_size: int = 32, **trainer: Any):
    train, val = loaders(arrays, batch_size)
    return model, train, val, Trainer(batch_size=batch_size, **{"epochs": 15, **trainer})


SGD = torch.optim.SGD


def _p(name, source, fault, build, expect=(), right=(), needs=None) -> Program:
    return Program(name, source, fault, build, tuple(frozenset(slot) for slot in expect), frozenset(right), needs)


# ---- the programs -------------------------------------------------------------------------------

PROGRAMS: list[Program] = [
    # AUTOTRAINER (Zhang et al. 2021)
    _p("at_vanishing_sigmoid", "AUTOTRAINER: vanishing gradient (deep sigmoid net, SGD)",
       "eight sigmoid layers trained by plain SGD at lr 0.01",
       lambda: program(MLP(64, 10, 64, 8, nn.Sigmoid), digits(), optimizer=SGD, lr=0.01),
       expect=[{"vanishing_gradients", "saturation"}], right={"lr_too_low"}),
    _p("at_exploding_sgd", "AUTOTRAINER: exploding gradient (learning rate far too high)",
       "a ReLU MLP on the blob data, SGD with momentum at lr 2.0",
       lambda: program(MLP(2, 3, 32, 3), blobs(), optimizer=SGD, lr=2.0, optimizer_options={"momentum": 0.9}),
       expect=[{"lr_too_high", "exploding_gradients"}], right={"dead_relu", "noisy_loss"}),
    _p("at_dying_relu", "AUTOTRAINER: dying ReLU (large learning rate)",
       "four ReLU layers on digits with Adam at lr 0.05",
       lambda: program(MLP(64, 10, 64, 4), digits(), lr=0.05),
       expect=[{"dead_relu", "lr_too_high"}], right={"exploding_gradients", "noisy_loss"}),
    _p("at_oscillating_loss", "AUTOTRAINER: oscillating loss (demo_case/Oscillating_Loss_Case: SGD, high lr, "
       "small batches; repaired by Adam)", "SGD with momentum at lr 0.5, batches of 8, on the circle data",
       lambda: program(MLP(2, 2, 32, 2), circles(), batch_size=8, optimizer=SGD, lr=0.5,
                       optimizer_options={"momentum": 0.9}),
       expect=[{"noisy_loss", "lr_too_high"}], right={"dead_relu", "exploding_gradients"}),
    _p("at_slow_convergence", "AUTOTRAINER: slow convergence (learning rate too small)",
       "plain SGD at lr 1e-4 on breast cancer", lambda: program(MLP(30, 2, 32, 2), cancer(), optimizer=SGD, lr=1e-4),
       expect=[{"lr_too_low"}]),
    # DeepDiagnosis (Wardat et al. 2022)
    _p("dd_invalid_loss_raw_features", "DeepDiagnosis: invalid loss (NaN), root cause: inputs not normalized",
       "breast cancer's raw features (up to 4,254) into SGD with momentum at lr 0.01",
       lambda: program(MLP(30, 2, 32, 2), cancer_raw(), optimizer=SGD, lr=0.01, optimizer_options={"momentum": 0.9}),
       expect=[{"unscaled_inputs"}], right={"lr_too_high", "exploding_gradients", "init_loss"}),
    _p("dd_saturated_tanh_raw_pixels", "DeepDiagnosis: saturated activation (tanh fed raw pixels)",
       "a tanh MLP on Fashion-MNIST pixels 0..255",
       lambda: program(MLP(196, 10, 64, 2, nn.Tanh), fashion_raw()),
       expect=[{"unscaled_inputs"}], right={"saturation", "init_loss", "lr_too_high"}, needs="fashion"),
    _p("dd_out_of_range_relu_logits", "DeepDiagnosis: out of range (an output activation that does not fit "
       "the loss)", "the logits pass through a ReLU before CrossEntropyLoss",
       lambda: program(ReLUOutput(), digits()),
       expect=[{"outputs_not_logits", "dead_relu", "cannot_overfit", "underfitting"}]),
    _p("dd_unchanged_weight", "DeepDiagnosis: unchanged weight (learning rate too small)",
       "Adam at lr 1e-6 on standardized wine", lambda: program(MLP(13, 3, 32, 2), standardized(wine_raw()), lr=1e-6),
       expect=[{"lr_too_low"}]),
    _p("dd_exploding_tensor_init", "DeepDiagnosis: exploding tensor (weights drawn N(0, 1), Keras "
       "RandomNormal(stddev=1))", "six ReLU layers initialized N(0, 1)",
       lambda: program(normal_init(MLP(64, 10, 64, 6), 1.0), digits()),
       expect=[{"exploding_gradients", "init_loss"}], right={"lr_too_high", "dead_relu"}),
    # DeepFD (Cao et al. 2022)
    _p("deepfd_31556268_mse_loss", "DeepFD: StackOverflow 31556268 (labels loss = mse, lr, epochs)",
       "MSE between softmax outputs and one-hot labels, plain SGD at lr 0.1",
       lambda: program(MLP(64, 10, 32, 1), digits(), optimizer=SGD, lr=0.1, loss=mse_on_softmax),
       expect=[{"lr_too_low", "underfitting"}]),
    _p("deepfd_59282996_few_epochs", "DeepFD: StackOverflow 59282996 (label epoch: too few epochs)",
       "a CNN trained 3 epochs by plain SGD at lr 0.01",
       lambda: program(SmallCNN(1, 8, 10), digits_images(), optimizer=SGD, lr=0.01, epochs=3),
       expect=[{"underfitting", "lr_too_low"}]),
    _p("deepfd_opt_plain_sgd", "DeepFD: fault label opt (an optimizer that cannot make progress at the "
       "given rate)", "plain SGD (no momentum) at lr 1e-3 for a CNN",
       lambda: program(SmallCNN(), fashion(), optimizer=SGD, lr=1e-3),
       expect=[{"lr_too_low"}], right={"underfitting"}, needs="fashion"),
    _p("deepfd_act_softmax_hidden", "DeepFD: fault label act (a wrong hidden activation)",
       "hidden layers activated by softmax", lambda: program(SoftmaxHidden(), digits()),
       expect=[{"cannot_overfit", "underfitting", "lr_too_low", "vanishing_gradients", "saturation"}]),
    # UMLAUT (Schoop et al. 2021)
    _p("umlaut_missing_activation", "UMLAUT: missing activation between layers",
       "three Linear layers and no nonlinearity, on the circle data",
       lambda: program(nn.Sequential(nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 2)), circles(), lr=1e-2),
       expect=[{"underfitting", "cannot_overfit", "no_nonlinearity"}]),
    _p("umlaut_softmax_before_ce", "UMLAUT: softmax before a loss that expects logits",
       "a CNN ending in nn.Softmax, trained with CrossEntropyLoss",
       lambda: program(SmallCNN(1, 8, 10, softmax=True), digits_images()),
       expect=[{"outputs_not_logits", "cannot_overfit"}]),
    _p("umlaut_pixels_0_255", "UMLAUT: image pixels not in [0, 1]",
       "a CNN on Fashion-MNIST pixels 0..255, Adam at lr 1e-3",
       lambda: program(SmallCNN(), fashion_raw()),
       expect=[{"unscaled_inputs"}], right={"init_loss", "lr_too_high", "dead_relu"}, needs="fashion"),
    _p("umlaut_overfitting", "UMLAUT: overfitting (validation loss rising while training loss falls)",
       "a 512-wide MLP on 6 digits per class, 40 epochs",
       lambda: program(MLP(64, 10, 512, 2), few_rows(digits(), 6), epochs=40),
       expect=[{"overfitting"}]),
    # Humbatova et al. 2020
    _p("humbatova_missing_normalisation", "Humbatova et al.: missing normalisation of the training data",
       "wine's raw features (proline in the hundreds)", lambda: program(MLP(13, 3, 32, 2), wine_raw()),
       expect=[{"unscaled_inputs"}], right={"init_loss", "lr_too_high"}),
    _p("humbatova_unbalanced_data", "Humbatova et al.: unbalanced training data",
       "breast cancer with the malignant class cut to 1/15 of the benign",
       lambda: program(MLP(30, 2, 32, 2), imbalanced(cancer())),
       expect=[{"class_imbalance"}]),
    _p("humbatova_zero_init", "Humbatova et al.: wrong weight initialisation (all zeros)",
       "every weight and bias of a ReLU MLP set to 0", lambda: program(zero_init(MLP(64, 10, 64, 2)), digits()),
       expect=[{"cannot_overfit", "dead_relu", "vanishing_gradients", "underfitting"}]),
    _p("humbatova_batch_size_1", "Humbatova et al.: suboptimal batch size",
       "SGD at batch size 1 and lr 0.05 (the noisy case of issue 18)",
       lambda: program(MLP(64, 10, 64, 1), digits(), batch_size=1, optimizer=SGD, lr=0.05, epochs=4),
       expect=[{"noisy_loss", "lr_too_high"}]),
    _p("humbatova_lr_too_high", "Humbatova et al.: suboptimal learning rate (too high)",
       "a CNN on Fashion-MNIST with Adam at lr 0.1", lambda: program(SmallCNN(), fashion(), lr=0.1),
       expect=[{"lr_too_high"}], right={"dead_relu", "noisy_loss", "exploding_gradients"}, needs="fashion"),
    # healthy: the sources' fixed versions
    _p("fixed_pixels_scaled", "UMLAUT: image pixels not in [0, 1], fixed (/255)",
       "healthy: a CNN on Fashion-MNIST pixels in [0, 1]", lambda: program(SmallCNN(), fashion()), needs="fashion"),
    _p("fixed_activation_added", "UMLAUT: missing activation, fixed (ReLU between layers)",
       "healthy: a ReLU MLP on the circle data", lambda: program(MLP(2, 2, 32, 2), circles(), lr=1e-2)),
    _p("fixed_normalized_features", "DeepDiagnosis: invalid loss, fixed (standardized inputs)",
       "healthy: standardized breast cancer, SGD with momentum at lr 0.01",
       lambda: program(MLP(30, 2, 32, 2), cancer(), optimizer=SGD, lr=0.01, optimizer_options={"momentum": 0.9})),
    _p("fixed_oscillating_adam", "AUTOTRAINER: oscillating loss, repaired (Adam, as its demo case)",
       "healthy: Adam at lr 1e-2 on the circle data", lambda: program(MLP(2, 2, 32, 2), circles(), lr=1e-2)),
    _p("fixed_wine_standardized", "Humbatova et al.: missing normalisation, fixed",
       "healthy: standardized wine, batches of 16",
       lambda: program(MLP(13, 3, 32, 2), standardized(wine_raw()), batch_size=16, lr=3e-3)),
    _p("fixed_label_smoothing_cosine", "DeepFD: StackOverflow 59282996, fixed (trained long enough), with "
       "label smoothing and a cosine schedule", "healthy: a CNN on digits images, CrossEntropyLoss("
       "label_smoothing=0.1), cosine schedule over 30 epochs",
       lambda: program(SmallCNN(1, 8, 10), digits_images(), epochs=30, lr=3e-3,
                       loss=nn.CrossEntropyLoss(label_smoothing=0.1), schedule="cosine")),
]


def available(p: Program) -> bool:
    """Whether the program's data is on this machine."""
    return p.needs is None or (p.needs == "fashion" and FASHION.is_dir())


def faulty() -> list[Program]:
    return [p for p in PROGRAMS if not p.healthy]


def healthy() -> list[Program]:
    return [p for p in PROGRAMS if p.healthy]


def score(program: Program, codes: list[str]) -> dict[str, Any]:
    """Slots filled, right and wrong findings of one diagnosis (codes at warning or error level)."""
    found = set(codes)
    filled = [bool(slot & found) for slot in program.expect]
    right = [c for c in codes if c in program.right_codes]
    return {"slots": len(program.expect), "filled": sum(filled), "right": len(right),
            "wrong": [c for c in codes if c not in program.right_codes]}


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall over the expected faults (slots) and precision over the findings."""
    slots = sum(r["slots"] for r in rows)
    filled = sum(r["filled"] for r in rows)
    right = sum(r["right"] for r in rows)
    wrong = sum(len(r["wrong"]) for r in rows)
    return {"programs": len(rows), "faulty": sum(r["slots"] > 0 for r in rows),
            "healthy": sum(r["slots"] == 0 for r in rows), "slots": slots, "filled": filled,
            "recall": filled / slots if slots else None,
            "precision": right / (right + wrong) if right + wrong else None,
            "findings": right + wrong, "wrong_findings": wrong,
            "healthy_with_warnings": sum(r["slots"] == 0 and bool(r["wrong"]) for r in rows)}

