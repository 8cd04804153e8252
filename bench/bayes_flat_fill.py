"""Bayes's suggestion drawn at random on the axes its GP holds flat there (``Bayes._flat_fill``): screened here as
``flat`` (before it was the default), and ``no_fill`` switches it off.

Why: late in a run EI is tiny everywhere and log-EI, which the acquisition maximizes, grows by nats toward the
bounds of an axis the GP holds flat (its standard deviation there is larger by thousandths), so such a parameter sat
on one of its bounds in 21-28 of the 30 model-guided trials of a 40-trial search (logreg_cancer's intercept_scaling
did the same on the dev set) — trials piled on the bounds of a parameter that barely matters, values a person reads
as "the optimum is at the edge". With ``_flat_fill = tol`` each free axis along which the posterior mean and standard
deviation at the suggestion both vary by less than ``tol`` (standardized units) is drawn uniformly instead
(Dropout-BO's random fill, Li et al. 2017, here decided by the model): on that search 2-4 of 30 on a bound, the best
values level. Run:
    PYTHONPATH=src:bench nice -n 5 .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 \\
        --budgets 20 40 80 --optimizers flat=bayes_flat_fill:flat_fill --timing-reps 0 --jobs 2
"""
from knobs.search import Bayes

#: the posterior mean's and standard deviation's range along an axis, in standardized units, below which it is flat
TOL = 0.05


def _with_fill(tol, seed=None) -> Bayes:
    sampler = Bayes(seed=seed)
    sampler._flat_fill = tol
    return sampler


def flat_fill(seed=None):
    """Bayes with ``_flat_fill = TOL`` (every other setting the default)."""
    return _with_fill(TOL, seed)


def no_fill(seed=None):
    """Bayes as the acquisition puts its suggestions, flat axes too (``_flat_fill = None``)."""
    return _with_fill(None, seed)
