"""knobs.diagnose: every zoo fault found with its code, no warning on healthy setups, the rules at
their thresholds on hand-made evidence, the report's formats, bad input, the config and CLI paths."""

from __future__ import annotations

import copy
import functools
import io
import json
import subprocess
import sys

import pytest
import torch
from rich.console import Console
from torch import nn

import zoo
from knobs.checks import CheckResult
from knobs.checks._result import SEVERITIES
from knobs.cli import main
from knobs.config import parse_config
from knobs.diagnose import CODES, Report, diagnose
from knobs.pipeline import check_config, diagnose_config
from knobs.diagnose._explain import explain
from knobs.diagnose._finding import finding
from knobs.diagnose._preflight import check_findings
from knobs.diagnose._layers import activation_findings, gradient_findings
from knobs.diagnose._training import fit_findings, noisy_findings, probe_factors, score_se
from knobs.errors import ConfigError, DataError

torch.set_num_threads(1)

REQUIRED = {"gradient_mismatch", "init_loss", "cannot_overfit", "lr_too_high", "lr_too_low", "noisy_loss",
            "overfitting", "underfitting", "dead_relu", "saturation", "vanishing_gradients",
            "exploding_gradients", "unscaled_inputs", "split_overlap", "class_imbalance"}


@functools.cache
def diagnosed(name: str) -> Report:
    setup = next(s for s in zoo.SETUPS if s.name == name)
    return diagnose(setup.model(), setup.train, setup.val, **setup.settings)


# ---- the zoo ------------------------------------------------------------------------------------

def test_the_zoo_covers_every_code():
    assert REQUIRED <= {s.expect for s in zoo.broken()} and len(zoo.broken()) >= 15
    assert len(zoo.healthy()) >= 5
    assert {s.settings.get("task", "classification") for s in zoo.healthy()} == {"classification", "regression"}


@pytest.mark.slow
@pytest.mark.parametrize("setup", zoo.broken(), ids=lambda s: s.name)
def test_each_fault_is_found_with_its_code(setup):
    report = diagnosed(setup.name)
    assert setup.expect in report.codes, f"{setup.name}: expected {setup.expect}, found:\n{report}"


@pytest.mark.slow
@pytest.mark.parametrize("setup", zoo.healthy(), ids=lambda s: s.name)
def test_healthy_setups_raise_no_warning(setup):
    report = diagnosed(setup.name)
    assert report.ok, f"{setup.name}: false alarm:\n{report}"


@pytest.mark.slow
def test_findings_carry_code_severity_evidence_action():
    report = diagnosed("lr_10x_too_high")
    assert report.findings[0].severity in ("warning", "error")
    for f in report.findings:
        assert f.code in CODES and f.severity in SEVERITIES and f.action == CODES[f.code]
        assert isinstance(f.evidence, dict) and f.message
    high = report["lr_too_high"]
    assert high.evidence["lr"] == 0.5 and high.evidence["lr_div10"]["lr"] == pytest.approx(0.05)
    assert "0.05" in high.message
    # a symptom of the LR; where the gradients blew up on the way (CPU-dependent), that finding is
    # itself explained by the LR, so the root stays the one warning
    dead = report["dead_relu"]
    assert "lr_too_high" in dead.explained_by and dead.severity == "info"
    for code in dead.explained_by:
        assert code == "lr_too_high" or report[code].explained_by == ("lr_too_high",)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ok"] is False and {c["name"] for c in data["checks"]} >= {"initial_loss", "overfit_tiny"}
    assert data["evidence"]["run"]["watch"]["probes"]
    console = Console(record=True, width=140, file=io.StringIO())
    console.print(report)
    text = console.export_text()
    assert "lr_too_high" in text and "Lower the learning rate" in text


@pytest.mark.slow
def test_the_model_is_not_touched():
    setup = next(s for s in zoo.SETUPS if s.name == "digits_mlp")
    model = setup.model()
    before = copy.deepcopy(model.state_dict())
    diagnose(model, setup.train, setup.val, **{**setup.settings, "epochs": 2})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


# ---- rules on hand-made evidence ----------------------------------------------------------------

def probe(step, dead=0.0, sat=0.0, first=1.0, last=1.0, norm=1.0, nonfinite=()):
    return {"step": step, "epoch": 1, "grad_norm": norm, "nonfinite": list(nonfinite),
            "params": {"a.weight": {"grad_norm": first}, "b.weight": {"grad_norm": last}},
            "activations": {"relu": {"kind": "relu", "dead_fraction": dead},
                            "sig": {"kind": "sigmoid", "saturated_fraction": sat}}}


