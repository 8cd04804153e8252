"""`knobs run`'s mode and runner are chosen once, from the config, as objects."""

from knobs.config import load_config
from knobs.executors import RayExecutor
from knobs.pipeline.stages._modes import FoldMode, SplitMode, run_mode
from knobs.pipeline.stages._runners import InProcess, LocalProcesses, RayTasks, runner_for
from knobs.population import PopulationExecutor
from knobs.space import Float, Space


def test_the_mode_decides_what_a_pruners_step_is():
    split, folds = load_config(None, {"train.epochs": 7}), load_config(None, {"train.epochs": 7, "data.folds": 4})
    assert run_mode(split) == SplitMode() and run_mode(split).pruner_steps(split) == 7 and run_mode(split).k is None
    assert run_mode(folds) == FoldMode(4) and run_mode(folds).pruner_steps(folds) == 4


def test_the_runner_follows_executor_and_workers():
    def runner(**search):
        return runner_for(load_config(None, {f"search.{k}": v for k, v in search.items()}).search)

    assert runner() == InProcess() and runner().executor() is None
    assert runner(workers=3) == LocalProcesses(3) and runner(workers=3).executor() is None
    ray = runner(executor="ray", workers=2, ray_address="auto", trial_resources={"cpu": 2, "gpu": 0.5})
    assert ray == RayTasks(workers=2, address="auto", cpus=2, gpus=0.5) and isinstance(ray.executor(), RayExecutor)
    population = runner(executor="population", population=8)
    assert population.workers == 1 and population.population == 8 and runner().population is None
    assert isinstance(population.executor(), PopulationExecutor)
    assert "up to 8 trials" in population.note(Space({"lr": Float(1e-3, 1e-1, log=True)}))


def test_a_convnet_without_a_search_space_searches_its_own_keys_within_its_images():
    from knobs.pipeline.inputs._backbone_images import search_space
    from knobs.pipeline.stages._inputs import load_inputs

    inputs = load_inputs(load_config(None, {"model.family": "convnet"}))  # digits, 8 × 8: three halvings at most
    assert set(inputs.space.names) == {"lr", "weight_decay", "channels", "depth", "dropout", "optimizer"}
    assert inputs.space["depth"].high == 3
    cfg = load_config(None, {"model.family": "convnet"})
    assert search_space(cfg, (1, 4, 28))["depth"]["high"] == 2 and search_space(cfg, (1, 1, 28))["depth"] == 1
    given = load_config(None, {"model.family": "convnet", "search.space": {"lr": 0.01, "channels": 8}})
    assert search_space(given, (1, 8, 8)) == {"lr": 0.01, "channels": 8}
    assert "width" in search_space(load_config(None, {}), (1, 8, 8))  # the MLP keeps the default space
