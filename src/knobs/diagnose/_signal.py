"""Labels the inputs do not predict: X and y out of line, the wrong target column.

Why: such labels look like a network that will not learn — validation at chance, the training loss
creeping down as the network memorizes — and send people tuning it. A linear and a k-NN model
cross-validated on the training rows alone (``_reference.label_signal``) tell that apart: with labels
that follow from the inputs at all, one of them beats always answering the most frequent class.

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
    the watched run's best validation score (over ``scores``) is not halfway from chance to perfect."""
    signal = ev.get("signal") or {}
    if inputs == "tokens" or "chance" not in signal:
        return []
    chance, n, classification = signal["chance"], signal["rows"], signal["metric"] == "accuracy"
    se = math.sqrt(chance * (1 - chance) / n) if classification else math.sqrt(2 / n)
    bar = chance + _SE_MULTIPLE * se
    models = {name: signal[name] for name in ("linear", "knn")}
    best = max(scores) if scores else None
    if any(score > bar for score in models.values()) or (best is not None and best > chance + (1 - chance) / 2):
        return []
    metric = "accuracy" if classification else "R²"
    against = (f"always answering the most frequent class scores {chance:.3f}" if classification
               else "predicting the mean scores 0")
    run = "" if best is None else f"; the watched run's best validation {metric} is {best:.3f}"
    return [finding("no_signal", "warning",
                    f"the training labels do not follow from the inputs: cross-validated on the {n} training rows, "
                    f"a linear model scores {models['linear']:.3f} and a k-NN {models['knn']:.3f} in {metric}, where "
                    f"{against} (two standard errors above: {bar:.3f}){run}",
                    {**signal, "bar": bar, "best_val_score": best})]
