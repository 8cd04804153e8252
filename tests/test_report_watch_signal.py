"""Issue 18, item 4: the signal spread of every activation, per layer, in the report and the
dashboard — recorded by ``watch_record`` (functional activations named as the probes name them,
every kind with its spread) and drawn at the first probe and the last, so a signal
fading through depth is visible."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from knobs.pipeline.rundir._views import write_view
from knobs.pipeline.trials._watched import watch_record
from knobs.report import _data_views as dv
from knobs.report._run_views import run_views
from knobs.report._views import RunRecord
from knobs.train import Trainer
from knobs.watch import Watch

torch.set_num_threads(1)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(x))


class Mixed(nn.Module):
    """A GELU module, a ReLU called as a function inside ``block``, a SiLU called in the model's
    own forward, then the head; the second layer's weights tiny, so the signal fades after it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.act, self.block = nn.Linear(6, 16), nn.GELU(), Block()
        self.fc3, self.head = nn.Linear(16, 16), nn.Linear(16, 3)
        with torch.no_grad():
            self.fc3.weight.mul_(1e-3)
            self.fc3.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.silu(self.fc3(self.block(self.act(self.fc1(x))))))


def _record(epochs: int = 2) -> dict:
    torch.manual_seed(0)
    X, y = torch.randn(96, 6), torch.randint(0, 3, (96,))
    watch = Watch(every=3)
    Trainer(optimizer="sgd", lr=0.05, epochs=epochs, batch_size=16, seed=0, callbacks=[watch]).fit(
        Mixed(), (X, y), (X, y))
    return watch_record(watch.to_dict(), 7, "replay", epochs=epochs)


@pytest.fixture(scope="module")
def record() -> dict:
    return _record()


def _views(tmp_path, record) -> dict:
    write_view(tmp_path, "watch", record)
    return {v.key: v for v in dv.views(RunRecord(summary={}, trials=(), path=tmp_path))}


def test_the_record_keeps_each_activations_spread_per_probe_named_as_the_probes_name_it(record):
    acts = {a["name"]: a for a in record["activations"]}
    assert list(acts) == ["act", "block.relu()", "silu()"]
    assert record["feeds"] == {"act": "fc1", "block.relu()": "block.fc", "silu()": "fc3"}
    assert [acts[n]["stat"] for n in acts] == ["saturated_fraction", "dead_fraction", "saturated_fraction"]
    assert all(len(act["values"]) == len(record["steps"]) for act in acts.values())
    for act in acts.values():
        assert len(act["signal_std"]) == len(record["steps"]) and all(v > 0 for v in act["signal_std"])
    assert acts["silu()"]["signal_std"][0] < 0.01 * acts["block.relu()"]["signal_std"][0]  # the fading signal


def test_the_signal_view_draws_the_first_and_the_last_probe_per_activation_input_side_first(tmp_path, record):
    views = _views(tmp_path, record)
    signal = views["watch_signal"].figure
    first, last = signal["data"]
    assert list(first["x"]) == list(last["x"]) == ["act (gelu)", "block.relu() (relu)", "silu() (silu)"]
    acts = {a["name"]: a for a in record["activations"]}
    assert list(first["y"]) == [acts[n]["signal_std"][0] for n in acts]
    assert list(last["y"]) == [acts[n]["signal_std"][-1] for n in acts]
    assert signal["layout"]["yaxis"]["type"] == "log"
    assert "after layer block.fc" in list(first["customdata"])  # the hover names the layer that fed it
    assert "fading through depth" in views["watch_signal"].note
    # the units views draw every activation with a dead or saturated share: GELU/SiLU too (their flat tail)
    assert list(views["watch_dead"].figure["data"][0]["x"]) == ["act (gelu)", "block.relu() (relu)", "silu() (silu)"]


def test_the_per_layer_table_shows_the_spread_of_the_activation_each_layer_feeds(tmp_path, record):
    table = _views(tmp_path, record)["watch_layers"].html
    assert "signal spread (first → last probe)" in table
    rows = {r.split("<code>")[1].split("</code>")[0]: r for r in table.split("<tr>")[2:]}
    acts = {a["name"]: a for a in record["activations"]}
    fc3 = acts["silu()"]["signal_std"]
    assert f"{fc3[0]:.4g} → {fc3[-1]:.4g}" in rows["fc3"]
    assert "→" not in rows["head"]  # feeds no activation


def test_the_report_and_the_dashboard_views_carry_the_spread(tmp_path, record):
    write_view(tmp_path, "watch", record)
    keys = [v.key for v in run_views(RunRecord(summary={}, trials=(), path=tmp_path))]
    assert {"watch_signal", "watch_layers"} <= set(keys) and keys.index("watch_dead") < keys.index("watch_signal")


def test_a_record_written_before_the_spread_has_no_signal_view_and_dashes_in_the_table(tmp_path, record):
    old = {**record, "activations": [{k: v for k, v in a.items() if k != "signal_std"}
                                     for a in record["activations"] if a["stat"]]}
    views = _views(tmp_path, old)
    assert "watch_signal" not in views and "watch_dead" in views
    assert "→" not in views["watch_layers"].html.split("</tr>", 1)[1]
