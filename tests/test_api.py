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
