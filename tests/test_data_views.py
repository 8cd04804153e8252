"""The data, diagnosis and test views (issue 16): what the pipeline records under <run>/views/ and
how knobs.report._data_views draws it — training samples as the model sees them, the best trial's
layers under watch, first-layer filters, the worst test rows (only after the vault opened), recall
per class, and the vault's log."""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image
from torch import nn

from knobs.config import load_config
from knobs.data import Vault
from knobs.pipeline import Display, run
from knobs.pipeline.rundir._views import write_view
from knobs.pipeline.stages import _record_views as recorders
from knobs.pipeline.trials._watched import record_diagnosis, recorded_trial, watch_record
from knobs.report import _data_views as dv
from knobs.report._views import RunRecord, collect_views
from knobs.study import Study
from knobs.train import Trainer
from knobs.trial import FrozenTrial, TrialState
from knobs.watch import Watch

FAST = {"search.n_trials": 3, "search.sampler": "random", "train.epochs": 4, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 16, "high": 32},
                         "depth": 1, "optimizer": "adam"}}
VIEWS_BUDGET = 300_000  # bytes of a whole run's views/ (the report must stay under 1.5 MB)


def _cfg(tmp_path, **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "v", **more})


def _record(path, summary=None):
    summary = summary if summary is not None else json.loads((path / "summary.json").read_text())
    return RunRecord(summary=summary, trials=(), path=path)


def _views(path, summary=None):
    return {v.key: v for v in dv.views(_record(path, summary))}


def _checked(views):
    """Each figure loads in plotly; each fragment carries no script and no external URL."""
    for view in views.values():
        assert view.section in ("data", "diagnosis", "test")
        if view.figure is not None:
            go.Figure(view.figure)
            json.dumps(view.figure)
        if view.html is not None:
            assert "<script" not in view.html.lower() and "http://" not in view.html and "https://" not in view.html
    return views


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(path.read_bytes())))


def _events(path):
    return [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]


# ---- the views, from recorded files ----------------------------------------------------------------

def test_the_class_balance_view_shows_each_class_before_and_after_its_treatment():
    summary = {"data": {"task": "classification", "class_names": ["common", "rare"]},
               "practices": {"balance_applied": {"loss": "focal", "focal_gamma": 2.0, "sampler": "undersample",
                                                 "threshold": "none", "class_weights": [0.55, 5.48],
                                                 "counts_before": [2090, 21], "counts_after": [21, 21]}}}
    [view] = _checked({v.key: v for v in dv.class_balance(RunRecord(summary=summary, trials=()))}).values()
    assert view.key == "class_balance" and view.section == "data"
    assert re.findall(r">([^<]*)</td>", view.html)[:4] == ["common", "2,090", "21", "0.55"]
    assert "class weights in the loss, sampler undersample, focal loss (γ 2.0)" in view.note
    assert "99.5x the rows" in view.note
    oversampled = {**summary["practices"]["balance_applied"], "sampler": "oversample", "counts_after": [2090, 21],
                   "class_weights": None, "loss": "ce"}
    [view] = dv.class_balance(RunRecord(summary={**summary, "practices": {"balance_applied": oversampled}}, trials=()))
    assert "drawn per epoch (expected)" in view.html and re.findall(r">([^<]*)</td>", view.html)[3:] == ["rare", "21",
                                                                                                          "1,056"]
    assert list(dv.class_balance(RunRecord(summary={"practices": {"balance_applied": None}}, trials=()))) == []


def test_no_views_folder_no_view(tmp_path):
    assert list(dv.views(RunRecord(summary={}, trials=()))) == []
    assert list(dv.views(RunRecord(summary={}, trials=(), path=tmp_path))) == []


