"""Trainer overhead against a hand-written PyTorch loop (same model, batches, optimizer).

What is compared: one epoch of training plus one validation pass, for an MLP 64→256→256→10 on
20,000 synthetic rows and a ConvNet on 1×8×8 images, batch size 64, Adam. The hand-written loop
uses the same index-permutation minibatches on the device and the same validation pass; the
Trainer adds its schedule/callback/L1/clipping branches (all off), its LR record and its
divergence check. Each repeat trains one epoch with each, in alternating order (interleaved), from
the same weights; the figure is the median over repeats. ``torch.set_num_threads(1)``.

On the CPU the Trainer's bf16 autocast is timed against its fp32 (``precision="bf16"``; "auto" stays fp32
there). On a CUDA machine the same comparison runs on the GPU, plus the speed-up of bf16 and fp16
autocast over fp32 for the Trainer, and the image-model defaults (issue 15): a small ConvNet
(3×32×32, knobs' ``convnet``) at batch 512 trained by the Trainer and by a hand loop in fp32, bf16
autocast, and bf16 + channels_last, in images per second (the Trainer's default on CUDA is the last:
``precision="auto"``, ``channels_last="auto"``; target: ≥ 0.95× the hand loop in each mode). Without a
GPU that part prints "no GPU: skipped".

``--data digits`` uses scikit-learn's bundled digits instead (1,797 rows, 8×8 images, 10
classes; 80% train, 20% validation; ``--rows`` is then ignored): small epochs, where the Trainer's
fixed costs per epoch and per step weigh the most.

Run: ``.venv/bin/python bench/train.py [--repeats 15] [--rows 20000] [--data synthetic|digits]``.
The last printed line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn.functional as F

from knobs.models import build_model
from knobs.train import Trainer

BATCH = 64


def data(rows: int, shape: tuple[int, ...], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, *shape, generator=g)
    w = torch.randn(X[0].numel(), 10, generator=g)
    y = (X.reshape(rows, -1) @ w + 0.5 * torch.randn(rows, 10, generator=g)).argmax(1)
    n_val = rows // 5
    return (X[n_val:], y[n_val:]), (X[:n_val], y[:n_val])


def digits(shape: tuple[int, ...], seed: int = 0):
    """scikit-learn's digits scaled to [0, 1], in ``shape`` per row, split 80/20 at random."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = torch.as_tensor(X / 16.0, dtype=torch.float32).reshape(len(X), *shape)
    y = torch.as_tensor(y, dtype=torch.long)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    n_val = len(X) // 5
    val, train = perm[:n_val], perm[n_val:]
    return (X[train], y[train]), (X[val], y[val])


def hand_epoch(model, opt, train, val, generator, device) -> float:
    """The loop a careful user writes: device tensors, a permutation, device-side loss sums."""
    start = time.perf_counter()
    X, y = train
    model.train()
    perm = torch.randperm(len(X), generator=generator, device=device)
    total = torch.zeros((), device=device)
    for a in range(0, len(X), BATCH):
        idx = perm[a:a + BATCH]
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
    float(total)
    model.eval()
    Xv, yv = val
    with torch.no_grad():
        sums, hits = [], []
        for a in range(0, len(Xv), 1024):
            out = model(Xv[a:a + 1024])
            sums.append(F.cross_entropy(out, yv[a:a + 1024], reduction="sum"))
            hits.append((out.argmax(1) == yv[a:a + 1024]).sum())
        float(torch.stack(sums).sum()), float(torch.stack(hits).sum())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def trainer_epoch(model, train, val, device, precision="fp32") -> tuple[float, float]:
    """(the epoch's own seconds as the Trainer records them, the whole fit including its setup)."""
    trainer = Trainer(optimizer="adam", lr=1e-3, epochs=1, batch_size=BATCH, device=str(device),
                      precision=precision, seed=None)
    start = time.perf_counter()
    history = trainer.fit(model, train, val)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return history.records[0]["seconds"], time.perf_counter() - start


def compare(name: str, make_model, train, val, device, repeats: int) -> dict:
    base = make_model().to(device)
    train = tuple(t.to(device) for t in train)
    val = tuple(t.to(device) for t in val)
    hand, ours, fits = [], [], []
    for r in range(repeats + 1):  # the first round warms up and is discarded
        order = ("hand", "trainer") if r % 2 == 0 else ("trainer", "hand")
        for which in order:
            model = copy.deepcopy(base)
            if which == "hand":
                opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                seconds = hand_epoch(model, opt, train, val, torch.Generator(device=device).manual_seed(r), device)
                (hand if r else []).append(seconds)
            else:
                epoch, fit = trainer_epoch(model, train, val, device)
                (ours if r else []).append(epoch)
                (fits if r else []).append(fit)
    h, t, f = statistics.median(hand), statistics.median(ours), statistics.median(fits)
    return {"model": name, "device": device.type, "hand_s": h, "trainer_s": t, "trainer_fit_s": f,
            "overhead_pct": 100 * (t / h - 1), "fit_overhead_pct": 100 * (f / h - 1)}


