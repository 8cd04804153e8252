"""The heavy-tailed spectral exponent α of weight matrices (WeightWatcher's fit, knobs.diagnose._spectral)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from knobs.diagnose._spectral import MIN_EVALS, esd, layer_spectra, power_law_fit


def pareto(alpha: float, n: int, xmin: float = 1.0, seed: int = 0) -> np.ndarray:
    """n draws of p(x) ∝ x^-alpha above xmin (inverse CDF)."""
    return xmin * (1 - np.random.default_rng(seed).random(n)) ** (-1 / (alpha - 1))


@pytest.mark.parametrize("alpha", [2.0, 3.0, 5.0])
def test_the_maximum_likelihood_exponent_of_a_pure_power_law(alpha):
    fit = power_law_fit(pareto(alpha, 1500))
    assert fit["alpha"] == pytest.approx(alpha, abs=0.15)
    assert fit["ks"] < 0.05


def test_xmin_is_where_the_tail_starts_by_the_kolmogorov_smirnov_distance():
    rng = np.random.default_rng(1)
    bulk = rng.uniform(0.05, 1.0, 900)            # a body that is no power law
    tail = pareto(3.0, 400, xmin=1.0, seed=2)
    fit = power_law_fit(np.concatenate([bulk, tail]))
    assert fit["xmin"] == pytest.approx(1.0, rel=0.2)
    assert fit["alpha"] == pytest.approx(3.0, abs=0.3)
    assert 400 <= fit["n_tail"] < 700    # the tail, and only the top of the bulk
    # fitting from the smallest value instead (no xmin search) gets the exponent wrong
    whole = 1 + len(bulk) / np.sum(np.log(np.concatenate([bulk, tail]) / 0.05))
    assert abs(whole - 3.0) > 1.0


def test_the_esd_is_the_squared_singular_values_and_a_convolution_pools_its_kernel_positions():
    torch.manual_seed(0)
    w = torch.randn(20, 8)
    assert np.allclose(esd(w), np.sort(np.linalg.eigvalsh((w.T @ w).double().numpy())), rtol=1e-6)
    k = torch.randn(6, 4, 3, 3)
    evals = esd(k)
    assert len(evals) == 9 * 4
    one = np.linalg.svd(k[:, :, 1, 2].double().numpy(), compute_uv=False) ** 2
    assert all(np.isclose(evals, v).any() for v in one)


def test_a_heavy_tailed_matrix_has_a_smaller_alpha_than_a_random_gaussian_one():
    rng = np.random.default_rng(0)
    gaussian = power_law_fit(esd(rng.standard_normal((300, 150))))["alpha"]
    heavy = power_law_fit(esd(rng.standard_t(1.5, size=(300, 150))))["alpha"]
    assert heavy < 3 < gaussian


def test_layer_spectra_names_modules_and_skips_matrices_with_too_few_eigenvalues():
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 16, 3)), ("flat", nn.Flatten()),
                                     ("fc", nn.Linear(16 * 4, 64)), ("head", nn.Linear(64, 3))]))
    spectra = layer_spectra(net)
    assert list(spectra) == ["conv", "fc", "head"] and set(spectra) <= dict(net.named_modules()).keys()
    assert spectra["fc"]["alpha"] > 1 and spectra["fc"]["shape"] == [64, 64] and spectra["fc"]["n"] == 64
    assert spectra["conv"]["n"] == 9 * 3
    assert spectra["head"]["alpha"] is None and str(MIN_EVALS) in spectra["head"]["skipped"]
    with torch.no_grad():
        net.fc.weight[0, 0] = float("nan")
    assert layer_spectra(net)["fc"] == {"alpha": None, "shape": [64, 64], "skipped": "non-finite weights"}


def test_a_diagnosis_reports_alpha_per_layer_of_its_trained_copy_as_evidence_not_as_a_finding():
    from knobs.diagnose._evidence import Settings, watched_run

    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([("fc", nn.Linear(16, 32)), ("act", nn.ReLU()), ("head", nn.Linear(32, 3))]))
    X, y = torch.randn(64, 16), torch.randint(0, 3, (64,))
    run = watched_run(net, (X, y), (X, y), Settings(optimizer="adam", epochs=1, batch_size=16), every=2)
    assert list(run["spectral"]) == ["fc", "head"] and run["spectral"]["fc"]["alpha"] > 1
    assert run["spectral"]["fc"]["alpha"] != layer_spectra(net)["fc"]["alpha"]  # the trained copy, not the input
