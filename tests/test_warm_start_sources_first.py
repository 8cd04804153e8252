"""Warm starts, the sources' best first (issue 17, item 6): ``Bayes._sources_first = k`` runs the k best
configs the sources ran, valid in this space, before the model (a meta-learned initial design)."""

from __future__ import annotations

from knobs.search._bayes import Bayes
from knobs.search._history import WARM_START, sources_best
from knobs.space import Float, Int, Space
from knobs.study import Study, WarmStart
from knobs.trial import FrozenTrial, TrialState

from test_two_task import MIXED, PLANE, bowl, run_own, trials
from test_warm_start import source_study

NEEDED = 4


class First(Bayes):
    _sources_first = 3


def ranked_sources(run, space=PLANE):
    """The sources' configs, best first."""
    fed = sorted((t for t in run if WARM_START in t.attrs), key=lambda t: t.value)
    return [t.config for t in fed if space.validate(t.config) is None]


def test_the_first_suggestions_are_the_sources_three_best_then_the_model():
    run = trials(lambda c: bowl(c) + 1.0, n_own=0)
    seen = run_own(First(seed=0), run, 4)
    assert [t.config for t in seen[:3]] == ranked_sources(run)[:3]
    [model] = Bayes(seed=0).suggest(PLANE, run + seen[:3])
    assert seen[3].config == model  # from the 4th on, the model as without the option


def test_a_batch_takes_the_untried_best_then_fills_from_the_model():
    run = trials(lambda c: bowl(c) + 1.0, n_own=0)
    best = ranked_sources(run)
    done = [FrozenTrial(0, best[1], TrialState.COMPLETE, bowl(best[1]))]  # the 2nd best already ran here
    batch = First(seed=0).suggest(PLANE, run + done, n=4)
    assert batch[:2] == [best[0], best[2]]
    assert len({tuple(sorted(c.items())) for c in batch}) == 4 and best[1] not in batch


def test_several_sources_rank_on_one_scale_and_no_config_twice():
    """Source a at 100 times b's scale still has its best among the three (each source standardized
    on its own), and source c, a copy of b, adds no config twice."""
    cheap = trials(lambda c: 100.0 * bowl(c), n_source=10, n_own=0, source="a")
    other = trials(bowl, n_source=10, n_own=0, seed=1, source="b")
    copy = [FrozenTrial(t.number - 100, dict(t.config), t.state, t.value, attrs={WARM_START: "c"}) for t in other]
    best = sources_best(cheap + other + copy, "minimize", PLANE, NEEDED, 3)
    keys = {tuple(sorted(c.items())) for c in best}
    assert len(best) == len(keys) == 3
    assert best[0] == ranked_sources(other)[0] or best[0] == ranked_sources(cheap)[0]
    assert ranked_sources(cheap)[0] in best and ranked_sources(other)[0] in best
    assert sources_best(cheap + other, "minimize", PLANE, NEEDED, 0) == []


def test_off_by_default_and_cold_suggestions_are_unchanged_bit_for_bit():
    history = [FrozenTrial(i, c, TrialState.COMPLETE, float(c["x"] + c["n"]))
               for i, c in enumerate(MIXED.sample(1, 12))]
    assert First(seed=0).suggest(MIXED, history, n=3) == Bayes(seed=0).suggest(MIXED, history, n=3)
    assert First(seed=0).suggest(MIXED, history[:2]) == Bayes(seed=0).suggest(MIXED, history[:2])  # the design
    run = trials(bowl, n_own=0)
    assert Bayes._sources_first == 0 and Bayes(seed=0).suggest(PLANE, run) != ranked_sources(run)[:1]


def test_renamed_and_narrowed_axes_are_respected(tmp_path):
    """The source's axes "width" and "n" are renamed here to "x" and "k", and "x" narrowed to
    [0, 5] so the source's best (at width 7) lies outside: the first suggestions are its best
    configs inside the new bounds, under the new names."""
    source = Space({"width": Float(0.0, 10.0), "n": Int(1, 8)})
    folder = source_study(tmp_path, space=source, objective=lambda c, t=None: (c["width"] - 7.0) ** 2 + (c["n"] - 3) ** 2,
                          n=24)
    here = Space({"x": Float(0.0, 5.0), "k": Int(1, 8)})
    sampler = First(seed=0)
    study = Study(here, sampler=sampler, storage=f"sqlite:///{tmp_path / 'new.db'}",
                  warm_start=WarmStart(folder, rename={"width": "x", "n": "k"}))
    inside = sorted((t for t in study.warm_trials), key=lambda t: t.value)
    assert min(t.value for t in inside) > min(t.value for t in Study.load(f"sqlite:///{folder / 'study.db'}").trials
                                             if t.value is not None)  # the source's best was dropped
    study.optimize(lambda c, t: (c["x"] - 7.0) ** 2 + (c["k"] - 3) ** 2, n_trials=3)
    assert [t.config for t in study.trials] == [t.config for t in inside[:3]]
    assert all(set(t.config) == {"x", "k"} and t.config["x"] <= 5.0 for t in study.trials)
