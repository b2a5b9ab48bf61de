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
    "provider_id": "Upstream",
    "provider": "Provider",
    "block_start": "Block start",
    "block_end": "Ends",
    "telemetry_ids": "Telemetry ids",
    "duration_ms": "Time",
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


# ------------------------------------------------------------ report tables
#
# A report table fits the terminal: long text cells are shortened first, then
# the least needed columns are left out (the footer says which; --wide shows
# all). In a pipe there is no width to fit unless $COLUMNS says so.

# Higher is kept longer; columns at KEEP or above are never left out.
KEEP = 90
PRIORITY = {
    "date": 100, "week": 100, "month": 100, "session_id": 100, "model": 100, "project": 88, "provider": 100,
    "account": 99, "tool": 100, "block_start": 100, "cost_usd": 98, "total_tokens": 96, "status": 97,
    "calls": 97, "input_tokens": 70, "output_tokens": 72, "models": 60, "last_seen": 58, "first_seen": 40,
    "block_end": 52, "cache_write_tokens": 50, "cache_read_tokens": 49, "requests": 45, "failures": 80,
    "duration_ms": 75, "sessions": 65, "provider_id": 55, "source": 35, "telemetry_ids": 42,
}
# Text columns that may be shortened: (which end to keep, narrowest width).
SHRINK = {"models": ("head", 12), "project": ("tail", 16), "session_id": ("head", 8),
          "telemetry_ids": ("head", 10), "model": ("head", 16), "tool": ("head", 12)}
UNPRICED_MARK = "*"
TITLES = {"session": "Usage by session", "blocks": "5-hour billing blocks", "models": "Usage by model",
          "tools": "Tool calls", "projects": "Usage by project", "providers": "Usage by provider",
          "accounts": "Usage by account"}


def terminal_width(wide: bool) -> int | None:
    """The width to fit: $COLUMNS, else the terminal's; None in a pipe or with --wide."""
    import os
    import shutil

    if wide:
        return None
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def use_color(no_color: bool) -> bool:
    import os

    return sys.stdout.isatty() and not no_color and not os.environ.get("NO_COLOR")


def _shorten(text: str, width: int, keep: str) -> str:
    if len(text) <= width:
        return text
    if keep == "tail":
        return "…" + text[len(text) - width + 1:]
    return text[:width - 1] + "…"


def _duration(ms: Any) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    return f"{seconds:,.1f} s" if seconds < 600 else f"{seconds / 60:,.1f} min"


def _report_cell(column: str, row: dict) -> str:
    value = row.get(column)
    if column == "duration_ms":
        return _duration(value)
    if column == "cost_usd" and row.get("unpriced_events"):
        return ("n/a" if value is None else cell(column, value)) + UNPRICED_MARK
    return cell(column, value)


def fit(columns: list[str], lines: list[list[str]], width: int | None, boxed: bool) -> tuple[list[str], list[int]]:
    """Which columns to show and how wide, so that a line fits `width`.
    `lines` are the cells of every line (header included), in `columns` order."""
    widths = {c: max(len(line[i]) for line in lines) for i, c in enumerate(columns)}
    natural = dict(widths)
    shown = list(columns)

    def total() -> int:
        n = len(shown)
        return sum(widths[c] for c in shown) + (3 * n + 1 if boxed else 2 * (n - 1))

    if width is None or total() <= width:
        return shown, [widths[c] for c in shown]
    header = {c: len(lines[0][i]) for i, c in enumerate(columns)}
    # 1. long text down to a comfortable width
    for c in shown:
        if c in SHRINK:
            widths[c] = min(widths[c], max(header[c], SHRINK[c][1], 28 if c != "project" else 32))
    def drop_below(priority: int) -> None:
        for c in sorted(columns, key=lambda c: PRIORITY.get(c, 50)):
            if total() <= width or PRIORITY.get(c, 50) >= priority:
                break
            if c in shown:
                shown.remove(c)

    def shrink_to_min() -> None:
        for c in shown:
            if total() > width and c in SHRINK:
                widths[c] = max(SHRINK[c][1], header[c], widths[c] - (total() - width))

    # 2. leave out the columns few need, 3. text down to its narrowest, 4. then more columns
    drop_below(60)
    shrink_to_min()
    drop_below(KEEP)
    # 5. room left over goes back to the text that was shortened
    for c in sorted(shown, key=lambda c: -PRIORITY.get(c, 50)):
        if c in SHRINK and total() < width:
            widths[c] = min(natural[c], widths[c] + width - total())
    return shown, [widths[c] for c in shown]


# Text tables of the reports with one row per session or block show the most
# recent rows only (totals count all); --all, --json and --csv show every row.
RECENT_ROWS = 100


