"""Findings from the preflight checks: the data checks and the model checks.

Pure functions of ``CheckResult`` records (``knobs.checks``): each failed check maps to one code;
the check's own verdict and numbers become the finding's message and evidence.
"""

from __future__ import annotations

from typing import Any, Sequence

from knobs.checks import CheckResult
from knobs.diagnose._finding import Finding, finding

__all__ = ["check_findings", "INIT_FACTOR", "LEAK_FRACTION"]

# NOTE: a few exact duplicates across splits happen by chance in data with discrete features
# (iris has some); below 1% of the held-out rows they move its score by under one point, so they
# are reported as info. Above that the held-out score is measurably optimistic.
LEAK_FRACTION = 0.01

_CODES = {"finite": "nonfinite_inputs", "labels": "bad_labels", "feature_scale": "unscaled_inputs",
          "constant_features": "constant_features", "class_balance": "class_imbalance",
          "duplicates": "split_overlap", "target_scale": "unscaled_target", "initial_loss": "init_loss",
          "gradient_check": "gradient_mismatch", "overfit_tiny": "cannot_overfit",
          "batch_independence": "batch_mixing", "label_frequency": "constant_label"}

# NOTE: constant features cost a network nothing but a few idle weights: worth knowing, never
# a reason to stop.
_SEVERITY = {"constant_features": "info"}
# NOTE: the initial-loss check fails beyond 1.5x its expected value; in diagnosis that is a warning
# only past the factor at which the LR range test calls a loss diverged (4x, fastai/Lightning):
# a regression head whose outputs start with unit variance doubles Var(y) and costs a few steps,
# an output layer 30x too large costs epochs. Below the chance level (ratio < 0.5, a leak) and
# non-finite losses keep the check's own severity.
INIT_FACTOR = 4.0


def check_findings(results: Sequence[CheckResult], sizes: dict[str, int] | None = None) -> list[Finding]:
    """One finding per failed check; ``sizes`` (rows per split) grade the duplicates."""
    found = []
    for result in results:
        if result.passed or result.name not in _CODES:
            continue
        severity = _SEVERITY.get(result.name, result.severity)
        if result.name == "duplicates":
            severity = _leak_severity(result.measured, sizes or {})
        if result.name == "feature_scale" and not _train_over(result.measured):
            severity = "info"
        if result.name == "initial_loss" and severity == "warning" and 1 < result.measured["ratio"] <= INIT_FACTOR:
            severity = "info"
        found.append(finding(_CODES[result.name], severity, result.message, _evidence(result)))
    return found


def _leak_severity(measured: dict[str, Any], sizes: dict[str, int]) -> str:
    """warning when some held-out split shares at least ``LEAK_FRACTION`` of its rows."""
    for pair, count in measured.items():
        held_out = pair.split("_in_")[0]
        if count >= LEAK_FRACTION * max(sizes.get(held_out, count), 1):
            return "warning"
    return "info"


def _train_over(measured: dict[str, Any]) -> bool:
    """Whether the training split (the first one) has columns beyond the scale limit.

    NOTE: the fault is training on unscaled inputs. Held-out rows alone beyond the limit after
    train-fitted standardization come from a near-constant training column (a rare pixel) or a
    shift between splits: worth knowing (info), not what slows gradient descent.
    """
    first = next(iter(measured.values()), {})
    return bool(first.get("n_over"))


def _evidence(result: CheckResult) -> dict[str, Any]:
    measured = dict(result.measured)
    measured.pop("per_parameter", None)  # the worst tensor and the failing ones are kept
    return {"check": result.name, **measured, "expected": result.expected}
