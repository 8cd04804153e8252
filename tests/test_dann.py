"""knobs.transfer domain adaptation: the gradient reversal layer (gradcheck, sign), the λ and LR
schedules, the DANN network, and train_dann on a shifted toy problem and bad input."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from scipy import ndimage
from sklearn.datasets import load_digits
from torch.autograd import gradcheck, gradgradcheck

from knobs.errors import ConfigError, DataError
from knobs.models import build_model
from knobs.train import Diverged, Trainer
from knobs.transfer import DANN, GradientReversal, dann_lambda, dann_lr_factor, domain_classifier, grad_reverse, train_dann

torch.set_num_threads(1)


# ---- gradient reversal -------------------------------------------------------------------------------

def test_grl_is_the_identity_forward_and_reverses_the_sign_backward():
    x = torch.randn(4, 3, requires_grad=True)
    y = grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    (y * torch.arange(12.0).reshape(4, 3)).sum().backward()
    assert torch.allclose(x.grad, -0.7 * torch.arange(12.0).reshape(4, 3))


def test_grl_gradient_is_minus_lambda_times_a_gradchecked_gradient():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 5, dtype=torch.float64, generator=g)
    x = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)

    def loss(inp):
        return torch.tanh(inp @ W).pow(2).sum()

    assert gradcheck(loss, (x,))  # the plain gradient agrees with finite differences
    (plain,) = torch.autograd.grad(loss(x), x)
    for lam in (0.0, 0.3, 1.0, 2.5):
        (reversed_,) = torch.autograd.grad(loss(grad_reverse(x, lam)), x)
        assert torch.allclose(reversed_, -lam * plain)


def test_grl_backward_map_passes_gradcheck_and_gradgradcheck():
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)

    def vjp(v):  # the backward of R_λ as a function of the incoming gradient: v ↦ −λ·v
        (out,) = torch.autograd.grad(grad_reverse(x, 0.6), x, grad_outputs=v, create_graph=True)
        return out

    v = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    assert gradcheck(vjp, (v,))
    assert torch.allclose(vjp(v), -0.6 * v)
    assert gradgradcheck(lambda t: grad_reverse(t, 0.6), (x,))


def test_grl_alone_fails_gradcheck_on_purpose():
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert not gradcheck(lambda t: grad_reverse(t, 1.0), (x,), raise_exception=False)


# ---- schedules ---------------------------------------------------------------------------------------

def test_lambda_schedule_matches_the_paper():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1) and dann_lambda(1.0) > 0.9999
    assert dann_lambda(0.1) == pytest.approx(0.46211715726)  # tanh(0.5)
    values = [dann_lambda(p / 20) for p in range(21)]
    assert values == sorted(values)
    assert dann_lr_factor(0.0) == 1.0 and dann_lr_factor(1.0) == pytest.approx(11 ** -0.75)


# ---- the network ---------------------------------------------------------------------------------------

def test_dann_from_model_keeps_the_classifier_function():
    torch.manual_seed(0)
    net = build_model("mlp", input_shape=(6,), n_classes=4, width=8, depth=2)
    X = torch.randn(5, 6)
    expected = net(X).detach()
    dann = DANN.from_model(net)
    assert torch.allclose(dann(X), expected)
    logits, domain = dann.heads(X)
    assert torch.allclose(logits, expected) and domain.shape == (5, 1)
    assert isinstance(dann.grl, GradientReversal)


def test_dann_features_ascend_the_domain_loss_the_discriminator_descends_it():
    torch.manual_seed(0)
    dann = DANN.from_model(build_model("mlp", input_shape=(6,), n_classes=3, width=8, depth=1))
    plain = copy.deepcopy(dann)
    plain.grl = nn.Identity()
    dann.grl.lambda_ = 0.5
    X, d = torch.randn(10, 6), (torch.arange(10) % 2).float()
    for net in (dann, plain):
        F.binary_cross_entropy_with_logits(net.heads(X)[1].reshape(-1), d).backward()
    for (name, p), q in zip(dann.named_parameters(), plain.parameters()):
        if name.startswith("features"):
            assert torch.allclose(p.grad, -0.5 * q.grad), name
        elif name.startswith("discriminator"):
            assert torch.allclose(p.grad, q.grad), name


# ---- training -------------------------------------------------------------------------------------------

def rotated_blobs(n, angle, seed):
    """Four Gaussian classes on a ring; the target domain is the same ring rotated by ``angle``."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    centers = torch.stack([torch.cos(y * math.pi / 2), torch.sin(y * math.pi / 2)], 1) * 2
    X = centers + 0.45 * torch.randn(n, 2, generator=g)
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s], [s, c]])
    return X, X @ rot.T, y


def small_dann(seed=0):
    torch.manual_seed(seed)
    return DANN.from_model(build_model("mlp", input_shape=(2,), n_classes=4, width=32, depth=2), width=32)


def rotated_digits():
    """Digits (scaled to about unit variance) as the source, the same digits rotated by 30° as the target."""
    X, y = load_digits(return_X_y=True)
    X = (X.astype(np.float32) - 4.9) / 6.0
    rotate = lambda A: np.stack([ndimage.rotate(a.reshape(8, 8), 30, reshape=False, order=1).ravel() for a in A])
    idx = np.random.default_rng(0).permutation(len(X))
    s, t, test = idx[:800], idx[800:1300], idx[1300:]
    return ((torch.tensor(X[s]), torch.tensor(y[s])), torch.tensor(rotate(X[t])),
            (torch.tensor(rotate(X[test])), torch.tensor(y[test])))


