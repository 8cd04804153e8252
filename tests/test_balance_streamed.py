"""[balance] on rows read from disk (``knobs.data.StreamedRows``): the same weights, the same undersampled rows and
the same oversampled draws as on the rows in memory, with no row read to decide them; SMOTE refused, naming what works."""

import numpy as np
import pytest
import torch

from knobs.balance import BalanceOptions, balance_training, oversample_sampler
from knobs.data._stream import StreamedPair, StreamedRows
from knobs.errors import DataError
from knobs.train._batches import make_batches

N_MAJOR, N_MINOR = 90, 12


class Rows(torch.utils.data.Dataset):
    """Rows of 4 values whose first value is the row's position; every read counted."""

    def __init__(self):
        self.targets = np.array([0] * N_MAJOR + [1] * N_MINOR)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(len(self.targets), 4)).astype(np.float32)
        self.x[:, 0] = np.arange(len(self.targets))
        self.reads = 0

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        self.reads += 1
        return torch.from_numpy(self.x[i]), int(self.targets[i])


def both(options):
    source = Rows()
    streamed = balance_training(options, (StreamedRows(source), source.targets), n_classes=2, seed=3)
    in_memory = balance_training(options, (source.x, source.targets), n_classes=2, seed=3)
    return source, streamed, in_memory


def batches_of(train, batch_size=16):
    return list(make_batches(train, "train", task="classification", device=torch.device("cpu"), batch_size=batch_size,
                             generator=torch.Generator().manual_seed(0), shuffle=True))


def test_class_weights_and_the_focal_loss_need_no_row_read():
    source, streamed, in_memory = both(BalanceOptions(class_weight="balanced", loss="focal"))
    assert source.reads == 0 and isinstance(streamed.X, StreamedRows)
    np.testing.assert_allclose(streamed.weights, in_memory.weights)
    assert streamed.counts_before == in_memory.counts_before == [N_MAJOR, N_MINOR]
    train = streamed.train_data(batch_size=16)
    assert isinstance(train, StreamedPair) and source.reads == 0
    assert sum(len(b[1]) for b in batches_of(train)) == N_MAJOR + N_MINOR  # every row once per pass


def test_undersampling_keeps_the_same_rows_as_in_memory_without_reading_them():
    source, streamed, in_memory = both(BalanceOptions(sampler="undersample"))
    assert source.reads == 0 and isinstance(streamed.X, StreamedRows)
    assert streamed.counts_after == in_memory.counts_after == [N_MINOR, N_MINOR]
    np.testing.assert_array_equal(streamed.y, in_memory.y)
    np.testing.assert_array_equal(streamed.X.read(), in_memory.X)


def test_oversampling_draws_the_rows_of_the_in_memory_sampler():
    source, streamed, in_memory = both(BalanceOptions(sampler="oversample"))
    assert source.reads == 0
    np.testing.assert_array_equal(streamed.sampler.weights, in_memory.sampler.weights)
    drawn = batches_of(streamed.train_data(batch_size=16))
    positions = torch.cat([xb[:, 0] for xb, _ in drawn]).long()
    # NOTE: the same draws as a fresh sampler of the same seed (the in-memory DataLoader also takes its workers'
    # base seed from that generator, so its pass starts one number later)
    np.testing.assert_array_equal(positions.numpy(), list(oversample_sampler(source.targets, 2, seed=3)))
    assert len(positions) == N_MAJOR + N_MINOR and min(len(yb) for _, yb in drawn) > 1  # no batch of one
    share = (source.targets[positions.numpy()] == 1).mean()
    assert 0.35 < share < 0.65  # the rare class drawn about as often as the common one (12 of 102 rows)
    again = torch.cat([xb[:, 0] for xb, _ in batches_of(streamed.train_data(batch_size=16))]).long()
    assert not torch.equal(again, positions) or len(set(positions.tolist())) < len(positions)  # a fresh draw


def test_smote_on_rows_read_from_disk_is_refused_naming_what_works():
    source = Rows()
    with pytest.raises(DataError, match=r'smote.*read from disk.*"oversample".*class_weight.*data.memory'):
        balance_training(BalanceOptions(sampler="smote"), (StreamedRows(source), source.targets), n_classes=2)
    assert source.reads == 0
