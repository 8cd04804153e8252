"""The remedy table: what the autopilot changes for each problem it is told about, and why.

Pure data and pure functions, no torch: a problem code (a ``knobs.diagnose`` finding, or one of
the two curve questions in ``knobs.pipeline.autopilot._questions``) maps to an ordered tuple of remedies;
each turns one knob. ``candidates`` lays them over a trial's parameters and returns the concrete
``Change`` records, first remedy of the most pressing problem first.

Glossary:

- knob: a name the walk may turn (``KNOBS``): a trainer key (``lr``, ``epochs``, …), a model
  hyperparameter (``width``, ``dropout``, …) or ``augment`` (two ``augment.*`` keys at once).
- params: a trial's full parameters (fixed values, searched values, earlier changes).
- defaults: each knob this model and data have → its value when ``params`` lack it (the
  ``[train]`` section for trainer keys, the family's constructor defaults for model keys, the
  ``[augment]`` section for images). A knob missing from it cannot be turned here.
- evidence: problem code → the evidence of the diagnosis' finding (``Finding.evidence``); the
  remedies that follow a measurement read its ``geometry`` (``knobs.diagnose._training.geometry``):
  the gradient noise scale ``b_simple`` (McCandlish et al. 2018) and the top Hessian eigenvalue
  ``sharpness`` with the optimizer's stability ``edge`` (the sharpness SGD at this LR can take).

Example:
    >>> setting = Setting(params={"lr": 1e-5, "width": 32}, defaults={"lr": 1e-3, "width": 128})
    >>> [c.describe() for c in candidates(["lr_too_low"], setting)]
    ['lr 1e-05 → 0.0001', 'lr 1e-05 → 3e-05']
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

__all__ = ["Change", "Remedy", "Setting", "REMEDIES", "QUESTION", "KNOBS", "FIT", "GENERALIZE", "candidates",
           "again", "AUGMENTATION", "GEOMETRY", "EDGE_FRACTION", "suggested_batch"]

FIT, GENERALIZE = "fit", "generalize"

#: The mild, label-preserving augmentation tried against overfitting on images: small rotations and
#: shifts keep the class of digits, letters and photos alike (flips do not: a mirrored 2 is no 2).
AUGMENTATION = {"rotation": 10.0, "translate": 0.1}

# NOTE: the steps follow the diagnosis: its LR probes compare exactly 10x and 1/10 the rate, so a
# confirmed lr_too_low / lr_too_high first tries that factor, then a third of it in log terms (3x).
# Caps keep a walk of a few steps in a sane region: a layer 4096 wide or 8 deep, dropout 0.5.
MAX_WIDTH, MAX_DEPTH, MAX_DROPOUT, MIN_WIDTH = 4096, 8, 0.5, 8
# NOTE: 1e-4 is the usual first weight decay (L2) for Adam-type optimizers when there was none.
FIRST_WEIGHT_DECAY = 1e-4
#: the evidence key of knobs.diagnose's findings under which the noise scale and curvature lie
GEOMETRY = "geometry"
# NOTE: gradient descent on a quadratic of curvature λ diverges once λ passes the stability edge,
# 2/lr for plain SGD (heavy-ball momentum β: (2 + 2β)/lr; Cohen et al. 2021 call it the edge of
# stability), so the largest stable LR is lr · edge / λ (2/λ for plain SGD). "Just under": 90% of it,
# since λ was measured at initialization and sharpness tends to rise during training.
EDGE_FRACTION = 0.9
@dataclass(frozen=True)
class Setting:
    """What a remedy is laid over: the trial's parameters and the knobs this model and data have."""

    params: dict[str, Any]
    defaults: dict[str, Any]
    n_train: int | None = None
    #: the trial stopped early with a constant LR schedule: more epochs would train the same model
    stopped_early: bool = False
    #: problem code → its finding's evidence (what a measured remedy reads)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the optimizer the trial trains with (a name, a torch class or a partial), when ``params`` does not say
    optimizer: Any = None

    @property
    def sgd(self) -> bool:
        """Whether the optimizer is SGD (plain, momentum or Nesterov), where an LR's scale is set by
        the curvature and the batch directly; Adam-type optimizers rescale each step."""
        from knobs.diagnose._curvature import is_sgd  # NOTE: torch; a Setting is made where torch is loaded

        return is_sgd(self.params.get("optimizer", self.optimizer))

    def geometry(self, code: str) -> dict[str, Any]:
        """The noise scale and curvature the finding of ``code`` measured (empty when it did not)."""
        return (self.evidence.get(code) or {}).get(GEOMETRY) or {}

    def value(self, knob: str) -> Any:
        if knob == "augment":
            prefix = "augment."
            return {**self.defaults.get("augment", {}),
                    **{k[len(prefix):]: v for k, v in self.params.items() if k.startswith(prefix)}}
        return self.params.get(knob, self.defaults.get(knob))


