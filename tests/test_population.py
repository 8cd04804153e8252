"""knobs.population: members equal one-by-one Trainer runs, the vectorized update equals torch.optim,
per-member schedules, dropout, early stopping, divergence, pruning, the study driver, bad input."""

import math

import numpy as np
import pytest
import torch
from torch.func import vmap
from torch.utils.data import DataLoader, TensorDataset

import knobs
from knobs.errors import ConfigError
from knobs.models import build_model
from knobs.population import (
    MemberResult, PopulationExecutor, PopulationObjective, group_members, optimize_population, population_key,
    train_population,
)
from knobs.population._members import resolve_members
from knobs.population._schedules import schedule_tables
from knobs.population._stack import MemberDropout
from knobs.population._update import VectorOptimizer
from knobs.study import once_per_batch
from knobs.train import OPTIMIZERS, EarlyStopping, History, Trainer, build_optimizer, build_schedule
from knobs.train._regularization import decay_groups
from knobs.trial import TrialState

torch.set_num_threads(1)

ARCH = {"width": 16, "depth": 2}


def blobs(n=240, d=6, classes=3, seed=0, noise=0.5):
    g = torch.Generator().manual_seed(seed)
    centers = 2 * torch.randn(classes, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + noise * torch.randn(n, d, generator=g), y


_X, _Y = blobs(n=330)
TRAIN, VAL = (_X[:240], _Y[:240]), (_X[240:], _Y[240:])


def solo(member, seed, *, arch=ARCH, optimizer="adam", schedule=None, epochs=4, patience=2, data=(TRAIN, VAL)):
    """The one-by-one reference: seed, build, Trainer.fit — what a pipeline trial does."""
    options = {k: member[k] for k in ("momentum", "dampening", "nesterov", "eps") if k in member}
    if "beta1" in member or "beta2" in member:
        options["betas"] = (member.get("beta1", 0.9), member.get("beta2", 0.999))
    torch.manual_seed(seed)
    model = build_model("mlp", input_shape=(6,), n_classes=3, **arch, dropout=member.get("dropout", 0.0))
    trainer = Trainer(optimizer=member.get("optimizer", optimizer), lr=member["lr"],
                      weight_decay=member.get("weight_decay", 0.0), optimizer_options=options or None,
                      schedule=schedule, epochs=epochs, batch_size=32, l1=member.get("l1", 0.0),
                      clip_grad_norm=member.get("clip_grad_norm"), clip_grad_value=member.get("clip_grad_value"),
                      early_stopping=None if patience is None else EarlyStopping(patience=patience),
                      seed=seed, device="cpu")
    history = trainer.fit(model, *data)
    return model, history


def assert_same_run(result, model, history, atol=1e-4):
    # NOTE: a vmapped population and a lone model sum in another order; Adam divides the float32
    # difference by a small second moment, so one weight in 96 drifts ~3e-5 on some CPUs. A wrong
    # lr, weight decay or seed moves weights by orders of magnitude more.
    state = model.state_dict()
    assert sorted(result.state_dict) == sorted(state)
    for key, value in state.items():
        torch.testing.assert_close(result.state_dict[key].float(), value.float(), atol=atol, rtol=0)
    assert [r["epoch"] for r in result.records] == [r["epoch"] for r in history.records]
    for mine, theirs in zip(result.records, history.records):
        for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6), key
        assert ("lr_steps" in mine) == ("lr_steps" in theirs)
        if "lr_steps" in mine:
            np.testing.assert_allclose(mine["lr_steps"], theirs["lr_steps"], rtol=1e-12)
    assert result.history.best_epoch == history.best_epoch
    assert result.history.stopped_early == history.stopped_early


# ---- members equal one-by-one runs ---------------------------------------------------------------

