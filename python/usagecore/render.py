"""Printing rows: tables for people (boxed in a terminal, plain in a pipe),
JSON and CSV for programs."""

from __future__ import annotations

import csv
import io
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

LABELS = {
    "input_tokens": "Input",
    "output_tokens": "Output",
    "reasoning_tokens": "Reasoning",
    "cache_read_tokens": "Cache read",
    "cache_write_tokens": "Cache write",
    "total_tokens": "Total tokens",
    "cost_usd": "Cost (USD)",
    "requests": "Requests",
    "session_id": "Session",
    "first_seen": "First",
    "last_seen": "Last",
    "provider_id": "Provider",
}
# Report columns people rarely need in a table; JSON keeps them.
QUIET_COLUMNS = {"reasoning_tokens", "unpriced_events"}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "cost_usd":
        return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def table(columns: list[str], rows: list[dict], totals: dict | None = None, *, raw: bool = False) -> str:
    """A table as text: boxed when stdout is a terminal, plain columns otherwise.

    `raw` shows every column under its own name (for SQL results)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    shown = columns if raw else [c for c in columns if c not in QUIET_COLUMNS]
    terminal = sys.stdout.isatty()
    grid = Table(box=box.ROUNDED if terminal else box.SIMPLE_HEAD, show_footer=totals is not None)
    for i, column in enumerate(shown):
        numeric = any(isinstance(r.get(column), (int, float, Decimal)) for r in rows)
        footer = ""
        if totals is not None:
            footer = "Total" if i == 0 else cell(column, totals[column]) if column in totals else ""
        label = column if raw else LABELS.get(column, column.replace("_", " ").capitalize())
        grid.add_column(label,
                        justify="right" if numeric else "left", footer=footer)
    for row in rows:
        grid.add_row(*(cell(c, row.get(c)) for c in shown))
    # In a pipe there is no width to fit: never wrap or cut a cell.
    console = Console(file=io.StringIO(), width=None if terminal else 10_000,
                      force_terminal=terminal, color_system="auto" if terminal else None)
    console.print(grid)
    text = console.file.getvalue()
    return text if terminal else "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def to_csv(columns: list[str], rows: list[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