def evidence(*, probes=None, val=None, train=None, accuracy=None, train_score=0.99, val_score=0.97, ref=0.97,
             diverged=None, lr_runs=None, first_loss=2.3, chance=2.3):
    train = train or [2.0 / (i + 1) for i in range(9)]
    val = val or [2.1 / (i + 1) for i in range(9)]
    accuracy = accuracy or [0.5 + 0.04 * i for i in range(len(train))]
    records = [{"epoch": i + 1, "train_loss": t, "val_loss": v, "val_accuracy": a}
               for i, (t, v, a) in enumerate(zip(train, val, accuracy))]
    return {"task": "classification", "settings": {"lr": 0.01, "batch_size": 32}, "chance_loss": chance,
            "n_val": 1000,
            "probes": lr_runs or {}, "reference": {"score": ref, "best": "linear"},
            "run": {"records": records, "diverged": diverged, "step_losses": [first_loss, 2.0],
                    "final_train_loss": None if diverged else train[-1],
                    "train_score": None if diverged else train_score, "val_score": None if diverged else val_score,
                    "watch": {"probes": probes or [probe(1)], "layer_order": ["a.weight", "b.weight"],
                              "shapes": {"a.weight": [4, 3], "b.weight": [2, 4]},
                              "curve": {"steps": {"noise": 0.1}, "gap": []}}}}


def codes(findings):
    return [f.code for f in findings]


def test_dead_relu_is_judged_on_the_last_probes_at_70_percent():
    early_dead = [probe(1, dead=1.0)] + [probe(s, dead=0.1) for s in (2, 3, 4)]
    assert codes(activation_findings(evidence(probes=early_dead))) == []
    assert codes(activation_findings(evidence(probes=[probe(s, dead=0.69) for s in (1, 2, 3)]))) == []
    found = activation_findings(evidence(probes=[probe(s, dead=0.71) for s in (1, 2, 3)]))
    assert codes(found) == ["dead_relu"] and found[0].evidence["layer"] == "relu"


def test_saturation_is_judged_on_the_median_probe_above_half():
    assert codes(activation_findings(evidence(probes=[probe(s, sat=v) for s, v in enumerate((0.9, 0.4, 0.45))]))) == []
    assert codes(activation_findings(evidence(probes=[probe(s, sat=v) for s, v in enumerate((0.9, 0.6, 0.4))]))) == \
        ["saturation"]


def test_gradient_ratios_and_growth():
    assert codes(gradient_findings(evidence(probes=[probe(s, first=2e-4, last=1.0) for s in (1, 2)]))) == \
        ["vanishing_gradients"]
    assert codes(gradient_findings(evidence(probes=[probe(s, first=2e-3, last=1.0) for s in (1, 2)]))) == []
    assert codes(gradient_findings(evidence(probes=[probe(s, first=80.0, last=1.0) for s in (1, 2)]))) == \
        ["exploding_gradients"]
    grew = gradient_findings(evidence(probes=[probe(1, norm=1.0), probe(2, norm=150.0)]))
    assert codes(grew) == ["exploding_gradients"] and grew[0].evidence["growth"] == pytest.approx(150)
    assert codes(gradient_findings(evidence(probes=[probe(1, norm=1.0), probe(2, norm=50.0)]))) == []
    bad = gradient_findings(evidence(probes=[probe(1), probe(2, nonfinite=["a.weight"])]))
    assert bad[0].severity == "error" and bad[0].evidence["nonfinite"] == ["a.weight"]


def test_noisy_loss_counts_rises_of_three_percent_of_chance_in_over_a_fifth_of_epochs():
    val = [1.0, 1.1, 0.9, 1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35]          # two rises of 0.1 >= 0.069
    assert noisy_findings(evidence(val=val, train=[1.0] * 10)) == []
    val = [1.0, 1.1, 0.9, 1.0, 0.8, 0.9, 0.6, 0.5, 0.4, 0.35]          # three rises: 3 > 0.2 x 10
    found = noisy_findings(evidence(val=val, train=[1.0] * 10))
    assert codes(found) == ["noisy_loss"] and found[0].evidence["swings"] == 3


