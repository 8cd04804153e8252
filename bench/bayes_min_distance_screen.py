"""A first look at one lead for Bayes's jagged plateaus: skip candidates closer than DELTA fitted lengthscales
to an evaluated point (a prototype subclass, not in knobs). Run from bench/:
    ../.venv/bin/python bayes_min_distance_screen.py mlp_digits 0.3 60     # DELTA 0 = the default Bayes
Prints the best value at 20 / 40 / budget trials for seeds 0-4 (docs/benchmarks.md, the dev set's sklearn family)."""
import sys, numpy as np
sys.path.insert(0, '.')
import search as S
from knobs.search import Bayes
from knobs.search import _bayes as B
from knobs.search._base import config_key

class MinDist(Bayes):
    delta = 0.1
    def _pick(self, model, coding, incumbents, best, space, taken, rng, xi):
        score, score_grad = B._scorers(model, self.acquisition, self.kappa if self.acquisition == "ucb" else xi, best)
        sobol = B.sobol_points(model.X.shape[1], int(rng.integers(2**63)), 0, self.n_candidates)
        pool = np.vstack([sobol, B._perturb(incumbents, coding, rng)])
        scale = np.minimum(model.lengthscales, 1.0)
        candidates, _ = B.optimize.maximize(score, score_grad, coding.canonical, pool, coding.levels, scale, n_local=self.n_local)
        ls = np.asarray(model.lengthscales, float)
        for u in candidates:
            key = config_key(space.from_unit(u))
            if key in taken:
                continue
            x = coding.encode(space.to_unit_many([space.from_unit(u)]))[0]
            d = np.sqrt((((model.X - x) / ls) ** 2).sum(axis=1)).min()
            if d < self.delta:
                continue
            taken.add(key)
            return u
        return candidates[0]

S._quiet()
prob = sys.argv[1]; delta = float(sys.argv[2]); budget = int(sys.argv[3])
p = S.ALL_PROBLEMS[prob]
for seed in range(5):
    s = Bayes(seed=seed) if delta == 0 else MinDist(seed=seed)
    if delta: s.delta = delta
    vals, _, _ = S.run_trials(p, s, budget)
    b = [min(v for v in vals[:k]) for k in (20, 40, budget)]
    print(prob, delta, seed, ' '.join(f"{x:.4f}" for x in b), flush=True)
