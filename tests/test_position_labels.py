"""A class per position — a tagger's token tags, a segmentation's pixel classes — trained, measured, checked and
diagnosed: logits ``(n, C, T...)`` against labels ``(n, T...)``, -100 where a position has none (torch's
``ignore_index``). They were refused as "1-D class indices" though ``nn.CrossEntropyLoss`` takes them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, jaccard_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import knobs
from knobs.balance import FocalLoss, class_counts, class_weights
from knobs.checks import check_data, check_initial_loss, overfit_tiny
from knobs.errors import DataError
from knobs.train import Trainer

torch.set_num_threads(1)


class Tagger(nn.Module):
    """Token ids (n, T) -> logits (n, C, T): each token's tag is its id mod 3."""

    def __init__(self, classes_last: bool = False) -> None:
        super().__init__()
        self.embed, self.out, self.classes_last = nn.Embedding(50, 16), nn.Linear(16, 3), classes_last

    def forward(self, x):
        logits = self.out(self.embed(x))
        return logits if self.classes_last else logits.movedim(-1, 1)


def tags(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, 50, (n, 12), generator=g)
    y = X % 3
    y[: n // 2, 8:] = -100  # half the sequences are 8 tokens long, padded to 12
    return X, y


def masks(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 1, 8, 8, generator=g)
    return X, (X[:, 0] > 0).long()


def segmenter(outputs=2):
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, outputs, 1))


def test_a_tagger_trains_and_its_loss_accuracy_and_metrics_count_the_labelled_positions_only():
    X, y = tags()
    torch.manual_seed(0)
    model = Tagger()
    trainer = Trainer(epochs=3, lr=0.02, metrics=["macro_f1", "balanced_accuracy", "log_loss"])
    record = trainer.fit(model, (X, y), (X, y)).records[-1]
    with torch.no_grad():
        out = model(X)
    labelled = y != -100
    assert record["val_loss"] == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-5)
    hits = ((out.argmax(1) == y) & labelled).sum().item()
    assert record["val_accuracy"] == pytest.approx(hits / labelled.sum().item())
    assert record["macro_f1"] == pytest.approx(f1_score(y[labelled], out.argmax(1)[labelled], average="macro"))
    assert record["log_loss"] == pytest.approx(record["val_loss"], rel=1e-4)
    assert Trainer(epochs=30, lr=0.05).fit(Tagger(), (X, y), (X, y)).records[-1]["val_accuracy"] == 1.0
    proba = trainer.predict_proba(model, X)
    assert proba.shape == (300, 3, 12) and torch.allclose(proba.sum(1), torch.ones(300, 12))


def test_a_loader_of_padded_sequences_measures_as_the_same_rows_in_memory():
    X, y = tags()
    torch.manual_seed(0)
    model = Tagger()
    trainer = Trainer(epochs=1)
    in_memory = trainer.evaluate(model, (X, y))
    from_loader = trainer.evaluate(model, DataLoader(TensorDataset(X, y), batch_size=32))
    assert from_loader["loss"] == pytest.approx(in_memory["loss"], rel=1e-5)
    assert from_loader["accuracy"] == pytest.approx(in_memory["accuracy"])
    record = Trainer(epochs=3, lr=0.05).fit(Tagger(), DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True),
                                            DataLoader(TensorDataset(X, y), batch_size=64)).records[-1]
    assert record["val_accuracy"] > 0.9


