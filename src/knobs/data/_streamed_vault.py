"""The vault of a streamed test split: the positions of its rows in their source, sealed.

Why positions and not values: a test split too big for memory cannot be copied into ``test.npz``;
what the vault must guarantee — that the test rows are fixed before the search, never reached by
it, and the same on every opening — holds for the rows' positions and labels, which are sealed and
fingerprinted exactly as arrays are (``X`` the ``(n, 1)`` positions, ``y`` the labels). ``open``
logs the opening like any vault and only then returns the rows, as a ``StreamedRows`` view of the
source that reads them batch by batch: no test row is read before the vault is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from knobs.data._stream import StreamedRows
from knobs.data._vault import Vault
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
        meta = {**(meta or {}), "streamed": {"source": type(rows.source).__name__, "n_source": len(rows.source),
                                             "X": "row positions in the source"}}
        Vault.seal(directory, positions, np.asarray(y), meta=meta)
        return cls(directory, rows)

    def open(self, reason: str = "final evaluation") -> tuple[StreamedRows, np.ndarray]:
        """Log the opening (see ``Vault.open``), then the test rows as a view read on access, and their labels."""
        positions, y = super().open(reason)
        if positions.ndim != 2 or positions.shape[1] != 1 or positions.dtype.kind != "i":
            raise DataError(f"the vault at {str(self.directory)!r} holds no row positions (X {positions.shape}, "
                            f"{positions.dtype}); it was not sealed from streamed rows")
        base = StreamedRows(self.rows.source, positions.reshape(-1), _probe=self.rows._probe,
                            row_shape=self.rows._row_shape, loader_options=self.rows.loader_options)
        return base, y
