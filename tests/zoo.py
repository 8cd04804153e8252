"""A zoo of deliberately broken training setups, and healthy ones, for ``knobs.diagnose``.

Each ``Setup`` is a model, its train/validation tensors and the training settings a person might
have picked; ``expect`` names the finding code its fault must raise (None for a healthy setup,
which must raise no warning or error). Every setup is small: a few hundred rows, a narrow net and
a few epochs, so the whole zoo is diagnosed in seconds on two CPU cores.

The faults are the classics of the babysitting literature (CS231n "babysitting the learning
process", Karpathy's "recipe for training neural networks", the AUTOTRAINER and DeepDiagnosis
benchmarks): a learning rate ten times too high or too low, a deep sigmoid net with a bad init,
features in thousands, a hand-written backward that forgets the ReLU mask, a big model on tiny
data, validation rows copied from training, a 10:1 class imbalance, and so on. The setups were
written to show their fault, never the thresholds to fit the setups: those live in
``knobs.diagnose`` with the literature they come from.

Used by tests/test_diagnose.py and bench/diagnose.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from sklearn.datasets import make_circles
from torch import nn

from knobs.data import Standardizer, load_builtin, split
from knobs.models import build_model

__all__ = ["SETUPS", "Setup", "broken", "healthy"]

Pair = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Setup:
    """One training setup: ``diagnose(setup.model(), setup.train, setup.val, **setup.settings)``."""

    name: str
    expect: str | None
    make_model: Callable[[], nn.Module]
    data: Callable[[], tuple[Pair, Pair]]
    settings: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    def model(self) -> nn.Module:
        torch.manual_seed(0)
        return self.make_model()

    @property
    def train(self) -> Pair:
        return self.data()[0]

    @property
    def val(self) -> Pair:
        return self.data()[1]


# ---- data ---------------------------------------------------------------------------------------

@functools.cache
def _builtin(name: str, scale_target: bool = False) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Train and validation rows of a bundled set, standardized with the training statistics."""
    splits = split(load_builtin(name), val=0.2, test=0.2, seed=0)
    scaler = Standardizer().fit(splits.train[0])
    (Xt, yt), (Xv, yv) = splits.train, splits.val
    if scale_target:
        mean, std = yt.mean(), yt.std()
        yt, yv = (yt - mean) / std, (yv - mean) / std
    return (scaler.transform(Xt), yt), (scaler.transform(Xv), yv)


def _tensors(pairs) -> tuple[Pair, Pair]:
    task_dtype = torch.long if pairs[0][1].dtype.kind in "iu" else torch.float32
    return tuple((torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=task_dtype))
                 for X, y in pairs)


def digits() -> tuple[Pair, Pair]:
    return _tensors(_builtin("digits"))


def cancer() -> tuple[Pair, Pair]:
    return _tensors(_builtin("breast_cancer"))


def wine() -> tuple[Pair, Pair]:
    return _tensors(_builtin("wine"))


def diabetes() -> tuple[Pair, Pair]:
    return _tensors(_builtin("diabetes", scale_target=True))


def diabetes_raw_target() -> tuple[Pair, Pair]:
    return _tensors(_builtin("diabetes"))


def digits_images() -> tuple[Pair, Pair]:
    return tuple((X.reshape(-1, 1, 8, 8), y) for X, y in digits())


def digits_times_1000() -> tuple[Pair, Pair]:
    """Every feature in the thousands: the raw scale of prices, areas or sensor counts."""
    return tuple((1000 * X + 5000, y) for X, y in digits())


def digits_tiny() -> tuple[Pair, Pair]:
    """40 training rows (4 per class): far too few for a wide net."""
    (Xt, yt), val = digits()
    keep = torch.cat([torch.nonzero(yt == c)[:4, 0] for c in range(10)])
    return (Xt[keep], yt[keep]), val


def digits_leaky() -> tuple[Pair, Pair]:
    """Half the validation rows are copies of training rows (duplicates before splitting)."""
    (Xt, yt), (Xv, yv) = digits()
    n = len(yv) // 2
    return (Xt, yt), (torch.cat([Xt[:n], Xv[n:]]), torch.cat([yt[:n], yv[n:]]))


