"""Running a benchmark script as a user does, for its smoke test: ``python bench/<name>.py ... --out <json>``."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_bench(name: str, out: Path, *args: str, timeout: int = 600) -> tuple[str, dict]:
    """The script's printed output and the JSON figures it wrote to ``out`` (its exit status must be 0)."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())
