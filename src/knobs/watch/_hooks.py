"""Forward hooks that look at one training forward pass, then take themselves off.

Why armed per sampled step instead of hooked for the whole fit: a hook costs a Python call per
module per forward, every step, even when it returns at once; armed only for the sampled step, the
model runs hook-free the rest of the time, and nothing is left on the model once the probe is read.

What one pass records: for every ReLU-family module, the fraction of dead units and of zero
outputs; for every tanh, sigmoid, ELU, SELU, CELU, Softplus, GELU and SiLU module, the fraction of
saturated outputs (where its gradient is under 2% of its slope; ELU's and CELU's α, Softplus's β
taken from the module or the call; GELU's and SiLU's read from their input, before the call, as
their output does not tell it and an in-place SiLU overwrites the input); for all of these, how
much the output varies with the input (``signal_std``, whose fall from layer to layer shows a fading signal); the same for every such
*function* the forward pass calls (``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``, ``F.gelu(x)``,
``F.silu``, ``F.elu``, ``F.selu``, ``F.celu``, ``F.softplus``), named by the module whose forward called it
(``"block.relu()"``; ``"relu()"`` in the model's own forward); the order in which
modules holding parameters ran (first = nearest the input), which names the first and last layer
for the vanishing/exploding gradient ratio; and which of them fed each activation (the module with
parameters that ran last before it), so a dead or saturated activation names its layer. Forward passes in eval mode (validation) are ignored,
and so is every pass after the first.

Why a ``TorchFunctionMode`` for the functions: a model that calls ``F.relu`` in its forward has no
module to hook, and its dead units would go unseen. The mode sees every torch function called
while it is active; it is entered by a hook when the probed forward pass starts and left when it
ends (also when it raises), so unprobed steps and the backward pass never pay for it. A stack of
module pre/post hooks, on for the same pass, says which module made each call; a call made inside
a hooked activation module (``nn.ReLU`` calls ``F.relu``) is that module's own and is not counted
twice.

Example:
    >>> import torch; from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> probe = ActivationProbe(net).arm()
    >>> _ = net(torch.randn(8, 3))
    >>> seen = probe.collect()
    >>> sorted(seen["activations"]), seen["order"], seen["feeds"], probe.armed
    (['1'], ['0', '2'], {'1': '0'}, False)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from knobs.watch._stats import INPUT_KINDS, input_stats, unit_stats

__all__ = ["ActivationProbe", "FUNCTIONS", "KINDS", "activation_kind"]

#: Module class → the kind of statistics it gets.
KINDS: dict[type[nn.Module], str] = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Tanh: "tanh",
                                     nn.Sigmoid: "sigmoid", nn.GELU: "gelu", nn.SiLU: "silu", nn.ELU: "elu",
                                     nn.SELU: "selu", nn.CELU: "celu", nn.Softplus: "softplus"}
#: Torch functions and tensor methods → the kind of statistics their output gets. (``F.sigmoid``
#: and ``F.tanh`` call the tensor methods, which are listed.)
FUNCTIONS: dict[Any, str] = {
    **dict.fromkeys((torch.relu, torch.relu_, F.relu, F.relu_, torch.Tensor.relu, torch.Tensor.relu_), "relu"),
    F.relu6: "relu6",
    **dict.fromkeys((torch.tanh, torch.tanh_, torch.Tensor.tanh, torch.Tensor.tanh_), "tanh"),
    **dict.fromkeys((torch.sigmoid, torch.sigmoid_, torch.special.expit, torch.Tensor.sigmoid,
                     torch.Tensor.sigmoid_), "sigmoid"),
    F.gelu: "gelu", F.silu: "silu", **dict.fromkeys((F.elu, F.elu_), "elu"), F.softplus: "softplus",
    **dict.fromkeys((F.selu, F.selu_, torch.selu, torch.selu_), "selu"),
    **dict.fromkeys((F.celu, F.celu_, torch.celu, torch.celu_), "celu"),
}
#: The parameter that shapes a kind's flat side (``knobs.watch._stats.flat_below``): its name, and
#: its position among a function's arguments.
_SHAPE = {"elu": ("alpha", 1), "celu": ("alpha", 1), "softplus": ("beta", 1)}


def activation_kind(module: nn.Module) -> str | None:
    """``"relu"``, ``"relu6"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ``"silu"``, ``"elu"``,
    ``"selu"``, ``"celu"``, ``"softplus"`` or None (exact classes: a subclass may change the function)."""
    return KINDS.get(type(module))


class ActivationProbe:
    """Hooks for one training forward pass of ``model``: ``arm()``, run the step, ``collect()``."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._handles: list[Any] = []
        self._stats: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._feeds: dict[str, str | None] = {}
        self._done = False
        self._targets: list[tuple[str, nn.Module, str | None, bool]] | None = None
        self._callers: list[tuple[str, nn.Module]] = []
        self._mode: _FunctionalActivations | None = None
        self._functional = 0
        self._inputs: dict[str, dict[str, torch.Tensor]] = {}
        #: Whether the forward pass calls activation functions: None until a probed pass has told.
        self.calls_functions: bool | None = None

    @property
    def armed(self) -> bool:
        """Whether hooks are on the model now."""
        return bool(self._handles)

    def arm(self) -> "ActivationProbe":
        """Put the hooks on (idempotent) and forget the previous pass."""
        self.remove()
        self._stats, self._order, self._feeds, self._done, self._callers = {}, [], {}, False, []
        self._functional, self._inputs = 0, {}
        for name, module, kind, has_params in self._modules():
            if kind in INPUT_KINDS:
                self._handles.append(module.register_forward_pre_hook(self._input_hook(name, kind)))
            if kind is not None:
                self._handles.append(module.register_forward_hook(self._activation_hook(name, kind)))
            if has_params:
                self._handles.append(module.register_forward_hook(self._order_hook(name)))
        # NOTE: a model's forward calls the same functions at every step, so once a probed pass
        # found none, later probes of this model skip the mode and the caller stack (most of a
        # probe's cost on a small model: every torch call of the pass goes through Python).
        if self.calls_functions is not False:
            for name, module in self.model.named_modules():
                self._handles.append(module.register_forward_pre_hook(self._enter_hook(name)))
                self._handles.append(module.register_forward_hook(self._leave_hook, always_call=True))
            self._handles.append(self.model.register_forward_pre_hook(self._start_hook))
        self._handles.append(self.model.register_forward_hook(self._end_hook, always_call=True))
        return self

    def collect(self) -> dict[str, Any]:
        """Remove the hooks; return ``{"activations": {name: stats}, "order": [module names],
        "feeds": {activation: the module with parameters that ran just before it, or None}}`` with
        plain floats (the device is read once here, not inside the forward pass)."""
        self.remove()
        keys = [(name, key) for name, stats in self._stats.items() for key in stats if key != "kind"]
        values = torch.stack([self._stats[n][k] for n, k in keys]).tolist() if keys else []
        read: dict[str, dict[str, Any]] = {name: {"kind": stats["kind"]} for name, stats in self._stats.items()}
        for (name, key), value in zip(keys, values):
            read[name][key] = value
        activations = {name: _finite_only(stats) for name, stats in read.items()}
        self._stats = {}
        return {"activations": activations, "order": list(self._order), "feeds": dict(self._feeds)}

    def remove(self) -> None:
        """Take every hook off the model (and leave the function mode, should a pass have stopped
        inside it)."""
        self._leave_mode()
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _modules(self) -> list[tuple[str, nn.Module, str | None, bool]]:
        """(name, module, activation kind, holds parameters) of the modules worth a hook; found once."""
        if self._targets is None:
            self._targets = [(name, module, activation_kind(module),
                              next(module.parameters(recurse=False), None) is not None)
                             for name, module in self.model.named_modules()]
            self._targets = [t for t in self._targets if t[2] is not None or t[3]]
        return self._targets

    def _recording(self, module: nn.Module) -> bool:
        return module.training and not self._done

    def _activation_hook(self, name: str, kind: str):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if self._recording(module):
                self._add(name, kind, output, getattr(module, _SHAPE[kind][0], None) if kind in _SHAPE else None,
                          self._inputs.pop(name, None))
        return hook

    def _input_hook(self, name: str, kind: str):
        def hook(module: nn.Module, inputs: Any) -> None:
            if self._recording(module) and inputs and isinstance(inputs[0], torch.Tensor):
                with torch._C.DisableTorchFunction():
                    self._inputs[name] = input_stats(inputs[0], kind)
        return hook

    def _add(self, name: str, kind: str, output: Any, param: float | None = None,
             from_input: dict[str, torch.Tensor] | None = None) -> None:
        """Record one activation output under ``name`` (``name#1``, ``name#2``, … when it recurs),
        with ``from_input``: the statistics taken from its input before the call (``input_stats``)."""
        if not isinstance(output, torch.Tensor):
            return
        key = name if name not in self._stats else f"{name}#{sum(k.split('#')[0] == name for k in self._stats)}"
        with torch._C.DisableTorchFunction():  # the statistics' own calls bypass the mode
            self._stats[key] = {"kind": kind, **unit_stats(output, kind, param), **(from_input or {})}
        self._feeds[key] = self._order[-1] if self._order else None

    def _counts(self) -> bool:
        """Whether an activation function called now is the forward's own (not inside nn.ReLU & co.,
        whose hook records it)."""
        return activation_kind(self._callers[-1][1] if self._callers else self.model) is None

    def _called(self, kind: str, output: Any, param: float | None = None,
                from_input: dict[str, torch.Tensor] | None = None) -> None:
        """An activation function of ``FUNCTIONS`` returned ``output`` inside the probed pass."""
        caller = self._callers[-1][0] if self._callers else ""
        if self._counts():
            self._functional += 1
            self._add(f"{caller}.{kind}()" if caller else f"{kind}()", kind, output, param, from_input)

    def _enter_hook(self, name: str):
        def hook(module: nn.Module, inputs: Any) -> None:
            self._callers.append((name, module))
        return hook

    def _leave_hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self._callers and self._callers[-1][1] is module:
            self._callers.pop()

    def _start_hook(self, module: nn.Module, inputs: Any) -> None:
        if self._recording(module) and self._mode is None:
            self._mode = _FunctionalActivations(self)
            self._mode.__enter__()

    def _leave_mode(self) -> None:
        mode, self._mode = self._mode, None
        if mode is not None:
            mode.__exit__(None, None, None)

    def _order_hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if self._recording(module) and name not in self._order:
                self._order.append(name)
        return hook

    def _end_hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        recorded = self._mode is not None
        self._leave_mode()
        if module.training and not self._done:
            self._done = True
            if recorded:
                self.calls_functions = self._functional > 0


