"""What a "layer" is when transfer learning counts, freezes and gives learning rates to layers.

Why a definition of our own: ``model.children()`` is too coarse for knobs' own models (an ``MLP``
has two children, ``body`` and ``head``) and ``named_parameters()`` too fine (a weight and its bias
are one layer to a person). So, by default (``by="module"``), a layer is a module that owns
parameters itself (Linear, Conv, Embedding, …), in the order ``model.named_modules()`` lists them.
A normalization module (BatchNorm, LayerNorm, GroupNorm, InstanceNorm, RMSNorm) joins the layer
before it: it rescales that layer's outputs, and "freeze the first two layers" of a
Linear → BatchNorm → ReLU stack should mean two Linear layers with their norms. With ``by="child"``
a layer is a top-level child that holds parameters (a ResNet's ``conv1``, ``bn1``,
``layer1`` … ``layer4``, ``fc``). Parameters registered on the root module itself form a first
layer named ``(root)``.

NOTE: registration order is taken as depth order. That holds for ``nn.Sequential`` stacks, knobs'
models and torchvision/timm classifiers; a model that registers its head before its body needs the
head named explicitly (``head="fc"``), and its layer order shown by ``model_layers`` checked.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    >>> [layer.name for layer in model_layers(net)]
    ['0+1', '3']
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from knobs.errors import ConfigError
from knobs.transfer._freeze import keeps_running_stats

__all__ = ["Layer", "LAYER_UNITS", "model_layers", "NORM_TYPES"]

LAYER_UNITS = ("module", "child")

#: Normalization modules: they join the layer before them.
NORM_TYPES: tuple[type[nn.Module], ...] = tuple(
    t for t in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm1d,
                nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm, nn.GroupNorm, getattr(nn, "RMSNorm", None))
    if t is not None
)


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer: its display name, the module names it covers and its parameters.

    ``deep`` layers (``by="child"``) cover their modules' whole subtrees; the others only the
    named modules themselves (their children are layers of their own).
    """

    name: str
    modules: tuple[str, ...]
    params: tuple[nn.Parameter, ...]
    deep: bool = False

    def within(self, prefix: str) -> bool:
        """Whether every module of this layer is ``prefix`` or lies inside it."""
        return all(_inside(m, prefix) for m in self.modules)

    def covers(self, module: str) -> bool:
        """Whether the module named ``module`` belongs to this layer."""
        return module in self.modules or (self.deep and any(_inside(module, m) for m in self.modules))


def model_layers(model: nn.Module, by: str = "module") -> list[Layer]:
    """The layers of ``model`` in depth order (see the module doc for the definition).

    Args:
        model: any ``nn.Module``.
        by: "module" (parameter-owning modules, norms joined to the layer before) or "child"
            (top-level children holding parameters).

    Raises:
        ConfigError: unknown ``by``, or a model without parameters.
    """
    if by not in LAYER_UNITS:
        raise ConfigError(f"layers: unknown {by!r}; expected one of {', '.join(LAYER_UNITS)}")
    found = _by_module(model) if by == "module" else _by_child(model)
    if not found:
        raise ConfigError(f"model {type(model).__name__} has no parameters; nothing to transfer")
    return found


def _by_module(model: nn.Module) -> list[Layer]:
    layers: list[Layer] = []
    seen: set[int] = set()
    for name, module in model.named_modules():
        params = _new_params(module.parameters(recurse=False), seen)
        # NOTE: a norm without affine parameters still keeps running statistics: it joins the
        # layer before it so that freezing that layer pins it to eval mode too.
        if not params and not (isinstance(module, NORM_TYPES) and keeps_running_stats(module)):
            continue
        name = name or "(root)"
        if isinstance(module, NORM_TYPES) and layers and layers[-1].modules != ("(root)",):
            last = layers[-1]
            layers[-1] = Layer(f"{last.name}+{name}", last.modules + (name,), last.params + params)
        else:
            layers.append(Layer(name, (name,), params))
    return layers


def _by_child(model: nn.Module) -> list[Layer]:
    seen: set[int] = set()
    root = _new_params(model.parameters(recurse=False), seen)
    layers = [Layer("(root)", ("(root)",), root)] if root else []
    for name, child in model.named_children():
        params = _new_params(child.parameters(), seen)
        if params:
            layers.append(Layer(name, (name,), params, deep=True))
    return layers


def _new_params(params, seen: set[int]) -> tuple[nn.Parameter, ...]:
    """Parameters not met before (tied weights count once, in their first layer)."""
    fresh = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            fresh.append(p)
    return tuple(fresh)


def _inside(module: str, prefix: str) -> bool:
    return prefix == "" or module == prefix or module.startswith(prefix + ".")
