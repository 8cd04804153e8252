"""Image augmentation: each step does what it says, per image, reproducibly; mixup/CutMix math;
bad input named; the Trainer trains on it and resumes bit for bit."""

import math
import sys

import numpy as np
import pytest
import torch
from scipy import stats

import knobs
from knobs.augment import (IMAGE_OPTIONS, ImageAugment, ImageAugmentOptions, cut_box, cutmix, mixup,
                           soft_targets)
from knobs.errors import ConfigError, DataError
from knobs.models import build_model
from knobs.train import Callback, Trainer

torch.set_num_threads(1)


def batch(n=16, c=3, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g), torch.arange(n) % 10


# ---- steps ------------------------------------------------------------------------------------

def test_default_options_change_nothing():
    x, y = batch()
    out_x, out_y = ImageAugment(seed=0)(x, y)
    assert torch.equal(out_x, x) and torch.equal(out_y, y)
    assert ImageAugmentOptions().active == ()


def test_options_may_be_keywords_as_torchvisions_transforms_take_them():
    x, y = batch()
    assert torch.equal(ImageAugment(hflip=1.0, seed=0)(x, y)[0], ImageAugment({"hflip": 1.0}, seed=0)(x, y)[0])
    both = ImageAugment({"hflip": 1.0}, rotation=10.0, seed=0)
    assert both.config == {"hflip": 1.0, "rotation": 10.0}
    with pytest.raises(ConfigError, match="ImageAugment: hflip given twice"):
        ImageAugment({"hflip": 1.0}, hflip=0.5)
    with pytest.raises(ConfigError, match=r"unknown key 'augment.hfilp' \(did you mean 'hflip'\?\)"):
        ImageAugment(hfilp=0.5, seed=0)(x, y)
    # channels last (NumPy's order): the flip would act on the wrong axis; one message with the permute
    with pytest.raises(DataError, match=r"looks channels-last \(N, H, W, C\).*xb.permute\(0, 3, 1, 2\)"):
        ImageAugment(hflip=1.0, seed=0)(x.permute(0, 2, 3, 1), y)


@pytest.mark.parametrize("key, dims", [("hflip", (-1,)), ("vflip", (-2,))])
def test_certain_flips_flip_every_image(key, dims):
    x, y = batch()
    out, _ = ImageAugment({key: 1.0}, seed=0)(x, y)
    assert torch.equal(out, torch.flip(x, dims))


def test_parameters_are_drawn_per_image_not_per_batch():
    x = torch.rand(1, 1, 8, 8).expand(64, 1, 8, 8).contiguous()
    out, _ = ImageAugment({"hflip": 0.5}, seed=0)(x, torch.zeros(64, dtype=torch.long))
    flipped = sum(torch.equal(o, torch.flip(x[0], (-1,))) for o in out)
    assert 10 < flipped < 54  # about half, never all or none
    rotated, _ = ImageAugment({"rotation": 30, "affine_p": 1.0}, seed=0)(x, torch.zeros(64, dtype=torch.long))
    assert len({tuple(r.flatten().tolist()) for r in rotated}) == 64  # 64 different angles


def test_translation_pads_as_asked():
    x = torch.ones(8, 1, 16, 16)
    y = torch.zeros(8, dtype=torch.long)
    zeros, _ = ImageAugment({"translate": 0.4, "affine_p": 1.0}, seed=1)(x, y)
    border, _ = ImageAugment({"translate": 0.4, "affine_p": 1.0, "padding": "border"}, seed=1)(x, y)
    assert float(zeros.min()) < 0.5  # what came from outside is zero
    assert torch.allclose(border, x, atol=1e-5)  # the border value everywhere


def test_random_resized_crop_keeps_the_size_and_zooms_in():
    ramp = torch.linspace(0, 1, 32).expand(4, 1, 32, 32).contiguous()
    out, _ = ImageAugment({"crop_scale": 0.1, "crop_p": 1.0}, seed=0)(ramp, torch.zeros(4, dtype=torch.long))
    assert out.shape == ramp.shape
    spans = out[:, 0, 16].amax(dim=-1) - out[:, 0, 16].amin(dim=-1)
    assert bool((spans < 0.99).all())  # each row covers part of the ramp only


