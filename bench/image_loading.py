"""CIFAR-10 through the image-folder loader: load time, peak memory, and training time through
knobs' Trainer next to a hand-written PIL + torch DataLoader loop on the same images.

Design. The JPEG folder (``/work/shared/data/cifar10-jpg.tar.gz``, ``train/<class>/*.jpg``) is
extracted to a temporary directory (or ``--folder`` names one already extracted). Every phase runs
in its own interpreter, so its peak memory (``ru_maxrss``, minus the resident size after imports)
is its own:

- ``load cold``: ``load_image_folder`` with an empty disk cache: scan, decode into uint8, scale to
  float32, write the cache.
- ``load warm``: the same call again: read from the disk cache.
- ``load before`` (``--before SRC``): the loader of another checkout (e.g. main before this
  change: float32 arrays per image, then stacked).
- ``knobs``: a cold load, then ``Trainer.fit`` of a small ConvNet (knobs' ``convnet``, 16 channels,
  depth 2, batch norm) for ``--epochs`` epochs on the in-memory tensors (batch 128, Adam 1e-3).
- ``knobs warm``: the same with the disk cache from the cold run (a second run of the folder).
- ``hand``: the same model, optimizer, batch size and epochs in a hand-written loop over a
  ``torch.utils.data.Dataset`` that opens each file with PIL every epoch, through a DataLoader
  with the workers and pinning ``loader_options`` picks (``cpu_count - 1`` workers). It is given
  the same file list (knobs' scan, not timed: a hand loop would glob the folder).

One torch thread in every phase (the 2-core machine is shared). The target: knobs' total (load +
epochs, cold) at most 1.05x the hand loop's. ``--per-class N`` takes N images of each class (the
seeded draw of ``max_per_class``); 0 takes all 50,000.

Run: ``.venv/bin/python bench/image_loading.py [--per-class 0] [--epochs 2] [--before /tmp/before/src]``.
It prints a table and writes ``bench/results/image_loading.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ARCHIVE = Path("/work/shared/data/cifar10-jpg.tar.gz")
RESULTS = Path(__file__).parent / "results" / "image_loading.json"
MODEL = {"channels": 16, "depth": 2, "batch_norm": True, "head_width": 64}
BATCH, LR = 128, 1e-3


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def phase(name: str, folder: str, cache: str, per_class: int, epochs: int) -> dict:
    """One measurement, in this (fresh) interpreter."""
    import torch

    torch.set_num_threads(1)
    from knobs.data import load_image_folder, loader_options
    from knobs.models import build_model

    base = rss_mib()
    limit = per_class or None
    start = time.perf_counter()
    if name == "hand":
        listed = json.loads((Path(cache).parent / "files.json").read_text())
        start = time.perf_counter()
        model = build_model("convnet", input_shape=(3, 32, 32), n_classes=10, **MODEL)
        fit_s = hand_loop(model, listed["files"], listed["labels"], epochs, loader_options("cpu"))
        return {"phase": name, "images": len(listed["files"]), "total_s": round(time.perf_counter() - start, 2),
                "epochs_s": round(fit_s, 2), "peak_extra_mib": round(peak_mib() - base, 1)}
    options = {"max_per_class": limit} if limit else {}
    if name != "load before":
        options["cache_dir"] = cache
    ds = load_image_folder(folder, **options)
    load_s = time.perf_counter() - start
    out = {"phase": name, "images": len(ds), "load_s": round(load_s, 2),
           "peak_extra_mib": round(peak_mib() - base, 1), "cache": ds.loading.get("cache", {}).get("message")}
    if name.startswith("knobs"):
        from knobs.train import Trainer

        X = torch.from_numpy(ds.X).reshape(-1, *ds.image_shape)
        y = torch.from_numpy(ds.y)
        model = build_model("convnet", input_shape=ds.image_shape, n_classes=10, **MODEL)
        fit_start = time.perf_counter()
        Trainer(optimizer="adam", lr=LR, epochs=epochs, batch_size=BATCH, seed=0, device="cpu").fit(model, train=(X, y))
        out.update(epochs_s=round(time.perf_counter() - fit_start, 2), total_s=round(time.perf_counter() - start, 2),
                   peak_extra_mib=round(peak_mib() - base, 1))
    return out


def hand_loop(model, files, labels, epochs: int, options: dict) -> float:
    """The loop a user writes without knobs: PIL decoding every epoch in DataLoader workers."""
    import numpy as np
    import torch
    from PIL import Image

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            with Image.open(files[i]) as img:
                pixels = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
            return torch.from_numpy(pixels.transpose(2, 0, 1).copy()), int(labels[i])

    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(Files(), batch_size=BATCH, shuffle=True, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def run_phase(name: str, folder: Path, cache: Path, args, src: str | None = None) -> dict:
    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
    command = [sys.executable, __file__, "--phase", name, "--folder", str(folder), "--cache", str(cache),
               "--per-class", str(args.per_class), "--epochs", str(args.epochs)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"phase {name!r} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def table(result: dict) -> str:
    lines = ["| phase | images | load s | epochs s | total s | peak extra MiB |", "|---|---|---|---|---|---|"]
    for row in result["phases"]:
        lines.append(f"| {row['phase']} | {row['images']:,} | {row.get('load_s', '-')} | {row.get('epochs_s', '-')} | "
                     f"{row.get('total_s', '-')} | {row['peak_extra_mib']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=0, help="images per class (0: all 5,000)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--folder", default=None, help="an extracted train/ folder (default: extract the archive)")
    parser.add_argument("--before", default=None, help="another checkout's src/ to time its loader")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.folder, args.cache, args.per_class, args.epochs)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else None
        if folder is None:
            tarfile.open(ARCHIVE).extractall(tmp, filter="data")
            folder = Path(tmp) / "train"
        cache = Path(tmp) / "cache"
        # NOTE: the hand loop gets knobs' file list (the same seeded draw), outside its timing
        from knobs.data import scan_image_folder

        chosen = scan_image_folder(folder, max_per_class=args.per_class or None)
        (Path(tmp) / "files.json").write_text(json.dumps(
            {"files": [str(f) for f in chosen.files], "labels": chosen.labels.tolist()}))
        for file in chosen.files:
            file.read_bytes()  # every phase then finds the files in the page cache, the first too
        phases = ["load cold", "load warm"] + (["load before"] if args.before else [])
        rows = [run_phase(name, folder, cache, args, args.before if name == "load before" else None)
                for name in phases]
        for name in ("knobs", "hand", "knobs warm"):
            if name == "knobs":
                for entry in cache.glob("*"):
                    entry.unlink()  # a cold load again
            rows.append(run_phase(name, folder, cache, args))
    knobs, hand = (next(r for r in rows if r["phase"] == n) for n in ("knobs", "hand"))
    warm = next(r for r in rows if r["phase"] == "knobs warm")
    result = {"command": "bench/image_loading.py " + " ".join(sys.argv[1:]), "per_class": args.per_class,
              "epochs": args.epochs, "phases": rows,
              "knobs_over_hand_cold": round(knobs["total_s"] / hand["total_s"], 3),
              "knobs_over_hand_warm": round(warm["total_s"] / hand["total_s"], 3)}
    print(table(result))
    print(f"knobs total / hand loop total: {result['knobs_over_hand_cold']} (cold cache), "
          f"{result['knobs_over_hand_warm']} (warm cache); target <= 1.05")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
