"""pyproject.toml's promises hold for the code: every Python version that `requires-python` admits
has the standard-library modules that src/ imports unguarded."""

import ast
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
# Standard-library modules younger than Python 3.8, with the version that brought them.
ADDED_IN = {"zoneinfo": (3, 9), "graphlib": (3, 9), "tomllib": (3, 11)}


def _unguarded_imports(tree: ast.AST) -> set[str]:
    """Top-level module names imported outside a ``try: ... except ImportError`` fallback."""
    guarded = {id(node) for t in ast.walk(tree) if isinstance(t, ast.Try)
               and any(isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                       for h in t.handlers)
               for node in ast.walk(ast.Module(body=t.body, type_ignores=[]))}
    names = set()
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_requires_python_admits_only_versions_with_the_modules_src_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    admitted = SpecifierSet(project["requires-python"])
    oldest = min((3, minor) for minor in range(0, 30) if f"3.{minor}" in admitted)
    needed = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for name in _unguarded_imports(ast.parse(path.read_text(), str(path))) & set(ADDED_IN):
            needed.setdefault(name, path.relative_to(ROOT))
    too_new = {name: str(path) for name, path in needed.items() if ADDED_IN[name] > oldest}
    assert not too_new, (f"requires-python {project['requires-python']!r} admits Python {oldest[0]}.{oldest[1]}, "
                         f"which lacks {too_new}")