def test_noise_has_the_asked_standard_deviation():
    x = torch.full((64, 3, 16, 16), 0.5)
    out, _ = ImageAugment({"noise": 0.1, "noise_p": 1.0}, seed=0)(x, torch.zeros(64, dtype=torch.long))
    assert abs(float((out - x).std()) - 0.1) < 0.005


def test_color_jitter_changes_brightness_within_range():
    x = torch.full((64, 1, 8, 8), 0.5)
    out, _ = ImageAugment({"brightness": 0.4, "color_p": 1.0}, seed=0)(x, torch.zeros(64, dtype=torch.long))
    means = out.mean(dim=(1, 2, 3))
    assert float(means.min()) >= 0.5 * 0.6 - 1e-5 and float(means.max()) <= 0.5 * 1.4 + 1e-5
    assert float(means.std()) > 0.03
    rgb, _ = ImageAugment({"saturation": 0.5, "hue": 0.1, "color_p": 1.0}, seed=0)(*batch())
    assert not torch.equal(rgb, batch()[0]) and float(rgb.min()) >= 0 and float(rgb.max()) <= 1


def test_eval_mode_is_the_identity():
    x, y = batch()
    aug = ImageAugment({"hflip": 1.0, "noise": 0.3, "noise_p": 1.0, "mixup_alpha": 1.0}, n_classes=10, seed=0)
    out_x, out_y = aug.eval()(x, y)
    assert out_x is x and out_y is y
    assert not torch.equal(aug.train()(x, y)[0], x)


# ---- randomness -------------------------------------------------------------------------------

