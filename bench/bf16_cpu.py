"""bf16 autocast on the CPU against fp32, through the Trainer: where it pays and where it does not.

Why: ``Trainer(precision="bf16")`` runs on the CPU too, while ``"auto"`` keeps fp32 there. Whether bf16 is
faster depends on the CPU (AVX-512 / AMX bf16 kernels) and on the layer sizes: the casts around each matmul
cost more than they save on small layers. This times one epoch of the Trainer at each precision, alternately,
for a small and a wider MLP, and prints the median seconds and the speed-up.

    .venv/bin/python bench/bf16_cpu.py [--repeats 7]

The last printed line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from knobs.train import Trainer

#: (name, layer widths, batch size, rows)
CASES = (("mlp 64-256-256-10, batch 64", (64, 256, 256, 10), 64, 16000),
         ("mlp 256-512-512-10, batch 128", (256, 512, 512, 10), 128, 8192),
         ("mlp 512-1024-1024-10, batch 256", (512, 1024, 1024, 10), 256, 8192))


def mlp(widths: tuple[int, ...]) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-2], widths[-1]))


def epoch_seconds(widths, batch: int, data, precision: str) -> float:
    torch.manual_seed(0)
    start = time.perf_counter()
    Trainer(epochs=1, batch_size=batch, device="cpu", precision=precision).fit(mlp(widths), data)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, widths, batch, n in CASES:
        g = torch.Generator().manual_seed(0)
        data = (torch.randn(n, widths[0], generator=g), torch.randint(0, widths[-1], (n,), generator=g))
        times = {"fp32": [], "bf16": []}
        for r in range(args.repeats + 1):
            for precision in (("fp32", "bf16") if r % 2 else ("bf16", "fp32")):
                seconds = epoch_seconds(widths, batch, data, precision)
                if r:
                    times[precision].append(seconds)
        fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        rows.append({"model": name, "fp32_s": fp32, "bf16_s": bf16, "bf16_speedup": fp32 / bf16})
        print(f"{name:34} fp32 {fp32:.3f} s/epoch  bf16 {bf16:.3f} s/epoch  ×{fp32 / bf16:.2f}", flush=True)
    print(json.dumps({"bench": "bf16_cpu", "cpu": torch.backends.cpu.get_cpu_capability(), "threads": 1,
                      "repeats": args.repeats, "cases": rows}))


if __name__ == "__main__":
    main()
