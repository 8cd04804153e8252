"""A screened lever, not in knobs: a floor under the power warp's Yeo-Johnson lambda. Why: on the dev
sklearn problems where GPSampler (outputs only standardized) leads Bayes at 40 / 80 trials, the
maximum-likelihood lambda is -2 to -3 by 40 trials (mlp_digits, hgb_cancer: a long diverged tail against
good losses within a few percent of each other), which stretches the good end's jitter into apparent
structure; standardized outputs did better there and worse on rf_synth / rf_wine (docs/benchmarks.md, "A
probe for the next lead on mlp_digits"). A floor keeps the warp concave on the bad side but limits the
stretch. Run:
    .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 --budgets 20 40 80 \
        --optimizers floor0=bayes_warp_floor:floor0 floor_m1=bayes_warp_floor:floor_m1 --timing-reps 0
Also ``std_late`` (session 21): the power warp for a run's first 40 results, then standardized outputs.
"""
import functools

from knobs.search import Bayes
from knobs.search._gp import transforms

transforms.WARPS["power_floor0"] = functools.partial(transforms.power_warp, floor=0.0)
transforms.WARPS["power_floor_m1"] = functools.partial(transforms.power_warp, floor=-1.0)


def floor0(seed=None):
    """lambda >= 0: at most a log-like stretch of the good end."""
    return Bayes(seed=seed, warp="power_floor0")


def floor_m1(seed=None):
    """lambda >= -1."""
    return Bayes(seed=seed, warp="power_floor_m1")


def switched_warp(y, early, late, after: int):
    """``early(y)`` for a run's first ``after`` losses, ``late(y)`` from then on (a warp that changes mid-run)."""
    return early(y) if len(y) < after else late(y)


# NOTE (session 21): late trials explore more under the power warp (dev logreg_cancer, 4 seeds, 80 trials: trials 40-79
# worse than a random configuration's median 0.22 of the time, standardized outputs 0.07; GPSampler 0.00), which
# compresses the bad tail; the power warp's gains (Levy, Hartmann-6, text) are made in the first 40 trials.
transforms.WARPS["power_then_std40"] = functools.partial(switched_warp, early=transforms.power_warp,
                                                         late=transforms.standardize, after=40)


def std_late(seed=None):
    """The power warp for the first 40 results, standardized outputs from the 40th on."""
    return Bayes(seed=seed, warp="power_then_std40")
