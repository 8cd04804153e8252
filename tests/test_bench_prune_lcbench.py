"""bench/prune_lcbench.py's control baseline: train every configuration a few epochs, keep the best k, finish them."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
prune_lcbench = pytest.importorskip("prune_lcbench")  # the bench extra (Optuna) and its curves


def curve(final: float, first: float) -> list[float]:
    return [first] + [final] * (prune_lcbench.EPOCHS - 1)


def test_top_k_after_keeps_the_best_early_and_charges_every_first_epoch():
    # the best at the end (10) looks worst after one epoch: kept only with k = 3
    curves = [curve(10.0, 90.0), curve(20.0, 30.0), curve(30.0, 40.0)]
    one = prune_lcbench.top_k_after(curves, first=1, k=1)
    assert one["regret"] == 10.0 and one["complete"] == 1
    assert one["cost"] == pytest.approx((3 * 1 + 1 * (prune_lcbench.EPOCHS - 1)) / (3 * prune_lcbench.EPOCHS))
    assert prune_lcbench.top_k_after(curves, first=1, k=3)["regret"] == 0.0
    assert prune_lcbench.top_k_after(curves, first=2, k=1)["regret"] == 0.0  # by epoch 2 it shows its final 10


def test_the_controls_cost_about_a_fifth_of_full_training_on_sixty_configurations():
    for first, k in prune_lcbench.CONTROLS:
        cost = (60 * first + k * (prune_lcbench.EPOCHS - first)) / (60 * prune_lcbench.EPOCHS)
        assert 0.19 <= cost <= 0.21
