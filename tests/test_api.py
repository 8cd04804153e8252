"""The public API exactly as README.md shows it (issue 2, item 4)."""

import sys

import knobs


def test_readme_api_round_trip(tmp_path):
    space = knobs.Space({
        "lr": knobs.Float(1e-4, 1e-1, log=True),
        "width": knobs.Int(16, 512, log=True),
        "act": knobs.Choice(["relu", "tanh"]),
    })

    def objective(config, trial):
        assert isinstance(config, dict)
        trial.report(1, config["lr"])
        return (config["lr"] - 0.01) ** 2 + (config["act"] == "tanh")

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = knobs.Study(space, sampler=knobs.search.Random(seed=0), direction="minimize", storage=url)
    study.optimize(objective, n_trials=12)
    trial = study.ask()
    assert type(trial.config) is dict
    study.tell(trial, 0.42)
    assert len(study.trials) == 13
    best = study.best
    assert best.value == min(t.value for t in study.trials if t.value is not None)
    again = knobs.Study.load(url, study.name)
    assert [t.number for t in again.trials] == list(range(13)) and again.best.number == best.number


def test_import_knobs_is_torch_free():
    import subprocess

    code = "import knobs, sys; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_readme_trainer_snippet():
    import torch
    from torch import nn

    from knobs.train import Trainer

    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 8, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    train, val, test_X = (X[:200], y[:200]), (X[200:260], y[200:260]), X[260:]

    trainer = Trainer(optimizer="adamw", lr=3e-3, epochs=20, metrics=["macro_f1", "roc_auc"],
                      early_stopping={"monitor": "macro_f1", "patience": 3})
    history = trainer.fit(model, train, val)
    probabilities = trainer.predict_proba(model, test_X)
    assert {"macro_f1", "roc_auc"} <= set(history.records[-1]) and probabilities.shape == (40, 3)
    assert trainer.fit(model, train, 0.2).records[-1]["val_accuracy"] is not None
