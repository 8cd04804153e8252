"""Findings from the loss curve of the watched run: learning rate, noise, under- and overfitting.

Pure functions of plain evidence (the layer rules are in ``knobs.diagnose._layers``).

Glossary of the evidence dict ``ev`` (built by ``knobs.diagnose._evidence``):

- ``ev["task"]``; ``ev["run"]``: ``records`` (the Trainer's epochs), ``diverged`` (None or
  ``{epoch, step, lr}``), ``final_train_loss``, ``train_score`` and ``val_score`` of the final model
  (accuracy, or R² for regression), ``step_losses`` and ``watch`` (``Watch.to_dict()``).
- ``ev["probes"]``: ``{"lower" | "higher" | "much_higher": lr_probe(...)}``, the same training at 1/10,
  10x or 100x the LR (``final_train_loss``, ``final_val_loss``, ``diverged``, ``train_score``).
- ``ev["reference"]``: the scikit-learn reference, ``score`` its best validation score.
- ``ev["n_val"]``: validation rows (the standard error of a validation score).
- ``ev["chance_loss"]``: the loss of an uninformed model, ln C (classification) or Var(y)
  (regression) — the unit in which loss changes are judged.
- ``ev["noise"]``: the gradient noise scale at initialization (``knobs.diagnose._noise``:
  ``b_simple``, ``eps_max``, ``resolved``); ``ev["curvature"]``: the top Hessian eigenvalue at
  initialization and the optimizer's stability edge (``knobs.diagnose._curvature``);
  ``ev["affine"]``: whether the model is an affine map (``affine``, ``weights``). All optional.

Every threshold is scale-free and comes from the literature named at its NOTE; none was fitted to
the zoo in tests/zoo.py.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from knobs.diagnose._curvature import effective_lr
from knobs.diagnose._finding import Finding, finding
from knobs.watch import DIVERGE_FACTOR

__all__ = ["fit_findings", "further_probe", "geometry", "noisy_findings", "probe_factors", "probe_key", "score_se",
           "symptoms", "update_scale", "val_scores"]

# NOTE: AUTOTRAINER's oscillation rule (the validation accuracy swings by 0.03 or more in more
# than 20% of the epochs), put on the validation loss in units of the chance loss: for regression
# a rise of 0.03 Var(y) is exactly a fall of 0.03 in R²; for classes, 3% of ln C. On the loss, a
# model stuck at chance level whose argmax flickers is not counted as noisy.
SWING, SWING_SHARE, MIN_EPOCHS_NOISE = 0.03, 0.2, 5
# NOTE: measured against the run's own progress (first step's loss − best epoch): a run that gave
# back half of what it had gained is going backwards; a rise from 0.07 to 0.14 after a fall from
# 2.3 is a wobble, whatever its ratio.
GIVE_BACK = 0.5
# NOTE: learning rates are searched by factors of 10 (Bengio 2012, CS231n); the other rate counts
# as better when the same training ends with at most half the training loss, or makes at least
# twice the progress from the first step's loss (a rate far too low barely moves the loss, so
# halving it is out of reach in a short run while doubling the progress is not).
LR_FACTOR, BETTER, MIN_PROGRESS = 10.0, 2.0, 0.01
# NOTE: high bias in Ng's sense: the network fits its own training rows worse than a linear or
# k-NN model predicts unseen rows, by 5 points of accuracy (or 5% of the variance, R²).
UNDERFIT_MARGIN = 0.05
# NOTE: high variance in Ng's sense (his example: 1% training vs 11% dev error): a train/validation
# score gap of 0.10, once more training no longer helps: the best validation score of the last
# third of the run beats the best before it by under 0.01 (early stopping on the score with that
# patience and min_delta would have stopped). On the score, not the loss: a memorizing model's
# validation loss keeps drifting while its accuracy has long stopped moving.
OVERFIT_GAP, STALE_SHARE, STALE_GAIN = 0.10, 1 / 3, 0.01
# NOTE: both margins are at least two standard errors of the validation score, so a small
# validation split's sampling noise alone cannot make them: sqrt(p(1 − p) / n) for an accuracy,
# (1 − R²)·sqrt(2 / n) for an R² (the relative standard error of a mean of n squared Gaussian
# residuals is sqrt(2 / n)). 89 diabetes rows give ±0.08 in R²; 359 digits rows ±0.01 in accuracy.
SE_MULTIPLE = 2.0
# NOTE: a model whose training loss is still 90% of the chance loss has learned next to nothing:
# with ln C it gives the right class a (geometric) mean probability of C^-0.9, 0.13 for 10 classes
# against chance's 0.10; for regression it explains a tenth of the variance (R² = 0.1). No model
# size fixes that: the optimizer did not move it.
NO_LEARNING = 0.9
# NOTE: a step's gradient is dominated by noise when tr(Σ)/B, its noise, is an order of magnitude
# above |G|², its signal: B ≤ B_simple / 10 (McCandlish et al. 2018; the factor of 10 by which
# rates are searched). Between B_simple/10 and B_simple, steps lose at most half their progress
# to noise, the trade of time for data that any batch below the critical one makes.
NOISE_FACTOR = 10.0
# NOTE: CS231n's rule of thumb for the ratio of an update's norm to its weights' norm: about 1e-3
# per step is healthy. A run whose median ratio is below 1e-3 / LR_FACTOR² would still step more
# than LR_FACTOR times too short at 10x its LR: one factor of 10 cannot reach the healthy range.
HEALTHY_UPDATE_RATIO = 1e-3


def score_se(score: float, n: int, task: str) -> float:
    """The standard error of a validation accuracy (or R²) measured on ``n`` rows (a multi-label accuracy's as if
    its rows' labels were one draw each: the labels of a row are not independent)."""
    if task != "regression":
        p = min(max(score, 0.0), 1.0)
        return math.sqrt(p * (1 - p) / max(n, 1))
    return max(1 - min(score, 1.0), 0.0) * math.sqrt(2 / max(n, 1))


def _margin(floor: float, score: float | None, ev: dict) -> float:
    if score is None:
        return floor
    return max(floor, SE_MULTIPLE * score_se(score, ev["n_val"], ev["task"]))


# ---- shared measurements -----------------------------------------------------------------------

def val_scores(ev: dict) -> list[float]:
    """The validation score per epoch: accuracy, or R² = 1 − MSE / Var(y) for regression (Var(y)
    of the training target, the chance loss)."""
    records = [r for r in ev["run"]["records"] if r.get("val_loss") is not None]
    if ev["task"] != "regression":
        return [r["val_accuracy"] for r in records]
    return [1 - r["val_loss"] / ev["chance_loss"] for r in records]


def _val_losses(ev: dict) -> list[float]:
    return [r["val_loss"] for r in ev["run"]["records"] if r.get("val_loss") is not None]


def symptoms(ev: dict) -> dict[str, Any]:
    """Signs of instability (diverged, blew up, rising), oscillation, and high bias."""
    run = ev["run"]
    first = next((v for v in run["step_losses"] if v is not None), None)
    train = [(r["epoch"], r["train_loss"]) for r in run["records"] if r.get("train_loss") is not None]
    # NOTE: judged on epoch means, not single steps: with minibatches of a few rows one step's
    # loss can pass 4x the first on its own, an epoch's mean cannot without the run going wrong.
    blew = next((epoch for epoch, loss in train if first and loss > DIVERGE_FACTOR * first), None)
    losses = [loss for _, loss in train]
    rising = bool(losses) and first is not None and losses[-1] - min(losses) >= GIVE_BACK * (first - min(losses)) > 0
    ref = ev["reference"]["score"]
    margin = _margin(UNDERFIT_MARGIN, ref, ev)
    underfit = run["train_score"] is not None and ref is not None and run["train_score"] < ref - margin
    return {"diverged": run["diverged"], "blew_up_at_epoch": blew, "first_loss": first,
            "rising": rising, "train_loss_min": min(losses) if losses else None,
            "train_loss_last": losses[-1] if losses else None, "swings": _swings(ev),
            "oscillating": _oscillating(ev), "underfit": underfit, "underfit_margin": margin,
            "train_score": run["train_score"], "reference_score": ref}


def _swings(ev: dict) -> int:
    """Epochs whose validation loss rose by at least ``SWING`` chance losses."""
    losses, unit = _val_losses(ev), ev["chance_loss"]
    return sum(b - a >= SWING * unit for a, b in zip(losses, losses[1:]))


def _oscillating(ev: dict) -> bool:
    epochs = len(ev["run"]["records"])
    return epochs >= MIN_EPOCHS_NOISE and _swings(ev) > SWING_SHARE * epochs


def unstable(sym: dict) -> bool:
    """Diverged, blew up or going backwards. Oscillation alone is not: a noisy run that still
    converges is told to use bigger batches, not a lower LR."""
    return bool(sym["diverged"] or sym["blew_up_at_epoch"] or sym["rising"])


def geometry(ev: dict) -> dict[str, Any]:
    """What the noise scale and the curvature at initialization say of an SGD step (McCandlish et
    al. 2018; Cohen et al. 2021), as plain data:

    - ``lr_eff``: the step per unit of steady gradient, ``lr (1 − dampening) / (1 − momentum)``
      (None for adaptive optimizers, to which the rest does not apply);
    - ``eps_opt``: the best step for this batch, ``ε_max / (1 + B_simple / B)``;
    - ``noisy_batch``: the batch is ``NOISE_FACTOR`` times below the noise scale (a step's gradient
      is at least 10 parts noise to 1 of signal), whatever the optimizer;
    - ``noise_dominated``: a noisy batch and the step above ``eps_opt``, where a smaller step would
      make more progress;
    - ``beyond_edge``: the sharpness exceeds the stability edge (2 / lr for plain SGD).
    """
    s, noise, curv = ev["settings"], ev.get("noise") or {}, ev.get("curvature") or {}
    lr_eff = curv["lr_eff"] if "lr_eff" in curv else effective_lr(s.get("optimizer", "sgd"), s["lr"],
                                                                    s.get("optimizer_options"))
    # NOTE: with gradient accumulation a step's gradient is the mean over accumulate batches
    batch = s["batch_size"] * ((s.get("options") or {}).get("accumulate") or 1)
    b_simple, eps_max = noise.get("b_simple"), noise.get("eps_max")
    known = lr_eff is not None and noise.get("resolved") and b_simple and eps_max
    eps_opt = eps_max / (1 + b_simple / batch) if known else None
    sharp, edge = curv.get("eigenvalue"), curv.get("edge")
    return {"lr": s["lr"], "lr_eff": lr_eff, "batch_size": batch, "b_simple": b_simple,
            "b_simple_resolved": noise.get("resolved"), "eps_max": eps_max, "eps_opt": eps_opt,
            "sharpness": sharp, "edge": edge, "edge_rule": curv.get("edge_rule"),
            "noisy_batch": bool(b_simple and batch * NOISE_FACTOR <= b_simple),
            "noise_dominated": bool(eps_opt and batch * NOISE_FACTOR <= b_simple and lr_eff > eps_opt),
            "beyond_edge": bool(lr_eff is not None and sharp and edge and sharp > edge),
            "far_below_optimum": bool(eps_opt and lr_eff * LR_FACTOR < eps_opt)}


def _no_learning(ev: dict) -> bool:
    loss = ev["run"]["final_train_loss"]
    return loss is not None and loss >= NO_LEARNING * ev["chance_loss"]


def probe_factors(ev: dict) -> list[float]:
    """The LR factors worth trying: 1/10 after an unstable run, or when the curvature or the noise
    scale at initialization say the step is too large (before the run shows it), or when a batch
    far below the noise scale goes with a validation loss that jumped; both 1/10 and 10 when the
    run fit too little (a rate far too high can also stall quietly, e.g. by killing every ReLU)."""
    sym, geo = symptoms(ev), geometry(ev)
    if unstable(sym):
        return [1 / LR_FACTOR]
    if sym["underfit"]:
        return [1 / LR_FACTOR, LR_FACTOR]
    return [1 / LR_FACTOR] if geo["beyond_edge"] or geo["noise_dominated"] or _noisy_jump(ev, geo) else []


def _noisy_jump(ev: dict, geo: dict) -> bool:
    """A batch far below the noise scale (``geo["noisy_batch"]``) and a validation loss that jumped."""
    return geo["noisy_batch"] and _swings(ev) > 0


def probe_key(factor: float) -> str:
    """Where ``ev["probes"]`` keeps the run at ``factor`` × the LR."""
    return "lower" if factor < 1 else "higher" if factor <= LR_FACTOR else "much_higher"


def update_scale(ev: dict) -> float | None:
    """The median update/weight ratio of the watched run's weight matrices (tensors of 2 or more
    dimensions: a bias starting at zero reads huge) over its probed steps; None when none was read."""
    watch = ev["run"].get("watch") or {}
    shapes = watch.get("shapes") or {}
    ratios = [stats["update_ratio"] for probe in watch.get("probes") or () for name, stats in probe["params"].items()
              if len(shapes.get(name) or ()) >= 2 and stats.get("update_ratio") is not None]
    return statistics.median(ratios) if ratios else None


def further_probe(ev: dict) -> float | None:
    """100x the LR, when the run and its 10x run both learned nothing and the steps are so short
    (update/weight ratio at most ``HEALTHY_UPDATE_RATIO / LR_FACTOR²``) that one factor of 10
    could not reach the healthy range (Adam at 1e-6: its steps are about lr whatever the gradient).
    None otherwise."""
    higher, ratio = ev["probes"].get("higher"), update_scale(ev)
    if not (higher and higher["diverged"] is None and higher["final_train_loss"] is not None and _no_learning(ev)
            and higher["final_train_loss"] >= NO_LEARNING * ev["chance_loss"]):
        return None
    return LR_FACTOR ** 2 if ratio is not None and ratio <= HEALTHY_UPDATE_RATIO / LR_FACTOR ** 2 else None


# ---- the loss curve ----------------------------------------------------------------------------

def noisy_findings(ev: dict) -> list[Finding]:
    """noisy_loss: the validation score oscillates (AUTOTRAINER's rule), or the noise scale says
    the steps are dominated by noise — the SGD step is above the best one for the batch's noise,
    or the batch is far below the noise scale and the validation loss jumped — and the same
    training at 1/10 the LR ends with at most half the validation loss. Either way the message
    gives the batch size the noise scale asks for."""
    geo = geometry(ev)
    common = {"val_losses": _val_losses(ev), "step_loss_noise": ev["run"]["watch"]["curve"]["steps"]["noise"],
              "batch_size": ev["settings"]["batch_size"], "geometry": geo}
    if _oscillating(ev):
        epochs, swings, unit = len(ev["run"]["records"]), _swings(ev), ev["chance_loss"]
        return [finding("noisy_loss", "warning",
                        f"the validation loss rose by {SWING * unit:.3g} or more ({SWING:.0%} of the chance "
                        f"loss {unit:.3g}) in {swings} of {epochs} epochs" + _batch_advice(geo),
                        {"swings": swings, "epochs": epochs, "swing": SWING * unit, "chance_loss": unit, **common})]
    lower, mine = ev["probes"].get("lower"), _val_losses(ev)
    if not ((geo["noise_dominated"] or _noisy_jump(ev, geo)) and lower and lower["diverged"] is None
            and lower.get("final_val_loss") and mine and lower["final_val_loss"] * BETTER <= mine[-1]):
        return []
    why = (f"the step {geo['lr_eff']:.3g} is above the best one for this noise, ε_max / (1 + B_simple / B) = "
           f"{geo['eps_opt']:.3g}" if geo["noise_dominated"] else _jump(ev))
    return [finding("noisy_loss", "warning",
                    f"at batch size {geo['batch_size']} and lr {ev['settings']['lr']:g} the steps are mostly "
                    f"noise: a batch's gradient carries {_signal(geo):.0%} signal, and {why}; the same training "
                    f"at lr {lower['lr']:g} ends with validation loss {lower['final_val_loss']:.4g} instead of "
                    f"{mine[-1]:.4g}" + _batch_advice(geo),
                    {"lr_div10": lower, "swings": _swings(ev), **common})]


def _jump(ev: dict) -> str:
    """The largest epoch-to-epoch rise of the validation loss, in the run's own numbers."""
    losses, unit = _val_losses(ev), ev["chance_loss"]
    rise, epoch = max((b - a, i + 2) for i, (a, b) in enumerate(zip(losses, losses[1:])))
    return (f"the validation loss jumped by {rise:.3g} ({rise / unit:.0%} of the chance loss {unit:.3g}) in epoch "
            f"{epoch}, ending at {losses[-1]:.4g} after a best of {min(losses):.4g}")


def _signal(geo: dict) -> float:
    """The share of a batch gradient's squared norm that is signal, |G|² / (|G|² + tr(Σ)/B)."""
    return geo["batch_size"] / (geo["batch_size"] + geo["b_simple"])


def _batch_advice(geo: dict) -> str:
    """The batch size the gradient noise scale asks for, when it was measured."""
    b_simple = geo["b_simple"]
    if not b_simple or geo["batch_size"] >= b_simple:
        return ""
    bound = "" if geo["b_simple_resolved"] else "more than "
    advice = (f"; the gradient noise scale B_simple = tr(Σ)/|G|² is {bound}{b_simple:.0f} rows at initialization "
              f"(McCandlish et al. 2018): use a batch of about {b_simple:.0f} rows")
    lr = geo["eps_opt"] * geo["lr"] / geo["lr_eff"] if geo["eps_opt"] else None  # ε_opt in the optimizer's lr
    # NOTE: ε_opt comes from the curvature at initialization, which training sharpens (Cohen et al.
    # 2021): a bound above the lr in use says nothing, and is not given as advice.
    if lr is not None and lr < geo["lr"]:
        advice += f", or at batch size {geo['batch_size']} a learning rate of at most {lr:.2g}"
    return advice


def fit_findings(ev: dict) -> list[Finding]:
    """no_nonlinearity, lr_too_high / lr_too_low (confirmed by the 1/10 or 10x run), underfitting,
    overfitting."""
    sym = symptoms(ev)
    found = _linear_findings(ev) + _lr_findings(ev, sym)
    if sym["underfit"] and not found:
        run = ev["run"]
        higher, fitted = ev["probes"].get("higher"), _capacity_shown(ev, sym)
        # NOTE: underfitting's fix is more capacity; when the same model at another LR fits its
        # training rows as well as the reference predicts unseen ones, it has the capacity, and
        # what holds this run back is its training (a softmax before the cross-entropy flattens
        # the gradients: the tiny-subset check names the wiring). Then it is only worth knowing.
        shown = "" if fitted is None else (
            f"; the same model trained at lr {fitted['lr']:g} scores {fitted['train_score']:.3f} on its training "
            f"rows: it has the capacity, and the training setup, not the model's size, holds this run back")
        found.append(finding("underfitting", "info" if fitted else "warning",
                             f"the final model scores {run['train_score']:.3f} on its own training rows; "
                             f"a {ev['reference']['best']} model scores {sym['reference_score']:.3f} on "
                             f"validation rows" + shown,
                             {"train_score": run["train_score"], "val_score": run["val_score"],
                              "reference": ev["reference"], "margin": sym["underfit_margin"], "lr_x10": higher,
                              "capacity_shown_by": fitted}))
    return found + _overfitting(ev)


def _capacity_shown(ev: dict, sym: dict) -> dict | None:
    """The LR probe (same model, same data) whose final model clears the underfitting bar on its
    training rows, the best one; None when none does."""
    bar = sym["reference_score"] - sym["underfit_margin"]
    fits = [p for p in ev["probes"].values() if p["diverged"] is None and p.get("train_score") is not None
            and p["train_score"] >= bar]
    return max(fits, key=lambda p: p["train_score"], default=None)


def _linear_findings(ev: dict) -> list[Finding]:
    """no_nonlinearity: two or more weight layers, yet the model is an affine map of its input."""
    shape = ev.get("affine") or {}
    if not shape.get("affine") or shape.get("weights", 0) < 2:
        return []
    return [finding("no_nonlinearity", "warning",
                    f"the model holds {shape['weights']} weight layers but is an affine map of its input "
                    f"(f((x1 + x2)/2) = (f(x1) + f(x2))/2 to {shape['deviation']:.1e}): with no nonlinearity "
                    f"between them they compute what one linear layer computes", dict(shape))]


def _lr_findings(ev: dict, sym: dict) -> list[Finding]:
    """The clearly better of the 1/10, 10x and 100x runs, if any is; its direction names the code. A
    run that learned nothing (training loss still near the chance loss) at a step 10x below the best
    one the noise scale allows is too slow as soon as the 10x run gets further at all; one whose 10x
    run learned nothing either (``further_probe``: the steps were far too short for one factor of
    10) is too slow when the 100x run learned something."""
    run, lr, first, geo = ev["run"], ev["settings"]["lr"], sym["first_loss"], geometry(ev)
    better = [(key, probe) for key, probe in ev["probes"].items() if _better(probe, run, first)
              or (key == "lower" and unstable(sym) and _better_held_out(probe, ev))]
    higher = ev["probes"].get("higher")
    if not better and higher and _no_learning(ev) and geo["far_below_optimum"] and higher["diverged"] is None \
            and higher["final_train_loss"] is not None and higher["final_train_loss"] < run["final_train_loss"]:
        better = [("higher", higher)]
    much = ev["probes"].get("much_higher")  # run only after this run and the 10x one learned nothing
    if not better and much and much["diverged"] is None and much["final_train_loss"] is not None \
            and much["final_train_loss"] < NO_LEARNING * ev["chance_loss"]:
        better = [("much_higher", much)]
    if not better:
        return []
    key, probe = min(better, key=lambda kp: kp[1]["final_train_loss"])
    if key == "lower":
        what = _instability(sym) if unstable(sym) else (
            f"the final model scores {run['train_score']:.3f} on its own training rows")
        return [finding("lr_too_high", "error" if sym["diverged"] else "warning",
                        f"at lr {lr:g} {what}; the same training at lr {probe['lr']:g} ends with training "
                        f"loss {probe['final_train_loss']:.4g}" + _vs(run) + _held_out(probe, ev) + _edge(geo, lr),
                        {"lr": lr, "symptoms": sym, "lr_div10": probe, "lr_x10": ev["probes"].get("higher"),
                         "geometry": geo})]
    tried = (f" at lr {higher['lr']:g} ends at {higher['final_train_loss']:.4g}, and"
             if key == "much_higher" and higher and higher["final_train_loss"] is not None else "")
    return [finding("lr_too_low", "warning",
                    f"at lr {lr:g} the training loss ends at {run['final_train_loss']:.4g}"
                    + (f" ({run['final_train_loss'] / ev['chance_loss']:.0%} of the chance loss)" if _no_learning(ev)
                       else "") + f"; the same training{tried} at lr {probe['lr']:g} ends at "
                    f"{probe['final_train_loss']:.4g}" + _optimum(geo) + _short_steps(ev, key),
                    {"lr": lr, "symptoms": sym, "lr_x10": higher, "lr_x100": ev["probes"].get("much_higher"),
                     "lr_div10": ev["probes"].get("lower"), "update_ratio": update_scale(ev), "geometry": geo})]


def _short_steps(ev: dict, key: str) -> str:
    """What the update/weight ratio says, when the 100x run was what it took."""
    ratio = update_scale(ev)
    if key != "much_higher" or not ratio:
        return ""
    return (f"; a step moves the weight matrices by {ratio:.2g} of their norm (median update/weight ratio), "
            f"about {HEALTHY_UPDATE_RATIO / ratio:.0f}x short of the {HEALTHY_UPDATE_RATIO:g} of a healthy run "
            f"(CS231n): raise the lr about {LR_FACTOR ** 2:g}x")


def _held_out(probe: dict, ev: dict) -> str:
    mine = _val_losses(ev)
    if probe.get("final_val_loss") is None or not mine:
        return ""
    return f" and validation loss {probe['final_val_loss']:.4g} instead of {mine[-1]:.4g}"


def _edge(geo: dict, lr: float) -> str:
    if not geo["beyond_edge"]:
        return ""
    return (f"; at initialization the loss's sharpest direction has curvature λ_max = {geo['sharpness']:.4g}, above "
            f"the stability edge {geo['edge_rule']} = {geo['edge']:.4g}: lr must stay below "
            f"{lr * geo['edge'] / geo['sharpness']:.3g}")


def _optimum(geo: dict) -> str:
    if not geo["eps_opt"]:
        return ""
    return (f"; the best step for this batch's gradient noise is about {geo['eps_opt']:.3g} "
            f"(ε_max / (1 + B_simple / B), McCandlish et al.), {geo['eps_opt'] / geo['lr_eff']:.3g}x this step")


def _better(probe: dict, run: dict, first: float | None) -> bool:
    """The other LR trained without diverging and ended with 1/``BETTER`` of the loss or made
    ``BETTER`` × the progress from the first step's loss."""
    mine, theirs = run["final_train_loss"], probe["final_train_loss"]
    if probe["diverged"] is not None or theirs is None:
        return False
    if mine is None:
        return True
    # NOTE: progress counts only beyond 1% of the first loss: a run that made none (a stuck model
    # at ln C) is not "twice as fast" at another rate that drifted by 1e-5.
    gained = first is not None and first - theirs > MIN_PROGRESS * first and first - theirs >= BETTER * (first - mine)
    return theirs * BETTER <= mine or gained


def _better_held_out(probe: dict, ev: dict) -> bool:
    """The other LR trained without diverging and ended with at most 1/``BETTER`` of the validation
    loss. NOTE: asked of the 1/10 run only after an unstable run, which can blow up and then settle
    into a sharp, memorizing minimum: a training loss near 0 and a validation loss far above the
    calmer run's."""
    mine = _val_losses(ev)
    theirs = probe.get("final_val_loss")
    return probe["diverged"] is None and theirs is not None and bool(mine) and theirs * BETTER <= mine[-1]


def _instability(sym: dict) -> str:
    if sym["diverged"]:
        return f"the loss became NaN/inf at step {sym['diverged']['step']} (epoch {sym['diverged']['epoch']})"
    if sym["blew_up_at_epoch"]:
        return (f"the mean training loss of epoch {sym['blew_up_at_epoch']} passed {DIVERGE_FACTOR:g}x the "
                f"first step's loss ({sym['first_loss']:.4g})")
    return (f"the training loss fell from {sym['first_loss']:.4g} to {sym['train_loss_min']:.4g}, then rose "
            f"back to {sym['train_loss_last']:.4g}")


def _vs(run: dict) -> str:
    loss = run["final_train_loss"]
    return "" if loss is None else f" instead of {loss:.4g}"


def _overfitting(ev: dict) -> list[Finding]:
    run, scores = ev["run"], val_scores(ev)
    if run["train_score"] is None or run["val_score"] is None:
        return []
    gap = run["train_score"] - run["val_score"]
    window = max(1, round(len(scores) * STALE_SHARE))
    threshold = _margin(OVERFIT_GAP, run["val_score"], ev)
    if gap < threshold or len(scores) <= window:
        return []
    gain = max(scores[-window:]) - max(scores[:-window])
    if gain >= STALE_GAIN:
        return []
    return [finding("overfitting", "warning",
                    f"training score {run['train_score']:.3f} vs validation {run['val_score']:.3f} (gap "
                    f"{gap:.3f}); the last {window} epochs improved the best validation score by "
                    f"{gain:+.3f}", {"train_score": run["train_score"], "val_score": run["val_score"],
                                     "gap": gap, "threshold": threshold, "last_epochs": window,
                                     "gain": gain, "val_scores": scores,
                                     "loss_gap": ev["run"]["watch"]["curve"]["gap"]})]