@pytest.mark.parametrize("optimizer, schedule, members", [
    ("adam", None, [{"lr": 1e-2}, {"lr": 3e-3, "weight_decay": 1e-3}, {"lr": 3e-2, "weight_decay": 1e-2}]),
    ("adamw", "cosine", [{"lr": 1e-2, "weight_decay": 1e-2}, {"lr": 3e-3, "beta1": 0.8},
                         {"lr": 2e-2, "optimizer": "adam", "weight_decay": 1e-3, "beta2": 0.99}]),
    ("nesterov", "onecycle", [{"lr": 0.1}, {"lr": 0.03, "weight_decay": 1e-3, "momentum": 0.5},
                              {"lr": 0.05, "optimizer": "sgd"}]),
    ("sgd", {"name": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 1},
     [{"lr": 0.1, "momentum": 0.9, "dampening": 0.1}, {"lr": 0.3, "weight_decay": 1e-2},
      {"lr": 0.05, "optimizer": "nesterov"}]),
])
def test_members_match_trainer_runs_with_the_same_seed(optimizer, schedule, members):
    results = train_population("mlp", ARCH, members, TRAIN, VAL, epochs=4, batch_size=32, optimizer=optimizer,
                               schedule=schedule, patience=2, seed=10, device="cpu")
    assert [r.index for r in results] == [0, 1, 2]
    for i, (member, result) in enumerate(zip(members, results)):
        model, history = solo(member, 10 + i, optimizer=optimizer, schedule=schedule)
        assert_same_run(result, model, history)
        assert result.best_value == pytest.approx(history.best["val_loss"], rel=1e-5)
        assert not result.diverged and not result.pruned


def test_early_stopping_restores_each_members_best_weights():
    # random labels: validation loss rises after the first epochs, so members stop at different times
    g = torch.Generator().manual_seed(0)
    noise = (torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g))
    members = [{"lr": 3e-2}, {"lr": 1e-3}, {"lr": 1e-1}]
    results = train_population("mlp", {"width": 32, "depth": 1}, members, noise, VAL, epochs=8, batch_size=32,
                               patience=1, seed=0, device="cpu")
    assert any(r.history.stopped_early for r in results)
    assert len({len(r.records) for r in results}) > 1
    for i, (member, result) in enumerate(zip(members, results)):
        model, history = solo(member, i, arch={"width": 32, "depth": 1}, epochs=8, patience=1, data=(noise, VAL))
        assert_same_run(result, model, history)
        assert result.best_value == min(r["val_loss"] for r in result.records)


def test_batch_norm_l1_and_clipping_per_member_match_the_trainer():
    arch = {"width": 16, "depth": 2, "batch_norm": True}
    members = [{"lr": 0.05, "l1": 1e-3}, {"lr": 0.02, "clip_grad_norm": 0.5, "weight_decay": 1e-3},
               {"lr": 0.1, "clip_grad_value": 0.05, "momentum": 0.5}]
    results = train_population("mlp", arch, members, TRAIN, VAL, epochs=3, batch_size=32, optimizer="momentum",
                               seed=3, device="cpu")
    for i, (member, result) in enumerate(zip(members, results)):
        model, history = solo(member, 3 + i, arch=arch, optimizer="momentum", epochs=3, patience=None)
        assert_same_run(result, model, history, atol=1e-5)


def test_state_dict_loads_into_the_members_own_model():
    members = [{"lr": 1e-2, "dropout": 0.0}, {"lr": 1e-2, "dropout": 0.3}]
    results = train_population("mlp", ARCH, members, TRAIN, VAL, epochs=1, batch_size=32, device="cpu")
    for member, result in zip(members, results):
        model = build_model("mlp", input_shape=(6,), n_classes=3, **ARCH, dropout=member["dropout"])
        model.load_state_dict(result.state_dict)  # strict: same keys, shapes
        model.eval()
        loss = torch.nn.functional.cross_entropy(model(VAL[0]), VAL[1]).item()
        assert loss == pytest.approx(result.records[-1]["val_loss"], rel=1e-5)


# ---- the vectorized update equals torch.optim step for step ---------------------------------------

