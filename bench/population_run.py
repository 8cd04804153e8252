"""What a population search costs in ``knobs tune`` beyond training: checkpoints, events, the
study's reads and writes, and the run's callbacks (top-k checkpoints, ``best.pt``, the budget,
the progress display), at P = 64 and 256.

Why: on a GPU a population of small models trains in seconds, so whatever the run does per trial
besides training caps the speed-up population mode can give. The model here is tiny (a width-16
MLP on the built-in digits, 5 epochs), so training is cheap, as on a GPU, and the bookkeeping shows.

Each arm is ``knobs tune`` (``pipeline.run(..., final_test=False)``) in population mode with 2
batches of P trials (a seeded random search of lr and weight decay), preflight checks off, in a
fresh run directory. "search" is the wall time of ``study.optimize``; "training" the time inside
``PopulationRun.fit``; "bookkeeping" the difference. "study reads" counts ``Study.trials`` calls.

``--before DIR`` runs the same arms with another knobs ``src`` first on the path (see
``bench/_elsewhere.py``) and prints both.

Run: ``.venv/bin/python bench/population_run.py [--sizes 64 256] [--before /tmp/base/src]``. It
prints a table, writes ``bench/results/population_run.json``, and its last line is one JSON object.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from _elsewhere import before_after, write_figures

from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.population._train import PopulationRun
from knobs.study import Study

RESULTS = Path(__file__).resolve().parent / "results" / "population_run.json"
SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}, "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
         "width": 16, "depth": 1}


class Clock:
    """Wall time inside ``study.optimize`` and ``PopulationRun.fit``, and ``Study.trials`` reads,
    while the ``with`` block runs (the originals come back after it, so arms never nest wrappers)."""

    def __enter__(self) -> "Clock":
        self.search = self.training = 0.0
        self.reads = 0
        self._saved = optimize, fit, trials = Study.optimize, PopulationRun.fit, Study.trials

        def timed(method: Any, field: str) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return method(*args, **kwargs)
                finally:
                    setattr(self, field, getattr(self, field) + time.perf_counter() - start)
            return call

        def counted(study: Study) -> Any:
            self.reads += 1
            return trials.fget(study)

        Study.optimize, PopulationRun.fit = timed(optimize, "search"), timed(fit, "training")
        Study.trials = property(counted)
        return self

    def __exit__(self, *exc: Any) -> None:
        Study.optimize, PopulationRun.fit, Study.trials = self._saved


def arm(population: int, epochs: int) -> dict[str, Any]:
    with Clock() as clock, tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(None, {"runs_dir": tmp, "name": "bench", "seed": 0, "search.sampler": "random",
                                 "search.n_trials": 2 * population, "search.executor": "population",
                                 "search.population": population, "search.space": SPACE, "train.epochs": epochs,
                                 "train.threads": 1, "checks.overfit_tiny": False, "checks.initial_loss": False,
                                 "checks.data": False})
        run(cfg, display=Display(quiet=True), final_test=False)
    rest = clock.search - clock.training
    return {"population": population, "epochs": epochs, "trials": 2 * population, "search_s": round(clock.search, 3),
            "training_s": round(clock.training, 3), "bookkeeping_s": round(rest, 3),
            "bookkeeping_ms_per_trial": round(1000 * rest / (2 * population), 2),
            "bookkeeping_share": round(rest / clock.search, 4), "study_reads": clock.reads}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parsed = before_after(argv, __doc__.split("\n")[0], __file__, arm, warm_up=4)
    if parsed is None:
        return {}
    args, rows = parsed
    print(f"{'arm':<8} {'P':>4} {'trials':>6} {'search s':>9} {'training s':>10} {'bookkeeping s':>13} "
          f"{'ms/trial':>8} {'share':>6} {'reads':>6}")
    for label in ("before", "after"):
        for r in rows.get(label, []):
            print(f"{label:<8} {r['population']:>4} {r['trials']:>6} {r['search_s']:>9.2f} {r['training_s']:>10.2f} "
                  f"{r['bookkeeping_s']:>13.2f} {r['bookkeeping_ms_per_trial']:>8.1f} {r['bookkeeping_share']:>6.1%} "
                  f"{r['study_reads']:>6}")
    figures: dict[str, Any] = {"bench": "population_run", "epochs": args.epochs, "threads": 1, **rows}
    return write_figures(figures, RESULTS)


if __name__ == "__main__":
    main()
