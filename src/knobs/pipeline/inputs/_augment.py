"""``[augment]`` in a run: image options become a batch transform, text options (EDA) extra rows.

Why two shapes: image augmentation changes pixels of each training batch on the device
(``knobs.augment.ImageAugment``), while EDA changes words, which a text model only sees as token
ids — so the new sentences are made from the raw training texts once per trial and encoded like
the originals. Either way only the training rows (of the split, or of each fold) are augmented;
validation and test rows never are. The options of both are plain numbers, so a search tunes them
as ``augment.<option>`` keys of ``[search.space]``, laid over the ``[augment]`` values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from knobs.errors import ConfigError

__all__ = ["AUGMENT_PREFIX", "augment_options", "check_augment", "augmented_texts", "image_augment", "data_kind"]

AUGMENT_PREFIX = "augment."


def data_kind(data: Any) -> str:
    """"text", "image" (channels × height × width inputs) or "tabular": what can be augmented how."""
    if getattr(data, "texts", None) is not None:
        return "text"
    return "image" if len(data.input_shape) == 3 else "tabular"


def augment_options(cfg: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The [augment] values with the trial's ``augment.*`` keys laid over them."""
    return {**cfg.augment, **{k[len(AUGMENT_PREFIX):]: v for k, v in params.items() if k.startswith(AUGMENT_PREFIX)}}


def check_augment(cfg: Any, data: Any, space: Any, fixed: dict[str, Any]) -> None:
    """Refuse options that do not fit the data or are out of range, before anything is written.

    Every searched value that can occur (both ends of a range, every choice) is checked, so a
    trial never fails on an option the config allowed.

    Raises:
        ConfigError: naming ``augment.<key>`` or ``search.space.augment.<key>``.
        DataError: EDA synonyms need WordNet and it is not installed (with how to install it).
    """
    from knobs.augment import IMAGE_OPTIONS, TEXT_OPTIONS

    names = set(space.names) | set(fixed)
    searched = {n[len(AUGMENT_PREFIX):]: n for n in names if n.startswith(AUGMENT_PREFIX)}
    keys = {**{k: f"augment.{k}" for k in cfg.augment}, **{k: f"search.space.{n}" for k, n in searched.items()}}
    if not keys:
        return
    kind = data_kind(data)
    for option, key in sorted(keys.items()):
        if option not in IMAGE_OPTIONS and option not in TEXT_OPTIONS:
            raise ConfigError(f"{key}: not an augmentation option; image data takes {', '.join(IMAGE_OPTIONS)}; "
                              f"text data takes {', '.join(TEXT_OPTIONS)}")
    if kind == "tabular":
        raise ConfigError(f"augment: image augmentation needs image data (channels, height, width) and EDA needs "
                          f"text data (data.text_column); this run's inputs have shape {list(data.input_shape)}")
    valid, other, data_name = ((TEXT_OPTIONS, "an image", "text") if kind == "text"
                               else (IMAGE_OPTIONS, "a text (EDA)", "images"))
    for option, key in sorted(keys.items()):
        if option not in valid:
            raise ConfigError(f"{key}: {other} augmentation option, but this run's data is {data_name}; "
                              f"the options for {data_name} are {', '.join(valid)}")
    for values in _variants(cfg.augment, space, fixed, searched):
        built = _build(kind, values, data, seed=cfg.seed)
        if kind == "image":
            _check_colour(built.options_, keys, cfg.data.standardize, channels=data.input_shape[0])


_COLOUR = ("brightness", "contrast", "saturation", "hue")


def _check_colour(options: Any, keys: dict[str, str], standardize: str, channels: int) -> None:
    """Colour jitter clamps pixels to [0, 1], which standardized images are not in, and saturation
    and hue need three channels: refuse such a mix here, before the run directory exists, rather
    than on the first training batch."""
    if "color" not in options.active:
        return
    rgb_only = [keys[o] for o in ("saturation", "hue") if o in keys and getattr(options, o) > 0]
    if channels != 3 and rgb_only:
        raise ConfigError(f"{rgb_only[0]}: saturation and hue need RGB images (3 channels), and this run's images "
                          f"have {channels}; set them to 0 (brightness and contrast work on any image)")
    if standardize == "none":
        return
    key = next(keys[o] for o in _COLOUR if o in keys and getattr(options, o) > 0)
    raise ConfigError(f"{key}: colour jitter works on pixels in [0, 1] (it clamps to that range), but "
                      f"data.standardize = {standardize!r} shifts and scales them first; set data.standardize = "
                      f"\"none\" (image pixels load in [0, 1]) or set brightness, contrast, saturation and hue to 0")


def _variants(base: dict, space: Any, fixed: dict, searched: dict[str, str]) -> list[dict]:
    """The [augment] options alone and with each searched key at each of its extreme values."""
    variants = [dict(base)]
    for option, name in searched.items():
        if name in fixed:
            variants.append({**base, option: fixed[name]})
            continue
        param = space[name]
        values = param.options if param.kind == "choice" else [param.low, param.high]
        variants += [{**base, option: value} for value in values]
    return variants


def _build(kind: str, options: dict, data: Any, seed: int) -> Any:
    if kind == "text":
        from knobs.augment import TextAugment

        return TextAugment(options, seed=seed).check()
    return image_augment(options, data, seed)


def image_augment(options: dict[str, Any], data: Any, seed: int) -> Any:
    """The checked ``ImageAugment`` batch transform of one trial."""
    from knobs.augment import ImageAugment

    return ImageAugment(dict(options), n_classes=data.n_classes if data.task != "regression" else None,
                        task=data.trainer_task, seed=seed).check()


def augmented_texts(data: Any, options: dict[str, Any], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training rows followed by ``n_aug`` EDA sentences per training text, encoded.

    NOTE: the new sentences are encoded with the vocabulary fitted on the original training texts,
    not refitted on the augmented ones. The vocabulary is fitted once per run (per fold) and saved
    in preprocess.json, while the augmentation options change from trial to trial: a vocabulary
    fitted on augmented texts would make the model's input — and what ``knobs predict`` applies —
    depend on the trial. It would also multiply every count by n_aug + 1, so ``min_freq`` would
    admit words seen once in real text and ``<unk>`` would no longer learn from rare words; and
    synonyms that occur only in made-up sentences would get embeddings trained on nothing real.
    Such synonyms encode as ``<unk>`` here, which works as word dropout.
    """
    from knobs.augment import TextAugment

    y = data.train[1]
    texts, labels = TextAugment(options, seed=seed).augment_dataset(data.texts, y.numpy())
    new = texts[len(data.texts):]
    if len(new) == 0:
        return data.train
    X_new = data.to_model_input(data.preprocessing.preprocessor.transform(new))
    y_new = torch.as_tensor(np.asarray(labels[len(data.texts):])).to(y.dtype)
    return torch.cat([data.train[0], X_new]), torch.cat([y, y_new])
