"""The `usagecore` command. Commands stay thin: they parse options, call a
module, and print."""

from __future__ import annotations

import sys
from contextlib import contextmanager
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


@contextmanager
def _open(ctx: click.Context, *, read_only: bool = False, what: str = ""):
    """The store, once it is our turn: readers share it, a writer has it alone;
    whoever comes second waits briefly (see `usagecore.locks`)."""
    import duckdb

    from usagecore import locks
    from usagecore.store import Store

    path = ctx.find_root().obj
    try:
        # A reader that has to migrate an old file writes: it takes the lock alone.
        with locks.store_lock(path, exclusive=not read_only, what=what or f"usagecore {ctx.info_name}"):
            try:
                store = Store.for_reading(path) if read_only else Store(path)
            except (duckdb.Error, OSError) as err:
                raise click.ClickException(f"cannot open store {path}: {err}") from err
            with store:
                yield store
    except locks.Busy as err:
        raise click.ClickException(str(err)) from err


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


def _run_claude_backfill(ctx: click.Context, paths: tuple[Path, ...], keep_content: bool, as_json: bool) -> None:
    from usagecore.backfill import backfill_claude
    from usagecore.config import claude_project_roots
    from usagecore.render import dumps

    roots = list(paths) or claude_project_roots()
    with _open(ctx) as store:
        progress = _progress_bar("reading transcripts") if sys.stderr.isatty() and not as_json else None
        summary = backfill_claude(store, roots, keep_content=keep_content, progress=progress)
    shown = summary.problems[:MAX_PROBLEMS_SHOWN]
    for problem in shown:
        click.echo(f"skipped: {problem['path']} at byte {problem['offset']}: {problem['message']}", err=True)
    if len(shown) < summary.skipped_lines:
        click.echo(f"skipped: {summary.skipped_lines - len(shown)} more bad lines (see --json)", err=True)
    if summary.files == 0:
        click.echo("no transcripts found under: " + ", ".join(str(r) for r in roots), err=True)
    if as_json:
        click.echo(dumps(summary.as_dict()))
    else:
        click.echo(summary.line(), err=True)


@cli.group(invoke_without_command=True)
@_backfill_options
@click.pass_context
def backfill(ctx: click.Context, keep_content: bool, as_json: bool) -> None:
    """Import the history agents keep on disk (incremental; safe to re-run).

    Without a source, imports every source found.
    """
    if ctx.invoked_subcommand is None:
        _run_claude_backfill(ctx, (), keep_content, as_json)


@backfill.command("claude")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@_backfill_options
@click.pass_context
def backfill_claude_cmd(ctx: click.Context, paths: tuple[Path, ...], keep_content: bool, as_json: bool) -> None:
    """Claude Code transcripts (default: $CLAUDE_CONFIG_DIR/projects,
    ~/.config/claude/projects, ~/.claude/projects)."""
    # The flags may also stand before the source: `backfill --json claude`.
    group = ctx.parent.params if ctx.parent else {}
    _run_claude_backfill(ctx, paths, keep_content or group.get("keep_content", False),
                         as_json or group.get("as_json", False))


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


# -------------------------------------------------------------- live ingest

@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--source", type=click.Choice(("claude_code", "codex", "opencode")), required=True)
@click.argument("payload", required=False)
def ingest(source: str, payload: str | None) -> None:
    """What agent hooks call: spool one payload (stdin, or PAYLOAD for Codex
    `notify`) and start a drain. Always exits 0 and prints nothing."""
    from usagecore.ingest import main as ingest_main

    sys.exit(ingest_main(["--source", source, *([payload] if payload is not None else [])]))


@cli.command()
@click.option("--background", is_flag=True, hidden=True,
              help="Started by a hook: leave the work to a drain that is already running.")
@click.option("--keep-content", is_flag=True, help="Also store message text in raw payloads.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.pass_context
def collect(ctx: click.Context, background: bool, keep_content: bool, as_json: bool) -> None:
    """Store what hooks and receivers left in the spool (what `ingest` starts)."""
    from dataclasses import asdict

    from usagecore import drain, locks
    from usagecore.render import dumps

    try:
        summary = drain.drain(ctx.find_root().obj, wait=not background, keep_content=keep_content,
                              lock_timeout=60.0 if background else None)
    except (locks.Busy, drain.StoreFailed) as err:
        raise click.ClickException(f"{err}; the payloads stay in the spool") from err
    for problem in summary.problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"skipped: {problem['path']} at byte {problem['offset']}: {problem['message']}", err=True)
    if as_json:
        click.echo(dumps(asdict(summary)))
    elif not background:
        click.echo(summary.line(), err=True)


