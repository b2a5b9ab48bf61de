"""Where things live: the store file and the agents' history folders."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "USAGECORE_TELEMETRY_DB_PATH"


def default_db_path() -> Path:
    """`$USAGECORE_TELEMETRY_DB_PATH`, else `$XDG_STATE_HOME/usagecore/telemetry.duckdb`."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "usagecore" / "telemetry.duckdb"


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


def codex_home() -> Path:
    """`$CODEX_HOME`, else `~/.codex`."""
    configured = os.environ.get("CODEX_HOME", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".codex"


def codex_rollout_roots() -> list[Path]:
    """Where Codex keeps rollouts: live ones by date, archived ones (flat or dated)."""
    home = codex_home()
    return [home / "sessions", home / "archived_sessions"]


def opencode_data_dir() -> Path:
    """`$OPENCODE_DATA_DIR`, else `$XDG_DATA_HOME/opencode` (`~/.local/share/opencode`)."""
    configured = os.environ.get("OPENCODE_DATA_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "opencode"


def opencode_data_roots() -> list[Path]:
    """Where OpenCode keeps its databases and legacy `storage/` tree."""
    return [opencode_data_dir()]
