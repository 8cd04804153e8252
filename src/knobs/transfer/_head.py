"""Finding a model's classifier head and giving it the new task's number of classes.

Why the last ``nn.Linear`` by default: knobs' MLP (``head``), its ConvNet (``head[-1]``) and the
usual torchvision/timm classifiers (``fc``, ``classifier[-1]``, ``head``) all end in one. A head
can also be named (a dotted attribute path such as ``"fc"`` or ``"classifier.1"``); a named
``Sequential`` head keeps its hidden layers, and its last Linear is the one replaced.

NOTE: a new head starts at zero (weights and bias). Its logits are then all equal, so the initial
loss is exactly ln C, and the body receives no gradient until the head has learnt something: a
random head would send random gradients into pretrained features in the first steps, the feature
distortion that linear-probe-then-fine-tune (Kumar et al. 2022) avoids. The head's own gradient
``(p − y)·hᵀ`` is not zero, so it learns from the first step.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> replace_head(net, 5)
    '2'
    >>> net[2].out_features
    5
"""

from __future__ import annotations

from torch import nn

from knobs.errors import ConfigError

__all__ = ["find_head", "replace_head", "head_linear"]


def find_head(model: nn.Module, head: str | None = None) -> str:
    """The dotted name of the head: ``head`` itself when given, else the last ``nn.Linear``.

    Raises:
        ConfigError: ``head`` names no submodule (the Linear layers are listed), or the model has
            no Linear layer at all.
    """
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if head is None:
        if not linears or linears[-1] == "":
            raise ConfigError(
                f"head: {type(model).__name__} has no nn.Linear classifier below its root; name the "
                f"head module with head = '<attribute>'")
        return linears[-1]
    names = dict(model.named_modules())
    if not isinstance(head, str) or head == "" or head not in names:
        raise ConfigError(
            f"head: {head!r} is not a submodule of {type(model).__name__}; its Linear layers are "
            f"{', '.join(linears) or '(none)'}")
    head_linear(model, head)
    return head


def head_linear(model: nn.Module, head: str) -> str:
    """The dotted name of the Linear layer that produces the logits inside the head ``head``."""
    module = model.get_submodule(head)
    if isinstance(module, nn.Linear):
        return head
    inner = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not inner:
        raise ConfigError(f"head: module {head!r} ({type(module).__name__}) holds no nn.Linear to give the new classes")
    return f"{head}.{inner[-1]}"


def replace_head(model: nn.Module, n_classes: int, *, head: str | None = None,
                 new_head: nn.Module | None = None, reset: bool = True) -> str:
    """Give ``model`` a classifier for ``n_classes`` in place; return the head's dotted name.

    Args:
        model: the source model (changed in place).
        n_classes: classes of the new task.
        head: dotted name of the head module; default the last ``nn.Linear``.
        new_head: a module to put in place of the head's last Linear (checked: a Linear must take
            the old layer's inputs and give ``n_classes`` outputs); default a zero-initialized Linear.
        reset: False keeps the pretrained head (then it must already give ``n_classes`` outputs).

    Raises:
        ConfigError: no head found, ``n_classes`` not a positive int, or a head whose inputs or
            outputs do not fit (naming the layer and both sizes).
    """
    _check_classes(n_classes)
    name = find_head(model, head)
    target = head_linear(model, name)
    old = model.get_submodule(target)
    if not reset and new_head is None:
        if old.out_features != n_classes:
            raise ConfigError(
                f"head: layer {target!r} gives {old.out_features} outputs but the data has {n_classes} "
                f"classes; keep reset_head = true to replace it")
        return name
    replacement = _zero_linear(old, n_classes) if new_head is None else _checked(new_head, old, target, n_classes)
    _set_submodule(model, target, replacement)
    return name


def _check_classes(n_classes: object) -> None:
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 1:
        raise ConfigError(f"n_classes: expected an integer >= 1, got {n_classes!r}")


def _zero_linear(old: nn.Linear, n_classes: int) -> nn.Linear:
    new = nn.Linear(old.in_features, n_classes, bias=old.bias is not None,
                    device=old.weight.device, dtype=old.weight.dtype)
    nn.init.zeros_(new.weight)
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new


def _checked(new_head: nn.Module, old: nn.Linear, target: str, n_classes: int) -> nn.Module:
    if not isinstance(new_head, nn.Module):
        raise ConfigError(f"new_head: expected an nn.Module, got {type(new_head).__name__}")
    linears = [m for m in new_head.modules() if isinstance(m, nn.Linear)]
    if linears and linears[-1].out_features != n_classes:
        raise ConfigError(
            f"new_head: its last Linear gives {linears[-1].out_features} outputs but the data has "
            f"{n_classes} classes")
    if linears and linears[0].in_features != old.in_features:
        raise ConfigError(
            f"new_head: its first Linear takes {linears[0].in_features} inputs but layer {target!r} "
            f"receives {old.in_features} features")
    return new_head


def _set_submodule(model: nn.Module, target: str, module: nn.Module) -> None:
    parent, _, leaf = target.rpartition(".")
    setattr(model.get_submodule(parent), leaf, module)