def test_image_samples_and_worst_rows_show_thumbnails_with_escaped_labels(tmp_path):
    pictures = [np.full((8, 8), 40 * i, dtype=np.uint8) for i in range(3)]
    write_view(tmp_path, "samples", {"kind": "image", "augment": {"hflip": 0.5},
                                     "items": [{"label": "<b>cat</b>"}, {"label": "dog"}, {"label": "7 0.80 + 1 0.20"}]},
               images=pictures)
    write_view(tmp_path, "worst", {"kind": "image", "task": "classification", "final_model": "single", "n": 30,
                                   "items": [{"row": 4, "id": "img/<x>.png", "true": "cat", "predicted": "dog",
                                              "p_predicted": 0.9, "p_true": 0.05}]}, images=pictures[:1])
    views = _checked(_views(tmp_path, {}))
    assert list(views) == ["samples", "worst"]
    samples = views["samples"].html
    assert samples.count("data:image/png;base64,") == 3 and "&lt;b&gt;cat&lt;/b&gt;" in samples and "<b>cat" not in samples
    assert "hflip=0.5" in views["samples"].note
    worst = views["worst"].html
    assert "true cat → dog (p 0.9)" in worst and "img/&lt;x&gt;.png" in worst
    assert "after the vault" in views["worst"].note


def test_text_and_table_rows_are_escaped_tables(tmp_path):
    write_view(tmp_path, "samples", {"kind": "text", "items": [
        {"label": "pos", "text": "<script>alert(1)</script> great", "seen": "<unk> great",
         "augmented": ["great <script>"]}]})
    write_view(tmp_path, "worst", {"kind": "table", "task": "regression", "n": 9, "items": [
        {"row": 2, "true": 10.0, "predicted": 4.5, "error": -5.5, "columns": ["age", "a<b"], "values": [0.5, None],
         "more": 0}]})
    views = _checked(_views(tmp_path, {}))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in views["samples"].html and "&lt;unk&gt; great" in views["samples"].html
    assert "a&lt;b" in views["worst"].html and "-5.5" in views["worst"].html
    assert "largest absolute error" in views["worst"].note
    assert "class_recall" not in views  # a regression run's summary has no recall


def test_watch_views_draw_each_weight_layer_with_the_rule_of_thumb_band(tmp_path):
    torch.manual_seed(0)
    X, y = torch.randn(128, 6), torch.randint(0, 3, (128,))
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
    watch = Watch(every=2)
    Trainer(optimizer="sgd", lr=0.05, epochs=3, batch_size=16, callbacks=[watch], seed=0).fit(net, (X, y), (X, y))
    record = watch_record(watch.to_dict(), 5, "replay", epochs=3, seconds=0.2)
    assert [layer["name"] for layer in record["layers"]] == ["0.weight", "2.weight", "4.weight"]  # no biases
    assert {a["stat"] for a in record["activations"]} == {"dead_fraction", "saturated_fraction"}
    assert len(record["steps"]) == len(watch.probes) == 12 and len(record["train_loss"]) == 3
    write_view(tmp_path, "watch", record)
    views = _checked(_views(tmp_path, {}))
    assert list(views) == ["watch_ratio", "watch_grad", "watch_units", "watch_dead", "watch_signal", "watch_layers"]
    ratio = views["watch_ratio"].figure
    assert ratio["layout"]["yaxis"]["type"] == "log" and len(ratio["data"]) == 3
    band = next(s for s in ratio["layout"]["shapes"] if s["type"] == "rect")
    assert band["y0"] < 1e-3 < band["y1"]
    assert "Trial 5's first 3 epochs" in views["watch_ratio"].note
    bars = views["watch_dead"].figure["data"][0]
    assert bars["type"] == "bar" and list(bars["x"]) == ["1 (relu)", "3 (tanh)"] and all(0 <= v <= 1 for v in bars["y"])
    assert "template" not in ratio["layout"]  # no 7 KB theme in every figure


