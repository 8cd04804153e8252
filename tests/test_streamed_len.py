"""The streamed loader's `len()` agrees with what a pass yields once the unreadable rows are known
(after one pass): a batch whose every row is unreadable is not yielded, nor counted; before, it is
an upper bound. Asking `len` on a shuffled loader draws no order from the trainer's generator."""

import numpy as np
import torch

from knobs.data._stream import StreamedRows, UnreadableRow
from knobs.train._batches import BoundedBatches

torch.set_num_threads(1)


class Holes(torch.utils.data.Dataset):
    """Rows ``(i, i)`` of label ``i % 2``; the rows in ``bad`` cannot be read."""

    def __init__(self, n, bad):
        self.n, self.bad, self.targets = n, set(bad), [i % 2 for i in range(n)]

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i in self.bad:
            raise UnreadableRow(f"row {i} is damaged", {"file": f"row{i}", "reason": "damaged"})
        return torch.full((2,), float(i)), self.targets[i]


def test_in_order_len_is_an_upper_bound_before_the_first_pass_and_exact_after():
    rows = StreamedRows(Holes(12, bad=[2, 3, 7]))
    loader = rows.loader(batch_size=2)
    assert len(loader) == 6  # nothing read yet: rows 2 and 3 are not known to be unreadable
    assert len(list(loader)) == 5  # the batch (2, 3) is not yielded
    assert len(loader) == 5  # known now; (6, 7) keeps row 6
    assert len(list(loader)) == 5
    view = rows[np.arange(4, 12)]  # another view of the source knows the rows too
    assert len(view.loader(batch_size=2)) == 4 == len(list(view.loader(batch_size=2)))


def test_shuffled_len_counts_the_next_pass_and_leaves_the_generator_as_it_was():
    bad = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # 9 of 16: some batch of 2 is wholly unreadable
    rows = StreamedRows(Holes(16, bad=bad))
    y = torch.as_tensor(rows.source.targets)
    generator = torch.Generator().manual_seed(0)
    loader = rows.loader(y=y, batch_sampler=BoundedBatches(16, 2, generator, shuffle=True))
    list(loader)  # the first pass meets the unreadable rows
    for _ in range(3):
        state = generator.get_state()
        expected = len(loader)
        assert torch.equal(generator.get_state(), state)  # len drew no order
        passed = list(loader)
        assert expected == len(passed) < 8
        assert sum(len(yb) for _, yb in passed) == 16 - len(bad)


def test_a_view_whose_first_row_is_unreadable_learns_the_shape_from_the_next_row():
    rows = StreamedRows(Holes(6, bad=[0, 1]))
    batches = list(rows.loader(batch_size=2))
    assert [b[:, 0].tolist() for b in batches] == [[2.0, 3.0], [4.0, 5.0]]
    assert [r["position"] for r in rows.unreadable] == [0, 1]
