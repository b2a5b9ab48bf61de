"""Where things live: the store file, the spool, our config folder and the
agents' history folders.

Imported by the hook path, so `os` only: `pathlib` (with the `re`, `fnmatch`,
`urllib.parse` and `ipaddress` it loads) costs a hook more than the rest of
its work; it is imported when a `Path` is asked for. `state_root()`,
`spool_root()` and `default_db_file()` give the hook path the same folders
as plain strings, and the agents' roots are strings too (an unchanged
backfill is answered without pathlib: usagecore.unchanged).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

DB_ENV = "USAGECORE_TELEMETRY_DB_PATH"
SPOOL_ENV = "USAGECORE_TELEMETRY_SPOOL_DIR"


def state_root() -> str:
    """`$XDG_STATE_HOME/usagecore` (`~/.local/state/usagecore`): the store, spool and logs."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "usagecore")


def state_dir() -> Path:
    """`state_root()` as a Path."""
    from pathlib import Path

    return Path(state_root())


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/usagecore` (`~/.config/usagecore`): settings and hook scripts."""
    from pathlib import Path

    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "usagecore"


def default_db_file() -> str:
    """`$USAGECORE_TELEMETRY_DB_PATH`, else `$XDG_STATE_HOME/usagecore/telemetry.duckdb`."""
    if os.environ.get(DB_ENV):
        return os.path.expanduser(os.environ[DB_ENV])
    return os.path.join(state_root(), "telemetry.duckdb")


def default_db_path() -> Path:
    """`default_db_file()` as a Path."""
    from pathlib import Path

    return Path(default_db_file())


def spool_root() -> str:
    """`$USAGECORE_TELEMETRY_SPOOL_DIR`, else `$XDG_STATE_HOME/usagecore/spool`."""
    if os.environ.get(SPOOL_ENV):
        return os.path.expanduser(os.environ[SPOOL_ENV])
    return os.path.join(state_root(), "spool")


def spool_dir() -> Path:
    """`spool_root()` as a Path."""
    from pathlib import Path

    return Path(spool_root())


def env_flag(name: str, default: bool) -> bool:
    """A boolean environment variable: true/1/yes/on or false/0/no/off."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return default


def claude_project_roots() -> list[str]:
    """Every folder Claude Code may keep transcripts in (docs/formats-claude-code.md §C.1).

    `$CLAUDE_CONFIG_DIR` may list several folders separated by commas; the XDG
    location and the classic `~/.claude` are scanned too.
    """
    home = os.path.expanduser("~")
    roots = [os.path.join(os.path.expanduser(configured.strip()), "projects")
             for configured in os.environ.get("CLAUDE_CONFIG_DIR", "").split(",") if configured.strip()]
    xdg_config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    roots.append(os.path.join(xdg_config, "claude", "projects"))
    roots.append(os.path.join(home, ".claude", "projects"))
    unique: dict[str, str] = {}
    for root in roots:
        unique.setdefault(os.path.normpath(root), root)
    return list(unique.values())


def codex_home_dir() -> str:
    """`$CODEX_HOME`, else `~/.codex`."""
    configured = os.environ.get("CODEX_HOME", "").strip()
    return os.path.expanduser(configured) if configured else os.path.join(os.path.expanduser("~"), ".codex")


def codex_home() -> Path:
    """`codex_home_dir()` as a Path."""
    from pathlib import Path

    return Path(codex_home_dir())


def codex_rollout_roots() -> list[str]:
    """Where Codex keeps rollouts: live ones by date, archived ones (flat or dated)."""
    home = codex_home_dir()
    return [os.path.join(home, "sessions"), os.path.join(home, "archived_sessions")]


def opencode_data_roots() -> list[str]:
    """Where OpenCode keeps its databases and legacy `storage/` tree:
    `$OPENCODE_DATA_DIR`, else `$XDG_DATA_HOME/opencode` (`~/.local/share/opencode`)."""
    configured = os.environ.get("OPENCODE_DATA_DIR", "").strip()
    if configured:
        return [os.path.expanduser(configured)]
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return [os.path.join(data, "opencode")]
