"""Provider linking in SQL: the settings' providers and links made visible to
the store's views, so a link applies to every past event at query time.

The store keeps `configured_providers` and `provider_links` tables that the
views join (for any DuckDB client); `persist` rewrites them from the settings
whenever usagecore opens the store for writing. Our own readers do not wait
for that: `overlay` puts the current settings in TEMP tables of the same
names, which DuckDB resolves before the store's tables, so `report` and `sql`
always see the links as they are in settings.json, even on a read-only store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from usagecore.settings import Settings, SettingsError, load

if TYPE_CHECKING:
    import duckdb

_PROVIDER_COLUMNS = ("provider_id", "name", "kind", "account_id", "plan_usd_month")


def _rows(settings: Settings) -> tuple[list[tuple], list[tuple]]:
    providers = [(p.id, p.name, p.kind, p.account_id, p.plan_usd_month) for p in settings.providers]
    links = sorted(settings.provider_links.items())
    return providers, links


def _fill(con: duckdb.DuckDBPyConnection, schema: str, settings: Settings) -> None:
    providers, links = _rows(settings)
    con.execute(f"DELETE FROM {schema}.configured_providers")
    con.execute(f"DELETE FROM {schema}.provider_links")
    if providers:
        con.executemany(f"INSERT INTO {schema}.configured_providers VALUES (?, ?, ?, ?, ?)", providers)
    if links:
        con.executemany(f"INSERT INTO {schema}.provider_links VALUES (?, ?)", links)


def overlay(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Make this connection's views resolve providers with `settings`."""
    con.execute("CREATE OR REPLACE TEMP TABLE configured_providers (provider_id VARCHAR, name VARCHAR, "
                "kind VARCHAR, account_id VARCHAR, plan_usd_month DOUBLE)")
    con.execute("CREATE OR REPLACE TEMP TABLE provider_links (telemetry_provider_id VARCHAR, provider_id VARCHAR)")
    _fill(con, "temp", settings)


def persist(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> bool:
    """Rewrite the store's mirror of the settings when it differs; whether it
    did. Settings that cannot be read leave the mirror with the last good ones."""
    try:
        settings = settings or load()
    except SettingsError:
        return False
    providers, links = _rows(settings)
    stored_providers = con.execute(
        "SELECT * FROM main.configured_providers ORDER BY provider_id").fetchall()
    stored_links = con.execute("SELECT * FROM main.provider_links ORDER BY 1").fetchall()
    if sorted(providers) != stored_providers or links != stored_links:
        con.execute("BEGIN TRANSACTION")
        _fill(con, "main", settings)
        con.execute("COMMIT")
        return True
    return False
