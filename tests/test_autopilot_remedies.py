"""The autopilot's measured remedies (issue 18, item 7): a noisy loss gets the batch the gradient noise
scale suggests (SGD's LR by the square-root rule), a too high LR with a measured curvature λ gets an
LR just under the edge of stability (2/λ for plain SGD). Fed with hand-made findings whose evidence has
the shape knobs.diagnose gives it (``evidence["geometry"]``: ``b_simple``, ``sharpness``, ``edge``, ``lr``)."""

from __future__ import annotations

import pytest

from knobs.diagnose._finding import finding
from knobs.pipeline.autopilot._questions import answer
from knobs.pipeline.autopilot._remedies import EDGE_FRACTION, Setting, again, candidates, suggested_batch
from knobs.report._autopilot import autopilot_section

DEFAULTS = {"lr": 1e-3, "weight_decay": 0.0, "batch_size": 32, "epochs": 10, "clip_grad_norm": None, "width": 64, "depth": 2, "activation": "relu", "dropout": 0.0, "batch_norm": False}


def _plan(findings, params, allowed=None, n_train=1000):
    """What the walk does with a diagnosis: answer the questions, lay the remedies over the trial."""
    answers = answer(findings, [])
    setting = Setting(params=params, defaults=DEFAULTS, n_train=n_train, evidence=answers.evidence, optimizer="adam")
    return candidates(answers.codes, setting, allowed)


def noisy(b_simple=None, batch=1):
    geometry = {"batch_size": batch, "b_simple": b_simple, "b_simple_resolved": True}
    return finding("noisy_loss", "warning", "the loss is dominated by noise", {"batch_size": batch, "geometry": geometry})


def steep(top, lr, momentum=0.0):
    edge = (2 + 2 * momentum) / lr  # knobs.diagnose._curvature.stability_edge, heavy-ball momentum
    return finding("lr_too_high", "warning", "λ above the edge",
                   {"lr": lr, "geometry": {"lr": lr, "sharpness": top, "edge": edge, "beyond_edge": top > edge}})


def test_the_suggested_batch_is_the_power_of_two_nearest_the_noise_scale():
    assert [suggested_batch(b) for b in (0.7, 3.0, 45.0, 50.0, 1000.0)] == [1, 4, 32, 64, 1024]
    assert suggested_batch(None) is None and suggested_batch(float("nan")) is None


def test_a_noisy_sgd_run_gets_the_suggested_batch_and_the_square_root_lr():
    first, second = _plan([noisy(b_simple=60.0)], {"optimizer": "sgd", "lr": 0.05, "batch_size": 1})
    assert (first.knob, first.before, first.after) == ("batch_size", {"batch_size": 1, "lr": 0.05},
                                                       {"batch_size": 64, "lr": 0.4})  # 0.05 × √64
    assert first.describe() == "batch_size 1 → 64, lr 0.05 → 0.4"
    assert second.after == {"lr": pytest.approx(0.0166667)}  # then the smaller step, as before


def test_adam_keeps_its_lr_and_without_a_suggestion_the_batch_doubles():
    (batch, _) = _plan([noisy(b_simple=250.0, batch=16)], {"optimizer": "adam", "lr": 1e-3, "batch_size": 16})
    assert batch.after == {"batch_size": 256}
    (doubled, _) = _plan([noisy(batch=16)], {"optimizer": "sgd", "lr": 0.1, "batch_size": 16})
    assert doubled.after == {"batch_size": 32, "lr": pytest.approx(0.141421)}


def test_the_batch_remedy_stays_within_the_rows_the_allowed_knobs_and_what_the_noise_asks():
    (capped, _) = _plan([noisy(b_simple=5000.0, batch=100)], {"optimizer": "sgd", "lr": 0.01, "batch_size": 100},
                        n_train=400)
    assert capped.after == {"batch_size": 400, "lr": 0.02}
    (only_batch,) = _plan([noisy(b_simple=60.0)], {"optimizer": "sgd", "lr": 0.05, "batch_size": 1},
                          allowed=["batch_size"])
    assert only_batch.after == {"batch_size": 64}  # the LR is not the autopilot's to turn here
    big_enough = _plan([noisy(b_simple=30.0, batch=64)], {"optimizer": "sgd", "lr": 0.05, "batch_size": 64})
    assert [c.knob for c in big_enough] == ["lr"]  # the noise scale asks no larger batch


def test_the_square_root_rule_stops_under_the_stability_edge_the_diagnosis_measured():
    geometry = {"batch_size": 4, "b_simple": 40.0, "lr": 0.1, "sharpness": 10.0, "edge": 20.0}  # edge LR 0.2
    found = finding("noisy_loss", "warning", "noise", {"geometry": geometry})
    (batch, _) = _plan([found], {"optimizer": "sgd", "lr": 0.1, "batch_size": 4})
    assert batch.after == {"batch_size": 32, "lr": pytest.approx(EDGE_FRACTION * 0.2)}  # not 0.1 × √8 = 0.28
    geometry.update(sharpness=40.0)  # the LR now is past the edge already: the batch grows, the LR stays
    (batch, _) = _plan([finding("noisy_loss", "warning", "noise", {"geometry": geometry})],
                       {"optimizer": "sgd", "lr": 0.1, "batch_size": 4})
    assert batch.after == {"batch_size": 32}