def test_margins_grow_with_the_standard_error_of_small_validation_splits():
    assert score_se(0.8, 400, "classification") == pytest.approx(0.02)
    assert score_se(0.5, 200, "regression") == pytest.approx(0.05)
    stale = [0.5, 0.7, 0.8, 0.84, 0.845, 0.84, 0.845, 0.848, 0.846]
    ev = evidence(accuracy=stale, train_score=1.0, val_score=0.846)
    assert codes(fit_findings(ev)) == ["overfitting"]
    assert codes(fit_findings({**ev, "n_val": 20})) == []        # 2 SE = 0.16 > the 0.154 gap


def test_overfitting_needs_a_gap_and_a_stale_validation_score():
    stale = [0.5, 0.7, 0.8, 0.84, 0.845, 0.84, 0.845, 0.848, 0.846]     # +0.003 in the last third
    assert codes(fit_findings(evidence(accuracy=stale, train_score=1.0, val_score=0.846))) == ["overfitting"]
    assert codes(fit_findings(evidence(accuracy=stale, train_score=0.94, val_score=0.846))) == []  # gap < 0.1
    improving = [0.5, 0.6, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82]
    assert codes(fit_findings(evidence(accuracy=improving, train_score=1.0, val_score=0.82))) == []


def test_lr_findings_need_the_other_rate_to_do_better():
    rising = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.5]   # 2.3 -> 0.5 -> 1.5: gave back over half
    ev = evidence(train=rising, train_score=0.6, ref=0.97)
    assert probe_factors(ev) == [pytest.approx(0.1)]
    better = {"lower": {"lr": 0.001, "diverged": None, "final_train_loss": 0.3}}
    assert "lr_too_high" in codes(fit_findings({**ev, "probes": better}))
    worse = {"lower": {"lr": 0.001, "diverged": None, "final_train_loss": 1.0}}
    assert codes(fit_findings({**ev, "probes": worse})) == ["underfitting"]
    slow = evidence(train=[2.29 - 0.01 * i for i in range(9)], train_score=0.5)   # 2.3 -> 2.21
    assert probe_factors(slow) == [pytest.approx(0.1), 10]      # fit too little: try both ways
    faster = {"higher": {"lr": 0.1, "diverged": None, "final_train_loss": 1.5}}   # 1.5x lower loss,
    assert codes(fit_findings({**slow, "probes": faster})) == ["lr_too_low"]      # 9x the progress
    same = {"higher": {"lr": 0.1, "diverged": None, "final_train_loss": 2.15}}
    assert codes(fit_findings({**slow, "probes": same})) == ["underfitting"]
    diverged = {"higher": {"lr": 0.1, "diverged": {"step": 3}, "final_train_loss": None}}
    assert codes(fit_findings({**slow, "probes": diverged})) == ["underfitting"]
    assert probe_factors(evidence()) == []
    wobble = evidence(train=[1.0, 0.5, 0.2, 0.1, 0.07, 0.07, 0.08, 0.1, 0.14])  # 2x its best, a wobble
    assert probe_factors(wobble) == []
    both = {"lower": {"lr": 0.001, "diverged": None, "final_train_loss": 0.5},
            "higher": {"lr": 0.1, "diverged": None, "final_train_loss": 0.9}}
    assert codes(fit_findings({**slow, "probes": both})) == ["lr_too_high"]      # the better of the two


def test_explain_downgrades_symptoms_of_a_found_cause():
    found = explain([finding("underfitting", "warning", "u"), finding("dead_relu", "warning", "d"),
                     finding("gradient_mismatch", "error", "g"), finding("noisy_loss", "warning", "n")])
    assert [(f.code, f.severity) for f in found] == [("gradient_mismatch", "error"), ("dead_relu", "warning"),
                                                    ("noisy_loss", "warning"), ("underfitting", "info")]
    assert found[-1].explained_by == ("dead_relu", "gradient_mismatch")
    with pytest.raises(ValueError, match="unknown finding code"):
        finding("slow", "warning", "x")


def test_duplicates_below_one_percent_are_info():
    dup = lambda n: CheckResult("duplicates", False, "warning", {"val_in_train": n})  # noqa: E731
    assert check_findings([dup(2)], {"train": 1000, "val": 300})[0].severity == "info"
    assert check_findings([dup(3)], {"train": 1000, "val": 300})[0].severity == "warning"
    scale = CheckResult("feature_scale", False, "warning", {"train": {"n_over": 0}, "val": {"n_over": 1}})
    assert check_findings([scale])[0].severity == "info"          # only held-out columns off-scale


# ---- bad input ----------------------------------------------------------------------------------

