"""Where things live: the store file, the spool, our config folder and the
agents' history folders.

Imported by the hook path, so `os` only: `pathlib` (with the `re`, `fnmatch`,
`urllib.parse` and `ipaddress` it loads) costs a hook more than the rest of
its work; it is imported when a `Path` is asked for. `state_root()` and
`spool_root()` give the hook path the same folders as plain strings.
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


def default_db_path() -> Path:
    """`$USAGECORE_TELEMETRY_DB_PATH`, else `$XDG_STATE_HOME/usagecore/telemetry.duckdb`."""
    from pathlib import Path

    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    return state_dir() / "telemetry.duckdb"


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


def claude_project_roots() -> list[Path]:
    """Every folder Claude Code may keep transcripts in (docs/formats-claude-code.md §C.1).

    `$CLAUDE_CONFIG_DIR` may list several folders separated by commas; the XDG
    location and the classic `~/.claude` are scanned too.
    """
    from pathlib import Path

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
    from pathlib import Path

    configured = os.environ.get("CODEX_HOME", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".codex"


def codex_rollout_roots() -> list[Path]:
    """Where Codex keeps rollouts: live ones by date, archived ones (flat or dated)."""
    home = codex_home()
    return [home / "sessions", home / "archived_sessions"]


def opencode_data_dir() -> Path:
    """`$OPENCODE_DATA_DIR`, else `$XDG_DATA_HOME/opencode` (`~/.local/share/opencode`)."""
    from pathlib import Path

    configured = os.environ.get("OPENCODE_DATA_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "opencode"


def opencode_data_roots() -> list[Path]:
    """Where OpenCode keeps its databases and legacy `storage/` tree."""
    return [opencode_data_dir()]