# ------------------------------------------------------------------ serve

@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", default=4318, show_default=True, type=click.IntRange(0, 65535), help="OTLP/HTTP port.")
@click.option("--grpc-port", default=4317, show_default=True, type=click.IntRange(0, 65535),
              help="OTLP/gRPC port.")
@click.option("--no-grpc", is_flag=True, help="Serve OTLP/HTTP only.")
@click.option("--token", "tokens", multiple=True, envvar="USAGECORE_OTLP_TOKENS", metavar="TOKEN[=ACCOUNT]",
              help="Require `Authorization: Bearer TOKEN`; its data belongs to ACCOUNT (repeatable; "
                   "env USAGECORE_OTLP_TOKENS, space-separated).")
@click.option("--keep-content", is_flag=True, help="Also store prompts, responses and tool content.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, grpc_port: int, no_grpc: bool, tokens: tuple[str, ...],
          keep_content: bool) -> None:
    """Receive OpenTelemetry (OTLP) from the agents and keep the store up to
    date, hook payloads included, until SIGTERM or Ctrl-C."""
    from usagecore import serve as receiver

    def ready(state: dict) -> None:
        grpc = f", OTLP/gRPC on {state['host']}:{state['grpc_port']}" if state["grpc_port"] else ""
        click.echo(f"usagecore serve: OTLP/HTTP on http://{state['host']}:{state['port']}{grpc}; "
                   f"storing into {state['db']}", err=True)

    try:
        summary = receiver.serve(ctx.find_root().obj, host=host, port=port,
                                 grpc_port=None if no_grpc else grpc_port,
                                 tokens=receiver.parse_tokens(tokens), keep_content=keep_content, ready=ready)
    except receiver.ServeError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"usagecore serve: stopped; {summary.line()}", err=True)


# ------------------------------------------------------------ integrations

INTEGRATIONS = ("claude-code",)


@cli.command()
@click.argument("integration", type=click.Choice(INTEGRATIONS))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--no-backfill", is_flag=True, help="Do not import the history already on disk.")
@click.pass_context
def install(ctx: click.Context, integration: str, dry_run: bool, no_backfill: bool) -> None:
    """Wire an agent to usagecore (merges into its settings, with a backup)."""
    from usagecore import integrations
    from usagecore.integrations import common

    module = integrations.get(integration)
    try:
        plan = module.plan_install()
        click.echo(plan.describe(), err=True)
        if dry_run:
            return
        for backup in common.apply(plan):
            click.echo(f"backup:    {backup}", err=True)
    except common.InstallError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{integration}: installed; `usagecore doctor` checks it, `usagecore uninstall {integration}` "
               "removes exactly what was added", err=True)
    if not no_backfill:
        ctx.invoke(backfill)


@cli.command()
@click.argument("integration", type=click.Choice(INTEGRATIONS))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def uninstall(integration: str, dry_run: bool) -> None:
    """Remove exactly what `install` added (the store is kept)."""
    from usagecore import integrations
    from usagecore.integrations import common

    try:
        plan = integrations.get(integration).plan_uninstall()
        click.echo(plan.describe(), err=True)
        if not dry_run:
            common.apply(plan, forget=True)
    except common.InstallError as err:
        raise click.ClickException(str(err)) from err


@cli.command()
@click.argument("integrations", nargs=-1, type=click.Choice(INTEGRATIONS))
@click.pass_context
def doctor(ctx: click.Context, integrations: tuple[str, ...]) -> None:
    """Check every integration, the spool and the store; exit 1 if something is broken."""
    from usagecore import doctor as checks

    results = checks.run(ctx.find_root().obj, list(integrations) or None)
    for check in results:
        click.echo(check.line())
    if not all(check.ok for check in results):
        sys.exit(1)


def main() -> None:
    cli(prog_name="usagecore")
