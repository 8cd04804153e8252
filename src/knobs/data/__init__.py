"""Data discipline: loading, splitting, the sealed test vault, and train-only standardization.

The cycle this package serves::

    ds = load_dataset("digits")
    splits = split(ds, val=0.15, test=0.15, seed=0)
    vault = Vault.seal(run_dir / "vault", *splits.test); splits = splits.without_test()
    scaler = Standardizer("feature").fit(splits.train[0])
    ...search and train on splits.train / splits.val only...
    X_test, y_test = vault.open(reason="final evaluation")
"""

from knobs.data._builtin import BUILTIN, load_builtin
from knobs.data._csv import load_csv
from knobs.data._dataset import Dataset
from knobs.data._source import load_dataset
from knobs.data._splits import Splits, split
from knobs.data._standardize import Standardizer
from knobs.data._validate import declare_classes, validate_features, validate_labels
from knobs.data._vault import Vault, VaultWarning

__all__ = [
    "BUILTIN", "Dataset", "declare_classes", "Splits", "Standardizer", "Vault", "VaultWarning", "load_builtin",
    "load_csv", "load_dataset", "split", "validate_features", "validate_labels",
]
