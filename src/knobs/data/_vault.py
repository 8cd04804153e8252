"""The vault: the test split written once, fingerprinted, and opened on the record.

Why a vault and not a third array pair: every look at the test set that feeds a decision (which
model, which epoch, which threshold) makes its score optimistic. The vault keeps the test rows out
of reach of search, early stopping and ensembling, checks on every opening that they are the rows
that were sealed, and logs each opening in ``openings.jsonl`` so a report can say how many times
the test set was seen. A second opening warns.

Layout of the vault directory::

    test.npz            X and y (no pickles)
    fingerprint.json    sha256 of the arrays, shapes, dtypes, n, created_at, meta
    openings.jsonl      one {time, reason, count, pid} line per opening
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from knobs.errors import ConfigError, DataError

__all__ = ["Vault", "VaultMismatch", "VaultWarning"]

DATA, FINGERPRINT, OPENINGS = "test.npz", "fingerprint.json", "openings.jsonl"


class VaultWarning(UserWarning):
    """The test set was opened more than once: its score no longer estimates unseen data."""


class VaultMismatch(DataError):
    """Another test set is already sealed in the directory (a resumed run whose data changed)."""


class Vault:
    """A sealed test split in a directory.

    Args:
        directory: a directory written by ``Vault.seal``.

    Raises:
        DataError: when the directory holds no sealed vault.

    Example:
        >>> vault = Vault.seal("runs/demo/vault", X_test, y_test)  # doctest: +SKIP
        >>> X, y = vault.open(reason="final evaluation")            # doctest: +SKIP
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        record_path = self.directory / FINGERPRINT
        if not record_path.is_file():
            raise DataError(f"no sealed vault at {str(self.directory)!r} (missing {FINGERPRINT}); "
                            f"create one with Vault.seal(directory, X_test, y_test)")
        self.record: dict[str, Any] = json.loads(record_path.read_text())

    @classmethod
    def seal(cls, directory: str | Path, X_test, y_test, meta: dict | None = None) -> "Vault":
        """Write the test split and its fingerprint; return the vault.

        Sealing the same arrays again is a no-op (a resumed run re-seals safely); sealing different
        arrays into an existing vault is refused, since earlier results would then refer to a
        test set that no longer exists.

        Args:
            directory: where to write (created if needed).
            X_test: test features.
            y_test: test targets, one per row.
            meta: JSON-able facts to keep with the fingerprint (data source, split seed).

        Raises:
            DataError: empty or mismatched arrays, non-JSON meta, or a different vault already
                sealed in ``directory``.
        """
        directory = Path(directory)
        X, y = np.ascontiguousarray(X_test), np.ascontiguousarray(y_test)
        if len(X) == 0 or len(X) != len(y):
            raise DataError(f"Vault.seal needs a non-empty test split with one target per row; "
                            f"got X {X.shape} and y {y.shape}")
        digest = digest_arrays(X, y)
        if (directory / FINGERPRINT).is_file():
            return cls._reseal(directory, digest)
        if (directory / DATA).exists():
            raise DataError(f"{str(directory / DATA)!r} exists without {FINGERPRINT}: a partly "
                            f"written vault; remove the directory and seal again")
        record = {"sha256": digest, "n": len(X), "X": _describe(X), "y": _describe(y),
                  "created_at": _now(), "meta": meta}
        try:
            text = json.dumps(record, indent=2)
        except TypeError as error:
            raise DataError(f"Vault.seal meta must be JSON-serializable: {error}") from None
        directory.mkdir(parents=True, exist_ok=True)
        with _atomic(directory / DATA, "wb") as handle:
            np.savez(handle, X=X, y=y)
        # NOTE: the fingerprint is written last; its presence marks a complete vault.
        with _atomic(directory / FINGERPRINT, "w") as handle:
            handle.write(text)
        return cls(directory)

    @classmethod
    def _reseal(cls, directory: Path, digest: str) -> "Vault":
        vault = cls(directory)
        if vault.fingerprint != digest:
            raise VaultMismatch(
                f"a different test set is already sealed at {str(directory)!r} (fingerprint "
                f"{vault.fingerprint[:12]}…, new data {digest[:12]}…); seal into a new directory "
                f"instead of replacing a test set that earlier results refer to"
            )
        return vault

    def open(self, reason: str = "final evaluation") -> tuple[np.ndarray, np.ndarray]:
        """Verify the sealed arrays, log this opening, and return ``(X, y)``.

        Args:
            reason: why the test set is read; kept in ``openings.jsonl``.

        Returns:
            Fresh arrays read from disk (changing them cannot change the vault).

        Raises:
            DataError: when the files no longer match the fingerprint (edited, truncated).

        Warns:
            VaultWarning: on every opening after the first, with the count.
        """
        self._check_reason(reason)
        X, y = self._read()
        self._log_opening(reason)
        return X, y

    @staticmethod
    def _check_reason(reason: Any) -> None:
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"Vault.open reason must be a non-empty string, got {reason!r}")

    def _log_opening(self, reason: str) -> None:
        """Append the opening to ``openings.jsonl``; warn from the second one on."""
        count = self.n_openings + 1
        entry = {"time": _now(), "reason": reason, "count": count, "pid": os.getpid()}
        with (self.directory / OPENINGS).open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        if count > 1:
            warnings.warn(VaultWarning(
                f"the test vault at {str(self.directory)!r} has now been opened {count} times "
                f"(this time for {reason!r}); any choice made after seeing test results tunes on "
                f"the test set and leaks it, so its score is optimistic. Decide on the validation "
                f"split and open the vault once."
            ), stacklevel=3)

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        path = self.directory / DATA
        try:
            with np.load(path, allow_pickle=False) as arrays:
                X, y = arrays["X"], arrays["y"]
        except (OSError, ValueError, KeyError) as error:
            raise DataError(f"the vault data {str(path)!r} cannot be read ({error}); it was "
                            f"removed or corrupted after sealing") from None
        found = digest_arrays(X, y)
        if found != self.fingerprint:
            raise DataError(
                f"the vault at {str(self.directory)!r} was tampered with: its data hashes to "
                f"{found[:12]}… but was sealed as {self.fingerprint[:12]}…; the test set cannot be "
                f"trusted, so re-split and seal a fresh vault"
            )
        return X, y

    @property
    def fingerprint(self) -> str:
        """The sha256 of the sealed arrays (hex)."""
        return self.record["sha256"]

    @property
    def openings(self) -> list[dict]:
        """Every logged opening, oldest first."""
        path = self.directory / OPENINGS
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    @property
    def n_openings(self) -> int:
        return len(self.openings)

    def __repr__(self) -> str:
        return (f"Vault({str(self.directory)!r}, n={self.record['n']}, "
                f"fingerprint={self.fingerprint[:12]}…, openings={self.n_openings})")


def digest_arrays(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 over the arrays' shapes, dtypes and bytes (so a reshaped or recast copy differs)."""
    digest = hashlib.sha256()
    for name, array in (("X", X), ("y", y)):
        array = np.ascontiguousarray(array)
        digest.update(json.dumps([name, _describe(array)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _describe(array: np.ndarray) -> dict:
    return {"shape": list(array.shape), "dtype": array.dtype.str}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def _atomic(path: Path, mode: str):
    """Write to ``path.tmp`` and rename it over ``path`` on success: a crash leaves no half file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open(mode) as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
