"""The heavy-tailed spectral exponent α of each trained weight matrix: a data-free look at layers.

Why: Martin & Mahoney's heavy-tailed self-regularization (JMLR 2021; Nature Communications 2021,
the WeightWatcher tool) reads how far training has shaped a layer from its weights alone. The
eigenvalues λ = σ² of WᵀW (σ the singular values of W) of a random matrix follow the
Marchenko–Pastur law, whose tail is thin; training grows a power-law tail p(λ) ∝ λ^−α, and the
smaller α, the more correlated the layer. WeightWatcher reads α in [2, 6] as well trained, α < 2 as
over-trained and α > 6 as under-trained (``WELL_TRAINED``).

The fit is Clauset, Shalizi & Newman (2009), as WeightWatcher and the ``powerlaw`` package do it:
for every candidate lower bound ``xmin`` (each eigenvalue in turn) the maximum-likelihood exponent
of the tail above it, α = 1 + n / Σ ln(λᵢ / xmin), and the Kolmogorov–Smirnov distance D between
the tail's empirical distribution and the fitted power law; the ``xmin`` of least D wins. A
convolution's kernel ``(out, in, kh, kw)`` is ``kh·kw`` matrices ``(out, in)``, one per kernel
position, whose eigenvalues are pooled into one density (WeightWatcher's default).

Whether α tells over- from under-trained models on this project's small networks was measured
(tests/test_spectral.py, docs/benchmarks.md): it is reported per layer as a measurement, not
turned into a finding.

Glossary: ``W`` a 2-D weight matrix ``(out, in)``; ``evals`` its ESD, the eigenvalues of WᵀW, 1-D.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = (1 - rng.random(2_000)) ** (-1 / 2.5)     # a Pareto sample, p(x) ∝ x^-3.5 above 1
    >>> abs(power_law_fit(x)["alpha"] - 3.5) < 0.15
    True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["WELL_TRAINED", "MIN_EVALS", "MIN_TAIL", "MAX_CANDIDATES", "esd", "power_law_fit", "layer_spectra"]

#: WeightWatcher's reading of α: below 2 over-trained (over-fit), above 6 under-trained (random-like).
WELL_TRAINED = (2.0, 6.0)
# NOTE: WeightWatcher skips matrices with fewer than 10 eigenvalues (its ``min_evals``): a 10-class
# output layer of a small net is at the limit, and a fit on fewer points is noise.
MIN_EVALS = 10
# NOTE: a tail of fewer than 5 eigenvalues fits any exponent; Clauset et al. warn that the KS
# distance of a very short tail is small by chance, so such ``xmin`` are not candidates.
MIN_TAIL = 5
# NOTE: each candidate costs a pass over its tail, so all n candidates cost O(n²); past this many,
# evenly spaced ranks are tried (a 4,096-wide layer: 1,024 of its 4,096 eigenvalues), which moves
# xmin by at most a few ranks.
MAX_CANDIDATES = 1024


def esd(weight: torch.Tensor | np.ndarray) -> np.ndarray:
    """The eigenvalues of WᵀW (the squared singular values), ascending; a 4-D convolution kernel
    gives the pooled eigenvalues of its ``kh·kw`` position matrices."""
    w = torch.as_tensor(weight).detach().cpu().double()
    if w.ndim == 4:  # (out, in, kh, kw) -> (kh·kw, out, in)
        w = w.permute(2, 3, 0, 1).reshape(-1, w.shape[0], w.shape[1])
    elif w.ndim != 2:
        w = w.reshape(w.shape[0], -1)
    # NOTE: torch's SVD rather than numpy's: it runs on torch's thread pool (torch.set_num_threads),
    # while numpy's BLAS starts threads of its own, which on a loaded 2-core machine made one
    # 300 × 150 SVD take seconds instead of milliseconds.
    sv = torch.linalg.svdvals(w).reshape(-1).numpy()
    return np.sort(sv ** 2)


def power_law_fit(evals: np.ndarray, min_tail: int = MIN_TAIL) -> dict[str, Any] | None:
    """The tail exponent α of ``evals`` by maximum likelihood, ``xmin`` chosen by the least
    Kolmogorov–Smirnov distance; None when fewer than ``min_tail`` positive values.

    Returns ``{alpha, xmin, ks, n_tail, n}`` (``ks`` the distance D at the chosen ``xmin``).
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    x = x[np.isfinite(x) & (x > 0)]
    n = len(x)
    if n < min_tail:
        return None
    logs = np.log(x)
    # every candidate i (xmin = x[i]) at once: the tail is x[i:], n - i points
    tail_n = n - np.arange(n)
    suffix = np.cumsum(logs[::-1])[::-1]                     # Σ_{j >= i} ln x_j
    sum_log_ratio = suffix - tail_n * logs                   # Σ_{j >= i} ln(x_j / x_i)
    best: dict[str, Any] | None = None
    candidates = np.unique(np.linspace(0, n - min_tail, min(n - min_tail + 1, MAX_CANDIDATES)).astype(int))
    for i in candidates:
        if sum_log_ratio[i] <= 0 or (i and x[i] == x[i - 1]):
            continue
        alpha = 1.0 + tail_n[i] / sum_log_ratio[i]
        tail = x[i:]
        fitted = 1.0 - (tail / x[i]) ** (1.0 - alpha)        # the power law's CDF at each tail point
        k = np.arange(tail_n[i])
        ks = float(np.max(np.maximum(np.abs(k / tail_n[i] - fitted), np.abs((k + 1) / tail_n[i] - fitted))))
        if best is None or ks < best["ks"]:
            best = {"alpha": float(alpha), "xmin": float(x[i]), "ks": ks, "n_tail": int(tail_n[i]), "n": n}
    return best


def layer_spectra(model: nn.Module, min_evals: int = MIN_EVALS) -> dict[str, dict[str, Any]]:
    """α of every ``Linear`` and ``Conv1d``/``Conv2d`` weight of ``model``, by module name (as
    ``model.named_modules()`` names it): ``{alpha, xmin, ks, n_tail, n, shape}``; a matrix with fewer
    than ``min_evals`` eigenvalues gets ``alpha`` None and a ``skipped`` reason.

    Data-free and cheap next to training: one SVD per matrix (a 512 × 512 layer takes milliseconds).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            continue
        weight = module.weight
        shape = list(weight.shape)
        if not torch.isfinite(weight).all():
            out[name] = {"alpha": None, "shape": shape, "skipped": "non-finite weights"}
            continue
        evals = esd(weight)
        if len(evals) < min_evals:
            out[name] = {"alpha": None, "shape": shape, "n": len(evals),
                         "skipped": f"{len(evals)} eigenvalues, fewer than {min_evals}"}
            continue
        fit = power_law_fit(evals)
        out[name] = {**(fit or {"alpha": None, "skipped": "no positive eigenvalues"}), "shape": shape}
    return {name: {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in rec.items()}
            for name, rec in out.items()}
