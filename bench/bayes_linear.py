"""A screened lever, not in knobs' default: HEBO's kernel, the Matérn plus a linear term (``gp.Prior.linear_loc``).

Why: Bayes's GP reverts to the warped losses' mean, with the prior's full variance, wherever its points are far, so
EI keeps probing the box's corners: in the LCBench space a quarter of a cold run's 40 trials put five or more of the
seven axes at a bound, and about 3 a run (5 in the half-epoch sources) train to an error above 0.6 (learning rate
1e-4 with batch 256, momentum 0.99, weight decay 0.1, dropout 0.8; bench/results/warm_start_real_dev_vet_fast.json,
20 seeds). A linear term, lin * (x - 0.5).(x' - 0.5) over the numeric axes
with its variance fitted (log-normal prior, median 1 on the standardized losses), carries the trend the data show
to the corners and is sure of it there, so a corner the trend calls bad loses its EI, and one it calls good keeps
it. (A pessimistic constant prior mean, bench/bayes_prior_mean.py, treated every corner alike: it lost the mlp and
convnet families, whose best configurations lie on bounds.) Run:
    PYTHONPATH=src:bench nice -n 5 .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 \
        --budgets 20 40 80 --optimizers linear=bayes_linear:linear --timing-reps 0 --jobs 2
"""
import numpy as np

from knobs.search import Bayes
from knobs.search._gp import gp as gpm

#: the linear term's prior: log variance ~ N(0, 1.5^2)
LINEAR = gpm.Prior(linear_loc=0.0)


def _with_prior(prior: gpm.Prior, seed=None) -> Bayes:
    sampler = Bayes(seed=seed)
    sampler._prior = prior  # on the instance: the class keeps the default
    return sampler


def linear(seed=None):
    """Bayes whose GP is a Matérn-5/2 plus a fitted linear term (every other setting the default)."""
    return _with_prior(LINEAR, seed)


#: a weaker linear term: log variance ~ N(log 0.1, 1), so only a strong trend keeps one
WEAK = gpm.Prior(linear_loc=float(np.log(0.1)), linear_scale=1.0)


def linear_weak(seed=None):
    """Bayes with a linear term whose prior variance is ten times smaller (``WEAK``)."""
    return _with_prior(WEAK, seed)
