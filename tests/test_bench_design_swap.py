"""bench/design_swap.py: knobs.Bayes and GPSampler with their initial designs swapped.

Why: docs/benchmarks.md reads this benchmark as "design or model"; if the swapped arms did not start from
the other sampler's points, or the paired differences were miscounted, the reading would be wrong without
any test failing.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import design_swap  # noqa: E402


def test_each_swapped_arm_starts_from_the_other_samplers_design():
    budget = design_swap.DESIGN + 2
    knobs = design_swap.run_arm("knobs", "branin", 3, budget)
    gp_on_knobs = design_swap.run_arm("gp_on_knobs_design", "branin", 3, budget)
    gp = design_swap.run_arm("gpsampler", "branin", 3, budget)
    random8 = design_swap.run_arm("knobs_random8", "branin", 3, budget)
    assert gp_on_knobs[:4] == knobs[:4]  # (knobs' own design on 2-D Branin is 4 points; it enqueues 8)
    assert random8[:design_swap.DESIGN] == gp[:design_swap.DESIGN]  # GPSampler's first points: the seed's random ones
    assert knobs[:design_swap.DESIGN] != gp[:design_swap.DESIGN]
    assert all(math.isfinite(v) for v in knobs + gp_on_knobs + gp + random8) and len(random8) == budget


def test_the_summary_pairs_each_arm_with_knobs_on_the_same_seed():
    runs = [{"problem": "p", "arm": arm, "seed": seed, "values": values}
            for arm, seed, values in [("knobs", 0, [3.0, 1.0]), ("knobs", 1, [2.0, 2.0]),
                                      ("gpsampler", 0, [0.5, None]), ("gpsampler", 1, [4.0, 3.0])]]
    table = design_swap.summarize(runs, budget=2)["p"]
    assert table["knobs"]["mean"] == 1.5 and table["gpsampler"]["mean"] == 1.75
    assert table["gpsampler"]["minus_knobs"] == pytest.approx(0.25)  # (0.5 - 1) and (3 - 2)
    assert (table["gpsampler"]["better"], table["gpsampler"]["worse"]) == (1, 1)
    assert "minus_knobs" not in table["knobs"]
