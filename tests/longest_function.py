"""The longest functions in a source tree (lines from ``def`` to its last line), a yardstick for
refactors: ``python tests/longest_function.py src [n]``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def longest_functions(root: str | Path, n: int = 5) -> list[tuple[int, str]]:
    """The ``n`` longest functions and methods under ``root``: (lines, "path:line name")."""
    found = []
    for path in sorted(Path(root).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((node.end_lineno - node.lineno + 1, f"{path}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)[:n]


if __name__ == "__main__":
    for lines, where in longest_functions(sys.argv[1] if len(sys.argv) > 1 else "src",
                                          int(sys.argv[2]) if len(sys.argv) > 2 else 5):
        print(lines, where)
