"""How much numpy memory an in-memory image run holds while it trains (issue: the loaded rows, their split copies
and the standardized copies were all alive at once; ~1.8 GB of CIFAR-10's 3.4 GB peak).

Design. One ``knobs run`` in this interpreter on ``--per-class`` images of each class of an image folder (a seeded
draw; CIFAR-10's training folder by default), 15 % test and 15 % validation (or ``--folds K``), one trial of one
epoch of a small ConvNet, no preflight, ensemble or views that train. ``tracemalloc`` traces numpy's allocations (numpy reports them
to it; torch's own are not traced, but the run's tensors are ``torch.as_tensor`` views of numpy arrays), so:

- ``training_mib``: the most traced memory at the start of a training epoch (of any fold and the refit in fold
  mode) — what the run holds while it trains;
- ``peak_mib``: the traced peak over the whole run (loading, split and standardization transients included);
- ``rows_mib``: the size of the decoded float32 rows, the unit the two are read in;
- ``maxrss_mib``: the process's peak resident memory (torch and the interpreter included).

Run: ``nice -n 5 .venv/bin/python bench/image_run_memory.py --folder /tmp/cifar10/train --per-class 1000``;
``--folds 5``: fold mode (``data.folds = 5`` instead of the validation split; the trial trains on each fold).

Results (2026-12-06, a shared 2-core machine; before = commit ecd8e48):

| images | rows MiB | training MiB before → after | peak MiB before → after | max RSS MiB before → after |
|---|---|---|---|---|
| 10,000 | 117 | 400 → 183 | 520 → 281 | 944 → 744 |
| 25,000 | 293 | 902 → 360 | 1,153 → 512 | 1,677 → 1,150 |

The test accuracy is the same to the bit (0.2673, 0.3925).

Fold mode, ``--folds K`` (2026-12-06; before = commit 7fad386, which prepared every fold up front):

| images | k | training MiB before → after | peak MiB before → after | max RSS MiB before → after |
|---|---|---|---|---|
| 10,000 | 2 | 681 → 283 | 780 → 382 | 1,313 → 964 |
| 10,000 | 5 | 1,279 → 283 | 1,378 → 382 | 1,918 → 947 |
| 10,000 | 10 | 2,276 → 283 | 2,375 → 382 | 2,943 → 948 |
| 25,000 | 5 | 3,102 → 611 | 3,253 → 762 | 4,073 → 1,585 |

The test accuracy is the same to the bit (0.2560, 0.4005).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import tracemalloc

MIB = 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/cifar10/train")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=None,
                        help="fold mode (data.folds = K, no validation split): every fold of the trial trains")
    args = parser.parse_args()

    from knobs.config import RunConfig
    from knobs.pipeline import Display, run
    from knobs.train import _trainer

    at_training: list[int] = []
    run_epoch = _trainer.Trainer._run_epoch

    def each_epoch(self, epoch):
        at_training.append(tracemalloc.get_traced_memory()[0])
        return run_epoch(self, epoch)

    _trainer.Trainer._run_epoch = each_epoch
    validation = {"val": 0.15} if args.folds is None else {"folds": args.folds}
    with tempfile.TemporaryDirectory() as runs, tempfile.TemporaryDirectory() as cache:
        os.environ["KNOBS_CACHE_DIR"] = cache  # NOTE: decoded afresh, not from an earlier run's disk cache
        cfg = RunConfig.model_validate({
            "name": "memory", "runs_dir": runs, "seed": 0,
            "data": {"source": args.folder, "max_per_class": args.per_class, "test": 0.15, **validation,
                     "standardize": "channel"},
            "model": {"family": "convnet"},
            "search": {"n_trials": 1, "sampler": "random", "pruner": "none",
                       "space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "channels": 4, "depth": 1}},
            "train": {"epochs": 1, "batch_size": 256, "threads": 1},
            "checks": {"overfit_tiny": False}, "ensemble": {"enabled": False}})
        tracemalloc.start()
        start = time.perf_counter()
        result = run(cfg, display=Display(quiet=True))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        split = json.loads((result.path / "splits.json").read_text())
        rows = sum(len(split[k]) for k in ("train", "val", "test"))
        rows_mib = rows * 3 * 32 * 32 * 4 / MIB
        print(json.dumps({"rows": rows, "rows_mib": round(rows_mib, 1),
                          "folds": args.folds,
                          "training_mib": round(max(at_training) / MIB, 1), "peak_mib": round(peak / MIB, 1),
                          "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                          "test_accuracy": result.summary["test"]["accuracy"],
                          "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
