"""The callback contract: a small fixed set of events, each hook a no-op by default.

Call order within ``Trainer.fit``: ``on_fit_start(trainer)`` once (after the model, optimizer and
schedule exist, before a resumed checkpoint is loaded); ``on_step_end(trainer, step_record)``
after every optimizer step; ``on_epoch_end(trainer, record)`` after each epoch's validation;
``on_fit_end(trainer, history)`` once when the loop ends normally; ``on_exception(trainer,
error)`` instead when an exception ends it (a display or a log file closes there). Any exception a
hook raises (``knobs.Pruned`` from ``trial.report``, for instance) propagates out of ``fit``; the
one way to end the loop quietly is ``trainer.stop()``.

Why step hooks are special: they run in the hot loop, so the trainer only builds step records
when some callback actually overrides ``on_step_end``.

Example:
    >>> class PrintLR(Callback):
    ...     def on_epoch_end(self, trainer, record):
    ...         print(record["epoch"], record["lr"])
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

__all__ = ["Callback", "check_callbacks", "hooks"]

EVENTS = ("on_fit_start", "on_step_end", "on_epoch_end", "on_fit_end", "on_exception")


class Callback:
    """Base class for training callbacks; override only the hooks you need."""

    def on_fit_start(self, trainer: Any) -> None:
        """Called once before the first epoch."""

    def on_step_end(self, trainer: Any, step_record: dict) -> None:
        """Called after each optimizer step with ``{epoch, step, batch, lr, loss}``.

        ``loss`` is a 0-d tensor on the device: ``float()`` it only when needed (it syncs).
        """

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        """Called after each epoch with the history record."""

    def on_fit_end(self, trainer: Any, history: Any) -> None:
        """Called once after the last epoch (not when an exception ends the fit)."""

    def on_exception(self, trainer: Any, error: BaseException) -> None:
        """Called once when an exception (``Diverged``, ``knobs.Pruned``, an interrupt) ends the
        fit after ``on_fit_start``, just before it propagates: release what ``on_fit_start`` opened."""


#: Other tools' hook names → knobs' event (Lightning's and Keras'): a callback written for them is told what to rename.
FOREIGN_EVENTS = {
    "on_train_start": "on_fit_start", "on_train_begin": "on_fit_start",
    "on_train_epoch_end": "on_epoch_end", "on_validation_epoch_end": "on_epoch_end",
    "on_train_batch_end": "on_step_end", "on_batch_end": "on_step_end",
    "on_train_end": "on_fit_end",
}


def check_callbacks(callbacks: Iterable[Any]) -> None:
    """Refuse a callback that has none of knobs' events — it would never be called.

    NOTE: one written for Lightning or Keras (``on_train_epoch_end``, ``on_train_batch_end``) was silently never
    called; it is told the names to use.

    Raises:
        ConfigError: naming the callback, the other tool's hooks it has and knobs' names for them."""
    from knobs.errors import ConfigError

    for cb in callbacks:
        if any(callable(getattr(cb, event, None)) for event in EVENTS):
            continue
        name = type(cb).__name__
        foreign = [f"{hook} → {event}" for hook, event in FOREIGN_EVENTS.items() if callable(getattr(cb, hook, None))]
        renamed = f"; rename its hooks as knobs calls them ({', '.join(foreign)})" if foreign else ""
        raise ConfigError(f"callbacks: {name} has none of the hooks the Trainer calls ({', '.join(EVENTS)}), so it "
                          f"would never run{renamed}; signatures: on_epoch_end(self, trainer, record), "
                          f"on_step_end(self, trainer, step_record)")


def hooks(callbacks: Iterable[Any], event: str) -> list[Callable[..., None]]:
    """The bound ``event`` methods of ``callbacks`` that do something (base no-ops are skipped).

    Duck-typed objects work too: any object with a callable attribute named ``event`` counts.
    """
    found = []
    for cb in callbacks:
        method = getattr(cb, event, None)
        if method is None or not callable(method):
            continue
        if getattr(type(cb), event, None) is getattr(Callback, event):
            continue
        found.append(method)
    return found
