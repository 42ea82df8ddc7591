"""The shape every benchmark returns, so that printing and JSON output are written once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BenchResult:
    """Outcome of one benchmark run.

    ``summary`` holds the machine-readable figures (the keys issues ask for, e.g.
    ``orders_per_s``); ``table`` holds human-readable rows, the first being the header.
    """

    name: str
    summary: dict[str, Any]
    table: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render_table(self) -> str:
        if not self.table:
            return ""
        widths = [max(len(str(row[i])) for row in self.table) for i in range(len(self.table[0]))]
        lines = []
        for index, row in enumerate(self.table):
            lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
            if index == 0:
                lines.append("  ".join("-" * width for width in widths))
        return "\n".join(lines)
