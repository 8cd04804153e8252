"""knobs.search.Bayes: an inactive conditional choice is its own state for the GP.

Why these tests: the space encodes an inactive parameter at 0.5, which for a choice with an odd
number of options is the middle option's code ((k + 0.5) / n). Under the mismatch distance the GP
then read "inactive" as "the middle option": close to every point with that option active, far
from the others, a bias set only by the order of the options.
"""

from __future__ import annotations

import numpy as np

from knobs.search import Random
from knobs.search._bayes import INACTIVE_CHOICE, Bayes, _Coding
from knobs.search._gp import gp as gpm
from knobs.search._gp.kernel import kernel_matrix, sq_dists
from knobs.search._two_task import RUN_CODE, StudyInput
from knobs.space import Choice, Float, Space
from knobs.trial import FrozenTrial, TrialState

SPACE = Space({"opt": Choice(["a", "b"]),
               "act": Choice(["x", "y", "z"], when={"opt": "a"}),  # odd: 0.5 is "y"'s code
               "lr": Float(0.0, 1.0)})
ACT = SPACE.names.index("act")
OPTION_CODES = [SPACE["act"].to_unit(v) for v in ("x", "y", "z")]

INACTIVE = {"opt": "b", "lr": 0.3}
ACTIVE = [{"opt": "a", "act": v, "lr": 0.3} for v in ("x", "y", "z")]


def _loss(config: dict) -> float:
    return (config["lr"] - 0.4) ** 2 + {"x": 0.3, "y": 0.1, "z": 0.2}.get(config.get("act"), 0.25)


def test_inactive_choice_mismatches_every_option_and_matches_another_inactive_point():
    coding = _Coding(SPACE)
    X = coding.encode(SPACE.to_unit_many([INACTIVE, dict(INACTIVE, lr=0.7), *ACTIVE]))
    D = sq_dists(X, X, coding.is_cat)[:, :, ACT]
    assert D[0, 2:].tolist() == [1.0, 1.0, 1.0]  # the middle option "y" too
    assert D[0, 1] == 0.0
    assert X[0, ACT] not in OPTION_CODES
    # the kernel sees the inactive point equally far from every option, closer to an inactive one
    k = kernel_matrix(X[:1], X, coding.is_cat, np.ones(len(SPACE)), 1.0)[0]
    assert k[2] == k[3] == k[4] < 1.0
    # active points and numeric axes are the space's encoding, unchanged
    np.testing.assert_array_equal(X[2:], SPACE.to_unit_many(ACTIVE))
    np.testing.assert_array_equal(np.delete(X, ACT, axis=1),
                                  np.delete(SPACE.to_unit_many([INACTIVE, dict(INACTIVE, lr=0.7),
                                                                *ACTIVE]), ACT, axis=1))


def test_candidates_get_the_same_code_as_the_history():
    coding = _Coding(SPACE)
    raw = SPACE.to_unit_many([INACTIVE])
    raw[0, ACT] = 0.5  # what a Sobol point or a perturbation may hold on the inactive axis
    U, free = coding.canonical(raw)
    np.testing.assert_array_equal(U, coding.encode(SPACE.to_unit_many([INACTIVE])))
    assert not free[0, ACT]
    assert SPACE.from_unit(U[0]) == INACTIVE


def test_bayes_hands_the_gp_inactive_choices_as_their_own_state(monkeypatch):
    """History, running trials and picks all reach the GP with the inactive code."""
    seen = []
    fit, condition = gpm.fit, gpm.condition

    def record_fit(X, *args, **kwargs):
        seen.append(X)
        return fit(X, *args, **kwargs)

    def record_condition(model, X_new, *args, **kwargs):
        seen.append(X_new)
        return condition(model, X_new, *args, **kwargs)

    monkeypatch.setattr(gpm, "fit", record_fit)
    monkeypatch.setattr(gpm, "condition", record_condition)
    configs = [*Random(seed=0).suggest(SPACE, [], 10), INACTIVE, *ACTIVE]
    trials = [FrozenTrial(i, c, TrialState.COMPLETE, _loss(c)) for i, c in enumerate(configs)]
    trials.append(FrozenTrial(len(trials), dict(INACTIVE, lr=0.9), TrialState.RUNNING, None))
    suggested = Bayes(seed=0).suggest(SPACE, trials, 3)
    for config in suggested:
        SPACE.validate(config)
    X = np.vstack(seen)
    assert len(seen) == 1 + 1 + 3  # the fit, the running trial, each pick
    inactive = X[:, 0] == SPACE["opt"].to_unit("b")
    assert inactive.any() and (~inactive).any()
    assert np.all(X[inactive, ACT] == X[np.flatnonzero(inactive)[0], ACT])
    assert not np.isin(X[inactive, ACT], OPTION_CODES).any()
    assert np.isin(X[~inactive, ACT], OPTION_CODES).all()


def test_a_warm_start_study_axis_passes_through_the_encoding():
    coding = StudyInput(np.array([0, 1])).coding(_Coding(SPACE))
    U = np.column_stack([SPACE.to_unit_many([INACTIVE, ACTIVE[1]]), [RUN_CODE, 1.0]])
    X = coding.encode(U)
    np.testing.assert_array_equal(X[:, -1], [RUN_CODE, 1.0])
    np.testing.assert_array_equal(X[:, ACT], [INACTIVE_CHOICE, SPACE["act"].to_unit("y")])
    V, _ = coding.canonical(U)
    np.testing.assert_array_equal(V[0], X[0])


def test_local_candidates_step_from_the_incumbent_and_leave_an_unused_choice_in_the_middle():
    """An incumbent without ``act`` holds it at 0.5, "y"'s code: perturbations that switch ``opt`` to "a" try
    "y" first, but for the 1-in-d redraws of a choice (redrawing it every time was measured and left out:
    docs/benchmarks.md, "A conditional parameter turned on by a local step")."""
    from knobs.search._bayes import _perturb

    incumbent = SPACE.to_unit_many([INACTIVE])
    out = _perturb(incumbent, _Coding(SPACE), np.random.default_rng(0), per_point=2000)
    assert np.all((out >= 0.0) & (out <= 1.0))
    configs = [SPACE.from_unit(u) for u in out]
    tried = {v: sum(c.get("act") == v for c in configs) for v in ("x", "y", "z")}
    assert tried["y"] > 2 * (tried["x"] + tried["z"])
    lr = SPACE.names.index("lr")
    assert np.median(np.abs(out[:, lr] - incumbent[0, lr])) < 0.1  # numeric axes step from the incumbent
