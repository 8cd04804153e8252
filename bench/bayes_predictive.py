"""A screened lever, not in knobs: EI on the predictive distribution of the next observed loss (the latent
posterior's variance plus the fitted noise), instead of on the latent function.

Why: knobs' EI compares the latent posterior f(x) with the lowest *observed* loss. Where the fit sees
noise (a jagged plateau: tree ensembles' log loss moves by chance with every count and fraction; real
trainings' seeds), the lowest observation sits below the latent mean everywhere, EI is small where the
mean is lowest and the search drifts to where the GP is unsure. What is scored (and what a user keeps)
is the best observed loss, and another observation near the best region is a fresh draw with the noise's
spread: the chance that it beats the incumbent is what EI on y = f + noise measures. TPE, which led on the
check set's rf_cancer, keeps drawing there; GPSampler trailed it too. Where the fit sees no noise (smooth
synthetic functions) the two forms coincide. Run:
    .venv/bin/python bench/search.py --set dev --seeds 5 --budgets 20 40 80 \
        --optimizers predictive=bayes_predictive:predictive placebo=bayes_int_floor:placebo --timing-reps 0
"""
import numpy as np

from knobs.search import Bayes
from knobs.search import _bayes
from knobs.search._gp import acquisition as acq
from knobs.search._gp import gp as gpm


def _predictive_scorers(model: gpm.GP, name: str, param: float, best: float, share: float):
    """``_bayes._scorers`` with ``share`` of the fitted noise variance added to the latent variance."""
    fn = acq.ACQUISITIONS[name]
    noise = share * model.noise_var

    def score(U: np.ndarray) -> np.ndarray:
        mean, var = gpm.posterior(model, U)
        return fn(mean, np.sqrt(var + noise), best, param)[0]

    def score_grad(U: np.ndarray):
        mean, var, dmean, dvar = gpm.posterior_grad(model, U)
        std = np.sqrt(var + noise)
        value, d_mean, d_std = fn(mean, std, best, param)
        return value, d_mean[:, None] * dmean + (d_std / (2.0 * std))[:, None] * dvar

    return score, score_grad


class Predictive(Bayes):
    share = 1.0

    def _pick(self, *args, **kwargs):
        orig = _bayes._scorers
        _bayes._scorers = lambda model, name, param, best: _predictive_scorers(model, name, param, best,
                                                                                 self.share)
        try:
            return super()._pick(*args, **kwargs)
        finally:
            _bayes._scorers = orig


def predictive(seed=None):
    return Predictive(seed=seed)


def predictive_half(seed=None):
    b = Predictive(seed=seed)
    b.share = 0.5
    return b
