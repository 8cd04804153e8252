"""Preflight checks: seconds of compute that catch what would waste a whole search.

- ``check_initial_loss``: the untrained loss is about ln C (classification) or Var(y).
- ``overfit_tiny``: the model memorizes a few dozen samples with regularization off.
- ``gradient_check``: backpropagation agrees with finite differences.
- ``check_batch_independence``: in eval mode each row's outputs depend on that row alone.
- ``check_data``: NaN/inf, constant and unscaled features, labels, imbalance, cross-split duplicates.

Each returns ``CheckResult`` records (``check_data`` a list of them) carrying the measured numbers.
"""

from knobs.checks._batch import check_batch_independence
from knobs.checks._data_checks import check_data
from knobs.checks._gradients import gradient_check
from knobs.checks._initial_loss import check_initial_loss
from knobs.checks._overfit import overfit_tiny
from knobs.checks._result import CheckResult

__all__ = ["CheckResult", "check_batch_independence", "check_data", "check_initial_loss", "gradient_check", "overfit_tiny"]
