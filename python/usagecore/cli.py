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

    from usagecore import locks
    from usagecore.config import spool_dir

    if background and locks.is_locked(spool_dir() / "drain.lock"):
        return  # a drain is on it already; it looks at the spool again before it stops
    from usagecore import drain
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


def main() -> None:
    cli(prog_name="usagecore")
