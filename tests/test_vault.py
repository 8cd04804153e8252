"""knobs.data.Vault: the sealed test split, its fingerprint and its opening log."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

from knobs.data import Vault, VaultWarning, load_builtin, split
from knobs.errors import ConfigError, DataError


@pytest.fixture
def test_split():
    return split(load_builtin("iris"), seed=0).test


def test_seal_writes_data_and_fingerprint(tmp_path, test_split):
    X, y = test_split
    vault = Vault.seal(tmp_path / "vault", X, y, meta={"source": "builtin:iris", "seed": 0})
    record = json.loads((tmp_path / "vault" / "fingerprint.json").read_text())
    assert record["sha256"] == vault.fingerprint and len(vault.fingerprint) == 64
    assert record["n"] == len(X) and record["X"] == {"shape": list(X.shape), "dtype": X.dtype.str}
    assert record["y"]["dtype"] == y.dtype.str and record["meta"] == {"source": "builtin:iris", "seed": 0}
    assert "created_at" in record and (tmp_path / "vault" / "test.npz").is_file()
    assert vault.n_openings == 0 and vault.openings == []
    assert not list((tmp_path / "vault").glob("*.tmp"))


def test_reopen_and_open_returns_the_sealed_arrays(tmp_path, test_split):
    X, y = test_split
    Vault.seal(tmp_path, X, y)
    reopened = Vault(tmp_path)
    X2, y2 = reopened.open(reason="final evaluation")
    assert np.array_equal(X, X2) and np.array_equal(y, y2) and X2.dtype == X.dtype
    X2[:] = 0  # the caller's copy; the vault is unchanged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VaultWarning)
        X3, _ = reopened.open(reason="check copy")
    assert np.array_equal(X, X3)


def test_openings_are_logged_with_counts(tmp_path, test_split):
    vault = Vault.seal(tmp_path, *test_split)
    vault.open(reason="final evaluation")
    with pytest.warns(VaultWarning):
        vault.open(reason="a second look")
    openings = Vault(tmp_path).openings
    assert [o["count"] for o in openings] == [1, 2]
    assert [o["reason"] for o in openings] == ["final evaluation", "a second look"]
    assert all(o["pid"] == os.getpid() and "time" in o for o in openings)
    assert len((tmp_path / "openings.jsonl").read_text().splitlines()) == 2


def test_first_opening_is_silent_second_warns_with_count(tmp_path, test_split):
    vault = Vault.seal(tmp_path, *test_split)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning on the first opening fails the test
        vault.open()
    with pytest.warns(VaultWarning, match="opened 2 times.*leaks"):
        vault.open(reason="peek")
    with pytest.warns(VaultWarning, match="opened 3 times"):
        Vault(tmp_path).open(reason="peek again")
    assert vault.n_openings == 3


def test_tampered_data_is_refused(tmp_path, test_split):
    X, y = test_split
    vault = Vault.seal(tmp_path, X, y)
    X_bad = X.copy()
    X_bad[0, 0] += 1
    np.savez(tmp_path / "test.npz", X=X_bad, y=y)
    with pytest.raises(DataError, match="tampered"):
        vault.open()
    assert vault.n_openings == 0  # a refused opening returns nothing and logs nothing


def test_relabelled_or_truncated_data_is_refused(tmp_path, test_split):
    X, y = test_split
    Vault.seal(tmp_path, X, y)
    np.savez(tmp_path / "test.npz", X=X, y=y.astype(np.int32))  # same values, another dtype
    with pytest.raises(DataError, match="tampered"):
        Vault(tmp_path).open()
    (tmp_path / "test.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="cannot be read"):
        Vault(tmp_path).open()


def test_reseal_is_idempotent_for_the_same_data(tmp_path, test_split):
    first = Vault.seal(tmp_path, *test_split)
    first.open()
    stamp = (tmp_path / "fingerprint.json").read_text()
    again = Vault.seal(tmp_path, *(a.copy() for a in test_split))
    assert again.fingerprint == first.fingerprint
    assert (tmp_path / "fingerprint.json").read_text() == stamp and again.n_openings == 1


def test_reseal_with_different_data_is_refused(tmp_path, test_split):
    X, y = test_split
    Vault.seal(tmp_path, X, y)
    with pytest.raises(DataError, match="different test set is already sealed"):
        Vault.seal(tmp_path, X[1:], y[1:])
    assert np.array_equal(Vault(tmp_path).open()[0], X)


def test_missing_vault_and_bad_input(tmp_path, test_split):
    with pytest.raises(DataError, match="no sealed vault"):
        Vault(tmp_path / "nowhere")
    with pytest.raises(DataError, match="non-empty"):
        Vault.seal(tmp_path / "a", np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(DataError, match="one target per row"):
        Vault.seal(tmp_path / "b", np.zeros((3, 3)), np.zeros(2))
    with pytest.raises(DataError, match="JSON"):
        Vault.seal(tmp_path / "c", *test_split, meta={"bad": object()})
    assert not (tmp_path / "c").exists()
    vault = Vault.seal(tmp_path / "d", *test_split)
    with pytest.raises(ConfigError, match="reason"):
        vault.open(reason="")


def test_partial_vault_is_refused(tmp_path, test_split):
    Vault.seal(tmp_path, *test_split)
    (tmp_path / "fingerprint.json").unlink()
    with pytest.raises(DataError, match="partly written"):
        Vault.seal(tmp_path, *test_split)
