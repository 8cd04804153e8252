"""Pruners on synthetic learning curves with a known ordering, sequential and asynchronous."""

from __future__ import annotations

import random
from collections import deque

import pytest

import knobs
from knobs.errors import ConfigError
from knobs.prune import ASHA, Hyperband, Median
from knobs.prune._asha import promotable
from knobs.prune._hyperband import bracket_budgets, bracket_of
from knobs.trial import FrozenTrial, TrialState


def curves(n: int, seed: int = 0) -> list:
    """Curve i: value(step) = a_i + 1/step, a random permutation of a = 0, 0.1, ... (no crossings).

    The best curve (a = 0) sits at a random position in the trial order.
    """
    a = [0.1 * k for k in range(n)]
    random.Random(seed).shuffle(a)
    return [lambda step, a_i=a_i: a_i + 1.0 / step for a_i in a]


def simulate(pruner, fns, max_step: int, *, direction: str = "minimize", workers: int = 1) -> dict:
    """Run trials on ``workers`` parallel workers, one step per worker per tick (asynchronous).

    Returns ``{number: FrozenTrial}`` with final states; reports interleave across workers.
    """
    sign = 1.0 if direction == "minimize" else -1.0
    queue, records, busy = deque(range(len(fns))), {}, []
    while queue or busy:
        while queue and len(busy) < workers:
            n = queue.popleft()
            records[n] = FrozenTrial(number=n, config={"i": n})
            busy.append(n)
        for n in list(busy):
            t = records[n]
            step = (t.last_step or 0) + 1
            value = sign * fns[n](step)
            t = records[n] = FrozenTrial(t.number, t.config, intermediate={**t.intermediate, step: value})
            if pruner is not None and pruner.prune(t, list(records.values()), direction=direction):
                records[n] = FrozenTrial(n, t.config, TrialState.PRUNED, value, t.intermediate)
                busy.remove(n)
            elif step == max_step:
                records[n] = FrozenTrial(n, t.config, TrialState.COMPLETE, value, t.intermediate)
                busy.remove(n)
    return records


def total_steps(records: dict) -> int:
    return sum(t.last_step for t in records.values())


def best_number(fns, max_step: int) -> int:
    return min(range(len(fns)), key=lambda i: fns[i](max_step))


# ---- ASHA ------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("workers", [1, 4])
def test_asha_saves_steps_and_keeps_best(direction, workers):
    fns = curves(27, seed=1)
    pruner = ASHA(min_resource=1, reduction_factor=3, max_resource=27)
    records = simulate(pruner, fns, 27, direction=direction, workers=workers)
    full = 27 * 27
    assert total_steps(records) * 2 <= full, total_steps(records)
    best = records[best_number(fns, 27)]
    assert best.state is TrialState.COMPLETE and best.last_step == 27
    # the worst third never gets past the first rung once peers exist
    worst = sorted(range(27), key=lambda i: fns[i](27))[-9:]
    assert all(records[i].state is TrialState.PRUNED for i in worst if i >= 3)


@pytest.mark.parametrize("seed", range(5))
def test_asha_best_curve_never_pruned_any_order(seed):
    fns = curves(27, seed=seed)
    records = simulate(ASHA(1, 3, 27), fns, 27, workers=1 + seed % 3)
    assert records[best_number(fns, 27)].state is TrialState.COMPLETE


def test_asha_rungs_and_promotion_rule():
    pruner = ASHA(min_resource=2, reduction_factor=3)
    mk = lambda n, steps: FrozenTrial(n, {}, intermediate=steps)  # noqa: E731
    peers = [mk(0, {2: 1.0}), mk(1, {2: 2.0}), mk(2, {2: 3.0}), mk(3, {2: 4.0}), mk(4, {2: 5.0})]
    # step 1 < first rung (2): never pruned
    assert not pruner.prune(mk(9, {1: 99.0}), peers, direction="minimize")
    # at rung 0 with 6 values, top 1/3 = 2 best: 1.0 and 1.5 pass, 2.5 does not
    assert not pruner.prune(mk(9, {1: 9.0, 2: 1.5}), peers, direction="minimize")
    assert pruner.prune(mk(9, {1: 9.0, 2: 2.5}), peers, direction="minimize")
    assert not pruner.prune(mk(9, {2: 4.5}), peers, direction="maximize")
    # promotion is judged once, when the rung is crossed: later steps below the next rung (6) pass
    assert not pruner.prune(mk(9, {2: 2.5, 3: 2.5}), peers, direction="minimize")
    # the rung value is the one at the first step >= the rung, so step 3 judges rung 0 at 3's value
    assert pruner.prune(mk(9, {1: 0.5, 3: 2.5}), peers, direction="minimize")
    # same inputs, same answer (decisions derive from storage only)
    assert pruner.prune(mk(9, {1: 0.5, 3: 2.5}), peers, direction="minimize")