FULL = {"hflip": 0.5, "vflip": 0.2, "crop_scale": 0.5, "rotation": 20, "translate": 0.1, "brightness": 0.3,
        "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "noise": 0.05, "mixup_alpha": 0.4, "cutmix_alpha": 1.0}


def test_a_seed_fixes_the_stream_and_leaves_global_generators_alone():
    x, y = batch()
    torch.manual_seed(123)
    a1, b1 = ImageAugment(FULL, n_classes=10, seed=5)(x, y)
    after = torch.rand(3)
    torch.manual_seed(123)
    a2, b2 = ImageAugment(FULL, n_classes=10, seed=5)(x, y)
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert torch.equal(torch.rand(3), after)  # the augmentation drew nothing from the global stream
    a3, _ = ImageAugment(FULL, n_classes=10, seed=6)(x, y)
    assert not torch.equal(a1, a3)


def test_without_a_seed_torch_manual_seed_decides():
    x, y = batch()
    torch.manual_seed(7)
    a1, b1 = ImageAugment(FULL, n_classes=10)(x, y)
    torch.manual_seed(7)
    a2, b2 = ImageAugment(FULL, n_classes=10)(x, y)
    assert torch.equal(a1, a2) and torch.equal(b1, b2)


def test_generator_and_state_dict_continue_the_stream():
    x, y = batch()
    aug = ImageAugment(FULL, n_classes=10, generator=torch.Generator().manual_seed(3))
    aug(x, y)
    state = aug.state_dict()
    expected = aug(x, y)[0]
    other = ImageAugment(FULL, n_classes=10, seed=99)
    other.load_state_dict(state)
    assert torch.equal(other(x, y)[0], expected)


# ---- mixup and CutMix -------------------------------------------------------------------------

def test_mixup_blends_images_and_targets():
    x, y = batch(n=6)
    soft = soft_targets(y, 10, x.dtype)
    perm = torch.tensor([1, 2, 3, 4, 5, 0])
    mx, my = mixup(x, soft, 0.3, perm)
    assert torch.allclose(mx, 0.3 * x + 0.7 * x[perm], atol=1e-6)
    assert torch.allclose(my, 0.3 * soft + 0.7 * soft[perm], atol=1e-6)
    assert torch.allclose(my.sum(dim=1), torch.ones(6))


def test_cutmix_pastes_a_box_and_weighs_labels_by_its_area():
    x, y = batch(n=4, size=10)
    soft = soft_targets(y, 10, x.dtype)
    perm = torch.tensor([3, 2, 1, 0])
    box = cut_box(0.64, (0.5, 0.5), 10, 10)
    assert box == (2, 8, 2, 8)  # sides sqrt(1 - 0.64) * 10 = 6 around the centre pixel 5
    mixed, my, lam = cutmix(x, soft, box, perm)
    top, bottom, left, right = box
    inside = torch.zeros(10, 10, dtype=torch.bool)
    inside[top:bottom, left:right] = True
    assert torch.equal(mixed[:, :, inside], x[perm][:, :, inside]) and torch.equal(mixed[:, :, ~inside], x[:, :, ~inside])
    assert lam == pytest.approx(1 - inside.float().mean().item())
    assert torch.allclose(my, lam * soft + (1 - lam) * soft[perm])


def test_cut_box_is_clipped_at_the_border():
    top, bottom, left, right = cut_box(0.0, (0.0, 0.99), 8, 8)
    assert (top, right) == (0, 8) and bottom == 4 and left == 3


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_lambda_follows_beta_alpha_alpha(alpha):
    n = 10
    x = torch.zeros(n, 1, 4, 4)
    y = torch.arange(n)
    aug = ImageAugment({"mixup_alpha": alpha}, n_classes=n, seed=0)
    lams = []
    for _ in range(300):
        _, soft = aug(x, y)
        # each row keeps lam of its own class (1 for an image paired with itself)
        lams.append(float(soft[torch.arange(n), y].min()))
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_mixup_and_cutmix_share_batches_and_mix_p_skips_some():
    n = 32
    x, y = torch.rand(n, 1, 8, 8), torch.arange(n) % 10
    aug = ImageAugment({"mixup_alpha": 1.0, "cutmix_alpha": 1.0, "mix_p": 0.5}, n_classes=10, seed=0)
    kinds = []
    for _ in range(200):
        out, soft = aug(x, y)
        if bool((soft.max(dim=1).values == 1).all()):
            kinds.append("none")
        else:
            kept = (out == x).flatten(1).float().mean(dim=1)  # CutMix keeps most pixels exactly
            kinds.append("cutmix" if float(kept.median()) > 0.2 else "mixup")
    shares = {k: kinds.count(k) / len(kinds) for k in ("none", "mixup", "cutmix")}
    assert abs(shares["none"] - 0.5) < 0.12 and abs(shares["mixup"] - 0.25) < 0.1 and abs(shares["cutmix"] - 0.25) < 0.1


# ---- searchable options -----------------------------------------------------------------------

def test_from_params_reads_a_space_sample():
    space = knobs.Space({"lr": knobs.Float(1e-4, 1e-1, log=True),
                         "augment.rotation": knobs.Float(0, 30),
                         "augment.hflip": knobs.Float(0, 1),
                         "augment.mixup_alpha": knobs.Choice([0.0, 0.2, 0.4])})
    for config in space.sample(np.random.default_rng(0), 5):
        aug = ImageAugment.from_params(config, n_classes=10, seed=0).check()
        assert aug.options_.rotation == pytest.approx(config["augment.rotation"])
        assert aug.options_.mixup_alpha == config["augment.mixup_alpha"]
        xb, yb = aug(*batch())
        assert xb.shape == batch()[0].shape


def test_options_round_trip_and_repr_is_stable():
    opts = ImageAugmentOptions.from_dict({"hflip": 0.5, "padding": "reflection"})
    assert ImageAugmentOptions.from_dict(opts) == opts and opts.changed() == {"hflip": 0.5, "padding": "reflection"}
    assert set(IMAGE_OPTIONS) >= {"rotation", "mixup_alpha", "cutmix_alpha", "crop_scale"}
    aug = ImageAugment({"hflip": 0.5}, n_classes=10, seed=0)
    assert repr(aug) == "ImageAugment({'hflip': 0.5}, n_classes=10, seed=0)"
    assert Trainer(batch_transform=aug).settings()["batch_transform"] == repr(aug)


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("config, match", [
    ({"rotaton": 10}, r"unknown key 'augment.rotaton' \(did you mean 'rotation'\?\)"),
    ({"sharpen": 0.5}, "unknown key 'augment.sharpen'; valid keys in augment: hflip, vflip"),
    ({"hflip": 1.5}, r"augment.hflip: expected a number in \[0, 1\] \(a probability\), got 1.5"),
    ({"noise_p": -0.1}, "augment.noise_p"),
    ({"mix_p": True}, "augment.mix_p"),
    ({"rotation": 270}, r"augment.rotation: expected a number in \[0, 180\]"),
    ({"crop_scale": 0}, "augment.crop_scale"),
    ({"translate": 1.0}, "augment.translate"),
    ({"hue": 0.7}, "augment.hue"),
    ({"mixup_alpha": -1}, "augment.mixup_alpha"),
    ({"brightness": float("nan")}, "augment.brightness"),
    ({"padding": "wrap"}, "augment.padding: expected one of zeros, border, reflection"),
    (["hflip"], "expected a dict of options"),
])
def test_bad_options_are_named(config, match):
    with pytest.raises(ConfigError, match=match):
        ImageAugment(config).check()


def test_mixing_needs_a_classification_task_and_the_class_count():
    with pytest.raises(ConfigError, match="task is regression"):
        ImageAugment({"mixup_alpha": 0.2}, task="regression").check()
    with pytest.raises(ConfigError, match="need the number of classes"):
        ImageAugment({"cutmix_alpha": 1.0}).check()
    with pytest.raises(ConfigError, match="task must be one of"):
        ImageAugment(task="detection").check()
    with pytest.raises(ConfigError, match="seed or generator, not both"):
        ImageAugment(seed=1, generator=torch.Generator()).check()
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(DataError, match="regression task"):
        ImageAugment({"mixup_alpha": 0.2}, n_classes=3)(x, torch.randn(4, 1))
    with pytest.raises(DataError, match=r"class indices in \[0, 3\)"):
        ImageAugment({"mixup_alpha": 0.2}, n_classes=3)(x, torch.tensor([0, 1, 2, 3]))
    # geometric steps need no labels: regression targets pass through untouched
    targets = torch.randn(4, 1)
    assert ImageAugment({"hflip": 1.0}, task="regression")(x, targets)[1] is targets


def test_missing_kornia_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "kornia.augmentation", None)
    with pytest.raises(ConfigError, match="needs kornia.*pip install kornia"):
        ImageAugment({"hflip": 0.5})(*batch())


