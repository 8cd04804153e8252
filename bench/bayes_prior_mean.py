"""A screened lever, not in knobs: a pessimistic constant prior mean for the GP (the warped losses' upper quartile).

Why: Bayes's GP has mean 0 on the warped (standardized) losses, the sample's average, so away from every point its
prediction reverts to an average loss with the prior's full variance, and EI finds the box's unexplored corners
attractive. Traced on dev mlp_digits (docs/benchmarks.md, "Where GPSampler's mlp_digits lead comes from"): 9 of
Bayes's 40 trials had three or more axes at a bound (GPSampler 5-6), nearly all of them diverged or poor. With the
mean at the warped losses' upper quartile, the unexplored reverts to a poor loss, which is what a corner of a
training search box usually is. Shifting the warped losses by the quantile before a zero-mean fit is that prior
mean exactly (EI's incumbent moves with them; EI is unchanged by a common shift). Run:
    .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 --budgets 20 40 80 \
        --optimizers q75=bayes_prior_mean:q75 --timing-reps 0 --jobs 2       # q60: the 60th percentile
    # q75_late: the default's first 40 results, the upper quartile from the 40th on
"""
import functools

import numpy as np

from bayes_warp_floor import switched_warp
from knobs.search import Bayes
from knobs.search._gp import transforms


def shifted_power_warp(y: np.ndarray, quantile: float) -> np.ndarray:
    """The power warp, shifted so its ``quantile`` is 0 (where a zero-mean GP's prediction reverts)."""
    z = transforms.power_warp(y)
    return z - np.quantile(z, quantile)


transforms.WARPS["power_q75"] = functools.partial(shifted_power_warp, quantile=0.75)
# the default's warp for a run's first 40 results, the shifted one from then on (it explores less late)
transforms.WARPS["power_q75_late"] = functools.partial(switched_warp, early=transforms.power_warp,
                                                       late=transforms.WARPS["power_q75"], after=40)
transforms.WARPS["power_q60"] = functools.partial(shifted_power_warp, quantile=0.60)


def q75(seed=None):
    """Bayes with its GP's prior mean at the warped losses' upper quartile."""
    return Bayes(seed=seed, warp="power_q75")


def q75_late(seed=None):
    """Bayes as the default for its first 40 results, then with the prior mean at the upper quartile (late runs
    explored as much as early ones: trials 40-79 worse than a random configuration's median 0.10-0.25 of the time on
    dev sklearn, GPSampler's 0.00-0.21)."""
    return Bayes(seed=seed, warp="power_q75_late")


def q60(seed=None):
    """Bayes with its GP's prior mean at the warped losses' 60th percentile (a milder pessimism)."""
    return Bayes(seed=seed, warp="power_q60")
