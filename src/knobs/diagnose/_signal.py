"""Labels the inputs do not predict: X and y out of line, the wrong target column.

Why: such labels look like a network that will not learn — validation at chance, the training loss
creeping down as the network memorizes — and send people tuning it. A linear and a k-NN model
cross-validated on the training rows alone (``_reference.label_signal``) tell that apart: with labels
that follow from the inputs at all, one of them beats chance, 1/C in balanced accuracy, by two standard
errors (balanced, so 99:1 data whose rare class the models do see is not mistaken for noise).

Not judged on token ids (distances between id vectors mean nothing to the reference models), nor when
the watched network itself got at least halfway from chance to a perfect validation score: then there
is signal the references cannot see.
"""

from __future__ import annotations

import math

from knobs.diagnose._finding import Finding, finding

__all__ = ["no_signal_findings"]

# NOTE: two standard errors, as ``_training``'s margins: a cross-validated score this far above chance is
# not sampling noise.
_SE_MULTIPLE = 2.0


def no_signal_findings(ev: dict, scores: list[float], inputs: str) -> list[Finding]:
    """``no_signal``: neither reference model beats chance on the training rows by two standard errors, and
    the watched run's best validation score (over ``scores``, plain accuracies or R²) is not halfway from the
    most frequent class's share (0 in R²) to perfect."""
    signal = ev.get("signal") or {}
    if inputs == "tokens" or "chance" not in signal:
        return []
    chance, n, classification = signal["chance"], signal["rows"], signal["metric"] != "r2"
    bar = chance + _SE_MULTIPLE * signal["chance_se"]
    models = {name: signal[name] for name in ("linear", "knn")}
    best = max(scores) if scores else None
    # NOTE: the watched run's scores are plain accuracies (or R²): halfway from the most frequent class's share
    majority = signal.get("majority", chance)
    if any(score > bar for score in models.values()) or (best is not None and best > majority + (1 - majority) / 2):
        return []
    metric = "balanced accuracy" if classification else "R²"
    against = (f"answering without looking scores {chance:.3f} (1/C)" if classification
               else "predicting the mean scores 0")
    shown = "accuracy" if classification else "R²"
    run = "" if best is None else f"; the watched run's best validation {shown} is {best:.3f}"
    return [finding("no_signal", "warning",
                    f"the training labels do not follow from the inputs: cross-validated on the {n} training rows, "
                    f"a linear model scores {models['linear']:.3f} and a k-NN {models['knn']:.3f} in {metric}, where "
                    f"{against} (two standard errors above: {bar:.3f}){run}",
                    {**signal, "bar": bar, "best_val_score": best})]
