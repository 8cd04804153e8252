"""One validation style for every option set: pydantic models, and one sentence per error.

Why one style: the run config, LR schedules, image and text augmentation, class balance and
transfer settings are all plain dicts a person writes (TOML, a search space, keyword arguments).
Each must stop a typo or a value out of range with one message that names the key, says what is
allowed and, for a typo, the closest valid key. Pydantic checks them (declared types and bounds,
``extra="forbid"``); ``validation_message`` words pydantic's first error for a person, so every
option set reads alike:

    augment.hflip: expected a number in [0, 1] (a probability), got 1.5
    unknown key 'schedule.stepsize' (did you mean 'step_size'?); valid keys in schedule 'step': …

A rule that pydantic's own constraints cannot word well (an interval with its meaning, an integer
that may arrive as 4.0 from a search space) is one of the annotated types below, whose check raises
``ValueError`` with the expectation; a rule across keys is a ``model_validator`` raising
``ValueError`` with the whole sentence.

Torch-free: pydantic and the standard library only, so ``knobs.config`` can use it.

Example:
    >>> class Mix(Options):
    ...     where: ClassVar[str] = "augment"
    ...     mix_p: probability() = 1.0
    >>> Mix(mix_p=0.5).mix_p
    0.5
    >>> Mix(mix_p=2)
    Traceback (most recent call last):
    knobs.errors.ConfigError: augment.mix_p: expected a number in [0, 1] (a probability), got 2
"""

from __future__ import annotations

import difflib
import re
import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError

from knobs.errors import ConfigError

__all__ = [
    "ALIASES", "did_you_mean",
    "Options", "validation_message", "number", "probability", "count", "one_of", "flag",
    "expect_number", "expect_count",
]

M = TypeVar("M", bound="Options")


# ---- the message ---------------------------------------------------------------------------------

#: names other tools (Keras, Lightning, Optuna, scikit-learn) give what knobs calls otherwise: suggested
#: for an unknown key or name wherever the knobs name is among the valid ones
ALIASES: dict[str, tuple[str, ...]] = {
    "path": ("source",), "file": ("source",), "csv": ("source",), "dataset": ("source",), "name": ("source",),
    "learning_rate": ("lr",), "max_epochs": ("epochs",), "n_epochs": ("epochs",), "num_epochs": ("epochs",),
    "trials": ("n_trials",), "num_trials": ("n_trials",), "max_trials": ("n_trials",),
    "scheduler": ("schedule",), "lr_scheduler": ("schedule",), "optim": ("optimizer",),
    "model": ("family",), "arch": ("family",), "architecture": ("family",),
    "hidden_size": ("width",), "units": ("width",), "layers": ("depth",), "num_layers": ("depth",),
    "embedding_bag": ("text_bag",), "embeddingbag": ("text_bag",), "fasttext": ("text_bag",), "cnn": ("convnet",),
    "textcnn": ("text_cnn",), "kim_cnn": ("text_cnn",), "bert": ("minilm",), "alpha_rd": ("p_rd",),
    "val_acc": ("val_accuracy",), "acc": ("val_accuracy",), "accuracy": ("val_accuracy",), "loss": ("val_loss",),
    "label": ("target",), "label_column": ("target",), "target_column": ("target",), "y": ("target",),
    "binary": ("classification",), "multiclass": ("classification",), "segmentation": ("classification",),
    "n_frozen": ("freeze_first_n",), "num_frozen": ("freeze_first_n",), "frozen_layers": ("freeze_first_n",),
    "freeze_layers": ("freeze_first_n",), "freeze": ("freeze_first",), "frozen": ("freeze_first",),
    "multi_label": ("multilabel",),
    "gradient_clip_val": ("clip_grad_norm",), "clipnorm": ("clip_grad_norm",), "clipvalue": ("clip_grad_value",),
    "max_norm": ("clip_grad_norm",), "accumulate_grad_batches": ("accumulate",), "grad_accum": ("accumulate",),
    "accelerator": ("device",), "mixed_precision": ("precision",), "callback": ("callbacks",),
    "criterion": ("loss",), "loss_fn": ("loss",), "scheduler_options": ("schedule",), "multi-label": ("multilabel",), "multilabel_classification": ("multilabel",),
}


