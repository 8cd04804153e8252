"""The options of image augmentation: plain numbers and one choice, so a search can tune them.

Every option is a probability or a magnitude with a neutral default, so ``ImageAugmentOptions()``
changes nothing and each option can be switched on alone (``{"rotation": 15}``). The names are
what a ``knobs.Space`` tunes under a prefix: ``augment.rotation``, ``augment.mixup_alpha``.

Example:
    >>> opts = ImageAugmentOptions.from_dict({"hflip": 0.5, "rotation": 10})
    >>> opts.rotation, opts.active
    (10.0, ('flip', 'affine'))
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from knobs._validation import Options, number, one_of, probability

__all__ = ["ImageAugmentOptions", "PADDINGS", "IMAGE_OPTIONS"]

PADDINGS = ("zeros", "border", "reflection")

_P = probability()
_STRENGTH = number(0.0)


class ImageAugmentOptions(Options):
    """What to do to each training batch, in this order: flips, crop, affine, colour, noise, mix.

    Attributes:
        hflip: probability of a horizontal flip (per image).
        vflip: probability of a vertical flip (per image).
        crop_scale: random resized crop: the smallest area kept, as a fraction in (0, 1]; the
            crop (aspect ratio in [3/4, 4/3]) is resized back to the image size. 1 = off.
        crop_p: probability of the crop (per image).
        rotation: the largest rotation in degrees, in [0, 180]; angles are uniform in ±rotation.
        translate: the largest shift as a fraction of the image size, in [0, 1).
        affine_p: probability of the rotation/translation (one warp, per image).
        padding: how a warp fills what comes from outside the image: "zeros", "border", "reflection".
        brightness, contrast, saturation: jitter strength b >= 0: factors uniform in [1-b, 1+b].
            Saturation needs RGB images.
        hue: hue shift, a fraction of the colour circle in [0, 0.5]. Needs RGB images.
        color_p: probability of the colour jitter (per image). Colour jitter expects pixels in
            [0, 1] (its results are clamped to that range): augment before standardizing.
        noise: standard deviation of additive Gaussian noise.
        noise_p: probability of the noise (per image).
        mixup_alpha: mixup (Zhang et al. 2018): images and labels blended with λ ~ Beta(α, α);
            0 = off.
        cutmix_alpha: CutMix (Yun et al. 2019): a box pasted from another image, labels weighted
            by area, λ ~ Beta(α, α); 0 = off. With both on, each batch uses one, half the time each.
        mix_p: probability that a batch is mixed at all.
    """

    where: ClassVar[str] = "augment"

    hflip: _P = 0.0
    vflip: _P = 0.0
    crop_scale: number(0.0, 1.0, low_open=True, meaning=" (the smallest area a crop keeps)") = 1.0
    crop_p: _P = 0.5
    rotation: number(0.0, 180.0, meaning=" (degrees)") = 0.0
    translate: number(0.0, 1.0, high_open=True, meaning=" (a fraction of the image size)") = 0.0
    affine_p: _P = 0.5
    padding: one_of(*PADDINGS) = "zeros"
    brightness: _STRENGTH = 0.0
    contrast: _STRENGTH = 0.0
    saturation: _STRENGTH = 0.0
    hue: number(0.0, 0.5, meaning=" (a fraction of the colour circle)") = 0.0
    color_p: _P = 0.8
    noise: _STRENGTH = 0.0
    noise_p: _P = 0.5
    mixup_alpha: _STRENGTH = 0.0
    cutmix_alpha: _STRENGTH = 0.0
    mix_p: _P = 1.0

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | "ImageAugmentOptions" | None) -> "ImageAugmentOptions":
        """Checked options from a plain dict (unknown names are errors), or the options as given.

        Raises:
            ConfigError: naming the option and its valid range, or the closest valid name.
        """
        return cls.parse(config, "{'hflip': 0.5}")

    @property
    def active(self) -> tuple[str, ...]:
        """The steps that can change a batch, in the order they run."""
        steps = {
            "flip": self.hflip > 0 or self.vflip > 0,
            "crop": self.crop_scale < 1 and self.crop_p > 0,
            "affine": (self.rotation > 0 or self.translate > 0) and self.affine_p > 0,
            "color": max(self.brightness, self.contrast, self.saturation, self.hue) > 0 and self.color_p > 0,
            "noise": self.noise > 0 and self.noise_p > 0,
            "mix": (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.mix_p > 0,
        }
        return tuple(step for step, on in steps.items() if on)


IMAGE_OPTIONS: tuple[str, ...] = tuple(ImageAugmentOptions.model_fields)