def test_the_per_layer_table_joins_probes_units_and_spectral_alpha_by_module_name(tmp_path):
    torch.manual_seed(0)
    X, y = torch.randn(128, 12), torch.randint(0, 3, (128,))
    net = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3))
    with torch.no_grad():
        net[0].bias.fill_(-50.0)  # every unit of layer 0 is off: its ReLU is dead
    watch = Watch(every=2)
    Trainer(optimizer="sgd", lr=0.05, epochs=2, batch_size=16, callbacks=[watch], seed=0).fit(net, (X, y), (X, y))
    record = watch_record(watch.to_dict(), 5, "replay", epochs=2)
    assert record["feeds"] == {"1": "0", "3": "2"}
    write_view(tmp_path, "watch", record)
    from knobs.diagnose._spectral import layer_spectra

    write_view(tmp_path, "spectral", {"format": 1, "trial": 5, "layers": layer_spectra(net)})
    views = _checked(_views(tmp_path, {}))
    table = views["watch_layers"].html
    rows = table.split("<tr>")[2:]
    assert [r.split("<code>")[1].split("</code>")[0] for r in rows] == ["0", "2", "4"]  # named_modules() names
    dead, tanh, head = rows
    assert "<b style='color:#b00'>100%</b>" in dead  # the dead units, on the layer that feeds the ReLU
    assert "%" in tanh.split("</td>")[5] and "fewer than 10" in head  # saturation measured; 3 eigenvalues: no α
    alpha = views["spectral"].figure
    assert list(alpha["data"][0]["x"]) == ["0", "2"] and all(a > 1 for a in alpha["data"][0]["y"])
    band = alpha["layout"]["shapes"][0]
    assert (band["y0"], band["y1"]) == dv.ALPHA_BAND
    assert "α of trial 5's final weights" in views["watch_layers"].note


def test_the_per_layer_table_shows_alpha_alone_when_no_probes_were_recorded(tmp_path):
    write_view(tmp_path, "spectral", {"format": 1, "trial": 2, "layers": {
        "features.0": {"alpha": 7.5, "shape": [16, 3, 3, 3]}, "<b>": {"alpha": 3.0, "shape": [10, 64]}}})
    views = _checked(_views(tmp_path, {}))
    assert list(views) == ["watch_layers", "spectral"]
    html = views["watch_layers"].html
    assert "<b style='color:#b00'>7.5</b>" in html and "&lt;b&gt;" in html  # outside [2, 6]: marked; names escaped
    assert "16×3×3×3" in html


def test_filter_grid_scales_each_filter_to_its_own_range():
    weights = np.zeros((5, 1, 3, 3), dtype=np.float32)
    weights[0, 0] = np.arange(9).reshape(3, 3) * 1e-3  # tiny and large filters alike span black to white
    weights[1, 0] = np.arange(9).reshape(3, 3) * 10
    grid, columns = recorders.filter_grid(weights)
    assert columns == 3 and grid.shape == (2 * 4 + 1, 3 * 4 + 1)
    first, second = grid[1:4, 1:4], grid[1:4, 5:8]
    assert first.min() == second.min() == 0 and first.max() == second.max() == 255
    rgb, _ = recorders.filter_grid(np.random.default_rng(0).normal(size=(4, 3, 5, 5)))
    assert rgb.shape == (2 * 6 + 1, 2 * 6 + 1, 3)