def test_bad_batches_are_named():
    aug = ImageAugment({"hflip": 0.5})
    with pytest.raises(DataError, match=r"\(N, C, H, W\), got \(4, 64\)"):
        aug(torch.rand(4, 64), torch.zeros(4))
    with pytest.raises(DataError, match="one label per image"):
        aug(torch.rand(4, 1, 8, 8), torch.zeros(3))
    with pytest.raises(DataError, match=r"got torch.uint8 pixels of shape \(4, 3, 8, 8\); scale them to floats first, "
                                        r"e.g. xb.float\(\) / 255"):
        aug(torch.randint(0, 255, (4, 3, 8, 8), dtype=torch.uint8), torch.zeros(4))
    with pytest.raises(DataError, match=r"pixels in \[0, 1\].*before standardizing"):
        ImageAugment({"contrast": 0.2})(torch.randn(4, 1, 8, 8), torch.zeros(4))
    with pytest.raises(DataError, match="need RGB images"):
        ImageAugment({"hue": 0.1})(torch.rand(4, 1, 8, 8), torch.zeros(4))


# ---- with the Trainer -------------------------------------------------------------------------

def digits_like(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    X = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    X[torch.arange(n), 0, y * 2, y * 2] = 1.0  # a class-coded bright pixel
    return X, y


def convnet(seed=0):
    torch.manual_seed(seed)
    return build_model("convnet", input_shape=(1, 8, 8), n_classes=4, channels=4, depth=1, head_width=16,
                       dropout=0.1)


class SaveAt(Callback):
    def __init__(self, epoch, path):
        self.epoch, self.path = epoch, path

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            trainer.save(self.path)


def trainer(aug, callbacks=()):
    return Trainer(optimizer="adam", lr=1e-2, epochs=4, batch_size=16, seed=3, device="cpu",
                   batch_transform=aug, callbacks=callbacks)


@pytest.mark.parametrize("aug_seed", [None, 11])
def test_trainer_trains_on_soft_targets_and_resumes_bitwise(tmp_path, aug_seed):
    """Without a seed the augmentation follows torch's global stream (in the checkpoint's RNG
    state); with one, its own stream travels in the trainer checkpoint."""
    options = {"rotation": 10, "translate": 0.1, "noise": 0.05, "mixup_alpha": 0.4, "cutmix_alpha": 1.0}
    train, val = digits_like(), digits_like(seed=1)
    whole = convnet()
    expected = trainer(ImageAugment(options, n_classes=4, seed=aug_seed),
                       [SaveAt(2, tmp_path / "mid.pt")]).fit(whole, train, val)
    assert all(math.isfinite(r["train_loss"]) and r["val_accuracy"] is not None for r in expected.records)
    resumed_model = convnet(seed=9)
    resumed = trainer(ImageAugment(options, n_classes=4, seed=aug_seed)).fit(resumed_model, train, val,
                                                                             resume_from=tmp_path / "mid.pt")
    assert [r["train_loss"] for r in resumed.records] == [r["train_loss"] for r in expected.records]
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed_model.state_dict().values()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_get_the_same_geometry_as_on_the_cpu():
    x, y = batch(n=32)
    geometric = {"hflip": 0.5, "crop_scale": 0.5, "rotation": 20, "translate": 0.1}
    cpu, _ = ImageAugment(geometric, seed=0)(x, y)
    gpu, _ = ImageAugment(geometric, seed=0)(x.cuda(), y.cuda())
    assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, atol=1e-4)
    mixed, soft = ImageAugment(FULL, n_classes=10, seed=0)(x.cuda(), y.cuda())
    assert mixed.device.type == soft.device.type == "cuda" and torch.allclose(soft.sum(1).cpu(), torch.ones(32))


