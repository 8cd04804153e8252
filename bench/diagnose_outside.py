"""knobs.diagnose on faults from outside: the published programs of tests/zoo_outside.py.

What is measured: every program (23 faulty ones from AUTOTRAINER, DeepDiagnosis, DeepFD, UMLAUT and
Humbatova et al.'s taxonomy, 6 fixed versions) is diagnosed as its user would call it —
``diagnose(model, train_loader, val_loader, trainer=trainer)`` — and scored:

- recall over the catalogued faults: each program names one slot per fault its source labels (a
  set of codes, any of which is right); the share of slots a warning/error finding fills;
- precision over findings: of all warning/error findings, the share whose code is right for the
  program (a fixed version has no right code: any finding is wrong);
- healthy programs with a warning.

This is separate from the own zoo (bench/diagnose.py): that zoo was written with the rules; these
programs were catalogued by others. Programs on Fashion-MNIST need the Debian package
``dataset-fashion-mnist`` and are skipped without it (listed as skipped).

``torch.set_num_threads(1)``. Run: ``.venv/bin/python bench/diagnose_outside.py [--only NAME ...]``.
Prints one row per program, the totals, and as the last line one JSON object;
bench/results/diagnose_outside.json keeps the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import zoo_outside as zoo  # noqa: E402
from knobs.diagnose import diagnose  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "diagnose_outside.json"


def run(names: list[str]) -> list[dict]:
    rows = []
    print(f"{'program':34s} {'expected':44s} {'found (warning/error)':44s} {'slots':>5s} {'wrong':>5s} {'s':>6s}")
    for program in zoo.PROGRAMS:
        if names and program.name not in names:
            continue
        expected = " + ".join("|".join(sorted(slot)) for slot in program.expect) or "(healthy)"
        if not zoo.available(program):
            print(f"{program.name:34s} {expected[:44]:44s} skipped: needs {program.needs}")
            rows.append({"program": program.name, "source": program.source, "skipped": program.needs})
            continue
        model, train, val, trainer = program()
        start = time.perf_counter()
        report = diagnose(model, train, val, trainer=trainer)
        seconds = time.perf_counter() - start
        scored = zoo.score(program, report.codes)
        info = [f.code for f in report.findings if f.severity == "info"]
        rows.append({"program": program.name, "source": program.source, "fault": program.fault,
                     "expected": [sorted(slot) for slot in program.expect], "right": sorted(program.right_codes),
                     "found": report.codes, "info": info, **scored, "seconds": round(seconds, 2)})
        print(f"{program.name:34s} {expected[:44]:44s} {', '.join(report.codes)[:44] or '-':44s} "
              f"{scored['filled']}/{scored['slots']:<3d} {len(scored['wrong']):5d} {seconds:6.1f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[], help="program names (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = run(args.only)
    done = [r for r in rows if "skipped" not in r]
    total = zoo.totals(done)
    total["skipped"] = [r["program"] for r in rows if "skipped" in r]
    total["missed"] = [r["program"] for r in done if r["filled"] < r["slots"]]
    total["wrong"] = {r["program"]: r["wrong"] for r in done if r["wrong"]}
    total["seconds"] = round(sum(r["seconds"] for r in done), 1)
    print(f"\nrecall over catalogued faults: {total['filled']}/{total['slots']} = {total['recall']:.3f}; precision "
          f"over findings: {total['findings'] - total['wrong_findings']}/{total['findings']} = "
          f"{total['precision']:.3f}; healthy programs with a warning: {total['healthy_with_warnings']} of "
          f"{total['healthy']}; skipped: {len(total['skipped'])}")
    if not args.only:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"totals": total, "rows": rows}, indent=2) + "\n")
    print(json.dumps({"bench": "diagnose_outside", **{k: total[k] for k in (
        "programs", "faulty", "healthy", "slots", "filled", "recall", "precision", "findings", "wrong_findings",
        "healthy_with_warnings", "missed", "wrong", "skipped", "seconds")}}))


if __name__ == "__main__":
    main()
