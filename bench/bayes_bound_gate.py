"""A screened lever, not in knobs: the pessimistic prior mean (bench/bayes_prior_mean.py's ``q75``) only while the
run's best configuration lies inside the box, the default while it sits on a bound.

Why: two levers that keep the search off the box's unexplored edges — the prior mean at the warped losses' upper
quartile, and a linear term in the kernel (bench/bayes_linear.py) — each gained on the dev synthetic, sklearn and
tables families and lost the LCBench MLPs and ConvNets, whose best configurations lie on bounds (learning rate 0.1,
batch 16, 256 units). Which kind a run is shows in its own best point: a numeric parameter of the incumbent at a
bound says the edges hold the good region (and the box may be too small), every one inside says they likely do not.
Each suggestion decides again. Run:
    PYTHONPATH=src:bench nice -n 5 .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 \
        --budgets 20 40 80 --optimizers gated=bayes_bound_gate:gated --timing-reps 0 --jobs 2
"""
from typing import Any, Mapping

import bayes_prior_mean  # noqa: F401  (registers the "power_q75" warp)
from knobs.search import Bayes
from knobs.space import Space

#: a float within this share of its (log) range from a bound counts as on it
EDGE = 0.01


def on_bound(space: Space, config: Mapping[str, Any]) -> bool:
    """Whether any active numeric parameter of ``config`` is at (or, for a float, within ``EDGE`` of) a bound."""
    for name in space:
        param = space[name]
        if param.kind not in ("float", "int") or name not in config:
            continue
        value = config[name]
        if value == param.low or value == param.high:
            return True
        if param.kind == "float" and getattr(param, "step", None) is None:
            u = param.to_unit(value)
            if u <= EDGE or u >= 1.0 - EDGE:
                return True
    return False


class BoundGated(Bayes):
    """Bayes whose warp is the pessimistic ``power_q75`` while its best configuration is inside the box."""

    def _suggest_from_model(self, space, trials, history, *args, **kwargs):
        best_config = min(history, key=lambda item: item[1])[0]
        self.warp = "power" if on_bound(space, best_config) else "power_q75"
        return super()._suggest_from_model(space, trials, history, *args, **kwargs)


def gated(seed=None):
    """``BoundGated`` with every other setting the default."""
    return BoundGated(seed=seed)
