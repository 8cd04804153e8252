"""knobs.diagnose on the zoo of broken and healthy setups, and the cost of knobs.watch probes.

What is measured:

1. Detection: every setup of tests/zoo.py is diagnosed (for each seed: the model's init, the batch
   order and the checks' picks). Each setup lists the codes that are right for it (none for a
   healthy one); every other code is wrong. Over the warning/error findings: recall is the share
   of faulty runs with at least one right code; precision the share of all findings (on faulty
   and healthy runs alike) whose code is right for its setup; and the healthy runs with any
   warning are counted apart. Printed as a table (setup, right codes, codes found, the wrong ones),
   then the three figures and the wrong findings by code.
2. Probe overhead: the same training (digits, 10 epochs, Adam, batch 64, a validation pass each
   epoch) with and without a ``Watch``, interleaved, for the digits MLP 64-256-256-10 and a small
   ConvNet (1x8x8, 16 channels, depth 2); the figure is the median over repeats of
   (time with probes / time without − 1). Two sampling rates: the ``Watch`` default (every 50
   steps) and the one ``diagnose`` uses (4 probes per epoch, here every 4 steps).

``torch.set_num_threads(1)``. Run: ``.venv/bin/python bench/diagnose.py [--seeds 3] [--repeats 15]``
(``--repeats 0`` skips the overhead part; ``--only NAME ...`` diagnoses only those setups).
The last printed line is one JSON object with the figures; bench/results/diagnose.json keeps the
rows.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import zoo  # noqa: E402
from knobs.diagnose import diagnose  # noqa: E402
from knobs.diagnose._diagnose import PROBES_PER_EPOCH  # noqa: E402
from knobs.models import build_model  # noqa: E402
from knobs.train import Trainer  # noqa: E402
from knobs.watch import Watch  # noqa: E402
from knobs.watch._watch import EVERY  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "diagnose.json"
BATCH, EPOCHS = 64, 10


def run_zoo(seeds: int, only: list[str] | None = None) -> list[dict]:
    rows = []
    print(f"{'setup':30s} {'seed':>4s}  {'right':38s} {'found (warning/error)':40s} {'wrong':24s}   s")
    for seed in range(seeds):
        for setup in zoo.SETUPS:
            if only and setup.name not in only:
                continue
            torch.manual_seed(seed)
            model = setup.make_model()
            start = time.perf_counter()
            report = diagnose(model, setup.train, setup.val, **{**setup.settings, "seed": seed})
            seconds = time.perf_counter() - start
            found = report.codes
            wrong = [code for code in found if code not in setup.right]
            rows.append({"setup": setup.name, "seed": seed, "right": list(setup.right), "found": found,
                         "wrong": wrong, "hit": bool(set(found) & set(setup.right)), "seconds": round(seconds, 2)})
            print(f"{setup.name:30s} {seed:4d}  {', '.join(setup.right) or '(healthy)':38s} "
                  f"{', '.join(found) or '-':40s} {', '.join(wrong) or '-':24s} {seconds:5.1f}", flush=True)
    return rows


def scores(rows: list[dict]) -> dict:
    """Recall over faulty runs, precision over findings, warnings on healthy runs."""
    faulty = [r for r in rows if r["right"]]
    healthy = [r for r in rows if not r["right"]]
    findings = sum(len(r["found"]) for r in rows)
    wrong = sum(len(r["wrong"]) for r in rows)
    by_code: dict[str, int] = {}
    for r in rows:
        for code in r["wrong"]:
            by_code[code] = by_code.get(code, 0) + 1
    return {"faulty_runs": len(faulty), "found": sum(r["hit"] for r in faulty),
            "recall": round(sum(r["hit"] for r in faulty) / max(len(faulty), 1), 4),
            "findings": findings, "right_findings": findings - wrong,
            "precision": round((findings - wrong) / findings, 4) if findings else 1.0,
            "healthy_runs": len(healthy), "healthy_with_warnings": sum(bool(r["found"]) for r in healthy),
            "missed": sorted({r["setup"] for r in faulty if not r["hit"]}), "wrong_by_code": by_code}


def timed_fit(model, train, val, callbacks) -> float:
    trainer = Trainer(optimizer="adam", lr=1e-3, epochs=EPOCHS, batch_size=BATCH, device="cpu", seed=0,
                      callbacks=callbacks)
    start = time.perf_counter()
    trainer.fit(model, train, val)
    return time.perf_counter() - start


def overhead(name: str, model, train, val, repeats: int) -> dict:
    """Median % extra time of a watched fit, for the default and the diagnose sampling rates."""
    steps = math.ceil(len(train[1]) / BATCH)
    rates = {"default": EVERY, "diagnose": max(1, steps // PROBES_PER_EPOCH)}
    extra = {rate: [] for rate in rates}
    timed_fit(copy.deepcopy(model), train, val, [])  # warm-up: lazy imports, allocator
    for repeat in range(repeats):
        for rate, every in rates.items():
            # alternate which of the pair runs first, so drift in machine load cancels out
            runs = [[], [Watch(every=every)]][:: 1 if repeat % 2 else -1]
            times = {bool(cbs): timed_fit(copy.deepcopy(model), train, val, cbs) for cbs in runs}
            extra[rate].append(100 * (times[True] / times[False] - 1))
    out = {"model": name, "steps_per_epoch": steps, "every": rates}
    out.update({f"overhead_pct_{rate}": round(statistics.median(v), 2) for rate, v in extra.items()})
    print(f"{name:8s} {steps} steps/epoch: probes every {rates['default']} steps "
          f"{out['overhead_pct_default']:+.2f}%, every {rates['diagnose']} steps "
          f"{out['overhead_pct_diagnose']:+.2f}% of training time (median of {repeats})", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = run_zoo(args.seeds, args.only)
    figures = scores(rows)
    print(f"\nrecall {figures['recall']:.3f} ({figures['found']}/{figures['faulty_runs']} faulty runs with a right "
          f"code); precision {figures['precision']:.3f} ({figures['right_findings']}/{figures['findings']} "
          f"warning/error findings right); {figures['healthy_with_warnings']}/{figures['healthy_runs']} healthy runs "
          f"with a warning" + (f"; missed: {figures['missed']}" if figures["missed"] else "")
          + (f"; wrong findings by code: {figures['wrong_by_code']}" if figures["wrong_by_code"] else ""))
    costs = []
    if args.repeats > 0:
        (X, y), (Xv, yv) = zoo.digits()
        torch.manual_seed(0)
        mlp = build_model("mlp", input_shape=(64,), n_classes=10, width=256, depth=2)
        conv = build_model("convnet", input_shape=(1, 8, 8), n_classes=10, channels=16, depth=2)
        costs = [overhead("mlp", mlp, (X, y), (Xv, yv), args.repeats),
                 overhead("convnet", conv, (X.reshape(-1, 1, 8, 8), y), (Xv.reshape(-1, 1, 8, 8), yv), args.repeats)]
    headline = {
        "bench": "diagnose", "seeds": args.seeds, "setups": len({r["setup"] for r in rows}),
        "faulty_setups": len({r["setup"] for r in rows if r["right"]}), **figures,
        "median_seconds_per_diagnosis": statistics.median(r["seconds"] for r in rows),
        **{f"{c['model']}_overhead_pct_{rate}": c[f"overhead_pct_{rate}"] for c in costs
           for rate in ("default", "diagnose")},
    }
    if not args.only:  # NOTE: --repeats 0 keeps the overhead figures the file already has
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        if not costs:
            costs = old.get("overhead", [])
            headline.update({k: v for k, v in old.get("headline", {}).items() if "overhead" in k})
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"headline": headline, "rows": rows, "overhead": costs}, indent=1))
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