@pytest.mark.parametrize("family, members", [
    ("sgd", [{"optimizer": "sgd", "lr": 0.1}, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.2},
             {"optimizer": "nesterov", "lr": 0.02, "momentum": 0.7}, {"optimizer": "momentum", "lr": 0.01}]),
    ("sgd", [{"optimizer": "nesterov", "lr": 0.1}, {"optimizer": "nesterov", "lr": 0.01, "momentum": 0.5}]),
    ("adam", [{"optimizer": "adam", "lr": 1e-2}, {"optimizer": "adamw", "lr": 3e-3, "beta1": 0.8, "beta2": 0.99},
              {"optimizer": "adam", "lr": 1e-3, "eps": 1e-6}, {"optimizer": "adamw", "lr": 1e-2}]),
])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_vector_optimizer_equals_torch_optim(family, members, weight_decay):
    members = [{**m, "weight_decay": weight_decay * (i + 1)} for i, m in enumerate(members)]
    _, resolved = resolve_members("mlp", {}, members, optimizer="adam", epochs=1, batch_size=1, schedule=None,
                                  seed=0, device="cpu", precision="auto", task="classification")
    steps = 6
    lr, momentum = schedule_tables(None, [(m.optimizer, m.kwargs) for m in resolved], epochs=steps, steps_per_epoch=1)
    nets = [torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 2)) for _ in members]
    # the torch classes exactly as knobs.train.build_optimizer builds them (decay on weights only)
    opts = [OPTIMIZERS[m.optimizer].cls(decay_groups(net, m.weight_decay), weight_decay=0.0, **m.kwargs)
            for m, net in zip(resolved, nets)]
    # weights first, as StackedModel lays a row out
    rows = lambda tensors: torch.stack([torch.cat([t[i].reshape(-1) for i in (0, 2, 1, 3)]) for t in tensors])
    flat = rows([[p.detach().clone() for p in net.parameters()] for net in nets])
    vec = VectorOptimizer.build(family, lr, momentum, resolved, n_decay=5 * 4 + 4 * 2, n_params=flat.shape[1],
                                device=torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    for t in range(steps):
        grads = [[torch.randn(p.shape, generator=g) for p in net.parameters()] for net in nets]
        for net, opt, grad in zip(nets, opts, grads):
            for p, gp in zip(net.parameters(), grad):
                p.grad = gp.clone()
            opt.step()
        vec.step(flat, rows(grads), t)
        expected = rows([[p.detach() for p in net.parameters()] for net in nets])
        torch.testing.assert_close(flat, expected, atol=2e-7, rtol=1e-6)


def test_cpu_update_in_blocks_equals_one_block():
    members = [{"lr": 10 ** -(1 + i / 4), "weight_decay": 1e-3 * i, "beta1": 0.8 + 0.01 * i} for i in range(5)]
    _, resolved = resolve_members("mlp", {}, members, optimizer="adamw", epochs=1, batch_size=1, schedule=None,
                                  seed=0, device="cpu", precision="auto", task="classification")
    lr, momentum = schedule_tables("cosine", [(m.optimizer, m.kwargs) for m in resolved], epochs=4, steps_per_epoch=1)
    start = torch.randn(5, 300)
    flats = []
    for rows in (None, 2):
        vec = VectorOptimizer.build("adam", lr, momentum, resolved, 200, 300, torch.device("cpu"))
        vec.block_rows = rows
        flat = start.clone()
        for t in range(4):
            vec.step(flat, torch.randn(5, 300, generator=torch.Generator().manual_seed(t)), t)
        flats.append(flat)
    assert torch.equal(flats[0], flats[1])


# ---- schedules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [None, "constant", {"name": "step", "step_size": 1, "gamma": 0.5}, "cosine",
                                  {"name": "cosine", "eta_min": 1e-4, "warmup_steps": 2}, "onecycle",
                                  {"name": "cyclic", "step_size_up": 3, "cycle_momentum": True}])
@pytest.mark.parametrize("optimizer, options", [("adam", {}), ("momentum", {"momentum": 0.8})])
def test_schedule_tables_follow_the_trainers_schedule(spec, optimizer, options):
    lrs = [0.1, 0.02]
    members = [(optimizer, {"lr": lr, **options}) for lr in lrs]
    lr, momentum = schedule_tables(spec, members, epochs=3, steps_per_epoch=4)
    assert lr.shape == momentum.shape == (12, 2)
    for j, base in enumerate(lrs):
        opt = build_optimizer(optimizer, torch.nn.Linear(2, 1), lr=base, options=options)
        schedule = build_schedule(spec, opt, epochs=3, steps_per_epoch=4)
        group = opt.param_groups[0]
        for t in range(12):
            assert lr[t, j] == pytest.approx(group["lr"], rel=1e-12)
            assert momentum[t, j] == pytest.approx(group["betas"][0] if "betas" in group else group["momentum"])
            opt.step()
            if schedule is not None:
                schedule.step_batch()


def test_plateau_is_refused():
    with pytest.raises(ConfigError, match="plateau"):
        schedule_tables("plateau", [("adam", {"lr": 0.1})], epochs=2, steps_per_epoch=2)


