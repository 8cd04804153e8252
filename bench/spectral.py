"""Does the heavy-tailed spectral exponent α tell over-trained from under-trained layers on digits?

What is measured (knobs.diagnose._spectral, WeightWatcher's α; the question of issue 18 item 4):
the digits MLP 64-256-256-10 (the diagnosis' own size class) trained with Adam (lr 1e-3, batch 32)
in four ways, each from the same seeds:

- ``init``: untrained (the random-matrix baseline);
- ``1 epoch``: stopped after one epoch on the 1,078 training rows (under-trained);
- ``converged``: 30 epochs on the training rows (about where validation accuracy stops moving);
- ``overtrained``: 400 epochs on 100 training rows (training loss ~0 for hundreds of epochs, far
  past convergence, validation accuracy well below ``converged``);
- ``long``: 300 epochs on all training rows (10 times past convergence, about 10,000 steps).

Per case and layer: α (median and range over seeds), and whether the cases separate: every seed's
α of ``overtrained`` below every seed's α of ``1 epoch`` (and WeightWatcher's reading: α < 2
over-trained, α > 6 under-trained). ``torch.set_num_threads(1)``.

Run: ``.venv/bin/python bench/spectral.py [--seeds 5]``; the last line is one JSON object,
bench/results/spectral.json keeps every row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import zoo  # noqa: E402
from knobs.diagnose._spectral import WELL_TRAINED, layer_spectra  # noqa: E402
from knobs.models import build_model  # noqa: E402
from knobs.train import Trainer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "spectral.json"
CASES = {"init": (0, None), "1 epoch": (1, None), "converged": (30, None), "overtrained": (400, 100),
         "long": (300, None)}


def one(case: str, seed: int, train, val) -> dict:
    epochs, rows = CASES[case]
    torch.manual_seed(seed)
    net = build_model("mlp", input_shape=(64,), n_classes=10, width=256, depth=2)
    X, y = train
    if rows is not None:
        pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:rows]
        X, y = X[pick], y[pick]
    acc = None
    if epochs:
        trainer = Trainer(optimizer="adam", lr=1e-3, epochs=epochs, batch_size=32, seed=seed, device="cpu")
        history = trainer.fit(net, (X, y), val)
        acc = history.records[-1]["val_accuracy"]
    spectra = layer_spectra(net)
    return {"case": case, "seed": seed, "val_accuracy": acc, "alpha": {k: v.get("alpha") for k, v in spectra.items()},
            "spectra": spectra}


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, val = zoo.digits()
    rows = [one(case, seed, train, val) for case in CASES for seed in range(args.seeds)]
    layers = list(rows[0]["alpha"])
    table = {}
    print(f"{'case':12s} {'val acc':>8s}  " + "  ".join(f"{'α ' + name:>22s}" for name in layers))
    for case in CASES:
        mine = [r for r in rows if r["case"] == case]
        accs = [r["val_accuracy"] for r in mine if r["val_accuracy"] is not None]
        table[case] = {"val_accuracy": round(statistics.median(accs), 4) if accs else None}
        cells = []
        for name in layers:
            alphas = [r["alpha"][name] for r in mine if r["alpha"][name] is not None]
            table[case][name] = ({"median": round(statistics.median(alphas), 2), "min": round(min(alphas), 2),
                                  "max": round(max(alphas), 2)} if alphas else None)
            cells.append(f"{statistics.median(alphas):6.2f} [{min(alphas):5.2f}, {max(alphas):5.2f}]" if alphas
                         else f"{'(skipped)':>22s}")
        acc = table[case]["val_accuracy"]
        print(f"{case:12s} {acc if acc is not None else float('nan'):8.3f}  " + "  ".join(f"{c:>22s}" for c in cells))
    separates = {}
    for name in layers:
        over = [r["alpha"][name] for r in rows if r["case"] in ("overtrained", "long") and r["alpha"][name] is not None]
        under = [r["alpha"][name] for r in rows if r["case"] == "1 epoch" and r["alpha"][name] is not None]
        separates[name] = {"ordered": bool(over and under and max(over) < min(under)),
                           "over_below_2": sum(a < WELL_TRAINED[0] for a in over), "n_over": len(over),
                           "under_above_6": sum(a > WELL_TRAINED[1] for a in under), "n_under": len(under)}
    headline = {"bench": "spectral", "seeds": args.seeds, "table": table, "separates": separates}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"headline": headline, "rows": rows}, indent=1))
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
