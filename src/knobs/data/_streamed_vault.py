"""The vault of a streamed test split: the positions of its rows in their source, sealed.

Why positions and not values: a test split too big for memory cannot be copied into ``test.npz``;
what the vault must guarantee — that the test rows are fixed before the search, never reached by
it, and the same on every opening — holds for the rows' positions and labels, which are sealed and
fingerprinted exactly as arrays are (``X`` the ``(n, 1)`` positions, ``y`` the labels). ``open``
logs the opening like any vault and only then returns the rows, as a ``StreamedRows`` view of the
source that reads them batch by batch: no test row is read before the vault is opened.

Positions alone would not notice a test image edited or replaced on disk between the sealing and
the opening (or a resume). When the source is a folder of files (``ImageFolder``), the vault also
records a SHA-256 over each test file's path, size and first 64 KiB — bounded cost however large
the images, no pixel decoded — and a resume or an opening refuses files that no longer match. A
``Dataset`` of the user's own (``data.builder``) names no files: its positions and labels are what
is sealed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from knobs.data._stream import StreamedRows
from knobs.data._vault import Vault, VaultMismatch
from knobs.errors import DataError

__all__ = ["StreamedVault"]


class StreamedVault(Vault):
    """A ``Vault`` whose sealed ``X`` holds row positions in ``rows.source`` (see the module doc).

    Args:
        directory: a directory written by ``seal_rows``.
        rows: a view of the source the positions refer to (its loader options are kept).
    """

    def __init__(self, directory: str | Path, rows: StreamedRows) -> None:
        super().__init__(directory)
        self.rows = rows

    @classmethod
    def seal_rows(cls, directory: str | Path, rows: StreamedRows, y: Any, meta: dict | None = None) -> "StreamedVault":
        """Seal the positions of ``rows`` in their source and ``y``; nothing of the rows is read."""
        positions = rows.index.reshape(-1, 1).astype(np.int64)
        files = files_signature(rows.source, positions.reshape(-1))
        meta = {**(meta or {}), "streamed": {"source": type(rows.source).__name__, "n_source": len(rows.source),
                                             "X": "row positions in the source", "files": files}}
        vault = cls(Vault.seal(directory, positions, np.asarray(y), meta=meta).directory, rows)
        vault._check_files(files, VaultMismatch, "sealed again (a resumed run)")
        return vault

    def open(self, reason: str = "final evaluation") -> tuple[StreamedRows, np.ndarray]:
        """Log the opening (see ``Vault.open``), then the test rows as a view read on access, and their labels.

        Raises:
            DataError: the sealed data were tampered with, or a test file changed since the sealing."""
        self._check_reason(reason)
        positions, y = self._read()
        if positions.ndim != 2 or positions.shape[1] != 1 or positions.dtype.kind != "i":
            raise DataError(f"the vault at {str(self.directory)!r} holds no row positions (X {positions.shape}, "
                            f"{positions.dtype}); it was not sealed from streamed rows")
        self._check_files(files_signature(self.rows.source, positions.reshape(-1)), DataError, "opened")
        self._log_opening(reason)  # NOTE: only once every check passed: a refused opening is no opening
        # NOTE: a view of the sealed rows' source: rows left out when read are listed with the others
        return self.rows._view(index=positions.reshape(-1), transform=None), y

    def _check_files(self, now: dict | None, error: type[DataError], when: str) -> None:
        sealed = ((self.record.get("meta") or {}).get("streamed") or {}).get("files")
        if sealed and now != sealed:
            raise error(f"the test files of the vault at {str(self.directory)!r} changed since it was sealed "
                        f"({sealed['n']} files, signature {sealed['sha256'][:12]}… then, "
                        f"{(now or {}).get('sha256', 'none')[:12]}… now, {when}): a test image was edited, replaced "
                        f"or removed, so earlier results refer to another test set; restore the files, or run again "
                        f"under another --name to seal a fresh vault")


HEAD_BYTES = 1 << 16


def files_signature(source: Any, positions: np.ndarray) -> dict | None:
    """``{"n", "sha256"}`` over the path, size and first 64 KiB of each file at ``positions`` of a
    source of files (``ImageFolder``: ``source.files.files``), None for any other source."""
    files = getattr(getattr(source, "files", None), "files", None)
    if files is None:
        return None
    digest = hashlib.sha256()
    for position in positions:
        path = Path(files[int(position)])
        try:
            with open(path, "rb") as handle:
                head, size = handle.read(HEAD_BYTES), path.stat().st_size
        except OSError:
            head, size = b"", -1  # a missing file changes the signature; the message says so
        digest.update(f"{path}|{size}|".encode())
        digest.update(hashlib.sha256(head).digest())
    return {"n": len(positions), "sha256": digest.hexdigest()}
