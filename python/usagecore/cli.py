"""The `usagecore` command. Commands stay thin: they parse options, call a
module, and print."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import click

from usagecore.config import DB_ENV, default_db_path

REPORTS = ("daily", "weekly", "monthly", "session", "blocks", "models", "tools", "projects", "providers",
           "accounts")
SOURCES = ("claude_code", "claude", "codex", "opencode")
MAX_PROBLEMS_SHOWN = 10


@click.group()
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help=f"DuckDB file [default: ${DB_ENV} or $XDG_STATE_HOME/usagecore/telemetry.duckdb]")
@click.version_option(package_name="usagecore")
@click.pass_context
def cli(ctx: click.Context, db_path: Path | None) -> None:
    """One local ledger of every token and dollar your AI coding agents spend."""
    if db_path is not None and not db_path.name:  # `--db=`: click makes it the working directory
        raise click.BadParameter("expected the path of a file", param_hint="'--db'")
    ctx.obj = db_path or default_db_path()


def _require_store(path: Path) -> None:
    """The answer of every reading command when there is no store to read."""
    try:
        exists = path.exists()
    except OSError as err:
        raise click.ClickException(f"cannot open store {path}: {err.strerror}") from err
    if not exists:
        raise click.ClickException(f"no store at {path} yet: run `usagecore backfill` first")


@contextmanager
def _open(ctx: click.Context, *, read_only: bool = False, what: str = "", locked=None, early=None):
    """The store, once it is our turn: readers share it, a writer has it alone;
    whoever comes second waits briefly (see `usagecore.locks`). Readers never
    create a store. `locked`: a context manager entered once the lock is
    taken and left once the store is closed, before the lock is let go.
    `early`: DuckDB being loaded ahead (backfill.load_duckdb_early)."""
    import duckdb

    from usagecore import locks
    from usagecore.store import Store

    path = ctx.find_root().obj
    if read_only:
        _require_store(path)
    try:
        # A reader that has to migrate an old file writes: it takes the lock alone.
        with locks.store_lock(path, exclusive=not read_only, what=what or f"usagecore {ctx.info_name}"):
            with locked or nullcontext():
                try:
                    if read_only:
                        store = Store.for_reading(path)
                    else:
                        # If loading ahead failed, the store makes its own connection (and meets the error itself).
                        connection = early.result() if early is not None and early.exception() is None else None
                        store = Store(path, connection=connection)
                except (duckdb.Error, OSError) as err:
                    if isinstance(err, duckdb.InterruptException):
                        raise  # Ctrl-C (_ctrl_c_exits_quietly)
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


@contextmanager
def _ctrl_c_exits_quietly():
    """Ctrl-C ends the command with status 130 and one line instead of a traceback.

    The open transaction is rolled back on the way out (Store.transaction) and never
    committed in any case, and cursors commit with their data, so the store keeps
    exactly what earlier transactions committed. DuckDB turns a Ctrl-C that arrives
    during a query into its own error, hence the flag. DuckDB is not imported here:
    a new store's backfill starts reading before DuckDB loads (backfill.head_start).
    """
    pressed = threading.Event()

    def on_ctrl_c(signum, frame):
        pressed.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    except (KeyboardInterrupt, Exception) as err:
        duckdb = sys.modules.get("duckdb")  # not loaded yet: err is no DuckDB error
        interrupted = isinstance(err, (KeyboardInterrupt, RuntimeError)) or (
            duckdb is not None and isinstance(err, duckdb.Error))
        if not (pressed.is_set() and interrupted):
            raise
        click.echo("\ninterrupted: the store keeps what was committed before; "
                   "run `usagecore backfill` again to go on", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: that would wait for a Rust read still running in the background.
        os._exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_backfill(ctx: click.Context, source: str, paths: tuple[Path, ...], keep_content: bool,
                  as_json: bool, *, quiet_if_absent: bool = False) -> dict | None:
    """Backfill one source; print its problems and summary line. Returns the
    summary as a dict (None when nothing was found and `quiet_if_absent`)."""
    from usagecore import backfill as importer
    from usagecore import unchanged

    what = unchanged.DEFAULT_ROOTS[source][1]
    roots = list(paths) or unchanged.default_roots(source)
    if quiet_if_absent and not paths and not any(Path(r).exists() for r in roots):
        return None
    db_path = ctx.find_root().obj
    started = time.perf_counter()
    if not Path(db_path).exists():
        # No store yet, so no last run to compare with: DuckDB loads and Rust
        # starts reading at once; the files' fingerprint is taken meanwhile.
        summary = _backfill_new_store(ctx, source, roots, keep_content, as_json, what)
    else:
        snapshot = unchanged.take(source, roots)
        last = unchanged.last_run(db_path, snapshot)
        if last is not None:
            # Nothing changed since the last complete run: nothing to read.
            summary = importer.Summary(source=source, files=last.get("files", 0), unchanged=True)
            summary.seconds = time.perf_counter() - started
        else:
            summary = _backfill_and_record(ctx, source, roots, snapshot, keep_content, as_json, what)
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


def _backfill_new_store(ctx: click.Context, source: str, roots: list, keep_content: bool, as_json: bool,
                        what: str):
    """`_backfill_and_record` into a store that does not exist yet: DuckDB
    loads and Rust reads while the files are fingerprinted. The fingerprint
    is dated from before the reading began: a file changed since then is
    within the fingerprint's racy window, so the next run does not trust it."""
    from usagecore import backfill as importer
    from usagecore import unchanged

    early = importer.load_duckdb_early()
    taken_ns = time.time_ns()
    with _ctrl_c_exits_quietly():
        head = importer.head_start(source, roots, keep_content=keep_content)
        snapshot = unchanged.take(source, roots, taken_ns=taken_ns)
    return _backfill_and_record(ctx, source, roots, snapshot, keep_content, as_json, what, early, head)