def mixed_precision(name: str, make_model, train, val, device, repeats: int,
                    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")) -> dict:
    base = make_model().to(device)
    train = tuple(t.to(device) for t in train)
    val = tuple(t.to(device) for t in val)
    times = {p: [] for p in precisions}
    for r in range(repeats + 1):
        for p in times:
            seconds, _ = trainer_epoch(copy.deepcopy(base), train, val, device, precision=p)
            if r:
                times[p].append(seconds)
    med = {p: statistics.median(v) for p, v in times.items()}
    return {"model": name, "device": device.type, "fp32_s": med["fp32"],
            **{f"{p}_speedup": med["fp32"] / med[p] for p in precisions if p != "fp32"}}


IMAGE_BATCH = 512
#: (name, Trainer precision, channels_last) of the image-model comparison
IMAGE_MODES = (("fp32", "fp32", False), ("bf16", "bf16", False), ("bf16 + channels_last", "bf16", True))


def image_convnet():
    return build_model("convnet", input_shape=(3, 32, 32), n_classes=10, channels=32, depth=3, head_width=128)


def hand_image_epoch(model, train, device, precision: str, channels_last: bool, generator) -> float:
    """One training epoch of the hand loop in ``precision`` (fp32 / bf16 autocast), NHWC when asked;
    seconds, synchronized."""
    X, y = train
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        X = X.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = torch.bfloat16 if precision == "bf16" else None
    model.train()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    perm = torch.randperm(len(X), generator=generator, device=device)
    total = torch.zeros((), device=device)
    for a in range(0, len(X), IMAGE_BATCH):
        idx = perm[a:a + IMAGE_BATCH]
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
    float(total)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def trainer_image_epoch(model, train, device, precision: str, channels_last: bool) -> float:
    """One training epoch of the Trainer (no validation set) as it records it."""
    trainer = Trainer(optimizer="adam", lr=1e-3, epochs=1, batch_size=IMAGE_BATCH, device=str(device),
                      precision=precision, channels_last=channels_last, seed=None)
    return trainer.fit(model, train).records[0]["seconds"]


def gpu_image_modes(device, repeats: int, rows: int = 20480) -> list[dict]:
    """Images per second of the Trainer and the hand loop in each of ``IMAGE_MODES`` (interleaved,
    median over ``repeats`` after one warm-up round)."""
    g = torch.Generator().manual_seed(0)
    train = (torch.rand(rows, 3, 32, 32, generator=g).to(device), torch.randint(0, 10, (rows,), generator=g).to(device))
    base = image_convnet().to(device)
    results = []
    for name, precision, channels_last in IMAGE_MODES:
        hand, ours = [], []
        for r in range(repeats + 1):
            gen = torch.Generator(device=device).manual_seed(r)
            h = hand_image_epoch(copy.deepcopy(base), train, device, precision, channels_last, gen)
            t = trainer_image_epoch(copy.deepcopy(base), train, device, precision, channels_last)
            if r:
                hand.append(h)
                ours.append(t)
        h, t = statistics.median(hand), statistics.median(ours)
        results.append({"mode": name, "hand_img_s": rows / h, "trainer_img_s": rows / t, "trainer_vs_hand": h / t})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--data", choices=("synthetic", "digits"), default="synthetic")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.data == "digits":
        mlp_data, conv_data = digits((64,)), digits((1, 8, 8))
    else:
        mlp_data, conv_data = data(args.rows, (64,)), data(args.rows // 4, (1, 8, 8))
    models = {
        "mlp 64-256-256-10": (lambda: build_model("mlp", input_shape=(64,), n_classes=10, width=256, depth=2), mlp_data),
        "convnet 1x8x8 c16 d2": (lambda: build_model("convnet", input_shape=(1, 8, 8), n_classes=10,
                                                     channels=16, depth=2, head_width=64), conv_data),
    }
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = [compare(name, make, *d, device, args.repeats) for device in devices for name, (make, d) in models.items()]
    # NOTE: bf16 autocast on the CPU (Trainer(precision="bf16", device="cpu")); "auto" keeps fp32 there
    amp = [mixed_precision(name, make, *d, torch.device("cpu"), args.repeats, ("fp32", "bf16"))
           for name, (make, d) in models.items()]
    if torch.cuda.is_available():
        amp += [mixed_precision(name, make, *d, torch.device("cuda"), args.repeats) for name, (make, d) in models.items()]
    print(f"{'model':24} {'device':6} {'hand s/epoch':>13} {'Trainer s/epoch':>16} {'overhead':>9}"
          f" {'fit incl. setup':>16} {'overhead':>9}")
    for r in rows:
        print(f"{r['model']:24} {r['device']:6} {r['hand_s']:13.4f} {r['trainer_s']:16.4f} "
              f"{r['overhead_pct']:8.1f}% {r['trainer_fit_s']:16.4f} {r['fit_overhead_pct']:8.1f}%")
    for r in amp:
        fp16 = f"  fp16 ×{r['fp16_speedup']:.2f}" if "fp16_speedup" in r else ""
        print(f"{r['model']:24} {r['device']:6} Trainer fp32 {r['fp32_s']:.4f} s/epoch  bf16 ×{r['bf16_speedup']:.2f}{fp16}")
    image_modes = gpu_image_modes(torch.device("cuda"), args.repeats) if torch.cuda.is_available() else []
    if not image_modes:
        print("convnet 3x32x32 at batch 512, fp32 / bf16 / bf16 + channels_last: no GPU: skipped")
    for r in image_modes:
        print(f"convnet 3x32x32 b{IMAGE_BATCH} {r['mode']:22} hand {r['hand_img_s']:9.0f} img/s  "
              f"Trainer {r['trainer_img_s']:9.0f} img/s  ×{r['trainer_vs_hand']:.3f}")
    print(json.dumps({"bench": "train", "data": args.data, "threads": 1, "repeats": args.repeats,
                      "rows": len(mlp_data[0][1]) + len(mlp_data[1][1]),
                      "batch_size": BATCH, "comparisons": rows, "mixed_precision": amp,
                      "image_modes": image_modes or "no GPU: skipped",
                      "max_overhead_pct": max(r["overhead_pct"] for r in rows)}))


if __name__ == "__main__":
    main()
