"""Where training runs and in which precision.

Why "auto" means bf16 on CUDA: bfloat16 autocast roughly doubles matmul throughput on recent GPUs
and, with float32's exponent range, needs no loss scaling; fp16 is offered too, with a
``GradScaler``. On the CPU training stays in fp32 (deterministic with a seed). TF32 matmuls are
allowed on CUDA unless "fp32" is asked for explicitly, and cuDNN autotunes its kernels.

Example:
    >>> resolve_precision("auto", torch.device("cpu")).name
    'fp32'
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from knobs.errors import ConfigError

__all__ = ["PRECISIONS", "Precision", "resolve_device", "resolve_precision", "configure_backends",
           "CHANNELS_LAST", "check_channels_last", "use_channels_last"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """A resolved precision: ``name`` is "fp32", "bf16" or "fp16"."""

    name: str
    device_type: str
    requested: str = "auto"

    @property
    def dtype(self) -> torch.dtype | None:
        return _DTYPES[self.name]

    @property
    def scaled(self) -> bool:
        """fp16 gradients underflow without loss scaling."""
        return self.name == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def resolve_device(device: Any) -> torch.device:
    """"auto" → CUDA when available, else CPU; anything torch accepts otherwise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device: {device!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type not in ("cpu", "cuda"):  # NOTE: 'mps' without Apple's GPU failed at the first .to() with torch's words
        try:
            torch.empty(0, device=dev)
        except (RuntimeError, AssertionError):
            raise ConfigError(f"device: {device!r} is not available here (torch cannot place a tensor on it); use "
                              f"'auto' or 'cpu'") from None
    return dev


def resolve_precision(precision: Any, device: torch.device) -> Precision:
    """The precision to train in on ``device``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: unknown {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if device.type != "cuda":
        # NOTE: bf16 autocast runs on the CPU too (its exponent is fp32's: no loss scale); on an AVX-512 CPU it
        # trains wide layers 1.3-1.7x faster and small ones 0.9x (bench/bf16_cpu.py, docs/benchmarks.md), so "auto"
        # stays fp32 there, whose numbers every CPU gives alike. fp16 needs a loss scale, which knobs keeps for CUDA.
        if precision == "fp16":
            raise ConfigError(f"precision: 'fp16' mixed precision needs a CUDA device (and its loss scale), and "
                              f"training runs on {device}; use 'bf16' (autocast on the CPU too), 'auto' or 'fp32'")
        return Precision("bf16" if precision == "bf16" else "fp32", device.type, precision)
    if precision == "auto":
        return Precision("bf16" if torch.cuda.is_bf16_supported() else "fp32", "cuda", precision)
    return Precision(precision, "cuda", precision)


#: ``Trainer(channels_last=...)``: "auto" (on CUDA, for a model with 2-D convolutions), True, False.
CHANNELS_LAST = ("auto", True, False)


def check_channels_last(setting: Any) -> None:
    """Raise ``ConfigError`` unless ``setting`` is "auto", True or False."""
    if not any(setting is v if isinstance(v, bool) else setting == v for v in CHANNELS_LAST):
        raise ConfigError(f"channels_last: expected 'auto', true or false, got {setting!r}")


def use_channels_last(setting: Any, device: torch.device, model: torch.nn.Module) -> bool:
    """Whether a fit keeps the model's 4-D weights and its 4-D input batches in channels_last
    (NHWC) memory format.

    Why "auto" means CUDA and a ``Conv2d``: cuDNN's convolutions, tensor-core ones above all under
    bf16, run NHWC natively — on an H100 a small ConvNet at batch 512 trained at 55.9k img/s in bf16
    and 98.1k in bf16 + channels_last (issue 15) — while NCHW inputs get transposed around every
    convolution. On the CPU the gain is small or negative, and a model without 2-D convolutions
    has nothing to gain; True asks for it anywhere (the same numbers, another layout).

    >>> use_channels_last("auto", torch.device("cpu"), torch.nn.Conv2d(3, 8, 3))
    False
    >>> use_channels_last(True, torch.device("cpu"), torch.nn.Linear(3, 2))
    True
    """
    check_channels_last(setting)
    if setting == "auto":
        return device.type == "cuda" and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    return bool(setting)


def configure_backends(device: torch.device, precision: Precision) -> None:
    """TF32 and cuDNN autotuning on CUDA (global torch settings; nothing to do on the CPU)."""
    if device.type != "cuda":
        return
    exact = precision.requested == "fp32"
    torch.set_float32_matmul_precision("highest" if exact else "high")
    torch.backends.cudnn.allow_tf32 = not exact
    torch.backends.cudnn.benchmark = True
