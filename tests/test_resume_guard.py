"""A resume is refused, before anything is written, when the config changes what the run's
checkpoints mean: a data key (how inputs are read, encoded, standardized) or the model family."""

import pytest

from knobs.cli import main
from knobs.config import parse_config
from knobs.errors import ConfigError
from knobs.pipeline.stages._resume_guard import changed_inputs, refuse_changed_inputs
from knobs.study import Study


def _attrs(run_dir, **config):
    return {"run": {"config": config, "run_dir": str(run_dir)}}


def test_changed_data_and_model_keys_are_named_with_both_values(tmp_path):
    started = parse_config({"data": {"standardize": "feature"}, "model": {"family": "text_bag"}})
    now = parse_config({"data": {"standardize": "none", "max_classes": 5}, "model": {"family": "text_cnn"}})
    assert changed_inputs(started, now) == [("data.standardize", "feature", "none"), ("data.max_classes", 20, 5),
                                            ("model.family", "text_bag", "text_cnn")]
    with pytest.raises(ConfigError, match=r'cannot resume with this config: it started with data.standardize = '
                                          r'"feature" \(this config: "none"\), data.max_classes = 20 \(this config: 5\), '
                                          r'model.family = "text_bag" \(this config: "text_cnn"\), and its trials\' '
                                          r'checkpoints were trained .* or choose another --name'):
        refuse_changed_inputs(_attrs(tmp_path, data={"standardize": "feature"}, model={"family": "text_bag"}), now, tmp_path)


def test_other_pretrained_weights_are_a_changed_model(tmp_path):
    started = parse_config({"model": {"family": "efficientnet_lite0"}})
    now = parse_config({"model": {"family": "efficientnet_lite0", "weights": "tuned.pth"}})
    assert changed_inputs(started, now) == [("model.weights", None, "tuned.pth")]


def test_what_leaves_checkpoints_alone_resumes(tmp_path):
    cfg = parse_config({"data": {"image_size": [8, 8]}, "train": {"epochs": 9}, "search": {"n_trials": 50}})
    # training keys and the same size written another way are no change; defaults count as set
    refuse_changed_inputs(_attrs(tmp_path, data={"image_size": 8, "standardize": "feature"}), cfg, tmp_path)
    # the loader's worker count says how rows are read, not what they are
    refuse_changed_inputs(_attrs(tmp_path, data={"image_size": 8, "workers": 7}), cfg, tmp_path)
    assert changed_inputs(parse_config({"data": {"memory": 64}}), parse_config({})) != []
    refuse_changed_inputs({}, cfg, tmp_path)  # no record (the run never reached its first trial): nothing to compare
    other = _attrs(tmp_path / "elsewhere", data={"standardize": "none"})
    refuse_changed_inputs(other, cfg, tmp_path)  # another run's study: claim_run names that


_CONFIG = ('[data]\nsource = "{source}"\nstandardize = "{standardize}"\n[search]\nsampler = "random"\nn_trials = 2\n[train]\nepochs = 2\n'
           '[checks]\noverfit_tiny = false\n[search.space]\nlr = {{ low = 1e-3, high = 1e-2, log = true }}\nwidth = 16\n')


@pytest.mark.slow
def test_resuming_with_another_standardization_exits_2_and_writes_nothing(tmp_path, capsys):
    source = tmp_path / "rows.csv"
    source.write_text("a,b,label\n" + "".join(f"{i % 7 * 10},{i % 5},{i % 2}\n" for i in range(120)))
    cfg, changed = tmp_path / "c.toml", tmp_path / "changed.toml"
    cfg.write_text(_CONFIG.format(source=source, standardize="feature"))
    changed.write_text(_CONFIG.format(source=source, standardize="none"))
    runs = str(tmp_path / "runs")
    assert main(["tune", "-c", str(cfg), "--runs-dir", runs, "--name", "t", "-q"]) == 0
    capsys.readouterr()
    run_dir = tmp_path / "runs" / "t"
    kept = [run_dir / "events.jsonl", run_dir / "preprocess.json", *sorted((run_dir / "checkpoints").glob("*.pt"))]
    before = {p: p.read_bytes() for p in kept}
    assert main(["run", "-c", str(changed), "--runs-dir", runs, "--name", "t", "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (f'run {run_dir} cannot resume with this config: it started with data.standardize = "feature" '
            f'(this config: "none")') in err and "choose another --name" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in kept} == before  # no run_start event, preprocess.json not replaced
    assert Study.load(f"sqlite:///{run_dir / 'study.db'}").attrs["run"]["config"]["data"]["standardize"] == "feature"
    assert main(["run", "-c", str(cfg), "--runs-dir", runs, "--name", "t", "-q"]) == 0  # the original resumes


def test_a_changed_warm_start_is_refused_in_one_message(tmp_path):
    started = {"search": {"warm_start": "/runs/exp1", "warm_start_rename": {"lr": "learning_rate"}}}
    same = parse_config(started)
    refuse_changed_inputs(_attrs(tmp_path, **started), same, tmp_path)  # the same warm start resumes
    other = parse_config({"search": {"warm_start": "/runs/exp2", "warm_start_rename": {"lr": "learning_rate"}}})
    with pytest.raises(ConfigError, match=r'cannot resume with this config: it started with search.warm_start = '
                                          r'"/runs/exp1" \(this config: "/runs/exp2"\), and its trials were proposed '
                                          r'by a sampler fed that earlier study. Run it with the warm start it started '
                                          r'with, or choose another --name'):
        refuse_changed_inputs(_attrs(tmp_path, **started), other, tmp_path)
    renamed = parse_config({"search": {"warm_start": "/runs/exp1", "warm_start_rename": {"lr": "eta"}}})
    with pytest.raises(ConfigError, match=r'search.warm_start_rename = \{"lr": "learning_rate"\} '
                                          r'\(this config: \{"lr": "eta"\}\)'):
        refuse_changed_inputs(_attrs(tmp_path, **started), renamed, tmp_path)
    # added to a run that started cold, or dropped from a warm one: refused both ways
    with pytest.raises(ConfigError, match=r"search.warm_start = null \(this config: \"/runs/exp1\"\)"):
        refuse_changed_inputs(_attrs(tmp_path, search={"n_trials": 5}), same, tmp_path)
    with pytest.raises(ConfigError, match=r"search.warm_start = \"/runs/exp1\" \(this config: null\)"):
        refuse_changed_inputs(_attrs(tmp_path, **started), parse_config({}), tmp_path)
    refuse_changed_inputs(_attrs(tmp_path, search={"n_trials": 5}), parse_config({"search": {"n_trials": 9}}), tmp_path)
