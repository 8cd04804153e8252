"""A study's asked trials trained in populations: ask P → group by architecture → train → tell each.

Why grouping: a population stacks parameters, so its members must share every shape-setting key
(width, depth, channels...), the activation and the rest of the architecture, the optimizer
family and the loop settings (``population_key``). Trials that differ there train in separate
populations, one after the other. The speed-up therefore comes from searches whose architecture
is fixed or drawn from a few choices, while learning rate, weight decay, momentum, betas,
dropout, L1 and clipping vary freely; a search over a continuous width falls back to
populations of one.

Each trial gets the seed ``seed + trial.number`` (as ``knobs.pipeline``'s TrialObjective gives it),
its per-epoch metric is reported so pruners decide per epoch (a pruned member leaves the stack
at once), and the attributes a one-by-one trial records (best epoch, curve...) are set the same
way. Both go through ``knobs.trial.report_many`` / ``set_attrs_many``: one storage write per
epoch for all members (one read of the study for the pruner), and one for all members'
attributes, with the pruning decisions ``trial.report`` would make member by member — at P = 256
per-member writes would cost more than the epoch on a GPU.

Example:
    >>> import knobs, torch
    >>> X, y = torch.randn(96, 8), torch.randint(0, 3, (96,))
    >>> space = knobs.Space({"lr": knobs.Float(1e-3, 1e-1, log=True)})
    >>> study = knobs.Study(space, sampler=knobs.search.Random(seed=0))
    >>> objective = PopulationObjective("mlp", (X, y), (X, y), fixed={"width": 16, "depth": 1},
    ...                                 epochs=2, batch_size=32, device="cpu")
    >>> optimize_population(study, objective, n_trials=4, population=4)
    >>> len(study.trials)
    4
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from knobs.errors import ConfigError
from knobs.population._executor import PopulationExecutor
from knobs.population._members import group_members
from knobs.population._tracking import MemberResult
from knobs.population._train import train_population
from knobs.trial import FrozenTrial, Trial, report_many, set_attrs_many

__all__ = ["PopulationObjective", "optimize_population"]


class PopulationObjective:
    """Trains a batch of a study's live trials, grouped into populations by architecture.

    Args:
        family: "mlp" or "convnet".
        train, val: the data, as ``train_population`` takes it.
        fixed: parameters every trial has unless its config sets them (architecture, defaults).
        metric: the value told to the study and watched by early stopping ("val_loss" or
            "val_accuracy"; the study's direction must match).
        on_epoch: ``on_epoch(trial, record)`` before each report (logging, progress).
        **settings: ``epochs``, ``batch_size``, ``optimizer``, ``schedule``, ``patience``,
            ``min_delta``, ``device``, ``precision``, ``seed``, ``task``, ``input_shape``,
            ``n_classes``, ``eval_batch_size``, ``loss`` — as ``train_population`` takes them (``patience``
            defaults to 8 here, as a run's [train] section does).
    """

    def __init__(self, family: str, train: Any, val: Any, *, fixed: dict[str, Any] | None = None,
                 metric: str = "val_loss", on_epoch: Callable[[Trial, dict], None] | None = None,
                 **settings: Any) -> None:
        self.family, self.train, self.val = family, train, val
        self.fixed = fixed
        self.metric = metric
        self.on_epoch = on_epoch
        self.settings = {"patience": 8, "seed": 0, **settings}

    def groups(self, configs: Sequence[dict[str, Any]]) -> list[list[int]]:
        """Indices of ``configs`` that train together."""
        defaults = {k: self.settings[k] for k in ("epochs", "batch_size", "schedule") if k in self.settings}
        return group_members(self.family, [{**(self.fixed or {}), **c} for c in configs],
                             optimizer=self.settings.get("optimizer", "adam"), defaults=defaults)

    def __call__(self, trials: Sequence[Trial]) -> list[MemberResult]:
        """Train ``trials`` (each group as one population); results in the order of ``trials``."""
        if self.metric not in ("val_loss", "val_accuracy"):
            raise ConfigError(f"metric: expected 'val_loss' or 'val_accuracy', got {self.metric!r}")
        results: list[MemberResult | None] = [None] * len(trials)
        for group in self.groups([t.config for t in trials]):
            members = [trials[i] for i in group]
            settings = {**self.settings, "seed": [self.settings["seed"] + t.number for t in members]}
            out = train_population(self.family, self.fixed, [dict(t.config) for t in members], self.train,
                                   self.val, monitor=self.metric, on_epoch=self._logger(members),
                                   on_epoch_end=self._reporter(members), **settings)
            for i, result in zip(group, out):
                results[i] = result
            set_attrs_many([(trial, _attrs(result)) for trial, result in zip(members, out)])
        return results  # type: ignore[return-value]

    def _logger(self, members: list[Trial]) -> Callable[[int, dict], None] | None:
        on_epoch = self.on_epoch
        if on_epoch is None:
            return None
        return lambda index, record: on_epoch(members[index], record)

    def _reporter(self, members: list[Trial]) -> Callable[[list[tuple[int, dict]]], list[int]]:
        def report(records: list[tuple[int, dict]]) -> list[int]:
            pruned = report_many([(members[i], r["epoch"], r[self.metric]) for i, r in records])
            return [i for (i, _), stop in zip(records, pruned) if stop]  # these members stop
        return report


def optimize_population(study: Any, objective: PopulationObjective, n_trials: int, population: int = 16,
                        callbacks: Sequence[Callable[[Any, FrozenTrial], None]] = ()) -> None:
    """``study.optimize(objective, n_trials, executor=PopulationExecutor(population))``.

    A trial's value is its best epoch's metric; a pruned member is told "pruned" (keeping its last
    report), a diverged one "failed" with ``attrs["fail_reason"]``. If training raises, the
    batch's trials are told "failed"; bad input (a ``KnobsError``) propagates, other errors are
    recorded and the search goes on, as ``Study.optimize`` treats them. Stops early when the
    sampler has nothing left to propose.

    Raises:
        ConfigError: ``n_trials`` or ``population`` not a positive integer.
    """
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise ConfigError(f"n_trials: expected an integer >= 1, got {n_trials!r}")
    study.optimize(objective, n_trials=n_trials, callbacks=callbacks, executor=PopulationExecutor(population))


def _attrs(result: MemberResult) -> dict[str, Any]:
    """The attributes a one-by-one trial records (``knobs.pipeline``'s TrialObjective)."""
    best = result.history.best
    if best is None or result.diverged:
        return {}
    keys = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr")
    return {"best_epoch": best["epoch"], "val_accuracy": best.get("val_accuracy"), "val_loss": best.get("val_loss"),
            "epochs_run": len(result.records), "curve": {k: [r.get(k) for r in result.records] for k in keys},
            "population": True}
