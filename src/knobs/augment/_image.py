"""``ImageAugment``: a training batch in, an augmented batch out, on the batch's own device.

Why a callable ``(xb, yb) -> (xb, yb)``: that is the Trainer's ``batch_transform`` contract, and
mixup and CutMix need the labels, which a transform of images alone cannot change. Why whole
batches on the device: per-image CPU transforms in DataLoader workers starve a GPU on small
images; one batched op per step does not (``bench/data_augment.py`` measures it).

Randomness: with ``seed`` (or ``generator``) the augmentation has its own stream (reproducible,
and independent of what else draws random numbers); without, it draws from torch's global
generators, which ``Trainer(seed=...)`` seeds and its checkpoints restore.

Example:
    >>> aug = ImageAugment({"hflip": 0.5, "rotation": 10, "mixup_alpha": 0.2}, n_classes=10, seed=0)
    >>> trainer = Trainer(batch_transform=aug, ...)                 # doctest: +SKIP
    >>> xb, yb = aug(torch.rand(8, 1, 8, 8), torch.arange(8))
    >>> tuple(yb.shape)                                             # soft targets for mixup
    (8, 10)
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from knobs.augment._checks import check_count, merge_options, pick_params
from knobs.augment._image_options import ImageAugmentOptions
from knobs.augment._kornia import build_steps, joint_steps
from knobs.augment._mix import cut_box, cutmix, mixup, soft_targets
from knobs.augment._seeded import draw_seed, seeded
from knobs.errors import ConfigError, DataError

__all__ = ["ImageAugment"]

TASKS = ("classification", "regression", "multilabel")
# NOTE: timm's default: with both mixup and CutMix on, each batch uses CutMix with probability 1/2.
CUTMIX_SHARE = 0.5


class ImageAugment:
    """Random image augmentation of training batches ``(N, C, H, W)``, identity in eval mode.

    Args:
        config: a dict of ``ImageAugmentOptions`` names (e.g. ``{"hflip": 0.5, "rotation": 15}``)
            or an ``ImageAugmentOptions``; None changes nothing.
        n_classes: the number of classes (a multi-label task's labels); needed by mixup and CutMix, whose
            targets are class probabilities ``(N, n_classes)``.
        task: "classification", "multilabel" (rows of 0 / 1 labels, which mixup and CutMix blend as they blend
            one-hot rows) or "regression" (mixup and CutMix mix class labels; they are refused for regression).
        seed: a private random stream for the augmentation; None draws from torch's global
            generators.
        generator: a CPU ``torch.Generator`` to draw from instead of ``seed``.
        **options: the options as keywords (``ImageAugment(hflip=0.5, rotation=15)``), instead of or beside
            ``config``.

    Attributes set by ``check`` (called by the first batch): ``options_``, ``generator_``.
    """

    def __init__(self, config: Mapping[str, Any] | ImageAugmentOptions | None = None, *,
                 n_classes: int | None = None, task: str = "classification", seed: int | None = None,
                 generator: torch.Generator | None = None, **options: Any) -> None:
        self.config = merge_options(config, options, "ImageAugment")
        self.n_classes = n_classes
        self.task = task
        self.seed = seed
        self.generator = generator
        self.training = True
        self._steps: dict[tuple[int, int], list] = {}
        self._joint: dict[tuple[int, int], Any] = {}  # the steps over images and their masks, per size
        self._first_batch = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, prefix: str = "augment.", **kwargs: Any) -> "ImageAugment":
        """An augmentation from a trial's hyperparameters: the keys under ``prefix``.

        Example:
            >>> aug = ImageAugment.from_params({"lr": 1e-3, "augment.rotation": 12.0}, seed=0)
            >>> aug.check().options_.rotation
            12.0
        """
        return cls(pick_params(params, prefix), **kwargs)

    # ---- settings -----------------------------------------------------------------------------

    def check(self) -> "ImageAugment":
        """Validate the options and their fit to the task; build the random stream; return ``self``.

        Raises:
            ConfigError: an unknown option, a value out of range, mixup/CutMix for regression or
                without ``n_classes``, or both ``seed`` and ``generator``.
        """
        opts = ImageAugmentOptions.from_dict(self.config)
        if self.task not in TASKS:
            raise ConfigError(f"augment: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if "mix" in opts.active:
            self._check_mixing()
        if self.seed is not None and self.generator is not None:
            raise ConfigError("augment: pass seed or generator, not both")
        if self.generator is not None and not isinstance(self.generator, torch.Generator):
            raise ConfigError(f"augment: generator must be a torch.Generator, got {type(self.generator).__name__}")
        self.options_ = opts
        self.generator_ = self.generator
        if self.seed is not None:
            self.generator_ = torch.Generator().manual_seed(check_count("augment: seed", self.seed))
        return self

    def _check_mixing(self) -> None:
        if self.task == "regression":
            raise ConfigError("augment: mixup_alpha / cutmix_alpha mix class labels, but the task is "
                              "regression; set both to 0")
        if self.n_classes is None:
            raise ConfigError("augment: mixup_alpha / cutmix_alpha turn labels into class probabilities "
                              "and need the number of classes: ImageAugment(..., n_classes=K)")
        check_count("augment: n_classes", self.n_classes, 2)

    def train(self, mode: bool = True) -> "ImageAugment":
        """Augment batches (``mode=True``) or pass them through unchanged; return ``self``."""
        self.training = bool(mode)
        return self

    def eval(self) -> "ImageAugment":
        """Pass batches through unchanged (evaluation); return ``self``."""
        return self.train(False)

    def state_dict(self) -> dict[str, Any]:
        """The private random stream's position (None when drawing from the global generators)."""
        generator = getattr(self, "generator_", None)
        return {"generator": None if generator is None else generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the random stream where ``state_dict`` left it."""
        if not hasattr(self, "options_"):
            self.check()
        if state.get("generator") is not None and self.generator_ is not None:
            self.generator_.set_state(state["generator"])

    def __repr__(self) -> str:
        # NOTE: stable (no addresses): the Trainer compares it when a fit resumes.
        config = self.config.changed() if isinstance(self.config, ImageAugmentOptions) else self.config
        shown = [repr(dict(config or {}))]
        shown += [f"{k}={getattr(self, k)!r}" for k in ("n_classes", "seed") if getattr(self, k) is not None]
        shown += [f"task={self.task!r}"] if self.task != "classification" else []
        shown += ["generator=given"] if self.generator is not None else []
        return f"ImageAugment({', '.join(shown)})"

    # ---- the work -----------------------------------------------------------------------------

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented batch: images ``(N, C, H, W)``, and soft targets ``(N, K)`` when mixing.

        Raises:
            DataError: images that are not a float ``(N, C, H, W)`` tensor, labels that do not
                match, float (regression) targets with mixing, colour jitter on pixels outside
                [0, 1] or saturation/hue on images that are not RGB.
        """
        if not self.training:
            return xb, yb
        if not hasattr(self, "options_"):
            self.check()
        opts = self.options_
        _check_batch(xb, yb)
        masks = is_mask_batch(xb, yb)
        _check_pixel_labels(yb, opts.active, masks)
        steps = self._steps_for(xb)
        mixing = "mix" in opts.active
        if self._first_batch or (mixing and xb.device.type == "cpu"):
            self._check_values(xb, yb, mixing)  # NOTE: a device sync: once on a GPU, every batch on the CPU
        seed = None if self.generator_ is None else draw_seed(self.generator_)
        with seeded(seed, xb.device):
            if masks:
                return self._with_masks(xb, yb)
            for step in steps:
                xb = step(xb)
            if mixing:
                xb, yb = self._mix(xb, yb)
        return xb, yb

    def _with_masks(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and their masks ``(N, H, W)`` moved together: every flip, crop and warp applied to a mask as to its
        image (nearest neighbour: a pixel keeps a class, never one between two), colour and noise to the image alone;
        a pixel moved in from outside the image (padding) has no class (-100), as one that had none."""
        size = tuple(xb.shape[-2:])
        if size not in self._joint:
            self._joint[size] = joint_steps(self._steps_for(xb))
        coded = torch.where(yb == IGNORE_INDEX, 0, yb + 1).to(xb.dtype).unsqueeze(1)  # NOTE: padding (0) is no class
        xb, moved = self._joint[size](xb, coded)
        moved = moved.squeeze(1).round().long()
        return xb, torch.where(moved == 0, IGNORE_INDEX, moved - 1)

    def _steps_for(self, xb: torch.Tensor) -> list:
        opts, size = self.options_, tuple(xb.shape[-2:])
        if xb.shape[1] != 3 and (opts.saturation > 0 or opts.hue > 0) and "color" in opts.active:
            raise DataError(f"augment.saturation / augment.hue need RGB images (3 channels), got "
                            f"{xb.shape[1]}; set them to 0 (brightness and contrast work on any image)")
        if size not in self._steps:
            self._steps[size] = build_steps(opts, *size)
        return self._steps[size]

    def _check_values(self, xb: torch.Tensor, yb: torch.Tensor, mixing: bool) -> None:
        self._first_batch = False
        if "color" in self.options_.active:
            low, high = float(xb.min()), float(xb.max())
            if low < 0 or high > 1:
                raise DataError(f"augment: colour jitter expects pixels in [0, 1] (it clamps to that range), "
                                f"got values in [{low:.3g}, {high:.3g}]; augment before standardizing, "
                                f"or set brightness/contrast/saturation/hue to 0")
        if mixing:
            _check_labels(yb, self.n_classes)

    def _mix(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        opts = self.options_
        y = soft_targets(yb, self.n_classes, xb.dtype)
        if opts.mix_p < 1 and float(torch.rand(())) >= opts.mix_p:
            return xb, y
        use_cutmix = opts.cutmix_alpha > 0 and (opts.mixup_alpha == 0 or float(torch.rand(())) < CUTMIX_SHARE)
        alpha = opts.cutmix_alpha if use_cutmix else opts.mixup_alpha
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        perm = torch.randperm(len(xb)).to(xb.device)
        if not use_cutmix:
            return mixup(xb, y, lam, perm)
        box = cut_box(lam, tuple(torch.rand(2).tolist()), *xb.shape[-2:])
        xb, y, _ = cutmix(xb, y, box, perm)
        return xb, y


def _check_batch(xb: Any, yb: Any) -> None:
    if isinstance(xb, torch.Tensor) and xb.ndim == 4 and not xb.is_floating_point():
        raise DataError(f"augment: expected a float image batch, got {xb.dtype} pixels of shape {tuple(xb.shape)}; "
                        f"scale them to floats first, e.g. xb.float() / 255 (torchvision's ToTensor does)")
    if not isinstance(xb, torch.Tensor) or xb.ndim != 4:
        shown = tuple(xb.shape) if isinstance(xb, torch.Tensor) else type(xb).__name__
        raise DataError(f"augment: expected a float image batch of shape (N, C, H, W), got {shown}; "
                        f"reshape flat features with X.reshape(-1, C, H, W)")
    if xb.shape[-1] in (1, 3, 4) and xb.shape[1] > 4 and xb.shape[2] > 4:
        # NOTE: channels last (NumPy's and PIL's order): flips and crops would act on the wrong axes, silently
        raise DataError(f"augment: the batch {tuple(xb.shape)} looks channels-last (N, H, W, C); images are "
                        f"(N, C, H, W): xb.permute(0, 3, 1, 2)")
    if not isinstance(yb, torch.Tensor) or len(yb) != len(xb):
        shown = tuple(yb.shape) if isinstance(yb, torch.Tensor) else type(yb).__name__
        raise DataError(f"augment: expected one label per image ({len(xb)}), got {shown}")


#: The steps that move pixels (or mix images): a label per pixel would have to move with them.
MOVING = ("flip", "crop", "affine", "mix")
#: a pixel without a class (torch's ``ignore_index``)
IGNORE_INDEX = -100


def is_mask_batch(xb: torch.Tensor, yb: torch.Tensor) -> bool:
    """The labels are masks of the images: integer ``(N, H, W)``, a class per pixel."""
    return (isinstance(yb, torch.Tensor) and yb.ndim == 3 and not yb.is_floating_point()
            and tuple(yb.shape[1:]) == tuple(xb.shape[-2:]))


def _check_pixel_labels(yb: torch.Tensor, active: tuple[str, ...], masks: bool) -> None:
    """Refuse steps that move pixels when the labels hold a class per position that cannot move with them (not masks
    of the images' size), and mixing with masks.

    NOTE: the images were flipped, cropped and rotated while their masks stayed put, silently: the model learned
    labels that no longer lay on their pixels. Masks of the images' size now move with them (``_with_masks``)."""
    if masks and "mix" in active:
        raise DataError("augment: mixup / CutMix blend whole images' labels, and these labels are masks (a class per "
                        "pixel); set mixup_alpha and cutmix_alpha to 0 (flips, crops, rotations and shifts move each "
                        "mask with its image)")
    moving = [step for step in MOVING if step in active]
    if moving and not masks and yb.ndim >= 2 and not yb.is_floating_point():
        raise DataError(f"augment: {', '.join(moving)} {'moves' if len(moving) == 1 else 'move'} the images' pixels, "
                        f"and the labels hold a class per "
                        f"position (shape {tuple(yb.shape)}) that would stay where they were; keep to colour and noise "
                        f"(they move no pixel), or augment each image with its mask in your Dataset (torchvision's "
                        f"transforms.v2 with a tv_tensors.Mask moves both)")


def _check_labels(yb: torch.Tensor, n_classes: int) -> None:
    if yb.is_floating_point():
        if yb.ndim == 2 and yb.shape[1] == n_classes:
            return  # class probabilities already (an earlier mix, label smoothing)
        raise DataError(f"augment: mixup / CutMix mix class labels, got float targets of shape "
                        f"{tuple(yb.shape)} (a regression task?); set mixup_alpha and cutmix_alpha to 0")
    if yb.ndim != 1 or (len(yb) and (int(yb.min()) < 0 or int(yb.max()) >= n_classes)):
        raise DataError(f"augment: labels must be class indices in [0, {n_classes}) (n_classes={n_classes}), "
                        f"got shape {tuple(yb.shape)} with values up to {int(yb.max()) if len(yb) else None}")