def _backfill_and_record(ctx: click.Context, source: str, roots: list, snapshot, keep_content: bool,
                         as_json: bool, what: str, early=None, head=None):
    """Backfill `source` from the store's cursors on; then, still holding the
    store's lock, keep the fingerprint of what it read (usagecore.unchanged).
    `early` and `head`: DuckDB loading and the reading begun, for a new store."""
    from usagecore import backfill as importer
    from usagecore import unchanged

    db_path = ctx.find_root().obj
    done: list = []

    @contextmanager
    def fingerprints():
        before = unchanged.store_stamp(db_path)
        yield
        if done:
            summary = done[0]
            retry = summary.unreadable_files or any(p["message"].startswith("cannot ") for p in summary.problems)
            unchanged.record(db_path, None if retry else snapshot, before, summary.files)

    run = getattr(importer, "backfill_" + source.removesuffix("_code"))
    with _ctrl_c_exits_quietly():
        with _open(ctx, locked=fingerprints(), early=early) as store:
            progress = _progress_bar(f"{source}: reading {what}") if sys.stderr.isatty() and not as_json else None
            done.append(run(store, roots, keep_content=keep_content, progress=progress, head=head))
    return done[0]


def _flags(ctx: click.Context, keep_content: bool, as_json: bool) -> tuple[bool, bool]:
    """The flags may also stand before the source: `backfill --json codex`."""
    group = ctx.parent.params if ctx.parent else {}
    return keep_content or group.get("keep_content", False), as_json or group.get("as_json", False)


def _combined(summaries: list[dict]) -> dict:
    """One summary for several sources: their counts added up, their problems
    together, and each source's own summary under `sources`."""
    total: dict = {"source": ",".join(s["source"] for s in summaries), "problems": [], "sources": summaries}
    for summary in summaries:
        for key, value in summary.items():
            if key == "problems":
                total["problems"] += value
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    if "seconds" in total:
        total["mb_per_s"] = round(total["bytes_read"] / 1e6 / total["seconds"], 1) if total["seconds"] else 0.0
    return total


def _print_json(summaries: dict | list) -> None:
    from usagecore.render import dumps

    click.echo(dumps(summaries))


