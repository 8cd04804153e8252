"""Text EDA in `knobs run` on small data: test accuracy with and without it.

Design. SST-2 (GLUE, ``/work/shared/data/sst2/train.tsv``: movie-review sentences and phrases,
binary sentiment); only rows of at least 5 words are kept, so most are clauses or sentences. Per
seed, 3,000 random rows are written to a CSV and run through ``knobs.pipeline.run`` twice with one
fixed configuration (``text_bag``: 32-dimensional embeddings trained from scratch, one hidden layer
of 32, dropout 0.2, Adam lr 3e-3, batch 32, up to 60 epochs with early stopping, patience 8, on
validation loss; one trial, no ensemble, no preflight): test 30% sealed (900 rows), validation
20% (600), training 50% (1,500), vocabulary of the training texts with ``min_freq = 1``. The arms
differ only in ``[augment]``:

    none    n_aug = 0
    eda     Wei & Zou's settings for about 2,000 training texts: n_aug = 8, and
            alpha_sr = alpha_ri = alpha_rs = p_rd = 0.1 (WordNet 3.0 synonyms, offline)

EDA's sentences are encoded with the vocabulary of the original training texts. Each run opens
its vault once. Reported: test accuracy per seed, its mean and sd, and the seconds per run.

Run: ``.venv/bin/python bench/data_text_eda.py [--seeds 3]`` (the eda arm needs WordNet: ``apt-get
install -y wordnet-base``; without it that arm prints "skipped: no WordNet" and the others run).
It prints the table; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import csv
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from knobs.augment import EDAOptions, find_wordnet
from knobs.config import load_config
from knobs.errors import DataError
from knobs.pipeline import Display, run as knobs_run
from _seeded import over_seeds, seeded_main

DATA = Path("/work/shared/data/sst2")  # as bench/loaders.py
ROWS, MIN_WORDS = 3000, 5
BASE = {
    "search.n_trials": 1, "search.sampler": "random", "model.family": "text_bag",
    "search.space": {"lr": {"choices": [3e-3]}, "embed_dim": 32, "width": 32, "depth": 1, "dropout": 0.2,
                     "optimizer": "adam"},
    "train.epochs": 60, "train.patience": 8, "train.batch_size": 32, "train.threads": 1,
    "checks.initial_loss": False, "checks.overfit_tiny": False, "checks.data": False, "ensemble.enabled": False,
    "data.text_column": "text", "data.target": "label", "data.val": 0.2, "data.test": 0.3, "data.min_freq": 1,
}
ARMS = {"none": {"n_aug": 0},
        "eda": {"n_aug": 8, "alpha_sr": 0.1, "alpha_ri": 0.1, "alpha_rs": 0.1, "p_rd": 0.1}}


def sentences() -> list[tuple[str, str]]:
    """(text, label) of every train.tsv row of at least ``MIN_WORDS`` words."""
    with open(DATA / "train.tsv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(r["sentence"], r["label"]) for r in reader if len(r["sentence"].split()) >= MIN_WORDS]


def sample(path: Path, rows: list[tuple[str, str]], seed: int) -> Path:
    chosen = np.random.default_rng(seed).choice(len(rows), ROWS, replace=False)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows[i] for i in chosen)
    return path


def one_run(arm: str, source: Path, runs_dir: Path, seed: int) -> dict:
    cfg = load_config(None, {**BASE, "augment": ARMS[arm], "data.source": str(source), "seed": seed,
                             "runs_dir": str(runs_dir), "name": f"{arm}-{seed}"})
    start = time.perf_counter()
    summary = knobs_run(cfg, display=Display(console=Console(file=io.StringIO()), quiet=True)).summary
    assert summary["vault"]["openings"] == 1
    return {"test_accuracy": summary["test"]["accuracy"], "val_accuracy": summary["best_trial"]["val_accuracy"],
            "epochs": summary["best_trial"]["epochs_run"], "seconds": round(time.perf_counter() - start, 1)}


def skipped_arms() -> dict[str, str]:
    """``{arm: why}`` for the arms this machine cannot run: EDA's synonyms need WordNet."""
    if not any(EDAOptions.from_dict(options).uses_synonyms for options in ARMS.values()):
        return {}
    try:
        find_wordnet()
    except DataError:
        return {arm: "no WordNet" for arm, options in ARMS.items() if EDAOptions.from_dict(options).uses_synonyms}
    return {}


def run(seeds: int = 3) -> dict:
    torch.set_num_threads(1)
    start = time.perf_counter()
    skipped = skipped_arms()
    runnable = [arm for arm in ARMS if arm not in skipped]
    rows = sentences()
    per_seed = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            source = sample(Path(tmp) / f"sst2-{seed}.csv", rows, seed)
            per_seed.append({arm: one_run(arm, source, Path(tmp) / "runs", seed) for arm in runnable})
    arms: dict[str, dict] = {arm: {"skipped": why} for arm, why in skipped.items()}
    for arm in runnable:
        arms[arm] = {**over_seeds("test_accuracy", [s[arm]["test_accuracy"] for s in per_seed]),
                     "seconds": round(statistics.fmean(s[arm]["seconds"] for s in per_seed), 1),
                     "mean_epochs": round(statistics.fmean(s[arm]["epochs"] for s in per_seed), 1)}
    if "eda" in runnable:
        base = arms["none"]["test_accuracy_per_seed"]
        arms["eda"]["gain_vs_none"] = round(arms["eda"]["test_accuracy"] - arms["none"]["test_accuracy"], 4)
        arms["eda"]["seeds_beating_none"] = sum(a > b for a, b in zip(arms["eda"]["test_accuracy_per_seed"], base))
    arms = {arm: arms[arm] for arm in ARMS}  # the table's order
    return {"bench": "data_text_eda", "seeds": seeds,
            "data": f"SST-2 train.tsv rows of >= {MIN_WORDS} words, {ROWS} per seed: 50% train, 20% val, "
                    f"30% test (sealed)",
            "arms": arms, "wall_s": round(time.perf_counter() - start, 1)}


def table(result: dict) -> str:
    lines = [f"{result['data']}; mean over {result['seeds']} seeds",
             f"{'arm':6s} {'test acc':>9s} {'± sd':>7s} {'per seed':>26s} {'epochs':>7s} {'s/run':>6s}"]
    for arm, v in result["arms"].items():
        if "skipped" in v:
            lines.append(f"{arm:6s} skipped: {v['skipped']}")
            continue
        per = ", ".join(f"{a:.3f}" for a in v["test_accuracy_per_seed"])
        lines.append(f"{arm:6s} {v['test_accuracy']:9.4f} {v['test_accuracy_sd']:7.4f} {per:>26s} "
                     f"{v['mean_epochs']:7.1f} {v['seconds']:6.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    return seeded_main(__doc__, run, table, argv)


if __name__ == "__main__":
    main()