# ---- dropout ------------------------------------------------------------------------------------

def test_member_dropout_masks_follow_each_members_probability():
    probs = torch.tensor([0.0, 0.25, 0.5, 0.5])
    x = torch.ones(4, 200, 100)
    module = MemberDropout()

    def one(p, xi):
        return torch.func.functional_call(module, {"p": p}, (xi,))

    torch.manual_seed(0)
    out = vmap(one, randomness="different")(probs, x)
    n = x[0].numel()
    for i, p in enumerate(probs.tolist()):
        dropped = float((out[i] == 0).float().mean())
        assert abs(dropped - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-12  # binomial, 4 sigma
        assert float(out[i].mean()) == pytest.approx(1.0, abs=4 * math.sqrt(p / (1 - p) / n) + 1e-12)
        kept = out[i][out[i] != 0]
        assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))
    assert torch.equal(out[0], x[0])  # p = 0 is the identity
    agree = float(((out[2] == 0) == (out[3] == 0)).float().mean())
    assert abs(agree - 0.5) < 0.02  # independent masks for equal probabilities
    module.eval()
    assert torch.equal(vmap(one, randomness="different")(probs, x), x)


def test_dropout_members_match_the_trainer_in_distribution():
    # masks come from the population's stream, not the member's: equal in law, not in draws
    seeds, member = list(range(8)), {"lr": 1e-2, "dropout": 0.5}
    results = train_population("mlp", ARCH, [member] * 8 + [{"lr": 1e-2}], TRAIN, VAL, epochs=3, batch_size=32,
                               seed=seeds + [0], device="cpu")
    ours = np.array([[r["train_loss"] for r in res.records] for res in results[:8]])
    theirs = np.array([[r["train_loss"] for r in solo(member, s, epochs=3, patience=None)[1].records] for s in seeds])
    stderr = np.sqrt(ours.var(0, ddof=1) / 8 + theirs.var(0, ddof=1) / 8)
    assert np.all(np.abs(ours.mean(0) - theirs.mean(0)) < 3 * stderr)
    free = np.array([r["train_loss"] for r in results[8].records])
    assert np.all(ours.mean(0) > free)  # the noise is really there
    assert all(res.records[-1]["val_accuracy"] > 0.9 for res in results)


# ---- divergence and pruning -----------------------------------------------------------------------

def test_a_diverging_member_is_frozen_and_the_others_go_on_unchanged():
    members = [{"lr": 0.1}, {"lr": 1e12}, {"lr": 0.05}]
    results = train_population("mlp", ARCH, members, TRAIN, VAL, epochs=3, batch_size=32, optimizer="sgd",
                               seed=[1, 2, 3], device="cpu")
    bad = results[1]
    assert bad.diverged and "diverged" in bad.message and "epoch 1" in bad.message
    assert bad.state_dict is None and bad.best_value is None and bad.records == []
    alone = train_population("mlp", ARCH, [members[0], members[2]], TRAIN, VAL, epochs=3, batch_size=32,
                             optimizer="sgd", seed=[1, 3], device="cpu")
    for result, reference in zip((results[0], results[2]), alone):
        assert not result.diverged
        for key in reference.state_dict:
            assert torch.equal(result.state_dict[key], reference.state_dict[key])


def test_pruned_member_stops_where_the_callback_raised():
    seen = []

    def on_epoch(index, record):
        seen.append((index, record["epoch"]))
        if index == 0 and record["epoch"] == 2:
            raise knobs.Pruned("stop")

    results = train_population("mlp", ARCH, [{"lr": 1e-2}, {"lr": 3e-3}], TRAIN, VAL, epochs=4, batch_size=32,
                               seed=0, device="cpu", on_epoch=on_epoch)
    assert results[0].pruned and len(results[0].records) == 2 and results[0].state_dict is not None
    assert not results[1].pruned and len(results[1].records) == 4
    assert seen == [(0, 1), (1, 1), (0, 2), (1, 2), (1, 3), (1, 4)]


# ---- data forms and families ----------------------------------------------------------------------