def test_a_link_out_of_the_run_is_not_read_and_a_bad_record_is_one_error_view(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(_png_bytes())
    run_dir = tmp_path / "run"
    write_view(run_dir, "samples", {"kind": "image", "items": [{"label": "a"}]}, images=[np.zeros((4, 4), np.uint8)])
    (run_dir / "views/samples/0.png").unlink()
    (run_dir / "views/samples/0.png").symlink_to(outside)
    html = _views(run_dir, {})["samples"].html
    assert "data:image" not in html and "(missing)" in html
    (run_dir / "views/worst.json").write_text("[1, 2]")
    views = collect_views(_record(run_dir, {}), [dv.worst])
    assert len(views) == 1 and views[0].key.startswith("error:") and "not a view record" in views[0].html


def _png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("L", (2, 2)).save(out, format="PNG")
    return out.getvalue()


def test_vault_log_lists_the_sealing_and_each_opening(tmp_path):
    assert list(dv.vault_log(_record(tmp_path, {}))) == []
    vault = Vault.seal(tmp_path / "vault", np.zeros((4, 2)), np.arange(4), meta={"source": "<digits>", "seed": 3})
    (sealed,) = dv.vault_log(_record(tmp_path, {}))
    assert "Not opened yet" in sealed.html and "never opened" in sealed.note and vault.fingerprint in sealed.html
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vault.open(reason="final evaluation (single model)")
        vault.open(reason="a <second> look")
    with (tmp_path / "vault/openings.jsonl").open("a") as handle:
        handle.write('{"time": "half a li')
    (view,) = dv.vault_log(_record(tmp_path, {}))
    assert "final evaluation (single model)" in view.html and "a &lt;second&gt; look" in view.html
    assert "&lt;digits&gt;" in view.html and "1 line(s)" in view.html and "Opened 3 times" in view.note


def test_recall_per_class_comes_from_the_summary_with_class_names(tmp_path):
    write_view(tmp_path, "worst", {"kind": "table", "task": "classification", "n": 6, "class_names": ["no", "yes"],
                                   "items": []})
    summary = {"test": {"per_class_recall": [0.5, 1.0], "support": [2, 4], "balanced_accuracy": 0.75}}
    view = _checked(_views(tmp_path, summary))["class_recall"]
    assert list(view.figure["data"][0]["x"]) == ["no", "yes"] and list(view.figure["data"][0]["y"]) == [0.5, 1.0]
    assert list(dv.class_recall(_record(tmp_path, {"test": None}))) == []


# ---- the watch record: the diagnosis's probes, or a replay only when cheap ------------------------

class _Events(list):
    def __call__(self, event, **fields):
        self.append({"event": event, **fields})


def test_the_autopilots_diagnosis_is_recorded_and_not_trained_again(tmp_path):
    """What the autopilot's diagnosis watched is kept for the best trial; another trial's record is
    replaced only when a replay fits the budget (here it does not: the event says what it would cost)."""
    from types import SimpleNamespace

    from knobs.diagnose._evidence import Settings, watched_run

    torch.manual_seed(0)
    X, y = torch.randn(96, 5), torch.randint(0, 2, (96,))
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    # the watched run of a diagnosis, as Report.evidence["run"] holds it (the whole diagnosis takes longer)
    evidence = {"run": watched_run(net, (X, y), (X, y), Settings(optimizer="adam", epochs=2, batch_size=16), every=2)}
    assert not record_diagnosis(tmp_path, 7, {"run": None})  # a diagnosis stopped by a data error watched nothing
    assert record_diagnosis(tmp_path, 7, evidence) and recorded_trial(tmp_path) == 7
    record = json.loads((tmp_path / "views/watch.json").read_text())
    assert record["source"] == "diagnosis" and record["epochs"] == 2 and record["layers"][0]["name"] == "0.weight"

    # two trials of 10 s and 4 epochs each: a watched epoch (2.5 s) is over 2% of 20 s of training
    trials = [FrozenTrial(number=i, config={"lr": 0.01}, state=TrialState.COMPLETE, value=v, started_at=100.0 * i,
                          finished_at=100.0 * i + 10, attrs={"epochs_run": 4, "best_epoch": 4})
              for i, v in enumerate((0.9, 0.5))]
    events = _Events()
    fake = SimpleNamespace(study=SimpleNamespace(trials=trials), cfg=_cfg(tmp_path),
                           rundir=SimpleNamespace(path=tmp_path), events=events, inputs=None)
    record_diagnosis(tmp_path, 1, evidence)
    before = (tmp_path / "views/watch.json").read_bytes()
    recorders.record_watch(fake, None)  # the diagnosis watched the best trial: nothing to train
    assert events == [] and (tmp_path / "views/watch.json").read_bytes() == before
    record_diagnosis(tmp_path, 0, evidence)
    recorders.record_watch(fake, None)  # another trial's record, and no budget for a replay
    assert [e["view"] for e in events] == ["watch"] and events[0]["reason"] == (
        "a watched epoch of trial 1 would take about 2.5 s, over 2% of the search's 20 s of training")


# ---- end to end: what runs record --------------------------------------------------------------------

@pytest.mark.slow
def test_tune_records_no_test_row_and_run_records_the_worst_after_the_vault_opened(tmp_path, monkeypatch):
    from knobs.pipeline.inputs._row_looks import RowLooks
    from knobs.pipeline.stages._inputs import load_inputs

    # no share of the search's time for a replay, whatever the trials' durations: on a loaded machine the first
    # trial's start-up can make 2% of the search worth an epoch of the fastest trial (CI saw it once)
    monkeypatch.setattr(recorders, "WATCH_SHARE", 0.0)
    tuned = run(_cfg(tmp_path), display=Display(quiet=True), final_test=False)
    d = tuned.path
    assert (d / "views/samples.json").exists() and not (d / "views/worst.json").exists()
    assert not (d / "views/worst").exists() and not (d / "vault/openings.jsonl").exists()
    # no room for a watched replay: said, not done
    assert any(e["event"] == "views_skipped" and e["view"] == "watch" for e in _events(d))
    assert "worst" not in _checked(_views(d))

    samples = json.loads((d / "views/samples.json").read_text())
    inputs = load_inputs(_cfg(tmp_path))
    looks = RowLooks.of(inputs.dataset, inputs.data)
    rows = torch.as_tensor(samples["rows"])
    assert samples["kind"] == "image" and samples["split"] == "train" and len(rows) == 16  # digits: 8 x 8 pixels
    expected = looks.images(looks.raw(inputs.data.train[0][rows]))  # standardization undone: the training rows
    assert all(np.array_equal(_pixels(d / f"views/samples/{i}.png"), e) for i, e in enumerate(expected))
    assert [s["label"] for s in samples["items"]] == [str(int(v)) for v in inputs.data.train[1][rows]]

    finished = run(_cfg(tmp_path), display=Display(quiet=True))
    worst = json.loads((d / "views/worst.json").read_text())
    assert len(worst["items"]) == 12 and worst["n"] == 270 and worst["final_model"] == finished.summary["final_model"]
    losses = [item["loss"] for item in worst["items"]]
    assert losses == sorted(losses, reverse=True) and all(i["p_true"] <= i["p_predicted"] for i in worst["items"])
    X_test, y_test = Vault(d / "vault")._read()
    first = worst["items"][0]
    assert first["true"] == str(int(y_test[first["row"]])) and first["id"]  # the row's name from splits.json
    assert np.array_equal(_pixels(d / "views/worst/0.png"), looks.images(X_test[[first["row"]]])[0])
    views = _checked(_views(d))
    assert {"samples", "worst", "class_recall", "vault"} <= set(views) and "filters" not in views  # an MLP
    assert _size(d / "views") < VIEWS_BUDGET


@pytest.mark.slow
def test_convnet_run_records_filters_augmented_samples_and_a_replay_of_the_best_trial(tmp_path, monkeypatch):
    monkeypatch.setattr(recorders, "WATCH_SHARE", 1.0)  # a tiny search: allow the replay
    space = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "depth": 1, "channels": 4, "optimizer": "adam"}
    cfg = _cfg(tmp_path, **{"model.family": "convnet", "search.space": space,
                            "augment": {"hflip": 0.5, "noise": 0.05, "mixup_alpha": 0.2}})
    result = run(cfg, display=Display(quiet=True))
    d = result.path
    samples = json.loads((d / "views/samples.json").read_text())
    assert samples["augment"] == {"hflip": 0.5, "noise": 0.05, "mixup_alpha": 0.2}
    assert any(" + " in item["label"] for item in samples["items"])  # mixup: soft labels
    filters = json.loads((d / "views/filters.json").read_text())
    assert filters["shape"] == [4, 1, 3, 3] and filters["trial"] == result.summary["best_trial"]["number"]
    assert _pixels(d / "views/filters/0.png").shape == (2 * 4 + 1, 2 * 4 + 1)
    watched = json.loads((d / "views/watch.json").read_text())
    best = next(t for t in Study.load(f"sqlite:///{d}/study.db", "search").trials if t.number == watched["trial"])
    assert watched["source"] == "replay" and best.number == result.summary["best_trial"]["number"]
    # the replay is the best trial itself: same seed, same batches, same augmentation draws
    assert watched["train_loss"] == pytest.approx(best.attrs["curve"]["train_loss"][:watched["epochs"]], rel=1e-5)
    (event,) = [e for e in _events(d) if e["event"] == "views_watch"]
    assert event["epochs"] == watched["epochs"] and event["seconds"] > 0
    views = _checked(_views(d))
    assert {"samples", "watch_ratio", "watch_grad", "watch_units", "watch_dead", "filters", "worst"} <= set(views)
    assert _size(d / "views") < VIEWS_BUDGET