class Several(dict):
    """What a turn returns when one remedy sets several knobs at once (a larger batch and the LR
    that goes with it): ``{knob: new value}``, the remedy's own knob first."""


@dataclass(frozen=True)
class Remedy:
    """One knob turned one way: ``turn(value now, setting) -> new value`` (or ``Several``), or None
    (not applicable)."""

    knob: str
    turn: Callable[[Any, Setting], Any]
    reason: str


@dataclass(frozen=True)
class Change:
    """A remedy laid over a trial: the problem, the knob, its values before and after, and why."""

    code: str
    question: str
    knob: str
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    found: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return ", ".join(f"{k} {_fmt(self.before.get(k))} → {_fmt(v)}" for k, v in self.after.items())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        return {**out, "description": self.describe()}


# ---- how a knob turns --------------------------------------------------------------------------

def _times(factor: float, integer: bool = False, cap: float | None = None, floor: float | None = None):
    def turn(value: Any, setting: Setting) -> Any:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            return None
        new = value * factor
        new = min(new, cap) if cap is not None else new
        new = max(new, floor) if floor is not None else new
        new = int(round(new)) if integer else float(f"{new:.6g}")  # 1e-4, not 1.0000000000000002e-4
        return None if new == value else new
    return turn


def _plus(step: float, cap: float):
    def turn(value: Any, setting: Setting) -> Any:
        if value is None or value >= cap:
            return None
        new = min(value + step, cap)
        return int(new) if isinstance(step, int) else round(float(new), 6)
    return turn


def _swap(table: dict[Any, Any]):
    def turn(value: Any, setting: Setting) -> Any:
        return table.get(value)
    return turn


def _set(target: Any, only_from: tuple = ()):
    """Set to ``target`` when the value now is one of ``only_from`` (any value when empty)."""
    def turn(value: Any, setting: Setting) -> Any:
        if value == target or (only_from and value not in only_from):
            return None
        return target
    return turn


def suggested_batch(b_simple: Any) -> int | None:
    """The batch the gradient noise scale asks for: the power of two nearest ``B_simple`` (as the
    noisy_loss finding words its advice)."""
    if not isinstance(b_simple, (int, float)) or not b_simple > 0 or not math.isfinite(b_simple):
        return None
    return 2 ** max(0, round(math.log2(b_simple)))


def _noise_batch(value: Any, setting: Setting) -> Any:
    """The batch the gradient noise scale suggests (else twice the batch), with the LR that goes
    with it: the square-root rule for SGD (kept under the stability edge when the diagnosis measured
    the curvature), unchanged for Adam-type optimizers.

    NOTE: why the square-root rule, not the linear one. SGD's noise temperature is lr/B (Smith & Le
    2018; Jastrzębski et al. 2017): the linear rule (Goyal et al. 2017: lr × k at batch × k) keeps it,
    and so keeps the very noise this remedy is for; an unchanged LR divides it by k but also the
    progress per epoch (k times fewer steps of the same size). The square-root rule lr × √k is the
    middle: the temperature falls by √k, the progress per epoch by √k. For Adam the square-root rule
    is the one that keeps the dynamics (Malladi et al. 2022: each step is divided by the gradient's
    own noise), so the same middle is the LR unchanged.
    """
    target = _larger_batch(value, setting, "noisy_loss")
    if target is None:
        return None
    lr = setting.value("lr")
    if not setting.sgd or not isinstance(lr, (int, float)) or lr <= 0:
        return target
    scaled = lr * (target / value) ** 0.5
    edge = _edge_lr(setting.geometry("noisy_loss"), lr)
    if edge is not None:  # never past the stability edge the same diagnosis measured (nor below the LR now)
        scaled = min(scaled, max(lr, edge))
    new_lr = float(f"{scaled:.6g}")
    return Several(batch_size=target, lr=new_lr) if new_lr != lr else target


