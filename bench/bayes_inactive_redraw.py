"""A screened lever: Bayes's local candidates redraw the coordinates their incumbent does not use.

Why: an inactive conditional parameter sits at the space's 0.5, so a perturbation of an incumbent that turns it on
(its parent's choice redrawn) always tried its middle option or mid-range value first. With ``_redraw_inactive``
such a coordinate is drawn uniformly (``redraw``) or taken from the best incumbent that uses it (``branch_best``).
Only conditional spaces can differ. Run with a placebo arm (EI's margin changed in its 7th digit: what rounding
alone moves), as docs/benchmarks.md asks of every lever (results: docs/benchmarks.md, "A conditional parameter
turned on by a local step"; none of the four forms kept):
    .venv/bin/python bench/search.py --set dev --problems conditional svc_kernel_digits model_choice_digits \\
        mlp_solver_cancer sst2_linear sst2_embag --seeds 5 --budgets 20 40 80 \\
        --optimizers knobs.Bayes redraw=bayes_inactive_redraw:redraw placebo=bayes_inactive_redraw:placebo
"""
from knobs.search import Bayes


def redraw(seed=None):
    """Drawn uniformly."""
    sampler = Bayes(seed=seed)
    sampler._redraw_inactive = "uniform"
    return sampler


def choices(seed=None):
    """Drawn uniformly for a choice only (the middle option is a bias set by the options' order); a numeric
    parameter keeps its mid-range start."""
    sampler = Bayes(seed=seed)
    sampler._redraw_inactive = "choices"
    return sampler


def numbers(seed=None):
    """Drawn uniformly for a numeric parameter only (a choice keeps its middle option)."""
    sampler = Bayes(seed=seed)
    sampler._redraw_inactive = "numbers"
    return sampler


def branch_best(seed=None):
    """Taken from the best incumbent that uses the parameter (uniform when none does)."""
    sampler = Bayes(seed=seed)
    sampler._redraw_inactive = "best"
    return sampler


def placebo(seed=None):
    return Bayes(seed=seed, xi=0.0100001)