def test_sample_weights_weigh_each_sequence_by_the_mean_loss_of_its_labelled_tokens():
    X, y = tags()
    w = torch.rand(300, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = Tagger()
    loss = Trainer(weight_val_loss=True).evaluate(model, (X, y, w))["loss"]
    with torch.no_grad():
        per = F.cross_entropy(model(X), y, reduction="none")
    per_sequence = per.sum(1) / (y != -100).sum(1)  # a short sequence's padding does not dilute its loss
    assert loss == pytest.approx(((per_sequence * w).sum() / w.sum()).item(), rel=1e-5)


def test_a_segmentation_trains_with_c_logits_or_one_logit_per_pixel_and_a_mask_with_a_channel_axis():
    X, y = masks()
    torch.manual_seed(0)
    model = segmenter(2)
    two = Trainer(epochs=40, lr=0.02, metrics="mean_iou").fit(model, (X, y), (X, y)).records[-1]
    with torch.no_grad():
        pixels = model(X).argmax(1).reshape(-1)
    assert two["mean_iou"] == pytest.approx(jaccard_score(y.reshape(-1), pixels, average="macro"))
    torch.manual_seed(0)
    model = segmenter(1)
    trainer = Trainer(epochs=40, lr=0.02)
    one = trainer.fit(model, (X, y[:, None].float()), (X, y)).records[-1]  # a float mask (n, 1, H, W)
    assert two["val_accuracy"] > 0.9 and one["val_accuracy"] > 0.9
    with torch.no_grad():
        z = model(X)[:, 0]
    assert one["val_loss"] == pytest.approx(F.binary_cross_entropy_with_logits(z, y.float()).item(), rel=1e-5)
    assert trainer.predict_proba(model, X).shape == (64, 2, 8, 8)
    weighted = nn.CrossEntropyLoss(weight=torch.tensor(class_weights(y), dtype=torch.float32))
    for outputs in (2, 1):  # class weights of C logits on a one-logit model too (its logit z read as [0, z])
        assert Trainer(epochs=2, loss=weighted).fit(segmenter(outputs), (X, y), (X, y)).records[-1]["val_loss"] > 0


@pytest.mark.parametrize("case, match", [
    ("classes_last", r"the labels hold a class per position, shape \(12,\) per example, but the model outputs shape "
                     r"\(12, 3\); .*its classes are on the last axis: return out.movedim\(-1, 1\)"),
    ("too_few", r"labels go up to 4 but the model gives 3 logits per position; build it with n_classes >= 5"),
    ("negative", r"per-position labels must be classes >= 0, or -100 where a position has none .*found -1"),
    ("one_logit", r"the model gives one logit per position, a binary one, but the labels go up to 2"),
])
def test_per_position_labels_the_model_cannot_read_are_one_message(case, match):
    X, y = tags()
    model = {"classes_last": Tagger(classes_last=True), "one_logit": nn.Sequential(Tagger(), nn.Conv1d(3, 1, 1))}
    labels = {"too_few": torch.where(y >= 0, y + 2, y), "negative": y.clamp_min(-1)}
    with pytest.raises(DataError, match=match):
        Trainer(epochs=1).fit(model.get(case, Tagger()), (X, labels.get(case, y)), (X, y))


def test_rows_of_several_classes_are_refused_naming_multi_label_targets():
    X = torch.randn(40, 6)
    several = (torch.rand(40, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    several[0] = torch.tensor([1.0, 1.0, 0.0, 0.0])
    with pytest.raises(DataError, match=r"rows of 0 / 1 with several 1s are multi-label targets"):
        Trainer(epochs=1).fit(nn.Linear(6, 4), (X, several))
    with pytest.raises(DataError, match=r"if each row holds several classes at once \(multi-label"):
        Trainer(epochs=1).fit(nn.Linear(6, 4), (X, several.long()))


def test_the_checks_read_a_class_per_position():
    X, y = tags()
    assert check_initial_loss(Tagger, X, y).passed
    tiny = overfit_tiny(Tagger, X, y)
    assert tiny.passed and tiny.measured["accuracy"] == 1.0
    Xs, ys = masks()
    one_logit = overfit_tiny(lambda: segmenter(1), Xs, ys[:, None].float(), lr=0.02)
    # thousands of pixels, a few on the x = 0 boundary: memorized at the loss target with 99% of them right
    assert one_logit.passed and one_logit.measured["per_position"]
    assert "99%" in one_logit.expected
    results = {r.name: r for r in check_data((X.float(), y), inputs="tokens")}
    assert results["labels"].passed
    labelled = y[y != -100]
    assert results["class_balance"].measured["counts"] == np.bincount(labelled.numpy()).tolist()


def test_the_overfit_check_does_not_round_one_wrong_pixel_up_to_100_percent():
    from knobs.checks._overfit import _percent

    assert _percent(1.0) == "100%" and _percent(2047 / 2048) == "99.95%" and _percent(0.5) == "50%"


def test_class_weights_and_the_focal_loss_count_labelled_positions():
    _, y = tags()
    labelled = y[y != -100].numpy()
    assert class_counts(y).tolist() == np.bincount(labelled).tolist()
    assert np.allclose(class_weights(y), class_weights(labelled))
    logits = torch.randn(300, 3, 12, generator=torch.Generator().manual_seed(0))
    alpha = torch.tensor([1.0, 2.0, 3.0])
    assert FocalLoss(gamma=0.0)(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert FocalLoss(gamma=0.0, alpha=alpha)(logits, y).item() == pytest.approx(
        F.cross_entropy(logits, y, weight=alpha).item(), rel=1e-6)
    per = FocalLoss(gamma=2.0, reduction="none")(logits, y)
    assert per.shape == (300, 12) and bool((per[y == -100] == 0).all())


def test_diagnose_takes_a_tagger_and_leaves_out_the_per_row_references():
    X, y = tags()
    torch.manual_seed(0)
    report = knobs.diagnose(Tagger(), (X[:200], y[:200]), (X[200:], y[200:]), epochs=3, lr=0.02)
    assert report.evidence["reference"]["score"] is None
    assert "bad_labels" not in {f.code for f in report.findings}
    assert not [f for f in report.findings if f.severity == "error"]


def test_the_checks_and_diagnose_name_classes_on_the_last_axis():
    # diagnose failed with an IndexError ("the shape of the mask [3600] does not match") from inside a check
    X, y = tags()
    match = r"the model outputs shape \(12, 3\); .*return out.movedim\(-1, 1\)"
    with pytest.raises(DataError, match=match):
        check_initial_loss(lambda: Tagger(classes_last=True), X, y)
    with pytest.raises(DataError, match=match):
        knobs.diagnose(Tagger(classes_last=True), (X, y), (X, y), epochs=1)


def test_metrics_over_batches_padded_to_their_own_length_count_every_labelled_token():
    # a collate that pads each batch to its longest sequence: the whole set's outputs could not be concatenated for
    # its metrics ("Sizes of tensors must match"); the metrics read each batch's labelled tokens as rows
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 12, (90,), generator=g)
    sequences = [torch.randint(0, 50, (int(n),), generator=g) for n in lengths.sort().values]  # by length: batches
    # of short sequences, then of long ones

    def pad(batch):
        longest = max(len(s) for s in batch)
        ids = torch.zeros(len(batch), longest, dtype=torch.long)
        tags = torch.full((len(batch), longest), -100)
        for i, s in enumerate(batch):
            ids[i, :len(s)], tags[i, :len(s)] = s, s % 3
        return ids, tags

    loader = DataLoader(sequences, batch_size=16, collate_fn=pad)
    torch.manual_seed(0)
    model = Tagger()
    trainer = Trainer(epochs=2, lr=0.05, metrics=["macro_f1", "log_loss"])
    record = trainer.fit(model, loader, loader).records[-1]
    tokens = torch.cat(sequences)
    with torch.no_grad():
        predicted = torch.cat([model(ids).argmax(1)[tags != -100] for ids, tags in loader])
    assert record["macro_f1"] == pytest.approx(f1_score(tokens % 3, predicted, average="macro"))
    assert record["log_loss"] == pytest.approx(record["val_loss"], rel=1e-4)


def test_binary_tags_of_one_positive_per_row_read_as_one_hot_are_one_message_naming_multilabel():
    g = torch.Generator().manual_seed(0)
    X = torch.randint(0, 50, (100, 12), generator=g)
    y = torch.zeros(100, 12, dtype=torch.long)
    y[torch.arange(100), torch.randint(0, 12, (100,), generator=g)] = 1

    class Binary(Tagger):
        def __init__(self):
            super().__init__()
            self.out = nn.Linear(16, 2)

    with pytest.raises(DataError, match=r"the model gives logits per position, shape \(2, 12\), but the labels hold one "
                                        r"class per row .* Trainer\(task='multilabel'\)"):
        Trainer(epochs=1).fit(Binary(), (X, y))
