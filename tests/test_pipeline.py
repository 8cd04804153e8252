"""`knobs run` end to end on digits (small budgets), and bad input through the real CLI."""

import json
import subprocess
import sys

import pytest

from knobs.cli import main
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.study import Study
from knobs.train import load_checkpoint

pytestmark = pytest.mark.slow

FAST = {"search.n_trials": 3, "search.sampler": "random", "train.epochs": 4, "train.patience": 2,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 16, "high": 32},
                         "depth": 1, "optimizer": {"choices": ["adam", "nesterov"]}}}


def _fast(tmp_path, **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "t", **more})


def test_run_writes_the_whole_run_directory(tmp_path):
    result = run(_fast(tmp_path, **{"train.schedule": {"name": "onecycle"}}), display=Display(quiet=True))
    d = result.path
    for name in ("study.db", "events.jsonl", "checkpoints/best.pt", "summary.json", "report.html",
                 "vault/fingerprint.json", "vault/openings.jsonl"):
        assert (d / name).exists(), name
    summary = json.loads((d / "summary.json").read_text())
    assert summary["n_trials"] == 3
    assert 0.0 <= summary["test"]["accuracy"] <= 1.0 and summary["test"]["log_loss"] > 0
    assert summary["test"]["n"] == 270
    assert set(summary["best_trial"]["config"]) == {"lr", "width", "optimizer"}
    assert summary["vault"]["openings"] == 1
    best = load_checkpoint(d / "checkpoints" / "best.pt")["extra"]
    assert best["trial"] == summary["best_trial"]["number"] and best["value"] == summary["best_trial"]["value"]
    assert {r["name"] for r in summary["preflight"]} >= {"initial_loss", "overfit_tiny"}
    events = [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"run_start", "preflight", "epoch", "trial", "test", "run_end"} <= kinds
    epochs = [e for e in events if e["event"] == "epoch"]
    assert all("lr" in e for e in epochs)
    # one-cycle changes the LR every step: each epoch event lists the LR of every step it ran
    assert all(len(e["lr_steps"]) == 20 and e["lr_steps"][0] == e["lr"] for e in epochs)  # 1257 / 64
    page = (d / "report.html").read_text()
    assert "Learning curves of the best trial" in page and "Search history" in page
    assert '<script src="http' not in page  # self-contained: works offline


def test_unfinished_run_resumes_and_keeps_finished_trials(tmp_path):
    first = run(_fast(tmp_path), display=Display(quiet=True))
    (first.path / "summary.json").unlink()  # as if killed before the end
    again = run(_fast(tmp_path, **{"search.n_trials": 4}), display=Display(quiet=True))
    assert again.summary["n_trials"] == 4
    assert again.summary["vault"]["openings"] == 2  # honest: the test split was opened twice


def test_finished_run_is_not_overwritten(tmp_path):
    run(_fast(tmp_path), display=Display(quiet=True))
    assert main(["run", "--runs-dir", str(tmp_path / "runs"), "--name", "t", "-q"]) == 2


@pytest.mark.parametrize("toml, message", [
    ("[search]\nn_trails = 3\n", "n_trails"),
    ("[search]\nn_trials = -1\n", "search.n_trials"),
    ('[data]\nsource = "missing.csv"\ntarget = "y"\n', "missing.csv"),
    ("[search.space]\nwidht = { low = 16, high = 32 }\n", "widht"),
    ('[search.space]\noptimizer = { choices = ["adam", "adamx"] }\n', "adamx"),
    ('name = "../escape"\n', "a run name is one directory name"),
    ("seed = -1\n", "c.toml: seed: expected a number ≥ 0, got -1"),
    ('[data]\nsource = "diabetes"\n[search]\nmetric = "val_accuracy"\n',
     'search.metric = "val_accuracy": this data is a regression'),
    ('[data]\nsource = "diabetes"\n[search]\nmetric = "val_balanced_accuracy"\n',
     'search.metric = "val_balanced_accuracy": this data is a regression'),
])
def test_bad_input_exits_2_with_one_message_and_no_run_directory(tmp_path, monkeypatch, capsys, toml, message):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    runs = tmp_path / "runs"
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--config", str(path), "--runs-dir", str(runs)])  # NOTE: an uncaught error fails here
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())
    assert not (tmp_path / "escape").exists()


