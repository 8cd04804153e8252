"""A run's mode — one validation split, or k folds (``data.folds``) — chosen once, as an object.

Why objects: the two modes differ in a handful of places — what a trial is, what the one-split
steps (preflight, ``knobs check``, ``knobs diagnose --config``) look at, what a pruner's step is,
what ``best.pt`` is, and how the run ends. Each mode answers those, so the cycle asks its mode
instead of testing ``data.folds`` wherever the answer matters.

``SplitMode``: a trial trains once on the training split and is judged on validation; its
checkpoint competes for ``best.pt`` and the ensemble; the vault is opened by the final evaluation
of the single best or the ensemble.

``FoldMode``: a trial trains once per fold (``FoldObjective``, each fold's data prepared for its
fit) and is judged on the mean; the pruner's steps are folds; no trial keeps a checkpoint; the run
ends with the best configuration refit on every non-test row (``_refit.py``; those rows, let go
while the folds train, made again first), which becomes ``best.pt`` and is tested once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from knobs.pipeline.inputs._folds import prepare_folds, restore_refit_rows
from knobs.pipeline.rundir._best import publish_best
from knobs.pipeline.stages._final import final_evaluation
from knobs.pipeline.stages._refit import refit_evaluation
from knobs.pipeline.trials._fold_objective import FoldObjective
from knobs.pipeline.trials._objective import TrialObjective

__all__ = ["SplitMode", "FoldMode", "run_mode"]


def run_mode(cfg: Any) -> "SplitMode | FoldMode":
    """The mode ``cfg`` asks for: ``FoldMode(k)`` with ``data.folds = k``, else ``SplitMode()``."""
    return FoldMode(cfg.data.folds) if cfg.data.folds else SplitMode()


@dataclass(frozen=True)
class SplitMode:
    """One validation split (see the module docstring)."""

    #: folds of the run (None: one split), as events and summaries record it
    k: None = None

    def pruner_steps(self, cfg: Any) -> int:
        """A trial reports once per epoch."""
        return cfg.train.epochs

    def val_fraction(self, cfg: Any) -> float:
        """``data.val`` of the non-test rows validate."""
        return cfg.data.val

    def prepare_folds(self, cfg: Any, dataset: Any, rest: Any, groups: Any) -> None:
        """No folds."""
        return None

    def describe_rows(self, splits: Any) -> str:
        return f"train {len(splits.train[1])}, val {len(splits.val[1])}"

    def training_data(self, cfg: Any, inputs: Any) -> Any:
        """The run's data, its training rows as loaded (lr-find trains on them)."""
        return inputs.data

    def objective(self, cfg: Any, data: Any, fixed: dict[str, Any], rundir: Any, events: Any) -> TrialObjective:
        """A trial: one fit on the training split, judged on validation, its checkpoint kept."""
        return TrialObjective(cfg, data, fixed, rundir, events)

    def view(self, data: Any, splits: Any, params: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        """What a one-split step (preflight, ``knobs check``, ``knobs diagnose``) looks at: the
        run's data, splits and reference parameters."""
        return data, splits, params

    def publish_best(self, rundir: Any, study: Any, events: Any = None) -> None:
        """``best.pt``: the study's best trial's checkpoint."""
        announce = None if events is None else (lambda number, value: events("best_checkpoint", trial=number, value=value))
        publish_best(rundir, study, announce)

    def final(self, cfg: Any, rundir: Any, vault: Any, inputs: Any, objective: Any, trials: Any, direction: str) -> dict:
        """Single best or ensemble, chosen on validation, then the vault opened once."""
        return final_evaluation(cfg, rundir, vault, inputs.data, trials, direction)

    def cv(self, cfg: Any, best: Any) -> None:
        return None


@dataclass(frozen=True)
class FoldMode:
    """k folds of the non-test rows (see the module docstring)."""

    k: int

    def pruner_steps(self, cfg: Any) -> int:
        """A trial reports the running mean after each fold: ASHA and Hyperband get k as their budget."""
        return self.k

    def val_fraction(self, cfg: Any) -> float:
        """None: each fold validates on its own part of the training split."""
        return 0.0

    def prepare_folds(self, cfg: Any, dataset: Any, rest: Any, groups: Any) -> list:
        """The folds (their rows' positions); each fold's data is prepared from its training part
        alone when a fit uses it."""
        return prepare_folds(cfg, dataset, rest, groups)

    def describe_rows(self, splits: Any) -> str:
        return f"{self.k} folds of {len(splits.train[1])} rows"

    def training_data(self, cfg: Any, inputs: Any) -> Any:
        """The run's data with its training rows — every non-test row, standardized — made again:
        ``load_inputs`` lets them go, as only the refit (and lr-find) train on them, so a search
        holds the raw rows and the one fold that trains (``restore_refit_rows``: the same bits)."""
        restore_refit_rows(cfg, inputs.data, inputs.dataset, inputs.splits.train)
        return inputs.data

    def objective(self, cfg: Any, data: Any, fixed: dict[str, Any], rundir: Any, events: Any) -> FoldObjective:
        """A trial: one fit per fold, judged on the mean; ``.inner`` refits the best at the end."""
        return FoldObjective(TrialObjective(cfg, data, fixed, rundir, events), data.folds)

    def view(self, data: Any, splits: Any, params: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        """The first fold's data, splits and parameters (the run's own validation split is empty
        here, and a text fold's vocabulary size is its own): prepared for the caller, its data
        checks answered (the rows are standardized in place), let go when the caller is done."""
        fold = data.folds[0].prepare(data_checks=True)
        return fold.data, fold.splits, {**params, **fold.data.model_args}

    def publish_best(self, rundir: Any, study: Any, events: Any = None) -> None:
        """Nothing: fold trials keep no checkpoints; ``best.pt`` is the refit."""

    def final(self, cfg: Any, rundir: Any, vault: Any, inputs: Any, objective: Any, trials: Any, direction: str) -> dict:
        """The best configuration refit on every non-test row (its rows made again first, if they
        were let go), saved as ``best.pt``, tested once."""
        self.training_data(cfg, inputs)  # NOTE: objective.inner holds the same data object
        return refit_evaluation(cfg, rundir, vault, objective.inner, trials, direction)

    def cv(self, cfg: Any, best: Any) -> dict | None:
        """The best trial's mean ± std over folds, per fold, and the metric searched."""
        if "cv" not in best.attrs:
            return None
        return {"metric": cfg.search.metric, "groups": cfg.data.groups, **best.attrs["cv"]}
