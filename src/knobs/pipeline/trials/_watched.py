"""The best configuration's layers under ``knobs.watch``: per-layer series for ``views/watch.json``.

Why a record of its own: the report's diagnosis views (update/weight ratio, gradient norm, dead and
saturated units per layer over steps) need the per-step probes of one training run, which no
trial keeps (watching every trial would cost every trial). Three sources, cheapest first:
- the autopilot's diagnosis already trains the configuration it diagnoses under a ``Watch``; its
  probes are recorded as they are (``record_diagnosis``), with no extra training;
- the fold mode's refit retrains the best configuration anyway; it runs under a ``Watch``
  (``refit_watch``, ``record_refit``);
- otherwise ``watched_replay`` trains the best trial's configuration again, from its seed (the
  same initial weights and batches as the trial), for the first epochs only, with a ``Watch``.

Each activation keeps its dead or saturated share (``stat``, ``values``) and its ``signal_std`` per probe, named as the probes name it (``"block.relu()"`` for a
function called in ``block``'s forward). Only weight tensors (two or more dimensions) are kept:
the update/weight rule of thumb (about 1e-3, Karpathy's CS231n notes) is about weights, and biases
would double the lines.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from knobs.pipeline.rundir._views import VIEWS_DIR, rounded, write_view
from knobs.pipeline.trials._objective import StopAfter
from knobs.watch import Watch
from knobs.watch._stats import DEAD_KINDS, SATURATING_KINDS

__all__ = ["watch_record", "record_diagnosis", "record_refit", "refit_watch", "recorded_trial", "watched_replay",
           "MAX_PROBES"]

#: the most probes a record keeps (a longer run is probed more sparsely): the record stays a few KB
MAX_PROBES = 48
WATCH_FILE = "watch"


def watch_record(watch: dict[str, Any], trial: int | None, source: str, **facts: Any) -> dict[str, Any]:
    """``Watch.to_dict()`` → per-layer series over the probed steps (4 significant digits)."""
    probes = watch.get("probes") or []
    if len(probes) > MAX_PROBES:
        stride = math.ceil(len(probes) / MAX_PROBES)
        probes = probes[::stride]
    shapes = watch.get("shapes") or {}
    order = watch.get("layer_order") or list(shapes)
    weights = [n for n in order if len(shapes.get(n, [])) >= 2] or list(order)
    layers = [{"name": name, "shape": shapes.get(name),
               "update_ratio": [rounded(p["params"].get(name, {}).get("update_ratio")) for p in probes],
               "grad_norm": [rounded(p["params"].get(name, {}).get("grad_norm")) for p in probes]}
              for name in weights]
    modules: dict[str, str] = {}
    for probe in probes:
        for module, stats in probe.get("activations", {}).items():
            modules.setdefault(module, stats.get("kind"))
    activations = []
    for module, kind in modules.items():
        key = _unit_stat(kind)

        def series(stat: str, module: str = module) -> list:
            return [rounded(p.get("activations", {}).get(module, {}).get(stat)) for p in probes]

        activations.append({"name": module, "kind": kind, "stat": key, "values": series(key) if key else [],
                            "signal_std": series("signal_std")})
    return {"format": 1, "trial": trial, "source": source, **facts, "every": watch.get("every"),
            "steps": [p["step"] for p in probes], "epochs_at": [p.get("epoch") for p in probes],
            "train_loss": [rounded(e.get("train_loss"), 6) for e in watch.get("epochs") or []],
            "layers": layers, "activations": activations, "feeds": dict(watch.get("feeds") or {})}


def _unit_stat(kind: str | None) -> str | None:
    """The share a unit view draws for an activation kind: saturation for tanh/sigmoid/ELU/SELU/CELU/
    Softplus/GELU/SiLU, dead units for the ReLUs, none for an unknown kind."""
    return "saturated_fraction" if kind in SATURATING_KINDS else "dead_fraction" if kind in DEAD_KINDS else None


def record_diagnosis(run_path: str | Path, trial: int, evidence: dict[str, Any]) -> bool:
    """Write the probes of a diagnosis's watched run (``Report.evidence``) for ``trial``; False when
    the diagnosis trained nothing (it stopped at a data error)."""
    watch = (evidence.get("run") or {}).get("watch")
    if not watch:
        return False
    epochs = len(evidence["run"].get("records") or [])
    write_view(run_path, WATCH_FILE, watch_record(watch, trial, "diagnosis", epochs=epochs))
    return True


def refit_watch(epochs: int, rows: int, batch_size: int) -> Watch:
    """The ``Watch`` of a fold-mode refit (about ``MAX_PROBES`` probes over its ``epochs``)."""
    return Watch(every=max(1, math.ceil(epochs * math.ceil(rows / batch_size) / MAX_PROBES)))


def record_refit(run_path: str | Path, trial: int, watch: Watch) -> None:
    """Write the probes of the fold mode's refit of ``trial`` (the best configuration retrained on
    every non-test row: the retraining that happens anyway, watched at no extra training)."""
    write_view(run_path, WATCH_FILE, watch_record(watch.to_dict(), trial, "refit", epochs=len(watch.epochs)))


def recorded_trial(run_path: str | Path) -> int | None:
    """The trial ``views/watch.json`` watched, or None when there is none."""
    import json

    path = Path(run_path) / VIEWS_DIR / f"{WATCH_FILE}.json"
    try:
        return json.loads(path.read_text()).get("trial")
    except (OSError, ValueError, AttributeError):
        return None


def watched_replay(objective: Any, params: dict[str, Any], data: Any, seed: int, epochs: int,
                   steps_per_epoch: int) -> tuple[dict[str, Any], float]:
    """Train ``params`` from ``seed`` for ``epochs`` epochs under a ``Watch`` (``objective`` a
    ``TrialObjective``: the trial's model, practices and trainer); return (``Watch.to_dict()``,
    seconds). About ``MAX_PROBES`` probes over the whole replay."""
    watch = Watch(every=max(1, math.ceil(epochs * steps_per_epoch / MAX_PROBES)))
    start = time.perf_counter()
    # NOTE: with validation, as the trial trained (a plateau schedule reads it), stopped after ``epochs``
    objective.fit(params, data, seed, [watch, StopAfter(epochs)])
    return watch.to_dict(), time.perf_counter() - start
