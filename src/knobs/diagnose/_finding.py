"""``Finding``: one diagnosed problem — its code, how bad, the numbers behind it, the fix.

Why a fixed vocabulary of codes (``CODES``): tests, the CLI's JSON and a report can rely on the
code, while the message carries the run's own numbers. Each code has one recommended action in
words; the evidence dict says which layer, which epoch and which measurements led to it.

Example:
    >>> f = finding("lr_too_high", "warning", "the loss rose from 0.95 to 2.8", {"lr": 0.1})
    >>> f.code, f.severity, f.action.startswith("Lower the learning rate")
    ('lr_too_high', 'warning', True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from knobs.checks._result import SEVERITIES

__all__ = ["CODES", "Finding", "finding", "SEVERITY_ORDER"]

SEVERITY_ORDER = {name: rank for rank, name in enumerate(SEVERITIES)}

#: Every code a diagnosis can raise → the recommended action.
CODES: dict[str, str] = {
    "nonfinite_inputs": "Drop or impute the rows with NaN/inf features before training.",
    "bad_labels": "Map the labels to integers 0..C-1 (and give the model C outputs).",
    "unscaled_inputs": "Standardize the features with mean and std fitted on the training split "
                       "(knobs.data.Standardizer), then apply them to every split.",
    "unscaled_target": "Standardize the regression target with the training mean and std (and "
                       "undo it on predictions), or start the output bias at the target mean.",
    "constant_features": "Drop features that are constant in training; they carry no signal.",
    "split_overlap": "Deduplicate the rows before splitting, so no validation row is also a "
                     "training row; the validation score is optimistic until then.",
    "class_imbalance": "Use class weights or oversample the small classes inside the training "
                       "split, and judge by balanced accuracy or per-class recall.",
    "constant_label": "Collect training rows that have the label and rows that do not, or drop it from the "
                      "multi-label targets: a label the training split never varies is learned as a constant.",
    "gradient_mismatch": "Fix the backward of the custom layer (autograd.Function) or the "
                         "in-place/detached operation named in the evidence; compare with a "
                         "plain PyTorch implementation.",
    "init_loss": "Initialize the output layer small (scale its weights down or zero them; for "
                 "regression start its bias at mean(y)), keep the layers before it at He/Xavier "
                 "scale, and standardize inputs and targets.",
    "cannot_overfit": "Look for a wiring bug before tuning: a softmax before the cross-entropy, "
                      "frozen or detached parameters, a too narrow layer, labels not matching "
                      "the outputs.",
    "batch_mixing": "Make each row's outputs depend on that row alone: reshape and view keeping the batch axis "
                    "first (x.view(len(x), -1), not x.view(x.size(1), -1)), and take softmax, means and "
                    "normalizations over the features (dim=1 or -1), never over dim 0.",
    "outputs_not_logits": "Return logits from the model: remove the Softmax, Sigmoid or ReLU after its last "
                          "layer (the cross-entropy applies its own log-softmax; take softmax only to read "
                          "probabilities out).",
    "no_signal": "Check that X and y line up (shuffled or sorted one without the other?), that the target is "
                 "the column you mean, and that the validation rows come from the training rows' distribution.",
    "lr_too_high": "Lower the learning rate (about 10x; knobs lr-find gives a range), or add "
                   "warmup and gradient clipping.",
    "lr_too_low": "Raise the learning rate (about 10x; knobs lr-find gives a range).",
    "noisy_loss": "Raise the batch size or lower the learning rate (or decay it), so successive "
                  "steps stop undoing each other.",
    "overfitting": "Stop earlier (early stopping on the validation loss), add regularization "
                   "(weight decay, dropout, augmentation), use a smaller model or more data.",
    "no_nonlinearity": "Put a nonlinearity (ReLU, GELU, tanh) between the linear layers: without "
                       "one, any number of them computes one linear map.",
    "underfitting": "Give the model more capacity (width, depth, a better architecture), reduce "
                    "regularization, or train longer.",
    "dead_relu": "Lower the learning rate, initialize with He (kaiming) init and zero biases, or "
                 "use LeakyReLU/ELU/GELU or batch norm so units cannot stay off.",
    "saturation": "Initialize with Xavier/Glorot scale (or He for ReLU), standardize the inputs, "
                  "add batch norm, or switch to ReLU-family activations.",
    "vanishing_gradients": "Use ReLU-family activations, He/Xavier init, batch norm or residual "
                           "connections, so the gradient reaches the first layers.",
    "exploding_gradients": "Clip the gradient norm (clip_grad_norm), lower the learning rate, and "
                           "check the init scale (He/Xavier) or add normalization.",
}


@dataclass(frozen=True)
class Finding:
    """One diagnosed problem.

    Attributes:
        code: a key of ``CODES``.
        severity: ``"info"``, ``"warning"`` or ``"error"``.
        message: what was found, with the run's numbers.
        evidence: JSON-able numbers the finding rests on (epoch, layer, measurements).
        action: the recommended fix, in words.
        explained_by: codes of other findings that explain this one (it is then only ``info``).
    """

    code: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    action: str = ""
    explained_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["explained_by"] = list(self.explained_by)
        return out

    def __str__(self) -> str:
        return f"[{self.severity.upper()}] {self.code}: {self.message}"


def finding(code: str, severity: str, message: str, evidence: dict[str, Any] | None = None) -> Finding:
    """A ``Finding`` with the code's standard action."""
    if code not in CODES or severity not in SEVERITY_ORDER:
        raise ValueError(f"unknown finding code {code!r} or severity {severity!r}")
    return Finding(code, severity, message, evidence or {}, CODES[code])