@pytest.mark.slow
def test_text_run_records_texts_with_their_eda_sentences_and_the_worst_texts(tmp_path):
    from test_text_eda_runs import _write_texts

    source = _write_texts(tmp_path / "t.csv")
    space = {"lr": {"low": 3e-3, "high": 3e-2, "log": True}, "width": 8, "depth": 1, "embed_dim": 8, "optimizer": "adam"}
    cfg = _cfg(tmp_path, **{"model.family": "text_bag", "search.space": space, "search.n_trials": 2,
                            "data.source": str(source), "data.text_column": "text", "data.min_freq": 1,
                            "augment": {"n_aug": 1, "alpha_sr": 0.0, "alpha_ri": 0.0, "alpha_rs": 0.2}})
    d = run(cfg, display=Display(quiet=True)).path
    samples = json.loads((d / "views/samples.json").read_text())
    assert samples["kind"] == "text" and len(samples["items"]) == 4
    item = samples["items"][0]
    assert item["label"] in ("pos", "neg") and len(item["augmented"]) == 1
    assert sorted(item["augmented"][0].split()) == sorted(item["text"].split())  # random swap: the same words
    worst = json.loads((d / "views/worst.json").read_text())
    assert worst["kind"] == "text" and all(isinstance(i["text"], str) and i["text"] for i in worst["items"])
    _checked(_views(d))


