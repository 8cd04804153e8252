"""Data discipline: loading, splitting, the sealed test vault, and train-only preprocessing.

The cycle this package serves::

    ds = load_dataset("patients.csv", target="outcome", missing="median")  # or digits, a folder, texts
    splits = split(ds, val=0.15, test=0.15, seed=0)
    preprocessor, splits, report = encode_splits(ds, splits)   # fitted on the training split only
    vault = Vault.seal(run_dir / "vault", *splits.test); splits = splits.without_test()
    scaler = Standardizer("feature").fit(splits.train[0])
    ...search and train on splits.train / splits.val only...
    X_test, y_test = vault.open(reason="final evaluation")

Loaders: ``load_builtin`` (scikit-learn's bundled sets), ``load_csv`` (numeric and categorical
columns, a missing-value policy), ``load_text_csv`` (a text and a label column),
``load_image_folder`` (one sub-folder per class; ``ImageFolder`` decodes on access instead; in a
DataLoader of your own, ``collate_fn=skip_unreadable`` leaves its damaged files out under
``bad_files="skip"`` and lists them).
"""

from knobs.data._builtin import BUILTIN, load_builtin
from knobs.data._csv import load_csv
from knobs.data._dataset import Dataset
from knobs.data._group_split import GroupSplits, group_split
from knobs.data._image_folder import ImageFolder, loader_options
from knobs.data._images import ImageFiles, load_image_folder, read_image, scan_image_folder
from knobs.data._kfold import CVResult, Fold, aggregate, cross_validate, cv_folds, kfold, kfold_indices
from knobs.data._pretrained_tokens import PretrainedTokenizer
from knobs.data._preprocess import PREPROCESSORS, Preprocessing, encode_splits, preprocessor_from_state
from knobs.data._skip import UnreadableItem, skip_unreadable
from knobs.data._source import KINDS, OPTIONS, load_dataset
from knobs.data._splits import Splits, split
from knobs.data._standardize import Standardizer
from knobs.data._tabular import MISSING_POLICIES, TabularPreprocessor
from knobs.data._text import TextPreprocessor
from knobs.data._text_csv import load_text_csv
from knobs.data._tokens import PAD, UNK, build_vocab, encode_tokens, tokenize
from knobs.data._validate import declare_classes, validate_features, validate_labels
from knobs.data._vault import Vault, VaultWarning

__all__ = [
    "BUILTIN", "KINDS", "MISSING_POLICIES", "OPTIONS", "PAD", "PREPROCESSORS", "UNK",
    "CVResult", "Dataset", "Fold", "GroupSplits", "ImageFiles", "ImageFolder", "Preprocessing", "PretrainedTokenizer", "Splits", "Standardizer",
    "TabularPreprocessor", "TextPreprocessor", "UnreadableItem", "Vault", "VaultWarning",
    "aggregate", "build_vocab", "cross_validate", "cv_folds", "declare_classes", "encode_splits", "encode_tokens", "group_split", "kfold", "kfold_indices", "load_builtin", "load_csv",
    "load_dataset", "load_image_folder", "load_text_csv", "loader_options", "preprocessor_from_state",
    "read_image", "scan_image_folder", "skip_unreadable", "split", "tokenize", "validate_features", "validate_labels",
]
