"""LCBench learning curves of random configurations, cached so pruning studies run without the surrogate.

Why a subprocess: YAHPO Gym's LCBench surrogate (an ONNX model fitted on 2,000 real MLP trainings per
OpenML task, Zimmer et al. 2021) pins numpy < 2 and ConfigSpace 0.6, which clash with the project's
venv. It runs in its own interpreter (``.yvenv``, git-ignored) and answers one JSON line per request.

Configurations are drawn the way LCBench drew them: uniformly over its 7-D box, on log axes for
batch size, learning rate and width (``config_space.json`` says which). Only curves of such random
configurations are trustworthy: the surrogate extrapolates at the box's corners (shared/data/README.md).

Set up once (from the repository root)::

    python3 -m venv .yvenv && .yvenv/bin/pip install "numpy<2" "ConfigSpace==0.6.1" yahpo-gym onnxruntime

Run: ``.venv/bin/python bench/lcbench.py [--tasks 34539 ...] [--configs 60] [--seed 0]``. It writes
``bench/results/lcbench_curves.json``: per task, the configurations and their 52-epoch validation
curves (``val_error``: 100 - val_accuracy, in points; ``val_cross_entropy``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("KNOBS_LCBENCH_DATA", ROOT.parent.parent / "shared" / "data"))
CURVES = ROOT / "bench" / "results" / "lcbench_curves.json"
TASKS = ("34539", "126026", "126029", "146212", "167104", "167149", "167161", "167168", "168330", "189862")
EPOCHS = 52

# (name, low, high, log, integer) — LCBench's box (shared/data/lcbench/config_space.json)
BOX = (("batch_size", 16, 512, True, True), ("learning_rate", 1e-4, 1e-1, True, False),
       ("max_dropout", 0.0, 1.0, False, False), ("max_units", 64, 1024, True, True),
       ("momentum", 0.1, 0.99, False, False), ("num_layers", 1, 5, False, True),
       ("weight_decay", 1e-5, 1e-1, False, False))

_SERVER = r"""
import json, sys
answer, sys.stdout = sys.stdout, sys.stderr  # yahpo prints citations: keep stdout for the answers
from yahpo_gym import local_config, benchmark_set
local_config.init_config()
local_config.set_data_path(sys.argv[1])
bench = benchmark_set.BenchmarkSet("lcbench")
for line in sys.stdin:
    req = json.loads(line)
    bench.set_instance(req["task"])
    xs = [{**c, "epoch": e, "OpenML_task_id": req["task"]} for c in req["configs"] for e in req["epochs"]]
    out = bench.objective_function(xs)
    answer.write(json.dumps([{k: float(v) for k, v in o.items()} for o in out]) + "\n")
    answer.flush()
"""


def yahpo_python() -> Path:
    """The interpreter of the surrogate's own venv: this checkout's ``.yvenv``, else the main one's."""
    for candidate in (ROOT / ".yvenv", Path("/work/main/.yvenv")):
        if (candidate / "bin" / "python").exists():
            return candidate / "bin" / "python"
    raise SystemExit("no .yvenv: create it as the docstring of bench/lcbench.py says")


class Surrogate:
    """The LCBench surrogate behind a pipe: ``curves(task, configs)`` -> one dict of lists per config."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([str(yahpo_python()), "-c", _SERVER, str(DATA)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def curves(self, task: str, configs: list[dict]) -> list[dict[str, list[float]]]:
        epochs = list(range(1, EPOCHS + 1))
        self.proc.stdin.write(json.dumps({"task": task, "configs": configs, "epochs": epochs}) + "\n")
        self.proc.stdin.flush()
        rows = json.loads(self.proc.stdout.readline())
        out = []
        for i in range(len(configs)):
            block = rows[i * EPOCHS:(i + 1) * EPOCHS]
            out.append({"val_error": [round(100.0 - r["val_accuracy"], 4) for r in block],
                        "val_cross_entropy": [round(r["val_cross_entropy"], 5) for r in block],
                        "time": [round(r["time"], 3) for r in block]})
        return out

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def random_configs(rng: np.random.Generator, n: int) -> list[dict]:
    """``n`` configurations uniform over LCBench's box (log axes uniform in log space)."""
    configs = []
    for _ in range(n):
        config = {}
        for name, low, high, log, integer in BOX:
            u = rng.uniform()
            x = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if log else low + u * (high - low)
            config[name] = int(min(high, max(low, round(x)))) if integer else float(x)
        configs.append(config)
    return configs


def load_curves(path: Path = CURVES) -> dict:
    """The cached curves: ``{"tasks": {task: [{"config", "val_error", "val_cross_entropy", "time"}]}}``."""
    if not path.exists():
        raise SystemExit(f"{path} missing: run bench/lcbench.py first")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--configs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    surrogate = Surrogate()
    out = {"configs_per_task": args.configs, "seed": args.seed, "epochs": EPOCHS, "tasks": {}}
    try:
        for i, task in enumerate(args.tasks):
            configs = random_configs(np.random.default_rng([args.seed, i]), args.configs)
            curves = surrogate.curves(task, configs)
            out["tasks"][task] = [{"config": c, **cv} for c, cv in zip(configs, curves)]
            finals = sorted(cv["val_error"][-1] for cv in curves)
            print(f"task {task}: final val error best {finals[0]:.2f}, median {finals[len(finals) // 2]:.2f}",
                  flush=True)
    finally:
        surrogate.close()
    CURVES.parent.mkdir(parents=True, exist_ok=True)
    CURVES.write_text(json.dumps(out, separators=(",", ":")))
    print(f"wrote {CURVES}")
    return out


if __name__ == "__main__":
    main()
