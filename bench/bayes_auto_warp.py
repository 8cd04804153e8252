"""``knobs.Bayes(warp="auto")`` for bench/search.py (issue 17, item 3): the output warp chosen per suggestion,
power or standardized, by which GP predicts the raw losses better left-one-out.

Why: outputs only standardized beat the power warp on mlp_digits (0.966 against 0.947 at 80), the power warp
wins on Levy, rf_synth and the text family's first trials. Run:
    .venv/bin/python bench/search.py --set dev --families sklearn --seeds 5 --budgets 20 40 80 \
        --optimizers auto=bayes_auto_warp:auto --timing-reps 0 --jobs 2
"""
from knobs.search import Bayes


def auto(seed=None):
    return Bayes(seed=seed, warp="auto")