def test_the_optimizer_the_trial_trains_with_decides_the_rule_when_its_params_do_not_name_one():
    answers = answer([noisy(b_simple=60.0)], [])
    setting = Setting({"lr": 0.05, "batch_size": 1}, DEFAULTS, n_train=1000, evidence=answers.evidence, optimizer="SGD")
    assert candidates(answers.codes, setting)[0].after == {"batch_size": 64, "lr": 0.4}


def test_a_kept_batch_change_is_taken_one_doubling_further():
    setting = Setting({"optimizer": "momentum", "lr": 0.4, "batch_size": 64}, DEFAULTS, n_train=1000)
    assert again("noisy_loss", "batch_size", setting).after == {"batch_size": 128, "lr": pytest.approx(0.565685)}


def test_a_measured_curvature_puts_sgds_lr_just_under_the_edge_of_stability():
    changes = _plan([steep(top=50.0, lr=0.1)], {"optimizer": "sgd", "lr": 0.1})
    assert [c.after for c in changes][:3] == [{"lr": 0.036}, {"lr": 0.01}, {"lr": pytest.approx(0.0333333)}]
    assert "2/λ" in changes[0].reason and changes[0].describe() == "lr 0.1 → 0.036"
    with_momentum = _plan([steep(top=50.0, lr=0.2, momentum=0.9)], {"optimizer": "momentum", "lr": 0.2})
    assert with_momentum[0].after == {"lr": pytest.approx(EDGE_FRACTION * 2 * 1.9 / 50, rel=1e-2)}  # (2 + 2β)/λ


def test_the_curvature_step_needs_sgd_a_measured_lambda_and_an_lr_above_the_edge():
    tenth = {"lr": pytest.approx(0.01)}
    assert _plan([steep(top=50.0, lr=0.1)], {"optimizer": "adam", "lr": 0.1})[0].after == tenth
    assert _plan([finding("lr_too_high", "warning", "rose", {"lr": 0.1})], {"optimizer": "sgd", "lr": 0.1})[0].after \
        == tenth
    assert _plan([steep(top=5.0, lr=0.1)], {"optimizer": "sgd", "lr": 0.1})[0].after == tenth  # 2/λ = 0.4 > lr


def test_the_report_shows_both_knobs_of_a_batch_step():
    step = {"step": 1, "trial": 5, "question": "fit", "code": "noisy_loss", "found": "noise", "knob": "batch_size",
            "change": "batch_size 1 → 64, lr 0.05 → 0.4", "reason": "a larger <batch>", "value_before": 0.5,
            "value_after": 0.3, "outcome": "kept", "gain": 0.2, "se": 0.01, "margin": 0.01}
    summary = {"metric": "val_loss", "min_gain": 0.0, "margin_se": 1.0, "start": {"trial": 4, "value": 0.5, "config": {}},
               "end": {"trial": 5, "value": 0.3, "config": {"batch_size": 64, "lr": 0.4}}, "n_steps": 1, "n_kept": 1,
               "stopped": "max_steps", "steps": [step], "rounds": []}
    page = autopilot_section(summary)
    assert "batch_size 1 → 64, lr 0.05 → 0.4<br><small>a larger &lt;batch&gt;</small>" in page
    assert "batch_size = 64, lr = 0.4" in page


def test_a_too_high_lr_on_a_batch_far_below_the_noise_scale_also_gets_the_batch_it_suggests():
    """Issue 18, item 7: a batch of 1 under SGD at lr 0.05 is diagnosed lr_too_high (the 1/10 run is
    better, the noisy loss folded into it); after the measured 1/10 step, the batch the noise scale
    asks for, at the same LR (the square-root rule would raise a rate just found too high)."""
    geometry = {"batch_size": 1, "b_simple": 42.0, "noisy_batch": True, "lr": 0.05}
    high = finding("lr_too_high", "warning", "1/10 did better", {"lr": 0.05, "geometry": geometry})
    changes = _plan([high], {"optimizer": "sgd", "lr": 0.05, "batch_size": 1})
    assert [c.after for c in changes][:3] == [{"lr": pytest.approx(0.005)}, {"batch_size": 32},
                                              {"lr": pytest.approx(0.0166667)}]
    assert "noise" in changes[1].reason
    quiet = finding("lr_too_high", "warning", "1/10 did better", {"lr": 0.05, "geometry": {**geometry, "noisy_batch": False}})
    assert "batch_size" not in [c.knob for c in _plan([quiet], {"optimizer": "sgd", "lr": 0.05, "batch_size": 1})]
    assert again("lr_too_high", "batch_size", Setting({"lr": 0.05, "batch_size": 32}, DEFAULTS, n_train=1000,
                                                      evidence={"lr_too_high": {"geometry": geometry}})) is None


def test_sgd_given_as_a_torch_class_or_a_partial_takes_sgds_remedies():
    import functools

    import torch

    for optimizer in ("SGD", "nesterov", torch.optim.SGD, functools.partial(torch.optim.SGD, momentum=0.9)):
        assert Setting({"lr": 0.05}, DEFAULTS, optimizer=optimizer).sgd, optimizer
    for optimizer in ("adam", torch.optim.AdamW, None):
        assert not Setting({"lr": 0.05}, DEFAULTS, optimizer=optimizer).sgd, optimizer
