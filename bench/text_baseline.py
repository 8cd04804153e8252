"""TF-IDF + logistic regression on exactly the rows of a finished `knobs run` on text: the honest baseline.

Design. The run's ``splits.json`` names the source file's lines of its train, validation and test
rows (``ids = "line"``); its ``preprocess.json`` names the text and target columns. The baseline reads
those very lines with knobs' own table reader, fits scikit-learn's ``TfidfVectorizer`` (word 1- and
2-grams, sublinear tf) and ``LogisticRegression`` on the training rows, picks ``C`` from
``0.25, 1, 4, 16`` by validation accuracy (as the run picks its configuration on validation), and
scores the test rows once. The run's own test figures (single best trial and ensemble, from its
``summary.json``) are printed beside it.

Run: ``.venv/bin/python bench/text_baseline.py runs/<name>``. The last printed line is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from knobs.data._table import read_table

C_GRID = (0.25, 1.0, 4.0, 16.0)


def run_rows(run_dir: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """``{split: (texts, labels as the file spells them)}`` for train, val and test of the run."""
    splits = json.loads((run_dir / "splits.json").read_text())
    if splits["ids"] != "line":
        raise SystemExit(f"{run_dir}: rows are named by {splits['ids']!r}, not by line; not a table run")
    loading = json.loads((run_dir / "preprocess.json").read_text())["loading"]
    table = read_table(splits["source"], loading.get("delimiter"))
    at = {int(line): i for i, line in enumerate(table.lines)}
    texts, labels = table.column(loading["text_column"]), table.column(loading.get("target", "label"))
    test = splits["test"]["rows"] if isinstance(splits["test"], dict) else splits["test"]
    if isinstance(splits["test"], dict) and splits["test"].get("given") not in (None, "by the data's source"):
        raise SystemExit("an official test file: score it from that file instead")
    out = {}
    for name, lines in (("train", splits["train"]), ("val", splits["val"]), ("test", test)):
        index = [at[int(line)] for line in lines]
        out[name] = ([str(t) for t in texts[index]], np.asarray([str(v) for v in labels[index]]))
    return out


def baseline(rows: dict) -> dict:
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = rows["train"], rows["val"], rows["test"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train = vectorizer.fit_transform(X_tr)
    val, test = vectorizer.transform(X_va), vectorizer.transform(X_te)
    scores = {}
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(train, y_tr)
        scores[c] = accuracy_score(y_va, model.predict(val))
    best = max(C_GRID, key=lambda c: (scores[c], -c))
    model = LogisticRegression(C=best, max_iter=2000).fit(train, y_tr)
    predicted = model.predict(test)
    return {"C": best, "val_accuracy": round(scores[best], 4), "test_accuracy": round(accuracy_score(y_te, predicted), 4),
            "test_balanced_accuracy": round(balanced_accuracy_score(y_te, predicted), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = run_rows(args.run_dir)
    figures = baseline(rows)
    summary = json.loads((args.run_dir / "summary.json").read_text())
    knobs = {"final_model": summary.get("final_model"), "test_accuracy": summary["test"]["accuracy"],
             "single_test_accuracy": (summary.get("single") or {}).get("test", {}).get("accuracy"),
             "ensemble_test_accuracy": ((summary.get("ensemble") or {}).get("test") or {}).get("accuracy"),
             "seconds": summary.get("seconds")}
    result = {"run": str(args.run_dir), "rows": {k: len(v[1]) for k, v in rows.items()},
              "tfidf_logreg": {**figures, "seconds": round(time.perf_counter() - started, 1)}, "knobs": knobs}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