def test_masks_move_with_their_images_and_keep_their_classes():
    # a segmentation's images were flipped and rotated while their masks stayed put, silently (then refused)
    from knobs.train import Trainer

    X = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    masks = (X[:, 0] > 0.5).long()
    masks[:, 0, 0] = -100  # no class
    flipped_x, flipped = ImageAugment(hflip=1.0, seed=0)(X, masks)
    assert torch.equal(flipped_x, X.flip(-1)) and torch.equal(flipped, masks.flip(-1))
    moved_x, moved = ImageAugment(rotation=30, translate=0.25, crop_scale=0.5, seed=1)(X, masks)
    assert moved.dtype == torch.long and set(moved.unique().tolist()) <= {-100, 0, 1}
    assert (moved == -100).sum() > (masks == -100).sum()  # pixels moved in from outside have no class
    inked = moved_x[:, 0] > 0.5  # a moved pixel keeps its class where no border or resampling blurs it
    assert ((moved == inked.long()) | (moved == -100)).float().mean() > 0.85
    seg = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1))
    record = Trainer(epochs=1, batch_size=32, batch_transform=ImageAugment(hflip=0.5, rotation=10, noise=0.05)).fit(
        seg, (X, masks)).records
    assert record[-1]["train_loss"] > 0
    with pytest.raises(DataError, match=r"mixup / CutMix blend whole images' labels, and these labels are masks"):
        ImageAugment(mixup_alpha=0.2, n_classes=2)(X, masks)
    tags = masks[:, 0]  # a class per position that is not a mask of the images: it cannot move with them
    with pytest.raises(DataError, match=r"augment: flip, affine move the images' pixels, and the labels hold a class "
                                        r"per position \(shape \(64, 8\)\)"):
        ImageAugment(hflip=0.5, rotation=10)(X, tags)