@pytest.mark.slow
def test_fold_mode_regression_records_the_largest_errors_and_the_watched_refit(tmp_path):
    space = {"lr": {"low": 3e-3, "high": 1e-2, "log": True}, "width": 16, "depth": 1, "optimizer": "adam"}
    d = run(_cfg(tmp_path, **{"data.source": "diabetes", "data.folds": 2, "search.n_trials": 2, "search.space": space}),
            display=Display(quiet=True)).path
    worst = json.loads((d / "views/worst.json").read_text())
    assert worst["kind"] == "table" and worst["task"] == "regression" and worst["final_model"] == "refit"
    errors = [abs(i["error"]) for i in worst["items"]]
    assert errors == sorted(errors, reverse=True) and worst["items"][0]["columns"][:2] == ["age", "sex"]
    samples = json.loads((d / "views/samples.json").read_text())
    assert samples["kind"] == "table" and len(samples["items"]) == 5 and float(samples["items"][0]["label"])
    watched = json.loads((d / "views/watch.json").read_text())  # the refit happens anyway: watched, not replayed
    summary = json.loads((d / "summary.json").read_text())
    assert watched["source"] == "refit" and watched["trial"] == summary["refit"]["trial"]
    assert watched["epochs"] == summary["refit"]["epochs_run"] and watched["layers"]
    assert not any(e["event"] in ("views_watch", "views_skipped") for e in _events(d))
    views = _checked(_views(d))
    assert "class_recall" not in views and {"samples", "worst", "vault", "watch_ratio"} <= set(views)
    assert views["watch_ratio"].note.startswith("The refit of trial")
