"""A screened lever (``Bayes._flat_pairs``, off in knobs): candidates inside a region the run has shown
to be flat (two near configs, the same loss to the last bit) are passed over like taken configs.
docs/benchmarks.md, "Exact repeats". Run:
    .venv/bin/python bench/search.py --set dev --families sklearn --seeds 5 --budgets 20 40 80 \
        --optimizers flat=bayes_flat:flat --timing-reps 0 --no-reference
"""
from knobs.search import Bayes


def flat(seed=None):
    sampler = Bayes(seed=seed)
    sampler._flat_pairs = True
    return sampler


def flat2(seed=None):
    """Also a continuous axis's resolution: steps no larger than a flat one-axis pair's are skipped
    from every evaluated config."""
    sampler = flat(seed)
    sampler._flat_resolution = True
    return sampler