def did_you_mean(name: Any, valid: Any, n: int = 1) -> str:
    """`` (did you mean 'x'?)`` for ``name`` among ``valid`` (another tool's name for it, ``ALIASES``, else
    the closest spellings), or "" when nothing is close: the hint every unknown key or name carries."""
    valid = [str(v) for v in valid]
    close = [a for a in ALIASES.get(str(name).lower(), ()) if a in valid]
    close = close or difflib.get_close_matches(str(name), valid, n=n)
    return f" (did you mean {' or '.join(map(repr, close[:n]))}?)" if close else ""


def validation_message(error: ValidationError, model: type[BaseModel], *, where: str = "",
                       origin: str | None = None, label: str | None = None,
                       elsewhere: Mapping[str, str] | None = None) -> str:
    """Pydantic's first error as knobs' one sentence.

    Args:
        error: what ``model`` raised.
        model: the model validated (its fields give the valid keys of an unknown one).
        where: the dotted key of the model's table (``"augment"``), prefixed to every key.
        origin: where the values came from (a config file's path), put in front.
        label: how to name the model's own table in "valid keys in …" (default: ``where``).
        elsewhere: keys that belong in another place, with where and how they are set: an unknown key
            (or another tool's name for one, ``ALIASES``) found here is told where it goes when
            nothing in its own table is close.
    """
    first = error.errors()[0]
    # NOTE: a union's member type rides in the location ("search.space.lr.dict[str,any]"): not a key
    loc = [str(part) for part in first["loc"] if not _TYPE_TAG.fullmatch(str(part))]
    lead = f"{origin}: " if origin else ""
    inner = (first.get("ctx") or {}).get("error")
    if isinstance(inner, ConfigError):  # an option set inside this one (``Options``) worded it already
        return f"{lead}{inner}"
    path = ".".join(part for part in (where, *loc) if part)
    if first["type"] == "extra_forbidden":
        valid = _field_names(model, loc[:-1])
        hint = did_you_mean(loc[-1], valid)
        moved = [k for k in (loc[-1], *ALIASES.get(loc[-1].lower(), ())) if k in (elsewhere or {})]
        if moved and not hint:
            hint = f": {moved[0]} is set in {elsewhere[moved[0]]}"
        section = ".".join(part for part in (where, *loc[:-1]) if part)
        section = (label or section) if not loc[:-1] else section
        listed = f"; valid keys in {section or 'top level'}: {', '.join(valid)}" if valid else ""
        return f"{lead}unknown key '{path}'{hint}{listed}"
    msg = _EXPECTED.get(first["type"], lambda ctx: None)(first.get("ctx") or {}) \
        or first["msg"].removeprefix("Value error, ")  # a validator's own words, already for a person
    if isinstance(first.get("input"), Mapping) or first["type"] == "missing":
        # a rule across the keys of a table, or a key it lacks: the sentence says it all
        return f"{lead}{path or label or 'options'}: {msg}"
    hint = ""
    if first["type"] == "literal_error" and isinstance(first.get("input"), str):
        # NOTE: pydantic words the options as "'a', 'b' or 'c'": the quoted items are the valid values
        hint = did_you_mean(first["input"], re.findall(r"'([^']*)'", str((first.get("ctx") or {}).get("expected", ""))))
    return f"{lead}{path}: {msg}, got {first.get('input')!r}{hint}"


#: how pydantic names a union's member in an error's location (``dict[str,any]``, ``list[int]``, ``function-after[...]``)
_TYPE_TAG = re.compile(r"[a-z_-]+\[.*\]|int|float|str|bool|none")

#: pydantic's error types in knobs' words ("expected …"), so a message never reads "Input should be".
_EXPECTED = {
    "greater_than_equal": lambda ctx: f"expected a number ≥ {ctx['ge']}",
    "greater_than": lambda ctx: f"expected a number > {ctx['gt']}",
    "less_than_equal": lambda ctx: f"expected a number ≤ {ctx['le']}",
    "less_than": lambda ctx: f"expected a number < {ctx['lt']}",
    "int_parsing": lambda ctx: "expected a whole number",
    "int_type": lambda ctx: "expected a whole number",
    "int_from_float": lambda ctx: "expected a whole number",
    "float_parsing": lambda ctx: "expected a number",
    "float_type": lambda ctx: "expected a number",
    "bool_parsing": lambda ctx: "expected true or false",
    "bool_type": lambda ctx: "expected true or false",
    "string_type": lambda ctx: "expected text (a quoted string)",
    "literal_error": lambda ctx: f"expected one of {ctx['expected']}",
    "list_type": lambda ctx: "expected a list ([...])",
    "dict_type": lambda ctx: "expected a table ({...})",
}


