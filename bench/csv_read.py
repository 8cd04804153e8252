"""How fast ``load_csv`` reads numeric tables, next to ``numpy.loadtxt`` (and pyarrow if installed).

Design. Two generated tables in a temporary directory, both 10,000 rows x 785 columns:

- ``numeric``: Fashion-MNIST-like, a ``label`` column (0-9) and 784 pixel columns (integers
  0-255, about half of them 0). The target: ``load_csv`` within 2x ``numpy.loadtxt``.
- ``mixed``: the same pixels with 1% of the cells in 20 columns missing (``""`` or ``NA``),
  two text columns (colours, sizes), a column of codes with leading zeros and a text label,
  loaded with ``missing="median"``; also timed with the encoding a run does next (the
  ``TabularPreprocessor`` fitted and applied). ``numpy.loadtxt`` cannot read it;
  ``numpy.genfromtxt`` (missing values filled, categories as text) is the numpy comparison.

Optionally, ``--fashion`` (on when the Debian package ``dataset-fashion-mnist`` is installed):
the real Fashion-MNIST training set (60,000 x 785) written as CSV from its IDX files.
``--before SRC`` times ``load_csv`` of another checkout's ``src`` (e.g. main before this change)
in a subprocess, once, on the numeric and the mixed table (there with the encoding too).

Every reader reads the same file; each figure is the median of ``--repeats`` runs, in this
process, interleaved. Run: ``.venv/bin/python bench/csv_read.py [--repeats 3] [--before /work/main/src]``.
It prints a table and writes ``bench/results/csv_read.json``.

``--encode`` times only the encoding of the mixed table, read once: ``TabularPreprocessor.fit`` and
``transform`` apart, for the ``median`` and ``mean`` policies; with ``--before SRC`` the
``TabularPreprocessor`` of that checkout's ``knobs/data/_tabular.py`` (imported beside this one, so
both share this checkout's cell parsing) is timed in the same process, interleaved, and its fill
values and output are compared with this one's, bit for bit. It prints a table and writes
``bench/results/csv_encode.json``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from knobs.data import load_csv

RESULTS = Path(__file__).parent / "results" / "csv_read.json"
ENCODE_RESULTS = Path(__file__).parent / "results" / "csv_encode.json"
FASHION = Path("/usr/share/datasets/fashion-mnist")
ROWS, PIXELS = 10_000, 784


def numeric_table(path: Path, rng: np.random.Generator) -> None:
    pixels = rng.integers(0, 256, (ROWS, PIXELS))
    pixels[rng.random((ROWS, PIXELS)) < 0.5] = 0
    write_pixels(path, rng.integers(0, 10, ROWS), pixels)


def mixed_table(path: Path, rng: np.random.Generator) -> None:
    pixels = rng.integers(0, 256, (ROWS, PIXELS - 3)).astype(str).astype(object)
    for j in range(0, 200, 10):  # 20 columns with 1% missing cells, written two ways
        holes = np.flatnonzero(rng.random(ROWS) < 0.01)
        pixels[holes, j] = np.where(holes % 2, "", "NA")
    colour = rng.choice(["red", "green", "blue", "black"], ROWS)
    size = rng.choice(["S", "M", "L", "XL"], ROWS)
    code = np.char.zfill(rng.integers(0, 40, ROWS).astype(str), 5)
    label = rng.choice(["shirt", "coat", "bag", "boot"], ROWS)
    header = ["label", "colour", "size", "code", *(f"pixel{j}" for j in range(PIXELS - 3))]
    with path.open("w") as handle:
        handle.write(",".join(header) + "\n")
        for i in range(ROWS):
            handle.write(f"{label[i]},{colour[i]},{size[i]},{code[i]}," + ",".join(pixels[i]) + "\n")


def write_pixels(path: Path, labels: np.ndarray, pixels: np.ndarray) -> None:
    with path.open("w") as handle:
        handle.write("label," + ",".join(f"pixel{j}" for j in range(pixels.shape[1])) + "\n")
        for label, row in zip(labels, pixels):
            handle.write(f"{label}," + ",".join(map(str, row)) + "\n")


def fashion_table(path: Path) -> int:
    """Fashion-MNIST's 60,000 training images as a CSV (the IDX layout: 16-byte image header,
    8-byte label header)."""
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as handle:
        pixels = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, PIXELS)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)
    write_pixels(path, labels, pixels)
    return len(labels)


def readers(kind: str) -> dict:
    """The readers timed on a table of this kind: name -> function of the path."""
    found = {"knobs load_csv": (lambda p: load_csv(p, missing="median") if kind == "mixed" else load_csv(p))}
    if kind == "mixed":
        # what a run does next with such a file: fit the fill values and categories, encode
        found["knobs load_csv + encode"] = lambda p: _encoded(load_csv(p, missing="median"))
        text = [("label", "U8"), ("colour", "U8"), ("size", "U4"), ("code", "U8")]
        dtype = np.dtype(text + [(f"pixel{j}", np.float64) for j in range(PIXELS - 3)])
        found["numpy.genfromtxt"] = lambda p: np.genfromtxt(p, delimiter=",", skip_header=1, dtype=dtype,
                                                           encoding="utf-8", missing_values="NA")
    else:
        found["numpy.loadtxt"] = lambda p: np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.float32)
    try:
        import pyarrow.csv as pacsv
        found["pyarrow.csv"] = lambda p: pacsv.read_csv(p)
    except ImportError:
        pass
    return found


def _encoded(ds) -> np.ndarray:
    return ds.preprocessor.fit_transform(ds.X)


def time_readers(path: Path, kind: str, repeats: int) -> dict:
    found = readers(kind)
    times = {name: [] for name in found}
    for _ in range(repeats):
        for name, read in found.items():
            start = time.perf_counter()
            read(path)
            times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


def time_before(src: str, path: Path, mixed: bool) -> dict:
    """``load_csv`` (and, on the mixed table, the encoding) of another checkout, timed once inside a
    fresh interpreter (its import excluded)."""
    policy = ", missing='median'" if mixed else ""
    code = ("import json, time; from knobs.data import load_csv; t = time.perf_counter(); "
            f"ds = load_csv({str(path)!r}{policy}); "
            "loaded = time.perf_counter() - t; "
            + ("ds.preprocessor.fit_transform(ds.X); " if mixed else "")
            + "print(json.dumps([loaded, time.perf_counter() - t]))")
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True)
    loaded, total = json.loads(out.stdout.strip().splitlines()[-1])
    times = {"knobs load_csv (before)": round(loaded, 3)}
    if mixed:
        times["knobs load_csv + encode (before)"] = round(total, 3)
    return times


def preprocessor_before(src: str) -> type:
    """``TabularPreprocessor`` of another checkout's ``src``, imported as a module of its own."""
    spec = importlib.util.spec_from_file_location("tabular_before", Path(src) / "knobs" / "data" / "_tabular.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TabularPreprocessor


def time_encoding(path: Path, repeats: int, before: str | None) -> dict:
    """Median seconds of ``fit`` and ``transform`` per policy (and per checkout), and whether the
    two checkouts' fill values and outputs are identical."""
    from knobs.data import TabularPreprocessor

    ds = load_csv(path, missing="median")
    columns, categorical = ds.preprocessor.columns, ds.preprocessor.categorical
    kinds = {"now": TabularPreprocessor, **({"before": preprocessor_before(before)} if before else {})}
    result = {"rows x columns": f"{ds.X.shape[0]:,} x {ds.X.shape[1]}", "policies": {}}
    for policy in ("median", "mean"):
        times = {(kind, step): [] for kind in kinds for step in ("fit", "transform")}
        outputs = {}
        for _ in range(repeats):
            for kind, cls in kinds.items():
                pre = cls(columns, categorical, policy)
                start = time.perf_counter()
                pre.fit(ds.X)
                times[kind, "fit"].append(time.perf_counter() - start)
                start = time.perf_counter()
                out = pre.transform(ds.X)
                times[kind, "transform"].append(time.perf_counter() - start)
                outputs[kind] = (pre.fill_, out)
        entry = {f"{kind} {step}": round(statistics.median(v), 3) for (kind, step), v in times.items()}
        if before:
            (fill_now, out_now), (fill_before, out_before) = outputs["now"], outputs["before"]
            entry["identical"] = fill_now == fill_before and list(fill_now) == list(fill_before) and \
                out_now.dtype == out_before.dtype and np.array_equal(out_now, out_before)
        result["policies"][policy] = entry
        print(f"{policy}: {entry}", flush=True)
    return result


def encode_table(result: dict) -> str:
    lines = ["| policy | step | now s | before s | before / now | identical |", "|---|---|---|---|---|---|"]
    for policy, entry in result["policies"].items():
        for step in ("fit", "transform"):
            now, before = entry[f"now {step}"], entry.get(f"before {step}")
            ratio = f"{before / now:.1f}x" if before else "—"
            lines.append(f"| {policy} | {step} | {now:.3f} | {before if before else '—'} | {ratio} | "
                         f"{entry.get('identical', '—')} |")
    return "\n".join(lines)


def table(result: dict) -> str:
    lines = ["| table | rows x columns | reader | median s | vs numpy |", "|---|---|---|---|---|"]
    for name, entry in result["tables"].items():
        base = entry["times"].get("numpy.loadtxt") or entry["times"].get("numpy.genfromtxt")
        for reader, seconds in entry["times"].items():
            lines.append(f"| {name} | {entry['shape']} | {reader} | {seconds:.3f} | {seconds / base:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fashion", action=argparse.BooleanOptionalAction, default=FASHION.is_dir())
    parser.add_argument("--before", default=None, help="a checkout's src/ to time load_csv from, once")
    parser.add_argument("--encode", action="store_true", help="time only the mixed table's encoding (fit, transform)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.encode:
        with tempfile.TemporaryDirectory() as tmp:
            mixed_table(Path(tmp) / "mixed.csv", rng)
            result = {"command": "bench/csv_read.py " + " ".join(sys.argv[1:]), "repeats": args.repeats,
                      **time_encoding(Path(tmp) / "mixed.csv", args.repeats, args.before)}
        print(encode_table(result))
        ENCODE_RESULTS.parent.mkdir(exist_ok=True)
        ENCODE_RESULTS.write_text(json.dumps(result, indent=1) + "\n")
        return
    result = {"command": "bench/csv_read.py " + " ".join(sys.argv[1:]), "repeats": args.repeats, "tables": {}}
    with tempfile.TemporaryDirectory() as tmp:
        made = {"numeric": Path(tmp) / "numeric.csv", "mixed": Path(tmp) / "mixed.csv"}
        numeric_table(made["numeric"], rng)
        mixed_table(made["mixed"], rng)
        shapes = {"numeric": f"{ROWS:,} x {PIXELS + 1}", "mixed": f"{ROWS:,} x {PIXELS + 1}"}
        if args.fashion:
            made["fashion-mnist train"] = Path(tmp) / "fashion.csv"
            shapes["fashion-mnist train"] = f"{fashion_table(made['fashion-mnist train']):,} x {PIXELS + 1}"
        for name, path in made.items():
            kind = "mixed" if name == "mixed" else "numeric"
            times = time_readers(path, kind, args.repeats if name != "fashion-mnist train" else 1)
            result["tables"][name] = {"shape": shapes[name], "megabytes": round(path.stat().st_size / 2**20, 1),
                                      "times": times}
            print(f"{name}: {times}", flush=True)
        if args.before:
            for name in ("numeric", "mixed"):
                result["tables"][name]["times"].update(time_before(args.before, made[name], name == "mixed"))
    numeric = result["tables"]["numeric"]["times"]
    result["numeric_ratio_to_loadtxt"] = round(numeric["knobs load_csv"] / numeric["numpy.loadtxt"], 2)
    print(table(result))
    print(f"numeric table: load_csv / loadtxt = {result['numeric_ratio_to_loadtxt']}x (target <= 2x)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
