"""Extract CIFAR-10 (JPEG class folders) from the shared archive: ``data/train/<class>/*.jpg`` and
``data/test/<class>/*.jpg`` in the current folder — run it from the example that reads them
(``cd examples/own_resnet_cifar10 && python ../get_cifar10.py``); both CIFAR-10 examples use it.

The archive is ``shared/data/cifar10-jpg.tar.gz`` (see shared/data/README.md), found in a folder above
this one or given with ``--archive``. ``--per-class N`` keeps the first N images of each class (by file
name) of each split — how the committed ``tiny/`` sample of ``test.toml`` was made (``--per-class 5
--test-per-class 2 --out tiny``). The extracted images are not committed (``.gitignore``).

Run: ``python ../get_cifar10.py [--archive PATH] [--out data] [--per-class N] [--test-per-class N]``.
"""

from __future__ import annotations

import argparse
import tarfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCHIVE = Path("shared") / "data" / "cifar10-jpg.tar.gz"


def find_archive() -> Path:
    """The shared archive in the nearest folder above this one that holds ``shared/data``."""
    for folder in HERE.parents:
        if (folder / ARCHIVE).is_file():
            return folder / ARCHIVE
    raise SystemExit(f"no {ARCHIVE} in any folder above {HERE}; give its path with --archive")


def extract(archive: Path, out: Path, per_class: int | None, test_per_class: int | None) -> Counter:
    """Extract the JPEGs (at most ``per_class`` / ``test_per_class`` per class and split); counts per split."""
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")),
                         key=lambda m: m.name)
        kept, counts = [], Counter()
        for member in members:
            split, label, _ = Path(member.name).parts[-3:]
            limit = test_per_class if split == "test" else per_class
            if split not in ("train", "test") or (limit is not None and counts[split, label] >= limit):
                continue
            counts[split, label] += 1
            kept.append(member)
        tar.extractall(out, members=kept, filter="data")
    return Counter(Path(m.name).parts[-3] for m in kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("data"), help="where to extract (default: ./data)")
    parser.add_argument("--per-class", type=int, default=None, help="training images kept per class (default: all)")
    parser.add_argument("--test-per-class", type=int, default=None, help="test images kept per class (default: all)")
    args = parser.parse_args()
    totals = extract(args.archive or find_archive(), args.out, args.per_class, args.test_per_class)
    print(f"extracted {totals['train']} training and {totals['test']} test images into {args.out}")


if __name__ == "__main__":
    main()