def _larger_batch(value: Any, setting: Setting, code: str) -> int | None:
    """The batch the noise scale ``code``'s finding measured suggests (else twice the batch), within
    the training rows; None when that is no larger than the batch now."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return None
    target = suggested_batch(setting.geometry(code).get("b_simple")) or 2 * value
    if setting.n_train is not None:
        target = min(target, setting.n_train)
    return target if target > value else None


def _noisy_steps_batch(value: Any, setting: Setting) -> Any:
    """For an LR too high whose batch is at least 10x below the measured noise scale (the diagnosis'
    ``geometry["noisy_batch"]``: a step's gradient is 10 parts noise to 1 of signal): the batch the
    noise scale suggests, the LR kept.

    NOTE: the LR stays, whatever the optimizer: the diagnosis measured it too high, and a batch k
    times larger at the same LR divides SGD's noise temperature lr/B by k (Smith & Le 2018), the
    most a batch can do against the noise; the square-root rule of ``_noise_batch`` would raise it.
    """
    if not setting.geometry("lr_too_high").get("noisy_batch"):
        return None
    return _larger_batch(value, setting, "lr_too_high")


def _edge_lr(geo: dict[str, Any], lr: float) -> float | None:
    """``EDGE_FRACTION · lr · edge / λ``: just under the largest LR the measured curvature allows."""
    sharpness, edge, measured_at = geo.get("sharpness"), geo.get("edge"), geo.get("lr", lr)
    if not all(isinstance(v, (int, float)) and v > 0 for v in (sharpness, edge, measured_at)):
        return None
    return EDGE_FRACTION * measured_at * edge / sharpness


def _under_edge(code: str):
    """SGD's LR just under the stability edge of the curvature ``code``'s finding measured:
    ``EDGE_FRACTION · lr · edge / λ`` (the diagnosed ``lr``, its ``edge`` in sharpness units), when
    that is below the LR now; else not applicable (Adam-type optimizers get no edge: their steps are
    rescaled per coordinate)."""
    def turn(value: Any, setting: Setting) -> Any:
        if not setting.sgd or not isinstance(value, (int, float)) or not value > 0:
            return None
        edge = _edge_lr(setting.geometry(code), value)
        new = None if edge is None else float(f"{edge:.3g}")
        return new if new is not None and new < value else None
    return turn


def _more_epochs(value: Any, setting: Setting) -> Any:
    """Twice the epochs — unless early stopping fired before the budget with an LR schedule that
    does not depend on it: with the same seed, the run would repeat itself and stop at the same epoch."""
    return None if setting.stopped_early else _times(2, integer=True)(value, setting)


def _decay_more(value: Any, setting: Setting) -> Any:
    return FIRST_WEIGHT_DECAY if not value else value * 10.0


def _augment(value: Any, setting: Setting) -> Any:
    """The mild augmentation, when the data are images and nothing augments them yet."""
    return None if value is None or any(value.values()) else dict(AUGMENTATION)


# ---- the table ---------------------------------------------------------------------------------

_RELU = {"tanh": "relu", "sigmoid": "relu"}
_WIDER = (Remedy("width", _times(2, integer=True, cap=MAX_WIDTH), "more capacity: twice the units per layer"),
          Remedy("channels", _times(2, integer=True, cap=MAX_WIDTH), "more capacity: twice the channels"),
          Remedy("depth", _plus(1, MAX_DEPTH), "more capacity: one more layer"))
_REGULARIZE = (
    Remedy("dropout", _plus(0.2, MAX_DROPOUT), "more dropout: units cannot co-adapt to the training rows"),
    Remedy("weight_decay", _decay_more, "more weight decay (L2): smaller weights, a smoother function"),
    Remedy("augment", _augment, "augmentation: new views of the training images every epoch"),
    Remedy("width", _times(0.5, integer=True, floor=MIN_WIDTH), "a smaller model: less room to memorize"),
    Remedy("channels", _times(0.5, integer=True, floor=MIN_WIDTH), "a smaller model: less room to memorize"),
)

#: problem code → its remedies, most promising first.
REMEDIES: dict[str, tuple[Remedy, ...]] = {
    "lr_too_low": (Remedy("lr", _times(10.0), "the same training at 10x the LR did much better"),
                   Remedy("lr", _times(3.0), "a smaller step up, in case 10x overshoots")),
    "lr_too_high": (Remedy("lr", _under_edge("lr_too_high"), "just under the edge of stability of the measured "
                                                             "curvature λ (2/λ for plain SGD)"),
                    Remedy("lr", _times(0.1), "the same training at 1/10 the LR did much better"),
                    Remedy("batch_size", _noisy_steps_batch, "the batch is 10x or more below the gradient noise "
                                                             "scale: the batch it suggests, the LR kept"),
                    Remedy("lr", _times(1 / 3), "a smaller step down, in case 1/10 is too slow"),
                    Remedy("clip_grad_norm", _set(1.0, only_from=(None,)), "gradient clipping caps the bad steps")),
    "noisy_loss": (Remedy("batch_size", _noise_batch, "a larger batch averages out the gradient noise (the batch "
                                                      "the noise scale suggests; SGD's LR by the square-root rule)"),
                   Remedy("lr", _times(1 / 3), "smaller steps stop undoing each other")),
    "exploding_gradients": (Remedy("clip_grad_norm", _set(1.0, only_from=(None,)), "clipping bounds each step"),
                            Remedy("lr", _times(1 / 3), "smaller steps")),
    "dead_relu": (Remedy("lr", _times(1 / 3), "large steps push ReLUs into the region where they stay off"),
                  Remedy("activation", _set("leaky_relu", only_from=("relu",)), "a leaky ReLU cannot stay off")),
    "saturation": (Remedy("activation", _swap(_RELU), "ReLUs do not saturate"),
                   Remedy("batch_norm", _set(True, only_from=(False,)), "batch norm keeps pre-activations centred")),
    "vanishing_gradients": (Remedy("activation", _swap(_RELU), "ReLUs pass the gradient through unshrunk"),
                            Remedy("batch_norm", _set(True, only_from=(False,)), "batch norm keeps the gradient scale")),
    "cannot_overfit": _WIDER,
    "underfitting": (*_WIDER,
                     Remedy("epochs", _more_epochs, "train longer"),
                     Remedy("dropout", _set(0.0), "less regularization: no dropout"),
                     Remedy("weight_decay", _times(0.1), "less regularization: 1/10 the weight decay")),
    "still_improving": (Remedy("epochs", _more_epochs, "validation was still improving at the last epoch"),),
    "overfitting": _REGULARIZE,
    "generalization_gap": _REGULARIZE,
}

#: problem code → the question it answers "no" to.
QUESTION: dict[str, str] = {code: (GENERALIZE if code in ("overfitting", "generalization_gap") else FIT)
                            for code in REMEDIES}

#: every knob the table turns.
KNOBS: tuple[str, ...] = tuple(dict.fromkeys(r.knob for remedies in REMEDIES.values() for r in remedies))


def candidates(codes: Sequence[str], setting: Setting, allowed: Sequence[str] | None = None,
               found: dict[str, str] | None = None) -> list[Change]:
    """The concrete changes for ``codes`` (in that order), each remedy laid over ``setting``.

    Remedies whose knob this model or data lack, that ``allowed`` leaves out, or that do not apply
    to the value now (a ReLU swap on a ReLU net, dropout already at the cap) are left out; a
    change proposed twice (``epochs`` for ``underfitting`` and ``still_improving``) is kept once.
    """
    out: list[Change] = []
    for code in codes:
        for remedy in REMEDIES.get(code, ()):
            change = _lay(code, remedy, setting, allowed, (found or {}).get(code, ""))
            if change is not None and all(change.after != c.after for c in out):
                out.append(change)
    return out


def again(code: str, knob: str, setting: Setting, allowed: Sequence[str] | None = None,
          found: str = "") -> Change | None:
    """The remedy of a kept change, once more from where it left off (width 3 → 6 helped: 6 → 12).

    Why: a change that beat its noise points in a good direction, and the diagnosis that asked for
    it may no longer fire one step later (a net twice as wide is no longer flagged as unable to
    fit, yet may still gain from more width); the keep rule judges the next step as strictly.
    """
    remedy = next((r for r in REMEDIES.get(code, ()) if r.knob == knob), None)
    return None if remedy is None else _lay(code, remedy, setting, allowed, found)


def _lay(code: str, remedy: Remedy, setting: Setting, allowed: Sequence[str] | None, found: str) -> Change | None:
    if remedy.knob not in setting.defaults or (allowed is not None and remedy.knob not in allowed):
        return None
    now = setting.value(remedy.knob)
    new = remedy.turn(now, setting)
    if new is None:
        return None
    before, after = _pair(remedy.knob, now, new, setting, allowed)
    return Change(code, QUESTION[code], remedy.knob, before, after, remedy.reason, found)


def _pair(knob: str, now: Any, new: Any, setting: Setting,
          allowed: Sequence[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(new, Several):  # the knobs this run has and may turn, the remedy's own first
        after = {k: v for k, v in new.items()
                 if k == knob or (k in setting.defaults and (allowed is None or k in allowed))}
        return {k: setting.value(k) for k in after}, after
    if knob == "augment":
        return ({f"augment.{k}": now.get(k, 0.0) for k in new}, {f"augment.{k}": v for k, v in new.items()})
    return {knob: now}, {knob: new}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