def small():
    (X, y), (Xv, yv) = zoo.cancer()
    return nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 2)), (X[:64], y[:64]), (Xv[:32], yv[:32])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"task": "ranking"}, ConfigError, "task"),
    ({"optimizer": "lbfgs"}, ConfigError, "optimizer"),
    ({"lr": -1.0}, ConfigError, "lr"),
    ({"epochs": 0}, ConfigError, "epochs"),
    ({"n_classes": 1}, ConfigError, "n_classes"),
])
def test_bad_settings_are_config_errors(kwargs, error, match):
    model, train, val = small()
    with pytest.raises(error, match=match):
        diagnose(model, train, val, **kwargs)


def test_bad_data_and_model_are_named():
    model, train, val = small()
    with pytest.raises(DataError, match="diagnose: val"):
        diagnose(model, train, (val[0], val[1][:5]))
    with pytest.raises(DataError, match="diagnose: train must be an"):
        diagnose(model, train[0], val)
    with pytest.raises(ConfigError, match="nn.Module"):
        diagnose("mlp", train, val)


def test_nan_features_stop_before_training():
    model, (X, y), val = small()
    X = X.clone()
    X[3, 2] = float("nan")
    report = diagnose(model, (X, y), val)
    assert report.codes == ["nonfinite_inputs"] and report["nonfinite_inputs"].severity == "error"
    assert "run" not in report.evidence


def test_knobs_diagnose_is_lazy_and_callable():
    code = ("import knobs, sys; assert 'torch' not in sys.modules; d = knobs.diagnose; "
            "import knobs.diagnose as m; assert m is d and callable(d) and 'torch' in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---- config and CLI -----------------------------------------------------------------------------

CONFIG = """
[data]
source = "{source}"
[train]
epochs = 6
batch_size = 32
[search.space]
lr = {{ low = 1e-3, high = 1e-2, log = true }}
width = {width}
depth = 1
optimizer = "adam"
"""


def config_file(tmp_path, width=32, source="breast_cancer"):
    path = tmp_path / f"{source}-{width}.toml"
    path.write_text(CONFIG.format(width=width, source=source))
    return path


@pytest.mark.slow
def test_diagnose_config_uses_the_runs_data_and_reference_model(tmp_path):
    import tomllib

    cfg = parse_config(tomllib.loads(CONFIG.format(width=32, source="breast_cancer")))
    report = diagnose_config(cfg)
    settings = report.evidence["settings"]
    assert settings["optimizer"] == "adam" and settings["lr"] == pytest.approx(10 ** -2.5)
    assert settings["epochs"] == 6 and report.evidence["sizes"]["train"] > 300
    assert report.ok, str(report)
    names = [r.name for r in check_config(cfg)]
    assert names[-1] == "gradient_check" and "overfit_tiny" in names and "duplicates" in names


@pytest.mark.slow
def test_cli_check_and_diagnose(tmp_path, capsys):
    good = config_file(tmp_path)
    assert main(["check", "--config", str(good)]) == 0
    assert "gradient_check" in capsys.readouterr().out
    out = tmp_path / "findings.json"
    assert main(["diagnose", "--config", str(good), "--epochs", "4", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["evidence"]["settings"]["epochs"] == 4 and "findings" in data
    capsys.readouterr()
    # one hidden unit for ten classes: the tiny-subset overfit fails (an error-level check)
    assert main(["check", "--config", str(config_file(tmp_path, width=1, source="digits"))]) == 1
    assert "overfit_tiny" in capsys.readouterr().err


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["check", "--config", str(tmp_path / "missing.toml")]) == 2
    assert main(["diagnose", "--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("config file not found") == 2 and len(err.strip().splitlines()) == 2


@pytest.mark.parametrize("command, option", [("lr-find", "--output"), ("diagnose", "--json")])
def test_an_output_file_that_cannot_be_written_is_refused_before_the_work(tmp_path, capsys, command, option):
    from knobs.cli import main

    for target, message in [(tmp_path / "missing" / "out.json", "does not exist; create it or write elsewhere"),
                            (tmp_path, "is a folder; give a file name")]:
        assert main([command, option, str(target)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"{option} {target}" in err and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["studies", "show", "runs/x", "--top", "0"],
                                  ["worker", "--storage", "runs/x", "--study", "s", "--workers", "0"]])
def test_counts_below_one_are_usage_errors(args, capsys):
    from knobs.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    words = " ".join(err.replace("│", " ").split())  # rich's error box wraps lines
    assert f"Invalid value for '{args[-2]}'" in words and "greater than or equal to 1" in words
    assert "Traceback" not in err
