"""Why knobs.Bayes trailed Optuna's GPSampler on the SST-2 linear model: where each sampler goes.

Usage:
    .venv/bin/python bench/bayes_text_why.py --seeds 5 --budget 40            # Bayes and GPSampler
    .venv/bin/python bench/bayes_text_why.py --seeds 5 --variant xi=0.1       # a Bayes variant too
    .venv/bin/python bench/bayes_text_why.py --jitter                         # how rough the objective is

For each (sampler, seed) run on the dev problem ``sst2_linear`` it prints the best error at 20 and
40 trials, how the model-phase trials (after the first 10) split over the penalty and loss choices,
how many put elastic net's conditional ``l1_ratio`` at an end of its range (0 or 1), and, for Bayes,
the fitted lengthscale of ``alpha`` and the noise variance at a few trials. ``--jitter`` evaluates two
configurations at nine alphas within +-10% (a unit-cube step of ~0.007): the spread is the objective's
roughness, which a GP sees as noise or as structure. docs/benchmarks.md, "Bayes on the text family:
why it trailed", has the findings.

The factories at the end are the variants measured there with ``bench/search.py``
(``--optimizers xi0.1=bayes_text_why:xi_0_1``); ``blank_conditional`` is a diagnostic, GPSampler's
treatment of a conditional parameter (left out of the GP, so its value is effectively random).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import collections
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bayes_levers import make_bayes  # noqa: E402
from search import ALL_PROBLEMS, _evaluate, tell_optuna, told  # noqa: E402

PROBLEM = "sst2_linear"
DESIGN = 10  # trials before both samplers' models take over (GPSampler: 10; Bayes here: 7)


def run(sampler_name: str, seed: int, budget: int) -> list[dict]:
    """One run: per trial the config, the error, and (Bayes) the fitted raw hyperparameters."""
    problem = ALL_PROBLEMS[PROBLEM]
    out: list[dict] = []
    if sampler_name == "optuna.GPSampler":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
        for _ in range(budget):
            trial = study.ask()
            config = problem.suggest_optuna(trial)
            value = _evaluate(problem, config)
            tell_optuna(study, trial, value)
            out.append({"config": config, "value": value, "raw": None})
        return out
    space, sampler, trials = problem.space(), make_bayes(sampler_name, seed), []
    for number in range(budget):
        config = sampler.suggest(space, trials)[0]
        value = _evaluate(problem, config)
        trials.append(told(number, config, value))
        out.append({"config": config, "value": value, "raw": None if sampler._raw is None else sampler._raw.copy()})
    return out


def describe(name: str, seed: int, rows: list[dict]) -> str:
    values = [r["value"] for r in rows]
    model = rows[DESIGN:]
    penalty = collections.Counter(r["config"]["penalty"] for r in model)
    loss = collections.Counter(r["config"]["loss"] for r in model)
    ends = sum(r["config"].get("l1_ratio", 0.5) in (0.0, 1.0) for r in model)
    line = (f"{name:18s} seed {seed}: best@20 {min(values[:20]):.3f} best@40 {min(values[:40]):.3f}  "
            f"penalty {dict(penalty)}  loss {dict(loss)}  l1_ratio at 0/1: {ends}")
    fits = [(i, r["raw"]) for i, r in enumerate(rows) if r["raw"] is not None and i % 5 == 0]
    if fits:  # raw = [log lengthscales (features, ngram_max, loss, penalty, alpha, l1_ratio), log s2, log noise]
        line += "\n" + " " * 20 + "  ".join(f"t{i}: l_alpha {np.exp(raw[4]):.3f} noise {np.exp(raw[-1]):.3f}"
                                           for i, raw in fits)
    return line


def jitter() -> None:
    problem = ALL_PROBLEMS[PROBLEM]
    for base in [dict(features="binary", ngram_max=3, loss="hinge", penalty="elasticnet", alpha=5e-7, l1_ratio=0.3),
                 dict(features="tfidf", ngram_max=1, loss="log_loss", penalty="l2", alpha=1.7e-5)]:
        vals = [_evaluate(problem, {**base, "alpha": base["alpha"] * f}) for f in np.exp(np.linspace(-0.1, 0.1, 9))]
        print(f"{base['loss']:8s} alpha {base['alpha']:.1e} +-10%: errors {np.round(vals, 3).tolist()} sd {np.std(vals):.4f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--variant", nargs="*", default=[], help="Bayes variants (bench/bayes_levers.py syntax)")
    parser.add_argument("--jitter", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.jitter:
        return jitter()
    for name in ["default", "optuna.GPSampler", *args.variant]:
        for seed in range(args.seeds):
            print(describe("knobs.Bayes" if name == "default" else name, seed, run(name, seed, args.budget)), flush=True)


if __name__ == "__main__":
    main()


# -- factories for bench/search.py (``label=bayes_text_why:name``) ----------------------------

def xi_0_1(seed: int):
    return make_bayes("xi=0.1", seed)


def ucb(seed: int):
    return make_bayes("acquisition=ucb", seed)


def standardize(seed: int):
    return make_bayes("warp=standardize", seed)


def noise_rate_10(seed: int):
    return make_bayes("prior.noise_rate=10", seed)


def noise_rate_3(seed: int):
    return make_bayes("prior.noise_rate=3", seed)


def ls_scale_0_5(seed: int):
    return make_bayes("prior.ls_scale=0.5", seed)


def n_initial_10(seed: int):
    return make_bayes("n_initial=10", seed)


def n_initial_13(seed: int):
    return make_bayes("n_initial=13", seed)


def n_initial_16(seed: int):
    return make_bayes("n_initial=16", seed)


def blank_conditional(seed: int):
    """Diagnostic: the GP ignores conditional axes (fitted with them constant, then given
    lengthscale 100), as GPSampler leaves them out of its intersection search space."""
    from knobs.search._bayes import Bayes
    from knobs.search._gp import gp as gpm

    class _Blank(Bayes):
        def _fit(self, X, z, coding, rng):
            cond = np.array([bool(c) for c in coding.conditions])
            blank = X.copy()
            blank[:, cond] = 0.5
            raw = super()._fit(blank, z, coding, rng).raw.copy()
            raw[:-2][cond] = np.log(100.0)
            self._raw = raw
            return gpm._factor(X, z, coding.is_cat, raw)

    return _Blank(seed=seed)