class _SourceGroup(click.Group):
    """`backfill SOURCE`; a path where the source belongs gets a hint, not "No such command"."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and name not in self.commands and not name.startswith("-"):
            looks_like_path = os.sep in name or name.startswith((".", "~")) or Path(name).exists()
            if looks_like_path:
                raise click.UsageError(
                    f"{name!r} is not a source. To import Claude Code transcripts from a folder or file, "
                    f"use `usagecore backfill claude {name}`.", ctx)
            raise click.UsageError(
                f"unknown source {name!r}; sources: {', '.join(sorted(self.commands))}", ctx)
        return super().resolve_command(ctx, args)


@cli.group(cls=_SourceGroup, invoke_without_command=True)
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
            _print_json(_combined(summaries))


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

def _filter_options(f):
    """--since/--until/--tz/--source/--provider/--account/--project/--model, shared by report and export."""
    for option in reversed([
        click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y%m%d"]), help="First day, inclusive (YYYY-MM-DD)."),
        click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y%m%d"]), help="Last day, inclusive (YYYY-MM-DD)."),
        click.option("--tz", help="IANA time zone for days, weeks and months [default: local]."),
        click.option("--source", "sources", multiple=True, type=click.Choice(SOURCES),
                     help="Only this agent (repeatable)."),
        click.option("--provider", "providers", multiple=True, help="Only this configured provider (repeatable)."),
        click.option("--account", "accounts", multiple=True, help="Only this account id (repeatable)."),
        click.option("--project", "projects", multiple=True, help="Only projects whose path contains this."),
        click.option("--model", "models", multiple=True, help="Only models whose id contains this."),
    ]):
        f = option(f)
    return f


def _filters(since, until, **kw):
    from usagecore.reports import Filters

    return Filters(since=since and since.date(), until=until and until.date(), **kw)


def _settings():
    """The settings, or a clear error for commands that need them."""
    from usagecore.settings import SettingsError, load

    try:
        return load()
    except SettingsError as err:
        raise click.ClickException(str(err)) from err


@contextmanager
def _reader(ctx: click.Context, settings):
    """The store opened for reading, its views resolving providers with `settings`."""
    from usagecore import providers

    with _open(ctx, read_only=True) as store:
        providers.overlay(store.con, settings)
        yield store.con


@cli.command()
@click.argument("kind", type=click.Choice(REPORTS))
@_filter_options
@click.option("--breakdown", is_flag=True, help="Split each row by model.")
@click.option("--json", "as_json", is_flag=True, help="Rows and totals as JSON (shape in the README).")
@click.option("--csv", "as_csv", is_flag=True, help="Rows as CSV.")
@click.option("--wide", is_flag=True, help="Every column, however wide the table gets.")
@click.option("--all", "all_rows", is_flag=True, help="Every session or block, not the latest 100.")
@click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR=1).")
@click.pass_context
def report(ctx: click.Context, kind: str, since, until, breakdown: bool, as_json: bool, as_csv: bool,
           wide: bool, all_rows: bool, no_color: bool, **filters) -> None:
    """Usage and cost by day, week, month, session, 5-hour block, model, tool,
    project, provider or account. Counts configured or linked providers only,
    and says what it left out."""
    from usagecore import render
    from usagecore.reports import ReportError, run_report

    settings = _settings()
    with _reader(ctx, settings) as con:
        try:
            result = run_report(con, kind, settings, _filters(since, until, **filters), breakdown=breakdown)
        except ReportError as err:
            raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(render.dumps(result.as_dict()))
    elif as_csv:
        click.echo(render.report_csv(result), nl=False)
    else:
        click.echo(render.report_text(result, width=render.terminal_width(wide), color=render.use_color(no_color),
                                      all_rows=all_rows), nl=False)


# Statements that only read; any other opens the store for writing.
_READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


def _statement_kinds(query: str) -> list[str]:
    """The kinds of the statements in `query` (SELECT, INSERT, ...), parsed by DuckDB."""
    import duckdb

    with duckdb.connect() as parser:
        try:
            return [statement.type.name for statement in parser.extract_statements(query)]
        except duckdb.Error as err:
            raise click.ClickException(str(err)) from err


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(("table", "json", "csv")), default="table", show_default=True)
@click.pass_context
def sql(ctx: click.Context, query: str, fmt: str) -> None:
    """Run SQL against the store. Tables: usage_events, usage_raw_events;
    views: daily_usage, session_usage, model_usage, tool_usage, provider_usage,
    unmapped_usage, usage_events_resolved.

    Statements that only read (SELECT, EXPLAIN) open the store read-only, like
    `report`: they work on a read-only file and alongside other readers. Any other
    statement opens it for writing. Neither creates a store that does not exist.
    """
    import duckdb

    from usagecore.render import dumps, table, to_csv
    from usagecore.settings import SettingsError, load

    kinds = _statement_kinds(query)
    if not kinds:
        raise click.UsageError("no SQL statement given, e.g. usagecore sql \"SELECT * FROM daily_usage\"")
    try:
        settings = load()
    except SettingsError as err:  # the store's last copy of the links still works
        click.echo(f"warning: {err}; provider views use the links last stored", err=True)
        settings = None
    read_only = all(kind in _READ_ONLY_STATEMENTS for kind in kinds)
    path = ctx.find_root().obj
    _require_store(path)
    if not read_only and not os.access(path, os.W_OK):
        raise click.ClickException(
            f"store {path} is read-only: only {' and '.join(_READ_ONLY_STATEMENTS)} statements can run on it")
    with _open(ctx, read_only=read_only) as store:
        store.changed = not read_only
        if settings is not None:
            from usagecore import providers

            providers.overlay(store.con, settings)
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
@click.option("--provider", help="Only this provider's prices (anthropic, openai, aws, google, ...).")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%d"]), help="Only the prices in force on this UTC date.")
@click.option("--fast", is_flag=True, help="Fast-mode prices (responses with usage.speed = \"fast\").")
def prices(model: str, provider: str | None, at, fast: bool) -> None:
    """Show the unit prices used for MODEL (USD per million tokens): every period
    with other prices, oldest first, or the one in force on --at."""
    from usagecore import prices as price_source

    periods = price_source.price_history(model, provider, speed="fast" if fast else "standard",
                                         only_provider=provider is not None)
    if at is not None:
        day = at.date()
        periods = tuple(p for p in periods if (p.valid_from is None or p.valid_from <= day)
                        and (p.valid_to is None or day < p.valid_to))
    if not periods:
        where = "".join([f" from provider {provider!r}" if provider else "", " in fast mode" if fast else "",
                         f" on {at.date()}" if at else ""])
        raise click.ClickException(
            f"no price known for {model!r}{where} (genai-prices {price_source.genai_prices_version()})")
    click.echo("\n\n".join(price_source.format_prices(p) for p in periods))


# -------------------------------------------------------------- live ingest

@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--source", type=click.Choice(("claude_code", "codex", "opencode")), required=True)
@click.argument("payload", required=False)
@click.pass_context
def ingest(ctx: click.Context, source: str, payload: str | None) -> None:
    """What agent hooks call: spool one payload (stdin, or PAYLOAD for Codex
    `notify`) and start a drain. Always exits 0 and prints nothing."""
    import os

    from usagecore.ingest import main as ingest_main

    os.environ[DB_ENV] = str(ctx.find_root().obj)  # for the drain it starts

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

    if background and not keep_content and not as_json:
        from usagecore.ingest import collect_in_background

        sys.exit(collect_in_background(ctx.find_root().obj))
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
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(0, min_open=True),
              metavar="SECONDS", help="How long a client may take to send a request body before it gets 408.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, grpc_port: int, no_grpc: bool, tokens: tuple[str, ...],
          keep_content: bool, body_timeout: float) -> None:
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
                                 tokens=receiver.parse_tokens(tokens), keep_content=keep_content,
                                 body_timeout_s=body_timeout, ready=ready)
    except receiver.ServeError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"usagecore serve: stopped; {summary.line()}", err=True)


# ------------------------------------------------------------ integrations

INTEGRATIONS = ("claude-code", "codex", "opencode", "otel")
OTEL_AGENTS = ("claude-code", "codex")


def _integration(integration: str, agent: str | None) -> str:
    """`otel AGENT` is the integration `otel-AGENT`."""
    if integration == "otel":
        if agent not in OTEL_AGENTS:
            raise click.UsageError(f"say which agent exports: `otel {' | '.join(OTEL_AGENTS)}`")
        return f"otel-{agent}"
    if agent is not None:
        raise click.UsageError(f"unexpected argument {agent!r}")
    return integration


@cli.command()
@click.argument("integration", type=click.Choice(INTEGRATIONS))
@click.argument("agent", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--no-backfill", is_flag=True, help="Do not import the history already on disk.")
@click.option("--endpoint", default="http://127.0.0.1:4318", show_default=True,
              help="otel: where the agent sends OTLP (usagecore serve).")
@click.option("--token", help="otel: bearer token the receiver expects.")
@click.pass_context
def install(ctx: click.Context, integration: str, agent: str | None, dry_run: bool, no_backfill: bool,
            endpoint: str, token: str | None) -> None:
    """Wire an agent to usagecore (merges into its settings, with a backup).

    `install claude-code` adds hooks; `install otel claude-code|codex` points
    the agent's OpenTelemetry export at `usagecore serve`.
    """
    from usagecore import integrations
    from usagecore.integrations import common

    name = _integration(integration, agent)
    module = integrations.get(name)
    try:
        plan = module.plan_install(endpoint=endpoint, token=token) if integration == "otel" else module.plan_install()
        click.echo(plan.describe(), err=True)
        if dry_run:
            return
        for backup in common.apply(plan):
            click.echo(f"backup:    {backup}", err=True)
    except common.InstallError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{name}: installed; `usagecore doctor` checks it, `usagecore uninstall "
               f"{integration}{' ' + agent if agent else ''}` removes exactly what was added", err=True)
    if not no_backfill and integration != "otel":
        ctx.invoke(backfill)


@cli.command()
@click.argument("integration", type=click.Choice(INTEGRATIONS))
@click.argument("agent", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def uninstall(integration: str, agent: str | None, dry_run: bool) -> None:
    """Remove exactly what `install` added (the store is kept)."""
    from usagecore import integrations
    from usagecore.integrations import common

    name = _integration(integration, agent)
    try:
        plan = integrations.get(name).plan_uninstall()
        click.echo(plan.describe(), err=True)
        if not dry_run:
            common.apply(plan, forget=True)
    except common.InstallError as err:
        raise click.ClickException(str(err)) from err


@cli.command()
@click.argument("integrations", nargs=-1)
@click.pass_context
def doctor(ctx: click.Context, integrations: tuple[str, ...]) -> None:
    """Check every integration, the spool and the store; exit 1 if something is broken."""
    from usagecore import doctor as checks

    results = checks.run(ctx.find_root().obj, list(integrations) or None)
    for check in results:
        click.echo(check.line())
    if not all(check.ok for check in results):
        sys.exit(1)


# ------------------------------------------------- status, providers, export

@cli.command()
@click.option("--json", "as_json", is_flag=True, help="The snapshot as JSON (keys in the README).")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """What usagecore has and does: events per source, store, spool,
    integrations, receiver, and provider ids not counted yet."""
    from usagecore import status as snapshot
    from usagecore.render import dumps

    snap = snapshot.snapshot(ctx.find_root().obj)
    click.echo(dumps(snap) if as_json else snapshot.text(snap), nl=as_json)


@cli.group()
def providers() -> None:
    """The providers you pay, and links from telemetry provider ids to them."""


@providers.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def providers_list(as_json: bool) -> None:
    """Configured providers and links (from settings.json, or the defaults)."""
    from usagecore.render import dumps

    settings = _settings()
    if as_json:
        click.echo(dumps({"settings_file": str(settings.path), "from_file": settings.from_file,
                          "providers": [p.as_dict() for p in settings.providers],
                          "provider_links": settings.provider_links}))
        return
    click.echo(f"settings: {settings.path}" + ("" if settings.from_file else " (no file: defaults)"))
    for p in settings.providers:
        linked = sorted(k for k, v in settings.provider_links.items() if v == p.id)
        extra = [p.kind or "", f"account {p.account_id}" if p.account_id else "",
                 f"${p.plan_usd_month:,.2f}/month" if p.plan_usd_month is not None else "",
                 f"linked: {', '.join(linked)}" if linked else ""]
        click.echo(f"  {p.id:<16} {p.name}" + "".join(f"  {e}" for e in extra if e))


def _sync_store(ctx: click.Context, settings) -> None:
    """Bring the store's copy of the links up to date now, if there is a store
    and nobody is writing it (otherwise the next writer does it)."""
    import duckdb

    from usagecore import locks, providers as provider_links
    from usagecore.store import Store

    path = ctx.find_root().obj
    if not path.exists():
        return
    try:
        with locks.store_lock(path, exclusive=True, timeout=1.0, quiet=True):
            with Store(path) as store:
                provider_links.persist(store.con, settings)
    except (locks.Busy, duckdb.Error, OSError):
        click.echo("note: the store is busy; its copy of the links updates with the next write "
                   "(reports use the settings file directly)", err=True)


@providers.command("link")
@click.argument("telemetry_id")
@click.argument("provider")
@click.pass_context
def providers_link(ctx: click.Context, telemetry_id: str, provider: str) -> None:
    """Count usage reported under TELEMETRY_ID for configured PROVIDER (past usage too)."""
    from usagecore import settings as user_settings

    try:
        settings, backup = user_settings.link(telemetry_id, provider)
    except user_settings.SettingsError as err:
        raise click.ClickException(str(err)) from err
    _sync_store(ctx, settings)
    click.echo(f"linked {telemetry_id} -> {provider} in {settings.path}"
               + (f" (previous version: {backup})" if backup else ""))


@providers.command("unlink")
@click.argument("telemetry_id")
@click.pass_context
def providers_unlink(ctx: click.Context, telemetry_id: str) -> None:
    """Stop counting TELEMETRY_ID for the provider it was linked to."""
    from usagecore import settings as user_settings

    try:
        settings, backup, removed = user_settings.unlink(telemetry_id)
    except user_settings.SettingsError as err:
        raise click.ClickException(str(err)) from err
    if not removed:
        raise click.ClickException(f"{telemetry_id} is not linked in {settings.path}")
    _sync_store(ctx, settings)
    click.echo(f"unlinked {telemetry_id} in {settings.path} (previous version: {backup})")


@cli.group()
def export() -> None:
    """Write the events reports count to files (same filters as reports)."""


@export.command("parquet")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@_filter_options
@click.pass_context
def export_parquet(ctx: click.Context, folder: Path, since, until, **filters) -> None:
    """Parquet files in FOLDER/day=YYYY-MM-DD/; re-running replaces those days."""
    from usagecore import export as exporter
    from usagecore.reports import ReportError

    settings = _settings()
    with _reader(ctx, settings) as con:
        try:
            rows, days = exporter.to_parquet(con, folder, _filters(since, until, **filters))
        except ReportError as err:
            raise click.UsageError(str(err)) from err
    click.echo(f"{rows:,} events in {len(days)} day folders under {folder}", err=True)


@export.command("csv")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_filter_options
@click.pass_context
def export_csv(ctx: click.Context, file: Path, since, until, **filters) -> None:
    """One CSV file, one row per event."""
    from usagecore import export as exporter
    from usagecore.reports import ReportError

    settings = _settings()
    with _reader(ctx, settings) as con:
        try:
            rows = exporter.to_csv(con, file, _filters(since, until, **filters))
        except ReportError as err:
            raise click.UsageError(str(err)) from err
    click.echo(f"{rows:,} events in {file}", err=True)


def main() -> None:
    cli(prog_name="usagecore")
