"""ASHA and Hyperband with and without a minimum of peers per rung, on crossing noisy curves.

Why: run one trial at a time, ASHA ranked a trial against whoever had reached the rung before it;
with one or two peers "the top 1/η" meant "better than trial 0". ``ASHA(min_trials_per_rung=η)``
lets a trial pass a rung until η others have reached it. This measures what that costs (epochs) and
buys (regret) with a pruner that sees every trial in turn; it bought nothing here, so the default
stays 1.

Curves: value(step) = a + b / step**0.7 + noise, a ~ U(0, 1), b ~ U(0.2, 3) (slow starters cross fast
ones), noise sd ~ U(0, 0.05) per trial; 30 trials of 27 steps, one at a time, 30 seeds. Regret: the
final value of the best completed trial minus the best final value of all 30. Epochs: the steps
run over 30 × 27.

Run: ``.venv/bin/python bench/asha_rungs.py``; prints a table, writes bench/results/asha_rungs.json.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

from knobs.prune import ASHA, Hyperband
from knobs.trial import FrozenTrial, TrialState

RESULTS = Path(__file__).parent / "results" / "asha_rungs.json"
N, STEPS, SEEDS = 30, 27, 30


def curves(seed: int) -> list:
    r = random.Random(seed)
    out = []
    for _ in range(N):
        a, b, sd = r.uniform(0, 1), r.uniform(0.2, 3), r.uniform(0, 0.05)
        noise = [r.gauss(0, sd) for _ in range(STEPS + 1)]
        out.append(lambda step, a=a, b=b, noise=noise: a + b / step ** 0.7 + noise[step])
    return out


def one_at_a_time(pruner, fns) -> dict[int, FrozenTrial]:
    records: dict[int, FrozenTrial] = {}
    for n, fn in enumerate(fns):
        t = FrozenTrial(n, {})
        for step in range(1, STEPS + 1):
            t = FrozenTrial(n, {}, intermediate={**t.intermediate, step: fn(step)})
            if pruner.prune(t, list(records.values()), direction="minimize"):
                t = FrozenTrial(n, {}, TrialState.PRUNED, fn(step), t.intermediate)
                break
        else:
            t = FrozenTrial(n, {}, TrialState.COMPLETE, fn(STEPS), t.intermediate)
        records[n] = t
    return records


class _HyperbandEta(Hyperband):
    """Hyperband whose brackets wait for η peers per rung (what the default rejected)."""

    def brackets(self):
        return [ASHA(b.min_resource, b.reduction_factor, b.max_resource, b.min_early_stopping_rate, 3)
                for b in super().brackets()]


ARMS = {
    "ASHA, 1 peer per rung (default)": lambda: ASHA(1, 3, STEPS),
    "ASHA, η = 3 peers per rung": lambda: ASHA(1, 3, STEPS, min_trials_per_rung=3),
    "Hyperband, 1 peer per rung (default)": lambda: Hyperband(1, STEPS, 3),
    "Hyperband, η peers per rung": lambda: _HyperbandEta(1, STEPS, 3),
}


def main() -> None:
    rows = []
    for name, make in ARMS.items():
        regrets, epochs = [], []
        for seed in range(SEEDS):
            fns = curves(seed)
            records = one_at_a_time(make(), fns)
            final = [fn(STEPS) for fn in fns]
            kept = min(final[n] for n, t in records.items() if t.state is TrialState.COMPLETE)
            regrets.append(kept - min(final))
            epochs.append(sum(t.last_step for t in records.values()) / (N * STEPS))
        rows.append({"arm": name, "regret": statistics.mean(regrets), "epochs": statistics.mean(epochs)})
    print(f"{'pruner':<40}{'regret':>9}{'epochs':>9}")
    for row in rows:
        print(f"{row['arm']:<40}{row['regret']:>9.4f}{row['epochs']:>9.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"trials": N, "steps": STEPS, "seeds": SEEDS, "rows": rows}, indent=2))
    print(json.dumps({"asha_rungs": rows}))


if __name__ == "__main__":
    main()
