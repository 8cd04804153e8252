"""``diagnose``: the preflight checks, one watched training run, and what they say is wrong.

Order of work: validate the settings and data (bad input → ``KnobsError`` before any compute);
the data checks (NaN/inf or bad labels stop here: nothing can train); the model checks on copies;
one watched training run; a scikit-learn reference; when the run was unstable or fit too little,
the same training at 1/10 or 10x the learning rate; then the rules turn the evidence into findings
and causes explain their symptoms. The model passed in is never modified.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from knobs.checks import CheckResult, check_data
from knobs.checks._common import check_task
from knobs.diagnose._evidence import (Settings, affine, gradient_geometry, lr_probe, model_checks, reference,
                                     watched_run)
from knobs.diagnose._explain import explain
from knobs.diagnose._preflight import check_findings
from knobs.diagnose._report import Report
from knobs.diagnose._layers import activation_findings, gradient_findings
from knobs.diagnose._outputs import output_findings, output_range
from knobs.diagnose._reference import label_signal
from knobs.diagnose._signal import no_signal_findings
from knobs.diagnose._setup import input_kind, read_data, settings_of, steps_per_epoch
from knobs.diagnose._training import fit_findings, further_probe, noisy_findings, probe_factors, probe_key, val_scores
from knobs.diagnose._weighted import weigh_imbalance
from knobs.errors import ConfigError
from knobs.train._batches import materialize_lazy
from knobs.train._losses import check_loss_reads_logits

__all__ = ["diagnose", "run_diagnosis", "PROBES_PER_EPOCH"]

# NOTE: four probes per epoch give every rule a few readings per epoch. On small data (a digits
# epoch is ~20 steps, so a probe every 5 steps) that costs 11-13% of the diagnosis' short training
# run, against ~1% at Watch's default of one probe per 50 steps (bench/diagnose.py measures both).
PROBES_PER_EPOCH = 4


def diagnose(model: nn.Module, train, val, *, trainer: Any = None, task: str | None = None,
             optimizer: Any = None, lr: float | None = None, batch_size: int | None = None,
             epochs: int | None = None, weight_decay: float | None = None, optimizer_options: dict | None = None,
             loss: Any = None, schedule: Any = None, n_classes: int | None = None, seed: int | None = None,
             device: str | None = None) -> Report:
    """Check, train briefly under watch, and report what is wrong with this training setup.

    The setup diagnosed is the one trained: ``trainer`` (a ``knobs.train.Trainer`` or a mapping of
    its arguments) gives optimizer, lr, batch size, weight decay, loss, schedule, precision,
    clipping and batch transform; each keyword below overrides it. With neither, the Trainer's
    defaults are diagnosed (Adam, lr 1e-3, batch size 64), as ``Trainer().fit`` would train.

    Args:
        model: any ``nn.Module`` producing logits ``(n, C)`` (or ``(n,)``/``(n, 1)`` for regression);
            it is copied, never trained.
        train, val: ``(X, y)`` tensors or arrays, ``(X, y, sample_weight)`` (the weights make the
            training runs' loss a weighted mean, as in ``Trainer``), ``{"x": X, "y": y}`` (optional
            ``"weight"``), or DataLoaders of such batches: the watched runs train on the loaders
            (their batch size, sampler, augmentation) and the checks read up to
            ``MAX_LOADER_ROWS`` of their rows. Models of several inputs are not diagnosed.
        trainer: the ``Trainer`` (or its keyword arguments as a mapping) whose setup to diagnose;
            its callbacks, early stopping and checkpoints are left out.
        task: ``"classification"`` or ``"regression"``.
        optimizer, lr, batch_size, weight_decay, optimizer_options, loss, schedule: as in
            ``Trainer``; ``loss`` is any ``loss(outputs, targets)`` (label smoothing, focal, your own).
        epochs: epochs of the watched run (default: the trainer's, at most ``EPOCHS`` = 20; a
            trainer's schedule keeps spanning its own epochs).
        n_classes: the number of classes (default: the model's output width).
        seed: seeds the checks, the training and the reference (default: the trainer's, else 0).
        device: where the watched training runs ("auto", "cpu", "cuda").

    Returns:
        A ``Report``; ``report.findings`` lists what was found, most severe first, each with
        ``code``, ``severity``, ``evidence`` and ``action``. A healthy setup has no finding above
        ``info`` (``report.ok``).

    Raises:
        ConfigError, DataError: bad settings or data, before any work.

    Example:
        >>> report = diagnose(net, train_loader, val_loader, trainer=Trainer(optimizer="sgd", lr=0.5))  # doctest: +SKIP
        >>> [(f.code, f.severity) for f in report.findings]                                           # doctest: +SKIP
        [('lr_too_high', 'warning')]
    """
    given = {name: value for name, value in dict(
        task=task, optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs, weight_decay=weight_decay,
        optimizer_options=optimizer_options, loss=loss, schedule=schedule, seed=seed, device=device).items()
        if value is not None}
    settings = settings_of(trainer, given, n_classes)
    _validate(model, settings)
    train, val = read_data(train, val, settings)
    settings.inputs = input_kind(model, train[0])
    data = check_data({"train": _numpy(train[:2]), "val": _numpy(val)}, n_classes=n_classes, task=settings.task,
                      inputs=settings.inputs)
    return run_diagnosis(model, train, val, settings, data)


def run_diagnosis(model: nn.Module, train, val, settings: Settings, data_checks: Sequence[CheckResult]) -> Report:
    """The diagnosis proper, given validated tensors (``train`` may carry sample weights as a third
    item) and the data checks (``diagnose_config`` runs the data checks on the raw splits, as
    ``knobs run`` does)."""
    start = time.perf_counter()
    base = copy.deepcopy(model).cpu()
    materialize_lazy(base, train[0])  # a lazy model's shapes, once: every check and run copies this one
    sizes = {"train": len(train[1]), "val": len(val[1])}
    findings = weigh_imbalance(check_findings(data_checks, sizes), train[1], train[2] if len(train) > 2 else None)
    checks = list(data_checks)
    evidence: dict[str, Any] = {"settings": settings.to_dict(), "sizes": sizes}
    if any(f.severity == "error" for f in findings):  # NaN or bad labels: nothing can train
        return Report(explain(findings), checks, evidence, time.perf_counter() - start)
    model_results = model_checks(base, train[0], train[1], settings)
    checks += model_results
    findings += check_findings(model_results)
    ev = _training_evidence(base, train, val, settings, _chance_loss(model_results))
    findings += (output_findings(ev) + activation_findings(ev) + gradient_findings(ev) + noisy_findings(ev)
                 + fit_findings(ev) + no_signal_findings(ev, val_scores(ev), settings.inputs))
    evidence.update({k: ev[k] for k in ("run", "probes", "reference", "noise", "curvature", "affine", "outputs",
                                        "signal")})
    return Report(explain(findings), checks, evidence, time.perf_counter() - start)


def _training_evidence(model: nn.Module, train, val, s: Settings, chance_loss: float) -> dict[str, Any]:
    steps = steps_per_epoch(train, s)
    ev = {"task": s.task, "settings": s.to_dict(), "probes": {}, "chance_loss": chance_loss, "n_val": len(val[1]),
          "run": watched_run(model, train, val, s, every=max(1, steps // PROBES_PER_EPOCH)),
          "reference": reference(train[:2], val, s), **gradient_geometry(model, train, s),
          "affine": affine(model, train[0]), "outputs": output_range(model, train[0], s.loss),
          "signal": label_signal(train[:2], s.task, seed=s.seed)}
    for factor in probe_factors(ev):
        ev["probes"][probe_key(factor)] = lr_probe(model, train, val, s, factor)
    if (factor := further_probe(ev)) is not None:  # the 10x run learned nothing either
        ev["probes"][probe_key(factor)] = lr_probe(model, train, val, s, factor)
    return ev


def _chance_loss(results: Sequence[CheckResult]) -> float:
    """ln C or Var(y), as the initial-loss check computed it."""
    return next(r.measured["expected"] for r in results if r.name == "initial_loss")


def _validate(model: Any, s: Settings) -> None:
    if not isinstance(model, nn.Module):
        raise ConfigError(f"diagnose: model must be a torch.nn.Module, got {type(model).__name__}")
    check_task(s.task)
    check_loss_reads_logits(s.loss, s.task)
    s.trainer().validate()
    if s.n_classes is not None and (not isinstance(s.n_classes, int) or s.n_classes < 2):
        raise ConfigError(f"diagnose: n_classes must be an integer >= 2, got {s.n_classes!r}")


def _numpy(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    return pair[0].numpy(), pair[1].numpy()