def test_dataloader_order_is_shared_and_convnet_and_regression_train():
    def loader():
        return DataLoader(TensorDataset(*TRAIN), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))

    members = [{"lr": 1e-2}, {"lr": 3e-3}]
    results = train_population("mlp", ARCH, members, loader(), VAL, epochs=2, input_shape=(6,), n_classes=3,
                               seed=4, device="cpu")
    for i, (member, result) in enumerate(zip(members, results)):  # every member saw the loader's order
        model, history = solo(member, 4 + i, epochs=2, patience=None, data=(loader(), VAL))
        assert_same_run(result, model, history)
    images = (torch.randn(64, 1, 8, 8), torch.randint(0, 4, (64,)))
    results = train_population("convnet", {"channels": 4, "depth": 1, "head_width": 8},
                               [{"lr": 1e-2, "dropout": 0.2}, {"lr": 1e-3}], images, images, epochs=2,
                               batch_size=16, device="cpu")
    assert all(math.isfinite(r.records[-1]["val_loss"]) for r in results)
    X = torch.randn(80, 6)
    target = (X[:, :1] * 2.0, X[:, :1] * 2.0)
    reg = train_population("mlp", ARCH, [{"lr": 1e-2}], (X, target[0]), (X, target[1]), epochs=5, batch_size=16,
                           task="regression", device="cpu")
    assert reg[0].records[-1]["val_accuracy"] is None
    assert reg[0].records[-1]["val_loss"] < reg[0].records[0]["val_loss"]


# ---- the study driver -----------------------------------------------------------------------------

def test_optimize_population_groups_by_architecture_reports_epochs_and_tells_each_trial():
    space = knobs.Space({"lr": knobs.Float(1e-3, 3e-2, log=True), "width": knobs.Choice([8, 16])})
    study = knobs.Study(space, sampler=knobs.search.Random(seed=0), direction="minimize")
    calls = []
    objective = PopulationObjective("mlp", TRAIN, VAL, fixed={"depth": 1}, epochs=3, batch_size=32, patience=2,
                                    device="cpu", seed=100, on_epoch=lambda trial, record: calls.append(trial.number))
    assert objective.groups([{"width": 8}, {"width": 16}, {"width": 8}]) == [[0, 2], [1]]
    optimize_population(study, objective, n_trials=6, population=3)
    trials = study.trials
    assert len(trials) == 6 and all(t.state is TrialState.COMPLETE for t in trials)
    assert sorted(set(calls)) == list(range(6))
    for t in trials:
        assert sorted(t.intermediate) == list(range(1, len(t.intermediate) + 1))
        assert t.value == pytest.approx(min(t.intermediate.values()))
        assert t.attrs["epochs_run"] == len(t.intermediate) and t.attrs["population"] is True
        assert set(t.attrs["curve"]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "lr"}
        # each trial equals the same trial trained alone with seed + number, as the pipeline seeds it
        _, history = solo({"lr": t.config["lr"]}, 100 + t.number, arch={"width": t.config["width"], "depth": 1},
                          epochs=3)
        assert t.value == pytest.approx(history.best["val_loss"], rel=1e-5)


def test_optimize_population_prunes_and_fails_members_alone():
    space = knobs.Space({"lr": knobs.Choice([3e-2, 1e12, 1e-4, 1e-5])})
    study = knobs.Study(space, sampler=knobs.search.Grid(), pruner=knobs.prune.Median(n_startup_trials=0))
    objective = PopulationObjective("mlp", TRAIN, VAL, fixed=ARCH, optimizer="sgd", epochs=4, batch_size=32,
                                    device="cpu")
    optimize_population(study, objective, n_trials=8, population=2)
    trials = {t.config["lr"]: t for t in study.trials}
    assert len(trials) == 4  # the grid is used up before n_trials
    assert trials[1e12].state is TrialState.FAILED and "diverged" in trials[1e12].attrs["fail_reason"]
    assert trials[3e-2].state is TrialState.COMPLETE
    # the slow learners in the second population fall below the median of the first at step 1
    assert trials[1e-5].state is TrialState.PRUNED and trials[1e-5].last_step < 4


class FakeBatch:
    """A batch objective that trains nothing: value = x, an error on the batch holding ``raise_at``."""

    def __init__(self, raise_at=None, error=RuntimeError):
        self.raise_at, self.error, self.batches = raise_at, error, []

    def __call__(self, trials):
        self.batches.append([t.number for t in trials])
        if self.raise_at in self.batches[-1]:
            raise self.error("the device fell over")
        return [MemberResult(index=i, params=t.config, history=History(records=[], best_epoch=None),
                             best_value=t.config["x"], state_dict=None) for i, t in enumerate(trials)]