def cancer_imbalanced() -> tuple[Pair, Pair]:
    """Benign : malignant = 10 : 1 in training (the minority class subsampled)."""
    (Xt, yt), val = cancer()
    major, minor = torch.nonzero(yt == 1)[:, 0], torch.nonzero(yt == 0)[:, 0]
    keep = torch.cat([major, minor[: len(major) // 10]])
    return (Xt[keep], yt[keep]), val


@functools.cache
def _circles():
    X, y = make_circles(n_samples=600, noise=0.08, factor=0.5, random_state=0)
    X = X.astype(np.float32)
    return (X[:450], y[:450].astype(np.int64)), (X[450:], y[450:].astype(np.int64))


def circles() -> tuple[Pair, Pair]:
    """Two concentric rings: no straight line separates them."""
    return _tensors(_circles())


# ---- models -------------------------------------------------------------------------------------

def mlp(d: int = 64, classes: int = 10, width: int = 64, depth: int = 1, **kw) -> nn.Module:
    return build_model("mlp", input_shape=(d,), n_classes=classes, width=width, depth=depth, **kw)


class WrongReLU(torch.autograd.Function):
    """A hand-written ReLU whose backward forgets the mask (passes every gradient through)."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad


class CustomReLU(nn.Module):
    def forward(self, x):
        return WrongReLU.apply(x)


class DoubledGradient(torch.autograd.Function):
    """A hand-written scaling layer, y = 0.5 x, whose backward forgets the 0.5."""

    @staticmethod
    def forward(ctx, x):
        return 0.5 * x

    @staticmethod
    def backward(ctx, grad):
        return grad


class Halve(nn.Module):
    def forward(self, x):
        return DoubledGradient.apply(x)


def custom_relu_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 64), CustomReLU(), nn.Linear(64, 10))


def halve_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(30, 32), nn.Tanh(), Halve(), nn.Linear(32, 2))


def huge_head() -> nn.Module:
    """The output layer initialized 30x too large: confident wrong answers at step 0."""
    model = mlp()
    with torch.no_grad():
        model.head.weight.mul_(30)
    return model


def double_softmax() -> nn.Module:
    """Softmax in the model and again inside cross-entropy: the logits can never spread."""
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1))


def deep_sigmoid_bad_init() -> nn.Module:
    """Six sigmoid layers with N(0, 2²) weights (randn * 2 instead of a scaled init):
    pre-activations of std ~10, most units pinned at 0 or 1."""
    layers: list[nn.Module] = []
    for _ in range(6):
        layer = nn.Linear(64, 64)
        nn.init.normal_(layer.weight, std=2.0)
        layers += [layer, nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(64, 10))


def deep_sigmoid() -> nn.Module:
    """Ten sigmoid layers with Xavier init (Glorot & Bengio's setting): sigma' <= 1/4 shrinks the
    gradient at every layer on its way back to the input."""
    layers: list[nn.Module] = []
    for _ in range(10):
        layer = nn.Linear(64, 64)
        nn.init.xavier_normal_(layer.weight)
        layers += [layer, nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(64, 10))


def deep_relu_large_init() -> nn.Module:
    """Eight ReLU layers with weights at 3x the He scale, no normalization: activations and
    gradients grow about 3x per layer."""
    layers: list[nn.Module] = []
    for _ in range(8):
        layer = nn.Linear(64, 64)
        nn.init.normal_(layer.weight, std=3 * (2 / 64) ** 0.5)
        nn.init.zeros_(layer.bias)
        layers += [layer, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(64, 10))


def negative_bias_relu() -> nn.Module:
    """Hidden biases initialized at -3: most ReLU units never switch on."""
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    with torch.no_grad():
        model[0].bias.fill_(-3.0)
        model[2].bias.fill_(-3.0)
    return model


def wide_mlp() -> nn.Module:
    return mlp(width=512, depth=2)


def linear_model() -> nn.Module:
    return mlp(d=2, classes=2, depth=0)


def convnet() -> nn.Module:
    return build_model("convnet", input_shape=(1, 8, 8), n_classes=10, channels=8, depth=2)


# ---- the zoo ------------------------------------------------------------------------------------

_ADAM = {"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "epochs": 12}
_SGD = {"optimizer": "momentum", "lr": 0.05, "batch_size": 32, "epochs": 12}

SETUPS: list[Setup] = [
    # healthy
    Setup("digits_mlp", None, mlp, digits, _ADAM, "a one-hidden-layer MLP on standardized digits"),
    Setup("digits_mlp_sgd", None, lambda: mlp(width=128, depth=2), digits, _SGD, "SGD with momentum"),
    Setup("digits_convnet", None, convnet, digits_images, _ADAM, "a small ConvNet on 8x8 digits"),
    Setup("breast_cancer_mlp", None, lambda: mlp(d=30, classes=2, width=32), cancer, _ADAM,
          "binary classification, 30 standardized features"),
    Setup("wine_tanh", None, lambda: mlp(d=13, classes=3, width=32, activation="tanh", init="default"), wine,
          {**_ADAM, "lr": 3e-3, "batch_size": 16}, "a tanh MLP on 106 rows"),
    Setup("diabetes_regression", None, lambda: mlp(d=10, classes=1, width=32), diabetes,
          {**_ADAM, "task": "regression", "lr": 3e-3}, "regression with a standardized target"),
    Setup("circles_mlp", None, lambda: mlp(d=2, classes=2, width=32), circles, {**_ADAM, "lr": 1e-2},
          "a nonlinear boundary with a hidden layer"),
    # broken
    Setup("wrong_backward", "gradient_mismatch", custom_relu_mlp, digits, _ADAM,
          "a custom autograd.Function ReLU whose backward ignores the mask"),
    Setup("halved_but_not_in_backward", "gradient_mismatch", halve_mlp, cancer, _ADAM,
          "a custom layer y = x/2 whose backward returns the gradient unscaled"),
    Setup("huge_output_init", "init_loss", huge_head, digits, _ADAM,
          "the output layer initialized 30x too large"),
    Setup("raw_regression_target", "unscaled_target", lambda: mlp(d=10, classes=1, width=32), diabetes_raw_target,
          {**_ADAM, "task": "regression"}, "regression on the raw target (mean 152, std 77)"),
    Setup("double_softmax", "cannot_overfit", double_softmax, digits, _ADAM,
          "softmax inside the model, again inside the loss"),
    Setup("lr_10x_too_high", "lr_too_high", lambda: mlp(width=128, depth=2), digits, {**_SGD, "lr": 0.5},
          "SGD with momentum at 10x the working LR"),
    Setup("adam_lr_too_high", "lr_too_high", lambda: mlp(width=128, depth=2), digits, {**_ADAM, "lr": 0.1},
          "Adam at lr 0.1, 100x its default"),
    Setup("regression_lr_too_high", "lr_too_high", lambda: mlp(d=10, classes=1, width=32), diabetes,
          {**_SGD, "task": "regression", "lr": 0.5}, "regression with SGD at 10x the working LR"),
    Setup("lr_too_low", "lr_too_low", lambda: mlp(width=128, depth=2), digits, {**_SGD, "lr": 1e-4},
          "SGD with momentum at 1/100 of a working LR (0.01)"),
    Setup("adam_lr_too_low", "lr_too_low", mlp, digits, {**_ADAM, "lr": 1e-5},
          "Adam at 1/100 of its default LR"),
    Setup("batch_of_four", "noisy_loss", mlp, digits, {**_ADAM, "lr": 1e-2, "batch_size": 4, "epochs": 6},
          "minibatches of 4 rows with Adam at lr 0.01"),
    Setup("tiny_data_big_model", "overfitting", wide_mlp, digits_tiny, {**_ADAM, "epochs": 40},
          "40 training rows for a 512-wide, two-hidden-layer net"),
    Setup("linear_model_on_circles", "underfitting", linear_model, circles, {**_ADAM, "lr": 1e-2},
          "a linear model for a circular boundary"),
    Setup("weight_decay_1", "underfitting", mlp, digits, {**_ADAM, "weight_decay": 1.0},
          "weight decay 1.0: the penalty outweighs the data"),
    Setup("dead_relus", "dead_relu", negative_bias_relu, digits, _ADAM,
          "hidden biases initialized at -3"),
    Setup("deep_sigmoid_bad_init", "saturation", deep_sigmoid_bad_init, digits, _ADAM,
          "six sigmoid layers with N(0, 4) weights"),
    Setup("deep_sigmoid", "vanishing_gradients", deep_sigmoid, digits, {**_ADAM, "epochs": 8},
          "ten sigmoid layers with Xavier init"),
    Setup("deep_relu_large_init", "exploding_gradients", deep_relu_large_init, digits, {**_SGD, "lr": 0.01},
          "eight ReLU layers at 3x the He scale"),
    Setup("features_times_1000", "unscaled_inputs", mlp, digits_times_1000, _ADAM,
          "inputs left in the thousands"),
    Setup("val_copied_from_train", "split_overlap", mlp, digits_leaky, _ADAM,
          "half the validation rows are training rows"),
    Setup("imbalance_10_to_1", "class_imbalance", lambda: mlp(d=30, classes=2, width=32), cancer_imbalanced,
          _ADAM, "benign : malignant = 10 : 1"),
]


def healthy() -> list[Setup]:
    return [s for s in SETUPS if s.expect is None]


def broken() -> list[Setup]:
    return [s for s in SETUPS if s.expect is not None]
