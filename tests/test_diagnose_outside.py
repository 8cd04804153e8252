"""Faults from outside (tests/zoo_outside.py): a fast subset of the published programs, each
diagnosed through the DataLoader + Trainer API, must find its catalogued fault and nothing wrong;
the fixed versions must raise nothing. The whole set is bench/diagnose_outside.py's (minutes)."""

from __future__ import annotations

import functools

import pytest
import torch

import zoo_outside as zoo
from knobs.diagnose import diagnose
from knobs.diagnose._explain import explain
from knobs.diagnose._finding import finding
from knobs.diagnose._training import _better

torch.set_num_threads(1)

# NOTE: the programs that diagnose in a few seconds on one core; the slow ones (CNNs on Fashion-
# MNIST, batch size 1) run in the bench.
FAST = ["at_exploding_sgd", "at_slow_convergence", "dd_invalid_loss_raw_features", "humbatova_unbalanced_data",
        "humbatova_missing_normalisation", "deepfd_59282996_few_epochs", "humbatova_zero_init",
        "dd_unchanged_weight", "humbatova_batch_size_1",
        "fixed_normalized_features", "fixed_oscillating_adam", "fixed_wine_standardized"]


@functools.cache
def codes(name: str) -> tuple[str, ...]:
    program = next(p for p in zoo.PROGRAMS if p.name == name)
    model, train, val, trainer = program()
    return tuple(diagnose(model, train, val, trainer=trainer).codes)


def test_the_outside_zoo_is_sourced_and_large_enough():
    assert len(zoo.faulty()) >= 20 and len(zoo.healthy()) >= 5
    sources = " ".join(p.source for p in zoo.PROGRAMS)
    for study in ("AUTOTRAINER", "DeepDiagnosis", "DeepFD", "UMLAUT", "Humbatova"):
        assert study in sources
    assert all(p.fault and p.source for p in zoo.PROGRAMS)
    assert {p.name for p in zoo.PROGRAMS} >= set(FAST)


@pytest.mark.parametrize("name", FAST)
def test_a_program_from_outside_gets_its_fault_and_nothing_wrong(name):
    program = next(p for p in zoo.PROGRAMS if p.name == name)
    found = codes(name)
    scored = zoo.score(program, list(found))
    assert scored["filled"] == scored["slots"], f"{name}: expected {program.expect}, found {found}"
    assert not scored["wrong"], f"{name}: wrong findings {scored['wrong']} (right: {sorted(program.right_codes)})"


def test_scores_count_slots_and_wrong_findings():
    program = next(p for p in zoo.PROGRAMS if p.name == "dd_invalid_loss_raw_features")
    scored = zoo.score(program, ["unscaled_inputs", "lr_too_high", "overfitting"])
    assert (scored["slots"], scored["filled"], scored["right"], scored["wrong"]) == (1, 1, 2, ["overfitting"])
    rows = [scored, zoo.score(next(p for p in zoo.PROGRAMS if p.healthy), ["noisy_loss"])]
    total = zoo.totals(rows)
    assert total["recall"] == 1.0 and total["precision"] == pytest.approx(2 / 4) and total["healthy_with_warnings"] == 1


# ---- the rule fixes these programs asked for ------------------------------------------------------

def test_a_stuck_run_is_not_beaten_by_a_rate_that_drifted():
    """humbatova_zero_init: at lr 1e-3 the loss went from 2.30259 to 2.30270, at 1e-4 to 2.30258;
    that is no progress, not "twice the progress" (it was reported as lr_too_high)."""
    run = {"final_train_loss": 2.30270}
    assert not _better({"diverged": None, "final_train_loss": 2.30258}, run, 2.30259)
    assert _better({"diverged": None, "final_train_loss": 2.0}, run, 2.30259)


def test_unscaled_inputs_explain_dead_units_vanishing_gradients_and_noise():
    """dd_invalid_loss_raw_features: raw features in the thousands saturate or kill units and make
    the loss jump; the fix is the scaling, not the symptoms' own remedies."""
    found = explain([finding("unscaled_inputs", "warning", "."), finding("dead_relu", "warning", "."),
                     finding("vanishing_gradients", "warning", "."), finding("noisy_loss", "warning", ".")])
    assert [(f.code, f.severity) for f in found][0] == ("unscaled_inputs", "warning")
    assert all(f.severity == "info" and f.explained_by == ("unscaled_inputs",) for f in found[1:])