def test_promotable_first_trials_need_to_be_best_so_far():
    assert promotable(1.0, [], 3, "minimize")
    assert promotable(1.0, [2.0], 3, "minimize") and not promotable(3.0, [2.0], 3, "minimize")
    assert promotable(3.0, [2.0], 3, "maximize")
    assert promotable(2.0, [1.0, 3.0, 4.0, 5.0, 6.0], 3, "minimize")  # 6 values: top 2
    assert not promotable(3.0, [1.0, 2.0, 4.0, 5.0, 6.0], 3, "minimize")


def test_asha_max_resource_and_early_stopping_rate():
    late = ASHA(min_resource=1, reduction_factor=3, min_early_stopping_rate=1, min_trials_per_rung=1)  # rung at 3
    peers = [FrozenTrial(0, {}, intermediate={1: 0.0, 3: 0.0, 9: 0.0})]
    assert not late.prune(FrozenTrial(1, {}, intermediate={1: 5.0}), peers, direction="minimize")
    assert late.prune(FrozenTrial(1, {}, intermediate={1: 5.0, 3: 5.0}), peers, direction="minimize")
    capped = ASHA(min_resource=1, reduction_factor=3, max_resource=3, min_trials_per_rung=1)  # rung at 3: the end
    trial = FrozenTrial(1, {}, intermediate={1: 0.0, 2: 5.0, 3: 5.0})
    assert not capped.prune(trial, peers, direction="minimize")


def test_asha_can_wait_for_peers_at_a_rung_before_ranking():
    """Run one at a time, plain ASHA keeps only trials better than trial 0 at each rung; with
    min_trials_per_rung=3 the first three at a rung pass it, and the next is ranked among them."""
    pruner = ASHA(min_resource=1, reduction_factor=3, min_trials_per_rung=3)
    first = FrozenTrial(0, {}, TrialState.COMPLETE, 1.0, {1: 1.0})
    second = FrozenTrial(1, {}, TrialState.COMPLETE, 2.0, {1: 2.0})
    assert not pruner.prune(FrozenTrial(1, {}, intermediate={1: 2.0}), [first], direction="minimize")
    assert not pruner.prune(FrozenTrial(2, {}, intermediate={1: 3.0}), [first, second], direction="minimize")
    third = FrozenTrial(2, {}, TrialState.COMPLETE, 3.0, {1: 3.0})
    assert pruner.prune(FrozenTrial(3, {}, intermediate={1: 2.5}), [first, second, third], direction="minimize")
    assert not pruner.prune(FrozenTrial(3, {}, intermediate={1: 0.5}), [first, second, third], direction="minimize")
    assert ASHA(min_resource=1, reduction_factor=3).prune(
        FrozenTrial(1, {}, intermediate={1: 2.0}), [first], direction="minimize")  # the default: one peer
    with pytest.raises(ConfigError, match="min_trials_per_rung"):
        ASHA(min_trials_per_rung=0).validate()


# ---- Median ----------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_median_prunes_bad_keeps_best(direction):
    fns = curves(20, seed=3)
    records = simulate(Median(n_startup_trials=5), fns, 10, direction=direction)
    assert records[best_number(fns, 10)].state is TrialState.COMPLETE
    assert total_steps(records) < 0.7 * 20 * 10
    ranked = sorted(range(20), key=lambda i: fns[i](10))
    late_bad = [i for i in ranked[-5:] if i >= 8]  # after startup, with enough peers
    assert late_bad and all(records[i].state is TrialState.PRUNED for i in late_bad)
    assert all(records[i].state is TrialState.COMPLETE for i in range(5))  # startup trials


def test_median_rule_warmup_and_interval():
    done = [FrozenTrial(n, {}, TrialState.COMPLETE, 1.0, {s: float(n) for s in range(1, 9)}) for n in range(5)]
    # median at each step is 2.0
    worse = {s: 3.0 for s in range(1, 9)}
    assert Median(n_startup_trials=5).prune(FrozenTrial(9, {}, intermediate=worse), done, direction="minimize")
    assert not Median(n_startup_trials=6).prune(FrozenTrial(9, {}, intermediate=worse), done, direction="minimize")
    assert not Median(n_startup_trials=5).prune(FrozenTrial(9, {}, intermediate={1: 1.5}), done, direction="minimize")
    # the best-so-far counts: a worse latest value after a good one is kept
    assert not Median(5).prune(FrozenTrial(9, {}, intermediate={1: 0.0, 2: 3.0}), done, direction="minimize")
    warm = Median(n_startup_trials=5, n_warmup_steps=4)
    assert not warm.prune(FrozenTrial(9, {}, intermediate={s: 3.0 for s in range(1, 4)}), done, direction="minimize")
    assert warm.prune(FrozenTrial(9, {}, intermediate={s: 3.0 for s in range(1, 5)}), done, direction="minimize")
    every3 = Median(n_startup_trials=5, interval_steps=3)  # judged at steps 0, 3, 6, ...
    assert not every3.prune(FrozenTrial(9, {}, intermediate={s: 3.0 for s in range(1, 5)}), done, direction="minimize")
    assert every3.prune(FrozenTrial(9, {}, intermediate={1: 3.0, 2: 3.0}), done, direction="minimize") is False
    assert every3.prune(FrozenTrial(9, {}, intermediate={1: 3.0, 2: 3.0, 3: 3.0}), done, direction="minimize")
    # sparse reports: step 5 is the first report since judging step 3
    assert every3.prune(FrozenTrial(9, {}, intermediate={1: 3.0, 5: 3.0}), done, direction="minimize")
    # no peer has this step: nothing to compare with
    assert not Median(5).prune(FrozenTrial(9, {}, intermediate={20: 9.0}), done, direction="minimize")