def _field_names(model: type[BaseModel], parents: list[str]) -> list[str]:
    """The keys of the table at ``parents`` inside ``model``; [] when it is not a model."""
    for part in parents:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


# ---- option sets ----------------------------------------------------------------------------------

class Options(BaseModel):
    """An option set: unknown keys are errors, values are checked once, when it is made.

    Making one with bad values raises ``ConfigError`` (not pydantic's ``ValidationError``), worded
    by ``validation_message`` with the subclass's ``where`` in front of each key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the dotted key of this table in a run config ("augment"), in front of every key named
    where: ClassVar[str] = ""
    #: how messages name this table when it is not just ``where`` ("schedule 'step'")
    label: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        # NOTE: pydantic calls this __init__ also when the set is a field of another model (the
        # run config's [balance]); the ConfigError then reaches the outer validation_message,
        # which passes its words on.
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigError(validation_message(error, type(self), where=self.where,
                                                 label=self.label or None)) from None

    @classmethod
    def parse(cls: type[M], values: Mapping[str, Any] | M | None, example: str = "") -> M:
        """Options from a plain dict (None: the defaults), or the options as given."""
        if values is None:
            return cls()
        if isinstance(values, cls):
            return values
        if not isinstance(values, Mapping):
            such_as = f" such as {example}" if example else ""
            raise ConfigError(f"{cls.where or 'options'}: expected a dict of options{such_as}, "
                              f"got {type(values).__name__}")
        return cls(**{str(k): v for k, v in values.items()})

    def changed(self) -> dict[str, Any]:
        """The options that differ from the defaults (a short, stable description)."""
        return {name: value for name, value in self.model_dump().items()
                if value != type(self).model_fields[name].get_default(call_default_factory=True)}


# ---- values that pydantic's constraints cannot word -------------------------------------------------

def expect_number(value: Any, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
                  high_open: bool = False, meaning: str = "") -> float:
    """``value`` as a float when it is a finite number in the interval, else ``ValueError``
    saying what is expected ("expected a number in (0, 1] (a probability)")."""
    finite = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if finite and (value > low if low_open else value >= low) and (value < high if high_open else value <= high):
        return float(value)
    if math.isinf(high):
        interval = f"{'>' if low_open else '>='} {low:g}"
    else:
        interval = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise ValueError(f"expected a number {interval}{meaning}")


def expect_count(value: Any, low: int = 0, meaning: str = "") -> int:
    """An integer >= ``low`` (a float such as 4.0 from a search space counts), else ``ValueError``."""
    whole = isinstance(value, Integral) or (isinstance(value, Real) and math.isfinite(value)
                                            and float(value).is_integer())
    if isinstance(value, bool) or not whole or value < low:
        raise ValueError(f"expected an integer >= {low}{meaning}")
    return int(value)


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False, high_open: bool = False,
           meaning: str = "", optional: bool = False) -> Any:
    """A float field: finite, in the interval; ``optional`` lets None through."""
    def check(value: Any) -> float | None:
        if value is None and optional:
            return None
        return expect_number(value, low, high, low_open=low_open, high_open=high_open, meaning=meaning)
    return Annotated[float, PlainValidator(check)]


def probability() -> Any:
    """A float field in [0, 1]."""
    return number(0.0, 1.0, meaning=" (a probability)")


def count(low: int = 0, meaning: str = "", optional: bool = False) -> Any:
    """An int field >= ``low``; 4.0 counts as 4."""
    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        return expect_count(value, low, meaning)
    return Annotated[int, PlainValidator(check)]


def one_of(*options: Any, optional: bool = False) -> Any:
    """A field holding one of ``options`` (the message lists them)."""
    def check(value: Any) -> Any:
        if (value is None and optional) or any(value == o and type(value) is type(o) for o in options):
            return value
        raise ValueError(f"expected one of {', '.join(map(str, options))}")
    return Annotated[Any, PlainValidator(check)]


def flag(optional: bool = False) -> Any:
    """A bool field: true or false, not 0 or "yes"."""
    def check(value: Any) -> bool | None:
        if isinstance(value, bool) or (value is None and optional):
            return value
        raise ValueError("expected true or false")
    return Annotated[bool, PlainValidator(check)]
