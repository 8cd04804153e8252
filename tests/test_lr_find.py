"""knobs.train.lr_find: the sweep, the band, the suggestions, and leaving no trace."""

import json
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from knobs.errors import ConfigError, DataError
from knobs.models import build_model
from knobs.train import lr_find
from knobs.train._lr_find import lr_grid, smooth, steepest_index

torch.set_num_threads(1)


def data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 8, generator=g)
    return X, (X[:, :3].sum(1) > 0).long() + (X[:, 3] > 1).long()


def net(**kw):
    torch.manual_seed(0)
    return build_model("mlp", input_shape=(8,), n_classes=3, width=32, depth=1, **kw)


def test_pure_helpers():
    lrs = lr_grid(1e-4, 1.0, 5)
    assert np.allclose(lrs, [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert np.allclose(smooth([2.0, 2.0, 2.0], 0.1), 2.0)  # bias correction: no pull towards 0
    manual, avg = [], 0.0
    for i, v in enumerate([3.0, 1.0, 2.0]):
        avg = 0.7 * avg + 0.3 * v
        manual.append(avg / (1 - 0.7 ** (i + 1)))
    assert np.allclose(smooth([3.0, 1.0, 2.0], 0.3), manual)
    lrs = lr_grid(1e-6, 1.0, 61)
    curve = 1 / (1 + np.exp(3 * (np.log10(lrs) + 3)))  # steepest fall at lr = 1e-3
    curve[50:] = np.linspace(curve[49], 5, 11)
    assert lrs[steepest_index(lrs, curve)] == pytest.approx(1e-3, rel=0.3)


def test_sweep_band_and_suggestions():
    result = lr_find(net(), data(), optimizer="sgd", start_lr=1e-4, end_lr=100, steps=60, seeds=(0, 1))
    assert result.lrs[0] == pytest.approx(1e-4) and result.lrs[-1] == pytest.approx(100)
    assert result.losses.shape == result.raw.shape == (2, 60)
    assert result.divergence_lr is not None and result.divergence_lr > 0.1
    assert any(stop is not None for stop in result.stops)
    assert 1e-4 < result.suggested_lr < result.divergence_lr
    low, high = result.suggest_range()
    assert low <= high < result.divergence_lr
    lower, upper = result.band
    finite = np.isfinite(result.mean)
    assert (lower[finite] <= result.mean[finite]).all() and (upper[finite] >= result.mean[finite]).all()
    assert result.std[finite].max() > 0  # two seeds see different batches
    mean = result.mean[finite]
    assert mean[np.argmin(mean)] < 0.9 * mean[0]  # the loss did fall before diverging
    json.dumps(result.to_dict())


def test_a_dataloader_is_read_into_the_same_sweep_as_its_tensors():
    from torch.utils.data import DataLoader, TensorDataset

    X, y = data()
    kwargs = dict(optimizer="sgd", start_lr=1e-4, end_lr=100, steps=40, seeds=(0, 1))
    from_tensors = lr_find(net(), (X, y), **kwargs)
    from_loader = lr_find(net(), DataLoader(TensorDataset(X, y), batch_size=50), **kwargs)
    np.testing.assert_array_equal(from_loader.raw, from_tensors.raw)
    with pytest.raises(DataError, match="lr_find: train DataLoader gave no batches with rows"):
        lr_find(net(), DataLoader(TensorDataset(X[:0], y[:0]), batch_size=8), **kwargs)
    with pytest.raises(DataError, match=r"train: expected \(X, y\) tensors or arrays, got str"):
        lr_find(net(), "train.csv", **kwargs)


def test_identical_seeds_give_a_zero_band():
    result = lr_find(net(), data(), steps=20, seeds=(3, 3), end_lr=1e-2)
    assert np.allclose(result.std, 0) and result.divergence_lr is None


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_model_left_bitwise_as_it_was():
    model = net(batch_norm=True, dropout=0.2)
    model.eval()
    model(torch.randn(4, 8)).sum().backward()  # leave gradients lying around, as a user might
    before = _snapshot(model)
    grads = [p.grad.clone() for p in model.parameters()]
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    lr_find(model, data(), steps=40, seeds=(0, 1))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert not model.training and not any(m.training for m in model.modules())
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG is untouched too


def test_users_optimizer_left_exactly_as_it_was():
    model = net()
    opt = torch.optim.Adam([{"params": model.body.parameters(), "lr": 1e-3},
                            {"params": model.head.parameters(), "lr": 2e-3}])
    X, y = data()
    for _ in range(3):  # real state: moments and step counts
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    weights, state = _snapshot(model), opt.state_dict()
    saved = {i: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()} for i, s in state["state"].items()}
    groups = [dict((k, v) for k, v in g.items() if k != "params") for g in state["param_groups"]]
    python_state = random.getstate()
    result = lr_find(model, (X, y), optimizer=opt, steps=30, seeds=(0, 1), end_lr=1.0)
    assert np.isfinite(result.raw[:, 0]).all()
    after = opt.state_dict()
    for i, s in saved.items():
        for k, v in s.items():
            assert torch.equal(v, after["state"][i][k]) if torch.is_tensor(v) else v == after["state"][i][k]
    assert [dict((k, v) for k, v in g.items() if k != "params") for g in after["param_groups"]] == groups
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert random.getstate() == python_state


def test_users_optimizer_keeps_group_ratios_during_sweep():
    model = net()
    opt = torch.optim.SGD([{"params": model.body.parameters(), "lr": 1.0},
                           {"params": model.head.parameters(), "lr": 0.1}])
    seen = []
    original_step = opt.step

    def spy_step(*args, **kwargs):
        seen.append([g["lr"] for g in opt.param_groups])
        return original_step(*args, **kwargs)

    opt.step = spy_step
    lr_find(model, data(), optimizer=opt, start_lr=1e-3, end_lr=1e-1, steps=5, seeds=(0,))
    assert all(b == pytest.approx(a / 10) for a, b in seen)
    assert seen[0][0] == pytest.approx(1e-3) and seen[-1][0] == pytest.approx(1e-1)


@pytest.mark.parametrize("kwargs, match", [
    ({"start_lr": 0}, "start_lr"), ({"end_lr": 1e-8}, "end_lr"), ({"steps": 2}, "steps"),
    ({"seeds": ()}, "seeds"), ({"smoothing": 0}, "smoothing"), ({"diverge_factor": 1}, "diverge_factor"),
    ({"optimizer": "lion"}, "sgd, momentum"), ({"task": "x"}, "task"), ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        lr_find(net(), data(), **{"steps": 5, **kwargs})


def test_to_dict_is_json_with_nulls_for_stopped_steps():
    result = lr_find(net(), data(), start_lr=1e-3, end_lr=1e3, steps=40, seeds=(0,))
    d = json.loads(json.dumps(result.to_dict()))
    assert d["divergence_lr"] == pytest.approx(result.divergence_lr)
    assert None in d["losses"][0] and len(d["lrs"]) == 40
    assert d["range"][0] <= d["range"][1] and math.isfinite(d["suggested_lr"])


def test_falling_region_and_flat_curve():
    from knobs.train._lr_find import LRFindResult, falling_region

    curve = np.array([10.0, 9.9, 9.0, 5.0, 1.0, 0.5, 2.0])
    assert falling_region(curve) == (2, 4, 5)  # 10% of the 9.5 drop at 9.0, 90% at 1.0, min at 5
    assert falling_region(np.array([1.0, 1.0, 2.0])) is None
    lrs = lr_grid(1e-3, 1.0, 4)
    flat = LRFindResult(lrs=lrs, raw=np.ones((1, 4)), losses=np.array([[1.0, 1.1, 1.2, 1.3]]), seeds=(0,), stops=(None,))
    assert flat.suggested_lr is None and flat.to_dict()["range"] == [None, None]
    with pytest.raises(ConfigError, match="never fell"):
        flat.suggest_range()
