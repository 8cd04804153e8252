"""``Report``: the findings of one diagnosis, the checks behind them, and the evidence.

Renders as a rich table (``report.table()``, or ``rich.print(report)``) and as JSON-ready data
(``report.to_dict()``), which the CLI writes with ``--json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from knobs.checks import CheckResult
from knobs.diagnose._finding import Finding

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Report"]

_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


@dataclass
class Report:
    """What ``knobs.diagnose`` found.

    Attributes:
        findings: most severe first; each has ``code``, ``severity``, ``message``, ``evidence``,
            ``action``.
        checks: the preflight ``CheckResult`` records (data and model checks).
        evidence: the settings, the watched run (epoch records, probes), the LR runs and the
            reference scores, as plain data.
        seconds: wall time of the diagnosis.
    """

    findings: list[Finding]
    checks: list[CheckResult] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def codes(self) -> list[str]:
        """The codes found at warning or error level."""
        return [f.code for f in self.findings if f.severity != "info"]

    @property
    def ok(self) -> bool:
        """True when nothing was found at warning or error level."""
        return not self.codes

    def __getitem__(self, code: str) -> Finding:
        """The finding with ``code`` (KeyError when there is none)."""
        for f in self.findings:
            if f.code == code:
                return f
        raise KeyError(code)

    def __contains__(self, code: str) -> bool:
        return any(f.code == code for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """Everything as strict JSON data (NaN and inf become None)."""
        return _jsonable({"ok": self.ok, "findings": [f.to_dict() for f in self.findings],
                          "checks": [c.to_dict() for c in self.checks], "evidence": self.evidence,
                          "seconds": round(self.seconds, 3)})

    def table(self) -> Table:
        """Severity, code, what was found and what to do, one row per finding."""
        from rich.table import Table  # NOTE: here, so diagnosing a model loads no terminal library

        table = Table(title="Diagnosis" + ("" if self.findings else ": nothing found"), show_lines=True)
        for column, ratio in (("severity", None), ("code", None), ("found", 3), ("action", 2)):
            table.add_column(column, ratio=ratio, overflow="fold")
        for f in self.findings:
            found = f.message + (f" (explained by {', '.join(f.explained_by)})" if f.explained_by else "") + (
                f" (explains: {', '.join(f.evidence['explains'])})" if f.evidence.get("explains") else "")
            table.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.code, found, f.action)
        return table

    def __rich__(self) -> Table:
        return self.table()

    def __str__(self) -> str:
        return "\n".join(str(f) + (f" (explains: {', '.join(f.evidence['explains'])})" if f.evidence.get("explains")
                                    else "") for f in self.findings) or "no findings"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return _jsonable(value.item())
    return value
