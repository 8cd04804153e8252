"""The image steps as kornia modules: batched, per-image random parameters, on the data's device.

Why kornia: its augmentations draw parameters for every image of a batch (torchvision's v2
transforms draw one set per call, so a whole batch would turn by the same angle) and run as
tensor ops on whatever device the batch is on. Kornia is imported here only, when the first batch
is augmented, so ``import knobs.augment`` stays light.

NOTE: the modules are never moved to the batch's device, so kornia samples their parameters on
the CPU: the same seed gives the same crops and angles on the CPU and on a GPU.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from knobs.augment._image_options import ImageAugmentOptions
from knobs.errors import ConfigError

__all__ = ["import_kornia", "build_steps", "joint_steps"]


def import_kornia() -> Any:
    """``kornia.augmentation``, or ``ConfigError`` saying how to install it."""
    try:
        import kornia.augmentation as K
    except ImportError as err:
        raise ConfigError(f"augment: image augmentation needs kornia ({err}); install it with "
                          f"`pip install kornia` (or `pip install 'knobs[augment]'`)") from None
    return K


def build_steps(opts: ImageAugmentOptions, height: int, width: int) -> list[nn.Module]:
    """The active image steps of ``opts`` for ``height × width`` images, in their run order."""
    K = import_kornia()
    steps: list[nn.Module] = []
    if opts.hflip > 0:
        steps.append(K.RandomHorizontalFlip(p=opts.hflip))
    if opts.vflip > 0:
        steps.append(K.RandomVerticalFlip(p=opts.vflip))
    if "crop" in opts.active:
        steps.append(K.RandomResizedCrop((height, width), scale=(opts.crop_scale, 1.0), p=opts.crop_p))
    if "affine" in opts.active:
        steps.append(K.RandomAffine(degrees=opts.rotation, translate=(opts.translate, opts.translate),
                                    padding_mode=opts.padding, p=opts.affine_p))
    if "color" in opts.active:
        steps.append(K.ColorJitter(brightness=opts.brightness, contrast=opts.contrast,
                                   saturation=opts.saturation, hue=opts.hue, p=opts.color_p))
    if "noise" in opts.active:
        steps.append(K.RandomGaussianNoise(mean=0.0, std=opts.noise, p=opts.noise_p))
    return steps


def joint_steps(steps: list[nn.Module]) -> nn.Module:
    """``steps`` applied to images and their masks together (kornia's ``AugmentationSequential`` with a ``"mask"``:
    the same flip, crop and warp parameters for both, masks resampled nearest-neighbour, colour and noise on the
    images alone): ``joint(images, masks) -> (images, masks)``, masks ``(N, 1, H, W)`` float."""
    K = import_kornia()
    return K.AugmentationSequential(*steps, data_keys=["input", "mask"])