class _FunctionalActivations(TorchFunctionMode):
    """Hands the output of every ``FUNCTIONS`` call to the probe. (Torch functions called inside
    ``__torch_function__`` run with the mode off, so the statistics do not record themselves.)"""

    def __init__(self, probe: ActivationProbe) -> None:
        super().__init__()
        self.probe = probe

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = FUNCTIONS.get(func)
        inputs = args[0] if args else kwargs.get("input")
        from_input = (input_stats(inputs, kind) if kind in INPUT_KINDS and isinstance(inputs, torch.Tensor)
                      and self.probe._counts() else None)  # before the call: F.silu(x, inplace=True)
        output = func(*args, **kwargs)
        if kind is not None:
            self.probe._called(kind, output, _shape_param(kind, args, kwargs), from_input)
        return output


def _shape_param(kind: str, args: tuple, kwargs: dict) -> float | None:
    """ELU's or CELU's α, Softplus's β, as a function was called with (None: its default)."""
    if kind not in _SHAPE:
        return None
    name, position = _SHAPE[kind]
    value = kwargs.get(name, args[position] if len(args) > position else None)
    return None if value is None else float(value)


def _finite_only(stats: dict[str, Any]) -> dict[str, Any]:
    """None for every statistic of a non-finite output (its ``signal_std`` is not finite)."""
    finite = math.isfinite(stats["signal_std"])
    return {k: (v if k == "kind" or finite else None) for k, v in stats.items()}
