"""The package layers of docs/architecture.md hold: import-linter's contracts in pyproject.toml,
and what a plain ``import knobs.diagnose`` loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_MACHINERY = ("knobs.pipeline", "knobs.report", "knobs.config", "plotly", "sqlalchemy", "rich", "typer")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def test_imports_point_down_only_and_the_core_stays_torch_free():
    # NOTE: in a process of its own: import-linter configures logging, which would silence
    # the loggers of knobs that later tests read.
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr  # the broken contract and its import chains


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(__import__('json').dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True)
    return {m for m in json.loads(out.stdout) if m.split(".")[0] in {"knobs", "plotly", "sqlalchemy", "rich", "typer"}
            and any(m == r or m.startswith(r + ".") for r in RUN_MACHINERY)}


def test_diagnosing_a_model_does_not_load_the_run_machinery():
    """``knobs.diagnose(model, ...)`` adds no run, plots, databases or terminal tables to what
    ``import knobs`` (its study: SQLAlchemy) and the libraries diagnosis computes with (torch;
    scikit-learn >= 1.9's metrics load rich) load anyway."""
    baseline = _loaded_after("import knobs, torch, sklearn.metrics, sklearn.linear_model")
    added = _loaded_after("import knobs.diagnose") - baseline
    assert not {m.split(".")[0] if not m.startswith("knobs.") else ".".join(m.split(".")[:2]) for m in added}


def test_a_run_makes_its_models_in_one_place():
    """Every model of a run — trials, folds, population members, refit, preflight, checks,
    diagnosis, autopilot, checkpoints loaded back — comes from ``pipeline.model.build_model``: the
    seam where a new way to make models plugs in. No other pipeline module builds a family itself."""
    import ast

    builders = []
    for path in sorted((ROOT / "src" / "knobs" / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "knobs.models" and \
                    any(a.name == "build_model" for a in node.names):
                builders.append(path.relative_to(ROOT / "src" / "knobs" / "pipeline").as_posix())
            if isinstance(node, ast.Attribute) and node.attr in ("build", "build_with_groups") and \
                    isinstance(node.value, ast.Name) and node.value.id == "objective":
                builders.append(f"{path.name}: objective.{node.attr}")
    assert builders == ["model/_build.py"]
