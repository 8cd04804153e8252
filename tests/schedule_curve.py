"""The LR a built schedule gives at every planned step, stepped as the Trainer steps it (shared by the
schedule tests)."""
from __future__ import annotations

from knobs.train import build_schedule


def lr_curve(spec, optimizer, epochs: int, steps_per_epoch: int, metrics=None):
    """(the LR read before every step, as the Trainer records it; the built schedule)."""
    sched = build_schedule(spec, optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)
    lrs = []
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            sched.step_batch()
        sched.step_epoch({"val_loss": metrics[epoch] if metrics else 1.0})
    return lrs, sched
