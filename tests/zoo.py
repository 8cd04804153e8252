"""A zoo of deliberately broken training setups, and healthy ones, for ``knobs.diagnose``.

Each ``Setup`` is a model, its train/validation tensors and the training settings a person might
have picked; ``right`` names every finding code that is a right diagnosis of its one planted
fault, its own code first (empty for a healthy setup, which must raise no warning or error).
Every other code is ``wrong`` for that setup: a user acting on it would change the wrong thing.
Recall counts the faulty setups with a right code among the warning/error findings; precision
counts the warning/error findings, over the whole zoo, whose code is right for their setup. A
second code is right only where it names the same fault from another side (a batch of four at a
high rate is noise and a rate too high; a deep sigmoid net at N(0, 4) is saturated and its
gradients vanish), never because the diagnosis happens to raise it. Every setup is small: a few
hundred rows, a narrow net and a few epochs, so the whole zoo is diagnosed in about a minute on
two CPU cores.

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
from knobs.diagnose import CODES
from knobs.models import build_model

__all__ = ["SETUPS", "Setup", "broken", "healthy"]

Pair = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Setup:
    """One training setup: ``diagnose(setup.model(), setup.train, setup.val, **setup.settings)``."""

    name: str
    right: tuple[str, ...]
    make_model: Callable[[], nn.Module]
    data: Callable[[], tuple[Pair, Pair]]
    settings: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.right) - set(CODES)
        if unknown:
            raise ValueError(f"{self.name}: unknown codes {sorted(unknown)}")

    @property
    def expect(self) -> str | None:
        """The planted fault's own code (None when healthy)."""
        return self.right[0] if self.right else None

    @property
    def wrong(self) -> frozenset[str]:
        """Every code that is not a right diagnosis of this setup."""
        return frozenset(CODES) - set(self.right)

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
def _builtin(name: str, scale_target: bool = False, raw: bool = False) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Train and validation rows of a bundled set, standardized with the training statistics
    (left as they are with ``raw``)."""
    splits = split(load_builtin(name), val=0.2, test=0.2, seed=0)
    scaler = Standardizer().fit(splits.train[0])
    (Xt, yt), (Xv, yv) = splits.train, splits.val
    if scale_target:
        mean, std = yt.mean(), yt.std()
        yt, yv = (yt - mean) / std, (yv - mean) / std
    if raw:
        return (Xt, yt), (Xv, yv)
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


def _shuffled(pairs: tuple[Pair, Pair]) -> tuple[Pair, Pair]:
    """The training labels permuted (seeded) apart from their rows: labels the inputs do not predict."""
    (X, y), val = pairs
    return (X, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]), val


def digits_shuffled() -> tuple[Pair, Pair]:
    return _shuffled(digits())


def cancer_shuffled() -> tuple[Pair, Pair]:
    return _shuffled(cancer())


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


def wine_raw() -> tuple[Pair, Pair]:
    """The wine measurements as recorded: proline in the hundreds to 1,680, hue near 1."""
    return _tensors(_builtin("wine", raw=True))


def diabetes_inputs_times_1000() -> tuple[Pair, Pair]:
    """Regression inputs in the thousands, the target standardized."""
    return tuple((1000 * X + 3000, y) for X, y in diabetes())


def digits_pixels_255() -> tuple[Pair, Pair]:
    """8x8 images as 0-255 intensities (the raw digits' 0-16 scaled up), never standardized."""
    return tuple((torch.as_tensor(X, dtype=torch.float32).reshape(-1, 1, 8, 8) * 16, torch.as_tensor(y))
                 for X, y in _builtin("digits", raw=True))


def cancer_tiny() -> tuple[Pair, Pair]:
    """20 training rows (10 per class) of 30 features."""
    (Xt, yt), val = cancer()
    keep = torch.cat([torch.nonzero(yt == c)[:10, 0] for c in range(2)])
    return (Xt[keep], yt[keep]), val


def cancer_leaky() -> tuple[Pair, Pair]:
    """Half the validation rows are copies of training rows."""
    (Xt, yt), (Xv, yv) = cancer()
    n = len(yv) // 2
    return (Xt, yt), (torch.cat([Xt[:n], Xv[n:]]), torch.cat([yt[:n], yv[n:]]))


def digits_imbalanced() -> tuple[Pair, Pair]:
    """Digit 0 keeps every training row, digits 1-9 a tenth of theirs (10:1)."""
    (Xt, yt), val = digits()
    keep = torch.cat([torch.nonzero(yt == c)[:, 0] if c == 0 else torch.nonzero(yt == c)[:, 0][::10]
                      for c in range(10)])
    return (Xt[keep], yt[keep]), val


def cancer_imbalanced_weighted():
    """The 10:1 benign : malignant rows of ``cancer_imbalanced``, with sample weights that give both
    classes the same total (what the class-imbalance check recommends)."""
    (Xt, yt), val = cancer_imbalanced()
    counts = torch.bincount(yt).float()
    weights = (len(yt) / (2 * counts))[yt]
    return (Xt, yt, weights), val


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


def xavier_stack(activation: type[nn.Module], depth: int) -> nn.Sequential:
    """``depth`` 64-wide layers at the Xavier scale, each followed by ``activation``, and a 10-class head."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layer = nn.Linear(64, 64)
        nn.init.xavier_normal_(layer.weight)
        layers += [layer, activation()]
    return nn.Sequential(*layers, nn.Linear(64, 10))


def deep_sigmoid() -> nn.Module:
    """Ten sigmoid layers with Xavier init (Glorot & Bengio's setting): sigma' <= 1/4 shrinks the
    gradient at every layer on its way back to the input."""
    return xavier_stack(nn.Sigmoid, 10)


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


def deep_sigmoid_8_std2() -> nn.Module:
    """Eight hidden sigmoid layers with N(0, 2²) weights (the outside study's case, issue 18)."""
    layers: list[nn.Module] = []
    for _ in range(8):
        layer = nn.Linear(64, 64)
        nn.init.normal_(layer.weight, std=2.0)
        layers += [layer, nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(64, 10))


def huge_last_layer() -> nn.Module:
    """A plain PyTorch MLP whose last layer starts at 100x its default weights."""
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    with torch.no_grad():
        model[2].weight.mul_(100)
    return model


def linear_stack(d: int = 64, classes: int = 10, width: int = 64, layers: int = 3) -> nn.Module:
    """Linear layers one after another, no activation between them: one linear map in disguise."""
    sizes = [d] + [width] * (layers - 1) + [classes]
    return nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])


class DetachedHidden(nn.Module):
    """An MLP whose forward detaches the hidden layer (``h.detach()``, left from a debugging
    session): the first layer never gets a gradient, though the loss depends on it."""

    def __init__(self, d: int = 30, width: int = 32, classes: int = 2) -> None:
        super().__init__()
        self.hidden, self.out = nn.Linear(d, width), nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)).detach())


