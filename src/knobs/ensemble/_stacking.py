"""``Stacking``: a logistic-regression meta-learner on members' validation probabilities.

Why cross-validated: the meta-learner is fitted on the validation split, so scoring it on the
same rows would flatter it. ``fit`` therefore also predicts every validation row from a model
that did not see it (stratified K-fold, ``sklearn.model_selection.cross_val_predict``); that
out-of-fold score is the one to compare with the other combiners. The model used on new data
is then refitted on all validation rows.

Why log-probabilities as features: a linear model on ``log p`` contains the weighted geometric
mean of the members (a product of experts) as a special case, and can also learn per-class
corrections; on raw probabilities a linear model is squeezed into [0, 1] inputs.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from knobs.ensemble._combine import Probs, as_stack, check_labels
from knobs.ensemble._greedy import score
from knobs.errors import ConfigError, DataError

__all__ = ["Stacking", "folds", "FEATURES"]

FEATURES = ("log", "prob")
# NOTE: clip before the log so a member's hard 0 becomes a large negative feature, not -inf.
_EPS = 1e-7


def folds(y: np.ndarray, cv: int, seed: int | None) -> StratifiedKFold:
    """Stratified, shuffled K-fold over ``y``; every class present needs at least ``cv`` rows."""
    if not isinstance(cv, (int, np.integer)) or isinstance(cv, bool) or cv < 2:
        raise ConfigError(f"cv must be an integer >= 2 (folds of the validation rows), got {cv!r}")
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < cv:
        rare = int(classes[counts.argmin()])
        raise DataError(f"class {rare} has {counts.min()} validation rows, fewer than cv={cv} folds; "
                        "lower cv or enlarge the validation split")
    return StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)


class Stacking:
    """Multinomial logistic regression on the members' probabilities (Wolpert 1992's stacking).

    Args:
        C: inverse L2 strength of the meta-learner (scikit-learn's ``C``, on standardized
            features); small values shrink it towards predicting the class frequencies.
        cv: folds for the out-of-fold validation score.
        seed: shuffles the folds.
        features: ``"log"`` (clipped log-probabilities, the default) or ``"prob"``.

    Attributes (after ``fit``):
        model_: ``StandardScaler`` + ``LogisticRegression``, fitted on all validation rows.
        oof_proba_: ``(n_samples, n_classes)`` out-of-fold probabilities of the validation rows.
        cv_log_loss_, cv_accuracy_: scores of ``oof_proba_``: the honest validation scores.
        n_members_, n_classes_: the shape ``predict_proba`` expects.

    Example:
        >>> st = Stacking(C=1.0, cv=5, seed=0).fit(val_probs, y_val)  # doctest: +SKIP
        >>> st.cv_log_loss_, st.predict_proba(test_probs)  # doctest: +SKIP
    """

    def __init__(self, C: float = 1.0, cv: int = 5, seed: int | None = 0, features: str = "log") -> None:
        self.C = C
        self.cv = cv
        self.seed = seed
        self.features = features

    def fit(self, val_probs: Probs, y_val: np.ndarray) -> "Stacking":
        """Fit on members' validation probabilities; computes the out-of-fold scores first."""
        stack = as_stack(val_probs, "val_probs")
        y = check_labels(y_val, stack.shape[1], stack.shape[2], "y_val")
        self._validate()
        X = self._features(stack)
        splitter = folds(y, self.cv, self.seed)
        self.n_members_, self.n_classes_ = stack.shape[0], stack.shape[2]
        oof = cross_val_predict(self._model(), X, y, cv=splitter, method="predict_proba")
        self.oof_proba_ = self._expand(oof, np.unique(y))
        self.cv_log_loss_ = score(self.oof_proba_, y, "log_loss")
        self.cv_accuracy_ = score(self.oof_proba_, y, "accuracy")
        self.model_ = self._model().fit(X, y)
        return self

    def predict_proba(self, probs: Probs) -> np.ndarray:
        """Combined probabilities ``(n_samples, n_classes)`` for members' probabilities on new rows."""
        if not hasattr(self, "model_"):
            raise ConfigError("Stacking.predict_proba called before fit(val_probs, y_val)")
        stack = as_stack(probs, "probs")
        if stack.shape[0] != self.n_members_ or stack.shape[2] != self.n_classes_:
            raise DataError(f"probs has {stack.shape[0]} members x {stack.shape[2]} classes; Stacking was fitted on "
                            f"{self.n_members_} members x {self.n_classes_} classes (same members, same order)")
        return self._expand(self.model_.predict_proba(self._features(stack)), self.model_.classes_)

    def _validate(self) -> None:
        if isinstance(self.C, bool) or not isinstance(self.C, (int, float)) or not self.C > 0:
            raise ConfigError(f"Stacking C must be a number > 0, got {self.C!r}")
        if self.features not in FEATURES:
            raise ConfigError(f"Stacking features must be one of {FEATURES}, got {self.features!r}")

    def _model(self) -> Pipeline:
        # NOTE: log-probabilities reach ln(1e-7) ≈ -16; standardizing them first cuts L-BFGS from
        # ~300 iterations to ~20 (1000 rows, 5 members x 10 classes: 0.75 s -> 0.02 s per fit).
        return make_pipeline(StandardScaler(), LogisticRegression(C=float(self.C), max_iter=1000))

    def _features(self, stack: np.ndarray) -> np.ndarray:
        """``(n_samples, n_members * n_classes)``: members side by side."""
        values = np.log(np.clip(stack, _EPS, 1.0)) if self.features == "log" else stack
        return values.transpose(1, 0, 2).reshape(stack.shape[1], -1)

    def _expand(self, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Put the columns of the classes seen in fit into their places among all ``n_classes_``.

        NOTE: a class absent from the validation labels cannot be learned; it gets probability 0.
        """
        full = np.zeros((proba.shape[0], self.n_classes_))
        full[:, classes] = proba
        return full