def test_the_command_line_process_exits_2_on_bad_input_with_one_message(tmp_path):
    """The real entry point, once (the cases above run in-process: a process each cost CI ~4.5 s)."""
    path = tmp_path / "c.toml"
    path.write_text("[search]\nn_trails = 3\n")
    proc = subprocess.run([sys.executable, "-m", "knobs.cli", "run", "--config", str(path), "--runs-dir",
                           str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "n_trails" in proc.stderr and "Traceback" not in proc.stderr


def test_labels_out_of_range_in_a_csv_exit_2(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)) + "1,2,7\n")
    path = tmp_path / "c.toml"
    path.write_text(f'[data]\nsource = "{csv}"\ntarget = "label"\nn_classes = 2\n')
    code = main(["run", "--config", str(path), "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert code == 2
    assert "labels [7]" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_tune_keeps_the_vault_sealed_then_run_finishes_it(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[search]\nsampler = "random"\nn_trials = 2\n[train]\nepochs = 3\n'
                   '[search.space]\nlr = { low = 1e-3, high = 1e-2, log = true }\nwidth = 16\n')
    assert main(["tune", "-c", str(cfg), "--runs-dir", runs, "--name", "t", "-q"]) == 0
    summary = json.loads((tmp_path / "runs/t/summary.json").read_text())
    assert summary["test"] is None and summary["vault"]["openings"] == 0
    assert main(["studies", "list", str(tmp_path / "runs/t")]) == 0
    assert "search" in capsys.readouterr().out
    assert main(["studies", "show", str(tmp_path / "runs/t")]) == 0
    assert main(["run", "-c", str(cfg), "--runs-dir", runs, "--name", "t", "-q"]) == 0
    summary = json.loads((tmp_path / "runs/t/summary.json").read_text())
    assert summary["n_trials"] == 2 and summary["vault"]["openings"] == 1


def test_studies_on_a_missing_database_exit_2(tmp_path, capsys):
    assert main(["studies", "list", str(tmp_path / "nowhere")]) == 2
    assert "no study database" in capsys.readouterr().err


def test_lr_find_command_prints_a_range_and_writes_curves(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[search.space]\nlr = { low = 1e-3, high = 1e-1, log = true }\nwidth = 32\noptimizer = \"sgd\"\n")
    out = tmp_path / "lr.json"
    assert main(["lr-find", "-c", str(cfg), "--steps", "60", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[search.space]" in printed and "log = true" in printed
    curves = json.loads(out.read_text())
    assert curves["suggested_lr"] > 0


def test_a_diverging_trial_fails_alone_and_the_run_goes_on(tmp_path):
    cfg = _fast(tmp_path, **{"search.sampler": "grid", "search.n_trials": 2, "search.space": {
        "lr": {"choices": [0.01, 1.0e6]}, "optimizer": "sgd", "width": 16, "depth": 1}})
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["states"]["failed"] == 1 and result.summary["states"]["complete"] == 1
    events = [json.loads(line) for line in (result.path / "events.jsonl").read_text().splitlines()]
    diverged = [e for e in events if e["event"] == "diverged"]
    assert diverged and "lr" in diverged[0]["message"]


def test_a_runs_dir_that_is_a_file_exits_2_and_leaves_the_file(tmp_path, capsys):
    taken = tmp_path / "runs"
    taken.write_text("my notes\n")
    assert main(["run", "--runs-dir", str(taken), "--name", "t", "--trials", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert "runs is a file, not a folder; choose another --runs-dir" in " ".join(err.split())
    assert "Traceback" not in err and taken.read_text() == "my notes\n"


_RESUMED = ('{top}[search]\nsampler = "random"\nn_trials = 2\n{search}[train]\nepochs = 2\n[checks]\n'
            'overfit_tiny = false\n[search.space]\nlr = {{ low = 1e-3, high = 1e-2, log = true }}\nwidth = {width}\n')


@pytest.mark.parametrize("change, message", [
    ({"width": "{ low = 8, high = 32 }"}, "another search.space (parameters that differ: width)"),
    ({"search": 'metric = "val_accuracy"\n'}, "another search.metric (its study is to minimize, this config's to maximize)"),
    ({"top": "seed = 3\n"}, "another test set (data.source, the data file, data.test or seed has changed since)"),
])
def test_resuming_with_an_incompatible_config_exits_2_and_writes_nothing(tmp_path, capsys, change, message):
    cfg, changed = tmp_path / "c.toml", tmp_path / "changed.toml"
    cfg.write_text(_RESUMED.format(**{"top": "", "search": "", "width": "16"}))
    changed.write_text(_RESUMED.format(**{"top": "", "search": "", "width": "16", **change}))
    runs = str(tmp_path / "runs")
    assert main(["tune", "-c", str(cfg), "--runs-dir", runs, "--name", "t", "-q"]) == 0
    capsys.readouterr()
    run_dir = tmp_path / "runs" / "t"
    kept = [run_dir / "events.jsonl", run_dir / "summary.json", *sorted((run_dir / "checkpoints").glob("*.pt"))]
    before = {p: p.read_bytes() for p in kept}
    assert main(["run", "-c", str(changed), "--runs-dir", runs, "--name", "t", "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"run {run_dir} cannot resume with this config: it started with {message}" in err
    assert "choose another --name" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in kept} == before  # no run_start event of the refused config, nothing replaced
    assert len(Study.load(f"sqlite:///{run_dir / 'study.db'}").trials) == 2
    assert main(["run", "-c", str(cfg), "--runs-dir", runs, "--name", "t", "-q"]) == 0  # the original resumes


def test_error_messages_keep_their_square_brackets(tmp_path, capsys):
    # rich markup once ate "[search]" and "knobs[ray]" out of messages: they are printed verbatim
    cfg = tmp_path / "c.toml"
    cfg.write_text("search = 3\n")
    assert main(["run", "-c", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--trials", "2", "-q"]) == 2
    err = capsys.readouterr().err
    assert "key 'search' must be a table ([search]), got 3" in " ".join(err.split()) and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
