"""Trace one knobs.Bayes run on the dev problem mlp_digits (seed 1, 60 trials): its 8 best and last 15 configs.

Run from bench/: ../.venv/bin/python mlp_digits_trace.py (docs/benchmarks.md, the dev set's sklearn family)."""
import sys
sys.path.insert(0, '.')
import search as S
from knobs.search import Bayes
S._quiet()
p = S.ALL_PROBLEMS['mlp_digits']
space = p.space()
sampler = Bayes(seed=1)
trials = []; rows = []
for n in range(60):
    c = sampler.suggest(space, trials)[0]
    v = S._evaluate(p, c)
    trials.append(S.told(n, c, v)); rows.append((v, n, c))
rows.sort(key=lambda r: r[0])
for v, n, c in rows[:8]:
    print(f"{v:.4f} #{n:2d}", {k: (round(x, 5) if isinstance(x, float) else x) for k, x in c.items()})
print("last 15:")
for v, n, c in sorted(rows, key=lambda r: r[1])[-15:]:
    print(f"{v:.4f} #{n:2d}", {k: (round(x, 5) if isinstance(x, float) else x) for k, x in c.items()})
