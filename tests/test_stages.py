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
