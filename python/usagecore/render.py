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
    Cells are never cut; numbers are right-aligned.

    `raw` shows every column under its own name (for SQL results)."""
    shown = columns if raw else [c for c in columns if c not in QUIET_COLUMNS]
    header = [c if raw else LABELS.get(c, c.replace("_", " ").capitalize()) for c in shown]
    body = [[cell(c, row.get(c)) for c in shown] for row in rows]
    footer = None
    if totals is not None:
        footer = ["Total" if i == 0 else cell(c, totals[c]) if c in totals else "" for i, c in enumerate(shown)]
    numeric = [any(isinstance(r.get(c), (int, float, Decimal)) and not isinstance(r.get(c), bool) for r in rows)
               for c in shown]
    lines = [header, *body] + ([footer] if footer else [])
    widths = [max(len(line[i]) for line in lines) for i in range(len(shown))]

    def fmt(line: list[str]) -> list[str]:
        return [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(line, widths, numeric)]

    if sys.stdout.isatty():
        def rule(left: str, middle: str, right: str) -> str:
            return left + middle.join("─" * (w + 2) for w in widths) + right

        def row(cells) -> str:
            return "│ " + " │ ".join(cells) + " │"

        out = [rule("╭", "┬", "╮"), row(f"\033[1m{h}\033[0m" for h in fmt(header)), rule("├", "┼", "┤")]
        out += [row(fmt(r)) for r in body]
        if footer:
            out += [rule("├", "┼", "┤"), row(fmt(footer))]
        out.append(rule("╰", "┴", "╯"))
    else:
        out = ["  ".join(fmt(header)).rstrip(), "  ".join("-" * w for w in widths)]
        out += ["  ".join(fmt(r)).rstrip() for r in body]
        if footer:
            out += ["  ".join("-" * w for w in widths), "  ".join(fmt(footer)).rstrip()]
    return "\n".join(out) + "\n"


def to_csv(columns: list[str], rows: list[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
