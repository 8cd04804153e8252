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
   steps) and the one ``diagnose`` uses (4 probes per epoch, here every 4 steps). On a shared,
   loaded machine the difference of two wall times is mostly other processes' noise, so the time
   spent inside the probes is also measured directly (``direct_pct``: the ``Watch``'s callbacks and
   its activation statistics timed from inside one watched fit, over the rest of that fit): both
   inflate alike under load, so their ratio holds. Not in it: the Python of the forward hooks and,
   on a probed pass of a model that calls activation functions (not these two after their first
   probe), the ``TorchFunctionMode`` that every torch call of the pass goes through; the wall-time
   difference includes both.

``torch.set_num_threads(1)``. Run: ``.venv/bin/python bench/diagnose.py [--seeds 3] [--repeats 15]``
(``--repeats 0`` skips the overhead part; ``--only NAME ...`` diagnoses only those setups;
``--overhead-only``: part 2 alone, written to bench/results/diagnose_overhead.json).
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


class _Timed:
    """A ``Watch`` with the time spent in its callbacks (and, through ``unit_stats``, in its forward
    hooks' statistics) added up in ``seconds``."""

    def __init__(self, watch: Watch) -> None:
        self.watch, self.seconds = watch, 0.0
        for event in ("on_fit_start", "on_step_end", "on_epoch_end", "on_fit_end"):
            setattr(self, event, self._timed(getattr(watch, event)))

    def _timed(self, method):
        def call(*args):
            start = time.perf_counter()
            try:
                return method(*args)
            finally:
                self.seconds += time.perf_counter() - start
        return call

    def close(self) -> None:
        self.watch.close()


def direct_share(model, train, val, every: int) -> float:
    """% of one watched fit's other time spent inside the probes."""
    from knobs.watch import _hooks

    timed = _Timed(Watch(every=every))
    original = _hooks.unit_stats

    def unit_stats(*args):
        start = time.perf_counter()
        try:
            return original(*args)
        finally:
            timed.seconds += time.perf_counter() - start

    _hooks.unit_stats = unit_stats
    try:
        total = timed_fit(copy.deepcopy(model), train, val, [timed])
    finally:
        _hooks.unit_stats = original
    return 100 * timed.seconds / (total - timed.seconds)


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
    out.update({f"direct_pct_{rate}": round(statistics.median(direct_share(model, train, val, every)
                                                             for _ in range(max(3, repeats // 3))), 2)
                for rate, every in rates.items()})
    print(f"{name:8s} {steps} steps/epoch: probes every {rates['default']} steps "
          f"{out['overhead_pct_default']:+.2f}% (inside the probes {out['direct_pct_default']:.2f}%), every "
          f"{rates['diagnose']} steps {out['overhead_pct_diagnose']:+.2f}% (inside {out['direct_pct_diagnose']:.2f}%) "
          f"of training time (median of {repeats})", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--overhead-only", action="store_true", help="measure the probes' cost only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.overhead_only:
        return overhead_only(args.repeats)
    rows = run_zoo(args.seeds, args.only)
    figures = scores(rows)
    print(f"\nrecall {figures['recall']:.3f} ({figures['found']}/{figures['faulty_runs']} faulty runs with a right "
          f"code); precision {figures['precision']:.3f} ({figures['right_findings']}/{figures['findings']} "
          f"warning/error findings right); {figures['healthy_with_warnings']}/{figures['healthy_runs']} healthy runs "
          f"with a warning" + (f"; missed: {figures['missed']}" if figures["missed"] else "")
          + (f"; wrong findings by code: {figures['wrong_by_code']}" if figures["wrong_by_code"] else ""))
    costs = probe_costs(args.repeats) if args.repeats > 0 else []
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


def overhead_only(repeats: int) -> dict:
    """Part 2 alone: the probes' share of training time, with the machine's load before and after."""
    import os

    load_before = os.getloadavg()
    costs = probe_costs(repeats)
    headline = {"bench": "diagnose_overhead", "repeats": repeats, "cpus": os.cpu_count(),
                "load_before": [round(v, 2) for v in load_before],
                "load_after": [round(v, 2) for v in os.getloadavg()],
                **{f"{c['model']}_{kind}_pct_{rate}": c[f"{kind}_pct_{rate}"] for c in costs
                   for rate in ("default", "diagnose") for kind in ("overhead", "direct")}}
    out = RESULTS.with_name("diagnose_overhead.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"headline": headline, "overhead": costs}, indent=1))
    print(json.dumps(headline))
    return headline


def probe_costs(repeats: int) -> list[dict]:
    (X, y), (Xv, yv) = zoo.digits()
    torch.manual_seed(0)
    mlp = build_model("mlp", input_shape=(64,), n_classes=10, width=256, depth=2)
    conv = build_model("convnet", input_shape=(1, 8, 8), n_classes=10, channels=16, depth=2)
    return [overhead("mlp", mlp, (X, y), (Xv, yv), repeats),
            overhead("convnet", conv, (X.reshape(-1, 1, 8, 8), y), (Xv.reshape(-1, 1, 8, 8), yv), repeats)]


if __name__ == "__main__":
    main()