def report_text(report: Any, *, width: int | None, color: bool, all_rows: bool = False) -> str:  # noqa: C901
    """A report for people: a title naming the time zone, the table fitted to
    `width`, and notes for what the figures leave out."""
    name, rows = report.name, report.rows
    earlier = 0
    if name in ("session", "blocks") and not all_rows and len(rows) > RECENT_ROWS:
        earlier, rows = len(rows) - RECENT_ROWS, rows[-RECENT_ROWS:]
    title = TITLES.get(name, f"{name.capitalize()} usage")
    filters = report.filters.describe()
    out = _wrap([f"{title} · time zone {report.tz}" + (f" · {filters}" if filters else "")], width)
    bold = (lambda t: f"\033[1m{t}\033[0m") if color else (lambda t: t)
    dim = (lambda t: f"\033[2m{t}\033[0m") if color else (lambda t: t)
    if not rows:
        notes = [f"No usage for this filter ({filters or 'no filter'}; time zone {report.tz})."]
        return "\n".join(_wrap(out + notes + _unmapped_notes(report), width)) + "\n"

    columns = [c for c in report.columns if c not in QUIET_COLUMNS]
    header = [LABELS.get(c, c.replace("_", " ").capitalize()) for c in columns]
    body: list[list[str]] = []
    kinds: list[str] = []  # "row" | "sub"
    for row in rows:
        body.append([_report_cell(c, row) for c in columns])
        kinds.append("row")
        for sub in row.get("breakdown") or []:
            body.append([("└ " + str(sub.get("model") or "-")) if i == 0 else
                         _report_cell(c, sub) if c in sub and c != "models" else ""
                         for i, c in enumerate(columns)])
            kinds.append("sub")
    footer = ["Total" if i == 0 else _report_cell(c, report.totals) if c in report.totals else ""
              for i, c in enumerate(columns)]
    boxed = sys.stdout.isatty()
    shown, widths = fit(columns, [header, *body, footer], width, boxed)
    index = [columns.index(c) for c in shown]
    numeric = {c for c in columns if any(isinstance(r.get(c), (int, float, Decimal)) and not isinstance(r.get(c), bool)
                                         for r in rows)}

    def fmt(line: list[str]) -> list[str]:
        cells = []
        for i, w in zip(index, widths):
            c, v = columns[i], line[i]
            v = _shorten(v, w, SHRINK.get(c, ("head", 0))[0])
            cells.append(v.rjust(w) if c in numeric else v.ljust(w))
        return cells

    if boxed:
        def rule(left: str, middle: str, right: str) -> str:
            return dim(left + middle.join("─" * (w + 2) for w in widths) + right)

        bar = dim("│")

        def line(cells) -> str:
            return f"{bar} " + f" {bar} ".join(cells) + f" {bar}"

        out += [rule("╭", "┬", "╮"), line(bold(h) for h in fmt(header)), rule("├", "┼", "┤")]
        out += [line(fmt(b)) if k == "row" else line(dim(x) for x in fmt(b)) for b, k in zip(body, kinds)]
        out += [rule("├", "┼", "┤"), line(bold(x) for x in fmt(footer)), rule("╰", "┴", "╯")]
    else:
        out += ["  ".join(fmt(header)).rstrip(), "  ".join("-" * w for w in widths)]
        out += ["  ".join(fmt(b)).rstrip() for b in body]
        out += ["  ".join("-" * w for w in widths), "  ".join(fmt(footer)).rstrip()]

    notes: list[str] = []
    if earlier:
        notes.append(f"{earlier:,} earlier {'sessions' if name == 'session' else 'blocks'} are not shown "
                     "but counted in the total (--all shows them).")
    hidden = [h for c, h in zip(columns, header) if c not in shown]
    if hidden:
        notes.append(f"Not shown to fit {width} columns: {', '.join(hidden)} (--wide shows all).")
    unpriced = report.totals.get("unpriced_events") or 0
    if unpriced:
        notes.append(f"{UNPRICED_MARK} {unpriced:,} event{'s' if unpriced != 1 else ''} could not be priced "
                   "(no price known for the model); costs marked * leave them out.")
    if name == "blocks":
        notes += _active_block_notes(rows)
    notes += _unmapped_notes(report)
    return "\n".join(out + _wrap(notes, width)) + "\n"


def _wrap(notes: list[str], width: int | None) -> list[str]:
    """Notes under a table, wrapped to the width it was fitted to."""
    import textwrap

    if width is None:
        return notes
    lines = []
    for note in notes:
        indent = note[:len(note) - len(note.lstrip())]
        lines += textwrap.wrap(note, width, subsequent_indent=indent + "  ", break_on_hyphens=False,
                               break_long_words=False) or [""]
    return lines


def _active_block_notes(rows: list[dict]) -> list[str]:
    notes = []
    for row in rows:
        burn, projection = row.get("burn_rate"), row.get("projection")
        if row["status"] != "active" or not burn:
            continue
        note = (f"Active block ({row['provider']}, until {row['block_end']}): "
                f"{burn['tokens_per_minute']:,.0f} tokens/min, ${burn['cost_per_hour']:,.2f}/h")
        if projection:
            note += (f"; projected to its end: {projection['total_tokens']:,} tokens, "
                     f"${projection['cost_usd']:,.2f} ({projection['remaining_minutes']} min left)")
        notes.append(note + ".")
    return notes


def _unmapped_notes(report: Any) -> list[str]:
    if not report.unmapped:
        return []
    events = sum(u["events"] for u in report.unmapped)
    cost = sum(u["cost_usd"] or 0 for u in report.unmapped)
    ids = ", ".join(f"{u['provider_id']} ({u['events']:,})" for u in report.unmapped)
    notes = [f"Not counted: {events:,} events (${cost:,.2f}) under providers neither configured nor linked: {ids}."]
    notes += [f"  to count {u['provider_id']}: {u['hint']['command']}" for u in report.unmapped]
    return notes


def report_csv(report: Any) -> str:
    """One CSV row per report row (per row and model with --breakdown)."""
    columns = [c for c in report.columns if c not in ("models",)] + \
        (["models"] if "models" in report.columns else [])
    if report.breakdown:
        columns = [*[c for c in columns if c not in MEASURE_KEYS and c != "models"], "model",
                   *[c for c in columns if c in MEASURE_KEYS]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in report.rows:
        subs = row.get("breakdown") if report.breakdown else None
        for sub in subs if subs is not None else [row]:
            merged = {**row, **sub} if subs is not None else row
            writer.writerow(["" if merged.get(c) is None else
                             "; ".join(map(str, merged[c])) if isinstance(merged.get(c), list) else merged[c]
                             for c in columns])
    return out.getvalue()


MEASURE_KEYS = {"input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens",
                "total_tokens", "cost_usd", "requests", "unpriced_events"}