def test_population_executor_asks_batches_and_honours_stop_catch_and_workers():
    space = knobs.Space({"x": knobs.Float(0.0, 1.0)})
    study = knobs.Study(space, sampler=knobs.search.Random(seed=0))
    objective, seen = FakeBatch(raise_at=2), []
    stop_after_five = lambda s, t: (seen.append(t.number), len(seen) >= 5 and s.stop())  # noqa: E731
    study.optimize(objective, n_trials=10, executor=PopulationExecutor(population=2), callbacks=[stop_after_five])
    assert objective.batches == [[0, 1], [2, 3], [4, 5]]  # stop() ends the search after the batch
    assert seen == list(range(6))
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.FAILED] * 2 + [TrialState.COMPLETE] * 2
    assert study.trials[2].attrs["fail_reason"] == "RuntimeError: the device fell over"  # the search went on
    assert [t.value for t in study.trials[4:]] == [t.config["x"] for t in study.trials[4:]]

    bad = knobs.Study(space, sampler=knobs.search.Random(seed=0))
    with pytest.raises(ConfigError, match="fell over"):  # bad input is not a failed trial: it propagates
        bad.optimize(FakeBatch(raise_at=0, error=ConfigError), n_trials=4, executor=PopulationExecutor(3))
    assert [t.state for t in bad.trials] == [TrialState.FAILED] * 3
    with pytest.raises(ConfigError, match="workers must be 1"):
        bad.optimize(FakeBatch(), n_trials=2, workers=2, executor=PopulationExecutor(2))


def test_once_per_batch_callbacks_run_after_each_batch_and_each_trial_one_by_one():
    space = knobs.Space({"x": knobs.Float(0.0, 1.0)})
    for executor, expected in ((PopulationExecutor(population=3), [(2, 3), (5, 6), (6, 7)]),
                               (None, [(n, n + 1) for n in range(7)])):
        per_trial, per_batch = [], []
        study = knobs.Study(space, sampler=knobs.search.Random(seed=0))
        study.optimize(FakeBatch() if executor else (lambda config, trial: config["x"]), n_trials=7, executor=executor,
                       callbacks=[once_per_batch(lambda s, t: per_batch.append((t.number, len(per_trial)))),
                                  lambda s, t: per_trial.append(t.number)])
        assert per_trial == list(range(7))
        assert per_batch == expected  # the batch's last trial, after every per-trial callback of it


def test_group_members_and_population_key():
    configs = [{"width": 64, "lr": 0.1}, {"width": 128, "lr": 0.1}, {"width": 64, "lr": 0.01, "dropout": 0.3},
               {"width": 64, "optimizer": "adamw"}, {"width": 64, "optimizer": "sgd"}, {"width": 64, "batch_size": 16}]
    assert group_members("mlp", configs) == [[0, 2, 3], [1], [4], [5]]
    assert population_key("mlp", {"lr": 1}) == population_key("mlp", {"lr": 2, "dropout": 0.5})


# ---- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"member_params": []}, "at least one member|P >= 1"),
    ({"member_params": [{"lr": 0.1, "width": 8}, {"lr": 0.1, "width": 16}]}, "differ in architecture 'width'"),
    ({"member_params": [{"lr": 0.1, "activation": "tanh"}, {"lr": 0.1}]}, "differ in architecture 'activation'"),
    ({"member_params": [{"lr": 0.1}], "optimizer": "rmsprop"}, "'rmsprop' is not available in population mode"),
    ({"member_params": [{"lr": 0.1, "optimizer": "adam"}, {"lr": 0.1, "optimizer": "sgd"}]}, "mixes"),
    ({"member_params": [{"lr": 0.1, "batch_size": 8}, {"lr": 0.1}]}, "shared setting 'batch_size'"),
    ({"member_params": [{"lr": 0.1, "rho": 0.9}]}, "'rho' cannot be set in population mode"),
    ({"member_params": [{"lr": -1.0}]}, "member 0: lr"),
    ({"member_params": [{"lr": 0.1, "beta1": 0.9}], "optimizer": "sgd"}, "member 0: .*betas"),
    ({"member_params": [{"lr": 0.1}], "schedule": "plateau"}, "plateau"),
    ({"member_params": [{"lr": 0.1}], "family": "text_bag"}, "population mode trains"),
    ({"member_params": [{"lr": 0.1}], "seed": [1, 2]}, "seed"),
    ({"member_params": [{"lr": 0.1}], "monitor": "accuracy"}, "monitor"),
])
def test_bad_input_is_one_clear_config_error(kwargs, match):
    call = {"family": "mlp", "model_params": ARCH, "train": TRAIN, "val": VAL, "epochs": 1, "device": "cpu", **kwargs}
    with pytest.raises(ConfigError, match=match):
        train_population(**call)


