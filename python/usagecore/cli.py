"""The `usagecore` command. Commands stay thin: they parse options, call a
module, and print."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from usagecore.config import DB_ENV, default_db_path

REPORTS = ("daily", "monthly", "session", "models")
SOURCES = ("claude_code", "claude", "codex", "opencode")
MAX_PROBLEMS_SHOWN = 10


@click.group()
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help=f"DuckDB file [default: ${DB_ENV} or $XDG_STATE_HOME/usagecore/telemetry.duckdb]")
@click.version_option(package_name="usagecore")
@click.pass_context
def cli(ctx: click.Context, db_path: Path | None) -> None:
    """One local ledger of every token and dollar your AI coding agents spend."""
    ctx.obj = db_path or default_db_path()


def _open(ctx: click.Context, *, read_only: bool = False):
    import duckdb

    from usagecore.store import Store

    path = ctx.find_root().obj
    try:
        return Store.for_reading(path) if read_only else Store(path)
    except (duckdb.Error, OSError) as err:
        raise click.ClickException(f"cannot open store {path}: {err}") from err


# ---------------------------------------------------------------- backfill

def _backfill_options(f):
    f = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")(f)
    f = click.option("--keep-content", is_flag=True,
                     help="Also store message text in raw payloads (stripped by default).")(f)
    return f


def _progress_bar(label: str):
    """A progress(done, total) callback drawing a bar on stderr (bytes)."""
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
        bar.update(done - bar.pos)
        if done >= total:
            bar.render_finish()

    return progress


# What each source's backfill reads by default, and what to call what it found.
_DEFAULT_ROOTS = {
    "claude_code": ("claude_project_roots", "transcripts"),
    "codex": ("codex_rollout_roots", "rollouts"),
    "opencode": ("opencode_data_roots", "OpenCode databases"),
}


def _run_backfill(ctx: click.Context, source: str, paths: tuple[Path, ...], keep_content: bool,
                  as_json: bool, *, quiet_if_absent: bool = False) -> dict | None:
    """Backfill one source; print its problems and summary line. Returns the
    summary as a dict (None when nothing was found and `quiet_if_absent`)."""
    from usagecore import backfill as importer
    from usagecore import config

    finder, what = _DEFAULT_ROOTS[source]
    roots = list(paths) or getattr(config, finder)()
    if quiet_if_absent and not paths and not any(Path(r).exists() for r in roots):
        return None
    run = getattr(importer, "backfill_" + source.removesuffix("_code"))
    with _open(ctx) as store:
        progress = _progress_bar(f"{source}: reading {what}") if sys.stderr.isatty() and not as_json else None
        summary = run(store, roots, keep_content=keep_content, progress=progress)
    shown = summary.problems[:MAX_PROBLEMS_SHOWN]
    for problem in shown:
        click.echo(f"skipped: {problem['path']} at byte {problem['offset']}: {problem['message']}", err=True)
    if len(shown) < len(summary.problems) or len(shown) < summary.skipped_lines:
        more = max(len(summary.problems), summary.skipped_lines) - len(shown)
        click.echo(f"skipped: {more} more problems (see --json)", err=True)
    if summary.files == 0:
        click.echo(f"no {what} found under: " + ", ".join(str(r) for r in roots), err=True)
    if not as_json:
        click.echo(summary.line(), err=True)
    return summary.as_dict()


def _flags(ctx: click.Context, keep_content: bool, as_json: bool) -> tuple[bool, bool]:
    """The flags may also stand before the source: `backfill --json codex`."""
    group = ctx.parent.params if ctx.parent else {}
    return keep_content or group.get("keep_content", False), as_json or group.get("as_json", False)


def _print_json(summaries: dict | list) -> None:
    from usagecore.render import dumps

    click.echo(dumps(summaries))


@cli.group(invoke_without_command=True)
@_backfill_options
@click.pass_context
def backfill(ctx: click.Context, keep_content: bool, as_json: bool) -> None:
    """Import the history agents keep on disk (incremental; safe to re-run).

    Without a source, imports every source found (Claude Code, Codex, OpenCode).
    """
    if ctx.invoked_subcommand is None:
        summaries = []
        for source in ("claude_code", "codex", "opencode"):
            found = _run_backfill(ctx, source, (), keep_content, as_json, quiet_if_absent=source != "claude_code")
            if found is not None:
                summaries.append(found)
        if as_json:
            _print_json(summaries)


@backfill.command("claude")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_backfill_options
@click.pass_context
def backfill_claude_cmd(ctx: click.Context, paths: tuple[Path, ...], keep_content: bool, as_json: bool) -> None:
    """Claude Code transcripts (default: $CLAUDE_CONFIG_DIR/projects,
    ~/.config/claude/projects, ~/.claude/projects)."""
    keep_content, as_json = _flags(ctx, keep_content, as_json)
    summary = _run_backfill(ctx, "claude_code", paths, keep_content, as_json)
    if as_json:
        _print_json(summary)


@backfill.command("codex")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_backfill_options
@click.pass_context
def backfill_codex_cmd(ctx: click.Context, paths: tuple[Path, ...], keep_content: bool, as_json: bool) -> None:
    """Codex CLI rollouts (default: $CODEX_HOME or ~/.codex: sessions/ and archived_sessions/)."""
    keep_content, as_json = _flags(ctx, keep_content, as_json)
    summary = _run_backfill(ctx, "codex", paths, keep_content, as_json)
    if as_json:
        _print_json(summary)


@backfill.command("opencode")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_backfill_options
@click.pass_context
def backfill_opencode_cmd(ctx: click.Context, paths: tuple[Path, ...], keep_content: bool, as_json: bool) -> None:
    """OpenCode sessions: opencode*.db and the legacy storage/ tree (default:
    $OPENCODE_DATA_DIR, else $XDG_DATA_HOME/opencode or ~/.local/share/opencode)."""
    keep_content, as_json = _flags(ctx, keep_content, as_json)
    summary = _run_backfill(ctx, "opencode", paths, keep_content, as_json)
    if as_json:
        _print_json(summary)


# ----------------------------------------------------------------- reports

@cli.command()
@click.argument("kind", type=click.Choice(REPORTS))
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y%m%d"]), help="First day, inclusive (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y%m%d"]), help="Last day, inclusive (YYYY-MM-DD).")
@click.option("--tz", help="IANA time zone for days and months [default: local].")
@click.option("--source", "sources", multiple=True, type=click.Choice(SOURCES), help="Only this agent (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Rows and totals as JSON.")
@click.pass_context
def report(ctx: click.Context, kind: str, since, until, tz, sources, as_json: bool) -> None:
    """Usage and cost by day, month, session or model."""
    from usagecore.render import dumps, table
    from usagecore.reports import ReportError, run_report

    path = ctx.find_root().obj
    if not path.exists():
        raise click.ClickException(f"no store at {path} yet: run `usagecore backfill` first")
    with _open(ctx, read_only=True) as store:
        try:
            result = run_report(store.con, kind, since=since and since.date(),
                                until=until and until.date(), tz=tz, sources=sources)
        except ReportError as err:
            raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(dumps(result.as_dict()))
    else:
        click.echo(table(result.columns, result.rows, result.totals), nl=False)


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(("table", "json", "csv")), default="table", show_default=True)
@click.pass_context
def sql(ctx: click.Context, query: str, fmt: str) -> None:
    """Run any SQL against the store (tables: usage_events, usage_raw_events, ...)."""
    import duckdb

    from usagecore.render import dumps, table, to_csv

    with _open(ctx) as store:
        try:
            cursor = store.con.execute(query)
        except duckdb.Error as err:
            raise click.ClickException(str(err)) from err
        if cursor.description is None:
            return
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    if fmt == "json":
        click.echo(dumps([dict(zip(columns, row)) for row in rows]))
    elif fmt == "csv":
        click.echo(to_csv(columns, rows), nl=False)
    else:
        click.echo(table(columns, [dict(zip(columns, r)) for r in rows], raw=True), nl=False)


@cli.command()
@click.argument("model")
@click.option("--provider", help="Provider id, when the model name is ambiguous (anthropic, openai, ...).")
def prices(model: str, provider: str | None) -> None:
    """Show the unit prices used for MODEL (USD per million tokens)."""
    from usagecore import prices as price_source

    found = price_source.unit_prices(model, provider)
    if found is None:
        raise click.ClickException(
            f"no price known for {model!r} (genai-prices {price_source.genai_prices_version()})")
    click.echo(price_source.format_prices(found))


def main() -> None:
    cli(prog_name="usagecore")
