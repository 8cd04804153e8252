"""Data augmentation: image batches on the training device, and EDA for training texts.

Images: ``ImageAugment`` takes and returns ``(xb, yb)``, the Trainer's ``batch_transform``
contract: flips, random resized crop, rotation/translation, colour jitter and Gaussian noise
(kornia, per-image parameters, on the batch's device), then mixup or CutMix with soft targets
that the Trainer's default cross-entropy trains on. Texts: ``TextAugment`` applies Easy Data
Augmentation with WordNet synonyms read offline (``apt-get install wordnet-base``).

Every option is a plain number or choice, so a ``knobs.Space`` tunes it under a prefix:

Example:
    >>> space = knobs.Space({"augment.rotation": knobs.Float(0, 30),
    ...                      "augment.mixup_alpha": knobs.Choice([0.0, 0.2, 0.4])})    # doctest: +SKIP
    >>> aug = ImageAugment.from_params(trial.config, n_classes=10, seed=0)              # doctest: +SKIP
    >>> Trainer(batch_transform=aug, ...).fit(model, (X, y), (X_val, y_val))            # doctest: +SKIP
"""

from knobs.augment._eda import random_deletion, random_insertion, random_swap, synonym_replacement
from knobs.augment._image import ImageAugment
from knobs.augment._image_options import IMAGE_OPTIONS, PADDINGS, ImageAugmentOptions
from knobs.augment._mix import cut_box, cutmix, mixup, soft_targets
from knobs.augment._stopwords import STOPWORDS
from knobs.augment._text import TextAugment
from knobs.augment._text_options import TEXT_OPTIONS, EDAOptions
from knobs.augment._thesaurus import ENV_VAR, WordNet, find_wordnet, load_wordnet

__all__ = [
    "ENV_VAR", "EDAOptions", "IMAGE_OPTIONS", "ImageAugment", "ImageAugmentOptions", "PADDINGS",
    "STOPWORDS", "TEXT_OPTIONS", "TextAugment", "WordNet", "cut_box", "cutmix", "find_wordnet",
    "load_wordnet", "mixup", "random_deletion", "random_insertion", "random_swap", "soft_targets",
    "synonym_replacement",
]