def test_dataloader_needs_shapes_and_bad_population_size():
    loader = DataLoader(TensorDataset(*TRAIN), batch_size=32)
    with pytest.raises(ConfigError, match="input_shape, n_classes"):
        train_population("mlp", ARCH, [{"lr": 0.1}], loader, VAL, epochs=1, device="cpu")
    study = knobs.Study(knobs.Space({"lr": knobs.Float(1e-3, 1e-1)}))
    objective = PopulationObjective("mlp", TRAIN, VAL, fixed=ARCH, epochs=1, device="cpu")
    with pytest.raises(ConfigError, match="population"):
        optimize_population(study, objective, n_trials=2, population=0)


def test_population_writes_storage_once_per_epoch_not_once_per_member():
    from knobs.storage import InMemoryStorage

    class Counting(InMemoryStorage):
        def __init__(self):
            super().__init__()
            self.calls = []

        def __getattribute__(self, name):
            if name in ("report", "report_many", "set_trial_attr", "set_trial_attrs", "finish_trial",
                        "finish_trials", "get_trials"):
                object.__getattribute__(self, "calls").append(name)
            return object.__getattribute__(self, name)

    store = Counting()
    space = knobs.Space({"lr": knobs.Float(1e-3, 3e-2, log=True)})
    study = knobs.Study(space, sampler=knobs.search.Random(seed=0), pruner=knobs.prune.Median(n_startup_trials=0),
                        storage=store)
    objective = PopulationObjective("mlp", TRAIN, VAL, fixed={"width": 8, "depth": 1}, epochs=3, batch_size=32,
                                    patience=None, device="cpu")
    store.calls.clear()
    optimize_population(study, objective, n_trials=6, population=6)
    calls = [c for c in store.calls if c != "get_trials"]
    assert "report" not in calls and "set_trial_attr" not in calls and "finish_trial" not in calls
    assert calls.count("report_many") == 3 and calls.count("set_trial_attrs") == 1 and calls.count("finish_trials") == 1
    trials = study.trials
    assert all(t.state.finished for t in trials) and all(t.attrs.get("population") or t.state is TrialState.PRUNED
                                                           for t in trials)
    assert all(sorted(t.intermediate) == list(range(1, len(t.intermediate) + 1)) for t in trials)


def test_sample_weights_and_several_inputs_are_refused_not_dropped():
    from knobs.errors import DataError

    X, y = TRAIN
    w = torch.rand(len(y))
    one = [{"lr": 1e-2}]
    with pytest.raises(DataError, match=r"train: .*sample weights.*population mode.*unweighted"):
        train_population("mlp", ARCH, one, (X, y, w), VAL, epochs=1, device="cpu")
    with pytest.raises(DataError, match=r"train: .*sample weights"):
        train_population("mlp", ARCH, one, {"x": X, "y": y, "weight": w}, VAL, epochs=1, device="cpu")
    with pytest.raises(DataError, match=r"val: .*sample weights"):
        train_population("mlp", ARCH, one, TRAIN, (*VAL, torch.ones(len(VAL[1]))), epochs=1, device="cpu")
    weighted = DataLoader(TensorDataset(X, y, w), batch_size=32)
    with pytest.raises(DataError, match=r"train: the DataLoader's batches carry sample weights"):
        train_population("mlp", ARCH, one, weighted, VAL, epochs=1, input_shape=(6,), n_classes=3, device="cpu")

    class Pairs(torch.utils.data.Dataset):  # two inputs per example: ((x1, x2), y)
        def __len__(self):
            return len(y)

        def __getitem__(self, i):
            return (X[i, :3], X[i, 3:]), y[i]

    with pytest.raises(DataError, match=r"train: the DataLoader's batches hold 2 inputs"):
        train_population("mlp", ARCH, one, DataLoader(Pairs(), batch_size=32), VAL, epochs=1, input_shape=(6,),
                         n_classes=3, device="cpu")