def deep_tanh_small_init() -> nn.Module:
    """Ten tanh layers with weights at 0.3x the Xavier scale: the signal and the gradient shrink
    about 3x per layer."""
    layers: list[nn.Module] = []
    for _ in range(10):
        layer = nn.Linear(64, 64)
        nn.init.normal_(layer.weight, std=0.3 / 64 ** 0.5)
        layers += [layer, nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(64, 10))


def tanh_big_init() -> nn.Module:
    """Three tanh layers with N(0, 2²) weights on 30 standardized features: pre-activations of
    std ~10, nearly every unit at ±1."""
    layers: list[nn.Module] = []
    for d in (30, 32, 32):
        layer = nn.Linear(d, 32)
        nn.init.normal_(layer.weight, std=2.0)
        layers += [layer, nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(32, 2))


def cancer_double_softmax() -> nn.Module:
    return nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 2), nn.Softmax(dim=1))


class BatchStatistics(nn.Module):
    """Inputs normalized by their own batch's mean and std inside forward, in eval mode too."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - x.mean(0)) / (x.std(0) + 1e-5))


class BatchAxisView(nn.Module):
    """A hidden layer reshaped across the batch axis: h.t().reshape(len(x), -1)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(30, 30), nn.Linear(30, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        return self.b(h.t().reshape(len(x), -1))


def sigmoid_output() -> nn.Module:
    return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3), nn.Sigmoid())


