"""How a number reads in the report: four significant digits, a dash for a missing value."""

from __future__ import annotations

from typing import Any

__all__ = ["fmt"]


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)
