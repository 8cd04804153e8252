"""The data, diagnosis and test views: what a run's ``views/`` folder and its vault record.

What a practitioner babysitting a run looks at beyond loss curves (issue 16): the training rows as
the model sees them, the best configuration's layers under watch (update/weight ratio, gradient
norm, dead and saturated units, the signal spread through depth) and the final model's layers side
by side in one table with their heavy-tailed spectral exponent α (issue 18: where a problem is), a
convnet's first-layer filters, the test rows the final model gets most wrong (recorded only after
the vault opened), recall per class, and the vault's log.

Each producer reads files the pipeline wrote (``knobs.pipeline.rundir._views`` says the layout;
``vault/`` is the vault's own record) and yields nothing when its file is absent — a run still
searching, a ``knobs tune`` run, a model without convolutions. Files are read only from inside the
run directory, a thumbnail only by its position (``views/<name>/<i>.png``), never by a path a file
names; every string read is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Iterable

import plotly.graph_objects as go

from knobs.report._views import RunRecord, View

__all__ = ["views", "samples", "watch", "layers", "filters", "worst", "class_recall", "vault_log", "RATIO_BAND",
           "ALPHA_BAND"]

#: the update/weight ratio's rule of thumb (about 1e-3: Karpathy, CS231n notes), as a band of half a
#: decade either side
RATIO_BAND = (10 ** -3.5, 10 ** -2.5)
#: more than a decade off 1e-3: the per-layer table marks it
RATIO_FAR = (1e-4, 1e-2)
# NOTE: the thresholds of knobs.diagnose's findings (AUTOTRAINER, DeepDiagnosis), drawn as lines;
# knobs.report may not import knobs.diagnose (one layer), so they are repeated here.
DEAD, SATURATED = 0.7, 0.5
#: WeightWatcher's reading of the spectral exponent α (knobs.diagnose._spectral.WELL_TRAINED):
#: below 2 over-trained, above 6 under-trained
ALPHA_BAND = (2.0, 6.0)
#: the larger of two files a view reads; anything bigger is not what the pipeline wrote
MAX_JSON, MAX_PNG = 1_000_000, 300_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
THUMB_PX = 56
_SCROLL = "overflow-x:auto;max-width:100%"
# NOTE: a plain white look spelled out, not a template: a template travels inside every figure's JSON
# (about 7 KB each), and the report must stay small enough to mail.
_LOOK = dict(plot_bgcolor="white", paper_bgcolor="white", margin=dict(l=50, r=24, t=10, b=40))
_AXIS = dict(gridcolor="#e5e5e5", linecolor="#999", zeroline=False)
_CELL = "padding:2px 6px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top"


def views(run: RunRecord) -> Iterable[View]:
    """Every view of this module, in page order. Notes are plain text (the page escapes them); HTML
    fragments escape every string they show."""
    for producer in (samples, class_balance, watch, layers, filters, worst, class_recall, vault_log):
        yield from producer(run)


# ---- reading the run directory ---------------------------------------------------------------------

def _inside(run: RunRecord, *parts: str) -> Path | None:
    """``run.path / parts``, or None when there is no such file inside the run directory (a link
    leading out of it counts as none)."""
    if run.path is None:
        return None
    root = Path(run.path).resolve()
    path = root.joinpath(*parts)
    try:
        resolved = path.resolve()
    except OSError:
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved


def _record(run: RunRecord, name: str) -> dict[str, Any] | None:
    path = _inside(run, "views", f"{name}.json")
    if path is None:
        return None
    if path.stat().st_size > MAX_JSON:
        raise ValueError(f"views/{name}.json is {path.stat().st_size} bytes, larger than a view records")
    record = json.loads(path.read_text())
    if not isinstance(record, dict) or not isinstance(record.get("items", []), list):
        raise ValueError(f"views/{name}.json is not a view record")
    return record


def _png(run: RunRecord, name: str, index: int) -> str | None:
    """``views/<name>/<index>.png`` as a ``data:`` URI (None when absent or not a PNG)."""
    path = _inside(run, "views", name, f"{int(index)}.png")
    if path is None or path.stat().st_size > MAX_PNG:
        return None
    content = path.read_bytes()
    if not content.startswith(PNG_SIGNATURE):
        return None
    return "data:image/png;base64," + base64.b64encode(content).decode("ascii")


def _figure(fig: go.Figure) -> dict:
    """The figure as plain JSON, without the template plotly.py writes into every figure (about 7 KB;
    the look is spelled out in ``_LOOK`` and ``_AXIS`` instead)."""
    figure = json.loads(fig.to_json())
    figure.get("layout", {}).pop("template", None)
    return figure


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(uri: str | None, alt: str, px: int = THUMB_PX) -> str:
    if uri is None:
        return f"<span style='display:inline-block;width:{px}px'>(missing)</span>"
    return (f"<img src='{uri}' alt='{_e(alt)}' title='{_e(alt)}' "
            f"style='width:{px}px;height:auto;image-rendering:pixelated;display:block;margin:auto'>")


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table of already escaped cells, scrolling inside its own box."""
    head = "".join(f"<th style='{_CELL}'>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<div style='{_SCROLL}'><table style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _cards(cards: list[str]) -> str:
    return f"<div style='display:flex;flex-wrap:wrap;gap:6px'>{''.join(cards)}</div>"


def _card(image: str, caption: str) -> str:
    return (f"<figure style='margin:0;width:{THUMB_PX + 28}px;text-align:center;font-size:12px'>{image}"
            f"<figcaption style='overflow-wrap:anywhere'>{caption}</figcaption></figure>")


def _number(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _e(f"{value:.4g}")
    return "–" if value is None else _e(value)


# ---- the data as the model sees it -----------------------------------------------------------------

def samples(run: RunRecord) -> Iterable[View]:
    record = _record(run, "samples")
    if record is None:
        return
    items, kind = record.get("items", []), record.get("kind")
    augment = record.get("augment")
    how = (f"after augmentation ({', '.join(f'{k}={v}' for k, v in sorted(augment.items()))})" if augment
           else "no augmentation")
    if kind == "image":
        cards = [_card(_img(_png(run, "samples", i), str(item.get("label"))), _e(item.get("label")))
                 for i, item in enumerate(items)]
        body = _cards(cards)
        note = (f"{len(items)} training images as the model gets them, {how}, standardization undone for the eye; "
                f"check the labels match the pictures and the augmentation keeps them recognizable.")
    elif kind == "text":
        rows = [[_e(item.get("label")), _e(item.get("text")), _e(item.get("seen") or "–"),
                 "<br>".join(_e(s) for s in item.get("augmented") or []) or "–"] for item in items]
        body = _table(["label", "text", "what the model reads", "EDA sentences"], rows)
        note = (f"{len(items)} training texts, the words the model reads (unknown ones as <unk>), and the new "
                f"sentences augmentation makes from them ({how}); check the label still fits each sentence.")
    else:
        columns = items[0].get("columns", []) if items else []
        more = items[0].get("more", 0) if items else 0
        rows = [[_e(item.get("label")), *(_number(v) for v in item.get("values", []))] for item in items]
        body = _table(["label", *(_e(c) for c in columns)], rows)
        if more:
            body += f"<p style='font-size:12px'>… and {int(more)} more columns</p>"
        note = (f"{len(items)} training rows as the model gets them (standardized with training statistics: "
                f"columns near 0 ± 1); a column far outside that or constant deserves a look.")
    yield View("samples", "Training samples as the model sees them", "data", html=body, note=note)


# ---- the best configuration's layers under watch ---------------------------------------------------

def watch(run: RunRecord) -> Iterable[View]:
    record = _record(run, "watch")
    if record is None or not record.get("steps"):
        return
    steps = record["steps"]
    source = _watch_source(record)
    layers = record.get("layers", [])
    if layers:
        fig = _lines(steps, [(layer["name"], layer.get("update_ratio", [])) for layer in layers], "update / weight",
                     log=True)
        fig.add_hrect(y0=RATIO_BAND[0], y1=RATIO_BAND[1], fillcolor="green", opacity=0.12, line_width=0, layer="below")
        fig.add_hline(y=1e-3, line_dash="dot", line_color="green")
        yield View("watch_ratio", "Update / weight ratio per layer", "diagnosis", figure=_figure(fig),
                   note=f"{source}. The green band is the rule of thumb (about 1e-3): far below it a layer barely "
                        f"learns (learning rate too low), far above it the learning rate is likely too high.")
        fig = _lines(steps, [(layer["name"], layer.get("grad_norm", [])) for layer in layers], "gradient norm",
                     log=True)
        yield View("watch_grad", "Gradient norm per layer", "diagnosis", figure=_figure(fig),
                   note=f"{source}. Norms shrinking by orders of magnitude toward the input side mean vanishing "
                        f"gradients; a norm that keeps growing means exploding ones.")
    activations = record.get("activations", [])
    units = [u for u in activations if u.get("stat")]
    if units:
        names = [f"{u['name']} ({u.get('kind')})" for u in units]
        fig = _lines(steps, [(n, u.get("values", [])) for n, u in zip(names, units)],
                     "fraction of units", log=False)
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
        yield View("watch_units", "Dead and saturated units per layer over steps", "diagnosis", figure=_figure(fig),
                   note=f"{source}. Dead: ReLU units silent on a whole batch; saturated: tanh/sigmoid outputs in "
                        f"their flat tails (ELU/SELU/CELU/Softplus: on their flat negative side; GELU/SiLU: in their flat "
                        f"negative tail); either stops "
                        f"learning in that layer.")
        yield View("watch_dead", "Dead and saturated fraction per layer", "diagnosis",
                   figure=_figure(_unit_bars(names, units)),
                   note=f"{source}; the mean of the last three probes. Dashed: where knobs diagnose calls a "
                        f"ReLU layer dying ({DEAD:.0%}) and a tanh/sigmoid/ELU-family/GELU/SiLU layer saturated ({SATURATED:.0%}).")
    spread = _signal_ends(activations)
    if spread:
        yield View("watch_signal", "Signal spread per activation, first and last probe", "diagnosis",
                   figure=_figure(_signal_bars(activations, spread, record.get("feeds") or {})),
                   note=f"{source}. Each activation's output spread across the batch (its units' standard deviation "
                        f"over the samples, root-mean-square over units), input side first; a function called in a "
                        f"forward is named after its caller, as in \"block.relu()\". A spread falling by orders of "
                        f"magnitude from one activation to the next is a signal fading through depth: the layers "
                        f"after it get little of the input, and their gradients vanish with it (Glorot & Bengio, "
                        f"2010).")


def _signal_ends(activations: list[dict]) -> dict[str, tuple[float | None, float | None]]:
    """Activation name → (its signal spread at the first probe, at the last), from the first and
    last probes where it was finite; only activations with a spread recorded (a record written
    before the spread was has none)."""
    ends = {}
    for unit in activations:
        values = [v for v in unit.get("signal_std") or [] if isinstance(v, (int, float)) and math.isfinite(v)]
        if values:
            ends[str(unit.get("name"))] = (values[0], values[-1])
    return ends


def _signal_bars(activations: list[dict], ends: dict[str, tuple], feeds: dict) -> go.Figure:
    names = [str(u.get("name")) for u in activations if str(u.get("name")) in ends]
    kinds = {str(u.get("name")): u.get("kind") for u in activations}
    labels = [f"{n} ({kinds.get(n)})" for n in names]
    fed = [f"after layer {feeds[n]}" if feeds.get(n) else "no layer before it" for n in names]
    fig = go.Figure()
    for i, (when, color) in enumerate((("first probe", "#9ecae1"), ("last probe", "#1f77b4"))):
        ys = [ends[n][i] if ends[n][i] > 0 else None for n in names]
        fig.add_trace(go.Bar(x=labels, y=ys, name=when, marker_color=color, customdata=fed,
                             hovertemplate=f"%{{x}}, %{{customdata}}<br>{when}: %{{y:.3g}}<extra></extra>"))
    fig.update_layout(**_LOOK, height=320, barmode="group", legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title_text="activation (kind), input side first", type="category", **_AXIS)
    fig.update_yaxes(title_text="signal spread", type="log", exponentformat="power", **_AXIS)
    return fig


def layers(run: RunRecord) -> Iterable[View]:
    """One row per weight layer (module names as ``model.named_modules()`` gives them): the watched
    run's median update/weight ratio and gradient norm, the dead or saturated share and the signal
    spread (first and last probe) of the activation it feeds, and the final model's spectral
    exponent α (``views/spectral.json``)."""
    record = _record(run, "watch") or {}
    spectral = _record(run, "spectral") or {}
    rows = _layer_rows(record, spectral.get("layers") or {})
    if not rows:
        return
    header = ["layer", "shape", "update / weight (median)", "gradient norm (median)", "dead units (last probes)",
              "saturated (median)", "signal spread (first → last probe)", "spectral α (final model)"]
    cells = [[f"<code>{_e(r['layer'])}</code>", _e("×".join(str(int(d)) for d in r["shape"])) if r["shape"] else "–",
              _flag(r["update_ratio"], r["update_ratio"] is not None and not RATIO_FAR[0] <= r["update_ratio"] <= RATIO_FAR[1]),
              _flag(r["grad_norm"], False), _share(r["dead"], DEAD, ">="), _share(r["saturated"], SATURATED, ">"),
              _spread(r["signal"]),
              _flag(r["alpha"], r["alpha"] is not None and not ALPHA_BAND[0] <= r["alpha"] <= ALPHA_BAND[1])
              + (f" <small>({_e(r['skipped'])})</small>" if r.get("skipped") else "")]
             for r in rows]
    parts = []
    if record.get("steps"):
        parts.append(_watch_source(record))
    if spectral:
        parts.append(f"α of trial {_e(spectral.get('trial'))}'s final weights (no data needed)")
    note = ("; ".join(parts) + ". Bold: beyond the rule of thumb — an update/weight ratio more than a decade off "
            f"1e-3, dead units at {DEAD:.0%}, saturation over {SATURATED:.0%} (the diagnosis' thresholds), α outside "
            f"[{ALPHA_BAND[0]:g}, {ALPHA_BAND[1]:g}] (WeightWatcher's well-trained range; on small networks it did not "
            f"tell over- from under-trained ones, so it is shown, not judged: docs/benchmarks.md). Signal spread: of the "
            f"activation the layer feeds, at the first probe → the last (see the signal spread view).")
    yield View("watch_layers", "Per layer: update ratio, gradient, dead and saturated units, spectral α", "diagnosis",
               html=_table(header, cells), note=note)
    alphas = [(r["layer"], r["alpha"]) for r in rows if r["alpha"] is not None]
    if alphas:
        fig = go.Figure(go.Bar(x=[n for n, _ in alphas], y=[a for _, a in alphas], marker_color="#1f77b4",
                               hovertemplate="%{x}<br>α %{y:.2f}<extra></extra>"))
        fig.add_hrect(y0=ALPHA_BAND[0], y1=ALPHA_BAND[1], fillcolor="green", opacity=0.12, line_width=0, layer="below")
        fig.update_layout(**_LOOK, height=300)
        fig.update_xaxes(title_text="layer", type="category", **_AXIS)
        fig.update_yaxes(title_text="spectral exponent α", rangemode="tozero", **_AXIS)
        yield View("spectral", "Heavy-tailed spectral exponent α per layer", "diagnosis", figure=_figure(fig),
                   note="The power-law exponent of each weight matrix's eigenvalue tail (WᵀW, fitted as WeightWatcher "
                        "does); the green band is its well-trained range. A measurement only: on this project's small "
                        "networks it did not separate over- from under-trained layers (docs/benchmarks.md).")


def _layer_rows(record: dict, spectral: dict) -> list[dict[str, Any]]:
    """Rows per weight module: the watch's weight tensors (``"net.0.weight"`` → ``"net.0"``) in
    forward order, then any layer only the spectral record has."""
    feeds = record.get("feeds") or {}
    units: dict[str, dict[str, Any]] = {}
    spread = _signal_ends(record.get("activations") or [])
    for unit in record.get("activations") or []:
        layer = feeds.get(unit.get("name")) or str(unit.get("name")).split("#")[0]
        if str(unit.get("name")) in spread:
            units.setdefault(layer, {}).setdefault("signal", spread[str(unit.get("name"))])
        values = [v for v in unit.get("values") or [] if isinstance(v, (int, float))]
        if not values:
            continue
        if unit.get("stat") == "saturated_fraction":
            units.setdefault(layer, {})["saturated"] = _median(values)
        else:
            units.setdefault(layer, {})["dead"] = sum(values[-3:]) / len(values[-3:])
    rows: dict[str, dict[str, Any]] = {}
    for layer in record.get("layers") or []:
        module = str(layer.get("name", "")).rpartition(".")[0] or str(layer.get("name", ""))
        rows[module] = {"layer": module, "shape": layer.get("shape"), "update_ratio": _median(layer.get("update_ratio")),
                        "grad_norm": _median(layer.get("grad_norm"))}
    for module, fit in spectral.items():
        rows.setdefault(module, {"layer": module, "shape": fit.get("shape"), "update_ratio": None, "grad_norm": None})
    for module, row in rows.items():
        fit = spectral.get(module) or {}
        row.update(dead=units.get(module, {}).get("dead"), saturated=units.get(module, {}).get("saturated"),
                   signal=units.get(module, {}).get("signal"),
                   alpha=fit.get("alpha"), skipped=fit.get("skipped"))
    return list(rows.values())


def _spread(ends: tuple[float, float] | None) -> str:
    """The signal spread of the activation a layer feeds, at the first probe → the last."""
    return "–" if ends is None else f"{_number(ends[0])} → {_number(ends[1])}"


def _median(values: Any) -> float | None:
    finite = sorted(v for v in values or [] if isinstance(v, (int, float)) and math.isfinite(v))
    if not finite:
        return None
    mid = len(finite) // 2
    return finite[mid] if len(finite) % 2 else (finite[mid - 1] + finite[mid]) / 2


def _flag(value: Any, bad: bool) -> str:
    text = _number(value)
    return f"<b style='color:#b00'>{text}</b>" if bad and value is not None else text


def _share(value: float | None, threshold: float, how: str) -> str:
    if value is None:
        return "–"
    over = value >= threshold if how == ">=" else value > threshold
    text = _e(f"{value:.0%}")
    return f"<b style='color:#b00'>{text}</b>" if over else text


def _watch_source(record: dict) -> str:
    trial, epochs = record.get("trial"), record.get("epochs")
    every = record.get("every")
    probes = f"one probe every {every} steps" if every else "sampled steps"
    if record.get("source") == "diagnosis":
        return f"From the autopilot's diagnosis of trial {trial} ({epochs} epochs, {probes})"
    if record.get("source") == "refit":
        return f"The refit of trial {trial}'s configuration on every non-test row ({epochs} epochs, {probes})"
    seconds = record.get("seconds")
    cost = f", {seconds:.2g} s" if isinstance(seconds, (int, float)) else ""
    return f"Trial {trial}'s first {epochs} epochs, trained again from its seed under watch ({probes}{cost})"


def _lines(steps: list, series: list[tuple[str, list]], title: str, log: bool) -> go.Figure:
    fig = go.Figure()
    for name, values in series:
        ys = [v if isinstance(v, (int, float)) and (not log or v > 0) and math.isfinite(v) else None for v in values]
        fig.add_trace(go.Scatter(x=steps[:len(ys)], y=ys, mode="lines+markers", marker_size=3, name=str(name),
                                 hovertemplate=f"{_e(name)}<br>step %{{x}}<br>%{{y:.3g}}<extra></extra>"))
    fig.update_layout(**_LOOK, height=340, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title_text="training step", **_AXIS)
    fig.update_yaxes(title_text=title, type="log" if log else "linear", **_AXIS)
    if log:
        fig.update_yaxes(exponentformat="power")
        shown = [v for _, values in series for v in values if isinstance(v, (int, float)) and v > 0]
        if shown and max(shown) / min(shown) > 10:
            fig.update_yaxes(dtick=1)  # NOTE: one label per decade; the 2 and 5 between them collide at 420 px
    return fig


def _unit_bars(names: list[str], units: list[dict]) -> go.Figure:
    values = []
    for unit in units:
        last = [v for v in unit.get("values", []) if isinstance(v, (int, float))][-3:]
        values.append(sum(last) / len(last) if last else None)
    colors = ["#d62728" if u.get("stat") == "saturated_fraction" else "#1f77b4" for u in units]
    fig = go.Figure(go.Bar(x=names, y=values, marker_color=colors,
                           hovertemplate="%{x}<br>%{y:.1%}<extra></extra>"))
    kinds = {u.get("stat") for u in units}
    if "dead_fraction" in kinds:
        fig.add_hline(y=DEAD, line_dash="dash", line_color="#1f77b4")
    if "saturated_fraction" in kinds:
        fig.add_hline(y=SATURATED, line_dash="dash", line_color="#d62728")
    fig.update_layout(**_LOOK, height=300)
    fig.update_xaxes(title_text="layer (activation)", type="category", **_AXIS)
    fig.update_yaxes(title_text="fraction of units", range=[0, 1.02], tickformat=".0%", **_AXIS)
    return fig


# ---- the first layer's filters ---------------------------------------------------------------------

def filters(run: RunRecord) -> Iterable[View]:
    record = _record(run, "filters")
    if record is None:
        return
    uri = _png(run, "filters", 0)
    if uri is None:
        return
    shape = record.get("shape") or []
    columns = int(record.get("columns") or 8)
    width = min(400, max(120, columns * 8 * ((shape[3] + 1) if len(shape) == 4 else 4)))
    body = (f"<img src='{uri}' alt='first-layer filters' style='width:{width}px;max-width:100%;height:auto;"
            f"image-rendering:pixelated'>")
    what = " × ".join(str(int(s)) for s in shape) if shape else "?"
    yield View("filters", "First-layer filters of the final model", "diagnosis", html=body,
               note=f"Layer {record.get('layer')} ({what}: filters × channels × height × width) of trial "
                    f"{record.get('trial')}, each filter scaled to its own range; smooth, varied edge and colour "
                    f"detectors are healthy, noise-like or identical filters mean too little training or a too high "
                    f"learning rate.")


# ---- the test split, after the vault opened --------------------------------------------------------

def worst(run: RunRecord) -> Iterable[View]:
    record = _record(run, "worst")
    if record is None:
        return
    items, kind = record.get("items", []), record.get("kind")
    classes, labels = record.get("task") == "classification", record.get("task") in ("multilabel", "segmentation")
    pixels = record.get("task") == "segmentation"
    final = record.get("final_model") or "final"

    def verdict(item: dict) -> str:
        if classes:
            return (f"true {_e(item.get('true'))} → {_e(item.get('predicted'))} "
                    f"(p {_number(item.get('p_predicted'))})")
        if labels:
            return f"true {_e(item.get('true'))} → {_e(item.get('predicted'))} (loss {_number(item.get('loss'))})"
        return f"true {_number(item.get('true'))}, predicted {_number(item.get('predicted'))}"

    if kind == "image":
        body = _cards([_card(_img(_png(run, "worst", i), f"row {item.get('id', item.get('row'))}"), verdict(item))
                       for i, item in enumerate(items)])
    else:
        lead = (["true", "predicted", "p(predicted)", "p(true)"] if classes else
                ["true classes", "predicted classes", "pixels right", "loss"] if pixels else
                ["true labels", "predicted labels", "loss"] if labels else ["true", "predicted", "error"])
        keys = (["true", "predicted", "p_predicted", "p_true"] if classes else
                ["true", "predicted", "p_true", "loss"] if pixels else
                ["true", "predicted", "loss"] if labels else ["true", "predicted", "error"])
        if kind == "text":
            header, rows = ["row", *lead, "text (as the model reads it)"], [
                [_e(item.get("id", item.get("row"))), *(_number(item.get(k)) for k in keys),
                 _e(item.get("text") or "–")]
                for item in items]
        else:
            columns = items[0].get("columns", []) if items else []
            header = ["row", *lead, *(_e(c) for c in columns)]
            rows = [[_e(item.get("id", item.get("row"))), *(_number(item.get(k)) for k in keys),
                     *(_number(v) for v in item.get("values", []))] for item in items]
        body = _table(header, rows)
    measure = ("highest loss (lowest probability of the true class)" if classes else
               "highest loss (their labelled pixels' mean −log p of the true class)" if pixels else
               "highest loss (the mean binary cross-entropy of their labels)" if labels else
               f"largest {record.get('ranked_by') or 'absolute error'}")
    shown = (" Each picture: the image, its true classes and the predicted ones (a colour per class, black: no "
             "class)." if pixels and kind == "image" else "")
    yield View("worst", "Worst-predicted test examples", "test", html=body,
               note=f"The {len(items)} of {record.get('n')} test rows with the {measure} under the {final} model, "
                    f"recorded after the vault's one opening; look for wrong labels, ambiguous rows and a class "
                    f"the model confuses.{shown}")


def class_recall(run: RunRecord) -> Iterable[View]:
    test = run.summary.get("test") or {}
    recall = test.get("per_class_recall")
    if not recall:
        return
    record = _record(run, "worst") or {}
    names = record.get("class_names") or [str(i) for i in range(len(recall))]
    support = test.get("support") or [None] * len(recall)
    labels = [str(n) for n in names][:len(recall)] + [str(i) for i in range(len(names), len(recall))]
    fig = go.Figure(go.Bar(x=labels, y=recall, customdata=support,
                           hovertemplate="class %{x}<br>recall %{y:.1%}<br>%{customdata} test rows<extra></extra>"))
    if test.get("balanced_accuracy") is not None:
        fig.add_hline(y=test["balanced_accuracy"], line_dash="dot", line_color="gray")
    fig.update_layout(**_LOOK, height=300)
    fig.update_xaxes(title_text="class", type="category", **_AXIS)
    fig.update_yaxes(title_text="recall on the test split", range=[0, 1.02], tickformat=".0%", **_AXIS)
    yield View("class_recall", "Test recall per class", "test", figure=_figure(fig),
               note="The share of each class's test rows predicted right (the dotted line: their mean, the balanced "
                    "accuracy); a low bar names the class to look at, with few rows it is noisy.")


# ---- class imbalance -------------------------------------------------------------------------------

def class_balance(run: RunRecord) -> Iterable[View]:
    """How ``[balance]`` treated the classes of the final model's training rows: each class's rows before and after
    resampling (or its expected draws per epoch when oversampled) and its weight in the loss."""
    applied = (run.summary.get("practices") or {}).get("balance_applied") or {}
    before = applied.get("counts_before") or []
    if not before:
        return
    data = run.summary.get("data") or {}
    task = data.get("task")
    unit = "rows carrying it" if task == "multilabel" else "pixels" if task == "segmentation" else "rows"
    names = data.get("class_names") or []
    names = [str(n) for n in names] if len(names) == len(before) else [str(k) for k in range(len(before))]
    after, weights, sampler = applied.get("counts_after") or before, applied.get("class_weights"), applied.get("sampler")
    present = sum(1 for n in before if n)
    columns = [("training " + unit, before)]
    if after != before:
        columns.append((f"after {sampler}", after))
    if sampler == "oversample":  # each present class drawn with probability 1 / classes present, n draws an epoch
        columns.append(("drawn per epoch (expected)", [round(sum(before) / present) if n else 0 for n in before]))
    if weights:
        columns.append(("loss weight" if task != "multilabel" else "weight of its positives", weights))
    rows = [[_e(name), *(_e(f"{values[k]:,}") if isinstance(values[k], int) else _number(values[k])
                         for _, values in columns)] for k, name in enumerate(names)]
    body = _table(["label" if task == "multilabel" else "class", *(title for title, _ in columns)], rows)
    treatments = ["class weights in the loss" if weights else "", f"sampler {sampler}" if sampler not in (None, "none") else "",
                  f"focal loss (γ {applied.get('focal_gamma')})" if applied.get("loss") == "focal" else "",
                  f"a decision threshold tuned for {applied.get('threshold')}" if applied.get("threshold") not in (None, "none") else ""]
    done = ", ".join(t for t in treatments if t) or "none"
    largest, smallest = max(before), min(n for n in before if n) if present else 0
    note = (f"[balance] on the training split only ({done}); validation and test keep their class mix. The largest "
            f"class has {largest / smallest:.3g}x the {unit.split(' ')[0]} of the smallest." if smallest else
            f"[balance] on the training split only ({done}); validation and test keep their class mix.")
    yield View("class_balance", "Class imbalance and its treatment", "data", html=body, note=note)


# ---- the vault -------------------------------------------------------------------------------------

def vault_log(run: RunRecord) -> Iterable[View]:
    sealed_path = _inside(run, "vault", "fingerprint.json")
    if sealed_path is None:
        return
    sealed = json.loads(sealed_path.read_text())
    openings, damaged = [], 0
    log = _inside(run, "vault", "openings.jsonl")
    for line in (log.read_text().splitlines() if log is not None else []):
        try:
            entry = json.loads(line)
        except ValueError:
            damaged += 1
            continue
        openings.append(entry if isinstance(entry, dict) else {})
    meta = sealed.get("meta") or {}
    facts = [("sealed", sealed.get("created_at")), ("test rows", sealed.get("n")),
             ("fingerprint (SHA-256 of the sealed arrays)", sealed.get("sha256")),
             ("test rows' ids (SHA-256)", meta.get("test_rows_sha256")), ("data", meta.get("source")),
             ("split seed", meta.get("seed"))]
    body = _table(["", ""], [[_e(k), f"<code style='overflow-wrap:anywhere'>{_e(v)}</code>"]
                             for k, v in facts if v is not None])
    rows = [[_e(o.get("count", i + 1)), _e(o.get("time")), _e(o.get("reason")), _e(o.get("pid"))]
            for i, o in enumerate(openings)]
    body += _table(["opening", "time (UTC)", "by", "process"], rows) if rows else "<p>Not opened yet: sealed.</p>"
    if damaged:
        body += f"<p class='fail'>{damaged} line(s) of vault/openings.jsonl could not be read.</p>"
    n = len(openings) + damaged
    note = ("Sealed, never opened: no decision of this run has seen the test split." if n == 0 else
            "Opened once, for the final evaluation: the test score is an unbiased estimate." if n == 1 else
            f"Opened {n} times: every look after the first can leak the test split into choices, so the test "
            f"score is optimistic.")
    yield View("vault", "The test vault's log", "test", html=body, note=note)