def relu_output() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10), nn.ReLU())


class ResidualMLP(nn.Module):
    """Two residual blocks x + f(x) with layer norm, the shape of a transformer's MLP stack."""

    def __init__(self, d: int = 64, width: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.inp = nn.Linear(d, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(),
                                                  nn.Linear(width, width)) for _ in range(2))
        self.out = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


# ---- the zoo ------------------------------------------------------------------------------------

_ADAM = {"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "epochs": 12}
_SGD = {"optimizer": "momentum", "lr": 0.05, "batch_size": 32, "epochs": 12}

SETUPS: list[Setup] = [
    # healthy
    Setup("digits_mlp", (), mlp, digits, _ADAM, "a one-hidden-layer MLP on standardized digits"),
    Setup("digits_mlp_sgd", (), lambda: mlp(width=128, depth=2), digits, _SGD, "SGD with momentum"),
    Setup("digits_convnet", (), convnet, digits_images, _ADAM, "a small ConvNet on 8x8 digits"),
    Setup("breast_cancer_mlp", (), lambda: mlp(d=30, classes=2, width=32), cancer, _ADAM,
          "binary classification, 30 standardized features"),
    Setup("wine_tanh", (), lambda: mlp(d=13, classes=3, width=32, activation="tanh", init="default"), wine,
          {**_ADAM, "lr": 3e-3, "batch_size": 16}, "a tanh MLP on 106 rows"),
    Setup("diabetes_regression", (), lambda: mlp(d=10, classes=1, width=32), diabetes,
          {**_ADAM, "task": "regression", "lr": 3e-3}, "regression with a standardized target"),
    Setup("circles_mlp", (), lambda: mlp(d=2, classes=2, width=32), circles, {**_ADAM, "lr": 1e-2},
          "a nonlinear boundary with a hidden layer"),
    Setup("wine_plain_sgd", (), lambda: mlp(d=13, classes=3, width=32), wine,
          {"optimizer": "sgd", "lr": 0.1, "batch_size": 16, "epochs": 15}, "plain SGD at a working rate"),
    Setup("cancer_nesterov", (), lambda: mlp(d=30, classes=2, width=32), cancer,
          {"optimizer": "nesterov", "lr": 0.01, "batch_size": 32, "epochs": 10}, "Nesterov momentum"),
    Setup("digits_convnet_momentum", (), convnet, digits_images, {**_SGD, "lr": 0.02, "epochs": 5},
          "a ConvNet trained by SGD with momentum"),
    Setup("digits_small_batch_low_lr", (), mlp, digits,
          {"optimizer": "sgd", "lr": 0.005, "batch_size": 4, "epochs": 3},
          "batches of 4 rows at a learning rate scaled down to match"),
    Setup("digits_tanh_xavier", (), lambda: mlp(width=64, depth=3, activation="tanh", init="xavier"), digits,
          {**_ADAM, "epochs": 8}, "three tanh layers at the Xavier scale"),
    Setup("diabetes_deeper_regression", (), lambda: mlp(d=10, classes=1, width=32, depth=2), diabetes,
          {**_ADAM, "task": "regression", "weight_decay": 1e-4, "epochs": 10}, "two hidden layers, light decay"),
    Setup("diabetes_momentum_regression", (), lambda: mlp(d=10, classes=1, width=32), diabetes,
          {**_SGD, "task": "regression", "lr": 0.002, "epochs": 10},
          "regression by SGD with momentum, at a rate for 89 noisy validation rows"),
    Setup("digits_dropout_decay", (), lambda: mlp(width=128, dropout=0.2), digits,
          {**_ADAM, "weight_decay": 1e-4, "epochs": 8}, "dropout and weight decay at usual strengths"),
    Setup("digits_batchnorm", (), lambda: mlp(width=64, depth=2, batch_norm=True), digits,
          {**_SGD, "epochs": 8}, "batch norm between the layers, SGD with momentum"),
    Setup("circles_tanh_momentum", (), lambda: mlp(d=2, classes=2, width=32, activation="tanh", init="xavier"),
          circles, {**_SGD, "lr": 0.05, "epochs": 15}, "a tanh net on the rings, SGD with momentum"),
    Setup("cancer_logistic", (), lambda: nn.Linear(30, 2), cancer, {**_ADAM, "lr": 1e-2, "epochs": 10},
          "logistic regression on a (nearly) linearly separable problem: one linear layer is right"),
    Setup("cancer_imbalanced_weighted", (), lambda: mlp(d=30, classes=2, width=32), cancer_imbalanced_weighted,
          _ADAM, "10:1 classes, with sample weights balancing them"),
    Setup("digits_residual", (), ResidualMLP, digits, {**_ADAM, "epochs": 8}, "residual blocks with layer norm"),
    # broken
    Setup("wrong_backward", ("gradient_mismatch",), custom_relu_mlp, digits, _ADAM,
          "a custom autograd.Function ReLU whose backward ignores the mask"),
    Setup("halved_but_not_in_backward", ("gradient_mismatch",), halve_mlp, cancer, _ADAM,
          "a custom layer y = x/2 whose backward returns the gradient unscaled"),
    Setup("detached_hidden_layer", ("gradient_mismatch",), DetachedHidden, cancer, _ADAM,
          "the hidden layer's output detached in forward"),
    Setup("huge_output_init", ("init_loss",), huge_head, digits, _ADAM,
          "the output layer initialized 30x too large"),
    Setup("huge_last_layer", ("init_loss",), huge_last_layer, digits, {**_ADAM, "epochs": 8},
          "the last layer at 100x its default init (the outside study's case)"),
    Setup("raw_regression_target", ("unscaled_target",), lambda: mlp(d=10, classes=1, width=32), diabetes_raw_target,
          {**_ADAM, "task": "regression"}, "regression on the raw target (mean 152, std 77)"),
    Setup("double_softmax", ("outputs_not_logits", "cannot_overfit"), double_softmax, digits, _ADAM,
          "softmax inside the model, again inside the loss"),
    Setup("double_softmax_binary", ("outputs_not_logits", "cannot_overfit"), cancer_double_softmax, cancer,
          {**_ADAM, "epochs": 8}, "softmax inside a two-class model, again inside the loss"),
    Setup("sigmoid_output", ("outputs_not_logits", "cannot_overfit"), sigmoid_output, wine, {**_ADAM, "epochs": 8},
          "a sigmoid after the last layer of a three-class model"),
    Setup("relu_output", ("outputs_not_logits", "cannot_overfit"), relu_output, digits, _ADAM,
          "a ReLU after the last layer: no logit below 0"),
    Setup("batch_statistics_in_forward", ("batch_mixing",), BatchStatistics, digits, _ADAM,
          "inputs normalized by their batch's own mean and std inside forward"),
    Setup("view_across_the_batch", ("batch_mixing",), BatchAxisView, cancer, {**_ADAM, "epochs": 8},
          "rows mixed by a reshape over the batch axis"),
    Setup("shuffled_labels", ("no_signal", "overfitting"), mlp, digits_shuffled, {**_ADAM, "epochs": 8},
          "the training labels permuted apart from their rows"),
    Setup("cancer_shuffled_labels", ("no_signal", "overfitting"), lambda: mlp(d=30, classes=2, width=32),
          cancer_shuffled, {**_ADAM, "epochs": 8}, "the training labels permuted apart from their rows"),
    Setup("lr_10x_too_high", ("lr_too_high",), lambda: mlp(width=128, depth=2), digits, {**_SGD, "lr": 0.5},
          "SGD with momentum at 10x the working LR"),
    Setup("adam_lr_too_high", ("lr_too_high",), lambda: mlp(width=128, depth=2), digits, {**_ADAM, "lr": 0.1},
          "Adam at lr 0.1, 100x its default"),
    Setup("regression_lr_too_high", ("lr_too_high",), lambda: mlp(d=10, classes=1, width=32), diabetes,
          {**_SGD, "task": "regression", "lr": 0.5}, "regression with SGD at 10x the working LR"),
    Setup("regression_sgd_past_the_edge", ("lr_too_high",), lambda: mlp(d=10, classes=1, width=32), diabetes,
          {"task": "regression", "optimizer": "sgd", "lr": 0.3, "batch_size": 32, "epochs": 10},
          "regression by plain SGD at lr 0.3, five times past 2 / λ_max of the loss at initialization (beyond "
          "the catapult range up to about 4 / λ_max where a run can still settle: Lewkowycz et al. 2020)"),
    Setup("nesterov_lr_too_high", ("lr_too_high",), lambda: mlp(d=30, classes=2, width=32), cancer,
          {"optimizer": "nesterov", "lr": 1.0, "batch_size": 32, "epochs": 10}, "Nesterov momentum at lr 1"),
    Setup("plain_sgd_past_the_edge", ("lr_too_high",), lambda: mlp(d=13, classes=3, width=32), wine,
          {"optimizer": "sgd", "lr": 3.0, "batch_size": 16, "epochs": 10},
          "plain SGD at lr 3, past 2 / λ_max of the loss at initialization"),
    Setup("lr_too_low", ("lr_too_low",), lambda: mlp(width=128, depth=2), digits, {**_SGD, "lr": 1e-4},
          "SGD with momentum at 1/100 of a working LR (0.01)"),
    Setup("adam_lr_too_low", ("lr_too_low",), mlp, digits, {**_ADAM, "lr": 1e-5},
          "Adam at 1/100 of its default LR"),
    Setup("plain_sgd_lr_too_low", ("lr_too_low",), lambda: mlp(d=30, classes=2, width=32), cancer,
          {"optimizer": "sgd", "lr": 1e-4, "batch_size": 32, "epochs": 10}, "plain SGD at lr 1e-4"),
    Setup("convnet_lr_1e-5", ("lr_too_low",), convnet, digits_images,
          {"optimizer": "sgd", "lr": 1e-5, "batch_size": 32, "epochs": 6},
          "a ConvNet by SGD at lr 1e-5: the loss stays at ln 10 (the outside study's ResNet case)"),
    Setup("batch_of_four", ("noisy_loss", "lr_too_high"), mlp, digits,
          {**_ADAM, "lr": 1e-2, "batch_size": 4, "epochs": 6}, "minibatches of 4 rows with Adam at lr 0.01"),
    Setup("sgd_batch_of_one", ("noisy_loss", "lr_too_high"), mlp, digits,
          {"optimizer": "sgd", "lr": 0.05, "batch_size": 1, "epochs": 2},
          "SGD on one row at a time at lr 0.05 (the outside study's case)"),
    Setup("tiny_data_big_model", ("overfitting",), wide_mlp, digits_tiny, {**_ADAM, "epochs": 40},
          "40 training rows for a 512-wide, two-hidden-layer net"),
    Setup("cancer_tiny_data", ("overfitting",), lambda: mlp(d=30, classes=2, width=256, depth=2), cancer_tiny,
          {**_ADAM, "epochs": 60}, "20 training rows for a 256-wide, two-hidden-layer net"),
    Setup("linear_model_on_circles", ("underfitting", "cannot_overfit"), linear_model, circles,
          {**_ADAM, "lr": 1e-2}, "a linear model for a circular boundary"),
    Setup("weight_decay_1", ("underfitting",), mlp, digits, {**_ADAM, "weight_decay": 1.0},
          "weight decay 1.0: the penalty outweighs the data"),
    Setup("digits_bottleneck", ("underfitting", "cannot_overfit"), lambda: mlp(width=2), digits,
          {**_ADAM, "lr": 1e-2, "epochs": 10}, "a hidden layer of 2 units for 10 classes"),
    Setup("linear_stack", ("no_nonlinearity",), linear_stack, digits, {**_ADAM, "epochs": 8},
          "three linear layers and no activation (the outside study's case)"),
    Setup("linear_stack_on_circles", ("no_nonlinearity",), lambda: linear_stack(d=2, classes=2, width=32), circles,
          {**_ADAM, "lr": 1e-2}, "three linear layers for a circular boundary"),
    Setup("dead_relus", ("dead_relu",), negative_bias_relu, digits, _ADAM,
          "hidden biases initialized at -3"),
    Setup("deep_sigmoid_bad_init", ("saturation", "vanishing_gradients"), deep_sigmoid_bad_init, digits,
          {**_ADAM, "epochs": 6},
          "six sigmoid layers with N(0, 4) weights"),
    Setup("deep_sigmoid_8_std2", ("saturation", "vanishing_gradients"), deep_sigmoid_8_std2, digits,
          {"optimizer": "sgd", "lr": 0.01, "batch_size": 32, "epochs": 4},
          "eight sigmoid layers with N(0, 4) weights, SGD (the outside study's case)"),
    Setup("tanh_big_init", ("saturation",), tanh_big_init, cancer, {**_ADAM, "epochs": 8},
          "three tanh layers with N(0, 4) weights"),
    Setup("deep_sigmoid", ("vanishing_gradients",), deep_sigmoid, digits, {**_ADAM, "epochs": 4},
          "ten sigmoid layers with Xavier init"),
    Setup("deep_tanh_small_init", ("vanishing_gradients",), deep_tanh_small_init, digits, {**_ADAM, "epochs": 4},
          "ten tanh layers at 0.3x the Xavier scale"),
    Setup("deep_relu_large_init", ("exploding_gradients", "init_loss"), deep_relu_large_init, digits,
          {**_SGD, "lr": 0.01}, "eight ReLU layers at 3x the He scale"),
    Setup("features_times_1000", ("unscaled_inputs",), mlp, digits_times_1000, _ADAM,
          "inputs left in the thousands"),
    Setup("wine_unscaled", ("unscaled_inputs",), lambda: mlp(d=13, classes=3, width=32), wine_raw,
          {**_ADAM, "lr": 3e-3, "batch_size": 16}, "the wine measurements as recorded"),
    Setup("regression_inputs_times_1000", ("unscaled_inputs",), lambda: mlp(d=10, classes=1, width=32),
          diabetes_inputs_times_1000, {**_ADAM, "task": "regression"}, "regression inputs in the thousands"),
    Setup("convnet_on_raw_pixels", ("unscaled_inputs",), convnet, digits_pixels_255, {**_ADAM, "epochs": 6},
          "a ConvNet on 0-255 pixel intensities"),
    Setup("val_copied_from_train", ("split_overlap",), mlp, digits_leaky, _ADAM,
          "half the validation rows are training rows"),
    Setup("cancer_val_copied", ("split_overlap",), lambda: mlp(d=30, classes=2, width=32), cancer_leaky,
          {**_ADAM, "epochs": 8}, "half the validation rows are training rows"),
    Setup("imbalance_10_to_1", ("class_imbalance",), lambda: mlp(d=30, classes=2, width=32), cancer_imbalanced,
          _ADAM, "benign : malignant = 10 : 1"),
    Setup("digits_imbalanced", ("class_imbalance",), mlp, digits_imbalanced, {**_ADAM, "epochs": 30},
          "digit 0 : each other digit = 10 : 1"),
]


def healthy() -> list[Setup]:
    return [s for s in SETUPS if not s.right]


def broken() -> list[Setup]:
    return [s for s in SETUPS if s.right]