# ---- Hyperband -------------------------------------------------------------------------------
def test_hyperband_brackets_match_hyperband_budgets():
    assert bracket_budgets(1, 81, 3) == [81, 34, 15, 8, 5]  # Optuna's allocation for (1, 81, 3)
    assert bracket_budgets(1, 27, 3) == [27, 12, 6, 4]
    counts = [0] * 5
    for n in range(2000):
        counts[bracket_of(n, [81, 34, 15, 8, 5])] += 1
    shares = [c / 2000 for c in counts]
    assert all(abs(s - b / 143) < 0.04 for s, b in zip(shares, [81, 34, 15, 8, 5]))
    assert [bracket_of(n, [81, 34, 15, 8, 5]) for n in range(50)] == \
           [bracket_of(n, [81, 34, 15, 8, 5]) for n in range(50)]
    hb = Hyperband(1, 81, 3)
    assert [b.min_early_stopping_rate for b in hb.brackets()] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_hyperband_keeps_best_and_saves(direction):
    fns = curves(40, seed=4)
    records = simulate(Hyperband(1, 27, 3), fns, 27, direction=direction, workers=3)
    assert records[best_number(fns, 27)].state is TrialState.COMPLETE
    assert total_steps(records) < 0.6 * 40 * 27


def test_hyperband_compares_within_bracket_only():
    budgets = bracket_budgets(1, 27, 3)
    by_bracket: dict[int, list[int]] = {}
    for n in range(200):
        by_bracket.setdefault(bracket_of(n, budgets), []).append(n)
    me, other = by_bracket[0][5], by_bracket[3][:6]
    strong_others = [FrozenTrial(n, {}, TrialState.COMPLETE, 0.0, {1: 0.0}) for n in other]
    trial = FrozenTrial(me, {}, intermediate={1: 5.0})
    # against the other bracket's strong trials ASHA would prune; Hyperband sees none of them
    assert ASHA(1, 3, 27).prune(trial, strong_others, direction="minimize")
    assert not Hyperband(1, 27, 3).prune(trial, strong_others, direction="minimize")


# ---- validation and parameters ---------------------------------------------------------------
@pytest.mark.parametrize("pruner, name", [
    (Median(n_startup_trials=-1), "n_startup_trials"), (Median(interval_steps=0), "interval_steps"),
    (Median(n_warmup_steps=1.5), "n_warmup_steps"), (ASHA(reduction_factor=1), "reduction_factor"),
    (ASHA(min_resource=0), "min_resource"), (ASHA(max_resource=0), "max_resource"),
    (ASHA(min_resource=5, max_resource=3), "max_resource"), (ASHA(min_early_stopping_rate=-1), "min_early_stopping_rate"),
    (Hyperband(reduction_factor=True), "reduction_factor"), (Hyperband(min_resource=9, max_resource=3), "max_resource"),
])
def test_bad_arguments_name_the_parameter(pruner, name):
    with pytest.raises(ConfigError, match=name):
        pruner.prune(FrozenTrial(0, {}, intermediate={1: 1.0}), [], direction="minimize")


def test_bad_direction():
    with pytest.raises(ConfigError, match="direction"):
        ASHA().prune(FrozenTrial(0, {}, intermediate={1: 1.0}), [], direction="min")


@pytest.mark.parametrize("pruner", [Median(3, 2, 2), ASHA(2, 4, 64, 1), Hyperband(2, 54, 3)])
def test_params_round_trip(pruner):
    again = type(pruner)(**pruner.get_params())
    assert again.get_params() == pruner.get_params()
    assert repr(again) == repr(pruner)


def test_no_report_no_decision():
    for pruner in (Median(0), ASHA(), Hyperband()):
        assert not pruner.prune(FrozenTrial(0, {}), [], direction="minimize")


def test_asha_in_a_study_records_pruned_trials():
    space = knobs.Space({"a": knobs.Float(0.0, 1.0)})
    study = knobs.Study(space, sampler=knobs.search.Random(seed=0), pruner=ASHA(1, 3, 9))

    def objective(config, trial):
        for step in range(1, 10):
            trial.report(step, config["a"] + 1.0 / step)
        return config["a"] + 1.0 / 9

    study.optimize(objective, n_trials=15)
    pruned = [t for t in study.trials if t.state is TrialState.PRUNED]
    assert pruned and all(t.last_step < 9 and t.value == t.intermediate[t.last_step] for t in pruned)
    best_a = min(t.config["a"] for t in study.trials)
    assert study.best.config["a"] == best_a