@pytest.mark.slow
def test_dann_makes_features_domain_invariant_and_helps_the_rotated_target():
    source, target, test = rotated_digits()
    domain_acc, target_acc = {}, {}
    for lam in (0.0, 1.0):
        torch.manual_seed(0)
        model = DANN.from_model(build_model("mlp", input_shape=(64,), n_classes=10, width=128, depth=2))
        history = train_dann(model, source, target, epochs=20, batch_size=64, lr=0.01, lambda_max=lam,
                             val=source, seed=0, device="cpu")
        domain_acc[lam] = history.records[-1]["domain_accuracy"]
        target_acc[lam] = Trainer(device="cpu").evaluate(model, test)["accuracy"]
        assert history.records[-1]["val_accuracy"] > 0.95  # both still solve the source task
    # source-only features tell the domains apart perfectly; the reversed gradient blurs them
    assert domain_acc[0.0] > 0.95 and domain_acc[1.0] < 0.8, domain_acc
    assert target_acc[1.0] > target_acc[0.0] + 0.05, target_acc


def test_train_dann_records_the_schedules_and_a_source_only_run_ignores_the_target():
    Xs, Xt, ys = rotated_blobs(64, 0.5, seed=0)
    model = small_dann()
    history = train_dann(model, (Xs, ys), Xt, epochs=3, batch_size=32, lr=0.01, seed=0, device="cpu")
    records = history.records
    assert [r["epoch"] for r in records] == [1, 2, 3] and history.monitor == "train_loss"
    assert records[-1]["lambda"] == pytest.approx(dann_lambda(5 / 6))  # last of 6 steps, p = 5/6
    assert records[-1]["lr"] == pytest.approx(0.01 * dann_lr_factor(1.0))
    assert all(0 <= r["domain_accuracy"] <= 1 and r["val_accuracy"] is None for r in records)
    # lambda_max = 0: the target only trains the discriminator, never the features or classifier
    a, b = small_dann(), small_dann()
    train_dann(a, (Xs, ys), Xt, epochs=2, batch_size=32, lambda_max=0.0, seed=0, device="cpu")
    train_dann(b, (Xs, ys), Xt * 3 + 1, epochs=2, batch_size=32, lambda_max=0.0, seed=0, device="cpu")
    assert torch.allclose(a(Xs), b(Xs), atol=1e-6)


def test_train_dann_bad_input():
    Xs, Xt, ys = rotated_blobs(32, 0.5, seed=0)
    model = small_dann()
    with pytest.raises(ConfigError, match="train_dann needs a DANN"):
        train_dann(nn.Linear(2, 4), (Xs, ys), Xt)
    with pytest.raises(DataError, match=r"target: X has example shape \(3,\) but source has \(2,\)"):
        train_dann(model, (Xs, ys), torch.randn(8, 3), device="cpu")
    with pytest.raises(DataError, match="target: expected the unlabelled inputs X alone"):
        train_dann(model, (Xs, ys), (Xt, ys), device="cpu")
    with pytest.raises(DataError, match="labels go up to 9"):
        train_dann(model, (Xs, ys + 6), Xt, device="cpu")
    with pytest.raises(ConfigError, match="epochs: expected an integer >= 1, got 0"):
        train_dann(model, (Xs, ys), Xt, epochs=0)
    with pytest.raises(ConfigError, match="lambda_max: expected a number >= 0"):
        train_dann(model, (Xs, ys), Xt, lambda_max=-1)
    with pytest.raises(ConfigError, match="clip_grad_norm: expected a number > 0 or None"):
        train_dann(model, (Xs, ys), Xt, clip_grad_norm=0)
    with pytest.raises(ConfigError, match="optimizer: unknown 'lion'"):
        train_dann(model, (Xs, ys), Xt, optimizer="lion", device="cpu")


def test_train_dann_divergence_names_the_step():
    Xs, Xt, ys = rotated_blobs(32, 0.5, seed=0)
    with pytest.raises(Diverged, match="training diverged"):
        train_dann(small_dann(), (Xs * 1e3, ys), Xt * 1e3, epochs=3, batch_size=16, optimizer="sgd", lr=1e12,
                   anneal_lr=False, device="cpu")


def test_a_one_logit_binary_classifier_trains_by_domain_adversarial_training():
    g = torch.Generator().manual_seed(0)
    Xs = torch.randn(256, 8, generator=g)
    ys = (Xs[:, 0] > 0).long()
    model = DANN(nn.Sequential(nn.Linear(8, 16), nn.ReLU()), nn.Linear(16, 1), domain_classifier(16))
    history = train_dann(model, (Xs, ys), torch.randn(256, 8, generator=g) + 1.0, epochs=15, lr=0.05, val=(Xs, ys))
    # it failed: "Target 1 is out of bounds"; now it learns the source labels (its two-logit twin: 0.90 here)
    assert history.records[-1]["val_accuracy"] > 0.7 and history.records[-1]["train_loss"] < history.records[0]["train_loss"]
