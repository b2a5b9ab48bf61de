"""Where things live: the store file, the spool, our config folder and the
agents' history folders. Imported by the hook path: standard library only."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "USAGECORE_TELEMETRY_DB_PATH"
SPOOL_ENV = "USAGECORE_TELEMETRY_SPOOL_DIR"


def state_dir() -> Path:
    """`$XDG_STATE_HOME/usagecore` (`~/.local/state/usagecore`): the store, spool and logs."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "usagecore"


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/usagecore` (`~/.config/usagecore`): settings and hook scripts."""
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "usagecore"


def default_db_path() -> Path:
    """`$USAGECORE_TELEMETRY_DB_PATH`, else `$XDG_STATE_HOME/usagecore/telemetry.duckdb`."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    return state_dir() / "telemetry.duckdb"


def spool_dir() -> Path:
    """`$USAGECORE_TELEMETRY_SPOOL_DIR`, else `$XDG_STATE_HOME/usagecore/spool`."""
    if os.environ.get(SPOOL_ENV):
        return Path(os.environ[SPOOL_ENV]).expanduser()
    return state_dir() / "spool"


def env_flag(name: str, default: bool) -> bool:
    """A boolean environment variable: true/1/yes/on or false/0/no/off."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return default


def claude_project_roots() -> list[Path]:
    """Every folder Claude Code may keep transcripts in (FORMATS.md §C.1).

    `$CLAUDE_CONFIG_DIR` may list several folders separated by commas; the XDG
    location and the classic `~/.claude` are scanned too.
    """
    roots: list[Path] = []
    for configured in os.environ.get("CLAUDE_CONFIG_DIR", "").split(","):
        if configured.strip():
            roots.append(Path(configured.strip()).expanduser() / "projects")
    xdg_config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    roots.append(Path(xdg_config) / "claude" / "projects")
    roots.append(Path.home() / ".claude" / "projects")
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique
