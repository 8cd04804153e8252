"""``CheckResult``: what one check measured, what it expected, and what to do about it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckResult", "SEVERITIES"]

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        name: the check (``"initial_loss"``, ``"overfit_tiny"``, ``"nan"``…).
        passed: whether the measurement met the expectation.
        severity: ``"info"`` for a pass; ``"warning"`` (worth fixing, training can go on) or
            ``"error"`` (training would waste its budget) for a failure.
        measured: JSON-able numbers the verdict rests on, so a report can show the evidence.
        expected: the expectation in words (``"within 50% of ln 10 = 2.303"``).
        message: one sentence: what was found and, on failure, the likely cause and fix.
    """

    name: str
    passed: bool
    severity: str
    measured: dict[str, Any] = field(default_factory=dict)
    expected: str = ""
    message: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"CheckResult severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        mark = "ok" if self.passed else self.severity.upper()
        return f"[{mark}] {self.name}: {self.message}"
