"""What population mode (``search.executor = "population"``) cannot honour, refused before any work.

Why a list of refusals rather than a silent fallback: a population trains every member with one
shared loss on one shared training split, one vmapped program of stacked parameters with a
vectorized update. [balance] fits (class weights, focal loss, SMOTE or undersampled rows, the
threshold: all decided by the training split alone), but not the oversampling sampler (a weighted
draw per trial). Batch augmentation ([augment]), a pretrained start ([transfer]), embedding-table
models (the text families), the optimizers without a vectorized update (adagrad, adadelta,
rmsprop), ``plateau`` (it reacts to each member's validation curve) and fp16's per-member loss
scale have no place in it. A run that
asked for one of them and silently got something else would report numbers for a different
experiment, so each stops the run naming its key, before the run directory exists.
"""

from __future__ import annotations

from typing import Any

from knobs.errors import ConfigError
from knobs.models import hyperparameters, is_pretrained
from knobs.pipeline.inputs._practices import AUGMENT_PREFIX
from knobs.population import FAMILIES, MEMBER_KEYS, OPTIMIZERS, SHARED_KEYS
from knobs.train import check_schedule

__all__ = ["check_population", "splitting_keys"]

_USE_LOCAL = 'or run trials one by one (search.executor = "local")'


#: search keys that only one executor reads
_EXECUTOR_KEYS = {"population": "population", "ray_address": "ray", "trial_resources": "ray"}


def check_population(cfg: Any, space: Any, fixed: dict[str, Any]) -> None:
    """Raise ``ConfigError`` naming the first setting population mode cannot honour (or a key of
    another executor, such as ``search.population`` or ``search.ray_address``, that this run's
    executor would silently ignore)."""
    search, family = cfg.search, cfg.model.family
    for key, executor in _EXECUTOR_KEYS.items():
        if key in search.model_fields_set and search.executor != executor:
            value = getattr(search, key)
            value = value.model_dump() if hasattr(value, "model_dump") else value
            raise ConfigError(f"search.{key} = {value!r} applies to search.executor = \"{executor}\" "
                              f"(this run's executor is {search.executor!r}); set both, or remove search.{key}")
    if search.executor != "population":
        return
    if search.workers != 1:
        raise ConfigError(f"search.workers = {search.workers}: population mode trains its populations in one process; "
                          f"set search.workers = 1 and raise search.population (now {search.population}) instead")
    if cfg.model.builder is not None:
        # NOTE: stacking needs every member's architecture known to knobs.population (its parameter
        # layout, its vectorized forward); a user's module may hold buffers, state or control flow
        # that torch.func cannot stack, and a silent fallback would train something else.
        raise ConfigError(f"model.builder {cfg.model.builder!r}: population mode stacks models of the built-in "
                          f"families ({', '.join(FAMILIES)}) only; {_USE_LOCAL} with search.workers for parallel trials")
    if is_pretrained(family):
        # NOTE: a population is many small fresh networks stacked into one vmapped program; a
        # pretrained backbone is one large network whose worth is its given weights (and its own
        # preprocessing): stacking P copies multiplies its memory by P and gives nothing to share.
        raise ConfigError(f"model.family {family!r} is a pretrained backbone: population mode trains many small fresh "
                          f"models ({', '.join(FAMILIES)}) at once as stacked parameters, not copies of a large "
                          f"pretrained network with its own weights and preprocessing; {_USE_LOCAL}, with "
                          f"search.workers for parallel trials")
    if family not in FAMILIES:
        raise ConfigError(f"model.family {family!r}: population mode trains {', '.join(FAMILIES)} (stacked parameters, "
                          f"no embedding tables); {_USE_LOCAL}")
    if cfg.balance.sampler == "oversample":
        raise ConfigError("balance.sampler = 'oversample': each trial would draw its own weighted sample, which "
                          "population batches do not; use 'smote' or 'undersample' (rows shared by every member) "
                          f"or class_weight = \"balanced\", {_USE_LOCAL}")
    for section, active in (("augment", bool(cfg.augment)), ("transfer", cfg.transfer is not None)):
        if active:
            raise ConfigError(f"[{section}]: population mode trains every member with the plain loss on the plain "
                              f"training split from a fresh start; remove [{section}] {_USE_LOCAL}")
    if cfg.data.folds:
        raise ConfigError(f"data.folds = {cfg.data.folds}: population mode trains one split; remove data.folds "
                          f"{_USE_LOCAL}")
    if cfg.search.metric in ("val_balanced_accuracy", "val_macro_f1", "val_roc_auc"):
        raise ConfigError(f"search.metric = \"{cfg.search.metric}\": population mode records the validation loss and "
                          f"accuracy of its members; use one of those {_USE_LOCAL}")
    if cfg.train.accumulate != 1:
        raise ConfigError(f"train.accumulate = {cfg.train.accumulate}: population mode steps every member on each "
                          f"batch; raise train.batch_size instead (the members share the batch's memory) {_USE_LOCAL}")
    if cfg.train.precision == "fp16":
        raise ConfigError("train.precision = 'fp16': population mode would need a loss scale per member; use "
                          "'auto', 'fp32' or 'bf16'")
    _check_keys(family, space, fixed)
    _check_values(cfg, space, fixed)


def splitting_keys(space: Any) -> list[str]:
    """Searched keys that set a population's shape or loop (architecture, epochs, batch size,
    schedule, optimizer family): trials that differ in them train in separate populations."""
    def splits(name: str) -> bool:
        if name == "optimizer":
            options = space[name].options if space[name].kind == "choice" else []
            return len({OPTIMIZERS.get(o, o) for o in options}) > 1
        return name not in MEMBER_KEYS
    return [name for name in space.names if splits(name)]


def _check_keys(family: str, space: Any, fixed: dict[str, Any]) -> None:
    valid = set(MEMBER_KEYS) | set(SHARED_KEYS) | set(hyperparameters(family))
    for name in [*space.names, *fixed]:
        if name.startswith(AUGMENT_PREFIX):
            raise ConfigError(f"search.space.{name}: population mode does not augment batches; remove it {_USE_LOCAL}")
        if name not in valid:
            raise ConfigError(f"search.space.{name}: population mode cannot set {name!r}; per-member keys are "
                              f"{', '.join(MEMBER_KEYS)}, shared keys {', '.join(SHARED_KEYS)} and the {family!r} "
                              f"architecture keys")


def _check_values(cfg: Any, space: Any, fixed: dict[str, Any]) -> None:
    """The optimizers and schedules a trial can get: fixed, [train] or any option of a choice."""
    for key, default in (("optimizer", "adam"), ("schedule", cfg.train.schedule)):
        for where, value in _values(key, space, fixed, default):
            if key == "optimizer" and value not in OPTIMIZERS:
                raise ConfigError(f"{where}: optimizer {value!r} has no vectorized update in population mode; expected "
                                  f"one of {', '.join(OPTIMIZERS)} {_USE_LOCAL}")
            if key == "schedule" and value is not None and check_schedule(value)["name"] == "plateau":
                raise ConfigError(f"{where}: 'plateau' reacts to each trial's own validation curve, which population "
                                  "mode cannot follow; use step, cosine, onecycle or another fixed schedule")


def _values(key: str, space: Any, fixed: dict[str, Any], default: Any) -> list[tuple[str, Any]]:
    if key in space.names:
        param = space[key]
        options = param.options if param.kind == "choice" else []
        return [(f"search.space.{key}", v) for v in options]
    if key in fixed:
        return [(f"search.space.{key}", fixed[key])]
    return [("train.schedule" if key == "schedule" else key, default)]
