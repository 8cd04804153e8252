"""Training: ``Trainer.fit`` with optimizers by name, LR schedules with warmup, L1/L2, gradient
clipping, early stopping that restores the best weights, exact resume from checkpoints, mixed
precision on CUDA, callbacks, and the LR range test.

For your own loop around a study: ``ReportToTrial`` (epochs to the pruner), ``SaveTrialModel`` +
``load_trial_models(study.top_trials(k), build)`` (the top trials' models back, e.g. for an
ensemble); ``CSVLogger``, ``TensorBoardLogger``, ``ProgressBar``; validation ``metrics`` of your own;
``Trainer.predict``; dict, multi-input and sample-weighted batches (``BatchKeys``).

Example:
    >>> import torch
    >>> from knobs.models import build_model
    >>> from knobs.train import EarlyStopping, Trainer
    >>> X, y = torch.randn(128, 8), torch.randint(0, 3, (128,))
    >>> model = build_model("mlp", input_shape=(8,), n_classes=3, width=16, depth=1)
    >>> trainer = Trainer(optimizer="adam", lr=1e-2, epochs=3, batch_size=32,
    ...                   early_stopping=EarlyStopping(patience=2))
    >>> history = trainer.fit(model, train=(X, y), val=(X, y))
"""

from knobs.train._batches import BatchKeys
from knobs.train._callbacks import Callback
from knobs.train._checkpoint import (CheckpointError, Checkpointer, load_checkpoint, load_model_state, restore_model,
                                    save_checkpoint)
from knobs.train._device import CHANNELS_LAST, PRECISIONS, use_channels_last
from knobs.train._early_stopping import EarlyStopping
from knobs.train._history import History
from knobs.train._loggers import CSVLogger, ProgressBar, TensorBoardLogger
from knobs.train._lr_find import LRFindResult, lr_find
from knobs.train._metrics import METRICS, MULTILABEL_METRICS
from knobs.train._optimizers import OPTIMIZERS, build_optimizer
from knobs.train._schedules import SCHEDULES, Schedule, build_schedule, check_schedule
from knobs.train._trainer import Diverged, Trainer
from knobs.train._trial_callbacks import ReportToTrial, SaveTrialModel, load_trial_models

__all__ = [
    "CHANNELS_LAST", "BatchKeys", "CSVLogger", "Callback", "CheckpointError", "Checkpointer", "Diverged", "EarlyStopping",
    "History", "LRFindResult", "METRICS", "MULTILABEL_METRICS", "OPTIMIZERS", "PRECISIONS", "ProgressBar", "ReportToTrial", "SCHEDULES",
    "SaveTrialModel", "Schedule", "TensorBoardLogger", "Trainer", "build_optimizer", "build_schedule",
    "check_schedule", "load_checkpoint", "load_model_state", "load_trial_models", "lr_find", "restore_model",
    "save_checkpoint", "use_channels_last",
]
