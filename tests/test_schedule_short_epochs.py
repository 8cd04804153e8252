"""An LR schedule sized from the loader's `len` still runs its whole course when epochs take fewer
steps: a streamed split whose damaged rows are found in the first pass (its `len` an upper bound
until then) yields fewer batches than planned. Each epoch starts where the planned schedule puts
it and the fit ends where the schedule ends (a one-cycle annealed, a cosine at eta_min), and
OneCycleLR is never stepped past its total_steps."""

import functools

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler as lrs

from knobs.data._stream import StreamedPair, StreamedRows, UnreadableRow
from knobs.train import Trainer
from schedule_curve import lr_curve

torch.set_num_threads(1)

ROWS, BAD, BATCH, EPOCHS = 32, 26, 4, 3
PLANNED = ROWS // BATCH  # the loader's len before the first pass


class Damaged(torch.utils.data.Dataset):
    """Rows ``(i, i)`` of label ``i % 2``; the first ``BAD`` cannot be read."""

    targets = [i % 2 for i in range(ROWS)]

    def __len__(self):
        return ROWS

    def __getitem__(self, i):
        if i < BAD:
            raise UnreadableRow(f"row {i} is damaged", {"file": f"row{i}", "reason": "damaged"})
        return torch.full((2,), float(i) / ROWS), self.targets[i]


class Steps:
    """The LR of every step and the step count of every epoch."""

    def __init__(self):
        self.lrs, self.per_epoch = [], []

    def on_step_end(self, trainer, record):
        self.lrs.append(record["lr"])

    def on_epoch_end(self, trainer, record):
        self.per_epoch.append(len(self.lrs) - sum(self.per_epoch))


def _planned(schedule) -> list[float]:
    """The LR at every planned step (and after the last), the schedule stepped once per batch of len."""
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    lrs, _ = lr_curve(schedule, optimizer, EPOCHS, PLANNED)
    return lrs + [optimizer.param_groups[0]["lr"]]


SCHEDULES = [{"name": "onecycle"}, {"name": "cosine"}, {"name": "step", "step_size": 1, "gamma": 0.5},
             {"name": "cyclic"}, {"name": "exponential", "k": 0.5, "warmup_steps": 3},
             functools.partial(lrs.OneCycleLR, max_lr=0.1, total_steps=EPOCHS * PLANNED)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["onecycle", "cosine", "step", "cyclic", "exponential-warmup",
                                                     "user-onecycle"])
@pytest.mark.filterwarnings("ignore")
def test_a_schedule_runs_its_course_when_damaged_rows_shorten_the_epochs(schedule):
    steps = Steps()
    pair = StreamedPair(StreamedRows(Damaged()), torch.as_tensor(Damaged.targets))
    trainer = Trainer(optimizer="sgd", lr=0.1, epochs=EPOCHS, batch_size=BATCH, schedule=schedule, seed=0,
                      callbacks=[steps])
    trainer.fit(nn.Linear(2, 2), pair)
    planned = _planned(schedule)
    assert steps.per_epoch[0] < PLANNED and all(n < PLANNED for n in steps.per_epoch)  # short epochs
    starts = [sum(steps.per_epoch[:e]) for e in range(EPOCHS)]
    assert [steps.lrs[s] for s in starts] == pytest.approx([planned[e * PLANNED] for e in range(EPOCHS)])
    assert trainer.optimizer_.param_groups[0]["lr"] == pytest.approx(planned[-1])  # where the schedule ends
    assert trainer.schedule_.steps == EPOCHS * PLANNED
    for e in range(1, EPOCHS):  # len is exact from the second epoch: each step its share of the epoch
        n = steps.per_epoch[e]
        expected = [planned[e * PLANNED + j * PLANNED // n] for j in range(n)]
        assert steps.lrs[starts[e]:starts[e] + n] == pytest.approx(expected)


def test_when_every_batch_comes_each_step_is_one_tick_as_before():
    steps = Steps()
    X, y = torch.randn(ROWS, 2), torch.randint(0, 2, (ROWS,))
    trainer = Trainer(optimizer="sgd", lr=0.1, epochs=EPOCHS, batch_size=BATCH, schedule="onecycle", seed=0,
                      callbacks=[steps])
    trainer.fit(nn.Linear(2, 2), (X, y))
    assert steps.lrs + [trainer.optimizer_.param_groups[0]["lr"]] == pytest.approx(_planned("onecycle"), rel=1e-12)
