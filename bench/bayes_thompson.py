"""Bayes's suggestion as the minimum of one joint posterior draw over its acquisition's best candidates
(``Bayes._thompson_top``), screened here as ``ts8`` / ``ts32`` / ``tsg``. Measured and taken out (docs/benchmarks.md,
"A Thompson draw over the acquisition's best candidates"): run it on commit b593ec2, which has the lever.

Why: on a rough plateau (a forest's ``max_features``, whose loss between 0.38 and 0.84 moves with which features each
forest drew) the GP fits a smooth bowl and EI keeps proposing its predicted minimum: on dev rf_digits 30 of 60 trials
after the 20th repeated an earlier configuration bit for bit, while GPSampler and TPE spread over the plateau and drew
luckier forests (docs/benchmarks.md, "Where the dev sklearn gap to GPSampler lies"). A draw over the top candidates
keeps every suggestion among those the acquisition rates highest (all near a narrow minimum, where it matters) and
spreads them where the posterior cannot tell them apart. Run:
    PYTHONPATH=src:bench nice -n 5 .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 \\
        --budgets 20 40 80 --optimizers ts8=bayes_thompson:ts8 --timing-reps 0 --jobs 2
"""
from knobs.search import Bayes


def _with_top(top, seed=None, gap=None) -> Bayes:
    if not hasattr(Bayes, "_thompson_top"):
        raise SystemExit("bench/bayes_thompson.py: Bayes._thompson_top was taken out; check out commit b593ec2 to run it")
    sampler = Bayes(seed=seed)
    sampler._thompson_top = top
    sampler._thompson_gap = gap
    return sampler


def ts8(seed=None):
    """Bayes with ``_thompson_top = 8``."""
    return _with_top(8, seed)


def ts32(seed=None):
    """Bayes with ``_thompson_top = 32``."""
    return _with_top(32, seed)


def tsg(seed=None):
    """Bayes with ``_thompson_top = 32`` over the candidates within half a nat of the best log-EI."""
    return _with_top(32, seed, gap=0.5)
