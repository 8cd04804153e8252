"""A screened lever, not in knobs: a larger acquisition search. Why: on mlp_digits (dev sklearn, where
GPSampler leads at 40 / 80 trials) `n_candidates=8192, n_local=30` together scored 0.957 at 80 against
0.947 (docs/benchmarks.md, "A probe for the next lead on mlp_digits") at twice the time; these arms
split the two so each is measured on its own cost. Run:
    .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 --budgets 20 40 80 \
        --optimizers cand8k=bayes_acq_budget:cand8k local30=bayes_acq_budget:local30 --timing-reps 0
"""
from knobs.search import Bayes


def cand8k(seed=None):
    """Four times the quasi-random candidates EI is scored on (8,192), polishes unchanged."""
    return Bayes(seed=seed, n_candidates=8192)


def local30(seed=None):
    """Three times the L-BFGS-B polishes (30 best candidates), candidates unchanged."""
    return Bayes(seed=seed, n_local=30)


def wide(seed=None):
    """Both: the probe's setting."""
    return Bayes(seed=seed, n_candidates=8192, n_local=30)
